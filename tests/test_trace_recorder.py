"""TracingMmioRegion / start_tracing: what a traced run records, checked against the simulator's own log."""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
import pytest

from uio_driver.bringup import Bringup
from uio_driver.errors import AccessDenied, BadAddress, InvalidArgument, SimProtocolError
from uio_driver.platform.base import MappedMmioRegion
from uio_driver.regs import RegisterAccess
from uio_driver.sim.platform import SimMmioRegion, SimPlatform
from uio_driver.trace import TraceWriter, TracingMmioRegion, read_trace, start_tracing


def rows(path: Path) -> list[tuple[int, str, int, int, int]]:
    return [(a.time_ns, a.op, a.offset, a.value, a.errno) for a in read_trace(path).accesses]


def test_bringup_trace_equals_the_simulators_own_access_log(tmp_path: Path) -> None:
    # The model logs every access it receives (sim.trace, written by the simulator, not by us).
    path = tmp_path / "bringup.bin"
    with SimPlatform(trace=True) as platform:
        start_tracing(platform, path, command="test")
        # Stages up to the flush are pure MMIO; later ones may use DMA memory, which a trace
        # does not record (docs/trace-format.md, "What is not recorded").
        Bringup(platform).run(until="flush")
        model_log = list(platform.sim.trace or [])
    t = read_trace(path)
    assert t.complete and t.header.backend == "sim" and t.header.clock_virtual and t.header.simulated
    assert t.header.gpu_id == 0xA8670005  # reference §6, verified G610 value
    assert t.header.regions[0].name == "gpu" and t.header.regions[0].phys_base == 0xFB000000
    assert [(ns, op, off, v) for ns, op, off, v, _ in rows(path)] == model_log
    assert len(model_log) > 40  # probe, reset, IRQ mask, L2 and flush all happened


def test_read64_is_recorded_as_hi_lo_hi_and_write64_as_lo_hi(sim_platform: SimPlatform,
                                                              tmp_path: Path) -> None:
    path = tmp_path / "t.bin"
    start_tracing(sim_platform, path)
    mmio = sim_platform.mmio
    assert mmio.read64(0x100) == 0x50005  # SHADER_PRESENT_LO/HI at 0x100/0x104 (reference §1.1)
    mmio.write64(0x88, 0x1_0000_0002)     # TIMESTAMP_OFFSET_LO/HI at 0x088/0x08C
    sim_platform.close()
    assert [(op, off, v) for _, op, off, v, _ in rows(path)] == [
        ("R", 0x104, 0), ("R", 0x100, 0x50005), ("R", 0x104, 0),
        ("W", 0x88, 2), ("W", 0x8C, 1),
    ]


def test_a_refused_access_is_recorded_with_its_errno_and_reraised(sim_platform: SimPlatform,
                                                                    tmp_path: Path) -> None:
    path = tmp_path / "t.bin"
    start_tracing(sim_platform, path)
    with pytest.raises(SimProtocolError) as exc:
        sim_platform.mmio.write32(0x0, 1)  # GPU_ID is RO: the strict simulator refuses the store
    assert exc.value.errno == errno.EPROTO
    sim_platform.mmio.read32(0x0)
    sim_platform.close()
    assert [(op, off, v, e) for _, op, off, v, e in rows(path)] == [
        ("W", 0x0, 1, errno.EPROTO), ("R", 0x0, 0xA8670005, 0)]


@pytest.mark.parametrize(("call", "error"), [
    (lambda m: m.read32(2), BadAddress),
    (lambda m: m.read32(0x200000), BadAddress),
    (lambda m: m.write32(0x28, -1), InvalidArgument),
    (lambda m: m.write32(0x28, 1 << 32), InvalidArgument),
    (lambda m: m.write32(0x28, 1.0), InvalidArgument),
])
def test_malformed_calls_never_reach_the_device_and_are_not_recorded(sim_platform: SimPlatform,
                                                                      tmp_path: Path, call, error) -> None:
    path = tmp_path / "t.bin"
    start_tracing(sim_platform, path)
    with pytest.raises(error):
        call(sim_platform.mmio)
    sim_platform.close()
    assert rows(path) == []
    assert read_trace(path).complete


