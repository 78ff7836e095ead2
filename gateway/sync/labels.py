"""A mailbox's Gmail labels in the `labels` table: ids and types in clear (messages refer to
labels by id), names sealed like message content.

The name's binding is (tenant, mailbox, "labels", "name", label row id): readers open it with
`label_binding(label)`.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from gateway.crypto import Binding, CryptoService
from gateway.mail.models import Label
from gateway.mailboxes.models import Mailbox
from gateway.policy.enforcement import Access
from gateway.sync.gate import check_sync_access

LABELS_TABLE = "labels"


def label_binding(label: Label, column: str = "name") -> Binding:
    return Binding(tenant=str(label.tenant_id), mailbox=str(label.mailbox_id),
                   table=LABELS_TABLE, column=column, row=str(label.id))


def replace_labels(session: Session, access: Access, crypto: CryptoService, mailbox: Mailbox,
                   labels: list[dict[str, Any]]) -> int:
    """Upsert every label Gmail listed and delete the ones it no longer has; returns how many
    rows changed (a label whose name, type and visibilities are unchanged is left alone)."""
    check_sync_access(access, mailbox)
    existing = {label.gmail_label_id: label for label in session.scalars(
        select(Label).where(Label.mailbox_id == mailbox.id))}
    changed = 0
    for item in labels:
        gmail_id = str(item["id"])
        name = str(item.get("name", gmail_id))
        label = existing.pop(gmail_id, None)
        kind = str(item.get("type", "user"))
        message_vis = item.get("messageListVisibility")
        label_vis = item.get("labelListVisibility")
        new = label is None
        if label is None:
            label = Label(id=uuid.uuid4(), tenant_id=mailbox.tenant_id, mailbox_id=mailbox.id,
                          gmail_label_id=gmail_id)
        elif (label.type == kind and label.message_list_visibility == message_vis
              and label.label_list_visibility == label_vis
              and crypto.open_content_text(session, access, label_binding(label),
                                           label.name) == name):
            continue
        label.type = kind
        label.message_list_visibility = message_vis
        label.label_list_visibility = label_vis
        label.name = crypto.seal_text(session, label_binding(label), name)
        if new:
            session.add(label)
        changed += 1
    if existing:
        session.execute(delete(Label).where(Label.mailbox_id == mailbox.id,
                                            Label.gmail_label_id.in_(list(existing))))
        changed += len(existing)
    session.flush()
    return changed
