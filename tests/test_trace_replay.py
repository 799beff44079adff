"""trace replay: a simulator run replays exactly; a changed simulator, or a changed trace, disagrees."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from uio_driver.bringup import Bringup
from uio_driver.errors import DeviceNotFound, InvalidArgument, NotSupported
from uio_driver.platform.base import MappedMmioRegion, Platform
from uio_driver.platform.clock import RealClock
from uio_driver.sim.config import SimConfig
from uio_driver.sim.platform import SimPlatform
from uio_driver.trace import TraceFormatError, TraceWriter, read_trace, replay, start_tracing

GPU_ID = 0x000
GPU_IRQ_RAWSTAT = 0x020
L2_READY_LO = 0x160
L2_PWRON_LO = 0x1A0


def record_bringup(path: Path, **sim: object) -> list[tuple[int, str, int, int]]:
    """Record a bring-up; returns the simulator's own access log of the same run."""
    with SimPlatform(trace=True, **sim) as platform:  # type: ignore[arg-type]
        start_tracing(platform, path)
        # Stages up to the flush are pure MMIO; later ones may use DMA memory, which a trace
        # does not record (docs/trace-format.md, "What is not recorded").
        Bringup(platform).run(until="flush")
        return list(platform.sim.trace or [])


def record_l2_poll(path: Path) -> None:
    """Power the L2 on, then read L2_READY_LO every 10 us until it reads 1 (reference §5.3)."""
    with SimPlatform() as platform:
        start_tracing(platform, path)
        platform.mmio.write32(L2_PWRON_LO, 1)
        while not platform.mmio.read32(L2_READY_LO):
            platform.clock.sleep(10e-6)


def test_bringup_replays_exactly(tmp_path: Path) -> None:
    path = tmp_path / "b.bin"
    log = record_bringup(path)
    report = replay(path)
    assert report.ok and report.mismatches == []
    assert report.accesses == len(log)
    assert report.reads == sum(op == "R" for _, op, _, _ in log)
    assert report.writes == sum(op == "W" for _, op, _, _ in log)
    assert report.replay_duration_ns == report.duration_ns == log[-1][0]
    assert report.trace_complete


def test_a_different_gpu_id_is_reported_at_every_gpu_id_read(tmp_path: Path) -> None:
    path = tmp_path / "b.bin"
    log = record_bringup(path)
    report = replay(path, config=SimConfig(gpu_id=0xA8670006))
    gpu_id_reads = [i for i, (_, op, off, _) in enumerate(log) if op == "R" and off == GPU_ID]
    assert not report.ok and report.reads_differ == len(gpu_id_reads) >= 1
    first = report.mismatches[0]
    assert (first.index, first.register, first.kind) == (gpu_id_reads[0], "GPU_ID", "read-value")
    assert (first.expected, first.got) == (0xA8670005, 0xA8670006)
    assert "recorded 0xa8670005, replay read 0xa8670006" in str(first)


def test_a_slower_reset_shows_up_as_the_reset_poll_reading_not_ready(tmp_path: Path) -> None:
    path = tmp_path / "b.bin"
    log = record_bringup(path)  # default reset: 20 us
    report = replay(path, config=SimConfig(reset_delay_ns=50_000))
    # The recorded poll saw RESET_COMPLETED (bit 8, reference §1.4) in RAWSTAT at t = 20 us.
    (index,) = [i for i, (_, op, off, v) in enumerate(log)
                if op == "R" and off == GPU_IRQ_RAWSTAT and v == 0x100]
    first = report.mismatches[0]
    assert (first.index, first.time_ns, first.register) == (index, 20_000, "GPU_IRQ_RAWSTAT")
    assert (first.expected, first.got) == (0x100, 0)


def test_a_recorded_poll_replays_deterministically_on_the_same_model(tmp_path: Path) -> None:
    path = tmp_path / "poll.bin"
    record_l2_poll(path)
    t = read_trace(path)
    # L2 power-up takes 50 us by default: reads at 0..40 us see 0, the one at 50 us sees 1.
    assert [(a.time_ns, a.value) for a in t.accesses][1:] == [
        (0, 0), (10_000, 0), (20_000, 0), (30_000, 0), (40_000, 0), (50_000, 1)]
    assert replay(path).ok
    assert replay(path).ok  # and again: same model, same answers


def test_a_faster_l2_disagrees_where_the_recording_still_saw_not_ready(tmp_path: Path) -> None:
    path = tmp_path / "poll.bin"
    record_l2_poll(path)
    report = replay(path, config=SimConfig(l2_power_delay_ns=30_000))
    assert report.reads_differ == 2
    assert [(m.time_ns, m.register, m.expected, m.got) for m in report.mismatches] == [
        (30_000, "L2_READY_LO", 0, 1), (40_000, "L2_READY_LO", 0, 1)]


