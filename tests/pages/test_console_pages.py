"""The reviewer's review console over HTTP, signed in by a CRM session link: search with the
API's filters and paging, entry detail with chain position and its verification, the whole
log's verification naming the first bad entry, exports, and justifications; every page one
guarded, logged decision with the API's action, and another tenant's ids the API's 404."""

from __future__ import annotations

import csv
import io
import json
import uuid
import zipfile

from fastapi.testclient import TestClient

from gateway.kit.db import Database
from gateway.runtime import runtime_of
from tests.audit.conftest import append_each, as_dba, make_record
from tests.pages.support import csrf_of, log_entries, sign_in
from tests.support.world import TenantWorld

REVIEW = "audit_review"


def some_calls(client: TestClient, world: TenantWorld) -> None:
    """A few API calls of the tenant, allowed and denied."""
    box = f"/v1/mailboxes/{world.mailbox.id}"
    assert client.get(box, headers=world.end_user.headers()).status_code == 200
    assert client.get(box, headers=world.other_user.headers()).status_code == 403
    assert client.get(box, headers=world.crm.headers("advertising")).status_code == 403


def entry_ids(html: str) -> list[str]:
    return [part.split('"', 1)[0] for part in html.split('href="/console/entries/')[1:]]


def test_search_filters_pages_and_is_logged(browser: TestClient, db: Database,
                                             tenant_a: TenantWorld) -> None:
    some_calls(browser, tenant_a)
    link = sign_in(browser, tenant_a.crm, tenant_a.reviewer)
    first = browser.get("/console")
    assert first.status_code == 200 and "<h1>Review console</h1>" in first.text
    api = browser.get("/v1/audit/entries", headers=tenant_a.reviewer.headers(REVIEW)).json()
    shown = entry_ids(first.text)
    assert shown and set(shown) <= {item["id"] for item in api["items"]}

    denied = browser.get("/console", params={"decision": "deny"})
    api_denied = browser.get("/v1/audit/entries", params={"decision": "deny"},
                             headers=tenant_a.reviewer.headers(REVIEW)).json()["items"]
    assert sorted(entry_ids(denied.text)) == sorted(i["id"] for i in api_denied)
    assert len(api_denied) >= 2

    mine = [e for e in log_entries(db, "audit.query") if e.actor_id == tenant_a.reviewer.id]
    pages = [e for e in mine if e.connection_id == f"session:{link['id']}"]
    assert len(pages) == 2 and all(e.purpose == REVIEW and e.decision == "allow"
                                   for e in pages)

    bad = browser.get("/console", params={"decision": "maybe", "since": "yesterday",
                                          "mailbox_id": "x"})
    assert bad.status_code == 422
    for name in ("decision", "since", "mailbox_id"):
        assert f'id="{name}-error"' in bad.text


def test_older_pages_follow_the_apis_cursor(browser: TestClient, db: Database,
                                            tenant_a: TenantWorld) -> None:
    oplog = runtime_of(browser.app).enforcer.oplog
    append_each(db, oplog, [make_record(tenant_id=tenant_a.tenant.id, operation="test:op")
                            for _ in range(60)])
    sign_in(browser, tenant_a.crm, tenant_a.reviewer)
    newest = browser.get("/console", params={"operation": "test:op"})
    ids = entry_ids(newest.text)
    assert len(ids) == 50
    older_link = newest.text.split('href="/console?', 2)[-1].split('"', 1)[0]
    assert "cursor=" in older_link and "operation=test%3Aop" in older_link
    older = browser.get("/console?" + older_link.replace("&amp;", "&"))
    assert older.status_code == 200
    rest = entry_ids(older.text)
    assert len(rest) == 10 and not set(rest) & set(ids)
    assert browser.get("/console", params={"cursor": "not-one"}).status_code == 400


