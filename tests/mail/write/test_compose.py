"""The RFC 5322 builder on its own: what it writes, and what it refuses even when a caller
bypasses the request models (`model_construct` skips pydantic's validation)."""

from __future__ import annotations

import base64
import email
import email.policy
from email.message import EmailMessage

import pytest

from gateway.kit.errors import PayloadTooLarge, ValidationFailed
from gateway.mail.write.compose import Limits, ReplyContext, build_message, gmail_raw
from gateway.mail.write.schemas import AttachmentIn, ComposeIn, Recipient, SendIn

LIMITS = Limits(max_message_bytes=100_000, max_attachment_bytes=50_000)


def _parse(raw: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_builds_crlf_mime_with_encoded_headers() -> None:
    compose = SendIn.model_validate({
        "to": [{"email": "zoe@example.com", "name": "Zoë \"Z\" Ümlaut"}], "subject": "Ça va ?",
        "text": "plain", "html": "<b>rich</b>",
        "attachments": [{"filename": "résumé.pdf", "content_type": "application/pdf",
                         "data": base64.urlsafe_b64encode(b"\xff\xfe%PDF").decode()}]})
    built = build_message(compose, LIMITS, msgid_domain="gw.example")
    assert b"\r\n" in built.raw and b"\n\n" not in built.raw.replace(b"\r\n", b"")
    assert built.raw.isascii()  # every non-ASCII header is an encoded word
    parsed = _parse(built.raw)
    assert parsed["To"].addresses[0].display_name == 'Zoë "Z" Ümlaut'
    assert parsed["Subject"] == "Ça va ?"
    assert parsed["Message-ID"] == built.message_id_header
    assert built.message_id_header.endswith("@gw.example>")
    assert parsed["From"] is None  # Gmail writes the mailbox's own address
    (attachment,) = list(parsed.iter_attachments())
    assert attachment.get_filename() == "résumé.pdf"
    assert attachment.get_content() == b"\xff\xfe%PDF"
    assert base64.urlsafe_b64decode(gmail_raw(built.raw)) == built.raw


def test_reply_headers() -> None:
    compose = SendIn.model_validate({"to": ["a@example.com"], "text": "x",
                                     "reply_to_message_id": "abc"})
    reply = ReplyContext(thread_id="t1", message_id_header="<m2@x>",
                         references="<m0@x> <m1@x>")
    built = build_message(compose, LIMITS, msgid_domain="gw.example", reply=reply)
    parsed = _parse(built.raw)
    assert parsed["In-Reply-To"] == "<m2@x>"
    assert parsed["References"] == "<m0@x> <m1@x> <m2@x>"
    assert built.thread_id == "t1"


@pytest.mark.parametrize("compose", [
    ComposeIn.model_construct(to=[Recipient.model_construct(email="a@b.com\r\nBcc: e@x.com",
                                                            name=None)],
                              cc=[], bcc=[], subject="", text="x", html=None, attachments=[],
                              reply_to_message_id=None),
    ComposeIn.model_construct(to=[Recipient.model_construct(email="a@b.com",
                                                            name="A\nBcc: e@x.com")],
                              cc=[], bcc=[], subject="", text="x", html=None, attachments=[],
                              reply_to_message_id=None),
    ComposeIn.model_construct(to=[], cc=[], bcc=[], subject="S\r\nBcc: e@x.com", text="x",
                              html=None, attachments=[], reply_to_message_id=None),
    ComposeIn.model_construct(to=[], cc=[], bcc=[], subject="", text="x", html=None,
                              attachments=[AttachmentIn.model_construct(
                                  filename="a\r\nX: y", content_type="text/plain",
                                  data="aGk=")], reply_to_message_id=None),
    ComposeIn.model_construct(to=[], cc=[], bcc=[], subject="", text="x", html=None,
                              attachments=[AttachmentIn.model_construct(
                                  filename="a.txt", content_type="text/plain\r\nX: y",
                                  data="aGk=")], reply_to_message_id=None),
], ids=["address", "name", "subject", "filename", "content_type"])
def test_the_builder_refuses_injection_even_without_the_models(compose: ComposeIn) -> None:
    with pytest.raises(ValidationFailed) as refused:
        build_message(compose, LIMITS, msgid_domain="gw.example")
    # The documented field-error shape (docs/errors.md): location, message, type.
    [error] = refused.value.extra["errors"]
    assert set(error) == {"location", "message", "type"}


def test_a_replied_message_with_malformed_headers_is_refused() -> None:
    compose = SendIn.model_validate({"to": ["a@example.com"], "text": "x"})
    reply = ReplyContext(thread_id="t", message_id_header="<m@x>\r\nBcc: e@x.com",
                         references="")
    with pytest.raises(ValidationFailed):
        build_message(compose, LIMITS, msgid_domain="gw.example", reply=reply)


def test_limits() -> None:
    def with_attachment(size: int) -> SendIn:
        return SendIn.model_validate({"to": ["a@example.com"], "attachments": [
            {"filename": "f", "data": base64.b64encode(b"\0" * size).decode()}]})

    build_message(with_attachment(50_000), LIMITS, msgid_domain="gw.example")
    with pytest.raises(PayloadTooLarge) as too_big:
        build_message(with_attachment(50_001), LIMITS, msgid_domain="gw.example")
    assert too_big.value.code == "attachment_too_large"
    small = Limits(max_message_bytes=60_000, max_attachment_bytes=50_000)
    with pytest.raises(PayloadTooLarge) as whole:  # base64 inside the MIME grows it by 4/3
        build_message(with_attachment(50_000), small, msgid_domain="gw.example")
    assert whole.value.code == "message_too_large"
    # An attachment far over the limit is refused from its encoded length, before decoding.
    huge = SendIn.model_validate({"to": ["a@example.com"], "attachments": [
        {"filename": "f", "data": "A" * 10_000_000}]})
    with pytest.raises(PayloadTooLarge):
        build_message(huge, LIMITS, msgid_domain="gw.example")


@pytest.mark.parametrize("address", ["a@example.com", "first.last+tag@sub.example.co.uk",
                                     "o'brien@example.ie", "x@xn--bcher-kva.example"])
def test_ordinary_addresses_pass(address: str) -> None:
    compose = SendIn.model_validate({"to": [address], "text": "x"})
    parsed = _parse(build_message(compose, LIMITS, msgid_domain="gw.example").raw)
    assert parsed["To"].addresses[0].addr_spec == address


def test_bodies_that_cannot_be_utf8_are_422_not_500() -> None:
    import json

    body = json.loads('{"to": ["a@example.com"], "text": "x\\ud800y"}')
    with pytest.raises(ValueError):
        SendIn.model_validate(body)
    bypass = ComposeIn.model_construct(to=[], cc=[], bcc=[], subject="", text="x\ud800",
                                       html=None, attachments=[], reply_to_message_id=None)
    with pytest.raises(ValidationFailed):
        build_message(bypass, LIMITS, msgid_domain="gw.example")
