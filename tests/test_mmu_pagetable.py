"""Page-table core: leaf selection, block splits, table freeing, overlap and allow-list refusals,
all-or-nothing on every error path (allocator state + a byte snapshot of every table), dirty ranges,
deferred reclaim, Device-memory writes and vectorised writes.

Expectations are hand-computed from mali-csf-registers-and-mmu.md §4 (geometry, §4.5 descriptors).
"""

from __future__ import annotations

import errno
import mmap
from collections.abc import Callable
from functools import partial

import numpy as np
import pytest

from uio_driver.errors import BadAddress, InvalidArgument, MaliError, OutOfMemory
from uio_driver.mmu import SZ_1G, SZ_2M, MappedRange, PageTable, Prot, leaf_segments
from uio_driver.platform.dma import DmaAllocator

K4 = 0x1000


def allocator(base: int = 0x40000000, size: int = 64 << 20, **kw: object) -> DmaAllocator:
    return DmaAllocator(base, size, mmap.mmap(-1, size), name="test carveout", **kw)  # type: ignore[arg-type]


def snapshot(pt: PageTable, alloc: DmaAllocator) -> tuple[object, ...]:
    """Everything a refused operation must leave alone: allocator, pool and the bytes of every table."""
    tables = {t.phys: (t.level, t.va, alloc.peek(t.phys, K4)) for t in pt.table_pages()}
    return alloc.state(), pt.pool.pages_in_use, pt.pool.pages_free, tables, list(pt.dirty)


def refused(pt: PageTable, alloc: DmaAllocator, fn: Callable[[], object], exc: type[MaliError]) -> MaliError:
    before = snapshot(pt, alloc)
    with pytest.raises(exc) as info:
        fn()
    assert snapshot(pt, alloc) == before
    return info.value


def R(va: int, pa: int, size: int, block: int, prot: Prot = Prot.NONE) -> MappedRange:
    return MappedRange(va, pa, size, prot, block)


# -- leaf selection ------------------------------------------------------------------------------------


@pytest.fixture
def big() -> tuple[DmaAllocator, int]:
    """A 4 GiB carveout at 1 GiB (lazily committed) with a 3 GiB buffer at PA 0x40000000."""
    alloc = allocator(0x40000000, 4 << 30)
    buf = alloc.alloc(3 << 30, align=SZ_1G, zero=False)
    assert buf.phys == 0x40000000
    return alloc, buf.phys


# VA ≡ PA (mod 1 GiB): 2 head pages, one 2 MiB block up to the 1 GiB boundary, a 1 GiB block,
# one 2 MiB block, 3 tail pages.
V0 = 0x1_4000_0000 - 0x202000
P0 = 0x40000000 + 0x3FDFE000
SIZE = 0x202000 + SZ_1G + 0x203000


def test_largest_leaves_are_chosen_where_va_pa_and_size_allow(big: tuple[DmaAllocator, int]) -> None:
    alloc, _ = big
    pt = PageTable(alloc)
    pt.map(V0, P0, SIZE)
    assert pt.dump() == [
        R(V0, P0, 0x2000, K4),
        R(0x1_3FE0_0000, 0x7FE00000, SZ_2M, SZ_2M),
        R(0x1_4000_0000, 0x80000000, SZ_1G, SZ_1G),
        R(0x1_8000_0000, 0xC0000000, SZ_2M, SZ_2M),
        R(0x1_8020_0000, 0xC0200000, 0x3000, K4),
    ]
    assert pt.translate(0x1_4123_4567).level == 1 and pt.translate(0x1_4123_4567).pa == 0x8123_4567
    assert leaf_segments(V0, P0, SIZE, (SZ_1G, SZ_2M, K4)) == [
        (K4, V0, 2), (SZ_2M, 0x1_3FE0_0000, 1), (SZ_1G, 0x1_4000_0000, 1), (SZ_2M, 0x1_8000_0000, 1),
        (K4, 0x1_8020_0000, 3)]


def test_panthor_layout_without_1g_blocks_and_forced_pages(big: tuple[DmaAllocator, int]) -> None:
    alloc, _ = big
    pt = PageTable(alloc, blocks_1g=False)
    pt.map(V0, P0, SIZE)
    assert pt.dump() == [R(V0, P0, 0x2000, K4), R(0x1_3FE0_0000, 0x7FE00000, SZ_1G + 2 * SZ_2M, SZ_2M),
                         R(0x1_8020_0000, 0xC0200000, 0x3000, K4)]
    pt2 = PageTable(alloc, pool=pt.pool)
    pt2.map(V0, P0, SIZE, max_block=K4)
    assert pt2.dump() == [R(V0, P0, SIZE, K4)]
    # VA and PA congruent mod 2 MiB only: no 1 GiB block even where VA is 1 GiB aligned.
    pt3 = PageTable(alloc, pool=pt.pool)
    pt3.map(0x1_0000_0000, 0x40200000, SZ_1G)
    assert {r.block_size for r in pt3.dump()} == {SZ_2M}


