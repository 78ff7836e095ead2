"""Threads (formed like Gmail's), drafts and history.list, schema-validated."""

from __future__ import annotations

from typing import Any

import pytest
from googleapiclient.errors import HttpError

from emulator.testing import RunningEmulator

from .conftest import ALICE, error_body
from .discovery_schema import validate_error
from .samples import b64url, simple


def _insert(gmail: Any, raw: bytes, labels: list[str] | None = None) -> dict[str, Any]:
    return gmail.users().messages().insert(
        userId="me", body={"raw": b64url(raw), "labelIds": labels or ["INBOX", "UNREAD"]}
    ).execute()


def test_threads_follow_references_and_subject(gmail: Any) -> None:
    first = _insert(gmail, simple("Budget", msgid="<b1@x>"))
    reply = _insert(gmail, simple("Re: Budget", msgid="<b2@x>", in_reply_to="<b1@x>"))
    fwd = _insert(gmail, simple("RE: re: budget", msgid="<b3@x>", in_reply_to="<b2@x>"))
    other_subject = _insert(gmail, simple("Different", msgid="<b4@x>", in_reply_to="<b1@x>"))
    same_subject_no_refs = _insert(gmail, simple("Budget", msgid="<b5@x>"))
    assert reply["threadId"] == fwd["threadId"] == first["threadId"] == first["id"]
    assert other_subject["threadId"] == other_subject["id"]
    assert same_subject_no_refs["threadId"] == same_subject_no_refs["id"]
    thread = gmail.users().threads().get(userId="me", id=first["threadId"]).execute()
    assert [m["id"] for m in thread["messages"]] == [first["id"], reply["id"], fwd["id"]]
    listed = gmail.users().threads().list(userId="me").execute()
    assert listed["resultSizeEstimate"] == 3 and {t["id"] for t in listed["threads"]} == {
        first["threadId"], other_subject["id"], same_subject_no_refs["id"]}
    meta = gmail.users().threads().get(userId="me", id=first["threadId"], format="metadata",
                                       metadataHeaders=["Subject"]).execute()
    assert all(len(m["payload"]["headers"]) == 1 for m in meta["messages"])


def test_thread_modify_trash_untrash(gmail: Any) -> None:
    first = _insert(gmail, simple("T", msgid="<t1@x>"))
    _insert(gmail, simple("Re: T", msgid="<t2@x>", in_reply_to="<t1@x>"))
    threads = gmail.users().threads()
    out = threads.modify(userId="me", id=first["threadId"],
                         body={"removeLabelIds": ["UNREAD"]}).execute()
    assert all("UNREAD" not in m["labelIds"] for m in out["messages"])
    threads.trash(userId="me", id=first["threadId"]).execute()
    assert threads.list(userId="me").execute() == {"resultSizeEstimate": 0}
    threads.untrash(userId="me", id=first["threadId"]).execute()
    assert threads.list(userId="me").execute()["resultSizeEstimate"] == 1
    with pytest.raises(HttpError) as exc:
        threads.get(userId="me", id="abcdef0123").execute()
    assert exc.value.resp.status == 404


def test_drafts_lifecycle(gmail: Any) -> None:
    drafts = gmail.users().drafts()
    raw = b"To: bob@example.com\r\nSubject: draft one\r\n\r\nfirst version\r\n"
    draft = drafts.create(userId="me", body={"message": {"raw": b64url(raw)}}).execute()
    assert draft["message"]["labelIds"] == ["DRAFT"]
    got = drafts.get(userId="me", id=draft["id"], format="raw").execute()
    assert got["id"] == draft["id"]
    listed = drafts.list(userId="me").execute()
    assert [d["id"] for d in listed["drafts"]] == [draft["id"]]
    new_raw = raw.replace(b"first", b"second")
    updated = drafts.update(userId="me", id=draft["id"],
                            body={"message": {"raw": b64url(new_raw)}}).execute()
    assert updated["id"] == draft["id"] and updated["message"]["id"] != draft["message"]["id"]
    sent = drafts.send(userId="me", body={"id": draft["id"]}).execute()
    assert sent["labelIds"] == ["SENT"]
    assert drafts.list(userId="me").execute() == {"resultSizeEstimate": 0}
    with pytest.raises(HttpError) as exc:
        drafts.get(userId="me", id=draft["id"]).execute()
    assert exc.value.resp.status == 404
    other = drafts.create(userId="me", body={"message": {"raw": b64url(raw)}}).execute()
    drafts.delete(userId="me", id=other["id"]).execute()
    assert drafts.list(userId="me").execute() == {"resultSizeEstimate": 0}


