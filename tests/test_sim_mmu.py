"""MMU block of the simulated G610: AS register latching on UPDATE, AS_ACTIVE timing, LOCK region
decoding (all seven worked examples of §3.4), UNLOCK/FLUSH, commands while AS_ACTIVE, faults
(first fault wins), listener hooks, reset.

Raw offsets from mali-csf-registers-and-mmu.md §3.1–§3.4: AS n at 0x2400 + n*0x40; TRANSTAB +0x00,
MEMATTR +0x08, LOCKADDR +0x10, COMMAND +0x18, FAULTSTATUS +0x1C, FAULTADDRESS +0x20, STATUS +0x28,
TRANSCFG +0x30.
"""

from __future__ import annotations

import pytest

from uio_driver.errors import InvalidArgument, SimProtocolError, Timeout
from uio_driver.sim import SimConfig, SimFaults, SimPlatform
from uio_driver.sim.mmu import AsConfig, LockRegion

UPDATE, LOCK, UNLOCK, FLUSH_PT, FLUSH_MEM = 1, 2, 3, 4, 5


def as_reg(n, off):
    return 0x2400 + n * 0x40 + off


def write64(m, off, value):
    m.write32(off, value & 0xFFFFFFFF)
    m.write32(off + 4, value >> 32)


def wait_as_idle(p, n):
    p.clock.poll(lambda: p.mmio.read32(as_reg(n, 0x28)) & 1 == 0, 0.1, f"AS{n} idle", interval=1e-6)


# -- UPDATE latching -------------------------------------------------------------------------------


def test_update_latches_pending_transtab_memattr_transcfg(sim_platform):
    p, m, mmu = sim_platform, sim_platform.mmio, sim_platform.sim.mmu
    # panthor's AS enable values for RK3588 (§5.5): MEMATTR 0x4C4C4C4C_8C4C8F4C, TRANSCFG 0x420001C6.
    write64(m, as_reg(1, 0x00), 0x0000_0001_2345_6000)
    write64(m, as_reg(1, 0x08), 0x4C4C4C4C_8C4C8F4C)
    write64(m, as_reg(1, 0x30), 0x00000000_420001C6)
    assert m.read32(as_reg(1, 0x00)) == 0x23456000  # pending values read back
    assert mmu.live_config(1) == AsConfig()  # nothing live yet
    assert mmu.pending_config(1) == AsConfig(0x1_2345_6000, 0x4C4C4C4C_8C4C8F4C, 0x420001C6)
    m.write32(as_reg(1, 0x18), UPDATE)
    wait_as_idle(p, 1)
    live = mmu.live_config(1)
    assert live == AsConfig(0x1_2345_6000, 0x4C4C4C4C_8C4C8F4C, 0x420001C6)
    assert live.adrmode == 6  # AARCH64_4K
    # Later writes stay pending until the next UPDATE.
    m.write32(as_reg(1, 0x30), 1)  # ADRMODE_UNMAPPED
    assert mmu.live_config(1).transcfg == 0x420001C6
    m.write32(as_reg(1, 0x18), UPDATE)
    wait_as_idle(p, 1)
    assert mmu.live_config(1).transcfg == 1
    assert mmu.live_config(0) == AsConfig()  # other address spaces untouched


def test_update_latches_independent_of_write_order(sim_platform):
    """kbase writes TRANSCFG, TRANSTAB, MEMATTR; panthor TRANSTAB, MEMATTR, TRANSCFG (§5.5)."""
    p, m = sim_platform, sim_platform.mmio
    write64(m, as_reg(2, 0x30), 0x420001C6)
    write64(m, as_reg(2, 0x00), 0x40000000)
    write64(m, as_reg(2, 0x08), 0x4C4C4C4C_8C4C8F4C)
    m.write32(as_reg(2, 0x18), UPDATE)
    wait_as_idle(p, 2)
    assert p.sim.mmu.live_config(2) == AsConfig(0x40000000, 0x4C4C4C4C_8C4C8F4C, 0x420001C6)


