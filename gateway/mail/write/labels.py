"""Labels: list (from the store, names opened through the decision), create, rename, delete
(Gmail first, then the store).

Deleting a label in Gmail removes it from every message; the stored messages lose it too, so the
store never shows a label that no longer exists.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import String, cast, select
from sqlalchemy.orm import Session

from gateway.accounts.deps import SessionDep
from gateway.guard.routing import AccessDep, GuardedRouter
from gateway.kit.errors import ValidationFailed
from gateway.mail.models import Message
from gateway.mail.write.modify import label_store
from gateway.mail.write.schemas import LabelIn, LabelList, LabelOut, LabelPatch
from gateway.mail.write.service import Gmail, write_mailbox, write_object
from gateway.mailboxes.models import Mailbox
from gateway.policy.vocabulary import Action

router = GuardedRouter(prefix="/v1/mailboxes/{mailbox_id}/labels", tags=["labels"])
_LABEL = {"what": "label", "not_found": "label_not_found", "conflict": "label_name_taken"}
_one_label = write_object("label", "label_id", what="label", code="label_not_found")


def _gmail_body(body: LabelIn | LabelPatch) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if body.name is not None:
        out["name"] = body.name
    if body.message_list_visibility is not None:
        out["messageListVisibility"] = body.message_list_visibility
    if body.label_list_visibility is not None:
        out["labelListVisibility"] = body.label_list_visibility
    return out


def list_labels(mailbox_id: str, request: Request, session: SessionDep,
                access: AccessDep) -> LabelList:
    mailbox: Mailbox = request.state.mailbox
    store = label_store(request)
    return LabelList(items=[LabelOut(**store.view(session, access, label))
                            for label in store.all(session, mailbox)])


def create_label(mailbox_id: str, body: LabelIn, request: Request, session: SessionDep,
                 access: AccessDep) -> JSONResponse:
    mailbox: Mailbox = request.state.mailbox
    created = Gmail(request, session, mailbox).call(
        lambda c: c.users.labels().create(userId="me", body=_gmail_body(body)), **_LABEL)
    store = label_store(request)
    label = store.put(session, mailbox, created)
    return JSONResponse(LabelOut(**store.view(session, access, label)).model_dump(),
                        status_code=201)


def _refuse_system(session: Session, request: Request, mailbox: Mailbox, label_id: str) -> None:
    stored = label_store(request).get(session, mailbox, label_id)
    if (stored is not None and stored.type == "system") or label_id.isupper():
        raise ValidationFailed("system labels cannot be renamed or deleted",
                               code="system_label_immutable")


def update_label(mailbox_id: str, label_id: str, body: LabelPatch, request: Request,
                 session: SessionDep, access: AccessDep) -> LabelOut:
    mailbox: Mailbox = request.state.mailbox
    _refuse_system(session, request, mailbox, label_id)
    patched = Gmail(request, session, mailbox).call(
        lambda c: c.users.labels().patch(userId="me", id=label_id, body=_gmail_body(body)),
        **_LABEL)
    store = label_store(request)
    return LabelOut(**store.view(session, access, store.put(session, mailbox, patched)))


def delete_label(mailbox_id: str, label_id: str, request: Request, session: SessionDep,
                 access: AccessDep) -> Response:
    mailbox: Mailbox = request.state.mailbox
    _refuse_system(session, request, mailbox, label_id)
    Gmail(request, session, mailbox).call(
        lambda c: c.users.labels().delete(userId="me", id=label_id), **_LABEL)
    label_store(request).remove(session, mailbox, label_id)
    pattern = '%"' + label_id.replace("\\", "\\\\").replace("_", "\\_") + '"%'
    for message in session.scalars(select(Message).where(
            Message.mailbox_id == mailbox.id,
            cast(Message.label_ids, String).like(pattern, escape="\\"))):
        message.label_ids = [i for i in message.label_ids if i != label_id]
    session.flush()
    return Response(status_code=204)


router.add("GET", "", list_labels, action=Action.label_read, resource=write_mailbox("label"),
           response_model=LabelList, summary="The mailbox's labels (from the store)")
router.add("POST", "", create_label, action=Action.label_modify,
           resource=write_mailbox("label"), response_model=LabelOut, status_code=201,
           summary="Create a label")
router.add("PATCH", "/{label_id}", update_label, action=Action.label_modify,
           resource=_one_label, response_model=LabelOut,
           summary="Rename a label or change its visibility")
router.add("DELETE", "/{label_id}", delete_label, action=Action.label_modify,
           resource=_one_label, status_code=204,
           summary="Delete a label (Gmail removes it from every message)")
