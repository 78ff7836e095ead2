"""users.messages.* and users.labels.* through googleapiclient, responses schema-validated."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from googleapiclient.errors import HttpError

from emulator import scopes as sc
from emulator.testing import RunningEmulator

from .conftest import ALICE, BOB, VALIDATED, credentials, error_body, gmail_service
from .discovery_schema import validate_error
from .samples import NESTED, b64url, simple


def _insert(gmail: Any, raw: bytes, labels: list[str] | None = None,
            thread_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"raw": b64url(raw), "labelIds": labels or ["INBOX", "UNREAD"]}
    if thread_id:
        body["threadId"] = thread_id
    return gmail.users().messages().insert(userId="me", body=body).execute()


def _ids(result: dict[str, Any]) -> list[str]:
    return [m["id"] for m in result.get("messages", [])]


def test_list_pagination_and_max_results(emu: RunningEmulator, gmail: Any) -> None:
    emu.control.seed(ALICE, generate=130, seed=3)
    messages = gmail.users().messages()
    first = messages.list(userId="me", maxResults=50, includeSpamTrash=True).execute()
    assert len(first["messages"]) == 50 and first["resultSizeEstimate"] == 130
    seen = _ids(first)
    token = first["nextPageToken"]
    while token:
        page = messages.list(userId="me", maxResults=50, pageToken=token,
                             includeSpamTrash=True).execute()
        seen += _ids(page)
        token = page.get("nextPageToken")
    assert len(seen) == len(set(seen)) == 130
    default = messages.list(userId="me", includeSpamTrash=True).execute()
    assert len(default["messages"]) == 100
    capped = messages.list(userId="me", maxResults=10_000, includeSpamTrash=True).execute()
    assert len(capped["messages"]) == 130  # all fit under the 500 cap
    # list_next from googleapiclient works with our page tokens
    request, pages = messages.list(userId="me", maxResults=40), 0
    while request is not None:
        response = request.execute()
        pages += 1
        request = messages.list_next(request, response)
    assert pages >= 3


def test_empty_list_shape(gmail: Any) -> None:
    assert gmail.users().messages().list(userId="me").execute() == {"resultSizeEstimate": 0}


def test_label_filter_and_spam_trash_hidden(gmail: Any) -> None:
    a = _insert(gmail, simple("in inbox"))
    b = _insert(gmail, simple("spammy"), ["SPAM"])
    c = _insert(gmail, simple("starred"), ["INBOX", "STARRED"])
    msgs = gmail.users().messages()
    assert set(_ids(msgs.list(userId="me").execute())) == {a["id"], c["id"]}
    assert set(_ids(msgs.list(userId="me", includeSpamTrash=True).execute())) == {
        a["id"], b["id"], c["id"]}
    assert _ids(msgs.list(userId="me", labelIds=["INBOX", "STARRED"]).execute()) == [c["id"]]
    assert _ids(msgs.list(userId="me", labelIds=["SPAM"]).execute()) == [b["id"]]
    with pytest.raises(HttpError) as exc:
        msgs.list(userId="me", labelIds=["Label_404"]).execute()
    assert exc.value.resp.status == 400


@pytest.mark.parametrize(("query", "expected"), [
    ("from:carol@example.org", {"hello", "report"}),
    ("from:dave", {"invoice"}),
    ("to:bob@example.com", {"report"}),
    ("subject:invoice", {"invoice"}),
    ("is:unread", {"hello", "invoice"}),
    ("is:read", {"report"}),
    ("has:attachment", {"report"}),
    ("label:work", {"invoice"}),
    ("after:2024/01/05", {"invoice", "report"}),
    ("before:2024/01/05", {"hello"}),
    ("after:2024/01/05 before:2024/01/15", {"invoice"}),
    ("pineapple", {"hello"}),
    ('"purple pineapple"', {"hello"}),
    ("-pineapple", {"invoice", "report"}),
    ("subject:hello OR subject:invoice", {"hello", "invoice"}),
    ("in:inbox is:unread from:dave", {"invoice"}),
])
def test_query_subset(emu: RunningEmulator, gmail: Any, query: str, expected: set[str]) -> None:
    work = gmail.users().labels().create(userId="me", body={"name": "Work"}).execute()["id"]
    ids = {
        "hello": _insert(gmail, simple("hello", body="a purple pineapple",
                                       date="Tue, 02 Jan 2024 10:00:00 +0000"))["id"],
        "invoice": _insert(gmail, simple("Invoice 42", sender="Dave <dave@example.net>",
                                         date="Wed, 10 Jan 2024 10:00:00 +0000"),
                           ["INBOX", "UNREAD", work])["id"],
    }
    with_att = NESTED.replace(b"To: Alice <alice@example.com>, dave@example.net",
                              b"To: bob@example.com").replace(
        b"Tue, 02 Jan 2024 10:00:00 -0800", b"Sat, 20 Jan 2024 10:00:00 -0800")
    ids["report"] = gmail.users().messages().import_(
        userId="me", body={"raw": b64url(with_att), "labelIds": ["INBOX"]}).execute()["id"]
    # insert defaults to receipt time; pin dates so after:/before: are deterministic
    for name, when in (("hello", 1704189600000), ("invoice", 1704880800000)):
        emu.state.users[ALICE].mailbox.messages[ids[name]].internal_date = when
    found = set(_ids(gmail.users().messages().list(userId="me", q=query).execute()))
    assert found == {ids[n] for n in expected}


def test_get_formats_and_errors(gmail: Any) -> None:
    inserted = _insert(gmail, NESTED)
    for fmt in ("full", "metadata", "minimal", "raw"):
        got = gmail.users().messages().get(userId="me", id=inserted["id"], format=fmt).execute()
        assert got["id"] == inserted["id"]
    with pytest.raises(HttpError) as exc:
        gmail.users().messages().get(userId="me", id="ffffffffffff").execute()
    assert exc.value.resp.status == 404
    validate_error(error_body(exc.value), 404, "notFound")
    with pytest.raises(HttpError) as exc:
        gmail.users().messages().get(userId="me", id="not-an-id").execute()
    assert exc.value.resp.status == 400
    validate_error(error_body(exc.value), 400)


def test_send_sets_sent_and_delivers_to_other_emulated_users(emu: RunningEmulator,
                                                           gmail: Any) -> None:
    emu.control.add_user(BOB)
    raw = b"To: Bob <bob@example.com>\r\nSubject: lunch?\r\n\r\nNoon at the usual place.\r\n"
    sent = gmail.users().messages().send(userId="me", body={"raw": b64url(raw)}).execute()
    assert sent["labelIds"] == ["SENT"]
    got = gmail.users().messages().get(userId="me", id=sent["id"], format="metadata").execute()
    names = {h["name"] for h in got["payload"]["headers"]}
    assert {"From", "Date", "Message-ID"} <= names
    bob = gmail_service(emu, credentials(emu, BOB))
    inbox = bob.users().messages().list(userId="me", labelIds=["INBOX"]).execute()
    assert len(inbox["messages"]) == 1
    with pytest.raises(HttpError) as exc:
        gmail.users().messages().send(userId="me", body={"raw": b64url(b"Subject: x\r\n\r\nx")}
                                      ).execute()
    assert exc.value.resp.status == 400


def test_modify_trash_untrash_delete(emu: RunningEmulator, gmail: Any) -> None:
    msg = _insert(gmail, simple("x"))
    msgs = gmail.users().messages()
    out = msgs.modify(userId="me", id=msg["id"], body={"addLabelIds": ["STARRED"],
                                                        "removeLabelIds": ["UNREAD"]}).execute()
    assert out["labelIds"] == ["INBOX", "STARRED"]
    with pytest.raises(HttpError) as exc:
        msgs.modify(userId="me", id=msg["id"], body={"addLabelIds": ["SENT"]}).execute()
    assert exc.value.resp.status == 400
    assert "TRASH" in msgs.trash(userId="me", id=msg["id"]).execute()["labelIds"]
    assert msgs.list(userId="me").execute() == {"resultSizeEstimate": 0}
    assert "TRASH" not in msgs.untrash(userId="me", id=msg["id"]).execute()["labelIds"]
    # delete needs the full-mailbox scope, which this credential does not have
    with pytest.raises(HttpError) as exc:
        msgs.delete(userId="me", id=msg["id"]).execute()
    assert exc.value.resp.status == 403
    validate_error(error_body(exc.value), 403, "insufficientPermissions")
    full = gmail_service(emu, credentials(emu, scopes=[sc.FULL_MAILBOX]))
    full.users().messages().delete(userId="me", id=msg["id"]).execute()
    with pytest.raises(HttpError):
        msgs.get(userId="me", id=msg["id"]).execute()


def test_batch_modify_and_batch_delete(emu: RunningEmulator, gmail: Any) -> None:
    ids = [_insert(gmail, simple(f"m{i}"))["id"] for i in range(5)]
    gmail.users().messages().batchModify(userId="me", body={
        "ids": ids, "removeLabelIds": ["UNREAD"], "addLabelIds": ["IMPORTANT"]}).execute()
    for message_id in ids:
        labels = gmail.users().messages().get(userId="me", id=message_id,
                                              format="minimal").execute()["labelIds"]
        assert labels == ["IMPORTANT", "INBOX"]
    full = gmail_service(emu, credentials(emu, scopes=[sc.FULL_MAILBOX]))
    full.users().messages().batchDelete(userId="me", body={"ids": ids[:3]}).execute()
    assert len(_ids(gmail.users().messages().list(userId="me").execute())) == 2


def test_metadata_scope_limits(emu: RunningEmulator) -> None:
    meta = gmail_service(emu, credentials(emu, scopes=[sc.METADATA]))
    insert = gmail_service(emu, credentials(emu, scopes=[sc.INSERT]))
    msg = insert.users().messages().insert(userId="me", body={"raw": b64url(NESTED)}).execute()
    got = meta.users().messages().get(userId="me", id=msg["id"], format="metadata").execute()
    assert "payload" in got
    for fmt in ("full", "raw"):
        with pytest.raises(HttpError) as exc:
            meta.users().messages().get(userId="me", id=msg["id"], format=fmt).execute()
        assert exc.value.resp.status == 403
    with pytest.raises(HttpError) as exc:
        meta.users().messages().list(userId="me", q="from:carol").execute()
    assert exc.value.resp.status == 403
    with pytest.raises(HttpError) as exc:
        insert.users().messages().list(userId="me").execute()
    validate_error(error_body(exc.value), 403, "insufficientPermissions")


def test_delegation_denied_for_other_user(emu: RunningEmulator, gmail: Any) -> None:
    emu.control.add_user(BOB)
    with pytest.raises(HttpError) as exc:
        gmail.users().getProfile(userId=BOB).execute()
    assert exc.value.resp.status == 403
    assert gmail.users().getProfile(userId=ALICE).execute()["emailAddress"] == ALICE


def test_labels_crud(gmail: Any) -> None:
    labels = gmail.users().labels()
    system = {lb["id"] for lb in labels.list(userId="me").execute()["labels"]}
    assert {"INBOX", "SENT", "DRAFT", "SPAM", "TRASH", "UNREAD", "STARRED", "IMPORTANT",
            "CATEGORY_PERSONAL", "CATEGORY_SOCIAL", "CATEGORY_PROMOTIONS", "CATEGORY_UPDATES",
            "CATEGORY_FORUMS"} <= system
    created = labels.create(userId="me", body={
        "name": "Clients/ACME", "labelListVisibility": "labelShow",
        "messageListVisibility": "show",
        "color": {"textColor": "#000000", "backgroundColor": "#16a765"}}).execute()
    assert created["type"] == "user" and created["id"].startswith("Label_")
    with pytest.raises(HttpError) as exc:
        labels.create(userId="me", body={"name": "clients/acme"}).execute()
    assert exc.value.resp.status == 409
    patched = labels.patch(userId="me", id=created["id"], body={"name": "Clients/ACME Corp"}
                           ).execute()
    assert patched["name"] == "Clients/ACME Corp" and patched["color"]["textColor"] == "#000000"
    updated = labels.update(userId="me", id=created["id"], body={"name": "ACME"}).execute()
    assert updated["name"] == "ACME"
    msg = _insert(gmail, simple("labelled"), ["INBOX", "UNREAD", created["id"]])
    counts = labels.get(userId="me", id=created["id"]).execute()
    assert (counts["messagesTotal"], counts["messagesUnread"], counts["threadsTotal"]) == (1, 1, 1)
    inbox = labels.get(userId="me", id="INBOX").execute()
    assert inbox["type"] == "system" and inbox["messagesTotal"] == 1
    with pytest.raises(HttpError) as exc:
        labels.delete(userId="me", id="INBOX").execute()
    assert exc.value.resp.status == 400
    labels.delete(userId="me", id=created["id"]).execute()
    got = gmail.users().messages().get(userId="me", id=msg["id"], format="minimal").execute()
    assert created["id"] not in got["labelIds"]


def test_attachment_not_found(gmail: Any) -> None:
    from emulator.mime import attachment_id_for
    msg = _insert(gmail, NESTED)
    attachments = gmail.users().messages().attachments()
    with pytest.raises(HttpError) as exc:
        attachments.get(userId="me", messageId=msg["id"],
                        id=attachment_id_for(msg["id"], "7")).execute()
    assert exc.value.resp.status == 404
    with pytest.raises(HttpError) as exc:
        attachments.get(userId="me", messageId=msg["id"], id="garbage").execute()
    assert exc.value.resp.status == 400


def test_upload_endpoint_media_and_multipart(emu: RunningEmulator, alice: Any) -> None:
    import httpx
    headers = {"Authorization": f"Bearer {alice.token}"}
    url = f"{emu.base_url}/upload/gmail/v1/users/me/messages"
    media = httpx.post(url, params={"uploadType": "media"}, content=NESTED,
                       headers=headers | {"Content-Type": "message/rfc822"})
    assert media.status_code == 200
    body = (b"--b\nContent-Type: application/json\n\n{\"labelIds\": [\"INBOX\"]}\n"
            b"--b\nContent-Type: message/rfc822\n\n" + NESTED + b"\n--b--\n")
    multi = httpx.post(url, params={"uploadType": "multipart"}, content=body,
                       headers=headers | {"Content-Type": 'multipart/related; boundary="b"'})
    assert multi.status_code == 200 and multi.json()["labelIds"] == ["INBOX"]
    for message_id in (media.json()["id"], multi.json()["id"]):
        raw = httpx.get(f"{emu.base_url}/gmail/v1/users/me/messages/{message_id}",
                        params={"format": "raw"}, headers=headers).json()["raw"]
        assert base64.urlsafe_b64decode(raw) == NESTED


def test_profile(gmail: Any) -> None:
    _insert(gmail, simple("p"))
    profile = gmail.users().getProfile(userId="me").execute()
    assert profile["messagesTotal"] == 1 and profile["threadsTotal"] == 1
    assert int(profile["historyId"]) > 0


def test_every_response_was_schema_checked() -> None:
    # Runs last in this module: the validating request builder saw these methods.
    assert {"gmail.users.messages.list", "gmail.users.messages.get",
            "gmail.users.messages.send", "gmail.users.messages.modify",
            "gmail.users.labels.create", "gmail.users.labels.get"} <= set(VALIDATED)


def test_fields_partial_response(gmail: Any) -> None:
    for i in range(3):
        _insert(gmail, simple(f"f{i}"))
    listed = gmail.users().messages().list(userId="me", maxResults=2,
                                           fields="messages(id),nextPageToken").execute()
    assert set(listed) == {"messages", "nextPageToken"}
    assert all(set(m) == {"id"} for m in listed["messages"])
    got = gmail.users().messages().get(userId="me", id=listed["messages"][0]["id"],
                                       fields="id,payload/headers,labelIds").execute()
    assert set(got) == {"id", "payload", "labelIds"} and set(got["payload"]) == {"headers"}
    with pytest.raises(HttpError) as exc:
        gmail.users().messages().list(userId="me", fields="messages(id").execute()
    assert exc.value.resp.status == 400