def test_update_uses_values_at_command_time(sim_platform):
    p, m = sim_platform, sim_platform.mmio
    m.write32(as_reg(0, 0x00), 0x1000)
    m.write32(as_reg(0, 0x18), UPDATE)
    m.write32(as_reg(0, 0x00), 0x2000)  # written while the UPDATE is still running
    wait_as_idle(p, 0)
    assert p.sim.mmu.live_config(0).transtab == 0x1000


# -- AS_ACTIVE timing ----------------------------------------------------------------------------------


def test_as_active_set_by_command_until_completion():
    with SimPlatform(config=SimConfig(as_command_delay_ns=3_000)) as p:
        m = p.mmio
        assert m.read32(as_reg(3, 0x28)) == 0
        m.write32(as_reg(3, 0x18), UPDATE)
        assert m.read32(as_reg(3, 0x28)) == 1
        p.clock.sleep(2_999e-9)
        assert m.read32(as_reg(3, 0x28)) == 1
        p.clock.sleep(1e-9)
        assert m.read32(as_reg(3, 0x28)) == 0
        assert p.sim.mmu.completed == [(3_000, 3, UPDATE)]


def test_zero_delay_commands_complete_inside_the_write():
    with SimPlatform(config=SimConfig(as_command_delay_ns=0)) as p:
        m = p.mmio
        m.write32(as_reg(0, 0x00), 0x5000)
        m.write32(as_reg(0, 0x18), UPDATE)
        assert m.read32(as_reg(0, 0x28)) == 0
        assert p.sim.mmu.live_config(0).transtab == 0x5000


def test_command_while_as_active_is_a_strict_error(sim_platform):
    m, mmu = sim_platform.mmio, sim_platform.sim.mmu
    m.write32(as_reg(4, 0x10), 0x3F)
    m.write32(as_reg(4, 0x18), UPDATE)
    with pytest.raises(SimProtocolError) as info:
        m.write32(as_reg(4, 0x18), LOCK)
    assert info.value.register == "AS4_COMMAND" and info.value.offset == 0x2518
    assert sim_platform.sim.violations[-1].kind == "as-active"
    sim_platform.clock.sleep(1e-3)
    assert mmu.locked_region(4) is None  # the refused LOCK never happened
    assert [c for _, _, c in mmu.completed] == [UPDATE]


def test_command_while_as_active_non_strict_is_ignored_and_recorded():
    with SimPlatform(strict=False) as p:
        m = p.mmio
        m.write32(as_reg(0, 0x18), UPDATE)
        m.write32(as_reg(0, 0x18), LOCK)
        p.clock.sleep(1e-3)
        assert p.sim.mmu.locked_region(0) is None
        assert [v.kind for v in p.sim.violations] == ["as-active"]


def test_as_active_stuck_fault_hook():
    with SimPlatform(faults=SimFaults(as_active_stuck=True, as_active_stuck_mask=1 << 5)) as p:
        m = p.mmio
        m.write32(as_reg(5, 0x18), UPDATE)
        with pytest.raises(Timeout, match="AS5 idle"):
            wait_as_idle(p, 5)
        m.write32(as_reg(6, 0x18), UPDATE)  # other address spaces are unaffected
        wait_as_idle(p, 6)


@pytest.mark.parametrize("value", [6, 7, 0xFFFFFFFF])
def test_unknown_as_command_is_refused(sim_platform, value):
    with pytest.raises(SimProtocolError, match="unknown AS command"):
        sim_platform.mmio.write32(as_reg(0, 0x18), value)
    assert sim_platform.mmio.read32(as_reg(0, 0x28)) == 0


def test_nop_command_sets_and_clears_as_active(sim_platform):
    m = sim_platform.mmio
    m.write32(as_reg(0, 0x18), 0)
    assert m.read32(as_reg(0, 0x28)) == 1
    wait_as_idle(sim_platform, 0)


# -- LOCK region decoding --------------------------------------------------------------------------------

