"""Reading page tables: walk one VA, translate it, or list every mapping (coalesced).

The functions take a *table reader* — ``read(table_pa) -> 512 uint64 descriptors`` — so the same code
walks the driver's own tables (:class:`~uio_driver.mmu.pagetable.PageTable`) and tables found by
physical address from TRANSTAB in the carveout (``mali-uio pt``). Walks follow the hardware's rules
(mali-csf-registers-and-mmu.md §4.1-§4.2): four levels from level 0, ``11`` = table (L0-L2) or page
(L3), ``01`` = block at L1/L2 only, anything else invalid.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import BadAddress, InvalidArgument
from .pte import (
    PAGE_SIZE,
    PTE_ADDR_MASK,
    PTE_TYPE_MASK,
    PTE_TYPE_PAGE,
    VA_BITS,
    DescriptorKind,
    MappedRange,
    Translation,
    WalkStep,
    descriptor_kind,
    entry_size,
    output_address,
    prot_of,
    va_index,
)

TableReader = Callable[[int], np.ndarray]

#: Tables one dump may visit before it gives up: 65536 tables = 256 MiB of descriptors, far more than
#: the carveout holds, so only corrupt (e.g. cyclic) tables reach it.
MAX_TABLES = 1 << 16


def check_va(va: int) -> None:
    """Refuse anything that is not a 48-bit virtual address.

    Raises:
        InvalidArgument: not an int in ``[0, 2^48)``.
    """
    if isinstance(va, bool) or not isinstance(va, int) or not 0 <= va < 1 << VA_BITS:
        shown = f"{va:#x}" if isinstance(va, int) and not isinstance(va, bool) else repr(va)
        raise InvalidArgument(f"virtual address {shown} is outside the {VA_BITS}-bit GPU VA space")


def walk(read: TableReader, root_pa: int, va: int) -> list[WalkStep]:
    """The descriptor read at each level for ``va``, stopping at the first non-table descriptor.

    Raises:
        InvalidArgument: ``va`` not a 48-bit address.
        BadAddress: a table address the reader cannot read.
    """
    check_va(va)
    steps: list[WalkStep] = []
    table_pa = root_pa
    for level in range(4):
        index = va_index(va, level)
        desc = int(read(table_pa)[index])
        kind = descriptor_kind(desc, level)
        steps.append(WalkStep(level, index, table_pa, desc, kind))
        if kind is not DescriptorKind.TABLE:
            break
        table_pa = desc & PTE_ADDR_MASK
    return steps


def leaf_of(steps: list[WalkStep], va: int) -> Translation | None:
    """The translation a walk ends in, or None when it ends at an invalid descriptor."""
    last = steps[-1]
    if last.kind not in (DescriptorKind.PAGE, DescriptorKind.BLOCK):
        return None
    size = entry_size(last.level)
    pa = output_address(last.descriptor, last.level) + (va & (size - 1))
    return Translation(va, pa, prot_of(last.descriptor), last.level, last.descriptor)


def translate(read: TableReader, root_pa: int, va: int) -> Translation:
    """Translate ``va`` like the GPU's walker would.

    Raises:
        InvalidArgument: ``va`` not a 48-bit address.
        BadAddress: ``va`` is not mapped (EFAULT; ``level`` = level of the invalid descriptor).
    """
    steps = walk(read, root_pa, va)
    found = leaf_of(steps, va)
    if found is None:
        last = steps[-1]
        raise BadAddress(f"GPU VA {va:#x} is not mapped (invalid descriptor {last.descriptor:#x} at level "
                         f"{last.level}, index {last.index})", value=va, level=last.level)
    return found


class _Coalescer:
    """Collects leaf runs in VA order and merges contiguous ones with equal attributes and size."""

    def __init__(self) -> None:
        self.ranges: list[list[int]] = []  # [va, pa, size, attrs, block_size]

    def add(self, va: int, pa: int, size: int, attrs: int, block: int) -> None:
        if self.ranges:
            last = self.ranges[-1]
            if (last[0] + last[2] == va and last[1] + last[2] == pa and last[3] == attrs
                    and last[4] == block):
                last[2] += size
                return
        self.ranges.append([va, pa, size, attrs, block])

    def result(self) -> list[MappedRange]:
        return [MappedRange(va, pa, size, prot_of(attrs), block)
                for va, pa, size, attrs, block in self.ranges]


def dump(read: TableReader, root_pa: int) -> list[MappedRange]:
    """Every mapping reachable from ``root_pa``, coalesced: adjacent VAs with contiguous PAs, the
    same attribute bits and the same leaf size form one :class:`MappedRange`.

    Raises:
        BadAddress: a table address the reader cannot read.
        InvalidArgument: more than :data:`MAX_TABLES` tables (corrupt or cyclic tables).
    """
    out = _Coalescer()
    budget = [MAX_TABLES]
    _dump_table(read, root_pa, 0, 0, out, budget)
    return out.result()


def _dump_table(read: TableReader, table_pa: int, level: int, base: int, out: _Coalescer,
                budget: list[int]) -> None:
    budget[0] -= 1
    if budget[0] < 0:
        raise InvalidArgument(f"page-table dump visited more than {MAX_TABLES} tables (corrupt or cyclic "
                              f"tables? last table at {table_pa:#x})")
    entries = read(table_pa)
    if level == 3:
        _dump_pages(entries, base, out)
        return
    size = entry_size(level)
    valid = np.flatnonzero(entries & np.uint64(1))
    for index in valid.tolist():
        desc = int(entries[index])
        kind = descriptor_kind(desc, level)
        va = base + index * size
        if kind is DescriptorKind.TABLE:
            _dump_table(read, desc & PTE_ADDR_MASK, level + 1, va, out, budget)
        elif kind is DescriptorKind.BLOCK:
            pa = output_address(desc, level)
            out.add(va, pa, size, desc & ~PTE_ADDR_MASK, size)


def _dump_pages(entries: np.ndarray, base: int, out: _Coalescer) -> None:
    """All pages of one level-3 table, coalesced with vector operations."""
    pages = np.flatnonzero((entries & np.uint64(PTE_TYPE_MASK)) == np.uint64(PTE_TYPE_PAGE))
    if pages.size == 0:
        return
    desc = entries[pages]
    pa = desc & np.uint64(PTE_ADDR_MASK)
    attrs = desc & ~np.uint64(PTE_ADDR_MASK)
    # A run breaks where the index, the PA or the attributes do not continue the previous page.
    breaks = np.flatnonzero((np.diff(pages) != 1) | (np.diff(pa) != PAGE_SIZE) | (np.diff(attrs) != 0)) + 1
    starts = np.concatenate(([0], breaks))
    ends = np.concatenate((breaks, [pages.size]))
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        out.add(base + int(pages[s]) * PAGE_SIZE, int(pa[s]), (e - s) * PAGE_SIZE, int(attrs[s]), PAGE_SIZE)

