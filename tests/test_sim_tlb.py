"""The simulated TLB: PTE changes are invisible until the range is invalidated the way §3.3/§4.7/§7 say
(FLUSH_PT/FLUSH_MEM of the locked region, UNLOCK after a LOCK covering it, UPDATE, reset — never a
GPU_COMMAND cache flush alone), and strict mode catches a live mapping changed without a flush.

The page at VA 0x10203000 first maps PA 0x12345000 (holding b"OLD!") and is then repointed by hand
to PA 0x12346000 (holding b"NEW!"), so what the GPU sees tells which translation it used.
"""

from __future__ import annotations

import pytest
from test_sim_walker_rig import (
    BLOCK_2M_RW,
    FLUSH_MEM,
    FLUSH_PT,
    GPU_COMMAND,
    LOCK,
    PTE_RW,
    UNLOCK,
    UPDATE,
    Rig,
)

from uio_driver.errors import InvalidArgument, SimProtocolError
from uio_driver.sim.tlb import SimTlb, TlbEntry
from uio_driver.sim.walker import SimGpuFault, SimTranslation

VA = 0x10203000
OLD, NEW = b"OLD!", b"NEW!"
PTE_NEW = 0x0000000012346F47  # §4.5 RW cached page, PA 0x12346000
#: §3.4: 4 KiB at VA 0x10203000 -> size code 14 (32 KiB), region [0x10200000, 0x10208000).
LOCK_COVERING = 0x1020300E
LOCK_ADJACENT = 0x1020800E  # [0x10208000, 0x10210000): next to it, not covering
LOCK_ELSEWHERE = 0x4000000E


def rig_with_page(strict: bool = True) -> tuple[Rig, int]:
    rig = Rig(strict=strict)
    t0, _, _, t3 = rig.reference_tables()
    rig.mem.write(0x12345000, OLD)
    rig.mem.write(0x12346000, NEW)
    rig.configure(1, t0)
    assert rig.mmu.gpu_read(1, VA, 4) == OLD  # cached now
    return rig, t3


def repoint(rig: Rig, t3: int) -> None:
    rig.put(t3, 0x003, PTE_NEW)


# -- staleness without a flush ------------------------------------------------------------------------


def test_pte_change_without_flush_non_strict_keeps_the_old_translation():
    rig, t3 = rig_with_page(strict=False)
    repoint(rig, t3)
    assert rig.mmu.gpu_read(1, VA, 4) == OLD
    assert rig.mmu.gpu_read(1, VA + 0x10, 4) == b"\0\0\0\0"
    assert [v.kind for v in rig.sim.violations] == ["stale-tlb"]  # reported once per entry
    v = rig.sim.violations[0]
    assert v.offset == t3 + 0x18 and v.value == PTE_NEW


def test_pte_change_without_flush_is_a_strict_error_naming_everything():
    rig, t3 = rig_with_page()
    repoint(rig, t3)
    with pytest.raises(SimProtocolError) as info:
        rig.mmu.gpu_read(1, VA + 8, 4)
    msg = str(info.value)
    for part in ("AS1", "VA 0x10203008", f"PA {t3 + 0x18:#x}", "0x12345f47", "0x12346f47", "level-3"):
        assert part in msg
    assert info.value.details["kind"] == "stale-tlb"
    with pytest.raises(SimProtocolError):  # still stale: strict keeps refusing
        rig.mmu.gpu_read(1, VA, 4)


def test_changed_table_descriptor_is_detected_even_if_the_leaf_is_equal():
    rig = Rig()
    t0, _, t2, _ = rig.reference_tables()
    rig.mem.write(0x12345000, OLD)
    rig.configure(1, t0)
    rig.mmu.gpu_read(1, VA, 4)
    t3b = rig.table()
    rig.put(t3b, 0x003, PTE_RW)  # same leaf, new L3 table page
    rig.put(t2, 0x081, t3b | 3)
    with pytest.raises(SimProtocolError, match=f"level-2 descriptor at PA {t2 + 0x81 * 8:#x}"):
        rig.mmu.gpu_read(1, VA, 4)


def test_new_mapping_of_an_uncached_va_needs_no_invalidation():
    """The TLB caches only successful walks, so a fresh mapping is seen at once (no negative caching)."""
    rig, t3 = rig_with_page()
    with pytest.raises(SimGpuFault):
        rig.mmu.gpu_read(1, VA + 0x1000, 4)
    rig.w32(0x2004, 0xFFFFFFFF)
    rig.put(t3, 0x004, PTE_NEW)
    assert rig.mmu.gpu_read(1, VA + 0x1000, 4) == NEW
    assert rig.mmu.gpu_read(1, VA, 4) == OLD
    assert rig.sim.violations == []


# -- what invalidates ----------------------------------------------------------------------------------


