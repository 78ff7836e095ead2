"""Stopping a long-running command (sync worker, scheduler) cleanly on SIGTERM or SIGINT."""

from __future__ import annotations

import signal
import threading
from types import FrameType


def stop_on_signals(stopping: threading.Event) -> None:
    """SIGTERM (an orchestrator's stop) and SIGINT (Ctrl-C) set `stopping`: the command's loop
    finishes the work in hand and returns instead of dying mid-write."""

    def handle(_signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
