"""The page-table core: 4-level AArch64 tables in DMA memory, written with NumPy.

Format as panthor programs it (io-pgtable ``ARM_64_LPAE_S1``, 4 KiB granule, 48-bit VA, 40-bit PA;
mali-csf-registers-and-mmu.md §4). Leaves are chosen automatically: a 1 GiB block at level 1 or a
2 MiB block at level 2 wherever VA, PA and the remaining size allow it, 4 KiB pages elsewhere.
panthor itself never uses 1 GiB blocks (its ``pgsize_bitmap`` is 4K | 2M); here they are an option,
on by default, and ``blocks_1g=False`` gives panthor's exact layout.

Every change is prepared first (:class:`~uio_driver.mmu.update.PtUpdate`): argument checks, the
allow-list, overlap detection and table allocation happen before any live descriptor is written, so
a refused map or unmap leaves the tables and the DMA allocator exactly as they were. Unmapping part
of a block splits it into the next level (the rest stays mapped with the same PA and flags);
a table left without valid entries is freed and its parent entry cleared. Freed pages return to the
pool only on :meth:`PageTable.reclaim`, after the GPU caches and TLBs were flushed (§4.7: "freed table
pages are only reused after the flush").

Invariant: every table linked below the root holds at least one valid descriptor.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

import numpy as np

from ..errors import BadAddress, InvalidArgument, MaliError
from ..platform.dma import DmaAllocator
from . import walk as _walk
from .pte import (
    ENTRIES,
    PA_BITS,
    PAGE_SIZE,
    PTE_ADDR_MASK,
    PTE_TYPE_BLOCK,
    PTE_TYPE_MASK,
    PTE_TYPE_PAGE,
    PTE_TYPE_TABLE,
    SZ_1G,
    SZ_2M,
    VA_BITS,
    DescriptorKind,
    MappedRange,
    Prot,
    Translation,
    WalkStep,
    check_prot,
    descriptor_kind,
    leaf_attrs,
    level_shift,
    output_address,
    table_span,
    va_index,
)
from .tablepool import PageRef, TablePool
from .update import PtUpdate

_ONE = np.uint64(1)
#: Leaf level for each leaf size.
LEAF_LEVEL = {PAGE_SIZE: 3, SZ_2M: 2, SZ_1G: 1}


class Table:
    """One table page in the shadow tree: its level, the VA it covers and its 512 descriptors."""

    __slots__ = ("children", "entries", "level", "page", "phys", "slab", "va")

    def __init__(self, level: int, va: int, ref: PageRef) -> None:
        self.slab, self.page = ref
        self.level = level
        self.va = va
        self.phys = self.slab.page_phys(self.page)
        self.entries: np.ndarray = self.slab.entries(self.page)
        #: Child tables by entry index (levels 0-2; always empty at level 3).
        self.children: dict[int, Table] = {}


@dataclass(frozen=True)
class TableInfo:
    """Where one table page is and what it covers."""

    level: int
    va: int
    phys: int


def _check_int(label: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{label} must be an integer, got {value!r}")
    return value


def leaf_segments(va: int, pa: int, size: int, sizes: tuple[int, ...]) -> list[tuple[int, int, int]]:
    """Split ``[va, va+size)`` into runs of equal leaves, largest first (greedy like io-pgtable).

    Args:
        sizes: allowed leaf sizes, largest first (always ending in 4 KiB); a size is only used where
            VA and PA are both aligned to it.

    Returns:
        ``(leaf_size, va, count)`` runs in VA order (at most five).
    """
    usable = [s for s in sizes if (va - pa) % s == 0]
    end = va + size
    cur = va
    out: list[tuple[int, int, int]] = []
    while cur < end:
        leaf = next(s for s in usable if cur % s == 0 and cur + s <= end)
        count = (end - cur) // leaf
        for bigger in usable:
            if bigger <= leaf:
                break
            boundary = -(-cur // bigger) * bigger
            if boundary + bigger <= end:
                count = min(count, (boundary - cur) // leaf)
        out.append((leaf, cur, count))
        cur += count * leaf
    return out


def _runs(tables: list[tuple[int, Table]]) -> list[tuple[int, Table, int]]:
    """Group ``(index, table)`` pairs (ascending indices) into runs of consecutive indices whose
    tables are consecutive pages of one slab: ``(first index, first table, length)``."""
    out: list[tuple[int, Table, int]] = []
    prev: Table | None = None
    prev_j = -2
    for j, table in tables:
        if prev is not None and j == prev_j + 1 and table.slab is prev.slab and table.page == prev.page + 1:
            first_j, first, n = out[-1]
            out[-1] = (first_j, first, n + 1)
        else:
            out.append((j, table, 1))
        prev, prev_j = table, j
    return out


class PageTable:
    """A GPU address space's translation tables (one level-0 table and everything below it).

    Args:
        allocator: DMA allocator of the carveout; mapped PAs must lie in its live allocations.
        pool: table-page pool (shared by all VMs of one GPU so no VM can map another's tables).
        blocks_2m: use 2 MiB blocks where possible (panthor does).
        blocks_1g: use 1 GiB blocks where possible (panthor does not; documented option).
        name: label used in messages.

    Raises:
        OutOfMemory: no DMA memory for the level-0 table.
    """

    def __init__(self, allocator: DmaAllocator, *, pool: TablePool | None = None, blocks_2m: bool = True,
                 blocks_1g: bool = True, name: str = "page table") -> None:
        self.pool = pool if pool is not None else TablePool(allocator)
        if self.pool.allocator is not allocator:
            raise InvalidArgument(f"{name}: the table pool uses a different DMA allocator")
        self.allocator = allocator
        self.blocks_2m = blocks_2m
        self.blocks_1g = blocks_1g
        self.name = name
        self.root = Table(0, 0, self.pool.alloc(1, zero=True)[0])
        self.tables: dict[int, Table] = {self.root.phys: self.root}
        #: VA ranges ``(va, size)`` changed since the last :meth:`take_dirty`.
        self.dirty: list[tuple[int, int]] = []
        self._reclaim: list[PageRef] = []
        self.destroyed = False

    @property
    def root_pa(self) -> int:
        """Physical address of the level-0 table (the AS's TRANSTAB)."""
        return self.root.phys

    # -- map ----------------------------------------------------------------------------------

    def map(self, va: int, pa: int, size: int, prot: int = Prot.NONE, *,
            max_block: int | None = None) -> tuple[int, int]:
        """Map ``[va, va+size)`` to the physically contiguous ``[pa, pa+size)``.

        Returns:
            The dirty ``(va, size)`` range (see :attr:`PtUpdate.range`).

        Raises:
            See :meth:`prepare_map`.
        """
        result = self.prepare_map(va, pa, size, prot, max_block=max_block).commit()
        return result if result is not None else (va, size)

    def prepare_map(self, va: int, pa: int, size: int, prot: int = Prot.NONE, *,
                    max_block: int | None = None) -> PtUpdate:
        """Check and allocate everything for a map; nothing live is written until ``commit()``.

        Args:
            va, pa, size: 4 KiB aligned; ``[pa, pa+size)`` inside one live DMA allocation.
            prot: :class:`Prot` flags (READONLY, NOEXEC, UNCACHED).
            max_block: largest leaf to use (4 KiB, 2 MiB or 1 GiB); None = as configured.

        Raises:
            InvalidArgument: bad alignment, size, flags or ``max_block``; VA outside 48 bits or PA
                outside 40 bits; overlap with an existing mapping (errno EEXIST, like io-pgtable).
            BadAddress: the physical range is not inside one live DMA allocation, or is page-table
                memory (the allow-list: no descriptor may point anywhere else).
            OutOfMemory: no DMA memory for the tables needed.
        """
        flags = self._check_map(va, pa, size, prot)
        sizes = self._leaf_sizes(max_block)
        hit = self._first_mapped(self.root, va, va + size)
        if hit is not None:
            raise InvalidArgument(f"{self.name}: VA range [{va:#x}, {va + size:#x}) overlaps an existing "
                                  f"mapping at {hit:#x}", errno=errno.EEXIST, value=hit)
        txn = PtUpdate(self, "map", va, size)
        txn.dirty(va, va + size)
        try:
            for leaf, seg_va, count in leaf_segments(va, pa, size, sizes):
                level = LEAF_LEVEL[leaf]
                self._plan_leaves(txn, level, seg_va, count, pa + (seg_va - va), leaf_attrs(flags, level))
        except MaliError:
            txn.rollback()
            raise
        return txn

    def _check_map(self, va: int, pa: int, size: int, prot: int) -> Prot:
        self._check_live()
        for label, v in (("VA", va), ("PA", pa), ("size", size)):
            _check_int(f"{self.name}: {label}", v)
        flags = check_prot(prot)
        self._check_range(va, size)
        if pa % PAGE_SIZE or pa < 0:
            raise InvalidArgument(f"{self.name}: PA {pa:#x} is not 4 KiB aligned")
        if pa + size > 1 << PA_BITS:
            raise InvalidArgument(f"{self.name}: PA range [{pa:#x}, {pa + size:#x}) exceeds the GPU's "
                                  f"{PA_BITS}-bit physical address space")
        if self.allocator.find(pa, size) is None:
            raise BadAddress(f"{self.name}: PA range [{pa:#x}, {pa + size:#x}) is not inside one live DMA "
                             f"allocation of {self.allocator.name}; the GPU may only reach memory the "
                             "driver allocated", offset=pa)
        if self.pool.owns(pa, size):
            raise BadAddress(f"{self.name}: PA range [{pa:#x}, {pa + size:#x}) is page-table memory and "
                             "is never mapped into a GPU address space", offset=pa)
        return flags

    def _check_range(self, va: int, size: int) -> None:
        if size <= 0 or size % PAGE_SIZE:
            raise InvalidArgument(f"{self.name}: size {size:#x} is not a positive multiple of 4 KiB")
        if va % PAGE_SIZE or va < 0:
            raise InvalidArgument(f"{self.name}: VA {va:#x} is not 4 KiB aligned")
        if va + size > 1 << VA_BITS:
            raise InvalidArgument(f"{self.name}: VA range [{va:#x}, {va + size:#x}) exceeds the "
                                  f"{VA_BITS}-bit GPU VA space")

    def _leaf_sizes(self, max_block: int | None) -> tuple[int, ...]:
        if max_block is not None and max_block not in LEAF_LEVEL:
            raise InvalidArgument(f"{self.name}: max_block {max_block!r} must be 4 KiB, 2 MiB or 1 GiB")
        cap = SZ_1G if max_block is None else max_block
        sizes = [s for s, on in ((SZ_1G, self.blocks_1g), (SZ_2M, self.blocks_2m)) if on and s <= cap]
        return (*sizes, PAGE_SIZE)

    def _first_mapped(self, table: Table, lo: int, hi: int) -> int | None:
        """Lowest VA in ``[lo, hi)`` that some leaf maps, or None (vector scan per level)."""
        shift = level_shift(table.level)
        i0 = (lo - table.va) >> shift
        i1 = ((hi - 1 - table.va) >> shift) + 1
        for k in np.flatnonzero(table.entries[i0:i1] & _ONE).tolist():
            i = i0 + k
            e_lo = table.va + (i << shift)
            child = table.children.get(i)
            if child is None:
                return max(lo, e_lo)
            found = self._first_mapped(child, max(lo, e_lo), min(hi, e_lo + (1 << shift)))
            if found is not None:
                return found
        return None

    def _plan_leaves(self, txn: PtUpdate, level: int, va: int, count: int, pa: int, attrs: int) -> None:
        """Record ``count`` leaves of ``level`` from ``va``, creating the tables they need."""
        pspan = table_span(level - 1)
        end = va + (count << level_shift(level))
        cur = va
        while cur < end:
            stop = min(end, (cur // pspan + 1) * pspan)
            parent = self._ensure_table(txn, level - 1, cur)
            self._fill_leaf_tables(txn, parent, cur, stop, pa + (cur - va), attrs)
            cur = stop

    def _ensure_table(self, txn: PtUpdate, level: int, va: int) -> Table:
        """The level-``level`` table covering ``va``, creating missing ones (zeroed) on the way."""
        table = self.root
        while table.level < level:
            index = va_index(va, table.level)
            child = table.children.get(index)
            if child is None:
                child_va = va & ~(table_span(table.level + 1) - 1)
                child = Table(table.level + 1, child_va, txn.alloc(1, zero=True)[0])
                txn.new_table(child, table, index)
                txn.fill(table, index, 1, child.phys | PTE_TYPE_TABLE, 0)
            table = child
        return table

    def _fill_leaf_tables(self, txn: PtUpdate, parent: Table, lo: int, hi: int, pa: int, attrs: int) -> None:
        """Leaves for ``[lo, hi)`` in the children of ``parent``.

        Missing children are taken as one run of consecutive slab pages, so the leaves of a whole run
        (and the table descriptors pointing at it) are each written by one vector expression.
        """
        level = parent.level + 1
        shift = level_shift(level)
        tspan = table_span(level)
        j0 = va_index(lo, parent.level)
        j1 = va_index(hi - 1, parent.level) + 1
        children = parent.children
        missing = [j for j in range(j0, j1) if j not in children]
        created = [(j, Table(level, parent.va + j * tspan, ref))
                   for j, ref in zip(missing, txn.alloc(len(missing), zero=False), strict=True)]
        for _, table in created[:1] + created[-1:]:
            if not (lo <= table.va and table.va + tspan <= hi):
                table.slab.zero_page(table.page)  # partly filled: the rest must read invalid
        txn.new_tables(parent, created)
        for j, table, n in _runs(created):
            txn.fill(parent, j, n, table.phys | PTE_TYPE_TABLE, PAGE_SIZE)
        for _j, table, n in _runs([(j, children[j]) for j in range(j0, j1)]):
            t_lo = max(lo, table.va)
            t_hi = min(hi, table.va + n * tspan)
            txn.fill(table, (t_lo - table.va) >> shift, (t_hi - t_lo) >> shift, (pa + t_lo - lo) | attrs,
                     1 << shift)

    # -- unmap --------------------------------------------------------------------------------

    def unmap(self, va: int, size: int) -> tuple[int, int] | None:
        """Unmap ``[va, va+size)``; unmapped parts of the range are simply skipped.

        Returns:
            The dirty ``(va, size)`` range, or None when nothing was mapped there.

        Raises:
            See :meth:`prepare_unmap`.
        """
        return self.prepare_unmap(va, size).commit()

    def prepare_unmap(self, va: int, size: int) -> PtUpdate:
        """Check and allocate everything for an unmap (block splits need new tables).

        Raises:
            InvalidArgument: bad alignment or size, range outside the 48-bit VA space.
            OutOfMemory: no DMA memory for the tables a block split needs.
        """
        self._check_live()
        _check_int(f"{self.name}: VA", va)
        _check_int(f"{self.name}: size", size)
        self._check_range(va, size)
        txn = PtUpdate(self, "unmap", va, size)
        try:
            self._unmap_in(txn, self.root, va, va + size)
        except MaliError:
            txn.rollback()
            raise
        return txn

    def _unmap_in(self, txn: PtUpdate, table: Table, lo: int, hi: int) -> bool:
        """Record the unmap of ``[lo, hi)`` inside ``table``; True if the table is left empty."""
        shift = level_shift(table.level)
        i0 = (lo - table.va) >> shift
        i1 = ((hi - 1 - table.va) >> shift) + 1
        entries = table.entries
        head = lo > table.va + (i0 << shift)
        tail = hi < table.va + (i1 << shift)
        removed = 0
        if i1 - i0 > 2:
            valid = np.flatnonzero(entries[i0 + head:i1 - tail] & _ONE) + (i0 + head)
            if valid.size:
                self._clear_run(txn, table, valid)
                removed = int(valid.size)
        else:  # one or two entries (a walk down to a small range): scalar reads are cheaper
            for i in range(i0 + head, i1 - tail):
                if int(entries[i]) & 1:
                    self._clear_run(txn, table, np.array([i]))
                    removed += 1
        for i in sorted(({i0} if head else set()) | ({i1 - 1} if tail else set())):
            if int(entries[i]) & 1:
                e_lo = table.va + (i << shift)
                removed += self._unmap_edge(txn, table, i, max(lo, e_lo), min(hi, e_lo + (1 << shift)))
        return removed > 0 and table is not self.root and removed == int(np.count_nonzero(entries & _ONE))

    def _clear_run(self, txn: PtUpdate, table: Table, valid: np.ndarray) -> None:
        """Clear the wholly covered valid entries ``valid`` (ascending) and free the tables below them."""
        first, last = int(valid[0]), int(valid[-1])
        txn.fill(table, first, last - first + 1, 0, 0)
        txn.dirty_entries(table, first, last - first + 1)
        if table.children:
            for i in valid.tolist():
                if i in table.children:
                    self._release_subtree(txn, txn.unlink(table, i))

    def _unmap_edge(self, txn: PtUpdate, table: Table, index: int, lo: int, hi: int) -> int:
        """A partly covered entry: recurse into its table or split its block. Returns 1 if removed."""
        desc = int(table.entries[index])
        kind = descriptor_kind(desc, table.level)
        if kind is DescriptorKind.TABLE:
            child = table.children[index]
            if self._unmap_in(txn, child, lo, hi):
                txn.fill(table, index, 1, 0, 0)
                txn.dirty_entries(table, index)
                txn.release(txn.unlink(table, index))
                return 1
        elif kind is DescriptorKind.BLOCK:
            self._split(txn, table, index, desc, lo, hi)
        return 0

    def _split(self, txn: PtUpdate, parent: Table, index: int, desc: int, lo: int, hi: int) -> Table:
        """Replace the block ``parent[index]`` by a table of the next level mapping the same PA and
        flags everywhere except ``[lo, hi)`` (partly covered 2 MiB sub-blocks are split again)."""
        level = parent.level + 1
        shift = level_shift(level)
        block_va = parent.va + (index << level_shift(parent.level))
        pa0 = output_address(desc, parent.level)
        attrs = desc & ~PTE_ADDR_MASK & ~PTE_TYPE_MASK | (PTE_TYPE_PAGE if level == 3 else PTE_TYPE_BLOCK)
        table = Table(level, block_va, txn.alloc(1, zero=False)[0])
        txn.new_table(table, parent, index)
        k0 = (lo - block_va) >> shift
        k1 = ((hi - 1 - block_va) >> shift) + 1
        txn.fill(table, 0, k0, pa0 | attrs, 1 << shift)
        txn.fill(table, k1, ENTRIES - k1, (pa0 + (k1 << shift)) | attrs, 1 << shift)
        head = lo > block_va + (k0 << shift)
        tail = hi < block_va + (k1 << shift)
        txn.fill(table, k0 + head, k1 - tail - k0 - head, 0, 0)
        for k in sorted(({k0} if head else set()) | ({k1 - 1} if tail else set())):
            k_lo = block_va + (k << shift)
            k_hi = k_lo + (1 << shift)
            self._split(txn, table, k, (pa0 + (k << shift)) | attrs, max(lo, k_lo), min(hi, k_hi))
        txn.fill(parent, index, 1, table.phys | PTE_TYPE_TABLE, 0)
        txn.dirty_entries(parent, index)
        return table

    def _release_subtree(self, txn: PtUpdate, table: Table) -> None:
        txn.release(table)
        for child in table.children.values():
            self._release_subtree(txn, child)

    # -- bookkeeping ----------------------------------------------------------------------------

    def retire(self, table: Table) -> None:
        """Called by a committed update: ``table`` is unreachable; free its page on :meth:`reclaim`."""
        del self.tables[table.phys]
        self._reclaim.append((table.slab, table.page))

    def reclaim(self) -> int:
        """Return pages of tables removed by committed unmaps to the pool (after the GPU flush).

        Returns:
            Number of pages returned.
        """
        pages, self._reclaim = self._reclaim, []
        self.pool.free(pages)
        return len(pages)

    @property
    def pending_reclaim(self) -> int:
        return len(self._reclaim)

    def take_dirty(self) -> list[tuple[int, int]]:
        """The dirty ranges recorded since the last call (and forget them)."""
        ranges, self.dirty = self.dirty, []
        return ranges

    def table_pages(self) -> list[TableInfo]:
        """Every live table page, by level then VA."""
        return sorted((TableInfo(t.level, t.va, t.phys) for t in self.tables.values()),
                      key=lambda t: (t.level, t.va))

    def destroy(self) -> None:
        """Free every table page (the caller made sure no AS uses these tables any more)."""
        if self.destroyed:
            return
        pages = [(t.slab, t.page) for t in self.tables.values()] + self._reclaim
        self.tables.clear()
        self._reclaim = []
        self.destroyed = True
        self.pool.free(pages)

    def _check_live(self) -> None:
        if self.destroyed:
            raise InvalidArgument(f"{self.name}: page table used after destroy()")

    # -- reading ----------------------------------------------------------------------------------

    def read_table(self, table_pa: int) -> np.ndarray:
        """The descriptors of the table at ``table_pa`` (a :data:`~uio_driver.mmu.walk.TableReader`)."""
        table = self.tables.get(table_pa)
        if table is None:
            raise BadAddress(f"{self.name}: no table page at {table_pa:#x}", offset=table_pa)
        return table.entries

    def translate(self, va: int) -> Translation:
        """Translate ``va`` (see :func:`uio_driver.mmu.walk.translate`).

        Raises:
            InvalidArgument: ``va`` is not a 48-bit address.
            BadAddress: ``va`` is not mapped (EFAULT).
        """
        return _walk.translate(self.read_table, self.root.phys, va)

    def walk(self, va: int) -> list[WalkStep]:
        """The descriptor at each level for ``va`` (see :func:`uio_driver.mmu.walk.walk`)."""
        return _walk.walk(self.read_table, self.root.phys, va)

    def dump(self) -> list[MappedRange]:
        """Every mapping, coalesced (see :func:`uio_driver.mmu.walk.dump`)."""
        return _walk.dump(self.read_table, self.root.phys)
