"""Gmail labels: the system set every mailbox has, and user labels."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SYSTEM_LABELS: list[tuple[str, str | None, str | None]] = [
    # (id, messageListVisibility, labelListVisibility) as Gmail's labels.list shows them
    ("CHAT", "hide", "labelHide"),
    ("SENT", None, None),
    ("INBOX", None, None),
    ("IMPORTANT", "hide", "labelHide"),
    ("TRASH", "hide", "labelHide"),
    ("DRAFT", None, None),
    ("SPAM", "hide", "labelHide"),
    ("CATEGORY_FORUMS", "hide", "labelHide"),
    ("CATEGORY_UPDATES", "hide", "labelHide"),
    ("CATEGORY_PERSONAL", "hide", "labelHide"),
    ("CATEGORY_PROMOTIONS", "hide", "labelHide"),
    ("CATEGORY_SOCIAL", "hide", "labelHide"),
    ("STARRED", None, None),
    ("UNREAD", None, None),
]
SYSTEM_IDS = frozenset(label_id for label_id, _m, _l in SYSTEM_LABELS)
# System labels a client may not add or remove with modify (Gmail applies them itself).
NOT_APPLICABLE = frozenset({"DRAFT", "SENT", "CHAT"})


@dataclass
class Label:
    id: str
    name: str
    type: str = "user"
    message_list_visibility: str | None = "show"
    label_list_visibility: str | None = "labelShow"
    color: dict[str, str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def resource(self, counts: tuple[int, int, int, int] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "name": self.name}
        if self.message_list_visibility:
            out["messageListVisibility"] = self.message_list_visibility
        if self.label_list_visibility:
            out["labelListVisibility"] = self.label_list_visibility
        out["type"] = self.type
        if self.color:
            out["color"] = dict(self.color)
        if counts is not None:
            out["messagesTotal"], out["messagesUnread"] = counts[0], counts[1]
            out["threadsTotal"], out["threadsUnread"] = counts[2], counts[3]
        return out


def system_labels() -> dict[str, Label]:
    return {
        label_id: Label(label_id, label_id, "system", mlv, llv)
        for label_id, mlv, llv in SYSTEM_LABELS
    }


# Order in which Gmail tends to list a message's labels: user labels last.
def sort_label_ids(ids: set[str]) -> list[str]:
    return sorted(ids, key=lambda i: (i not in SYSTEM_IDS, i))
