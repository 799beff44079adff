"""IRQ blocks (RAWSTAT/CLEAR/MASK/STATUS) and UIO-style IRQ lines on virtual time.

Reference: mali-csf-registers-and-mmu.md §1.4 (GPU bits), §2 (JOB), §3.1 (MMU), §7 "Register file
semantics". Raw offsets: GPU 0x020, JOB 0x1000, MMU 0x2000 (+0 RAWSTAT, +4 CLEAR, +8 MASK, +C STATUS).
"""

from __future__ import annotations

import time

import pytest

from uio_driver.errors import InvalidArgument
from uio_driver.sim import SimPlatform

BLOCKS = {"gpu": 0x020, "job": 0x1000, "mmu": 0x2000}
RAWSTAT, CLEAR, MASK, STATUS = 0x0, 0x4, 0x8, 0xC


@pytest.mark.parametrize(("line", "bit"), [("gpu", 1 << 8), ("job", 1 << 31), ("mmu", 1 << 3)])
def test_status_is_rawstat_and_mask_and_clear_is_w1c(sim_platform, line, bit):
    m, base = sim_platform.mmio, BLOCKS[line]
    m.write32(base + RAWSTAT, bit)  # RAWSTAT write sets bits (tests only)
    assert m.read32(base + RAWSTAT) == bit
    assert m.read32(base + STATUS) == 0  # masked
    m.write32(base + MASK, bit)
    assert m.read32(base + MASK) == bit
    assert m.read32(base + STATUS) == bit
    assert sim_platform.sim.irq_block(line).asserted
    assert m.read32(base + CLEAR) == 0  # CLEAR reads as 0
    m.write32(base + CLEAR, 0)  # writing 0 clears nothing
    assert m.read32(base + RAWSTAT) == bit
    m.write32(base + CLEAR, bit)
    assert m.read32(base + RAWSTAT) == 0 and m.read32(base + STATUS) == 0
    assert not sim_platform.sim.irq_block(line).asserted


def test_clear_only_clears_the_written_bits(sim_platform):
    m = sim_platform.mmio
    m.write32(0x1000, 0x80000003)
    m.write32(0x1004, 0x00000001)
    assert m.read32(0x1000) == 0x80000002


def test_gpu_irq_unimplemented_bits_are_raz_wi(sim_platform):
    m = sim_platform.mmio
    m.write32(0x028, 0xFFFFFFFF)
    # §1.4: bits 0,1,8,9,10,16,17,18,19 exist on G610; 2..6, 11..15, 20..31 read as zero.
    assert m.read32(0x028) == 0x000F0703
    m.write32(0x020, 0x0000007C)
    assert m.read32(0x020) == 0


def test_doorbell_mirror_is_not_cleared_by_gpu_irq_clear(sim_platform):
    m, sim = sim_platform.mmio, sim_platform.sim
    sim.set_doorbell_mirror(True)
    m.write32(0x020, 0x100)
    assert m.read32(0x020) == 0x40100  # bit 18 DOORBELL_MIRROR + RESET_COMPLETED
    m.write32(0x024, 0xFFFFFFFF)
    assert m.read32(0x020) == 0x40000  # only bit 18 survives CLEAR
    sim.set_doorbell_mirror(False)
    assert m.read32(0x020) == 0


def test_event_raised_while_masked_fires_when_unmasked(sim_platform):
    m, gpu_line = sim_platform.mmio, sim_platform.irq("gpu")
    m.write32(0x028, 0)
    m.write32(0x030, 0x101)  # soft reset raises RESET_COMPLETED (bit 8) later
    assert gpu_line.wait(0.01) is False  # masked: nothing delivered
    assert m.read32(0x020) & 0x100  # ... but latched in RAWSTAT
    m.write32(0x028, 0x100)
    t0 = sim_platform.clock.now_ns()
    assert gpu_line.wait(0.01) is True
    assert sim_platform.clock.now_ns() == t0  # delivered immediately, no time passes
    assert m.read32(0x02C) == 0x100


