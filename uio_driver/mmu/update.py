"""A prepared page-table change: every check and allocation done, no live descriptor written yet.

:class:`PtUpdate` is what makes map/unmap all-or-nothing and lets the address-space layer lock the
right VA region *before* descriptors change (P3 ordering, mali-csf-registers-and-mmu.md §4.7):

1. *prepare* (in :class:`~uio_driver.mmu.pagetable.PageTable`): validate, allocate table pages, record
   descriptor writes as arithmetic progressions (:class:`Fill`) and shadow-tree changes with undo
   steps. Any error rolls back: pages return to the pool, the shadow tree is restored, memory is
   untouched, so the DMA allocator and every table byte are exactly as before.
2. *commit* (cannot fail): write the descriptors of new, still unreachable tables, make them visible
   (``sync_for_device``), then write descriptors in live tables and make those visible — io-pgtable's
   order: new tables are visible before the table descriptor pointing at them (§4.7).

Writes are merged when they continue each other in one slab, so 1 GiB of 4 KiB pages whose tables are
consecutive slab pages is one NumPy expression of 262,144 descriptors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InvalidArgument
from .pte import ENTRIES, level_shift
from .tablepool import PageRef, Slab

if TYPE_CHECKING:
    from .pagetable import PageTable, Table

_U64 = np.uint64
_arange = np.arange(0, dtype=np.uint64)


def _indices(count: int) -> np.ndarray:
    """``0..count-1`` as uint64 from a cached array (no allocation on the hot path)."""
    global _arange
    if _arange.size < count:
        _arange = np.arange(1 << max(count - 1, 1).bit_length(), dtype=np.uint64)
    return _arange[:count]


@dataclass
class Fill:
    """Descriptors ``slab.u64[start + i] = value + i * step`` for ``i`` in ``0..count-1``."""

    slab: Slab
    start: int
    count: int
    value: int
    step: int

    def extend(self, other: Fill) -> bool:
        """Absorb ``other`` if it continues this progression in the same slab."""
        if other.slab is not self.slab or other.start != self.start + self.count:
            return False
        if self.count == 1 and other.value >= self.value:
            step = other.value - self.value
        else:
            step = self.step
        if other.value != self.value + self.count * step or (other.count > 1 and other.step != step):
            return False
        self.step = step
        self.count += other.count
        return True

    def execute(self, device_memory: bool) -> None:
        dst = self.slab.u64[self.start:self.start + self.count]
        if self.count == 1:
            dst[0] = self.value
        elif self.step == 0 and not device_memory:
            dst.fill(self.value)
        else:
            # Element-wise ufuncs with out=: no temporaries, and never a memset (Device memory).
            np.multiply(_indices(self.count), _U64(self.step), out=dst)
            np.add(dst, _U64(self.value), out=dst)
        self.slab.sync(self.start, self.count)


class PtUpdate:
    """One prepared map or unmap of a :class:`~uio_driver.mmu.pagetable.PageTable`.

    Attributes:
        kind: ``"map"`` or ``"unmap"``.
        va: first VA of the request.
        size: bytes requested.
        state: ``"prepared"``, ``"committed"`` or ``"rolled back"``.
    """

    def __init__(self, pt: PageTable, kind: str, va: int, size: int) -> None:
        self.pt = pt
        self.kind = kind
        self.va = va
        self.size = size
        self.state = "prepared"
        self._pages: list[PageRef] = []
        self._new: set[int] = set()
        self._fills: dict[tuple[bool, int], list[Fill]] = {}
        self._undo: list[Callable[[], None]] = []
        self._released: list[Table] = []
        self._lo: int | None = None
        self._hi = 0

    # -- recording (prepare phase) ---------------------------------------------------------------

    def alloc(self, count: int, *, zero: bool) -> list[PageRef]:
        """Table pages for this update (returned to the pool on rollback)."""
        pages = self.pt.pool.alloc(count, zero=zero)
        self._pages.extend(pages)
        return pages

    def new_table(self, table: Table, parent: Table, index: int) -> None:
        """Record a table created by this update and hook it into the shadow tree."""
        self.new_tables(parent, [(index, table)])

    def new_tables(self, parent: Table, created: list[tuple[int, Table]]) -> None:
        """Record tables created by this update as ``parent``'s children ``(index, table)``."""
        children = parent.children
        tables = self.pt.tables
        for index, table in created:
            children[index] = table
            tables[table.phys] = table
            self._new.add(id(table))

        def undo() -> None:
            for index, table in created:
                del children[index]
                del tables[table.phys]
        self._undo.append(undo)

    def unlink(self, parent: Table, index: int) -> Table:
        """Detach a child table from the shadow tree (descriptor write recorded separately)."""
        children = parent.children
        child = children.pop(index)
        self._undo.append(lambda: children.__setitem__(index, child))
        return child

    def release(self, table: Table) -> None:
        """Free ``table`` once this update is committed (pages are reused only after the flush)."""
        self._released.append(table)

    def fill(self, table: Table, index: int, count: int, value: int, step: int) -> None:
        """Record ``table[index + i] = value + i*step``; merged with the previous write if contiguous.

        ``index + count`` may pass 512 when the following tables are the next pages of the same slab
        and cover the following VA (a run of tables filled as one array).
        """
        if count <= 0:
            return
        fill = Fill(table.slab, table.page * ENTRIES + index, count, value, step)
        key = (id(table) in self._new, table.level)
        fills = self._fills.setdefault(key, [])
        if not (fills and fills[-1].extend(fill)):
            fills.append(fill)

    def dirty(self, lo: int, hi: int) -> None:
        """Record that translations of ``[lo, hi)`` change (widens :attr:`range`)."""
        self._lo = lo if self._lo is None else min(self._lo, lo)
        self._hi = max(self._hi, hi)

    def dirty_entries(self, table: Table, index: int, count: int = 1) -> None:
        """Record that the VA spans of ``table[index:index+count]`` change (valid descriptors rewritten)."""
        shift = level_shift(table.level)
        self.dirty(table.va + (index << shift), table.va + ((index + count) << shift))

    # -- outcome ----------------------------------------------------------------------------------

    @property
    def range(self) -> tuple[int, int] | None:
        """``(va, size)`` of the VA whose translation changes — what must be locked and flushed —
        or None when nothing changes.

        A map covers the mapped range: descriptors that were invalid cannot be cached, so linking a new
        table into a bigger invalid span needs no more. An unmap covers the span of every *valid*
        descriptor it rewrites: replacing a 2 MiB block by a table covers the whole 2 MiB even when
        only 4 KiB are unmapped (TLBs may hold the block for all of it), clearing the entry of a table
        left empty covers the entry's span (walk caches may hold it).
        """
        return None if self._lo is None else (self._lo, self._hi - self._lo)

    @property
    def writes(self) -> int:
        """Number of merged write operations (vector expressions) this update performs."""
        return sum(len(f) for f in self._fills.values())

    def commit(self) -> tuple[int, int] | None:
        """Write everything; new tables first, then live ones (cannot fail).

        Returns:
            The dirty ``(va, size)`` range (also appended to the page table's dirty list), or None.

        Raises:
            InvalidArgument: the update was already committed or rolled back.
        """
        self._check_prepared()
        device = self.pt.pool.allocator.device_memory
        for new in (True, False):
            # Deepest level first inside each group; groups are independent except new-before-live.
            for key in sorted((k for k in self._fills if k[0] is new), key=lambda k: -k[1]):
                for fill in self._fills[key]:
                    fill.execute(device)
        for table in self._released:
            self.pt.retire(table)
        self.state = "committed"
        if self.range is not None:
            self.pt.dirty.append(self.range)
        return self.range

    def rollback(self) -> None:
        """Undo the prepare phase: shadow tree restored, pages returned; no live table was written."""
        self._check_prepared()
        for undo in reversed(self._undo):
            undo()
        self.pt.pool.free(self._pages)
        self.state = "rolled back"

    def _check_prepared(self) -> None:
        if self.state != "prepared":
            raise InvalidArgument(f"page-table {self.kind} at {self.va:#x}: update already {self.state}")
