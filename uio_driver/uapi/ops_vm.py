"""VM_CREATE (0x41), VM_DESTROY (0x42), VM_BIND (0x43), VM_GET_STATE (0x44).

Rules from cs-isa-and-uapi.md §3.7-§3.8 and panthor_mmu.c / panthor_drv.c:

* VM_CREATE: ``flags != 0`` -> EINVAL; the layout of ``user_vm_layout`` (kernel range at the top); the
  returned ``user_va_range`` is the kernel range's start (§7.2 #8); ids 1..32, full -> EBUSY.
* VM_DESTROY: ``pad`` or unknown id -> EINVAL. Every user mapping goes and the tiler heaps with it;
  groups still using the VM fault on their next access to user memory.
* VM_BIND: unknown VM -> EINVAL, then the op array (EINVAL/E2BIG/EFAULT). Synchronous mode runs op by
  op, skipping ``size == 0`` ops before any other check (§7.2 #2), and on the first failure writes the
  failing index to ``ops.count`` (copied back with the error). Asynchronous mode validates every op and
  resolves every sync op first (nothing queued on error), then queues the ops on the VM's bind queue;
  they run in order once their WAIT fences signalled, and a failure there marks the VM UNUSABLE.
* MAP replaces whatever it overlaps (GPUVA semantics): the page table itself refuses overlaps, so the
  overlapped range is unmapped first and restored if the map fails - one all-or-nothing operation.
  MAP into the kernel VA range is refused (EINVAL), as the reference recommends (§3.8).
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from uio_driver.errors import InvalidArgument, MaliError
from uio_driver.uapi import structs as S
from uio_driver.uapi.objects import PAGE_SIZE, BufferObject, Mapping, VmObject
from uio_driver.uapi.ops_bo import bo_unreferenced, lookup_bo
from uio_driver.uapi.syncobj import Fence, SubmitContext
from uio_driver.uapi.uobj import get_uobj_array

if TYPE_CHECKING:
    from uio_driver.uapi.device import Device

TYPE_MASK = S.DRM_PANTHOR_VM_BIND_OP_TYPE_MASK
MAP_FLAGS = (S.DRM_PANTHOR_VM_BIND_OP_MAP_READONLY | S.DRM_PANTHOR_VM_BIND_OP_MAP_NOEXEC
             | S.DRM_PANTHOR_VM_BIND_OP_MAP_UNCACHED)
OP_MAP = S.DRM_PANTHOR_VM_BIND_OP_TYPE_MAP
OP_UNMAP = S.DRM_PANTHOR_VM_BIND_OP_TYPE_UNMAP
OP_SYNC_ONLY = S.DRM_PANTHOR_VM_BIND_OP_TYPE_SYNC_ONLY


def lookup_vm(dev: Device, vm_id: int, what: str) -> VmObject:
    """``panthor_vm_pool_get_vm``; unknown id -> EINVAL naming the ioctl."""
    vmo = dev.objects.vms.get(vm_id)
    if vmo is None:
        raise InvalidArgument(f"{what}: no VM with id {vm_id}", value=vm_id)
    return vmo


# -- VM_CREATE / VM_DESTROY / VM_GET_STATE ------------------------------------------------------------


def vm_create(dev: Device, args: S.DrmPanthorVmCreate) -> None:
    """DRM_IOCTL_PANTHOR_VM_CREATE."""
    dev.check_alive()
    if args.flags:
        raise InvalidArgument(f"VM_CREATE: flags {int(args.flags):#x} must be 0", value=int(args.flags))
    table = dev.objects.vms
    table.check_free()  # xa_alloc would fail with EBUSY: refuse before creating anything
    vm = dev.core.create_vm(int(args.user_va_range))
    vmo = VmObject(0, vm)
    vmo.id = table.alloc(vmo)
    args.id = vmo.id
    args.user_va_range = vm.layout.user_end


def _release_mappings(dev: Device, vmo: VmObject) -> None:
    """Unmap every user mapping of ``vmo`` and drop the BO references."""
    for m in list(vmo.mappings):
        if not vmo.vm.destroyed:
            vmo.vm.unmap(m.va, m.size)
        vmo.mappings.remove(m)
        m.bo.mappings -= 1
        bo_unreferenced(dev, m.bo)


def destroy_vm(dev: Device, vmo: VmObject) -> None:
    """``panthor_vm_destroy``: mark destroyed, cancel pending binds, unmap every user mapping; the
    scheduler layer frees the heap pool now and the MMU VM once no group uses it any more."""
    vmo.destroyed = True
    for job in vmo.bind_jobs:
        job.fence.signal(-errno.ECANCELED)  # the bind queue is torn down
        job.drop_refs(dev)
    vmo.bind_jobs.clear()
    _release_mappings(dev, vmo)
    if not vmo.vm.destroyed:
        dev.core.destroy_vm(vmo.vm)


def vm_destroy(dev: Device, args: S.DrmPanthorVmDestroy) -> None:
    """DRM_IOCTL_PANTHOR_VM_DESTROY."""
    if args.pad:
        raise InvalidArgument(f"VM_DESTROY: pad is {int(args.pad):#x} (must be 0)", value=int(args.pad))
    vmo = lookup_vm(dev, int(args.id), "VM_DESTROY")
    dev.objects.vms.remove(vmo.id)
    destroy_vm(dev, vmo)


def vm_get_state(dev: Device, args: S.DrmPanthorVmGetState) -> None:
    """DRM_IOCTL_PANTHOR_VM_GET_STATE."""
    vmo = lookup_vm(dev, int(args.vm_id), "VM_GET_STATE")
    args.state = S.DRM_PANTHOR_VM_STATE_UNUSABLE if vmo.unusable else S.DRM_PANTHOR_VM_STATE_USABLE


# -- op validation ---------------------------------------------------------------------------------


@dataclass
class BindOp:
    """One validated VM_BIND operation."""

    kind: int
    va: int
    size: int
    flags: int = 0
    bo: BufferObject | None = None
    bo_offset: int = 0


def _check_range(vmo: VmObject, va: int, size: int, i: int) -> None:
    va_bits = vmo.vm.mmu.va_bits
    if va + size > 1 << va_bits:
        raise InvalidArgument(f"VM_BIND op {i}: [{va:#x}, {va + size:#x}) is outside the {va_bits}-bit "
                              "VA space",
                              value=va)
    if va + size > vmo.user_va_end:
        raise InvalidArgument(f"VM_BIND op {i}: [{va:#x}, {va + size:#x}) reaches into the kernel VA range "
                              f"at {vmo.user_va_end:#x}", value=va)


def _prepare_map(dev: Device, vmo: VmObject, op: S.DrmPanthorVmBindOp, i: int) -> BindOp:
    flags, va, size, offset = int(op.flags), int(op.va), int(op.size), int(op.bo_offset)
    if flags & ~(TYPE_MASK | MAP_FLAGS):
        raise InvalidArgument(f"VM_BIND op {i}: unknown MAP flags {flags & ~(TYPE_MASK | MAP_FLAGS):#x}",
                              value=flags)
    bo = lookup_bo(dev, int(op.bo_handle))
    if bo is None:  # panthor answers EINVAL here, not ENOENT (§7.2 #3)
        raise InvalidArgument(f"VM_BIND op {i}: no BO with handle {int(op.bo_handle):#x}",
                              value=int(op.bo_handle))
    if size > bo.size or offset > bo.size - size:
        raise InvalidArgument(f"VM_BIND op {i}: [{offset:#x}, +{size:#x}) is not inside the "
                              f"{bo.size:#x}-byte BO",
                              value=offset)
    if offset % PAGE_SIZE:
        raise InvalidArgument(f"VM_BIND op {i}: bo_offset {offset:#x} is not page aligned", value=offset)
    if bo.exclusive_vm is not None and bo.exclusive_vm is not vmo:
        raise InvalidArgument(f"VM_BIND op {i}: the BO is private to VM {bo.exclusive_vm.id}", value=vmo.id)
    _check_range(vmo, va, size, i)
    if vmo.unusable:
        raise InvalidArgument(f"VM_BIND op {i}: VM {vmo.id} is unusable (an async bind failed)", value=vmo.id)
    return BindOp(OP_MAP, va, size, flags & MAP_FLAGS, bo, offset)


def prepare_op(dev: Device, vmo: VmObject, op: S.DrmPanthorVmBindOp, i: int, *, asynchronous: bool) -> BindOp:
    """``panthor_vm_bind_prepare_op_ctx``: every check of one op, nothing changed.

    Raises:
        InvalidArgument: any rule of §3.8 (all EINVAL).
    """
    flags, va, size = int(op.flags), int(op.va), int(op.size)
    kind = flags & TYPE_MASK
    if (va | size) % PAGE_SIZE:
        raise InvalidArgument(f"VM_BIND op {i}: va {va:#x} / size {size:#x} not aligned to 4 KiB", value=va)
    if kind == OP_MAP:
        return _prepare_map(dev, vmo, op, i)
    if kind not in (OP_UNMAP, OP_SYNC_ONLY):
        raise InvalidArgument(f"VM_BIND op {i}: unknown type {kind >> 28}", value=flags)
    if flags & ~TYPE_MASK:
        raise InvalidArgument(f"VM_BIND op {i}: flags {flags & ~TYPE_MASK:#x} are only valid for MAP",
                              value=flags)
    if op.bo_handle or op.bo_offset:
        raise InvalidArgument(f"VM_BIND op {i}: bo_handle/bo_offset must be 0 for UNMAP and SYNC_ONLY",
                              value=int(op.bo_handle))
    if kind == OP_UNMAP:
        _check_range(vmo, va, size, i)
        return BindOp(OP_UNMAP, va, size)
    if va or size or (asynchronous and op.syncs.count == 0):
        raise InvalidArgument(f"VM_BIND op {i}: SYNC_ONLY needs va = size = 0 and at least one sync op",
                              value=va)
    return BindOp(OP_SYNC_ONLY, 0, 0)


# -- executing ops ------------------------------------------------------------------------------------


def _carve(dev: Device, vmo: VmObject, va: int, size: int) -> list[BufferObject]:
    """Remove ``[va, va+size)`` from the mapping records (splitting edges); returns BOs to recheck."""
    end = va + size
    touched: list[BufferObject] = []
    for m in vmo.overlapping(va, size):
        vmo.mappings.remove(m)
        m.bo.mappings -= 1
        touched.append(m.bo)
        if m.va < va:
            vmo.insert(Mapping(m.va, va - m.va, m.bo, m.bo_offset, m.flags))
            m.bo.mappings += 1
        if m.end > end:
            vmo.insert(Mapping(end, m.end - end, m.bo, m.bo_offset + (end - m.va), m.flags))
            m.bo.mappings += 1
    return touched


def _restore(vmo: VmObject, old: list[Mapping], va: int, size: int) -> None:
    end = va + size
    for m in old:
        lo, hi = max(m.va, va), min(m.end, end)
        vmo.vm.map(m.bo.buffer, lo, offset=m.bo_offset + (lo - m.va), size=hi - lo, flags=m.flags)


def execute_op(dev: Device, vmo: VmObject, op: BindOp) -> None:
    """Apply one validated op to the page table and the mapping records (all or nothing).

    Raises:
        MaliError: the page table could not be changed (ENOMEM, ...); nothing changed.
    """
    if op.kind == OP_SYNC_ONLY or op.size == 0:
        return
    if op.kind == OP_MAP and vmo.unusable:
        raise InvalidArgument(f"VM {vmo.id} is unusable: MAP refused", value=vmo.id)
    bo = op.bo if op.kind == OP_MAP else None  # a MAP BindOp always carries its BO
    old = vmo.overlapping(op.va, op.size)
    if old:
        vmo.vm.unmap(op.va, op.size)
    if bo is not None:
        try:
            vmo.vm.map(bo.buffer, op.va, offset=op.bo_offset, size=op.size, flags=op.flags)
        except MaliError:
            if old:
                _restore(vmo, old, op.va, op.size)
            raise
    touched = _carve(dev, vmo, op.va, op.size)
    if bo is not None:
        vmo.insert(Mapping(op.va, op.size, bo, op.bo_offset, op.flags))
        bo.mappings += 1
    for bo in touched:
        bo_unreferenced(dev, bo)


# -- VM_BIND -----------------------------------------------------------------------------------------


@dataclass
class BindJob:
    """An async VM_BIND op waiting on the VM's bind queue."""

    op: BindOp
    deps: list[Fence]
    fence: Fence = field(default_factory=lambda: Fence("vm_bind"))

    def hold_refs(self) -> None:
        if self.op.bo is not None:
            self.op.bo.mappings += 1  # the queued job keeps the BO alive (drm_gem_object_get)

    def drop_refs(self, dev: Device) -> None:
        if self.op.bo is not None:
            self.op.bo.mappings -= 1
            bo_unreferenced(dev, self.op.bo)


