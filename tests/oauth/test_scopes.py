"""Least privilege: reviewed scope sets per feature, never the full-mailbox scope."""

from __future__ import annotations

import pytest

from gateway.mailboxes.scopes import (
    FEATURES,
    IDENTITY_SCOPES,
    REVIEWED_SCOPES,
    Feature,
    features_granted,
    missing_features,
    scopes_for,
)
from gateway.oauth.states import ReturnUrlRefused, check_return_url
from gateway.policy.vocabulary import SCOPE_LABELS, SCOPE_MODIFY, SCOPE_READONLY, SCOPE_SEND

from .conftest import repo_root

# Built from parts so that this file does not itself contain the string it hunts for.
FULL_MAILBOX_SCOPE = "https://" + "mail" + ".google.com/"


def test_the_full_mailbox_scope_appears_nowhere_in_the_gateway() -> None:
    offenders = []
    for path in sorted((repo_root() / "gateway").rglob("*")):
        if not path.is_file() or path.suffix not in {".py", ".html", ".json", ".txt", ".toml"}:
            continue
        if FULL_MAILBOX_SCOPE in path.read_text(encoding="utf-8", errors="replace"):
            offenders.append(str(path.relative_to(repo_root())))
    assert offenders == []
    assert FULL_MAILBOX_SCOPE not in REVIEWED_SCOPES


def test_each_feature_asks_for_exactly_its_reviewed_scope() -> None:
    assert {f: s.scope for f, s in FEATURES.items()} == {
        Feature.read: SCOPE_READONLY, Feature.send: SCOPE_SEND,
        Feature.organise: SCOPE_MODIFY, Feature.labels: SCOPE_LABELS}
    assert scopes_for([Feature.send]) == [*IDENTITY_SCOPES, SCOPE_SEND]
    assert scopes_for([Feature.read, Feature.read]) == [*IDENTITY_SCOPES, SCOPE_READONLY]
    every = scopes_for(list(Feature))
    assert set(every) <= REVIEWED_SCOPES and FULL_MAILBOX_SCOPE not in every
    with pytest.raises(ValueError):
        scopes_for([])


def test_granted_scopes_enable_features_like_the_policy_does() -> None:
    assert features_granted([SCOPE_READONLY]) == [Feature.read]
    assert features_granted([SCOPE_MODIFY]) == list(Feature)  # modify covers read/send/labels
    assert features_granted(["openid"]) == []
    assert missing_features([Feature.read, Feature.send], [SCOPE_READONLY]) == [Feature.send]


@pytest.mark.parametrize("url", [
    "https://crm.example.test/", "https://crm.example.test/settings?tab=mail",
    "https://app.example.test", "https://app.example.test/x", "https://app.example.test?x=1",
])
def test_return_urls_on_the_allow_list(url: str) -> None:
    allow = ["https://crm.example.test/", "https://app.example.test"]
    assert check_return_url(url, allow) == url


@pytest.mark.parametrize("url", [
    "https://app.example.test.evil.net/", "https://app.example.testx", "http://crm.example.test/",
    "https://crm.example.test@evil.net/", "https://evil.net/https://crm.example.test/",
    "javascript:alert(1)", "https://crm.example.test/\\@evil.net", "https://crm.example.test/\n",
    "//crm.example.test/", "",
])
def test_return_urls_off_the_allow_list(url: str) -> None:
    with pytest.raises(ReturnUrlRefused):
        check_return_url(url, ["https://crm.example.test/", "https://app.example.test"])
    with pytest.raises(ReturnUrlRefused):
        check_return_url("https://crm.example.test/", [])