def _start(gmail: Any) -> str:
    return gmail.users().getProfile(userId="me").execute()["historyId"]


def test_history_records_changes_in_order(gmail: Any) -> None:
    start = _start(gmail)
    msg = _insert(gmail, simple("h"))
    gmail.users().messages().modify(userId="me", id=msg["id"],
                                    body={"addLabelIds": ["STARRED"]}).execute()
    gmail.users().messages().modify(userId="me", id=msg["id"],
                                    body={"removeLabelIds": ["UNREAD"]}).execute()
    gmail.users().messages().trash(userId="me", id=msg["id"]).execute()
    history = gmail.users().history().list(userId="me", startHistoryId=start).execute()
    records = history["history"]
    ids = [int(r["id"]) for r in records]
    assert ids == sorted(ids) and len(set(ids)) == len(ids) and ids[0] > int(start)
    assert int(history["historyId"]) == ids[-1]
    assert records[0]["messagesAdded"][0]["message"]["id"] == msg["id"]
    assert records[1]["labelsAdded"][0]["labelIds"] == ["STARRED"]
    assert records[2]["labelsRemoved"][0]["labelIds"] == ["UNREAD"]
    assert records[3]["labelsAdded"][0]["labelIds"] == ["TRASH"]
    only_added = gmail.users().history().list(
        userId="me", startHistoryId=start, historyTypes=["labelAdded"]).execute()
    assert [set(r) for r in only_added["history"]] == [{"id", "messages", "labelsAdded"}] * 2
    starred = gmail.users().history().list(userId="me", startHistoryId=start,
                                           labelId="STARRED").execute()
    assert len(starred["history"]) == 3  # the add, and two later changes while starred
    nothing = gmail.users().history().list(userId="me", startHistoryId=history["historyId"]
                                           ).execute()
    assert nothing == {"historyId": history["historyId"]}


def test_history_pagination_and_deletion(emu: RunningEmulator, gmail: Any) -> None:
    start = _start(gmail)
    ids = [_insert(gmail, simple(f"m{i}"))["id"] for i in range(7)]
    from emulator import scopes as sc

    from .conftest import credentials, gmail_service
    full = gmail_service(emu, credentials(emu, scopes=[sc.FULL_MAILBOX]))
    full.users().messages().delete(userId="me", id=ids[0]).execute()
    seen: list[dict[str, Any]] = []
    request = gmail.users().history().list(userId="me", startHistoryId=start, maxResults=3)
    while request is not None:
        page = request.execute()
        seen += page.get("history", [])
        request = gmail.users().history().list_next(request, page)
    assert len(seen) == 8
    assert seen[-1]["messagesDeleted"][0]["message"]["id"] == ids[0]


def test_history_expired_answers_404(emu: RunningEmulator, gmail: Any) -> None:
    start = _start(gmail)
    _insert(gmail, simple("before expiry"))
    emu.control.expire_history(ALICE)
    with pytest.raises(HttpError) as exc:
        gmail.users().history().list(userId="me", startHistoryId=start).execute()
    assert exc.value.resp.status == 404
    validate_error(error_body(exc.value), 404, "notFound")
    assert error_body(exc.value)["error"]["status"] == "NOT_FOUND"
    # a fresh startHistoryId works again (the client's full resync path)
    fresh = _start(gmail)
    _insert(gmail, simple("after"))
    assert len(gmail.users().history().list(userId="me", startHistoryId=fresh).execute()
               ["history"]) == 1


def test_history_retention_by_time(emu: RunningEmulator, gmail: Any) -> None:
    emu.control.set_settings(history_retention_seconds=3600)
    start = _start(gmail)
    _insert(gmail, simple("old"))
    mid = _start(gmail)
    assert gmail.users().history().list(userId="me", startHistoryId=start).execute()["history"]
    emu.control.advance_clock(7200)
    _insert(gmail, simple("new"))
    with pytest.raises(HttpError) as exc:
        gmail.users().history().list(userId="me", startHistoryId=start).execute()
    assert exc.value.resp.status == 404
    assert len(gmail.users().history().list(userId="me", startHistoryId=mid).execute()
               ["history"]) == 1


def test_history_bad_start(gmail: Any) -> None:
    with pytest.raises(HttpError) as exc:
        gmail.users().history().list(userId="me", startHistoryId="abc").execute()
    assert exc.value.resp.status == 400


def test_history_ids_increase_across_operations(gmail: Any) -> None:
    seen = [int(_start(gmail))]
    for i in range(5):
        _insert(gmail, simple(f"x{i}"))
        seen.append(int(_start(gmail)))
    assert seen == sorted(seen) and len(set(seen)) == len(seen)
