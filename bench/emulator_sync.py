"""How fast a full Gmail sync runs against the emulator with the real client library.

    .venv/bin/python bench/emulator_sync.py [--messages N] [--batch B] [--format metadata]

Seeds a generated mailbox of N messages, then does what a gateway's full sync does with
google-api-python-client: messages.list pages of 500, then messages.get in batches of B
(format metadata by default), and reports wall time, messages/s and quota units spent
(quota enforcement is off so the run measures the emulator, not the 15,000 units/min limit).
Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from google.oauth2.credentials import Credentials

from emulator import scopes as sc
from emulator.testing import run_emulator

USER = "bench@example.com"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--format", default="metadata")
    args = parser.parse_args()
    with run_emulator(settings={"quota_enabled": False}) as emu:
        started = time.perf_counter()
        emu.control.seed(USER, generate=args.messages, seed=42)
        seeded = time.perf_counter() - started
        token = emu.control.mint_tokens(USER, [sc.READONLY])
        gmail = emu.gmail(Credentials(token["access_token"]))
        started = time.perf_counter()
        ids: list[str] = []
        request = gmail.users().messages().list(userId="me", maxResults=500,
                                                includeSpamTrash=True)
        while request is not None:
            page = request.execute()
            ids += [m["id"] for m in page.get("messages", [])]
            request = gmail.users().messages().list_next(request, page)
        listed = time.perf_counter() - started
        got: list[Any] = []
        started = time.perf_counter()
        for i in range(0, len(ids), args.batch):
            batch = emu.new_batch(lambda _rid, resp, exc: got.append(exc or resp))
            for message_id in ids[i:i + args.batch]:
                batch.add(gmail.users().messages().get(userId="me", id=message_id,
                                                       format=args.format))
            batch.execute()
        fetched = time.perf_counter() - started
        errors = sum(1 for g in got if isinstance(g, Exception))
        print(f"seed {args.messages} messages: {seeded:.2f}s")
        print(f"list {len(ids)} ids: {listed:.2f}s")
        print(f"get ({args.format}, batches of {args.batch}): {fetched:.2f}s, "
              f"{len(ids) / fetched:.0f} messages/s, {errors} errors")
        print(f"units a real sync would spend: {len(ids) // 500 * 5 + 5 + len(ids) * 5}")


if __name__ == "__main__":
    main()
