"""Doorbell pages (0x80000 + i*0x10000) and the USER page (LATEST_FLUSH at 0x10000) of the
simulated GPU window — mali-csf-registers-and-mmu.md §0, §1.11, §7 "MCU and doorbells"."""

from __future__ import annotations

import pytest

from uio_driver.errors import InvalidArgument, SimProtocolError
from uio_driver.sim import SimPlatform


def test_ringing_doorbells_calls_listeners_with_the_index(sim_platform):
    sim_platform.sim.mcu = None  # a GPU with no firmware model: doorbells only reach listeners
    rung = []
    sim_platform.sim.on_doorbell(rung.append)
    m = sim_platform.mmio
    m.write32(0x80000, 1)  # GLB doorbell (panthor writes 1)
    m.write32(0x80000 + 5 * 0x10000, 0xABCD)  # any value rings
    m.write32(0x1F0000, 0)  # doorbell 23, the last page of the 2 MiB window
    assert rung == [0, 5, 23]
    assert sim_platform.sim.doorbells.rings[0] == 1 and sim_platform.sim.doorbells.rings[23] == 1


def test_doorbell_pages_read_as_zero(sim_platform):
    sim_platform.sim.mcu = None  # no firmware model: ringing doorbell 0 is not a protocol error
    m = sim_platform.mmio
    m.write32(0x80000, 1)
    assert m.read32(0x80000) == 0
    assert m.read32(0x80000 + 0x10000 + 0x100) == 0
    assert sim_platform.sim.violations == []


def test_write_elsewhere_in_a_doorbell_page_is_ignored_and_strict_error(sim_platform):
    rung = []
    sim_platform.sim.on_doorbell(rung.append)
    with pytest.raises(SimProtocolError) as info:
        sim_platform.mmio.write32(0x90004, 1)  # doorbell 1, offset 4
    assert info.value.offset == 0x90004 and info.value.register == "DOORBELL1"
    assert rung == []


def test_write_elsewhere_non_strict_is_recorded_and_does_not_ring():
    with SimPlatform(strict=False) as p:
        rung = []
        p.sim.on_doorbell(rung.append)
        p.mmio.write32(0x80FFC, 1)
        assert rung == [] and [v.kind for v in p.sim.violations] == ["doorbell-page"]


def test_latest_flush_is_read_only_and_counts_flushes(sim_platform):
    m = sim_platform.mmio
    assert m.read32(0x10000) == 0
    with pytest.raises(SimProtocolError, match="LATEST_FLUSH"):
        m.write32(0x10000, 5)
    for expected in (1, 2, 3):
        m.write32(0x030, 0x304)
        sim_platform.clock.sleep(1e-3)
        assert m.read32(0x10000) == expected


def test_latest_flush_never_returns_to_zero_on_wrap(sim_platform):
    sim = sim_platform.sim
    sim.latest_flush = 0xFFFFFFFF
    sim.cache_flush_completed()
    assert sim_platform.mmio.read32(0x10000) == 1


def test_fewer_doorbells_configured_leaves_later_pages_undefined():
    from uio_driver.sim import SimConfig

    with SimPlatform(config=SimConfig(num_doorbells=8)) as p:
        p.mmio.write32(0x80000 + 7 * 0x10000, 1)
        with pytest.raises(SimProtocolError, match="undefined"):
            p.mmio.write32(0x80000 + 8 * 0x10000, 1)


def test_doorbell_listener_must_be_callable(sim_platform):
    with pytest.raises(InvalidArgument):
        sim_platform.sim.on_doorbell(42)
