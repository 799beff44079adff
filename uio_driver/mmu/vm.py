"""GPU virtual address spaces (VMs): a page table, its VA layout, its mappings and its fault state.

User VMs are laid out as panthor's ``panthor_vm_create_check_args`` does (cs-isa-and-uapi.md §3.7):
with ``full = 2^va_bits``, the kernel range is ``rounddown_pow_of_two(full - user_range)`` at the top
and the user range is everything below it. The MCU (firmware) VM spans 0..4 GiB
(``panthor_vm_create``: ``va_range = SZ_4G``) with the same 4-level format.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import BadAddress, InvalidArgument
from ..platform.dma import DmaBuffer
from .faults import MmuFault
from .pagetable import PageTable
from .pte import PAGE_SIZE, MappedRange, Prot, Translation, WalkStep, check_prot

if TYPE_CHECKING:
    from .manager import Mmu

#: PANTHOR_VM_MIN_KERNEL_VA_SIZE.
MIN_KERNEL_VA_SIZE = 256 << 20
#: The MCU VM's range (panthor_vm_create for the firmware VM).
MCU_VA_SIZE = 1 << 32


@dataclass(frozen=True)
class VaLayout:
    """User range ``[0, user_end)`` and kernel range ``[kernel_start, kernel_end)`` of one VM."""

    user_end: int
    kernel_start: int
    kernel_end: int

    def region_of(self, va: int, size: int) -> str | None:
        """``"user"`` or ``"kernel"`` when ``[va, va+size)`` lies inside that range, else None."""
        if 0 <= va and va + size <= self.user_end:
            return "user"
        if self.kernel_start <= va and va + size <= self.kernel_end:
            return "kernel"
        return None

    def to_dict(self) -> dict[str, int]:
        return {"user_start": 0, "user_end": self.user_end, "kernel_start": self.kernel_start,
                "kernel_end": self.kernel_end}


def _rounddown_pow2(value: int) -> int:
    return 1 << (value.bit_length() - 1)


def user_vm_layout(user_va_range: int = 0, va_bits: int = 48) -> VaLayout:
    """panthor's VM_CREATE layout for a requested ``user_va_range`` (0 = default).

    Default (no TASK_SIZE below the GPU range here): ``full / 2`` if ``full > 4 GiB`` else
    ``full - 256 MiB``. Kernel range = ``rounddown_pow_of_two(full - user)`` at the top; the user range
    returned is everything below it, so it can be larger than asked (2^39 asked → 2^47).

    Raises:
        InvalidArgument: ``full < 256 MiB``, or a request above ``full - 256 MiB`` or not an integer.
    """
    if isinstance(user_va_range, bool) or not isinstance(user_va_range, int) or user_va_range < 0:
        raise InvalidArgument(f"user_va_range {user_va_range!r} must be a non-negative integer")
    full = 1 << va_bits
    if full < MIN_KERNEL_VA_SIZE:
        raise InvalidArgument(f"GPU VA space of 2^{va_bits} bytes is smaller than the 256 MiB kernel range")
    limit = full - MIN_KERNEL_VA_SIZE
    if user_va_range > limit:
        raise InvalidArgument(f"user_va_range {user_va_range:#x} leaves less than 256 MiB for the kernel "
                              f"range (maximum {limit:#x})")
    user = user_va_range or (full // 2 if full > 1 << 32 else limit)
    kernel_start = full - _rounddown_pow2(full - user)
    return VaLayout(kernel_start, kernel_start, full)


def mcu_vm_layout() -> VaLayout:
    """The firmware VM: 0..4 GiB, no kernel range."""
    return VaLayout(MCU_VA_SIZE, MCU_VA_SIZE, MCU_VA_SIZE)


class VM:
    """A GPU VM: page table, VA layout, AS binding (by :class:`~uio_driver.mmu.manager.Mmu`) and faults.

    Created by :meth:`Mmu.create_vm` / :meth:`Mmu.create_mcu_vm`, not directly.

    Attributes:
        id: VM id (0 = the MCU VM).
        layout: user/kernel VA ranges.
        pt: the page table.
        as_nr: address space the VM is bound to, or None.
        faulty: an MMU fault hit this VM (sticky, like panthor's ``unhandled_fault``; see
            :meth:`acknowledge_fault`).
        faults: every fault seen in this VM.
    """

    def __init__(self, mmu: Mmu, vm_id: int, layout: VaLayout, *, is_mcu: bool = False,
                 name: str = "") -> None:
        self.mmu = mmu
        self.id = vm_id
        self.layout = layout
        self.is_mcu = is_mcu
        self.name = name or ("MCU VM" if is_mcu else f"VM {vm_id}")
        self.pt = PageTable(mmu.allocator, pool=mmu.pool, blocks_2m=mmu.blocks_2m, blocks_1g=mmu.blocks_1g,
                            name=self.name)
        self.as_nr: int | None = None
        self.faulty = False
        self.faults: list[MmuFault] = []
        self.destroyed = False

    # -- mapping ----------------------------------------------------------------------------------

    def map(self, buffer: DmaBuffer, va: int, *, offset: int = 0, size: int | None = None,
            flags: int = Prot.NONE, kernel: bool = False, max_block: int | None = None) -> None:
        """Map ``size`` bytes of ``buffer`` from ``offset`` at GPU VA ``va``.

        Args:
            buffer: a live allocation of the GPU's DMA allocator.
            va: GPU VA (4 KiB aligned) in the user range, or the kernel range with ``kernel=True``.
            offset, size: page-aligned part of the buffer (default: from ``offset`` to its end).
            flags: :class:`Prot` (``DRM_PANTHOR_VM_BIND_OP_MAP_*`` values).
            max_block: largest leaf to use (see :meth:`PageTable.prepare_map`).

        On return the mapping is live for the GPU if the VM is bound (the P3/P1 sequence ran).

        Raises:
            InvalidArgument: bad offset/size/alignment/flags, VA range outside the allowed range
                (EINVAL), overlap with an existing mapping (EEXIST), VM destroyed.
            BadAddress: ``buffer`` is not a live allocation of this GPU's allocator.
            OutOfMemory: no DMA memory for page tables. Timeout: the MMU did not answer.
        """
        self._check_live()
        if not isinstance(buffer, DmaBuffer) or buffer.freed or buffer.allocator is not self.mmu.allocator:
            raise BadAddress(f"{self.name}: buffer {buffer!r} is not a live allocation of "
                             f"{self.mmu.allocator.name}")
        check_prot(flags)
        for label, v in (("offset", offset), ("size", size if size is not None else 0), ("va", va)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 0 or v % PAGE_SIZE:
                raise InvalidArgument(f"{self.name}: {label} {v!r} is not a non-negative multiple of 4 KiB")
        length = buffer.size - offset if size is None else size
        if length <= 0 or offset + length > buffer.size:
            raise InvalidArgument(f"{self.name}: [{offset:#x}, +{length:#x}) is not inside the "
                                  f"{buffer.size:#x}-byte buffer {buffer.name or hex(buffer.phys)}")
        self._check_va(va, length, kernel)
        txn = self.pt.prepare_map(va, buffer.phys + offset, length, flags, max_block=max_block)
        self.mmu.apply_update(self, txn)

    def unmap(self, va: int, size: int, *, kernel: bool = False) -> None:
        """Unmap ``[va, va+size)`` (parts that are not mapped are skipped, like VM_BIND UNMAP).

        Raises:
            InvalidArgument: bad alignment, or a range outside the user (or kernel) range (EINVAL).
            OutOfMemory: a block split needs a table and none can be allocated (nothing changes).
        """
        self._check_live()
        for label, v in (("va", va), ("size", size)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 0 or v % PAGE_SIZE:
                raise InvalidArgument(f"{self.name}: {label} {v!r} is not a non-negative multiple of 4 KiB")
        if size == 0:
            raise InvalidArgument(f"{self.name}: cannot unmap 0 bytes at {va:#x}")
        self._check_va(va, size, kernel)
        self.mmu.apply_update(self, self.pt.prepare_unmap(va, size))

    def _check_va(self, va: int, size: int, kernel: bool) -> None:
        want = "kernel" if kernel else "user"
        if self.layout.region_of(va, size) != want:
            layout = self.layout
            lo, hi = (layout.kernel_start, layout.kernel_end) if kernel else (0, layout.user_end)
            raise InvalidArgument(f"{self.name}: VA range [{va:#x}, {va + size:#x}) is outside the {want} VA "
                                  f"range [{lo:#x}, {hi:#x})", value=va)

    # -- queries ----------------------------------------------------------------------------------

    def translate(self, va: int) -> Translation:
        """GPU VA → PA and flags (raises BadAddress/EFAULT when not mapped)."""
        return self.pt.translate(va)

    def walk(self, va: int) -> list[WalkStep]:
        return self.pt.walk(va)

    def dump(self) -> list[MappedRange]:
        return self.pt.dump()

    def acknowledge_fault(self) -> None:
        """Forget the fault state (the owner dealt with it); the AS is re-enabled on activation."""
        self.faulty = False

    def _check_live(self) -> None:
        if self.destroyed:
            raise InvalidArgument(f"{self.name} was destroyed")

    def to_dict(self) -> dict[str, object]:
        return {"id": self.id, "name": self.name, "mcu": self.is_mcu, "as": self.as_nr,
                "faulty": self.faulty, "transtab": self.pt.root_pa, "layout": self.layout.to_dict()}
