"""Messages as the decision allows them to be seen. The store builds the views (and refuses to
decrypt without a matching `Access`); this module applies the decision's `redact` obligation to
the content fields too, so a policy that ever redacts part of a content view is obeyed here
rather than trusted to never happen."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from gateway.mail.models import Message
from gateway.mail.read.views import View
from gateway.mail.store.repository import MessageStore
from gateway.policy.enforcement import Access

# Headers repeat the subject and every address: withheld when any of them is.
_IN_HEADERS = frozenset({"subject", "from", "to", "cc", "bcc", "reply_to", "headers"})


def redactions(access: Access) -> frozenset[str]:
    return frozenset(str(f) for f in access.decision.obligations.get("redact", ()))


def render(store: MessageStore, session: Session, access: Access, message: Message,
           view: View) -> dict[str, Any]:
    if view is View.metadata:
        out = store.metadata_view(session, access, message)
        out["view"] = View.metadata.value
        return out
    out = store.content_view(session, access, message)
    out["view"] = View.content.value
    redact = redactions(access)
    if redact & _IN_HEADERS:
        out.pop("headers", None)
    if "body" in redact:
        out.pop("text", None)
        out.pop("html", None)
        out.pop("reports", None)
    if "attachment_names" in redact:
        out["attachments"] = [{k: v for k, v in a.items() if k != "filename"}
                              for a in out.get("attachments", [])]
    out["redacted"] = sorted(redact)
    return out
