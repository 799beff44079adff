"""Clocks: VirtualClock event ordering and bounded polls without real time; RealClock.poll."""

from __future__ import annotations

import errno
import time
from collections.abc import Callable

import pytest

from uio_driver.errors import InvalidArgument, Timeout
from uio_driver.platform.clock import RealClock
from uio_driver.sim.clock import VirtualClock


def test_events_run_in_time_order_with_now_at_the_event_time() -> None:
    clock = VirtualClock()
    seen: list[tuple[str, int]] = []
    def note(tag: str) -> Callable[[], None]:
        return lambda: seen.append((tag, clock.now_ns()))

    for delay, tag in ((30, "a"), (10, "b"), (20, "c")):
        clock.schedule(delay, note(tag))
    clock.advance(100)
    assert seen == [("b", 10), ("c", 20), ("a", 30)]
    assert clock.now_ns() == 100 and clock.events_run == 3


def test_ties_run_in_scheduling_order() -> None:
    clock = VirtualClock()
    seen: list[str] = []
    clock.schedule(10, lambda: seen.append("x"))
    clock.schedule_at(10, lambda: seen.append("y"))
    clock.schedule(10, lambda: seen.append("z"))
    clock.advance(10)
    assert seen == ["x", "y", "z"]


def test_events_scheduled_by_callbacks_and_cancelled_events() -> None:
    clock = VirtualClock()
    seen: list[tuple[str, int]] = []
    def chain() -> None:
        clock.schedule(0, lambda: seen.append(("chained", clock.now_ns())))

    clock.schedule(5, chain)
    dropped = clock.schedule(7, lambda: seen.append(("dropped", 7)))
    dropped.cancel()
    clock.advance_to(50)
    assert seen == [("chained", 5)]
    assert clock.next_event_ns() is None and clock.pending() == []


def test_advance_stops_before_later_events() -> None:
    clock = VirtualClock()
    seen: list[int] = []
    clock.schedule(100, lambda: seen.append(100))
    clock.advance(99)
    assert seen == [] and clock.next_event_ns() == 100


@pytest.mark.parametrize("bad", [
    lambda c: c.schedule(-1, lambda: None),
    lambda c: c.schedule_at(4, lambda: None),
    lambda c: c.advance_to(4),
    lambda c: c.sleep(-1e-9),
    lambda c: c.sleep(float("inf")),
    lambda c: c.sleep(float("nan")),
])
def test_time_never_goes_backwards(bad: Callable[[VirtualClock], object]) -> None:
    clock = VirtualClock()
    clock.advance(5)
    with pytest.raises(InvalidArgument):
        bad(clock)
    assert clock.now_ns() == 5


def test_poll_returns_at_the_first_poll_instant_after_the_event() -> None:
    clock = VirtualClock()
    ready = []
    clock.schedule(1_234_567, lambda: ready.append(True))
    result = clock.poll(lambda: len(ready) and "done", timeout=0.01, what="reset", interval=10e-6)
    assert result == "done"
    # polls every 10 us from t=0: the first instant at or after 1.234567 ms is 124 * 10 us
    assert clock.now_ns() == 1_240_000


def test_poll_timeout_names_what_and_stops_exactly_at_the_deadline() -> None:
    clock = VirtualClock()
    late = []
    clock.schedule(5_000_000, lambda: late.append(True))  # after the deadline: must not run
    with pytest.raises(Timeout) as exc:
        clock.poll(lambda: False, timeout=0.002, what="L2 power-up", interval=0.0007)
    assert exc.value.errno == errno.ETIMEDOUT
    assert "L2 power-up" in str(exc.value) and "2 ms" in str(exc.value)
    assert clock.now_ns() == 2_000_000
    assert late == []


def test_poll_checks_once_more_at_the_deadline() -> None:
    clock = VirtualClock()
    assert clock.poll(lambda: clock.now_ns() >= 3_000_000, timeout=0.003, what="x", interval=1e-3)
    assert clock.now_ns() == 3_000_000


@pytest.mark.parametrize("timeout,interval", [(-1.0, 1e-5), (float("nan"), 1e-5), (float("inf"), 1e-5),
                                              (0.01, 0.0), (0.01, -1.0)])
def test_poll_refuses_unbounded_or_bad_arguments(timeout: float, interval: float) -> None:
    clock = VirtualClock()
    with pytest.raises(InvalidArgument):
        clock.poll(lambda: True, timeout=timeout, what="x", interval=interval)
    assert clock.now_ns() == 0


def test_virtual_waits_take_no_real_time() -> None:
    clock = VirtualClock()
    start = time.perf_counter()
    clock.sleep(3600.0)
    with pytest.raises(Timeout):
        clock.poll(lambda: False, timeout=10.0, what="nothing", interval=1e-6)
    assert time.perf_counter() - start < 1.0
    assert clock.now_ns() == 3610 * 10**9


def test_real_clock_poll_times_out_after_at_least_the_timeout() -> None:
    clock = RealClock()
    calls = []
    start = time.monotonic()
    with pytest.raises(Timeout, match="doorbell ack"):
        clock.poll(lambda: calls.append(1), timeout=0.003, what="doorbell ack", interval=0.001)
    elapsed = time.monotonic() - start
    assert 0.003 <= elapsed < 1.0
    assert len(calls) >= 2  # first try + the last check after the deadline


def test_real_clock_poll_returns_the_predicate_value() -> None:
    clock = RealClock()
    calls = []

    def third_time() -> int:
        calls.append(1)
        return 7 if len(calls) == 3 else 0

    assert clock.poll(third_time, timeout=1.0, what="x", interval=1e-4) == 7
    assert len(calls) == 3
    assert clock.now_ns() >= 0 and clock.virtual is False