@pytest.mark.parametrize("release", [UNLOCK, FLUSH_PT, FLUSH_MEM], ids=["UNLOCK", "FLUSH_PT", "FLUSH_MEM"])
def test_lock_then_release_covering_the_va_shows_the_new_pa(release):
    rig, t3 = rig_with_page()
    rig.command(1, LOCK, LOCK_COVERING)  # P3: lock around the update
    repoint(rig, t3)
    rig.command(1, release)
    assert rig.mmu.gpu_read(1, VA, 4) == NEW
    assert rig.sim.violations == []


@pytest.mark.parametrize("release", [FLUSH_PT, FLUSH_MEM], ids=["FLUSH_PT", "FLUSH_MEM"])
def test_p1_sequence_update_then_lock_and_flush(release):
    rig, t3 = rig_with_page()
    repoint(rig, t3)  # P1 writes first, then LOCK + FLUSH_PT (§4.7)
    rig.command(1, LOCK, LOCK_COVERING)
    rig.command(1, release)
    assert rig.mmu.gpu_read(1, VA, 4) == NEW


def test_p3_sequence_with_gpu_command_flush_then_unlock():
    rig, t3 = rig_with_page()
    rig.command(1, LOCK, LOCK_COVERING)
    repoint(rig, t3)
    rig.w32(GPU_COMMAND, 0x23304)  # FLUSH_CACHES l2=3 lsc=3 other=2 (§4.7 P3)
    rig.sim.clock.advance(1_000_000)
    assert rig.r32(0x020) & (1 << 17)  # CLEAN_CACHES_COMPLETED
    rig.command(1, UNLOCK)
    assert rig.mmu.gpu_read(1, VA, 4) == NEW


def test_gpu_command_cache_flush_alone_does_not_invalidate_the_tlb():
    rig, t3 = rig_with_page(strict=False)
    repoint(rig, t3)
    rig.w32(GPU_COMMAND, 0x23304)
    rig.sim.clock.advance(1_000_000)
    assert rig.mmu.gpu_read(1, VA, 4) == OLD
    assert [v.kind for v in rig.sim.violations] == ["stale-tlb"]


@pytest.mark.parametrize("lockaddr", [LOCK_ADJACENT, LOCK_ELSEWHERE], ids=["adjacent", "elsewhere"])
@pytest.mark.parametrize("release", [UNLOCK, FLUSH_PT], ids=["UNLOCK", "FLUSH_PT"])
def test_flush_of_a_different_region_does_not_help(lockaddr, release):
    rig, t3 = rig_with_page()
    repoint(rig, t3)
    rig.command(1, LOCK, lockaddr)
    rig.command(1, release)
    with pytest.raises(SimProtocolError, match="stale TLB entry"):
        rig.mmu.gpu_read(1, VA, 4)


def test_unlock_without_a_lock_invalidates_nothing():
    rig, t3 = rig_with_page(strict=False)
    repoint(rig, t3)
    rig.w64(0x2410 + 0x40, LOCK_COVERING)  # LOCKADDR set but never LOCKed
    rig.command(1, UNLOCK)
    assert rig.mmu.gpu_read(1, VA, 4) == OLD


def test_flush_in_another_as_does_not_help():
    rig, t3 = rig_with_page()
    repoint(rig, t3)
    rig.command(2, LOCK, LOCK_COVERING)
    rig.command(2, FLUSH_PT)
    with pytest.raises(SimProtocolError):
        rig.mmu.gpu_read(1, VA, 4)


def test_update_invalidates_the_whole_as():
    rig, t3 = rig_with_page()
    repoint(rig, t3)
    rig.command(1, UPDATE)  # same config again
    assert rig.mmu.gpu_read(1, VA, 4) == NEW


def test_reset_drops_every_tlb():
    rig, t3 = rig_with_page()
    t0 = rig.sim.mmu.live_config(1).transtab
    rig.configure(2, t0)
    rig.mmu.gpu_read(2, VA, 4)
    assert len(rig.mmu.tlbs[1]) == 1 and len(rig.mmu.tlbs[2]) == 1
    rig.w32(GPU_COMMAND, 0x101)  # SOFT_RESET
    rig.sim.clock.advance(1_000_000)
    assert all(len(tlb) == 0 for tlb in rig.mmu.tlbs.values())
    assert rig.mmu.tlbs[1].stats.invalidations[-1] == (0, 1 << 64)
    rig.power_l2()
    repoint(rig, t3)
    rig.configure(1, t0)
    assert rig.mmu.gpu_read(1, VA, 4) == NEW


# -- block entries -------------------------------------------------------------------------------------