def test_an_injected_platform_is_used_and_left_open(tmp_path: Path) -> None:
    path = tmp_path / "b.bin"
    record_bringup(path)
    platform = SimPlatform(config=SimConfig(gpu_id=0xB8670005))
    try:
        report = replay(path, platform)
        assert not report.ok and report.mismatches[0].got == 0xB8670005
        assert not platform.closed
        assert platform.clock.now_ns() == report.duration_ns
    finally:
        platform.close()


def test_recorded_errors_must_be_reproduced(tmp_path: Path) -> None:
    path = tmp_path / "err.bin"
    with SimPlatform() as platform:
        start_tracing(platform, path)
        with pytest.raises(Exception):  # noqa: B017 - the strict model's SimProtocolError
            platform.mmio.write32(GPU_ID, 1)
    assert replay(path).ok  # strict replay refuses the write the same way (EPROTO)
    lax = replay(path, strict=False)  # hardware-like model ignores it: no error
    assert lax.errors_differ == 1 and lax.mismatches[0].kind == "error"
    assert (lax.mismatches[0].expected_errno, lax.mismatches[0].got_errno) == (errno.EPROTO, 0)


def test_an_error_only_on_replay_is_unexpected(tmp_path: Path) -> None:
    path = tmp_path / "lax.bin"
    with SimPlatform(strict=False) as platform:
        start_tracing(platform, path)
        platform.mmio.write32(GPU_ID, 1)  # ignored by a non-strict model, like hardware
    report = replay(path)
    assert report.errors_differ == 1
    m = report.mismatches[0]
    assert (m.kind, m.op, m.register, m.got_errno) == ("unexpected-error", "W", "GPU_ID", errno.EPROTO)
    assert "GPU_ID" in m.message


def test_long_gaps_replay_at_the_recorded_time(tmp_path: Path) -> None:
    path = tmp_path / "gap.bin"
    with SimPlatform() as platform:
        start_tracing(platform, path)
        platform.clock.sleep(5.0)
        platform.mmio.read32(0x098)  # TIMESTAMP_LO: 5 s * 24 MHz = 120_000_000 ticks
    assert read_trace(path).accesses.value.tolist() == [120_000_000]
    assert replay(path).ok


def test_max_mismatches_limits_the_list_not_the_count(tmp_path: Path) -> None:
    path = tmp_path / "poll.bin"
    record_l2_poll(path)
    report = replay(path, config=SimConfig(l2_power_delay_ns=10_000), max_mismatches=1)
    assert report.reads_differ == 4 and len(report.mismatches) == 1  # reads at 10..40 us see 1
    with pytest.raises(InvalidArgument):
        replay(path, max_mismatches=-1)


def test_a_corrupt_trace_replays_nothing(tmp_path: Path) -> None:
    path = tmp_path / "poll.bin"
    record_l2_poll(path)
    raw = bytearray(path.read_bytes())
    last = len(raw) - 32  # the last access record (before END)
    raw[last + 4] = ord("?")
    path.write_bytes(bytes(raw))
    platform = SimPlatform()
    try:
        with pytest.raises(TraceFormatError) as exc:
            replay(path, platform)
        assert exc.value.offset == last
        assert platform.clock.now_ns() == 0 and platform.sim.power.l2.ready == 0  # nothing was replayed
    finally:
        platform.close()


class _RealTimePlatform(Platform):
    name = "fake-board"

    def __init__(self, size: int = 0x200000) -> None:
        super().__init__()
        self.regions["gpu"] = MappedMmioRegion("gpu", bytearray(size))
        self.clock = RealClock()


def test_replay_needs_virtual_time(tmp_path: Path) -> None:
    path = tmp_path / "poll.bin"
    record_l2_poll(path)
    with pytest.raises(NotSupported, match="virtual time"):
        replay(path, _RealTimePlatform())


def test_replay_needs_every_recorded_region_at_its_size(tmp_path: Path) -> None:
    path = tmp_path / "other.bin"
    w = TraceWriter(path, backend="sim", clock_virtual=True, start_clock_ns=0)
    w.add_region("gpu", 0x200000)
    w.add_region("carveout", 0x1000)
    w.close()
    with pytest.raises(DeviceNotFound, match="carveout"):
        replay(path)
    record_l2_poll(tmp_path / "poll.bin")
    with SimPlatform() as small:
        small.regions["gpu"] = MappedMmioRegion("gpu", bytearray(0x1000))
        with pytest.raises(InvalidArgument, match="0x1000 bytes, the trace recorded 0x200000"):
            replay(tmp_path / "poll.bin", small)
