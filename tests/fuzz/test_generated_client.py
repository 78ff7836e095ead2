"""The OpenAPI document is usable by a CRM developer as it is: a typed Python client generated
from it (openapi-python-client, at test time, into a temporary directory) lists mailboxes and
messages, reads one, and sends one, against the real app over HTTP (tests/fuzz/world.py),
authenticated by the document's security scheme and stating the purpose the document lists."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.fuzz.world import FuzzTarget
from tests.google_world import GOOGLE_ALICE

pytestmark = [pytest.mark.postgres, pytest.mark.opa]

PACKAGE = "gateway_client"


@pytest.fixture(scope="module")
def client_package(fuzz_target: FuzzTarget, tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[ModuleType]:
    root = tmp_path_factory.mktemp("generated")
    document = root / "openapi.json"
    document.write_text(json.dumps(fuzz_target.app.openapi()))
    generator = Path(sys.executable).with_name("openapi-python-client")
    done = subprocess.run([str(generator), "generate", "--path", str(document), "--meta", "none",
                           "--output-path", str(root / PACKAGE)],
                          capture_output=True, text=True, timeout=300, cwd=root)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    sys.path.insert(0, str(root))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def operation(name: str) -> Any:
    """A generated operation module, e.g. `api.messages.list_messages_...`."""
    return importlib.import_module(f"{PACKAGE}.api.{name}")


def test_a_generated_client_lists_reads_and_sends(client_package: ModuleType,
                                                  fuzz_target: FuzzTarget) -> None:
    crm = next(c for c in fuzz_target.callers if c.name == "a.crm")
    token = crm.headers["Authorization"].removeprefix("Bearer ")
    models = importlib.import_module(f"{PACKAGE}.models")
    client = client_package.AuthenticatedClient(base_url=fuzz_target.base_url, token=token,
                                                raise_on_unexpected_status=True)
    with client:
        mailboxes = operation("mailboxes.list_mailboxes_v1_mailboxes_get").sync(
            client=client, gateway_purpose=models.ListMailboxesV1MailboxesGetPurpose.USER_FACING)
        assert isinstance(mailboxes, models.MailboxList), mailboxes
        live = next(m for m in mailboxes.items if m.email_address == GOOGLE_ALICE)

        listing = operation("messages.list_messages_v1_mailboxes_mailbox_id_messages_get")
        page = listing.sync(
            str(live.id), client=client, limit=2, unread=True,
            gateway_purpose=models.ListMessagesV1MailboxesMailboxIdMessagesGetPurpose.USER_FACING)
        assert isinstance(page, models.MessagePage), page
        assert page.items and all(m.unread for m in page.items)

        reading = operation("messages.get_message_v1_mailboxes_mailbox_id_messages_message_id_get")
        first = page.items[0]
        message = reading.sync(
            str(live.id), first.id, client=client,
            gateway_purpose=(models.GetMessageV1MailboxesMailboxIdMessagesMessageIdGetPurpose
                             .USER_FACING))
        assert isinstance(message, models.MessageOut), message
        assert message.id == first.id and message.subject == first.subject

        sending = operation("send.send_message_v1_mailboxes_mailbox_id_messages_send_post")
        sent = sending.sync(
            str(live.id), client=client, idempotency_key="generated-client-1",
            body=models.SendIn(to=[models.Recipient(email="carol@customer.example")],
                               subject="From a generated client", text="Hello Carol"),
            gateway_purpose=models.SendMessageV1MailboxesMailboxIdMessagesSendPostPurpose
            .USER_FACING)
        assert isinstance(sent, models.SentOut), sent
        assert "SENT" in sent.label_ids

    stranger = client_package.AuthenticatedClient(base_url=fuzz_target.base_url,
                                                  token="gmgw_notakey0000000000000000")
    with stranger:
        refused = listing.sync_detailed(
            str(live.id), client=stranger,
            gateway_purpose=models.ListMessagesV1MailboxesMailboxIdMessagesGetPurpose.USER_FACING)
        assert refused.status_code == 401
        assert isinstance(refused.parsed, models.Problem)
        assert refused.parsed.code == "invalid_api_key"
