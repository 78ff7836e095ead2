"""The push endpoint: only Pub/Sub's Google-signed token for this audience and service account
gets in; forged, expired, unsigned or misdirected tokens are refused with nothing enqueued;
malformed envelopes are 400 problems; a burst coalesces into one pending sync."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from emulator.keys import SigningKey, b64url
from emulator.testing import RunningEmulator
from gateway.audit.models import AuditEntry
from gateway.kit.db import Database
from gateway.push.models import MailboxWatch
from gateway.settings import Settings
from gateway.sync.models import MailboxSync, SyncPhase
from gateway.sync.repository import ensure_rows
from tests.google_world import GOOGLE_ALICE, GOOGLE_BOB
from tests.support.world import TenantWorld

from .conftest import PUSH_PATH, Watched, envelope, push_claims, sync_requested_at


def _post(gw: TestClient, body: Any, token: str | None, *, raw: bytes | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    content = raw if raw is not None else json.dumps(body).encode()
    return gw.post(PUSH_PATH, content=content, headers=headers)


def _token(emu: RunningEmulator, settings: Settings, **override: Any) -> str:
    return str(emu.state.key.sign_jwt(push_claims(settings, **override)))


def _push_entries(db: Database) -> list[AuditEntry]:
    with db.transaction() as session:
        return list(session.scalars(select(AuditEntry).where(
            AuditEntry.operation == "sync:push:received").order_by(AuditEntry.occurred_at)))


def _assert_problem(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code


@pytest.fixture
def watched(connect_and_watch: Callable[..., Watched], tenant_a: TenantWorld) -> Watched:
    return connect_and_watch(tenant_a)


def test_a_verified_push_requests_a_sync_and_is_logged_without_the_address(
        gw: TestClient, emu: RunningEmulator, oauth_settings: Settings, db: Database,
        watched: Watched) -> None:
    assert sync_requested_at(db, watched.mailbox_id) is None
    response = _post(gw, envelope(GOOGLE_ALICE, 4321), _token(emu, oauth_settings))
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert sync_requested_at(db, watched.mailbox_id) is not None
    [entry] = _push_entries(db)
    assert entry.actor_kind == "system" and entry.actor_id == "system:push-receiver"
    assert entry.mailbox_id == watched.mailbox_id
    assert entry.tenant_id == watched.world.tenant.id
    assert entry.upstream_protocol == "pubsub-push https"
    assert entry.purpose == "sync"
    assert entry.detail["outcome"] == "requested"
    assert entry.detail["history_id"] == 4321
    assert entry.detail["pubsub_message_id"] == "9000000000001"
    written = json.dumps({c.key: str(getattr(entry, c.key)) for c in AuditEntry.__table__.columns})
    assert "alice" not in written.lower()
    with db.transaction() as session:
        watch = session.get(MailboxWatch, watched.mailbox_id)
        assert watch is not None
        assert (watch.pushes_received, watch.pushes_coalesced) == (1, 0)
        assert watch.last_push_history_id == 4321


def test_the_address_spelling_does_not_matter(gw: TestClient, emu: RunningEmulator,
                                              oauth_settings: Settings, db: Database,
                                              watched: Watched) -> None:
    # Blind indexes are taken over the normalised address (lower case, trimmed).
    response = _post(gw, envelope("  Alice@Example.COM "), _token(emu, oauth_settings))
    assert response.status_code == 204
    assert sync_requested_at(db, watched.mailbox_id) is not None


def test_a_burst_of_pushes_leaves_one_pending_sync(gw: TestClient, emu: RunningEmulator,
                                                   oauth_settings: Settings, db: Database,
                                                   watched: Watched) -> None:
    token = _token(emu, oauth_settings)
    first = None
    for history_id in range(100, 110):
        assert _post(gw, envelope(GOOGLE_ALICE, history_id), token).status_code == 204
        if first is None:
            first = sync_requested_at(db, watched.mailbox_id)
    assert first is not None
    assert sync_requested_at(db, watched.mailbox_id) == first  # set once, never moved
    with db.transaction() as session:
        watch = session.get(MailboxWatch, watched.mailbox_id)
        assert watch is not None
        assert (watch.pushes_received, watch.pushes_coalesced) == (10, 9)
        assert watch.last_push_history_id == 109
    outcomes = [e.detail["outcome"] for e in _push_entries(db)]
    assert outcomes == ["requested"] + ["coalesced"] * 9


def _sync_state(db: Database, watched: Watched, phase: str, history_id: int) -> None:
    with db.transaction() as session:
        ensure_rows(session)
        sync = session.get(MailboxSync, watched.mailbox_id)
        assert sync is not None
        sync.phase, sync.history_id = phase, history_id


def test_a_push_the_incremental_sync_has_already_reached_requests_nothing(
        gw: TestClient, emu: RunningEmulator, oauth_settings: Settings, db: Database,
        watched: Watched) -> None:
    _sync_state(db, watched, SyncPhase.incremental, 5000)
    token = _token(emu, oauth_settings)
    for history_id in (4999, 5000):
        assert _post(gw, envelope(GOOGLE_ALICE, history_id), token).status_code == 204
        assert sync_requested_at(db, watched.mailbox_id) is None
    assert _post(gw, envelope(GOOGLE_ALICE, 5001), token).status_code == 204
    assert sync_requested_at(db, watched.mailbox_id) is not None
    outcomes = [e.detail["outcome"] for e in _push_entries(db)]
    assert outcomes == ["up_to_date", "up_to_date", "requested"]
    with db.transaction() as session:
        watch = session.get(MailboxWatch, watched.mailbox_id)
        assert watch is not None
        assert (watch.pushes_received, watch.pushes_coalesced) == (3, 0)


def test_a_full_sync_under_way_does_not_make_a_push_up_to_date(
        gw: TestClient, emu: RunningEmulator, oauth_settings: Settings, db: Database,
        watched: Watched) -> None:
    # During a full sync history_id is still the old starting point: only an incremental
    # sync's historyId says the change is in the store.
    _sync_state(db, watched, SyncPhase.full, 5000)
    assert _post(gw, envelope(GOOGLE_ALICE, 4000), _token(emu, oauth_settings)).status_code == 204
    assert sync_requested_at(db, watched.mailbox_id) is not None
    assert [e.detail["outcome"] for e in _push_entries(db)] == ["requested"]


def test_an_unknown_address_is_acknowledged_and_logged(gw: TestClient, emu: RunningEmulator,
                                                       oauth_settings: Settings, db: Database,
                                                       watched: Watched) -> None:
    response = _post(gw, envelope("nobody@example.org"), _token(emu, oauth_settings))
    assert response.status_code == 204  # else Pub/Sub would redeliver it for days
    assert sync_requested_at(db, watched.mailbox_id) is None
    [entry] = _push_entries(db)
    assert entry.detail["outcome"] == "unknown_address"
    assert entry.mailbox_id is None and entry.tenant_id is None


def test_the_same_account_in_two_tenants_gets_both_mailboxes_synced(
        gw: TestClient, emu: RunningEmulator, oauth_settings: Settings, db: Database,
        connect_and_watch: Callable[..., Watched], tenant_a: TenantWorld,
        tenant_b: TenantWorld) -> None:
    in_a = connect_and_watch(tenant_a, GOOGLE_BOB)
    in_b = connect_and_watch(tenant_b, GOOGLE_BOB)
    with db.transaction() as session:
        indexes = {w.mailbox_id: w.address_index for w in session.scalars(select(MailboxWatch))}
    # tenant-keyed: the same address gives unrelated indexes in the two tenants
    assert indexes[in_a.mailbox_id] != indexes[in_b.mailbox_id]
    assert _post(gw, envelope(GOOGLE_BOB), _token(emu, oauth_settings)).status_code == 204
    assert sync_requested_at(db, in_a.mailbox_id) is not None
    assert sync_requested_at(db, in_b.mailbox_id) is not None


# -- refused tokens ----------------------------------------------------------------------------


def _forged_same_kid(emu: RunningEmulator, claims: dict[str, Any]) -> str:
    other = SigningKey()
    other.kid = emu.state.key.kid  # claims to be the emulator's key; the signature says no
    return other.sign_jwt(claims)


def _unsigned(claims: dict[str, Any]) -> str:
    header = {"alg": "none", "typ": "JWT"}
    return (b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
            + ".")


def _tampered(emu: RunningEmulator, claims: dict[str, Any]) -> str:
    head, _, signature = emu.state.key.sign_jwt(claims).split(".")
    widened = dict(claims, email="attacker@evil.example")
    return head + "." + b64url(json.dumps(widened).encode()) + "." + signature


REFUSALS: list[tuple[str, Callable[[RunningEmulator, Settings], str | None], int, str]] = [
    ("missing", lambda emu, s: None, 401, "push_token_missing"),
    ("not a JWT", lambda emu, s: "not-a-jwt", 401, "push_token_invalid"),
    ("wrong audience", lambda emu, s: _token(emu, s, aud="https://other.example/push"),
     401, "push_token_invalid"),
    ("expired", lambda emu, s: _token(emu, s, iat=1_700_000_000, exp=1_700_003_600),
     401, "push_token_invalid"),
    ("issued in the future", lambda emu, s: _token(emu, s, iat=4_000_000_000,
                                                   exp=4_000_003_600),
     401, "push_token_invalid"),
    ("wrong issuer", lambda emu, s: _token(emu, s, iss="https://evil.example"),
     401, "push_token_invalid"),
    ("wrong service account", lambda emu, s: _token(emu, s, email="other@x.iam.gserviceaccount"
                                                                  ".com"),
     403, "push_sender_forbidden"),
    ("email not verified", lambda emu, s: _token(emu, s, email_verified=False),
     403, "push_sender_forbidden"),
    ("no email", lambda emu, s: _token(emu, s, email=None), 403, "push_sender_forbidden"),
    ("another key, same key id", lambda emu, s: _forged_same_kid(emu, push_claims(s)),
     401, "push_token_invalid"),
    ("another key, unknown key id", lambda emu, s: SigningKey().sign_jwt(push_claims(s)),
     401, "push_token_invalid"),
    ("unsigned (alg none)", lambda emu, s: _unsigned(push_claims(s)), 401, "push_token_invalid"),
    ("claims changed after signing", lambda emu, s: _tampered(emu, push_claims(s)),
     401, "push_token_invalid"),
]


@pytest.mark.parametrize(("case", "make", "status", "code"), REFUSALS,
                         ids=[r[0] for r in REFUSALS])
def test_refused_tokens_enqueue_nothing(gw: TestClient, emu: RunningEmulator,
                                        oauth_settings: Settings, db: Database,
                                        watched: Watched, case: str,
                                        make: Callable[[RunningEmulator, Settings], str | None],
                                        status: int, code: str) -> None:
    response = _post(gw, envelope(GOOGLE_ALICE), make(emu, oauth_settings))
    _assert_problem(response, status, code)
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"
    assert sync_requested_at(db, watched.mailbox_id) is None
    assert _push_entries(db) == []
    with db.transaction() as session:
        watch = session.get(MailboxWatch, watched.mailbox_id)
        assert watch is not None and watch.pushes_received == 0


def test_a_basic_or_api_key_credential_is_not_a_push_token(gw: TestClient, db: Database,
                                                           tenant_a: TenantWorld) -> None:
    response = gw.post(PUSH_PATH, json=envelope(GOOGLE_ALICE),
                       headers=tenant_a.crm.headers())
    _assert_problem(response, 401, "push_token_invalid")
    basic = gw.post(PUSH_PATH, json=envelope(GOOGLE_ALICE),
                    headers={"Authorization": "Basic dXNlcjpwYXNz"})
    _assert_problem(basic, 401, "push_token_missing")


# -- malformed envelopes -----------------------------------------------------------------------


def _data(value: Any) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


MALFORMED: list[tuple[str, bytes]] = [
    ("not JSON", b"{nope"),
    ("empty", b""),
    ("a list", b"[]"),
    ("no message", json.dumps({"subscription": "s"}).encode()),
    ("message not an object", json.dumps({"message": "hi"}).encode()),
    ("no data", json.dumps({"message": {"messageId": "1"}}).encode()),
    ("data not base64", json.dumps({"message": {"data": "%%%not base64%%%"}}).encode()),
    ("data not JSON", json.dumps({"message": {"data": base64.b64encode(b"\xff\xfe").decode()}}
                                 ).encode()),
    ("data a list", json.dumps({"message": {"data": _data([1, 2])}}).encode()),
    ("no emailAddress", json.dumps({"message": {"data": _data({"historyId": 5})}}).encode()),
    ("emailAddress not text", json.dumps({"message": {"data": _data(
        {"emailAddress": 7, "historyId": 5})}}).encode()),
    ("historyId missing", json.dumps({"message": {"data": _data(
        {"emailAddress": GOOGLE_ALICE})}}).encode()),
    ("historyId negative", json.dumps({"message": {"data": _data(
        {"emailAddress": GOOGLE_ALICE, "historyId": -3})}}).encode()),
    ("historyId a bool", json.dumps({"message": {"data": _data(
        {"emailAddress": GOOGLE_ALICE, "historyId": True})}}).encode()),
    ("historyId huge", json.dumps({"message": {"data": _data(
        {"emailAddress": GOOGLE_ALICE, "historyId": 10**30})}}).encode()),
    ("deeply nested", b"[" * 30_000 + b"]" * 30_000),
    ("too large", b" " * 70_000),
]


@pytest.mark.parametrize(("case", "raw"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_envelopes_are_400_problems(gw: TestClient, emu: RunningEmulator,
                                             oauth_settings: Settings, db: Database,
                                             watched: Watched, case: str, raw: bytes) -> None:
    response = _post(gw, None, _token(emu, oauth_settings), raw=raw)
    if case == "too large":  # refused for its size before parsing
        _assert_problem(response, 413, "payload_too_large")
    else:
        _assert_problem(response, 400, "push_envelope_invalid")
        assert GOOGLE_ALICE not in response.text
    assert sync_requested_at(db, watched.mailbox_id) is None
    assert _push_entries(db) == []


def test_history_id_as_a_decimal_string_is_accepted(gw: TestClient, emu: RunningEmulator,
                                                    oauth_settings: Settings, db: Database,
                                                    watched: Watched) -> None:
    body = {"message": {"data": _data({"emailAddress": GOOGLE_ALICE, "historyId": "777"})}}
    assert _post(gw, body, _token(emu, oauth_settings)).status_code == 204
    assert sync_requested_at(db, watched.mailbox_id) is not None


def test_certificates_are_fetched_once_for_many_pushes(gw: TestClient, emu: RunningEmulator,
                                                       oauth_settings: Settings,
                                                       oauth_app: FastAPI,
                                                       watched: Watched) -> None:
    from gateway.push.router import push_verifier

    verifier = push_verifier(oauth_app)
    verifier.request.invalidate()
    before = verifier.request.fetches
    token = _token(emu, oauth_settings)
    for _ in range(5):
        assert _post(gw, envelope(GOOGLE_ALICE), token).status_code == 204
    assert verifier.request.fetches - before <= 1
    # tokens with made-up key ids cannot make it refetch on every request
    for _ in range(5):
        forged = SigningKey().sign_jwt(push_claims(oauth_settings))
        _assert_problem(_post(gw, envelope(GOOGLE_ALICE), forged), 401, "push_token_invalid")
    assert verifier.request.fetches - before <= 2


def test_remembered_matches_are_used_only_while_live(
        gw: TestClient, emu: RunningEmulator, oauth_settings: Settings, oauth_app: FastAPI,
        db: Database, connect_and_watch: Callable[..., Watched], tenant_a: TenantWorld) -> None:
    from gateway.push.router import watch_lookup

    lookup = watch_lookup(oauth_app)
    lookup.clear()
    first = connect_and_watch(tenant_a)
    token = _token(emu, oauth_settings)
    assert _post(gw, envelope(GOOGLE_ALICE), token).status_code == 204
    hits = lookup.hits
    assert _post(gw, envelope(GOOGLE_ALICE), token).status_code == 204
    assert lookup.hits == hits + 1  # the repeat push did not index under every tenant again
    # The user disconnects (data shredded) and connects the same account again: a new mailbox,
    # which the next push must find although the old match is still remembered.
    gone = gw.delete(f"/v1/mailboxes/{first.mailbox_id}/connection",
                     headers=tenant_a.end_user.headers())
    assert gone.status_code == 200, gone.text
    again = connect_and_watch(tenant_a)
    assert again.mailbox_id != first.mailbox_id
    assert _post(gw, envelope(GOOGLE_ALICE), token).status_code == 204
    assert sync_requested_at(db, again.mailbox_id) is not None
