"""The quota budget keeps a moving window at or under its target, waits exactly as long as
needed, and backs off after a 429; the retry policy grows with jitter and honours Retry-After."""

from __future__ import annotations

import random

import pytest

from gateway.gmail.errors import GmailError, GmailNotFound, GmailRateLimited
from gateway.gmail.quota import BudgetRegistry, MovingWindowBudget
from gateway.gmail.retry import RetryPolicy


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_budget_never_exceeds_its_target_in_any_window() -> None:
    clock = FakeClock()
    budget = MovingWindowBudget(15_000, window_seconds=60, target=0.97, margin_seconds=1,
                                clock=clock, sleep=clock.sleep)
    spends: list[tuple[float, int]] = []
    for _ in range(2000):  # 2000 batches of 50 gets = 500,000 units
        charge = budget.spend(250)
        assert charge is not None
        spends.append((clock.now, 250))
        clock.now += 0.01  # the batch itself takes a little time
        budget.settle(charge)
    capacity = int(15_000 * 0.97)
    for index, (at, _) in enumerate(spends):
        in_window = sum(u for t, u in spends[index:] if t < at + 61)
        assert in_window <= capacity
    elapsed = spends[-1][0] - spends[0][0]
    # Close to the ceiling: the steady rate is the capacity per (window + margin).
    rate = (budget.total_spent - capacity) / elapsed
    assert 0.95 * capacity / 61 <= rate <= capacity / 61 * 1.001


def test_a_google_counting_on_receipt_never_sees_more_than_the_limit() -> None:
    """Google counts a call's units when it receives it: any time between the send and the
    answer (a batch's parts one after another). Calls of random length (1 in 20 takes 3 s, more
    than the 1 s margin the budget used to add), parts received at random times in between:
    Google's moving window never passes the limit, and the budget still spends ≥ 89% of
    Google's rate (0.97 target x 19 whole batches of 250 in 4,850 units x a window of 20 s per
    20 s + the mean call length of ~0.46 s = 0.93, less the 3 s calls that stall the sender)."""
    rng = random.Random(8)
    clock = FakeClock()
    limit, window = 5000, 20.0
    budget = MovingWindowBudget(limit, window_seconds=window, target=0.97,
                                clock=clock, sleep=clock.sleep)
    received: list[tuple[float, int]] = []
    for _ in range(3000):
        charge = budget.spend(250)
        assert charge is not None
        sent = clock.now
        clock.now += 3.0 if rng.random() < 0.05 else rng.uniform(0.05, 0.6)
        received += [(rng.uniform(sent, clock.now), 5) for _ in range(50)]
        budget.settle(charge)
    received.sort()
    start = 0
    in_window = 0
    for at, units in received:  # Google's window at every receipt
        in_window += units
        while received[start][0] <= at - window:
            in_window -= received[start][1]
            start += 1
        assert in_window <= limit
    first, last = received[0][0], received[-1][0]
    steady = sum(u for t, u in received if t >= first + window) / (last - first - window)
    assert steady >= 0.89 * limit / window


def test_an_unsettled_charge_keeps_counting_until_its_call_ends() -> None:
    clock = FakeClock()
    budget = MovingWindowBudget(1000, window_seconds=10, target=1.0, margin_seconds=0,
                                hold_seconds=120, clock=clock, sleep=clock.sleep)
    budget.spend(600)  # a call that never reports its end
    clock.now += 12
    budget.spend(400)
    assert clock.slept == []
    budget.spend(100)  # the 600 do not leave at 10 s: only when dropped, 10 + 120 s after
    assert sum(clock.slept) == pytest.approx(118.0, abs=0.1)
    assert budget.in_window() == 500


def test_a_settled_charge_leaves_the_window_after_the_call_ended() -> None:
    clock = FakeClock()
    budget = MovingWindowBudget(1000, window_seconds=10, target=1.0, margin_seconds=0,
                                clock=clock, sleep=clock.sleep)
    charge = budget.spend(600)
    assert charge is not None
    clock.now += 5  # the call took 5 s
    budget.settle(charge)
    budget.spend(400)
    clock.now += 8  # 13 s after the send, 8 s after the end: the 600 still count
    assert budget.in_window() == 1000
    budget.spend(100)
    assert clock.slept == [pytest.approx(2.0)]  # until 10 s after the end
    assert budget.in_window() == 500


def test_a_charge_never_settled_is_dropped_after_the_hold() -> None:
    clock = FakeClock()
    budget = MovingWindowBudget(1000, window_seconds=10, target=1.0, margin_seconds=0,
                                hold_seconds=30, clock=clock, sleep=clock.sleep)
    budget.spend(1000)
    budget.spend(10)  # waits, polling, until the lost charge is dropped at 10 + 30 s
    assert sum(clock.slept) == pytest.approx(40.0, abs=0.1)


def test_budget_waits_for_old_spending_to_leave_the_window() -> None:
    clock = FakeClock()
    budget = MovingWindowBudget(1000, window_seconds=10, target=1.0, margin_seconds=0,
                                clock=clock, sleep=clock.sleep)
    first = budget.spend(600)
    assert first is not None
    budget.settle(first)  # a call that ended at once
    clock.now += 4
    second = budget.spend(400)
    assert second is not None
    budget.settle(second)
    assert clock.slept == []
    budget.spend(100)  # must wait until the first 600 leave the window: 6 s
    assert clock.slept == [pytest.approx(6.0)]
    assert budget.in_window() == 500


def test_a_429_holds_the_budget_back_for_retry_after() -> None:
    clock = FakeClock()
    budget = MovingWindowBudget(15_000, clock=clock, sleep=clock.sleep)
    budget.penalise(7.5)
    budget.spend(5)
    assert sum(clock.slept) == pytest.approx(7.5)


def test_registry_gives_one_budget_per_mailbox() -> None:
    registry = BudgetRegistry(MovingWindowBudget)
    assert registry.for_mailbox("a") is registry.for_mailbox("a")
    assert registry.for_mailbox("a") is not registry.for_mailbox("b")


def test_retry_grows_with_jitter_and_honours_retry_after() -> None:
    clock = FakeClock()
    policy = RetryPolicy(max_attempts=5, base_seconds=1, cap_seconds=8, sleep=clock.sleep,
                         rng=random.Random(1))
    failures = [GmailError("boom", upstream_status=503),
                GmailRateLimited("slow down", upstream_status=429, retry_after=20),
                GmailError("timeout", code="gmail_unreachable", upstream_status=0)]
    seen: list[tuple[int, float]] = []

    def call() -> str:
        if failures:
            raise failures.pop(0)
        return "ok"

    assert policy.run(call, on_retry=lambda exc, delay, n: seen.append((n, delay))) == "ok"
    assert [n for n, _ in seen] == [1, 2, 3]
    assert 0.5 <= seen[0][1] <= 1 and seen[1][1] == 20 and 2 <= seen[2][1] <= 4
    assert clock.slept == [d for _, d in seen]


def test_retry_gives_up_and_does_not_retry_what_cannot_succeed() -> None:
    clock = FakeClock()
    policy = RetryPolicy(max_attempts=3, sleep=clock.sleep)
    calls = 0

    def always_503() -> None:
        nonlocal calls
        calls += 1
        raise GmailError("down", upstream_status=503)

    with pytest.raises(GmailError):
        policy.run(always_503)
    assert calls == 3

    def not_found() -> None:
        raise GmailNotFound("gone", upstream_status=404)

    with pytest.raises(GmailNotFound):
        policy.run(not_found)
    assert len(clock.slept) == 2
