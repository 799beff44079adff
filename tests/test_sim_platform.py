"""The ``sim`` Platform as the driver sees it, plus determinism of the model.

The bring-up script follows the raw register trace of mali-csf-registers-and-mmu.md §5.10.
"""

from __future__ import annotations

import time

import pytest

from uio_driver.errors import InvalidArgument
from uio_driver.platform import open_platform
from uio_driver.platform.base import IrqLine, MmioRegion
from uio_driver.sim import SimConfig, SimFaults, SimPlatform
from uio_driver.sim.clock import VirtualClock


def test_open_platform_sim_builds_the_documented_platform():
    with open_platform("sim", strict=False, trace=True, sysfs_root="/ignored") as p:
        assert isinstance(p, SimPlatform)
        assert (p.name, p.simulated, p.sim.strict) == ("sim", True, False)
        assert isinstance(p.clock, VirtualClock) and p.clock is p.sim.clock
        region = p.region("gpu")
        assert isinstance(region, MmioRegion) and region is p.mmio
        assert (region.size, region.phys_base) == (0x200000, 0xFB000000)
        assert sorted(p.irqs) == ["gpu", "job", "mmu"]
        assert all(isinstance(p.irq(n), IrqLine) for n in ("gpu", "job", "mmu"))
        assert p.sim.trace == []
        info = p.describe()
        assert info["dma"] == {"phys_base": 0x30000000, "size": 0x10000000}
        assert "non-strict mode" in p.notes[0]


def test_sim_platform_options_and_defaults():
    assert SimPlatform.OPTIONS == (
        "strict", "config", "faults", "carveout_base", "carveout_size", "trace", "mcu")
    faults = SimFaults(flush_never_completes=True)
    cfg = SimConfig(gpu_id=0xA8670000)
    with SimPlatform(config=cfg, faults=faults) as p:
        assert p.sim.strict is True and p.sim.trace is None
        assert p.sim.config is cfg and p.sim.faults is faults and p.sim.gpu.faults is faults
        assert p.sim.power_domain_on is True
        assert p.mmio.read32(0) == 0xA8670000


@pytest.mark.parametrize("kwargs", [
    {"strict": "yes"}, {"config": {"gpu_id": 1}}, {"faults": True}, {"trace": 1},
    {"config": SimConfig(gpu_id=1 << 32)}, {"config": SimConfig(num_doorbells=25)},
    {"config": SimConfig(reset_delay_ns=-1)}, {"config": SimConfig(texture_features=(1, 2))},  # type: ignore[arg-type]
    {"config": SimConfig(as_present=0x1FFFF)}, {"config": SimConfig(timestamp_hz=0)},
])
def test_bad_options_are_refused(kwargs):
    with pytest.raises(InvalidArgument):
        SimPlatform(**kwargs)


def test_close_is_idempotent_and_closes_irq_lines():
    p = SimPlatform()
    line = p.irq("gpu")
    p.close()
    p.close()
    assert p.closed
    with pytest.raises(InvalidArgument):
        line.wait(0)


def bring_up(p):
    """Rows 1–22 of the §5.10 bring-up trace (polling, IRQs masked where the table allows)."""
    m, clock = p.mmio, p.clock
    assert m.read32(0x0000) == 0xA8670005  # 1
    m.write32(0x0024, 0x100)  # 2
    m.write32(0x0030, 0x101)  # 3
    clock.poll(lambda: m.read32(0x0020) & 0x100, 0.1, "reset")  # 4
    m.write32(0x0024, 0x100)  # 5
    m.write32(0x0024, 0x20103)  # 6
    m.write32(0x0028, 0x20103)
    m.write32(0x2004, 0xFFFF)  # 7
    m.write32(0x2008, 0xFFFF)
    m.write32(0x1004, 0)  # 8
    m.write32(0x1008, 0)
    m.write32(0x0304, 31)  # 9
    clock.poll(lambda: m.read32(0x0220) & 1 == 0, 0.02, "no L2 transition")  # 10
    m.write32(0x01A0, 1)  # 11
    clock.poll(lambda: m.read32(0x0160) & 1, 0.02, "L2 ready")  # 12
    m.write32(0x2400, 0x30000000)  # 14
    m.write32(0x2404, 0)
    m.write32(0x2408, 0x8C4C8F4C)  # 15
    m.write32(0x240C, 0x4C4C4C4C)
    m.write32(0x2430, 0x420001C6)  # 16
    m.write32(0x2434, 0)
    clock.poll(lambda: m.read32(0x2428) & 1 == 0, 0.1, "AS0 idle")  # 17
    m.write32(0x2418, 1)
    clock.poll(lambda: m.read32(0x2428) & 1 == 0, 0.1, "AS0 UPDATE done")  # 18
    m.write32(0x1004, 0xFFFFFFFF)  # 19
    m.write32(0x1008, 0xFFFFFFFF)
    m.write32(0x0700, 2)  # 20
    m.write32(0x80000, 1)  # 24 (GLB doorbell)
    return p


def test_bring_up_trace_runs_cleanly_in_strict_mode():
    with SimPlatform(trace=True, mcu=False) as p:
        bring_up(p)
        sim = p.sim
        assert sim.violations == []
        assert sim.mmu.live_config(0).transtab == 0x30000000
        assert sim.mmu.live_config(0).memattr == 0x4C4C4C4C_8C4C8F4C
        assert p.mmio.read32(0x0160) == 1 and p.mmio.read32(0x0704) == 0  # no firmware model yet
        assert sim.doorbells.rings[0] == 1
        # Row 4 polled RAWSTAT bit 8: with 10 µs steps the first poll seeing it is at 20 µs.
        reset_seen = [t for t, op, off, v in sim.trace if op == "R" and off == 0x20 and v & 0x100]
        assert reset_seen[0] == sim.config.reset_delay_ns == 20_000


def test_same_calls_give_an_identical_trace():
    traces = []
    for _ in range(2):
        with SimPlatform(trace=True, mcu=False) as p:
            bring_up(p)
            p.mmio.write32(0x030, 0x3304)
            p.irq("gpu").wait(0.1)
            traces.append(list(p.sim.trace))
    assert traces[0] == traces[1]
    assert traces[0][0] == (0, "R", 0x0, 0xA8670005)
    assert traces[0][-1][1:] == ("W", 0x030, 0x3304)


def test_trace_differs_when_timing_config_differs():
    """The determinism test above must be able to fail: a different delay changes the trace."""
    traces = []
    for delay in (20_000, 30_000):
        with SimPlatform(trace=True, mcu=False, config=SimConfig(reset_delay_ns=delay)) as p:
            bring_up(p)
            traces.append(p.sim.trace)
    assert traces[0] != traces[1]


def test_virtual_time_costs_no_real_time():
    with SimPlatform() as p:
        t0 = time.perf_counter()
        p.clock.sleep(3600.0)
        assert p.mmio.read64(0x098) == 3600 * 24_000_000
        assert time.perf_counter() - t0 < 1.0