# §3.4 worked examples: (LOCKADDR written by panthor, effective region base, region size).
LOCK_EXAMPLES = [
    (0x000000000100000E, 0x1000000, 0x8000),  # 4 KiB at 0x1000000 -> 32 KiB minimum
    (0x000000000000400E, 0x0, 0x8000),  # bit 14 left set by panthor; ignored
    (0x0000000000200014, 0x200000, 0x200000),  # 2 MiB
    (0x0000000000040010, 0x40000, 0x20000),  # kbase's own example
    (0x0000000123440011, 0x123440000, 0x40000),
    (0x000000000000001B, 0x0, 0x10000000),  # 8 KiB straddling 128 MiB -> 256 MiB
    (0x000000000000003F, 0x0, 1 << 64),  # whole AS
]


@pytest.mark.parametrize(("lockaddr", "base", "size"), LOCK_EXAMPLES, ids=[hex(x[0]) for x in LOCK_EXAMPLES])
def test_lock_region_matches_reference_worked_examples(sim_platform, lockaddr, base, size):
    p, m = sim_platform, sim_platform.mmio
    write64(m, as_reg(1, 0x10), lockaddr)
    m.write32(as_reg(1, 0x18), LOCK)
    assert p.sim.mmu.locked_region(1) is None  # takes effect when the command completes
    wait_as_idle(p, 1)
    assert p.sim.mmu.locked_region(1) == LockRegion(base, size)


@pytest.mark.parametrize("code", [0, 1, 13])
def test_lock_size_codes_below_14_act_as_32k(sim_platform, code):
    m = sim_platform.mmio
    write64(m, as_reg(0, 0x10), 0x12345000 | code)
    m.write32(as_reg(0, 0x18), LOCK)
    wait_as_idle(sim_platform, 0)
    assert sim_platform.sim.mmu.locked_region(0) == LockRegion(0x12340000, 0x8000)


def test_lock_with_reserved_lockaddr_bits_is_refused(sim_platform):
    m = sim_platform.mmio
    write64(m, as_reg(0, 0x10), 0x1000000 | (1 << 6) | 0xE)  # FLUSH_SKIP_LEVELS: arch >= 12 only
    with pytest.raises(SimProtocolError, match="reserved"):
        m.write32(as_reg(0, 0x18), LOCK)
    assert m.read32(as_reg(0, 0x28)) == 0


def test_unlock_and_flushes_release_the_lock_and_flushes_count(sim_platform):
    p, m, mmu = sim_platform, sim_platform.mmio, sim_platform.sim.mmu
    for release, counts_flush in ((UNLOCK, False), (FLUSH_PT, True), (FLUSH_MEM, True)):
        before = m.read32(0x10000)
        write64(m, as_reg(1, 0x10), 0x200014)
        m.write32(as_reg(1, 0x18), LOCK)
        wait_as_idle(p, 1)
        assert mmu.locked_region(1) == LockRegion(0x200000, 0x200000)
        m.write32(as_reg(1, 0x18), release)
        wait_as_idle(p, 1)
        assert mmu.locked_region(1) is None
        assert m.read32(0x10000) == before + counts_flush


def test_gpu_command_flush_does_not_unlock(sim_platform):
    p, m = sim_platform, sim_platform.mmio
    write64(m, as_reg(1, 0x10), 0x3F)
    m.write32(as_reg(1, 0x18), LOCK)
    wait_as_idle(p, 1)
    m.write32(0x030, 0x3304)  # P2 flush (§1.5)
    p.clock.sleep(1e-3)
    assert p.sim.mmu.locked_region(1) == LockRegion(0, 1 << 64)


class Recorder:
    def __init__(self):
        self.calls = []

    def on_update(self, as_nr):
        self.calls.append(("update", as_nr))

    def on_lock(self, as_nr, region):
        self.calls.append(("lock", as_nr, region))

    def on_unlock(self, as_nr, region):
        self.calls.append(("unlock", as_nr, region))

    def on_flush(self, as_nr, region, command):
        self.calls.append(("flush", as_nr, region, command))

    def on_reset(self):
        self.calls.append(("reset",))


