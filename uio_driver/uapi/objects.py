"""Per-"file" object tables of the panthor front end: GEM handles, VMs, groups, heaps, syncobjs.

Each open :class:`~uio_driver.uapi.device.Device` is one DRM file. Its ID spaces follow panthor and the
DRM core (cs-isa-and-uapi.md §9 item 3):

* GEM handles and syncobj handles: ``idr_alloc(1, 0)`` - the lowest free id from 1;
* VM ids: ``xa_alloc`` in [1, 32] (``PANTHOR_MAX_VMS_PER_FILE``);
* group handles: ``xa_alloc`` in [1, 128] (``MAX_GROUPS_PER_POOL``);
* heap ids: [0, 127] per VM, allocated by the scheduler layer's heap pool (§7.1 #4).

A full xarray makes ``xa_alloc`` fail with EBUSY (§3.7 step 7, §3.11, §3.14). Lookups of an unknown id
return ``None``; each ioctl maps that to its own errno.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from uio_driver.errors import Busy, MaliError, NoEntry, NotPermitted  # noqa: F401 - re-exported
from uio_driver.mmu import VM
from uio_driver.platform.dma import DmaBuffer

T = TypeVar("T")

PAGE_SIZE = 4096
#: PANTHOR_MAX_VMS_PER_FILE.
MAX_VMS_PER_FILE = 32
#: MAX_GROUPS_PER_POOL (panthor_sched.c).
MAX_GROUPS_PER_POOL = 128
#: idr_alloc(..., 1, 0): any positive int.
MAX_HANDLE = 0x7FFFFFFF
#: DRM_FILE_PAGE_OFFSET_START on 64-bit kernels: fake mmap offsets start at 4 GiB (drm_gem.c).
DRM_FILE_PAGE_OFFSET_START = 1 << 32


class HandleTable(Generic[T]):
    """Lowest-free-id allocation in ``[lo, hi]``, like ``idr_alloc``/``xa_alloc`` with a limit.

    Args:
        lo, hi: inclusive id range.
        what: object kind, for messages.
    """

    def __init__(self, lo: int, hi: int, what: str) -> None:
        self.lo, self.hi, self.what = lo, hi, what
        self._objects: dict[int, T] = {}
        self._ids: list[int] = []  # sorted live ids

    def _lowest_free(self) -> int:
        expect = self.lo
        for live in self._ids:
            if live != expect:
                break
            expect += 1
        if expect > self.hi:
            raise Busy(f"no free {self.what} id: all {self.hi - self.lo + 1} ids in [{self.lo}, {self.hi}] "
                       "are in use")
        return expect

    def check_free(self) -> None:
        """Raise Busy (EBUSY) when no id is left, so a caller can refuse before creating anything."""
        self._lowest_free()

    def alloc(self, obj: T) -> int:
        """Store ``obj`` under the lowest free id and return it.

        Raises:
            Busy: every id of the range is taken (EBUSY, the xarray's answer).
        """
        expect = self._lowest_free()
        bisect.insort(self._ids, expect)
        self._objects[expect] = obj
        return expect

    def get(self, ident: int) -> T | None:
        """The object with id ``ident``, or None."""
        return self._objects.get(ident)

    def remove(self, ident: int) -> T | None:
        """Drop ``ident`` and return its object (None if it was not there)."""
        obj = self._objects.pop(ident, None)
        if obj is not None:
            self._ids.remove(ident)
        return obj

    def items(self) -> list[tuple[int, T]]:
        return [(i, self._objects[i]) for i in self._ids]

    def __len__(self) -> int:
        return len(self._ids)

    def __iter__(self) -> Iterator[int]:
        return iter(list(self._ids))


@dataclass(eq=False)
class BufferObject:
    """A GEM object: one physically contiguous DMA buffer of the GPU's carveout.

    It stays alive while a GEM handle names it or a VM mapping uses it (drm_gem_close only drops the
    handle's reference, §4.2); the buffer returns to the allocator when the last reference goes.

    Attributes:
        buffer: the DMA allocation (``size`` bytes, page rounded).
        flags: ``DRM_PANTHOR_BO_*`` creation flags.
        exclusive_vm: the VM this BO is private to (``exclusive_vm_id``), or None.
        mmap_offset: fake offset for ``Device.mmap`` once BO_MMAP_OFFSET created one.
        handles: GEM handles naming it in this file.
        mappings: number of VM mappings (pieces) that reference it.
    """

    buffer: DmaBuffer
    flags: int
    exclusive_vm: VmObject | None = None
    mmap_offset: int | None = None
    handles: int = 0
    mappings: int = 0
    label: str = ""

    @property
    def size(self) -> int:
        return self.buffer.size

    @property
    def alive(self) -> bool:
        return not self.buffer.freed

    def release_if_unused(self) -> bool:
        """Free the buffer when nothing references it any more; True if it was freed."""
        if self.handles == 0 and self.mappings == 0 and not self.buffer.freed:
            self.buffer.free()
            return True
        return False


@dataclass(eq=False)
class Mapping:
    """A user mapping ``[va, va+size)`` of ``bo`` from ``bo_offset`` with ``flags`` (a GPUVA)."""

    va: int
    size: int
    bo: BufferObject
    bo_offset: int
    flags: int

    @property
    def end(self) -> int:
        return self.va + self.size


@dataclass(eq=False)
class VmObject:
    """One VM of this file: the driver's MMU VM plus what panthor tracks per ``panthor_vm``.

    Attributes:
        id: the per-file VM id (1..32).
        vm: the MMU VM (page tables, layout).
        mappings: user mappings sorted by VA (the GPUVA tree).
        unusable: an async VM_BIND failed (VM_GET_STATE UNUSABLE).
        destroyed: VM_DESTROY ran (groups using it fault; no new mappings).
        groups: handles of this file's groups on this VM.
        bind_jobs: async VM_BIND operations not executed yet, in order.
    """

    id: int
    vm: VM
    mappings: list[Mapping] = field(default_factory=list)
    unusable: bool = False
    destroyed: bool = False
    groups: set[int] = field(default_factory=set)
    bind_jobs: list[Any] = field(default_factory=list)

    @property
    def user_va_end(self) -> int:
        return self.vm.layout.user_end

    def overlapping(self, va: int, size: int) -> list[Mapping]:
        """Mappings that intersect ``[va, va+size)``, in VA order."""
        end = va + size
        return [m for m in self.mappings if m.va < end and va < m.end]

    def insert(self, mapping: Mapping) -> None:
        starts = [m.va for m in self.mappings]
        self.mappings.insert(bisect.bisect_left(starts, mapping.va), mapping)


class FileObjects:
    """Every object table of one DRM file."""

    def __init__(self) -> None:
        self.bos: HandleTable[BufferObject] = HandleTable(1, MAX_HANDLE, "GEM handle")
        self.vms: HandleTable[VmObject] = HandleTable(1, MAX_VMS_PER_FILE, "VM")
        self.groups: HandleTable[Any] = HandleTable(1, MAX_GROUPS_PER_POOL, "group")
        self.syncobjs: HandleTable[Any] = HandleTable(1, MAX_HANDLE, "syncobj handle")
        self._next_offset = DRM_FILE_PAGE_OFFSET_START
        #: Fake mmap offset -> BO (drm_vma_offset_manager).
        self.offsets: dict[int, BufferObject] = {}

    def mmap_offset(self, bo: BufferObject) -> int:
        """The BO's fake mmap offset, created on first use (``drm_gem_create_mmap_offset``)."""
        if bo.mmap_offset is None:
            bo.mmap_offset = self._next_offset
            self._next_offset += bo.size
            self.offsets[bo.mmap_offset] = bo
        return bo.mmap_offset

    def forget_offset(self, bo: BufferObject) -> None:
        if bo.mmap_offset is not None:
            self.offsets.pop(bo.mmap_offset, None)

    def snapshot(self) -> dict[str, Any]:
        """A comparable picture of every table (tests check a refused call changes nothing)."""
        return {
            "bos": [(h, id(bo), bo.handles, bo.mappings) for h, bo in self.bos.items()],
            "vms": [(i, v.unusable, v.destroyed, [(m.va, m.size, id(m.bo), m.bo_offset, m.flags)
                                                   for m in v.mappings], sorted(v.groups),
                     len(v.bind_jobs)) for i, v in self.vms.items()],
            "groups": list(self.groups),
            "syncobjs": [(h, id(s), s.state()) for h, s in self.syncobjs.items()],
            "offsets": sorted(self.offsets),
        }
