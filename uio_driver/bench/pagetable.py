"""``bench pagetable``: the NumPy page-table core against a straightforward per-entry Python walk.

Cases (default 1 GiB, simulated carveout of 1 GiB + 64 MiB, lazily committed):

* ``map 4K warm`` — 1 GiB of 4 KiB pages (2 MiB blocks disabled), into table memory that was touched
  before (steady state after an unmap); ``map 4K cold`` — the same into a fresh carveout, so the
  time includes first-touch page faults of 2 MiB of new tables;
* ``map 2M warm`` — 1 GiB through 512 2 MiB blocks;
* ``unmap 4K`` — unmapping 1 GiB of 4 KiB pages (tables freed);
* ``split 2M`` — unmapping one 4 KiB page inside each of 64 2 MiB blocks (each block becomes an L3
  table of 511 pages); time per split.

The baseline writes the same tables one descriptor per loop iteration, walking from the root and
allocating each missing table as it goes (NumPy item assignment, the "plain loop" row of the peers
document's Part C2). Both results are compared descriptor by descriptor (table addresses aside) and a
mismatch fails the benchmark. Goals: 1 GiB of 4 KiB pages <= 10 ms and >= 50x the walk; 1 GiB of
2 MiB blocks <= 1 ms.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import InvalidArgument, MaliError
from ..mmu import PageTable, Prot
from ..mmu.pte import PAGE_SIZE, PTE_ADDR_MASK, PTE_TYPE_TABLE, SZ_1G, SZ_2M, leaf_attrs, va_index
from ..platform import Platform, open_platform
from ..platform.dma import DmaAllocator, DmaBuffer
from . import BenchCase, best_of

NAME = "pagetable"
DESCRIPTION = "page-table map/unmap/split: NumPy core vs a per-entry Python walk (simulated carveout)"

DEFAULT_SIZE = SZ_1G
REPEAT = 5
SPLITS = 64
#: VA of the benchmark mappings: 1 GiB aligned, so a 1 GiB range uses exactly one L2 table.
BASE_VA = 0x40_0000_0000
GOAL_4K_S = 10e-3
GOAL_4K_X = 50.0
GOAL_2M_S = 1e-3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE,
                        help="bytes to map (multiple of 2 MiB; default 1 GiB)")
    parser.add_argument("--repeat", type=int, default=REPEAT,
                        help=f"timed runs per case, best kept (default {REPEAT})")


def run(args: argparse.Namespace) -> list[BenchCase]:
    """Run every case on a simulated carveout large enough for ``--size``.

    Raises:
        InvalidArgument: ``--size`` not a positive multiple of 2 MiB, or ``--repeat`` < 1.
        MaliError: our tables and the baseline's differ (the comparison would be meaningless).
    """
    size = getattr(args, "size", DEFAULT_SIZE)
    repeat = getattr(args, "repeat", REPEAT)
    if not isinstance(size, int) or size <= 0 or size % SZ_2M:
        raise InvalidArgument(f"bench pagetable: --size must be a positive multiple of 2 MiB, got {size!r}")
    if not isinstance(repeat, int) or repeat < 1:
        raise InvalidArgument(f"bench pagetable: --repeat must be >= 1, got {repeat!r}")
    with _platform(size) as platform:
        allocator = platform.dma_allocator()
        data = allocator.alloc(size, align=SZ_2M, name="bench data", zero=False)
        cases = [_map_4k_warm(allocator, data, size, repeat), _map_4k_cold(size, repeat),
                 _map_2m(allocator, data, size, repeat), _unmap_4k(allocator, data, size, repeat),
                 _split_2m(allocator, data, size, repeat)]
    for c in cases:
        c.extra["size"] = size
    return cases


def _platform(size: int) -> Platform:
    # Tables for `size` of 4 KiB pages take size/512 (ours and the baseline's), plus slack.
    return open_platform("sim", carveout_size=size + max(64 << 20, size // 64))


# -- the baseline -------------------------------------------------------------------------------


class NaiveTables:
    """Straightforward page tables: one descriptor per loop iteration, tables allocated on the way."""

    def __init__(self, allocator: DmaAllocator) -> None:
        self.allocator = allocator
        self.tables: dict[int, np.ndarray] = {}
        self.buffers: dict[int, DmaBuffer] = {}
        self.root = self._new_table()

    def _new_table(self) -> int:
        buf = self.allocator.alloc(PAGE_SIZE, name="naive table")
        self.tables[buf.phys] = buf.u64
        self.buffers[buf.phys] = buf
        return buf.phys

    def _table_of(self, va: int, level: int, create: bool) -> np.ndarray | None:
        table = self.tables[self.root]
        for lvl in range(level):
            index = (va >> (39 - 9 * lvl)) & 511
            desc = int(table[index])
            if not desc & 1:
                if not create:
                    return None
                desc = self._new_table() | PTE_TYPE_TABLE
                table[index] = desc
            table = self.tables[desc & PTE_ADDR_MASK]
        return table

    def map(self, va: int, pa: int, size: int, leaf: int, prot: int = Prot.NONE) -> None:
        level = 3 if leaf == PAGE_SIZE else 2
        attrs = leaf_attrs(prot, level)
        shift = 39 - 9 * level
        for off in range(0, size, leaf):
            table = self._table_of(va + off, level, True)
            table[((va + off) >> shift) & 511] = (pa + off) | attrs  # type: ignore[index]

    def unmap_pages(self, va: int, size: int) -> None:
        """Clear 4 KiB pages one by one; free a table as soon as it has no valid entry."""
        for off in range(0, size, PAGE_SIZE):
            self._clear(va + off, 3)

    def _clear(self, va: int, level: int) -> None:
        path = []
        table = self.tables[self.root]
        for lvl in range(level):
            index = (va >> (39 - 9 * lvl)) & 511
            path.append((table, index))
            table = self.tables[int(table[index]) & PTE_ADDR_MASK]
        table[(va >> (39 - 9 * level)) & 511] = 0
        while path and not table.any():
            parent, index = path.pop()
            phys = int(parent[index]) & PTE_ADDR_MASK
            parent[index] = 0
            del self.tables[phys]
            self.buffers.pop(phys).free()
            table = parent

    def split_unmap(self, va: int) -> None:
        """Unmap the 4 KiB page at ``va`` inside a 2 MiB block: new L3 table, 511 pages copied."""
        l2 = self._table_of(va, 2, False)
        if l2 is None:
            raise MaliError(f"naive tables: no L2 table for {va:#x}")
        index = va_index(va, 2)
        block = int(l2[index])
        base = block & PTE_ADDR_MASK & ~(SZ_2M - 1)
        attrs = (block & ~PTE_ADDR_MASK & ~3) | 3
        phys = self._new_table()
        table = self.tables[phys]
        hole = va_index(va, 3)
        for i in range(512):
            if i != hole:
                table[i] = (base + i * PAGE_SIZE) | attrs
        l2[index] = phys | PTE_TYPE_TABLE

    def free_all(self) -> None:
        for buf in self.buffers.values():
            buf.free()
        self.buffers.clear()
        self.tables.clear()


# -- comparison ---------------------------------------------------------------------------------


def same_tables(read_a: Callable[[int], np.ndarray], root_a: int, read_b: Callable[[int], np.ndarray],
                root_b: int, level: int = 0) -> bool:
    """True when two trees hold the same descriptors everywhere, table addresses aside."""
    a, b = read_a(root_a), read_b(root_b)
    is_table = ((a & np.uint64(3)) == np.uint64(3)) if level < 3 else np.zeros(a.shape, bool)
    mask = np.where(is_table, np.uint64(~PTE_ADDR_MASK & (2**64 - 1)), np.uint64(2**64 - 1))
    if not np.array_equal(a & mask, b & mask):
        return False
    for index in np.flatnonzero(is_table).tolist():
        if not same_tables(read_a, int(a[index]) & PTE_ADDR_MASK, read_b, int(b[index]) & PTE_ADDR_MASK,
                           level + 1):
            return False
    return True


def _check_same(pt: PageTable, naive: NaiveTables, case: str) -> None:
    if not same_tables(pt.read_table, pt.root_pa, naive.tables.__getitem__, naive.root):
        raise MaliError(f"bench pagetable {case}: NumPy tables and the per-entry walk differ")


def _time_once(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


# -- cases --------------------------------------------------------------------------------------


def _map_4k_warm(allocator: DmaAllocator, data: DmaBuffer, size: int, repeat: int) -> BenchCase:
    pt = PageTable(allocator)
    pt.map(BASE_VA, data.phys, size, max_block=PAGE_SIZE)  # touch the table memory once

    def cycle() -> float:
        pt.unmap(BASE_VA, size)
        pt.reclaim()
        return _time_once(lambda: pt.map(BASE_VA, data.phys, size, max_block=PAGE_SIZE))

    ours = min(cycle() for _ in range(repeat))
    naive = NaiveTables(allocator)
    base = _time_once(lambda: naive.map(BASE_VA, data.phys, size, PAGE_SIZE))
    _check_same(pt, naive, "map 4K")
    naive.free_all()
    pt.destroy()
    return _case("map 4K warm", ours, base, "4 KiB pages into touched table memory", size,
                 f"<= {GOAL_4K_S * 1e3:g} ms per GiB and >= {GOAL_4K_X:g}x the per-entry walk",
                 ours * SZ_1G / size <= GOAL_4K_S and base >= GOAL_4K_X * ours)


def _map_4k_cold(size: int, repeat: int) -> BenchCase:
    def fresh() -> float:
        with _platform(size) as platform:  # fresh, never touched carveout
            allocator = platform.dma_allocator()
            data = allocator.alloc(size, align=SZ_2M, zero=False)
            pt = PageTable(allocator)
            return _time_once(lambda: pt.map(BASE_VA, data.phys, size, max_block=PAGE_SIZE))

    ours = min(fresh() for _ in range(repeat))
    with _platform(size) as platform:
        allocator = platform.dma_allocator()
        data = allocator.alloc(size, align=SZ_2M, zero=False)
        naive = NaiveTables(allocator)
        base = _time_once(lambda: naive.map(BASE_VA, data.phys, size, PAGE_SIZE))
    return _case("map 4K cold", ours, base, "4 KiB pages into a fresh carveout (first-touch page faults)",
                 size, f"<= {GOAL_4K_S * 1e3:g} ms per GiB", ours * SZ_1G / size <= GOAL_4K_S)


def _map_2m(allocator: DmaAllocator, data: DmaBuffer, size: int, repeat: int) -> BenchCase:
    pt = PageTable(allocator, blocks_1g=False)
    pt.map(BASE_VA, data.phys, size)

    def cycle() -> float:
        pt.unmap(BASE_VA, size)
        pt.reclaim()
        return _time_once(lambda: pt.map(BASE_VA, data.phys, size))

    ours = min(cycle() for _ in range(repeat))
    naive = NaiveTables(allocator)
    base = best_of(lambda: naive.map(BASE_VA, data.phys, size, SZ_2M), repeat=repeat)
    _check_same(pt, naive, "map 2M")
    naive.free_all()
    pt.destroy()
    return _case("map 2M warm", ours, base, "2 MiB blocks, tables touched before", size,
                 f"<= {GOAL_2M_S * 1e3:g} ms per GiB", ours * SZ_1G / size <= GOAL_2M_S)


def _unmap_4k(allocator: DmaAllocator, data: DmaBuffer, size: int, repeat: int) -> BenchCase:
    pt = PageTable(allocator)

    def cycle() -> float:
        pt.map(BASE_VA, data.phys, size, max_block=PAGE_SIZE)
        t = _time_once(lambda: pt.unmap(BASE_VA, size))
        pt.reclaim()
        return t

    ours = min(cycle() for _ in range(repeat))
    naive = NaiveTables(allocator)
    naive.map(BASE_VA, data.phys, size, PAGE_SIZE)
    base = _time_once(lambda: naive.unmap_pages(BASE_VA, size))
    _check_same(pt, naive, "unmap 4K")
    naive.free_all()
    pt.destroy()
    return _case("unmap 4K", ours, base, "clear 4 KiB pages, free emptied tables", size, None, None)


def _split_2m(allocator: DmaAllocator, data: DmaBuffer, size: int, repeat: int) -> BenchCase:
    blocks = min(SPLITS, size // SZ_2M)
    holes = [BASE_VA + i * SZ_2M + ((i * 37) % 512) * PAGE_SIZE for i in range(blocks)]
    pt = PageTable(allocator, blocks_1g=False)

    def punch() -> None:
        for va in holes:
            pt.unmap(va, PAGE_SIZE)

    def naive_punch() -> None:
        for va in holes:
            naive.split_unmap(va)

    def cycle() -> float:
        pt.map(BASE_VA, data.phys, size)
        t = _time_once(punch)
        pt.unmap(BASE_VA, size)
        pt.reclaim()
        return t

    ours = min(cycle() for _ in range(repeat)) / blocks
    pt.map(BASE_VA, data.phys, size)
    punch()
    naive = NaiveTables(allocator)
    naive.map(BASE_VA, data.phys, size, SZ_2M)
    base = _time_once(naive_punch) / blocks
    _check_same(pt, naive, "split 2M")
    naive.free_all()
    pt.destroy()
    return _case("split 2M", ours, base, f"unmap 4 KiB inside a 2 MiB block (per split, {blocks} blocks)",
                 size, None, None)


def _case(name: str, ours: float, base: float, state: str, size: int, goal: str | None,
          met: bool | None) -> BenchCase:
    extra: dict[str, Any] = {"state": state, "per_gib": ours * SZ_1G / size}
    if met is not None:
        extra["goal_met"] = met
    return BenchCase(name, ours, base, "per-entry Python walk", goal, extra)
