"""The corpus (tests/corpus/) read through a gateway served as shipped (`gateway.cli serve`,
uvicorn, PostgreSQL, OPA) on ONE kept-alive connection: every content view, thread view and
attachment answers 200 with valid UTF-8, and the server never closes or resets the connection
in between (a serialisation failure on one message used to cost the next request too)."""

from __future__ import annotations

import http.client
import json
import uuid
from pathlib import Path

from gateway.crypto import CryptoService
from gateway.kit.db import Database
from tests.fuzz.world import truncate_all
from tests.mail.factories import store_message
from tests.support.served import blackbox_settings, headers_of, serve_gateway
from tests.support.world import build_tenant

CORPUS = Path(__file__).resolve().parents[1] / "corpus"


def test_the_corpus_on_one_kept_alive_connection(
        database_url: str, opa_url: str, tmp_path: Path) -> None:
    settings = blackbox_settings(database_url, tmp_path, opa_url)
    db = Database.from_url(database_url)
    try:
        world = build_tenant(db, f"corpus-{uuid.uuid4().hex[:6]}")
        crypto = CryptoService.from_settings(settings)
        files = sorted(CORPUS.glob("*.eml"))
        try:
            for index, path in enumerate(files):
                store_message(db, crypto, world.mailbox, f"c{index:03d}", f"t{index:03d}",
                              path.read_bytes())
        finally:
            crypto.close()
        with serve_gateway(settings) as server:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            headers = dict(headers_of(world.crm.key))
            base = f"/v1/mailboxes/{world.mailbox.id}"

            def get(path: str) -> tuple[int, bytes]:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                body = response.read()
                assert response.getheader("connection", "").lower() != "close", path
                return response.status, body

            status, _ = get("/healthz")
            assert status == 200
            sock = conn.sock
            served = 0
            for index in range(len(files)):
                for path in (f"{base}/messages/c{index:03d}/content",
                             f"{base}/threads/t{index:03d}?view=content",
                             f"{base}/messages/c{index:03d}"):
                    status, body = get(path)
                    assert status == 200, (files[index].name, path, body[:300])
                    json.loads(body.decode("utf-8"))  # strict UTF-8
                    served += 1
                view = json.loads(get(f"{base}/messages/c{index:03d}/content")[1])
                for attachment in view["attachments"]:
                    status, body = get(f"{base}/messages/c{index:03d}/attachments/"
                                       f"{attachment['part_id']}")
                    assert status == 200 and len(body) == attachment["size"]
                    served += 1
                assert conn.sock is sock, f"the connection was replaced after {files[index]}"
            conn.close()
            assert served > 3 * len(files)
    finally:
        truncate_all(db)
        db.dispose()
