"""The control API under ``/_emulator``: users, seeding, inspection, OAuth clients, token
minting, simulated account events, faults, clock, quota and push. Not a Google API: JSON in,
JSON out, no authentication (bind the emulator to localhost)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Body, HTTPException

from . import seed, tokens
from .errors import GoogleApiError, OAuthError
from .mime import decode_b64_any
from .push import PushNotifier
from .quota import QuotaMeter
from .render import message_resource
from .state import EmulatorState, OAuthClient, User


def build_router(state: EmulatorState, quota: QuotaMeter, push: PushNotifier) -> APIRouter:
    r = APIRouter(prefix="/_emulator")

    def _user(email: str) -> User:
        user = state.user(email)
        if user is None:
            raise HTTPException(404, f"unknown user {email}")
        return user

    @r.get("/health")
    def health() -> dict[str, Any]:
        return {"ok": True, "users": len(state.users)}

    @r.post("/reset")
    def reset() -> dict[str, Any]:
        state.reset()
        quota.reset()
        push.clear()
        return {"ok": True}

    # ---- users and mailboxes ---------------------------------------------------------------
    @r.get("/users")
    def users() -> list[dict[str, Any]]:
        return [u.resource() for u in state.users.values()]

    @r.post("/users")
    def add_user(body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        email = str(body.get("email", ""))
        if "@" not in email:
            raise HTTPException(400, "email is required")
        return state.add_user(email, body.get("name")).resource()

    @r.post("/users/{email}/seed")
    def seed_user(email: str, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        box = state.add_user(email).mailbox
        added = 0
        with box.lock:
            if body.get("generate"):
                added += seed.generate(box, int(body["generate"]), seed=int(body.get("seed", 1)),
                                       days=int(body.get("days", 90)))
            labels = tuple(body.get("labelIds", ["INBOX"]))
            for raw in body.get("eml", []):
                box.add_message(decode_b64_any(raw), set(labels), date_source="dateHeader")
                added += 1
            if body.get("mbox"):
                with tempfile.TemporaryDirectory() as tmp:
                    path = Path(tmp) / "seed.mbox"
                    path.write_bytes(decode_b64_any(body["mbox"]))
                    added += seed.load_mbox(box, path, labels)
        return {"added": added, "profile": box.profile()}

    @r.post("/users/{email}/messages")
    def deliver(email: str, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        """Simulate mail arriving (like SMTP delivery): INBOX and UNREAD unless told."""
        box = state.add_user(email).mailbox
        try:
            raw = decode_b64_any(str(body.get("raw", "")))
            msg = box.add_message(raw, set(body.get("labelIds", ["INBOX", "UNREAD"])),
                                  thread_id=body.get("threadId"),
                                  date_source=body.get("internalDateSource", "receivedTime"))
        except (ValueError, GoogleApiError) as exc:
            raise HTTPException(400, str(exc)) from exc
        return {"id": msg.id, "threadId": msg.thread_id, "labelIds": msg.label_list(),
                "historyId": str(msg.history_id)}

    @r.get("/users/{email}/mailbox")
    def inspect(email: str) -> dict[str, Any]:
        box = _user(email).mailbox
        with box.lock:
            watch = box.watch
            return {
                "profile": box.profile(),
                "labels": [lb.resource(box.label_counts(lb.id)) for lb in box.labels.values()],
                "drafts": dict(box.drafts),
                "history": {"current": box.history.current, "floor": box.history.floor,
                            "records": len(box.history.records)},
                "watch": None if watch is None else {
                    "topic": watch.topic, "labelIds": watch.label_ids,
                    "labelFilterBehavior": watch.behavior,
                    "expiration": str(watch.expiration_ms)},
                "quotaUsed": quota.used(box.email),
            }

    @r.get("/users/{email}/messages")
    def messages(email: str, format: str = "minimal") -> list[dict[str, Any]]:
        box = _user(email).mailbox
        with box.lock:
            ordered = sorted(box.messages.values(), key=lambda m: m.sort_key, reverse=True)
            return [message_resource(m, format) for m in ordered]

    @r.post("/users/{email}/expire-history")
    def expire_history(email: str) -> dict[str, Any]:
        box = _user(email).mailbox
        with box.lock:
            box.history.expire_all()
            return {"floor": str(box.history.floor)}

    # ---- account events ----------------------------------------------------------------------
    @r.post("/users/{email}/revoke")
    def revoke(email: str, body: dict[str, Any] = Body(default={})) -> dict[str, Any]:
        return {"revoked": tokens.revoke_grant(state, _user(email).email,
                                               body.get("client_id"))}

    @r.post("/users/{email}/password-change")
    def password_change(email: str) -> dict[str, Any]:
        return {"revoked": tokens.password_change(state, _user(email).email)}

    @r.post("/users/{email}/expire-refresh-tokens")
    def expire_refresh(email: str) -> dict[str, Any]:
        return {"expired": tokens.expire_refresh_tokens(state, _user(email).email)}

    @r.post("/tokens")
    def mint(body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        try:
            return tokens.mint(state, str(body["email"]),
                               str(body.get("client_id") or next(iter(state.clients))),
                               list(body.get("scopes", [])), bool(body.get("offline", True)))
        except (KeyError, StopIteration) as exc:
            raise HTTPException(400, "email and scopes are required") from exc
        except OAuthError as exc:
            raise HTTPException(400, exc.description) from exc

    @r.get("/grants")
    def grants() -> list[dict[str, Any]]:
        return [{"email": g.email, "client_id": g.client_id, "scopes": g.scopes}
                for g in state.grants.values()]

    # ---- clients -----------------------------------------------------------------------------
    @r.get("/clients")
    def clients() -> list[dict[str, Any]]:
        return [c.resource() for c in state.clients.values()]

    @r.post("/clients")
    def register(body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        try:
            client = OAuthClient(client_id=str(body["client_id"]),
                                 client_secret=str(body["client_secret"]),
                                 redirect_uris=[str(u) for u in body.get("redirect_uris", [])],
                                 testing=bool(body.get("testing", False)),
                                 name=str(body.get("name", "Emulated app")))
        except KeyError as exc:
            raise HTTPException(400, f"missing {exc}") from exc
        return state.register_client(client).resource()

    # ---- faults, settings, clock, quota, push --------------------------------------------------
    @r.get("/faults")
    def faults() -> dict[str, Any]:
        return state.faults.as_dict()

    @r.put("/faults")
    @r.patch("/faults")
    def set_faults(body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        try:
            state.faults.update(body)
        except KeyError as exc:
            raise HTTPException(400, f"unknown fault {exc}") from exc
        if "seed" in body:
            state.rng.seed(int(body["seed"]))
        return state.faults.as_dict()

    @r.get("/settings")
    def settings() -> dict[str, Any]:
        return state.settings.as_dict()

    @r.patch("/settings")
    @r.put("/settings")
    def set_settings(body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        try:
            state.settings.update(body)
        except KeyError as exc:
            raise HTTPException(400, f"unknown setting {exc}") from exc
        return state.settings.as_dict()

    @r.post("/clock/advance")
    def advance(body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        offset = state.clock.advance(float(body.get("seconds", 0)))
        return {"offset": offset, "now": state.clock.now()}

    @r.get("/quota/{email}")
    def quota_used(email: str) -> dict[str, Any]:
        return {"used": quota.used(email.lower()),
                "limit": state.settings.quota_units_per_minute,
                "rejections": quota.rejections}

    @r.post("/quota/reset")
    def quota_reset() -> dict[str, Any]:
        quota.reset()
        return {"ok": True}

    @r.get("/push")
    def push_log() -> list[dict[str, Any]]:
        return list(push.log)

    @r.post("/push/flush")
    def push_flush(body: dict[str, Any] = Body(default={})) -> dict[str, Any]:
        return {"drained": push.flush(float(body.get("timeout", 5.0)))}

    @r.get("/keys")
    def keys() -> dict[str, Any]:
        return {"kid": state.key.kid, "public_pem": state.key.public_pem().decode(),
                "jwks": {"keys": [state.key.jwk()]}}

    return r