def test_listener_hooks_fire_on_completion(sim_platform):
    p, m, mmu = sim_platform, sim_platform.mmio, sim_platform.sim.mmu
    rec = Recorder()
    mmu.add_listener(rec)
    region = LockRegion(0x40000, 0x20000)
    for command, lockaddr in ((UPDATE, 0), (LOCK, 0x40010), (UNLOCK, 0), (LOCK, 0x40010), (FLUSH_PT, 0)):
        if lockaddr:
            write64(m, as_reg(7, 0x10), lockaddr)
        m.write32(as_reg(7, 0x18), command)
        wait_as_idle(p, 7)
    m.write32(0x030, 0x101)
    p.clock.sleep(1e-3)
    assert rec.calls == [("update", 7), ("lock", 7, region), ("unlock", 7, region), ("lock", 7, region),
                         ("flush", 7, region, FLUSH_PT), ("reset",)]


# -- faults --------------------------------------------------------------------------------------------


def test_raise_fault_latches_first_fault_until_irq_clear(sim_platform):
    m, mmu = sim_platform.mmio, sim_platform.sim.mmu
    m.write32(0x2008, 0xFFFF)
    assert mmu.raise_fault(3, 0x000003C3, 0x0000_7F00_1234_5000) is True  # TRANSLATION_FAULT_3, write
    assert m.read32(as_reg(3, 0x1C)) == 0x3C3
    assert (m.read32(as_reg(3, 0x20)), m.read32(as_reg(3, 0x24))) == (0x12345000, 0x7F00)
    assert m.read32(0x200C) == 1 << 3
    assert m.read32(0x034) & (1 << 4)  # GPU_STATUS.PAGE_FAULT
    assert sim_platform.irq("mmu").wait(0) is True
    assert mmu.raise_fault(3, 0x2CB, 0x9000) is False  # second fault does not overwrite
    assert m.read32(as_reg(3, 0x1C)) == 0x3C3
    m.write32(0x2004, 1 << 3)
    assert m.read32(0x034) & (1 << 4) == 0
    assert mmu.raise_fault(3, 0x2CB, 0x9000) is True
    assert m.read32(as_reg(3, 0x1C)) == 0x2CB


def test_bus_error_uses_the_upper_irq_bits(sim_platform):
    m, mmu = sim_platform.mmio, sim_platform.sim.mmu
    assert mmu.raise_fault(2, 0xD2, 0x1000, bus_error=True)
    assert m.read32(0x2000) == 1 << 18
    assert mmu.raise_fault(2, 0xC3, 0x2000) is False  # still latched


@pytest.mark.parametrize("offset", [0x1C, 0x20, 0x24, 0x28, 0x38, 0x3C])
def test_fault_and_status_registers_are_read_only(sim_platform, offset):
    with pytest.raises(SimProtocolError, match="read-only"):
        sim_platform.mmio.write32(as_reg(0, offset), 1)


@pytest.mark.parametrize(("as_nr", "status", "address"), [(8, 1, 0), (-1, 1, 0), (0, 1 << 32, 0), (0, 1, -1)])
def test_raise_fault_rejects_bad_arguments(sim_platform, as_nr, status, address):
    with pytest.raises(InvalidArgument):
        sim_platform.sim.mmu.raise_fault(as_nr, status, address)
    assert sim_platform.mmio.read32(0x2000) == 0


def test_reset_drops_as_state_and_faults(sim_platform):
    p, m, mmu = sim_platform, sim_platform.mmio, sim_platform.sim.mmu
    write64(m, as_reg(0, 0x00), 0x1000)
    m.write32(as_reg(0, 0x18), UPDATE)
    mmu.raise_fault(0, 0xC1, 0x1234)
    m.write32(0x030, 0x101)
    p.clock.sleep(1e-3)
    assert mmu.live_config(0) == AsConfig() and mmu.pending_config(0) == AsConfig()
    assert (m.read32(as_reg(0, 0x1C)), m.read32(as_reg(0, 0x20)), m.read32(0x2000)) == (0, 0, 0)


def test_lock_region_contains_and_overlaps():
    region = LockRegion(0x40000, 0x20000)  # [0x40000, 0x60000)
    assert region.contains(0x40000) and region.contains(0x5FFFF)
    assert not region.contains(0x60000) and not region.contains(0x3FFFF)
    assert region.overlaps(0x3F000, 0x2000) and region.overlaps(0x5F000, 0x10000)
    assert not region.overlaps(0x60000, 0x1000) and not region.overlaps(0x3F000, 0x1000)
    assert not region.overlaps(0x50000, 0)