def test_block_entry_answers_for_its_whole_range_and_is_dropped_by_any_overlap():
    rig = Rig()
    t0, _, t2, _ = rig.reference_tables()
    rig.put(t2, 1, BLOCK_2M_RW)  # VA [0x200000, 0x400000) -> PA 0x40200000
    rig.configure(1, t0)
    tlb = rig.mmu.tlbs[1]
    misses = tlb.stats.misses
    rig.mmu.gpu_read(1, 0x200000, 4)
    rig.mmu.gpu_read(1, 0x3FF000, 4)
    rig.mmu.gpu_read(1, 0x2ABCD0, 4)
    assert tlb.stats.misses == misses + 1 and len(tlb) == 1
    rig.put(t2, 1, 0x0000000040000F45)  # repoint the block to PA 0x40000000
    rig.mem.write(0x401FF000, b"blk!")
    with pytest.raises(SimProtocolError):
        rig.mmu.gpu_read(1, 0x3FF000, 4)
    rig.command(1, LOCK, 0x3F800E)  # 32 KiB at the block's top end only
    rig.command(1, UNLOCK)
    assert rig.mmu.gpu_read(1, 0x3FF000, 4) == b"blk!"


# -- SimTlb unit behaviour -----------------------------------------------------------------------------


def leaf(va_base: int, level: int, pa_base: int = 0x4000_0000) -> SimTranslation:
    size = {3: 0x1000, 2: 0x200000, 1: 1 << 30}[level]
    return SimTranslation(va=va_base, pa=pa_base, level=level, va_base=va_base, pa_base=pa_base, size=size,
                          read_only=False, executable=True, attr_index=1, memattr=0x8F, shareability=3)


def entry(va_base: int, level: int) -> TlbEntry:
    return TlbEntry(leaf(va_base, level), ())


def test_tlb_lookup_by_page_and_block():
    tlb = SimTlb(0)
    tlb.insert(entry(0x5000, 3))
    tlb.insert(entry(0x600000, 2))
    tlb.insert(entry(0x80000000, 1))
    assert tlb.lookup(0x5FFF).va_base == 0x5000
    assert tlb.lookup(0x6000) is None
    assert tlb.lookup(0x7FFFFF).va_base == 0x600000
    assert tlb.lookup(0xBFFFFFFF).va_base == 0x80000000
    assert (tlb.stats.hits, tlb.stats.misses) == (3, 1)


@pytest.mark.parametrize(("base", "size", "left"), [
    (0x6000, 0x1000, 3),  # just after the page
    (0x4000, 0x1000, 3),  # just before
    (0x5000, 0x1000, 2),  # exactly the page
    (0x7FF000, 0x1000, 2),  # last page of the 2 MiB block
    (0x800000, 0x7F800000, 3),  # between the block and the 1 GiB block
    (0xBFFFF000, 0x1000, 2),  # last page of the 1 GiB block
    (0, 1 << 64, 0),  # everything (LOCKADDR size code 63)
])
def test_tlb_invalidate_boundaries(base, size, left):
    tlb = SimTlb(0)
    for e in (entry(0x5000, 3), entry(0x600000, 2), entry(0x80000000, 1)):
        tlb.insert(e)
    assert tlb.invalidate(base, size) == 3 - left
    assert len(tlb) == left


def test_tlb_capacity_evicts_the_oldest_entry():
    tlb = SimTlb(0, capacity=2)
    for va in (0x1000, 0x2000, 0x3000):
        tlb.insert(entry(va, 3))
    assert [e.va_base for e in tlb.entries()] == [0x2000, 0x3000]
    assert tlb.stats.evicted == 1


@pytest.mark.parametrize("capacity", [0, -1, 1.5, True])
def test_tlb_capacity_must_be_positive_int(capacity):
    with pytest.raises(InvalidArgument):
        SimTlb(0, capacity=capacity)


def test_tlb_refuses_a_leaf_that_is_not_a_page_or_block():
    tlb = SimTlb(0)
    identity = SimTranslation(va=0, pa=0, level=None, va_base=0, pa_base=0, size=1 << 40, read_only=False,
                              executable=True, attr_index=0, memattr=0, shareability=0)
    with pytest.raises(InvalidArgument, match="cannot be cached"):
        tlb.insert(TlbEntry(identity, ()))
    assert len(tlb) == 0


# -- listeners -----------------------------------------------------------------------------------------


def test_external_listeners_still_fire_alongside_tlb_maintenance():
    rig, t3 = rig_with_page()
    calls = []

    class Recorder:
        def on_unlock(self, as_nr, region):
            calls.append(("unlock", as_nr, region.base, region.size))

        def on_reset(self):
            calls.append(("reset",))

    rig.mmu.add_listener(Recorder())
    rig.command(1, LOCK, LOCK_COVERING)
    repoint(rig, t3)
    rig.command(1, UNLOCK)
    assert calls == [("unlock", 1, 0x10200000, 0x8000)]
    assert rig.mmu.gpu_read(1, VA, 4) == NEW
