"""The mailbox's labels in the store: Gmail's label resources kept with their names sealed.

Label names are the user's words ("Clients/Acme"), sealed with the mailbox's data key under the
binding (tenant, mailbox, "labels", "name", row id); ids, types and visibilities stay in clear
because messages refer to labels by id. Names are opened only with an `Access` for this mailbox
whose action is a label action (the enforcement point mints it).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.crypto import Binding, CryptoService
from gateway.mail.models import Label
from gateway.mail.store.repository import AccessMismatch
from gateway.mailboxes.models import Mailbox
from gateway.policy.enforcement import Access
from gateway.policy.vocabulary import Action

LABEL_ACTIONS = frozenset({Action.label_read.value, Action.label_modify.value})


def _binding(label: Label) -> Binding:
    return Binding.of(label.tenant_id, label.mailbox_id, "labels", "name", label.id)


class LabelStore:
    def __init__(self, crypto: CryptoService) -> None:
        self.crypto = crypto

    def put(self, session: Session, mailbox: Mailbox, resource: Mapping[str, Any]) -> Label:
        """Insert or refresh one label from Gmail's label resource. The sync worker writes the
        same rows: losing an insert race to it means the row now exists, so update that one."""
        try:
            with session.begin_nested():
                return self._put(session, mailbox, resource)
        except IntegrityError:
            with session.begin_nested():
                return self._put(session, mailbox, resource)

    def _put(self, session: Session, mailbox: Mailbox, resource: Mapping[str, Any]) -> Label:
        gmail_id = str(resource["id"])
        label = session.scalar(select(Label).where(Label.mailbox_id == mailbox.id,
                                                   Label.gmail_label_id == gmail_id))
        new = label is None
        if label is None:
            label = Label(id=uuid.uuid4(), tenant_id=mailbox.tenant_id, mailbox_id=mailbox.id,
                          gmail_label_id=gmail_id)
        label.type = str(resource.get("type") or "user")
        # Sealing may query the keyring (autoflush): add the row only once it is complete.
        label.name = self.crypto.seal_text(session, _binding(label), str(resource.get("name", "")))
        label.message_list_visibility = resource.get("messageListVisibility")
        label.label_list_visibility = resource.get("labelListVisibility")
        if new:
            session.add(label)
        session.flush()
        return label

    def replace_all(self, session: Session, mailbox: Mailbox,
                    resources: Iterable[Mapping[str, Any]]) -> list[Label]:
        """Make the stored labels exactly Gmail's (labels.list)."""
        labels = [self.put(session, mailbox, r) for r in resources]
        keep = {label.gmail_label_id for label in labels}
        session.execute(delete(Label).where(Label.mailbox_id == mailbox.id,
                                            Label.gmail_label_id.not_in(keep)))
        session.flush()
        return labels

    def remove(self, session: Session, mailbox: Mailbox, gmail_label_id: str) -> bool:
        result = session.execute(delete(Label).where(Label.mailbox_id == mailbox.id,
                                                     Label.gmail_label_id == gmail_label_id))
        return bool(getattr(result, "rowcount", 0))

    def get(self, session: Session, mailbox: Mailbox, gmail_label_id: str) -> Label | None:
        return session.scalar(select(Label).where(Label.mailbox_id == mailbox.id,
                                                  Label.gmail_label_id == gmail_label_id))

    def ids(self, session: Session, mailbox: Mailbox) -> set[str]:
        return set(session.scalars(select(Label.gmail_label_id)
                                   .where(Label.mailbox_id == mailbox.id)))

    def all(self, session: Session, mailbox: Mailbox) -> list[Label]:
        return list(session.scalars(select(Label).where(Label.mailbox_id == mailbox.id)
                                    .order_by(Label.type, Label.gmail_label_id)))

    def view(self, session: Session, access: Access, label: Label) -> dict[str, Any]:
        """The label with its name opened (needs a label Access for its mailbox)."""
        if not access.covers(tenant=str(label.tenant_id), mailbox=str(label.mailbox_id)):
            raise AccessMismatch("this Access was granted for another mailbox")
        if access.request.action not in LABEL_ACTIONS:
            raise AccessMismatch("label names need a label decision")
        return {"id": label.gmail_label_id,
                "name": self.crypto.open_content_text(session, access, _binding(label),
                                                      label.name),
                "type": label.type,
                "message_list_visibility": label.message_list_visibility,
                "label_list_visibility": label.label_list_visibility}
