"""BO_CREATE (0x45), BO_MMAP_OFFSET (0x46) and the DRM core GEM_CLOSE (0x09).

Buffer objects are physically contiguous allocations of the GPU's DMA carveout (the only memory the
GPU may reach; see the page table's allow-list). Rules (cs-isa-and-uapi.md §3.9, §4.2,
panthor_drv.c, panthor_gem.c, drm_gem.c):

* BO_CREATE: device gone -> ENODEV; ``size == 0``, ``pad != 0`` or unknown flags -> EINVAL; an unknown
  ``exclusive_vm_id`` -> EINVAL; no memory -> ENOMEM. ``size`` comes back rounded up to pages and the
  handle is the lowest free GEM handle (nonzero).
* BO_MMAP_OFFSET: ``pad`` -> EINVAL; unknown handle -> ENOENT; a NO_MMAP BO -> EPERM (upstream
  "Add a NO_MMAP check"); otherwise the fake offset, stable for the BO's life.
* GEM_CLOSE: unknown handle -> EINVAL (``drm_gem_handle_delete``). The handle goes; the memory stays
  while a VM mapping uses the BO.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from uio_driver.errors import InvalidArgument, MaliError, OutOfMemory
from uio_driver.uapi import drm as D
from uio_driver.uapi import structs as S
from uio_driver.uapi.objects import PAGE_SIZE, BufferObject, NoEntry, NotPermitted

if TYPE_CHECKING:
    from uio_driver.uapi.device import Device

#: Flags of a 1.3 driver (WB_MMAP is 1.6+ and refused like any unknown bit).
BO_FLAGS = S.DRM_PANTHOR_BO_NO_MMAP
#: BOs of at least 2 MiB are 2 MiB aligned so their mappings can use 2 MiB blocks (panthor's huge pages).
HUGE_ALIGN = 2 << 20


def lookup_bo(dev: Device, handle: int) -> BufferObject | None:
    """``drm_gem_object_lookup``: the BO named by ``handle`` in this file, or None."""
    return dev.objects.bos.get(handle)


def bo_create(dev: Device, args: S.DrmPanthorBoCreate) -> None:
    """DRM_IOCTL_PANTHOR_BO_CREATE."""
    dev.check_alive()
    size, flags = int(args.size), int(args.flags)
    if size == 0:
        raise InvalidArgument("BO_CREATE: size is 0", value=0)
    if args.pad:
        raise InvalidArgument(f"BO_CREATE: pad is {int(args.pad):#x} (must be 0)", value=int(args.pad))
    if flags & ~BO_FLAGS:
        raise InvalidArgument(f"BO_CREATE: unknown flags {flags & ~BO_FLAGS:#x}", value=flags)
    vm = None
    if args.exclusive_vm_id:
        vm = dev.objects.vms.get(int(args.exclusive_vm_id))
        if vm is None:
            raise InvalidArgument(f"BO_CREATE: exclusive_vm_id {int(args.exclusive_vm_id)} is not a VM of "
                                  "this file", value=int(args.exclusive_vm_id))
    rounded = -(-size // PAGE_SIZE) * PAGE_SIZE
    allocator = dev.allocator
    if rounded > allocator.size:
        raise OutOfMemory(f"BO_CREATE: {size:#x} bytes is more than the {allocator.size:#x}-byte carveout",
                          value=size)
    align = HUGE_ALIGN if rounded >= HUGE_ALIGN else PAGE_SIZE
    buffer = allocator.alloc(rounded, align=align, name="gem")
    bo = BufferObject(buffer, flags, exclusive_vm=vm)
    try:
        handle = dev.objects.bos.alloc(bo)
    except MaliError:
        buffer.free()
        raise
    bo.handles = 1
    args.size = rounded
    args.handle = handle


def bo_mmap_offset(dev: Device, args: S.DrmPanthorBoMmapOffset) -> None:
    """DRM_IOCTL_PANTHOR_BO_MMAP_OFFSET."""
    if args.pad:
        raise InvalidArgument(f"BO_MMAP_OFFSET: pad is {int(args.pad):#x} (must be 0)", value=int(args.pad))
    handle = int(args.handle)
    bo = lookup_bo(dev, handle)
    if bo is None:
        raise NoEntry(f"BO_MMAP_OFFSET: no BO with handle {handle:#x}", value=handle)
    if bo.flags & S.DRM_PANTHOR_BO_NO_MMAP:
        raise NotPermitted(f"BO_MMAP_OFFSET: BO {handle} was created with NO_MMAP", value=handle)
    args.offset = dev.objects.mmap_offset(bo)


def gem_close(dev: Device, args: D.DrmGemClose) -> None:
    """DRM_IOCTL_GEM_CLOSE: drop the handle; the memory goes when no mapping uses it either."""
    handle = int(args.handle)
    bo = dev.objects.bos.remove(handle)
    if bo is None:
        raise InvalidArgument(f"GEM_CLOSE: no GEM object with handle {handle:#x}", value=handle)
    bo.handles -= 1
    if bo.release_if_unused():
        dev.objects.forget_offset(bo)


def bo_unreferenced(dev: Device, bo: BufferObject) -> None:
    """A mapping of ``bo`` went away: free it if no handle or mapping is left."""
    if bo.release_if_unused():
        dev.objects.forget_offset(bo)


def release_all(dev: Device) -> None:
    """Close every GEM handle (file close)."""
    for handle in list(dev.objects.bos):
        bo = dev.objects.bos.remove(handle)
        if bo is not None:
            bo.handles -= 1
            bo_unreferenced(dev, bo)


HANDLERS = {
    0x40 + S.DRM_PANTHOR_BO_CREATE: bo_create,
    0x40 + S.DRM_PANTHOR_BO_MMAP_OFFSET: bo_mmap_offset,
    0x09: gem_close,
}