def test_numpy_values_are_recorded_as_integers(sim_platform: SimPlatform, tmp_path: Path) -> None:
    path = tmp_path / "t.bin"
    start_tracing(sim_platform, path)
    sim_platform.mmio.write32(0x28, np.uint32(0x20103))  # type: ignore[arg-type]  # GPU_IRQ_MASK
    sim_platform.close()
    assert [(op, off, v) for _, op, off, v, _ in rows(path)] == [("W", 0x28, 0x20103)]


def test_times_are_the_platform_clock_at_each_access(sim_platform: SimPlatform, tmp_path: Path) -> None:
    path = tmp_path / "t.bin"
    sim_platform.clock.sleep(1e-3)           # before tracing: the trace starts here
    start_tracing(sim_platform, path)
    regs = RegisterAccess(sim_platform.mmio)
    regs.read("GPU_ID")
    sim_platform.clock.sleep(5.0)            # a gap longer than 2**32 ns
    timestamp = regs.read("TIMESTAMP_LO")
    sim_platform.close()
    t = read_trace(path)
    assert t.header.start_clock_ns == 1_000_000
    assert [a.time_ns for a in t.accesses] == [0, 5_000_000_000]
    # TIMESTAMP runs at 24 MHz from virtual time 0 (reference §7): 5.001 s * 24e6 = 120_024_000 ticks.
    assert timestamp == 120_024_000 == t.accesses.value[1]


class StepClock:
    """A clock that moves 100 ns per reading (stands in for a real clock)."""

    def __init__(self) -> None:
        self.ns = -100

    def now_ns(self) -> int:
        self.ns += 100
        return self.ns


def test_mapped_region_wrapper_records_and_forwards(tmp_path: Path) -> None:
    buf = bytearray(0x100)
    inner = MappedMmioRegion("gpu", buf, phys_base=0xFB000000)
    writer = TraceWriter(tmp_path / "m.bin", backend="uio", clock_virtual=False, start_clock_ns=0)
    region = TracingMmioRegion(inner, writer, StepClock(), "gpu")  # type: ignore[arg-type]
    region.write32(0x10, 0xCAFEF00D)
    assert int.from_bytes(buf[0x10:0x14], "little") == 0xCAFEF00D
    assert region.read32(0x10) == 0xCAFEF00D
    assert (region.name, region.size, region.phys_base) == ("gpu", 0x100, 0xFB000000)
    region.close()
    assert inner.closed and writer.closed
    t = read_trace(tmp_path / "m.bin")
    assert not t.header.clock_virtual and t.header.backend == "uio"
    assert [(a.time_ns, a.op, a.value) for a in t.accesses] == [(0, "W", 0xCAFEF00D), (100, "R", 0xCAFEF00D)]


def test_read_only_mapping_refusal_is_recorded_as_eacces(tmp_path: Path) -> None:
    inner = MappedMmioRegion("gpu", bytes(0x100), writable=False)
    writer = TraceWriter(tmp_path / "ro.bin", backend="devmem", clock_virtual=False, start_clock_ns=0)
    region = TracingMmioRegion(inner, writer, StepClock())  # type: ignore[arg-type]
    with pytest.raises(AccessDenied):
        region.write32(0x8, 5)
    region.close()
    assert [(a.op, a.offset, a.value, a.errno) for a in read_trace(tmp_path / "ro.bin").accesses] == [
        ("W", 0x8, 5, errno.EACCES)]


def test_closing_the_platform_writes_the_end_record(tmp_path: Path) -> None:
    path = tmp_path / "t.bin"
    platform = SimPlatform()
    writer = start_tracing(platform, path)
    platform.mmio.read32(0)
    assert not writer.closed
    platform.close()
    assert writer.closed and read_trace(path).complete
    assert any("tracing MMIO to" in n for n in platform.notes)


def test_untraced_platforms_keep_their_fast_regions() -> None:
    with SimPlatform() as platform:
        assert type(platform.mmio) is SimMmioRegion


def test_a_region_cannot_be_traced_twice(sim_platform: SimPlatform, tmp_path: Path) -> None:
    writer = TraceWriter(tmp_path / "t.bin", backend="sim", clock_virtual=True, start_clock_ns=0)
    TracingMmioRegion(sim_platform.mmio, writer, sim_platform.clock, "gpu")
    with pytest.raises(InvalidArgument, match="already traced"):
        TracingMmioRegion(sim_platform.mmio, writer, sim_platform.clock, "gpu")
    writer.close()
