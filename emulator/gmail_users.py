"""users.getProfile, users.history.list, users.watch and users.stop."""

from __future__ import annotations

import re
from typing import Any

from . import errors
from .gmail_api import Ctx, route
from .history import HISTORY_TYPES
from .mailbox import Watch

_TOPIC = re.compile(r"projects/[^/]+/topics/[^/]+")


@route("GET", "profile", "gmail.users.getProfile")
def get_profile(ctx: Ctx) -> dict[str, Any]:
    return ctx.mailbox.profile()


@route("GET", "history", "gmail.users.history.list")
def list_history(ctx: Ctx) -> dict[str, Any]:
    raw_start = ctx.q("startHistoryId")
    if not raw_start:
        raise errors.invalid_argument("Missing required parameter: startHistoryId")
    if not raw_start.isdigit():
        raise errors.invalid_argument(f"Invalid value for startHistoryId: {raw_start}")
    start = int(raw_start)
    types = set(ctx.qlist("historyTypes"))
    unknown = types - set(HISTORY_TYPES)
    if unknown:
        raise errors.invalid_argument(f"Invalid historyTypes: {', '.join(sorted(unknown))}")
    label_id = ctx.q("labelId")
    size = ctx.qint("maxResults", 100, 500) or 100
    history = ctx.mailbox.history
    history.expire_before(ctx.state.clock.now() - ctx.state.settings.history_retention_seconds)
    if not history.valid_start(start):
        raise errors.not_found()
    token = ctx.q("pageToken")
    after = start
    if token:
        if not token.isdigit():
            raise errors.invalid_argument("Invalid pageToken")
        after = max(start, int(token))
    out_records: list[dict[str, Any]] = []
    next_token = None
    for record in history.since(after):
        if label_id and not record.touches_label(label_id):
            continue
        resource = record.resource(types or None)
        if resource is None:
            continue
        if len(out_records) == size:
            next_token = str(int(out_records[-1]["id"]))
            break
        out_records.append(resource)
    out: dict[str, Any] = {}
    if out_records:
        out["history"] = out_records
    if next_token:
        out["nextPageToken"] = next_token
    out["historyId"] = str(history.current)
    return out


@route("POST", "watch", "gmail.users.watch")
def watch(ctx: Ctx) -> dict[str, Any]:
    body = ctx.json()
    topic = body.get("topicName")
    if not isinstance(topic, str) or not _TOPIC.fullmatch(topic):
        raise errors.invalid_argument(
            "Invalid topicName does not match projects/SOME_PROJECT/topics/SOME_TOPIC")
    label_ids = body.get("labelIds") or []
    ctx.mailbox.check_labels(label_ids, modifying=False)
    behavior = str(body.get("labelFilterBehavior") or body.get("labelFilterAction")
                   or "include").lower()
    if behavior not in ("include", "exclude"):
        raise errors.invalid_argument(f"Invalid labelFilterBehavior: {behavior}")
    expiration = ctx.state.clock.now_ms() + ctx.state.settings.watch_lifetime_seconds * 1000
    ctx.mailbox.watch = Watch(topic=topic, label_ids=list(label_ids), behavior=behavior,
                              expiration_ms=expiration,
                              history_id=ctx.mailbox.history.current)
    return {"historyId": str(ctx.mailbox.history.current), "expiration": str(expiration)}


@route("POST", "stop", "gmail.users.stop")
def stop(ctx: Ctx) -> None:
    ctx.mailbox.watch = None