def test_vectorised_writes_for_a_gib_of_pages(big: tuple[DmaAllocator, int]) -> None:
    alloc, pa = big
    pt = PageTable(alloc)
    txn = pt.prepare_map(SZ_1G, pa, SZ_1G, max_block=K4)
    # root link, L1 link, one run of 512 L2 links, one run of 262144 leaves.
    assert txn.writes <= 4
    txn.commit()
    levels = [t.level for t in pt.table_pages()]
    assert levels.count(3) == 512 and levels.count(2) == 1
    for va in (SZ_1G, SZ_1G + 0x1234_5000, 2 * SZ_1G - K4):
        assert pt.translate(va).pa == pa + va - SZ_1G and pt.translate(va).level == 3


# -- splits and freeing ----------------------------------------------------------------------------


def test_unmapping_part_of_a_2m_block_splits_it_keeping_pa_and_flags() -> None:
    alloc = allocator()
    buf = alloc.alloc(SZ_2M, align=SZ_2M)
    pt = PageTable(alloc)
    pt.map(0x800000, buf.phys, SZ_2M, Prot.READONLY | Prot.NOEXEC)
    rng = pt.unmap(0x801000, 0x2000)
    assert rng == (0x800000, SZ_2M)  # the whole block's translations were rewritten
    ro_nx = Prot.READONLY | Prot.NOEXEC
    assert pt.dump() == [R(0x800000, buf.phys, K4, K4, ro_nx),
                         R(0x803000, buf.phys + 0x3000, SZ_2M - 0x3000, K4, ro_nx)]
    leaf = pt.walk(0x803000)[-1]
    assert leaf.descriptor == (buf.phys + 0x3000) | 0x0060000000000FC7  # §4.5 RO+NX page bits
    with pytest.raises(BadAddress):
        pt.translate(0x802FFF)


def test_unmapping_across_2m_boundaries_inside_a_1g_block(big: tuple[DmaAllocator, int]) -> None:
    alloc, pa = big
    pt = PageTable(alloc)
    pt.map(SZ_1G, pa, SZ_1G, Prot.UNCACHED)
    hole = SZ_1G + 5 * SZ_2M - K4  # 3 pages straddling the 2 MiB boundary at +10 MiB
    assert pt.unmap(hole, 0x3000) == (SZ_1G, SZ_1G)
    u = Prot.UNCACHED
    assert pt.dump() == [
        R(SZ_1G, pa, 4 * SZ_2M, SZ_2M, u),
        R(SZ_1G + 4 * SZ_2M, pa + 4 * SZ_2M, SZ_2M - K4, K4, u),
        R(hole + 0x3000, pa + 5 * SZ_2M + 0x2000, SZ_2M - 0x2000, K4, u),
        R(SZ_1G + 6 * SZ_2M, pa + 6 * SZ_2M, SZ_1G - 6 * SZ_2M, SZ_2M, u),
    ]
    assert [t.level for t in pt.table_pages()].count(3) == 2


def test_tables_left_empty_are_freed_and_reclaimed_after_the_flush() -> None:
    alloc = allocator()
    pt = PageTable(alloc)
    after_root = alloc.state()
    buf = alloc.alloc(0x10000)
    with_buffer = alloc.state()
    pt.map(0x7F_0000_0000, buf.phys, 0x10000)
    assert len(pt.table_pages()) == 4
    # Unmapping part keeps the tables; unmapping the rest frees L1..L3 and clears root's entry.
    pt.unmap(0x7F_0000_0000, 0x8000)
    assert len(pt.table_pages()) == 4 and pt.pending_reclaim == 0
    pt.unmap(0x7F_0000_8000, 0x8000)
    assert [t.level for t in pt.table_pages()] == [0]
    assert int(pt.root.entries[0x7F_0000_0000 >> 39]) == 0
    assert pt.pending_reclaim == 3 and pt.pool.pages_in_use == 4  # not reusable before the flush
    assert pt.reclaim() == 3
    assert pt.pool.pages_in_use == 1 and alloc.state() == with_buffer
    buf.free()
    assert alloc.state() == after_root


def test_unmapping_nothing_is_a_no_op() -> None:
    alloc = allocator()
    pt = PageTable(alloc)
    buf = alloc.alloc(K4)
    pt.map(0x10000, buf.phys, K4)
    before = snapshot(pt, alloc)
    assert pt.unmap(0x20000, SZ_2M) is None and pt.unmap(1 << 40, 1 << 30) is None
    assert snapshot(pt, alloc) == before


