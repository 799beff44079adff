"""TILER_HEAP_CREATE (0x4B) and TILER_HEAP_DESTROY (0x4C) (cs-isa-and-uapi.md §3.14, §6, §7.1 #4-#6).

The heap pool, contexts, chunks and OOM growth belong to the scheduler layer (:mod:`uio_driver.csf.heap`);
this module resolves the per-file VM id and builds the handle ``(vm_id << 16) | heap_id`` with this file's
VM id (heap ids 0..127, so handles are nonzero because VM ids start at 1):

* CREATE: unknown (or destroyed) VM -> EINVAL; count/size rules (``initial`` 1..``max_chunks``,
  ``chunk_size`` a 4 KiB multiple in [128 KiB, 8 MiB]) -> EINVAL; 128 heaps -> EBUSY; no memory ->
  ENOMEM. ``target_in_flight`` is not validated (§7.2 #10).
* DESTROY: ``pad`` -> EINVAL; unknown VM ``handle >> 16`` -> EINVAL; a VM that never had a heap ->
  ENOENT (upstream fix §7.1 #5); unknown heap id ``handle & 0xFFFF`` -> EINVAL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from uio_driver.errors import InvalidArgument
from uio_driver.uapi import structs as S
from uio_driver.uapi.objects import NoEntry
from uio_driver.uapi.ops_vm import lookup_vm

if TYPE_CHECKING:
    from uio_driver.uapi.device import Device


def tiler_heap_create(dev: Device, args: S.DrmPanthorTilerHeapCreate) -> None:
    """DRM_IOCTL_PANTHOR_TILER_HEAP_CREATE."""
    vmo = lookup_vm(dev, int(args.vm_id), "TILER_HEAP_CREATE")
    heap = dev.core.create_heap(vmo.vm, int(args.initial_chunk_count), int(args.chunk_size),
                                int(args.max_chunks), int(args.target_in_flight))
    args.handle = (vmo.id << 16) | heap.id
    args.tiler_heap_ctx_gpu_va = heap.ctx_va
    args.first_heap_chunk_gpu_va = heap.first_chunk_va


def tiler_heap_destroy(dev: Device, args: S.DrmPanthorTilerHeapDestroy) -> None:
    """DRM_IOCTL_PANTHOR_TILER_HEAP_DESTROY."""
    if args.pad:
        raise InvalidArgument(f"TILER_HEAP_DESTROY: pad is {int(args.pad):#x}", value=int(args.pad))
    handle = int(args.handle)
    vmo = lookup_vm(dev, handle >> 16, "TILER_HEAP_DESTROY")
    pool = dev.core.scheduler.heap_pools.get(vmo.vm.id)
    if pool is None:
        raise NoEntry(f"TILER_HEAP_DESTROY: VM {vmo.id} has no tiler heap pool", value=handle)
    pool.destroy(handle & 0xFFFF)


HANDLERS = {
    0x40 + S.DRM_PANTHOR_TILER_HEAP_CREATE: tiler_heap_create,
    0x40 + S.DRM_PANTHOR_TILER_HEAP_DESTROY: tiler_heap_destroy,
}
