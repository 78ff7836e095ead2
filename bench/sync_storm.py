"""A 429 storm as the sync state shows it while it lasts: every Gmail call of one mailbox is
answered 429 for --storm-seconds while a `gmail-gateway worker` process syncs it; the mailbox's
`GET /v1/mailboxes/{id}/sync` is read every second through the API.

    GATEWAY_TEST_DATABASE_URL=postgresql+psycopg://gateway@127.0.0.1:55432/postgres \\
        .venv/bin/python bench/sync_storm.py [--storm-seconds 45]

The storm is the emulator's scripted failures (`fail_next`, 429 rateLimitExceeded with
Retry-After: 1) on every method, so the worker's retries (6 attempts per call, backoff capped
at GATEWAY_SYNC_RETRY_CAP_SECONDS) fail, its runs end `failed` and back off, and a sync request
cuts the backoff short once the storm is over. Printed: the state's `quota` and `last_error`
every few seconds during the storm, the totals, and the time from the storm's end to a
successful sync. Asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


from bench.sync_world import (  # noqa: E402
    bench_world,
    load_average,
)

STORM = {"method": "*", "status": 429, "retry_after": 1, "count": 1_000_000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--storm-seconds", type=float, default=45.0)
    parser.add_argument("--messages", type=int, default=200)
    args = parser.parse_args()
    with bench_world() as bench, ExitStack() as stack:
        emu = bench.emu
        emu.set_settings(quota_enabled=False)
        mailbox_id = bench.mailbox("storm@example.com", args.messages, seed=9)
        path = f"/v1/mailboxes/{mailbox_id}/sync"

        def view() -> dict[str, object]:
            body: dict[str, object] = bench.api.get(path, headers=bench.headers).json()
            return body

        print(f"== 429 storm: {args.storm_seconds:g} s on every Gmail call, one worker; load "
              f"average {load_average()} ==")
        emu.set_faults(fail_next=[STORM])
        stack.enter_context(bench.workers(1, 1, {}))
        started = time.monotonic()
        while time.monotonic() - started < args.storm_seconds:
            time.sleep(1.0)
            body = view()
            elapsed = time.monotonic() - started
            if int(elapsed) % 5 == 0:
                print(f"t={elapsed:4.0f} s quota={body['quota']} failures="
                      f"{body['consecutive_failures']} last_error={body['last_error']!r}")
        emu.clear_faults()
        during = view()
        print(f"storm over: quota={during['quota']}, consecutive_failures="
              f"{during['consecutive_failures']}, next_attempt_at={during['next_attempt_at']}")
        ended = time.monotonic()
        asked = bench.api.post(path, headers=bench.headers)
        print(f"POST {path}: {asked.status_code}, next_attempt_at="
              f"{asked.json().get('next_attempt_at')}")
        while time.monotonic() - ended < 300:
            body = view()
            if body["last_success_at"] is not None and body["consecutive_failures"] == 0:
                print(f"synced {time.monotonic() - ended:.1f} s after the storm: "
                      f"messages_stored={body['counts']['messages_stored']}, "  # type: ignore[index]
                      f"quota={body['quota']}")
                break
            time.sleep(0.5)
        else:
            print("not synced within 300 s of the storm's end")


if __name__ == "__main__":
    main()
