"""Kernel objects in GPU memory: a DMA buffer mapped at an automatically chosen VA of a VM.

panthor allocates every object the GPU or the firmware must see on the driver's behalf with
``panthor_kernel_bo_create(..., PANTHOR_VM_KERNEL_AUTO_VA)`` (cs-isa-and-uapi.md §2.1):

* in a **user VM**, kernel objects (ring buffers, group sync objects, the tiler heap context pool and
  heap chunks) live in the VM's kernel VA range at the top of the address space (§3.7, see
  :func:`~uio_driver.mmu.vm.user_vm_layout`), which userspace never maps;
* in the **MCU VM**, objects the firmware reads (queue user I/O pages, CSG suspend buffers) get
  automatic VAs in ``0x04000000-0x08000000`` (``CSF_MCU_SHARED_REGION_START``/``_SIZE``,
  csf-firmware-and-interfaces.md §3.1), above the firmware's own sections (the shared section sits at
  its bottom and is reserved here).

:class:`KernelMemory` keeps one first-fit :class:`VaAllocator` per VM; :meth:`KernelMemory.alloc` is
all-or-nothing (a failed map frees the buffer and the VA) and :meth:`KernelBo.release` gives everything
back, so a create/destroy cycle leaves the DMA allocator and the VA allocators as they were.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np

from ..errors import InvalidArgument, MaliError, OutOfMemory
from ..mmu import VM, Prot
from ..platform.dma import DmaAllocator, DmaBuffer

PAGE_SIZE = 0x1000
#: The MCU VM window for automatically placed kernel objects (panthor CSF_MCU_SHARED_REGION_*, §3.1).
MCU_KERNEL_VA_START = 0x04000000
MCU_KERNEL_VA_END = 0x08000000


def align_up(value: int, align: int) -> int:
    """``value`` rounded up to a multiple of ``align`` (a power of two)."""
    return (value + align - 1) & ~(align - 1)


class VaAllocator:
    """First-fit allocator of page-aligned VA ranges inside ``[start, end)``.

    Args:
        start, end: the window (page aligned).
        name: label for messages.

    Raises:
        InvalidArgument: an empty or misaligned window.
    """

    def __init__(self, start: int, end: int, name: str) -> None:
        if start % PAGE_SIZE or end % PAGE_SIZE or end <= start:
            raise InvalidArgument(f"{name}: VA window [{start:#x}, {end:#x}) is empty or not page aligned")
        self.start, self.end, self.name = start, end, name
        #: Sorted, coalesced free extents as (start, size).
        self._free: list[tuple[int, int]] = [(start, end - start)]
        self._live: dict[int, int] = {}

    def alloc(self, size: int, align: int = PAGE_SIZE) -> int:
        """Reserve ``size`` bytes (rounded up to pages) at an ``align``-aligned VA.

        Raises:
            InvalidArgument: ``size`` not positive or ``align`` not a power-of-two page multiple.
            OutOfMemory: no free extent is large enough (nothing changes).
        """
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
            raise InvalidArgument(f"{self.name}: cannot reserve {size!r} bytes of VA")
        if align < PAGE_SIZE or align & (align - 1):
            raise InvalidArgument(f"{self.name}: VA alignment {align:#x} is not a power-of-two page multiple")
        size = align_up(size, PAGE_SIZE)
        for i, (base, length) in enumerate(self._free):
            va = align_up(base, align)
            if va + size > base + length:
                continue
            pieces = [(base, va - base)] if va > base else []
            if base + length > va + size:
                pieces.append((va + size, base + length - va - size))
            self._free[i:i + 1] = pieces
            self._live[va] = size
            return va
        raise OutOfMemory(f"{self.name}: no {size:#x}-byte VA range aligned to {align:#x} left in "
                          f"[{self.start:#x}, {self.end:#x})")

    def reserve(self, va: int, size: int) -> None:
        """Take ``[va, va + size)`` out of the free extents (an existing mapping); parts already taken
        or outside the window are ignored."""
        lo, hi = max(va, self.start), min(align_up(va + size, PAGE_SIZE), self.end)
        if lo >= hi:
            return
        out: list[tuple[int, int]] = []
        for base, length in self._free:
            end = base + length
            if end <= lo or base >= hi:
                out.append((base, length))
                continue
            if base < lo:
                out.append((base, lo - base))
            if end > hi:
                out.append((hi, end - hi))
        self._free = out

    def free(self, va: int) -> None:
        """Return the range reserved at ``va`` by :meth:`alloc`.

        Raises:
            InvalidArgument: ``va`` is not the start of a live range.
        """
        size = self._live.pop(va, None)
        if size is None:
            raise InvalidArgument(f"{self.name}: VA {va:#x} is not a live kernel allocation")
        starts = [b for b, _ in self._free]
        i = bisect.bisect_left(starts, va)
        self._free.insert(i, (va, size))
        self._merge(i)

    def _merge(self, i: int) -> None:
        if i + 1 < len(self._free) and sum(self._free[i]) == self._free[i + 1][0]:
            self._free[i:i + 2] = [(self._free[i][0], self._free[i][1] + self._free[i + 1][1])]
        if i > 0 and sum(self._free[i - 1]) == self._free[i][0]:
            self._free[i - 1:i + 1] = [(self._free[i - 1][0], self._free[i - 1][1] + self._free[i][1])]

    @property
    def live(self) -> dict[int, int]:
        """Live ranges, VA → size (a copy)."""
        return dict(self._live)

    def state(self) -> tuple[tuple[tuple[int, int], ...], tuple[int, ...]]:
        """A hashable snapshot for all-or-nothing checks."""
        return tuple(self._free), tuple(sorted(self._live))


@dataclass(eq=False)
class KernelBo:
    """One kernel object: ``buffer`` mapped at ``va`` in ``vm`` with ``flags``.

    Attributes:
        u64/u32: NumPy views of the whole buffer (CPU side; the carveout is coherent or uncached).
    """

    memory: KernelMemory = field(repr=False)
    vm: VM = field(repr=False)
    va: int
    buffer: DmaBuffer = field(repr=False)
    flags: Prot
    name: str
    released: bool = False
    u64: np.ndarray = field(init=False, repr=False)
    u32: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.u64 = self.buffer.array(np.uint64)
        self.u32 = self.buffer.array(np.uint32)

    @property
    def size(self) -> int:
        return self.buffer.size

    @property
    def end(self) -> int:
        return self.va + self.buffer.size

    def release(self) -> None:
        """Unmap, free the VA range and the DMA buffer (idempotent). A VM already destroyed has no
        mappings left to remove."""
        if self.released:
            return
        self.released = True
        self.memory.release(self)


class KernelMemory:
    """Kernel VA allocation and kernel objects for every VM of one device.

    Args:
        allocator: the carveout allocator the objects' memory comes from.
    """

    def __init__(self, allocator: DmaAllocator) -> None:
        self.allocator = allocator
        self._spaces: dict[int, VaAllocator] = {}

    def space(self, vm: VM) -> VaAllocator:
        """The VA allocator of ``vm``'s kernel range (the MCU window for the MCU VM)."""
        alloc = self._spaces.get(id(vm))
        if alloc is None:
            if vm.is_mcu:
                alloc = VaAllocator(MCU_KERNEL_VA_START, MCU_KERNEL_VA_END, "MCU VM kernel VA")
                for mapped in vm.dump():  # the firmware's own sections (shared section at the bottom)
                    alloc.reserve(mapped.va, mapped.size)
            else:
                alloc = VaAllocator(vm.layout.kernel_start, vm.layout.kernel_end, f"{vm.name} kernel VA")
            self._spaces[id(vm)] = alloc
        return alloc

    def forget(self, vm: VM) -> None:
        """Drop ``vm``'s VA allocator (the VM is being destroyed)."""
        self._spaces.pop(id(vm), None)

    def alloc(self, vm: VM, size: int, *, flags: Prot, name: str, align: int = PAGE_SIZE) -> KernelBo:
        """Allocate ``size`` bytes (zeroed), map them at an automatic kernel VA of ``vm``.

        Raises:
            InvalidArgument: bad size/alignment. OutOfMemory: no DMA memory, VA range or table pages
                (nothing is left allocated).
            MaliError: the MMU refused the mapping (nothing is left allocated).
        """
        space = self.space(vm)
        va = space.alloc(size, align)
        try:
            buf = self.allocator.alloc(align_up(size, PAGE_SIZE), name=name)
        except MaliError:
            space.free(va)
            raise
        try:
            vm.map(buf, va, flags=flags, kernel=not vm.is_mcu)
        except MaliError:
            buf.free()
            space.free(va)
            raise
        return KernelBo(self, vm, va, buf, Prot(flags), name)

    def release(self, bo: KernelBo) -> None:
        """Undo :meth:`alloc` (called by :meth:`KernelBo.release`)."""
        try:
            if not bo.vm.destroyed:
                bo.vm.unmap(bo.va, bo.buffer.size, kernel=not bo.vm.is_mcu)
        finally:
            space = self._spaces.get(id(bo.vm))
            if space is not None and bo.va in space.live:
                space.free(bo.va)
            if not bo.buffer.freed:
                bo.buffer.free()