def test_dirty_ranges_are_recorded_and_taken() -> None:
    alloc = allocator()
    pt = PageTable(alloc)
    buf = alloc.alloc(SZ_2M, align=SZ_2M)
    assert pt.map(0x200000, buf.phys, SZ_2M) == (0x200000, SZ_2M)
    assert pt.map(0x10_0000_0000, buf.phys, K4) == (0x10_0000_0000, K4)  # new tables: only the range
    pt.unmap(0x200000 + 0x5000, K4)
    assert pt.take_dirty() == [(0x200000, SZ_2M), (0x10_0000_0000, K4), (0x200000, SZ_2M)]
    assert pt.take_dirty() == []


# -- refusals ---------------------------------------------------------------------------------------


def test_overlapping_maps_are_refused_with_eexist_and_change_nothing() -> None:
    alloc = allocator()
    pt = PageTable(alloc)
    buf = alloc.alloc(4 * SZ_2M, align=SZ_2M)
    pt.map(0x400000, buf.phys, SZ_2M)  # one 2 MiB block
    pt.map(0x600000 + 0x3000, buf.phys + SZ_2M, K4)  # one page in the next 2 MiB
    for va, size in ((0x400000, SZ_2M), (0x5FF000, 0x2000), (0x401000, K4), (0x600000, 0x4000),
                     (0x200000, 0x201000)):
        err = refused(pt, alloc, partial(pt.map, va, buf.phys + 2 * SZ_2M, size), InvalidArgument)
        assert err.errno == errno.EEXIST and "overlaps" in str(err)
    pt.map(0x600000, buf.phys + 2 * SZ_2M, 0x3000)  # adjacent ranges are fine
    pt.map(0x604000, buf.phys + 2 * SZ_2M + 0x3000, K4)


def test_allow_list_refusals() -> None:
    alloc = allocator()
    pt = PageTable(alloc)
    buf = alloc.alloc(0x4000)
    other = alloc.alloc(0x4000)
    free_pa = other.phys + 0x4000  # inside the carveout, never allocated
    cases = [
        (free_pa, K4),  # free carveout memory
        (buf.phys + 0x3000, 0x2000),  # runs off the end of an allocation
        (buf.phys, 0x8000),  # spans two allocations
        (0x1000, K4),  # outside the carveout
        (pt.root_pa, K4),  # page-table memory
    ]
    for pa, size in cases:
        err = refused(pt, alloc, partial(pt.map, 0x100000, pa, size), BadAddress)
        assert err.errno == errno.EFAULT
    other.free()
    refused(pt, alloc, lambda: pt.map(0x100000, other.phys, K4), BadAddress)  # freed
    pt.map(0x100000, buf.phys, 0x4000)
    assert pt.translate(0x103000).pa == buf.phys + 0x3000


@pytest.mark.parametrize(("args", "kwargs"), [
    ((0x1800, None, K4), {}),  # VA not page aligned
    ((0x1000, "pa+0x800", K4), {}),  # PA not page aligned
    ((0x1000, None, 0x1800), {}),  # size not a page multiple
    ((0x1000, None, 0), {}),
    ((0x1000, None, -K4), {}),
    (((1 << 48) - K4, None, 0x2000), {}),  # VA beyond 48 bits
    ((-K4, None, K4), {}),
    ((0x1000, None, K4, 8), {}),  # unknown flag
    ((0x1000, None, K4), {"max_block": 0x8000}),
    ((True, None, K4), {}),
    ((0x1000, None, 4096.0), {}),
])
def test_bad_arguments_are_einval_and_change_nothing(args: tuple, kwargs: dict) -> None:
    alloc = allocator()
    pt = PageTable(alloc)
    buf = alloc.alloc(0x10000)
    va, pa, *rest = args
    pa = buf.phys + 0x800 if pa == "pa+0x800" else buf.phys
    err = refused(pt, alloc, lambda: pt.map(va, pa, *rest, **kwargs), InvalidArgument)
    assert err.errno == errno.EINVAL


def test_pa_beyond_40_bits_is_refused() -> None:
    alloc = DmaAllocator((1 << 40) - 0x10000, 0x10000, bytearray(0x10000))
    pt = PageTable(alloc)
    buf = alloc.alloc(0x8000)
    refused(pt, alloc, lambda: pt.map(0, buf.phys, 0x10000), InvalidArgument)


def test_out_of_memory_mid_map_rolls_back_everything() -> None:
    alloc = allocator(size=0x10000)  # 16 pages
    pt = PageTable(alloc)
    buf = alloc.alloc(0xC000)  # 12 pages; 3 left for tables
    pt.map(0x0, buf.phys, K4)  # uses L1, L2, L3: nothing left
    assert alloc.free_bytes == 0
    # A map needing new tables at several levels fails at the first missing page.
    for va in (0x40_0000_0000, 0x4000_0000, 0x20_0000):
        err = refused(pt, alloc, partial(pt.map, va, buf.phys, K4), OutOfMemory)
        assert err.errno == errno.ENOMEM
    pt.map(0x1000, buf.phys + K4, K4)  # same L3 table: no allocation needed


