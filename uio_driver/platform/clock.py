"""Real-time clock for hardware backends."""

from __future__ import annotations

import time

from .base import Clock


class RealClock(Clock):
    """Monotonic wall-clock time; ``sleep`` really sleeps (hardware backends only)."""

    virtual = False

    def now(self) -> float:
        return time.monotonic()

    def now_ns(self) -> int:
        return time.monotonic_ns()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)
