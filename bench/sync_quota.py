"""Quota measurements for bench/sync_bench.py: the gateway's and Google's view of a user's
moving window, and the budget phase (the quota budget alone).
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from bench.sync_world import GOOGLE_RATE, Bench, load_average
from emulator.control import EmulatorControl
from gateway.policy.vocabulary import SCOPE_READONLY
from gateway.settings.google import EMULATOR_CLIENT_ID


def utilisation(series: list[tuple[float, int]], start: float, end: float, rate: float
               ) -> float | None:
    """Units the gateway recorded between start and end (its checkpoints) over rate x time."""
    inside = [(t, u) for t, u in series if start <= t <= end]
    if len(inside) < 2 or inside[-1][0] - inside[0][0] <= 0:
        return None
    (t0, u0), (t1, u1) = inside[0], inside[-1]
    return (u1 - u0) / (rate * (t1 - t0))


def window_fill(samples: list[tuple[float, int]], start: float, end: float, limit: int
                ) -> tuple[float | None, int]:
    """Google's view: the mean over [start, end] of the units in the user's moving window (as
    the emulator counts them when it receives each call) over the limit, and the sample count.
    In a steady state this is the spend rate over the allowed rate; it cannot pass 100%."""
    inside = [used for t, used in samples if start <= t <= end]
    if not inside:
        return None, 0
    return statistics.fmean(inside) / limit, len(inside)


def whole_run(units: int, seconds: float, limit: int, window: float) -> float | None:
    """Units over the most a moving window lets through in `seconds` from an empty start:
    `limit` per started window (spend it all at 0, W, 2W, ...)."""
    if seconds <= 0:
        return None
    return units / (limit * (int(seconds // window) + 1))


def phase_budget(bench: Bench, args: argparse.Namespace) -> None:
    """The quota budget alone: can it keep Google's window full without a 429? One thread
    sends batches of 50 `messages.get format=minimal` (5 units each, like format=raw, but tiny
    answers: the machine's CPU is not what limits) for --budget-seconds per round, through
    `GmailClient` + `MovingWindowBudget` at Google's rate, alternately with the budget as it
    was before (units leave 1 s after the send + window) and as it is (settled at the call's
    end). Google's view is sampled every 0.25 s (the emulator's per-user window)."""
    import threading

    from google.oauth2.credentials import Credentials

    from gateway.gmail.client import build_client
    from gateway.gmail.quota import Charge, MovingWindowBudget
    from gateway.gmail.retry import RetryPolicy
    from gateway.sync import gmail_ops

    class StampedAtSend(MovingWindowBudget):
        """The budget before settle: units leave `margin` after send + window."""

        def spend(self, units: int) -> Charge | None:
            charge = super().spend(units)
            if charge is not None:
                super().settle(charge)  # "ended" at its send
            return charge

        def settle(self, charge: Charge) -> None:
            pass

    window = args.window_seconds
    limit = int(GOOGLE_RATE * window)
    bench.emu.set_settings(quota_enabled=True, quota_units_per_minute=limit,
                           quota_window_seconds=window)
    print(f"\n== budget: one thread of 50-member batches at 250 units/s (window {window:g} s = "
          f"{limit} units), {args.budget_seconds:g} s per round; load average "
          f"{load_average()} ==")
    for round_no in range(args.budget_rounds):
        for name, budget in (
                ("before (send + 1 s)", StampedAtSend(limit, window_seconds=window,
                                                      margin_seconds=1.0)),
                ("settled at the end", MovingWindowBudget(limit, window_seconds=window))):
            email = f"budget-{round_no}-{len(name)}@example.com"
            bench.emu.add_user(email)
            bench.emu.seed(email, generate=50, seed=9)
            token = bench.emu.mint_tokens(email, [SCOPE_READONLY], client_id=EMULATOR_CLIENT_ID)
            client = build_client(Credentials(token["access_token"]), bench.settings,
                                  budget=budget)
            ids = [m["id"] for m in bench.emu.messages(email)]
            samples: list[tuple[float, int]] = []
            stop = threading.Event()

            sampler = threading.Thread(target=_sample_quota,
                                       args=(bench.emu, email, samples, stop))
            started = time.monotonic()
            sampler.start()
            while time.monotonic() - started < args.budget_seconds:
                gmail_ops.get_batch(client, ids, RetryPolicy(), fmt="minimal")
            stop.set()
            sampler.join()
            fill, count = window_fill(samples, started + window, started + args.budget_seconds,
                                      limit)
            rejected = bench.emu.quota(email)["rejections"]
            print(f"round {round_no + 1}, {name}: Google's window use / limit, steady state "
                  f"(after the first window, {count} samples) {pct(fill)}; 429s seen "
                  f"{client.rate_limited}; emulator refusals so far (all users) {rejected}; "
                  f"load {load_average()}")


def _sample_quota(emu: EmulatorControl, email: str, samples: list[tuple[float, int]],
                  stop: Any) -> None:
    """Every 0.25 s: the units in the user's window as the emulator (Google) counts them."""
    while not stop.is_set():
        samples.append((time.monotonic(), int(emu.quota(email)["used"])))
        stop.wait(0.25)


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"
