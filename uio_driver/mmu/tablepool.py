"""Table pages: 4 KiB page-table pages carved out of DMA memory in slabs.

A *slab* is one :class:`~uio_driver.platform.dma.DmaBuffer` of one or more pages. The tables for a
contiguous VA range are taken as consecutive pages of one slab, so their descriptors form one NumPy
``uint64`` array and 1 GiB of 4 KiB pages is filled by a single vectorised expression (the peers
document's Part C2 numbers assume exactly that layout).

Freed pages go back to their slab; a slab whose pages are all free is returned to the
:class:`~uio_driver.platform.dma.DmaAllocator`. Allocation is all-or-nothing: a request that cannot
be met gives back what it took, so the allocator's :meth:`~DmaAllocator.state` is unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from ..errors import InvalidArgument, MaliError, OutOfMemory
from ..platform.dma import DmaAllocator, DmaBuffer
from .pte import ENTRIES, PAGE_SIZE


class Slab:
    """One DMA buffer holding ``pages`` consecutive table pages.

    Attributes:
        buffer: the DMA allocation.
        phys: its physical address (page 0).
        u64: the whole buffer as ``uint64`` descriptors (512 per page).
        free: indices of pages not in use.
        used: number of pages in use.
    """

    __slots__ = ("buffer", "free", "pages", "phys", "u64", "used")

    def __init__(self, buffer: DmaBuffer) -> None:
        self.buffer = buffer
        self.phys = buffer.phys
        self.pages = buffer.size // PAGE_SIZE
        self.u64: np.ndarray = buffer.array(np.uint64)
        self.free: list[int] = []
        self.used = self.pages

    def page_phys(self, index: int) -> int:
        return self.phys + index * PAGE_SIZE

    def entries(self, index: int) -> np.ndarray:
        """The 512 descriptors of page ``index`` (a view)."""
        return self.u64[index * ENTRIES:(index + 1) * ENTRIES]

    def zero_page(self, index: int) -> None:
        # DmaBuffer.zero is safe on Device memory (no memset / DC ZVA).
        self.buffer.zero(index * PAGE_SIZE, PAGE_SIZE)

    def sync(self, first_entry: int, count: int) -> None:
        """Make CPU writes of ``count`` descriptors from ``first_entry`` visible to the GPU."""
        self.buffer.sync_for_device(first_entry * 8, count * 8)


#: A table page handle: (slab, page index in the slab).
PageRef = tuple[Slab, int]


class TablePool:
    """Allocates table pages for any number of page tables sharing one DMA allocator.

    Sharing one pool between all the VMs of a GPU lets the allow-list refuse mapping any table page
    into a GPU address space (:meth:`owns`): a GPU able to write its own tables could map anything.

    Args:
        allocator: the DMA allocator table pages come from.
        name: label used in messages.
    """

    def __init__(self, allocator: DmaAllocator, name: str = "page-table pool") -> None:
        self.allocator = allocator
        self.name = name
        self._slabs: dict[int, Slab] = {}
        #: Slabs with at least one free page, in the order pages were freed (oldest first).
        self._partial: dict[int, Slab] = {}

    # -- allocation -----------------------------------------------------------------------------

    def alloc(self, count: int, *, zero: bool = True) -> list[PageRef]:
        """Take ``count`` table pages; consecutive pages of one new slab when ``count > 1`` fits.

        Args:
            count: pages wanted (>= 0).
            zero: clear the pages (False when the caller writes all 512 entries itself).

        Returns:
            The pages, in slab order when they come from one slab.

        Raises:
            InvalidArgument: negative ``count``.
            OutOfMemory: not enough DMA memory; nothing is taken.
        """
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise InvalidArgument(f"{self.name}: cannot allocate {count!r} table pages")
        taken: list[PageRef] = []
        try:
            if count > 1:
                taken = self._alloc_run(count, zero)
            while len(taken) < count:
                taken.append(self._alloc_one(zero))
        except OutOfMemory as err:
            self.free(taken)
            raise OutOfMemory(f"{self.name}: cannot allocate {count} table page(s): {err.message}") from None
        return taken

    def _alloc_run(self, count: int, zero: bool) -> list[PageRef]:
        try:
            buf = self.allocator.alloc(count * PAGE_SIZE, name=f"{self.name} slab", zero=zero)
        except OutOfMemory:
            return []  # fall back to single pages (fragmented carveout)
        slab = self._adopt(buf)
        return [(slab, i) for i in range(count)]

    def _alloc_one(self, zero: bool) -> PageRef:
        for key, slab in self._partial.items():
            index = slab.free.pop()
            slab.used += 1
            if not slab.free:
                del self._partial[key]
            if zero:
                slab.zero_page(index)
            return slab, index
        buf = self.allocator.alloc(PAGE_SIZE, name=f"{self.name} page", zero=zero)
        return self._adopt(buf), 0

    def _adopt(self, buf: DmaBuffer) -> Slab:
        slab = Slab(buf)
        self._slabs[slab.phys] = slab
        return slab

    def free(self, pages: Iterable[PageRef]) -> None:
        """Give pages back; a slab with no page in use returns to the DMA allocator.

        Raises:
            InvalidArgument: a page that is not in use or given twice (nothing is freed).
        """
        pages = list(pages)
        seen: set[tuple[int, int]] = set()
        for slab, index in pages:
            key = (slab.phys, index)
            if (self._slabs.get(slab.phys) is not slab or index in slab.free or not 0 <= index < slab.pages
                    or key in seen):
                raise InvalidArgument(f"{self.name}: table page {slab.page_phys(index):#x} is not in use")
            seen.add(key)
        emptied: list[Slab] = []
        for slab, index in pages:
            slab.free.append(index)
            slab.used -= 1
            if slab.used == 0:
                emptied.append(slab)
            else:
                self._partial[slab.phys] = slab
        # Newest slabs first, so an all-or-nothing rollback leaves the allocator exactly as it was.
        for slab in reversed(emptied):
            self._release(slab)

    def _release(self, slab: Slab) -> None:
        self._partial.pop(slab.phys, None)
        del self._slabs[slab.phys]
        slab.buffer.free()

    # -- queries --------------------------------------------------------------------------------

    def owns(self, phys: int, size: int = 1) -> bool:
        """True when ``[phys, phys + size)`` overlaps any slab of this pool (page-table memory)."""
        return any(s.phys < phys + size and phys < s.phys + s.pages * PAGE_SIZE for s in self._slabs.values())

    def slabs(self) -> Iterator[Slab]:
        return iter(list(self._slabs.values()))

    @property
    def pages_in_use(self) -> int:
        return sum(s.used for s in self._slabs.values())

    @property
    def pages_free(self) -> int:
        return sum(len(s.free) for s in self._slabs.values())

    def close(self) -> None:
        """Return every slab to the allocator (the caller has made sure no AS still uses them)."""
        for slab in list(self._slabs.values()):
            try:
                self._release(slab)
            except MaliError:
                pass  # allocator already closed: its memory is gone anyway