def test_out_of_memory_on_block_split_changes_nothing() -> None:
    alloc = allocator(0x40000000, SZ_2M + 0x4000)  # the block's buffer and 4 spare pages
    buf = alloc.alloc(SZ_2M, align=SZ_2M)
    pt = PageTable(alloc)  # root
    pt.map(SZ_1G, buf.phys, SZ_2M)  # L1 + L2 with one block
    alloc.alloc(K4)  # the last spare page
    refused(pt, alloc, lambda: pt.unmap(SZ_1G + 0x5000, K4), OutOfMemory)
    assert pt.translate(SZ_1G + 0x5000).level == 2
    # A whole-block unmap needs no table; it empties L2 and L1, so root[0] (512 GiB) is cleared.
    assert pt.unmap(SZ_1G, SZ_2M) == (0, 1 << 39)
    assert [t.level for t in pt.table_pages()] == [0]


def test_fragmented_carveout_falls_back_to_single_table_pages() -> None:
    alloc = allocator(size=8 << 20)
    data = alloc.alloc(4 << 20, align=SZ_2M)
    holes = [alloc.alloc(K4) for _ in range(40)]
    for h in holes[::2]:
        h.free()  # single free pages between live ones
    fillers = []
    while alloc.largest_free >= 2 * K4:
        fillers.append(alloc.alloc(alloc.largest_free))
    assert alloc.free_bytes == 20 * K4
    pt = PageTable(alloc)
    pt.map(0, data.phys, 4 << 20, max_block=K4)  # L1, L2 and two L3 tables, none contiguous
    assert pt.dump() == [R(0, data.phys, 4 << 20, K4)]
    assert pt.translate(0x3FF000).pa == data.phys + 0x3FF000
    assert alloc.free_bytes == 15 * K4


def test_state_after_update_rollback_and_double_commit() -> None:
    alloc = allocator()
    pt = PageTable(alloc)
    buf = alloc.alloc(SZ_2M, align=SZ_2M)
    before = snapshot(pt, alloc)
    txn = pt.prepare_map(0x40_0000_0000, buf.phys, SZ_2M, max_block=K4)
    assert txn.range == (0x40_0000_0000, SZ_2M)
    txn.rollback()
    assert snapshot(pt, alloc) == before
    with pytest.raises(InvalidArgument):
        txn.commit()
    txn = pt.prepare_map(0x40_0000_0000, buf.phys, SZ_2M)
    txn.commit()
    with pytest.raises(InvalidArgument):
        txn.rollback()


def test_device_memory_carveout_gives_the_same_tables() -> None:
    plain, device = allocator(), allocator(device_memory=True)
    pts = []
    for alloc in (plain, device):
        pt = PageTable(alloc)
        buf = alloc.alloc(4 * SZ_2M, align=SZ_2M)
        pt.map(0x1000000 - 0x3000, buf.phys, 3 * SZ_2M)
        pt.unmap(0x1000000 + 0x11000, 0x7000)
        pts.append((pt, alloc))
    (a, aa), (b, ba) = pts
    assert a.dump() == b.dump()
    for ta, tb in zip(a.table_pages(), b.table_pages(), strict=True):
        assert (ta.level, ta.va, ta.phys) == (tb.level, tb.va, tb.phys)
        assert aa.peek(ta.phys, K4) == ba.peek(tb.phys, K4)


def test_destroy_frees_every_page() -> None:
    alloc = allocator()
    empty = alloc.state()
    pt = PageTable(alloc)
    buf = alloc.alloc(SZ_2M, align=SZ_2M)
    pt.map(0x123_4560_0000, buf.phys, SZ_2M, max_block=K4)
    pt.unmap(0x123_4560_0000, K4)
    pt.destroy()
    buf.free()
    assert alloc.state() == empty
    with pytest.raises(InvalidArgument):
        pt.map(0, buf.phys, K4)


def test_table_pages_report_levels_and_vas() -> None:
    alloc = allocator()
    pt = PageTable(alloc)
    buf = alloc.alloc(K4)
    pt.map(0x0000_1234_5678_9000, buf.phys, K4)  # §4.1 example: indices 36, 209, 179, 393
    info = pt.table_pages()
    assert [(t.level, t.va) for t in info] == [(0, 0), (1, 36 << 39), (2, (36 << 39) | (209 << 30)),
                                               (3, (36 << 39) | (209 << 30) | (179 << 21))]
    assert [s.index for s in pt.walk(0x0000_1234_5678_9000)] == [36, 209, 179, 393]
    assert np.count_nonzero(pt.read_table(info[-1].phys)) == 1