def _bind_sync(dev: Device, vmo: VmObject, args: S.DrmPanthorVmBind, ops: list[S.DrmPanthorVmBindOp]) -> None:
    for i, op in enumerate(ops):
        try:
            if op.syncs.count:
                raise InvalidArgument(f"VM_BIND op {i}: synchronous binds take no sync ops",
                                      value=int(op.syncs.count))
            if op.size == 0:
                continue  # skipped before any other check (§7.2 #2)
            execute_op(dev, vmo, prepare_op(dev, vmo, op, i, asynchronous=False))
        except MaliError:
            args.ops.count = i  # tells userspace where it failed (copied back with the error)
            raise


def _bind_async(dev: Device, vmo: VmObject, ops: list[S.DrmPanthorVmBindOp]) -> None:
    if vmo.destroyed or vmo.unusable:
        raise InvalidArgument(f"VM_BIND: VM {vmo.id} is unusable", value=vmo.id)
    prepared: list[BindOp] = []
    syncs: list[list[S.DrmPanthorSyncOp]] = []
    for i, op in enumerate(ops):  # panthor_vm_bind_job_create, then the job's sync array
        prepared.append(prepare_op(dev, vmo, op, i, asynchronous=True))
        syncs.append(get_uobj_array(op.syncs, S.DrmPanthorSyncOp))
    ctx = SubmitContext(dev.objects)
    for job_syncs in syncs:
        ctx.collect_signals(job_syncs)
    jobs: list[BindJob] = []
    for bop, job_syncs in zip(prepared, syncs, strict=True):
        job = BindJob(bop, ctx.job_dependencies(job_syncs))
        ctx.arm(job_syncs, job.fence)
        jobs.append(job)
    for job in jobs:  # nothing can fail from here on
        job.hold_refs()
        vmo.bind_jobs.append(job)
    ctx.push()
    pump(dev)


