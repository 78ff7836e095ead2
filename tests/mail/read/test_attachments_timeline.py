"""Attachments streamed from the sealed raw message, and the contact timeline through the
address blind index."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.mail.read import attachments
from gateway.mail.read.attachments import content_disposition, safe_filename
from tests.mail.read_fixtures import INVOICE, PDF, Seeded, seeded

__all__ = ["seeded"]


def test_attachment_bytes_type_length_and_safe_name(client: TestClient,
                                                    seeded: Seeded) -> None:
    headers = seeded.world.crm.headers()
    pdf = client.get(seeded.url("/messages/m1/attachments/1"), headers=headers)
    assert pdf.status_code == 200, pdf.text
    assert pdf.content == PDF
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-length"] == str(len(PDF))
    assert pdf.headers["content-disposition"] == (
        "attachment; filename=\"contract.pdf\"; filename*=UTF-8''contract.pdf")
    assert pdf.headers["x-content-type-options"] == "nosniff"

    hostile = client.get(seeded.url("/messages/m4/attachments/1"), headers=headers)
    assert hostile.status_code == 200
    assert hostile.content == INVOICE
    disposition = hostile.headers["content-disposition"]
    assert "\r" not in disposition and "\n" not in disposition
    assert disposition.startswith('attachment; filename="inv_oice_ 42 e.bin";')
    assert disposition.endswith("filename*=UTF-8''inv_oice_%2042%20%C3%A9.bin")


@pytest.mark.parametrize("part_id", ["0", "2", "1.0", "9999", "-1", "1..1", "a", "1" * 80])
def test_parts_that_are_not_attachments_are_404(client: TestClient, seeded: Seeded,
                                                part_id: str) -> None:
    response = client.get(seeded.url(f"/messages/m1/attachments/{part_id}"),
                          headers=seeded.world.crm.headers())
    assert response.status_code == 404, response.text
    assert response.json()["code"] == "attachment_not_found"


def test_an_attachment_over_the_limit_is_413(client: TestClient, seeded: Seeded,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(attachments, "MAX_ATTACHMENT_BYTES", len(PDF) - 1)
    response = client.get(seeded.url("/messages/m1/attachments/1"),
                          headers=seeded.world.crm.headers())
    assert response.status_code == 413
    assert response.json()["code"] == "attachment_too_large"
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(("name", "ascii_name", "utf8_name"), [
    ("../../etc/passwd", "_.._etc_passwd", "_.._etc_passwd"),
    ('a"b\r\nContent-Type: text/html', "a_b_Content-Type_ text_html",
     "a_b_Content-Type_ text_html"),
    ("résumé.pdf", "resume.pdf", "résumé.pdf"),
    ("日本語.txt", "___.txt", "日本語.txt"),
    ("", "fallback", "fallback"),
    (None, "fallback", "fallback"),
    ("...", "fallback", "fallback"),
])
def test_safe_filenames(name: str | None, ascii_name: str, utf8_name: str) -> None:
    assert safe_filename(name, "fallback") == (ascii_name, utf8_name)
    header = content_disposition(name, "fallback")
    assert all(32 <= ord(c) < 127 for c in header)


def timeline(client: TestClient, s: Seeded, **body: Any) -> Any:
    return client.post(s.url("/contact-timeline"), json=body,
                       headers=s.world.crm.headers("contact_linking"))


def test_timeline_newest_first_with_roles(client: TestClient, seeded: Seeded) -> None:
    response = timeline(client, seeded, address="Carol <carol@CUSTOMER.example>")
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [(m["id"], m["roles"]) for m in items] == [
        ("m3", ["cc"]), ("m2", ["to"]), ("m1", ["from"])]
    assert items[0]["subject"] == "Lunch?"
    assert timeline(client, seeded, address="dave@other.example").json()["items"][0]["id"] \
        == "m3"
    assert timeline(client, seeded, address="nobody@nowhere.example").json() == {
        "items": [], "next_cursor": None}


def test_timeline_pages_and_date_range(client: TestClient, seeded: Seeded) -> None:
    first = timeline(client, seeded, address="carol@customer.example", limit=2).json()
    assert [m["id"] for m in first["items"]] == ["m3", "m2"]
    rest = timeline(client, seeded, address="carol@customer.example", limit=2,
                    cursor=first["next_cursor"]).json()
    assert [m["id"] for m in rest["items"]] == ["m1"] and rest["next_cursor"] is None
    ranged = timeline(client, seeded, address="carol@customer.example",
                      after="2026-11-02T00:00:00Z", before="2026-11-03T00:00:00Z").json()
    assert [m["id"] for m in ranged["items"]] == ["m2"]


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"address": "not an address"}, 400, "invalid_address"),
    ({"address": "@"}, 422, "validation_failed"),
    ({"address": "a@" + "b" * 400}, 422, "validation_failed"),
    ({}, 422, "validation_failed"),
    ({"address": "carol@customer.example", "limit": 0}, 422, "validation_failed"),
    ({"address": "carol@customer.example", "limit": 201}, 422, "validation_failed"),
    ({"address": "carol@customer.example", "cursor": "zzz"}, 400, "invalid_cursor"),
    ({"address": "carol@customer.example", "after": "last week"}, 422, "validation_failed"),
    ({"address": "carol@customer.example", "after": "2026-11-02T00:00:00"}, 422,
     "invalid_date"),
    ({"address": "carol@customer.example", "unknown": 1}, 422, "validation_failed"),
    ({"address": ["carol@customer.example"]}, 422, "validation_failed"),
])
def test_timeline_problems(client: TestClient, seeded: Seeded, body: dict[str, Any],
                           status: int, code: str) -> None:
    response = timeline(client, seeded, **body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code


def test_the_address_never_reaches_the_request_log(client: TestClient, seeded: Seeded,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("INFO"):
        assert timeline(client, seeded, address="carol@customer.example").status_code == 200
    assert caplog.records, "the request was logged"
    assert all("carol@customer.example" not in r.getMessage() + str(r.__dict__)
               for r in caplog.records)
