"""The reviewed scope sets: which Google OAuth scopes each gateway feature asks for, and nothing
more (least privilege). Changing this file changes what Google's verification reviewers see on
the consent screen; it is reviewed like a policy.

The full-mailbox scope is never requested (tests/oauth/test_scopes.py fails if its string
appears anywhere under gateway/), and `scopes_for` refuses any scope outside `REVIEWED_SCOPES`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from gateway.policy.vocabulary import (
    SCOPE_LABELS,
    SCOPE_MODIFY,
    SCOPE_READONLY,
    SCOPE_SEND,
    Action,
)

# Identity: who the Google account is (its stable `sub` and its address), nothing else.
SCOPE_OPENID = "openid"
SCOPE_EMAIL = "https://www.googleapis.com/auth/userinfo.email"
IDENTITY_SCOPES: tuple[str, ...] = (SCOPE_OPENID, SCOPE_EMAIL)


class Feature(StrEnum):
    read = "read"
    send = "send"
    organise = "organise"
    labels = "labels"


@dataclass(frozen=True)
class FeatureScope:
    feature: Feature
    scope: str
    title: str
    why: str


# One scope per feature. The `title` and `why` are what the pre-consent page tells the user.
FEATURES: dict[Feature, FeatureScope] = {
    Feature.read: FeatureScope(
        Feature.read, SCOPE_READONLY, "Read your email",
        "to show your messages inside the CRM and link them to your contacts"),
    Feature.send: FeatureScope(
        Feature.send, SCOPE_SEND, "Send email on your behalf",
        "only when you press Send in the CRM's email client"),
    Feature.organise: FeatureScope(
        Feature.organise, SCOPE_MODIFY, "Organise your email",
        "to mark messages read, archive them or move them to the trash when you ask"),
    Feature.labels: FeatureScope(
        Feature.labels, SCOPE_LABELS, "Manage your labels",
        "to create and apply the labels you choose from the CRM"),
}

# A feature also works under a broader scope the user granted for another one: gmail.modify
# covers reading, sending and labels (as in policies/data.json, which has the last word).
ENABLED_BY: dict[Feature, frozenset[str]] = {
    Feature.read: frozenset({SCOPE_READONLY, SCOPE_MODIFY}),
    Feature.send: frozenset({SCOPE_SEND, SCOPE_MODIFY}),
    Feature.organise: frozenset({SCOPE_MODIFY}),
    Feature.labels: frozenset({SCOPE_LABELS, SCOPE_MODIFY}),
}

GMAIL_SCOPES: frozenset[str] = frozenset(f.scope for f in FEATURES.values())
REVIEWED_SCOPES: frozenset[str] = GMAIL_SCOPES | frozenset(IDENTITY_SCOPES)

# Which feature a policy action needs when the mailbox lacks the scope for it (the scopes the
# policy accepts per action are in policies/data.json; this says which one to ask the user for).
ACTION_FEATURES: dict[str, Feature] = {
    Action.message_send.value: Feature.send,
    Action.draft_write.value: Feature.organise,
    Action.message_modify.value: Feature.organise,
    Action.message_delete.value: Feature.organise,
    Action.label_modify.value: Feature.labels,
    Action.mailbox_read.value: Feature.read,
    Action.message_list.value: Feature.read,
    Action.message_read_metadata.value: Feature.read,
    Action.message_read_content.value: Feature.read,
    Action.thread_read_metadata.value: Feature.read,
    Action.thread_read_content.value: Feature.read,
    Action.attachment_read.value: Feature.read,
    Action.draft_read.value: Feature.read,
    Action.label_read.value: Feature.read,
    Action.search.value: Feature.read,
    Action.contact_timeline.value: Feature.read,
    Action.sync.value: Feature.read,
}


class UnreviewedScope(ValueError):
    """A scope outside the reviewed set was about to be requested."""


def scopes_for(features: Iterable[Feature]) -> list[str]:
    """The scopes to request for `features`: identity plus one Gmail scope per feature."""
    wanted = {FEATURES[Feature(f)].scope for f in features}
    if not wanted:
        raise ValueError("name at least one feature")
    scopes = [*IDENTITY_SCOPES, *sorted(wanted)]
    unreviewed = set(scopes) - REVIEWED_SCOPES
    if unreviewed:  # defence in depth: FEATURES is the only source, but it can be edited
        raise UnreviewedScope(f"refusing to request unreviewed scopes: {sorted(unreviewed)}")
    return scopes


def features_granted(scopes: Iterable[str]) -> list[Feature]:
    """The features the granted scopes enable."""
    granted = set(scopes)
    return [f for f in FEATURES if ENABLED_BY[f] & granted]


def missing_features(wanted: Iterable[Feature], scopes: Iterable[str]) -> list[Feature]:
    granted = set(features_granted(scopes))
    return [f for f in FEATURES if f in set(wanted) and f not in granted]


def gmail_scopes_in(scopes: Iterable[str]) -> list[str]:
    return sorted(s for s in set(scopes) if s in GMAIL_SCOPES)