def test_wait_advances_virtual_time_to_the_event_and_disables_the_line(sim_platform):
    m, line, clock = sim_platform.mmio, sim_platform.irq("gpu"), sim_platform.clock
    m.write32(0x028, 0x100)
    m.write32(0x030, 0x101)
    t0 = clock.now_ns()
    assert line.wait(0.1) is True
    assert clock.now_ns() - t0 == sim_platform.sim.config.reset_delay_ns
    assert line.enabled is False and line.count == 1
    # UIO semantics: disabled until acknowledged, even though STATUS is still set (level).
    assert line.wait(0.001) is False
    assert clock.now_ns() - t0 == sim_platform.sim.config.reset_delay_ns + 1_000_000
    m.write32(0x024, 0x100)  # clear the cause first (panthor order), then re-enable
    line.acknowledge()
    assert line.wait(0.001) is False


def test_level_triggered_cause_still_pending_is_redelivered_after_ack(sim_platform):
    m, line = sim_platform.mmio, sim_platform.irq("job")
    m.write32(0x1008, 0x80000000)
    m.write32(0x1000, 0x80000000)
    assert line.wait(0) is True
    line.acknowledge()  # cause not cleared
    assert line.wait(0) is True
    assert line.count == 2


def test_wait_timeout_returns_false_without_real_sleeping(sim_platform):
    line, clock = sim_platform.irq("mmu"), sim_platform.clock
    t_real = time.perf_counter()
    assert line.wait(30.0) is False
    assert time.perf_counter() - t_real < 1.0  # 30 s of virtual time cost no real time
    assert clock.now_ns() == 30_000_000_000


def test_wait_stops_at_deadline_before_a_later_event(sim_platform):
    m, line, clock = sim_platform.mmio, sim_platform.irq("gpu"), sim_platform.clock
    m.write32(0x028, 0x100)
    m.write32(0x030, 0x101)  # completes at reset_delay_ns = 20 µs
    assert line.wait(10e-6) is False
    assert clock.now_ns() == 10_000
    assert line.wait(10e-6) is True  # the event is exactly at the new deadline
    assert clock.now_ns() == 20_000


def test_disabled_line_is_not_delivered_until_enabled(sim_platform):
    m, line = sim_platform.mmio, sim_platform.irq("gpu")
    line.disable()
    m.write32(0x028, 0x100)
    m.write32(0x020, 0x100)
    assert line.wait(0.001) is False
    line.enable()
    assert line.wait(0.001) is True


@pytest.mark.parametrize("timeout", [-1.0, float("inf"), float("nan")])
def test_wait_rejects_bad_timeouts(sim_platform, timeout):
    with pytest.raises(InvalidArgument):
        sim_platform.irq("gpu").wait(timeout)
    assert sim_platform.clock.now_ns() == 0


def test_masks_preserved_across_reset_by_default(sim_platform):
    m = sim_platform.mmio
    m.write32(0x028, 0x20103)
    m.write32(0x1008, 0xFFFFFFFF)
    m.write32(0x2008, 0xFFFF)
    m.write32(0x030, 0x101)
    sim_platform.clock.sleep(0.001)
    assert (m.read32(0x028), m.read32(0x1008), m.read32(0x2008)) == (0x20103, 0xFFFFFFFF, 0xFFFF)


def test_masks_dropped_at_reset_when_configured_but_mask_written_during_reset_survives():
    from uio_driver.sim import SimConfig

    with SimPlatform(config=SimConfig(preserve_irq_masks_on_reset=False)) as p:
        m = p.mmio
        m.write32(0x028, 0x20103)
        m.write32(0x1008, 0xFFFFFFFF)
        m.write32(0x030, 0x101)
        assert m.read32(0x028) == 0  # dropped when the reset starts
        m.write32(0x028, 0x100)  # kbase: GPU_IRQ_MASK = RESET_COMPLETED after the command
        assert p.irq("gpu").wait(0.1) is True
        assert m.read32(0x028) == 0x100
        assert m.read32(0x1008) == 0