def test_exports_download_as_the_api_exports(browser: TestClient,
                                             tenant_a: TenantWorld) -> None:
    some_calls(browser, tenant_a)
    sign_in(browser, tenant_a.crm, tenant_a.reviewer)
    jsonl = browser.get("/console/export", params={"format": "jsonl", "decision": "deny"})
    assert jsonl.status_code == 200
    assert jsonl.headers["content-disposition"].startswith('attachment; filename="audit-log-')
    lines = [json.loads(line) for line in jsonl.text.splitlines()]
    assert lines and all(line["decision"] == "deny" for line in lines)
    as_csv = browser.get("/console/export", params={"format": "csv", "decision": "deny"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert len(list(csv.DictReader(io.StringIO(as_csv.text)))) == len(lines)
    assert browser.get("/console/export", params={"format": "xml"}).status_code == 422


def test_an_entry_its_position_and_its_verification(browser: TestClient, db: Database,
                                                     tenant_a: TenantWorld,
                                                     tenant_b: TenantWorld) -> None:
    some_calls(browser, tenant_a)
    some_calls(browser, tenant_b)
    sign_in(browser, tenant_a.crm, tenant_a.reviewer)
    entry_id = entry_ids(browser.get("/console", params={"decision": "deny"}).text)[0]
    detail = browser.get(f"/console/entries/{entry_id}")
    assert detail.status_code == 200
    assert "Chain position" in detail.text and "Entry hash" in detail.text
    checked = browser.get(f"/console/entries/{entry_id}/verification")
    assert checked.status_code == 200 and ">intact<" in checked.text
    verified, = [e for e in log_entries(db, "audit.verify") if e.actor_id == tenant_a.reviewer.id]
    assert verified.decision == "allow" and verified.purpose == REVIEW

    theirs = browser.get("/v1/audit/entries", headers=tenant_b.reviewer.headers(REVIEW))
    other_id = theirs.json()["items"][0]["id"]
    for path in (f"/console/entries/{other_id}", f"/console/entries/{other_id}/verification",
                 f"/console/entries/{uuid.uuid4()}", "/console/entries/nope"):
        answer = browser.get(path)
        assert answer.status_code == 404 and "audit_entry_not_found" in answer.text, path
    refused = [e for e in log_entries(db, "audit.query") if e.decision == "deny"]
    assert refused and refused[-1].actor_id == tenant_a.reviewer.id


def test_verification_names_the_first_bad_entry(browser: TestClient, db: Database,
                                                tenant_a: TenantWorld) -> None:
    some_calls(browser, tenant_a)
    sign_in(browser, tenant_a.crm, tenant_a.reviewer)
    assert "Run verification" in browser.get("/console/verify").text
    good = browser.get("/console/verify", params={"run": "1"})
    assert good.status_code == 200 and "Every chain verifies" in good.text
    victim = entry_ids(browser.get("/console", params={"decision": "deny"}).text)[-1]
    key = uuid.UUID(victim).hex if db.engine.dialect.name == "sqlite" else victim
    as_dba(db, "UPDATE audit_entries SET actor_id = 'someone-else' WHERE id = :id",
           {"id": key})
    bad = browser.get("/console/verify", params={"run": "1"})
    assert bad.status_code == 200 and "First bad entry" in bad.text
    assert f'href="/console/entries/{victim}"' in bad.text and "altered" in bad.text
    assert ">problem<" in browser.get(f"/console/entries/{victim}/verification").text
    window = browser.get("/console/verify", params={"run": "1", "since": "tomorrow"})
    assert window.status_code == 422 and 'id="since-error"' in window.text


def test_justifications_record_list_and_revoke(browser: TestClient, db: Database,
                                               tenant_a: TenantWorld,
                                               tenant_b: TenantWorld) -> None:
    sign_in(browser, tenant_a.crm, tenant_a.reviewer)
    form = browser.get("/console/justifications/new",
                       params={"mailbox_id": str(tenant_a.mailbox.id)})
    assert form.status_code == 200
    token = csrf_of(form.text)
    base = f"/console/mailboxes/{tenant_a.mailbox.id}/justifications"
    fields = {"csrf_token": token, "case_ref": "SEC-2026-0042",
              "reason": "Phishing reported by the user on this mailbox",
              "operator_id": tenant_a.operator.id, "expires_in_minutes": "60"}
    bad = browser.post(f"{base}/legal", data={**fields, "case_ref": "about alice"})
    assert bad.status_code == 422 and 'id="case_ref-error"' in bad.text
    made = browser.post(f"{base}/security", data=fields, follow_redirects=False)
    assert made.status_code == 303, made.text
    listed = browser.get(made.headers["location"])
    assert "SEC-2026-0042" in listed.text and fields["reason"] in listed.text
    # decided (and logged) under the purpose of the button pressed, as the API decides it
    assert [(e.decision, e.purpose) for e in log_entries(db, "justification.record")] == [
        ("allow", "legal"), ("allow", "security")]

    api = browser.get("/v1/justifications", headers=tenant_a.reviewer.headers("security"))
    jid = api.json()["items"][0]["id"]
    revoke = f"/console/justifications/{jid}/revoke/security"
    assert f'action="{revoke}"' in listed.text
    done = browser.post(revoke, data={"csrf_token": csrf_of(listed.text)},
                        follow_redirects=False)
    assert done.status_code == 303
    assert browser.get("/v1/justifications", headers=tenant_a.reviewer.headers(
        "security")).json()["items"][0]["status"] == "revoked"
    assert browser.get("/console/justifications?status=revoked").text.count('id="j-') == 1
    assert browser.get("/console/justifications?status=active").text.count('id="j-') == 0

    theirs = str(tenant_b.mailbox.id)
    assert browser.get("/console/justifications/new",
                       params={"mailbox_id": theirs}).status_code == 404
    other = browser.post(f"/console/mailboxes/{theirs}/justifications/security", data=fields)
    assert other.status_code == 404 and "mailbox_not_found" in other.text
    unknown = browser.post(f"/console/justifications/{uuid.uuid4()}/revoke/legal",
                           data={"csrf_token": token})
    assert unknown.status_code == 404 and "justification_not_found" in unknown.text


def test_the_console_is_the_reviewers(browser: TestClient, tenant_a: TenantWorld) -> None:
    sign_in(browser, tenant_a.crm, tenant_a.operator)
    for path in ("/console", "/console/verify?run=1", "/console/export",
                 "/console/justifications"):
        assert browser.get(path).status_code == 403, path


def test_the_compliance_report_downloads_as_its_signed_files(
        browser: TestClient, db: Database, tenant_a: TenantWorld) -> None:
    some_calls(browser, tenant_a)
    link = sign_in(browser, tenant_a.crm, tenant_a.reviewer)
    assert 'action="/console/compliance/report"' in browser.get("/console/verify").text
    period = {"from": "2026-01-01T00:00", "to": "2099-01-01T00:00"}
    answer = browser.get("/console/compliance/report", params=period)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/zip"
    assert answer.headers["content-disposition"].startswith(
        'attachment; filename="compliance-report-20260101T000000Z')
    with zipfile.ZipFile(io.BytesIO(answer.content)) as archive:
        assert sorted(archive.namelist()) == ["report.html", "report.json", "signature.json"]
        report = json.loads(archive.read("report.json"))
    assert report and isinstance(report, dict)
    made, = [e for e in log_entries(db, "compliance.report") if e.decision == "allow"]
    assert (made.purpose, made.connection_id) == (REVIEW, f"session:{link['id']}")
    for bad in ({"from": "2026-01-01T00:00"}, {"from": "2026-02-01", "to": "2026-01-01"},
                {"from": "soon", "to": "later"}):
        assert browser.get("/console/compliance/report", params=bad).status_code == 422, bad