def vm_bind(dev: Device, args: S.DrmPanthorVmBind) -> None:
    """DRM_IOCTL_PANTHOR_VM_BIND (unknown ``flags`` bits are ignored, like upstream, §7.2 #1)."""
    dev.check_alive()
    vmo = lookup_vm(dev, int(args.vm_id), "VM_BIND")
    ops = get_uobj_array(args.ops, S.DrmPanthorVmBindOp)
    if args.flags & S.DRM_PANTHOR_VM_BIND_ASYNC:
        _bind_async(dev, vmo, ops)
    else:
        _bind_sync(dev, vmo, args, ops)


def pump(dev: Device) -> None:
    """Run queued async binds whose dependencies signalled, in order, per VM (credit limit 1)."""
    for vmo in [v for _, v in dev.objects.vms.items()]:
        while vmo.bind_jobs and all(f.signaled for f in vmo.bind_jobs[0].deps):
            job = vmo.bind_jobs.pop(0)
            try:
                execute_op(dev, vmo, job.op)
            except MaliError as err:
                vmo.unusable = True  # the only way out is a new VM (§3.7)
                job.fence.signal(-(err.errno or 22))
            else:
                job.fence.signal(0)
            job.drop_refs(dev)


def release_all(dev: Device) -> None:
    """Destroy every VM of the file (after the groups)."""
    for vm_id in list(dev.objects.vms):
        vmo = dev.objects.vms.remove(vm_id)
        if vmo is not None:
            destroy_vm(dev, vmo)


HANDLERS = {
    0x40 + S.DRM_PANTHOR_VM_CREATE: vm_create,
    0x40 + S.DRM_PANTHOR_VM_DESTROY: vm_destroy,
    0x40 + S.DRM_PANTHOR_VM_BIND: vm_bind,
    0x40 + S.DRM_PANTHOR_VM_GET_STATE: vm_get_state,
}
