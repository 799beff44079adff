"""The driver's GPU memory layer: page tables (NumPy), address spaces, VMs and MMU faults.

Layout (mali-csf-registers-and-mmu.md §3-§5):

* :mod:`.pte` — descriptor bits, :class:`Prot` flags, geometry;
* :mod:`.tablepool` — table pages in DMA slabs; :mod:`.update` — prepared, all-or-nothing changes;
* :mod:`.pagetable` — :class:`PageTable` (map/unmap/translate/walk/dump); :mod:`.walk` — readers;
* :mod:`.lockregion` — AS_LOCKADDR packing; :mod:`.address_space` — one AS at register level;
* :mod:`.vm` — :class:`VM` and VA layouts; :mod:`.faults` — :class:`MmuFault`;
* :mod:`.manager` — :class:`Mmu`: slots (AS0 = MCU, LRU for the rest), updates, MMU IRQ.

Typical use::

    mmu = Mmu(gpu)                       # after identify/reset/L2 (bring-up stage "mmu")
    mmu.enable_interrupts()
    vm = mmu.create_vm()
    buf = platform.dma_allocator().alloc(2 << 20, align=2 << 20)
    vm.map(buf, 0x1000000, flags=Prot.NOEXEC)
    as_nr = mmu.activate(vm)             # TRANSTAB/MEMATTR/TRANSCFG + UPDATE
"""

from __future__ import annotations

from .address_space import AddressSpace, FlushMode
from .faults import MmuFault, decode_fault
from .lockregion import LockRegion, pack_region_range
from .manager import Mmu
from .pagetable import PageTable, TableInfo, leaf_segments
from .pte import (
    PAGE_SIZE,
    SZ_1G,
    SZ_2M,
    DescriptorKind,
    MappedRange,
    Prot,
    Translation,
    WalkStep,
    leaf_descriptor,
    table_descriptor,
    va_index,
)
from .tablepool import TablePool
from .update import PtUpdate
from .vm import VM, VaLayout, mcu_vm_layout, user_vm_layout

__all__ = [
    "PAGE_SIZE",
    "SZ_1G",
    "SZ_2M",
    "VM",
    "AddressSpace",
    "DescriptorKind",
    "FlushMode",
    "LockRegion",
    "MappedRange",
    "Mmu",
    "MmuFault",
    "PageTable",
    "Prot",
    "PtUpdate",
    "TableInfo",
    "TablePool",
    "Translation",
    "VaLayout",
    "WalkStep",
    "decode_fault",
    "leaf_descriptor",
    "leaf_segments",
    "mcu_vm_layout",
    "pack_region_range",
    "table_descriptor",
    "user_vm_layout",
    "va_index",
]
