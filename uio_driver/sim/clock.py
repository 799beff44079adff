"""Deterministic virtual time for the simulator.

Every timed behaviour of the simulated GPU (reset duration, power transitions, cache flushes,
firmware answers) is an event on this clock. Time only moves when the driver waits
(:meth:`VirtualClock.sleep`, :meth:`~uio_driver.platform.base.Clock.poll`, an IRQ wait), so tests
never sleep for real and the same inputs always give the same trace.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import InvalidArgument
from ..platform.base import Clock

NS_PER_S = 1_000_000_000


def seconds_to_ns(seconds: float) -> int:
    """Convert seconds to whole nanoseconds, refusing negative or non-finite values."""
    if not seconds >= 0 or seconds == float("inf"):
        raise InvalidArgument(f"virtual time must be a finite, non-negative number of seconds: {seconds!r}")
    return int(round(seconds * NS_PER_S))


@dataclass(order=True)
class Event:
    """A callback due at ``time_ns``; ties run in scheduling order."""

    time_ns: int
    seq: int
    callback: Callable[[], None] = field(compare=False)
    what: str = field(default="", compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


class VirtualClock(Clock):
    """Event-driven virtual clock with nanosecond resolution."""

    virtual = True

    def __init__(self) -> None:
        self._now_ns = 0
        self._queue: list[tuple[int, int, Event]] = []
        self._seq = itertools.count()
        #: Number of callbacks run so far (handy for determinism checks).
        self.events_run = 0

    # -- reading time ---------------------------------------------------------------------------

    def now(self) -> float:
        return self._now_ns / NS_PER_S

    def now_ns(self) -> int:
        return self._now_ns

    # -- scheduling -----------------------------------------------------------------------------

    def schedule(self, delay_ns: int, callback: Callable[[], None], what: str = "") -> Event:
        """Run ``callback`` ``delay_ns`` nanoseconds from now (0 = at the next time advance)."""
        if delay_ns < 0:
            raise InvalidArgument(f"cannot schedule {what or 'event'} {delay_ns} ns in the past")
        return self.schedule_at(self._now_ns + int(delay_ns), callback, what)

    def schedule_at(self, time_ns: int, callback: Callable[[], None], what: str = "") -> Event:
        if time_ns < self._now_ns:
            raise InvalidArgument(f"cannot schedule {what or 'event'} at {time_ns} ns < now {self._now_ns}")
        event = Event(int(time_ns), next(self._seq), callback, what)
        heapq.heappush(self._queue, (event.time_ns, event.seq, event))
        return event

    def next_event_ns(self) -> int | None:
        """Time of the earliest pending event, or None."""
        queue = self._queue
        while queue and queue[0][2].cancelled:
            heapq.heappop(queue)
        return queue[0][0] if queue else None

    def pending(self) -> list[Event]:
        return [e for _, _, e in sorted(self._queue) if not e.cancelled]

    # -- advancing --------------------------------------------------------------------------------

    def advance_to(self, time_ns: int) -> None:
        """Run every event due at or before ``time_ns`` in order, then set now = ``time_ns``."""
        if time_ns < self._now_ns:
            raise InvalidArgument(f"virtual time cannot go backwards ({time_ns} < {self._now_ns})")
        queue, pop = self._queue, heapq.heappop
        while queue and queue[0][0] <= time_ns:
            event = pop(queue)[2]
            if event.cancelled:
                continue
            self._now_ns = event.time_ns
            self.events_run += 1
            event.callback()
        self._now_ns = time_ns

    def advance(self, delta_ns: int) -> None:
        self.advance_to(self._now_ns + delta_ns)

    def run_pending(self) -> None:
        """Run events due now (zero-delay events) without moving time."""
        self.advance_to(self._now_ns)

    def sleep(self, seconds: float) -> None:
        self.advance_to(self._now_ns + seconds_to_ns(seconds))

    def _wait_step(self, interval: float, remaining: float) -> None:
        # Nothing observable changes between events, so skip whole polling intervals up to the
        # first poll instant at or after the next event (as a real poll loop would observe it),
        # never past the caller's deadline.
        step = max(1, seconds_to_ns(interval))
        limit = self._now_ns + max(1, seconds_to_ns(remaining))
        nxt = self.next_event_ns()
        if nxt is None:
            self.advance_to(limit)
            return
        intervals = max(1, -(-(nxt - self._now_ns) // step))
        self.advance_to(min(limit, self._now_ns + intervals * step))
