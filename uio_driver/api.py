"""The friendly Python layer over the panthor uAPI.

Every method here builds the kernel's struct and goes through :meth:`Device.ioctl`, so Python users and
raw-ioctl clients share one validated path (same checks, same errnos)::

    import uio_driver

    with uio_driver.open(backend="sim") as dev:
        vm = dev.vm_create()
        bo = dev.bo_create(4096)
        vm.map(bo, 0x100000, flags="noexec")
        bo.mmap()[:4] = b"\\x01\\x02\\x03\\x04"
        done = dev.syncobj_create()
        group = dev.group_create(vm)
        group.submit([Submit(stream_addr=..., stream_size=..., signal=[done])])
        done.wait(timeout=1.0)
"""

from __future__ import annotations

import ctypes
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from uio_driver.errors import InvalidArgument
from uio_driver.uapi import drm as D
from uio_driver.uapi import ioctls as I
from uio_driver.uapi import structs as S
from uio_driver.uapi.device import Device, open_device
from uio_driver.uapi.usercopy import address_of

INT64_MAX = (1 << 63) - 1
_MAP_FLAG_NAMES = {"readonly": S.DRM_PANTHOR_VM_BIND_OP_MAP_READONLY,
                   "noexec": S.DRM_PANTHOR_VM_BIND_OP_MAP_NOEXEC,
                   "uncached": S.DRM_PANTHOR_VM_BIND_OP_MAP_UNCACHED}
PRIORITIES = {"low": S.PANTHOR_GROUP_PRIORITY_LOW, "medium": S.PANTHOR_GROUP_PRIORITY_MEDIUM,
              "high": S.PANTHOR_GROUP_PRIORITY_HIGH, "realtime": S.PANTHOR_GROUP_PRIORITY_REALTIME}


def deadline_ns(timeout: float | None) -> int:
    """Absolute CLOCK_MONOTONIC deadline for a relative ``timeout`` in seconds (None: forever)."""
    if timeout is None:
        return INT64_MAX
    if timeout <= 0:
        return 0
    return min(INT64_MAX, time.monotonic_ns() + int(timeout * 1e9))


def map_flags(flags: int | str | Iterable[str]) -> int:
    """VM_BIND MAP flags from an int or names (``"readonly"``, ``"noexec"``, ``"uncached"``, comma list).

    Raises:
        InvalidArgument: an unknown name.
    """
    if isinstance(flags, int):
        return flags
    names = flags.split(",") if isinstance(flags, str) else list(flags)
    value = 0
    for name in (n.strip().lower() for n in names):
        if not name:
            continue
        if name not in _MAP_FLAG_NAMES:
            raise InvalidArgument(f"unknown mapping flag {name!r} (readonly, noexec, uncached)")
        value |= _MAP_FLAG_NAMES[name]
    return value


def _array(ctype: Any, items: Sequence[Any]) -> Any:
    return (ctype * max(1, len(items)))(*items)


def _obj_array(structs: Sequence[ctypes.Structure],
               cls: type[ctypes.Structure]) -> tuple[Any, S.DrmPanthorObjArray]:
    arr = _array(cls, list(structs))
    return arr, S.DrmPanthorObjArray(stride=ctypes.sizeof(cls), count=len(structs), array=address_of(arr))


@dataclass(eq=False)
class Bo:
    """A buffer object (GEM handle) of a :class:`GpuDevice`."""

    dev: GpuDevice
    handle: int
    size: int
    flags: int = 0
    _view: memoryview | None = field(default=None, repr=False)

    def mmap_offset(self) -> int:
        """BO_MMAP_OFFSET (EPERM for NO_MMAP BOs)."""
        args = S.DrmPanthorBoMmapOffset(handle=self.handle)
        self.dev.ioctl(I.DRM_IOCTL_PANTHOR_BO_MMAP_OFFSET, args)
        return int(args.offset)

    def mmap(self) -> memoryview:
        """A writable CPU view of the whole BO (``mmap`` of its fake offset)."""
        if self._view is None:
            self._view = self.dev.mmap(self.mmap_offset(), self.size)
        return self._view

    def close(self) -> None:
        """GEM_CLOSE: the memory goes once no VM maps it any more."""
        self._view = None
        self.dev.ioctl(I.DRM_IOCTL_GEM_CLOSE, D.DrmGemClose(handle=self.handle))


@dataclass(frozen=True)
class SyncPoint:
    """A syncobj and a timeline point (0 = binary)."""

    syncobj: SyncObj
    point: int = 0


def _sync_point(ref: Any) -> SyncPoint:
    if isinstance(ref, SyncPoint):
        return ref
    if isinstance(ref, tuple):
        return SyncPoint(ref[0], int(ref[1]))
    if isinstance(ref, SyncObj):
        return SyncPoint(ref, 0)
    raise InvalidArgument(f"{ref!r} is not a SyncObj, SyncPoint or (SyncObj, point)")


def sync_ops(wait: Iterable[Any] = (), signal: Iterable[Any] = ()) -> list[S.DrmPanthorSyncOp]:
    """``drm_panthor_sync_op`` entries: WAITs then SIGNALs, timeline type when a point is given."""
    ops = []
    for refs, kind in ((wait, S.DRM_PANTHOR_SYNC_OP_WAIT), (signal, S.DRM_PANTHOR_SYNC_OP_SIGNAL)):
        for ref in refs:
            sp = _sync_point(ref)
            htype = (S.DRM_PANTHOR_SYNC_OP_HANDLE_TYPE_TIMELINE_SYNCOBJ if sp.point
                     else S.DRM_PANTHOR_SYNC_OP_HANDLE_TYPE_SYNCOBJ)
            ops.append(S.DrmPanthorSyncOp(flags=kind | htype, handle=sp.syncobj.handle,
                                          timeline_value=sp.point))
    return ops


@dataclass(eq=False)
class SyncObj:
    """A DRM syncobj (binary, or a timeline when used with points)."""

    dev: GpuDevice
    handle: int

    def _handles(self) -> Any:
        return (ctypes.c_uint32 * 1)(self.handle)

    def wait(self, timeout: float | None = None, *, point: int = 0, wait_for_submit: bool = False,
             available: bool = False) -> None:
        """Wait until signalled (TIMELINE_WAIT when ``point`` or ``available``, else WAIT).

        Raises:
            OSError: ETIME when ``timeout`` (seconds) passes, EINVAL when nothing was submitted and
                ``wait_for_submit`` is False.
        """
        handles = self._handles()
        flags = D.DRM_SYNCOBJ_WAIT_FLAGS_WAIT_FOR_SUBMIT if wait_for_submit else 0
        if point or available:
            points = (ctypes.c_uint64 * 1)(point)
            flags |= D.DRM_SYNCOBJ_WAIT_FLAGS_WAIT_AVAILABLE if available else 0
            args: Any = D.DrmSyncobjTimelineWait(handles=address_of(handles), points=address_of(points),
                                                 timeout_nsec=deadline_ns(timeout), count_handles=1,
                                                 flags=flags)
            self.dev.ioctl(I.DRM_IOCTL_SYNCOBJ_TIMELINE_WAIT, args)
            return
        args = D.DrmSyncobjWait(handles=address_of(handles), timeout_nsec=deadline_ns(timeout),
                                count_handles=1, flags=flags)
        self.dev.ioctl(I.DRM_IOCTL_SYNCOBJ_WAIT, args)

    def signal(self, point: int | None = None) -> None:
        """SIGNAL (binary) or TIMELINE_SIGNAL at ``point``."""
        handles = self._handles()
        if point is None:
            self.dev.ioctl(I.DRM_IOCTL_SYNCOBJ_SIGNAL,
                           D.DrmSyncobjArray(handles=address_of(handles), count_handles=1))
            return
        points = (ctypes.c_uint64 * 1)(point)
        self.dev.ioctl(I.DRM_IOCTL_SYNCOBJ_TIMELINE_SIGNAL, D.DrmSyncobjTimelineArray(
            handles=address_of(handles), points=address_of(points), count_handles=1))

    def reset(self) -> None:
        handles = self._handles()
        self.dev.ioctl(I.DRM_IOCTL_SYNCOBJ_RESET, D.DrmSyncobjArray(handles=address_of(handles),
                                                                    count_handles=1))

    def query(self, *, last_submitted: bool = False) -> int:
        """The timeline payload (last signalled point; 0 for a binary syncobj)."""
        handles, points = self._handles(), (ctypes.c_uint64 * 1)()
        flags = D.DRM_SYNCOBJ_QUERY_FLAGS_LAST_SUBMITTED if last_submitted else 0
        self.dev.ioctl(I.DRM_IOCTL_SYNCOBJ_QUERY, D.DrmSyncobjTimelineArray(
            handles=address_of(handles), points=address_of(points), count_handles=1, flags=flags))
        return int(points[0])

    def destroy(self) -> None:
        self.dev.ioctl(I.DRM_IOCTL_SYNCOBJ_DESTROY, D.DrmSyncobjDestroy(handle=self.handle))


@dataclass(eq=False)
class Vm:
    """A GPU VM of a :class:`GpuDevice`."""

    dev: GpuDevice
    id: int
    user_va_range: int

    def _bind(self, ops: list[S.DrmPanthorVmBindOp], asynchronous: bool = False) -> None:
        arr, obj = _obj_array(ops, S.DrmPanthorVmBindOp)
        args = S.DrmPanthorVmBind(vm_id=self.id, flags=S.DRM_PANTHOR_VM_BIND_ASYNC if asynchronous else 0,
                                  ops=obj)
        self.dev.ioctl(I.DRM_IOCTL_PANTHOR_VM_BIND, args)
        del arr

    def map(self, bo: Bo, va: int, *, offset: int = 0, size: int | None = None,
            flags: int | str | Iterable[str] = 0) -> None:
        """Synchronous MAP of ``bo`` (from ``offset``, ``size`` bytes: default the rest) at ``va``."""
        length = bo.size - offset if size is None else size
        self._bind([S.DrmPanthorVmBindOp(flags=S.DRM_PANTHOR_VM_BIND_OP_TYPE_MAP | map_flags(flags),
                                         bo_handle=bo.handle, bo_offset=offset, va=va, size=length)])

    def unmap(self, va: int, size: int) -> None:
        """Synchronous UNMAP of ``[va, va+size)`` (unmapped parts are fine)."""
        self._bind([S.DrmPanthorVmBindOp(flags=S.DRM_PANTHOR_VM_BIND_OP_TYPE_UNMAP, va=va, size=size)])

    def bind_async(self, kind: str, *, bo: Bo | None = None, va: int = 0, size: int = 0, offset: int = 0,
                   flags: int | str | Iterable[str] = 0, wait: Iterable[Any] = (),
                   signal: Iterable[Any] = ()) -> None:
        """One asynchronous op (``"map"``, ``"unmap"`` or ``"sync"``): runs after ``wait``, then signals
        ``signal``."""
        types = {"map": S.DRM_PANTHOR_VM_BIND_OP_TYPE_MAP, "unmap": S.DRM_PANTHOR_VM_BIND_OP_TYPE_UNMAP,
                 "sync": S.DRM_PANTHOR_VM_BIND_OP_TYPE_SYNC_ONLY}
        if kind not in types:
            raise InvalidArgument(f"bind kind {kind!r} is not map, unmap or sync")
        syncs = sync_ops(wait, signal)
        sync_arr, sync_obj = _obj_array(syncs, S.DrmPanthorSyncOp)
        op = S.DrmPanthorVmBindOp(flags=types[kind] | map_flags(flags), bo_handle=bo.handle if bo else 0,
                                  bo_offset=offset, va=va, size=size, syncs=sync_obj)
        self._bind([op], asynchronous=True)
        del sync_arr

    @property
    def usable(self) -> bool:
        """VM_GET_STATE: False once an asynchronous bind failed."""
        args = S.DrmPanthorVmGetState(vm_id=self.id)
        self.dev.ioctl(I.DRM_IOCTL_PANTHOR_VM_GET_STATE, args)
        return int(args.state) == S.DRM_PANTHOR_VM_STATE_USABLE

    def destroy(self) -> None:
        self.dev.ioctl(I.DRM_IOCTL_PANTHOR_VM_DESTROY, S.DrmPanthorVmDestroy(id=self.id))


@dataclass
class Submit:
    """One job of :meth:`Group.submit`: a command stream at ``stream_addr`` (GPU VA, 64-byte aligned) of
    ``stream_size`` bytes on ``queue``; 0/0 makes a pure synchronisation point."""

    queue: int = 0
    stream_addr: int = 0
    stream_size: int = 0
    latest_flush: int = 0
    wait: Sequence[Any] = ()
    signal: Sequence[Any] = ()


@dataclass(frozen=True)
class GroupState:
    """GROUP_GET_STATE."""

    timed_out: bool
    fatal_fault: bool
    innocent: bool
    fatal_queues: int


@dataclass(eq=False)
class Group:
    """A scheduling group (queues on one VM)."""

    dev: GpuDevice
    handle: int
    vm: Vm

    def submit(self, jobs: Sequence[Submit]) -> None:
        """GROUP_SUBMIT of every job at once (all or nothing)."""
        keep: list[Any] = []
        entries = []
        for job in jobs:
            arr, obj = _obj_array(sync_ops(job.wait, job.signal), S.DrmPanthorSyncOp)
            keep.append(arr)
            entries.append(S.DrmPanthorQueueSubmit(queue_index=job.queue, stream_size=job.stream_size,
                                                   stream_addr=job.stream_addr, latest_flush=job.latest_flush,
                                                   syncs=obj))
        arr, obj = _obj_array(entries, S.DrmPanthorQueueSubmit)
        self.dev.ioctl(I.DRM_IOCTL_PANTHOR_GROUP_SUBMIT,
                       S.DrmPanthorGroupSubmit(group_handle=self.handle, queue_submits=obj))
        del arr, keep

    def state(self) -> GroupState:
        args = S.DrmPanthorGroupGetState(group_handle=self.handle)
        self.dev.ioctl(I.DRM_IOCTL_PANTHOR_GROUP_GET_STATE, args)
        flags = int(args.state)
        return GroupState(bool(flags & S.DRM_PANTHOR_GROUP_STATE_TIMEDOUT),
                          bool(flags & S.DRM_PANTHOR_GROUP_STATE_FATAL_FAULT),
                          bool(flags & S.DRM_PANTHOR_GROUP_STATE_INNOCENT), int(args.fatal_queues))

    def destroy(self) -> None:
        self.dev.ioctl(I.DRM_IOCTL_PANTHOR_GROUP_DESTROY, S.DrmPanthorGroupDestroy(group_handle=self.handle))


@dataclass(eq=False)
class TilerHeap:
    """A tiler heap (TILER_HEAP_CREATE outputs)."""

    dev: GpuDevice
    handle: int
    context_va: int
    first_chunk_va: int

    def destroy(self) -> None:
        self.dev.ioctl(I.DRM_IOCTL_PANTHOR_TILER_HEAP_DESTROY,
                       S.DrmPanthorTilerHeapDestroy(handle=self.handle))


class GpuDevice(Device):
    """:class:`Device` plus Python-friendly constructors for every object."""

    @classmethod
    def open(cls, backend: str = "auto", firmware: str | None = None, **options: Any) -> GpuDevice:
        """See :func:`uio_driver.open`."""
        return open_device(backend, firmware, device_class=cls, **options)  # type: ignore[return-value]

    def _query(self, kind: int, struct: type[S.UapiStruct]) -> Any:
        out = struct()
        self.ioctl(I.DRM_IOCTL_PANTHOR_DEV_QUERY, S.DrmPanthorDevQuery(
            type=kind, size=ctypes.sizeof(struct), pointer=address_of(out)))
        return out

    def gpu_info(self) -> S.DrmPanthorGpuInfo:
        return self._query(S.DRM_PANTHOR_DEV_QUERY_GPU_INFO, S.DrmPanthorGpuInfo)

    def csif_info(self) -> S.DrmPanthorCsifInfo:
        return self._query(S.DRM_PANTHOR_DEV_QUERY_CSIF_INFO, S.DrmPanthorCsifInfo)

    def timestamp_info(self) -> S.DrmPanthorTimestampInfo:
        return self._query(S.DRM_PANTHOR_DEV_QUERY_TIMESTAMP_INFO, S.DrmPanthorTimestampInfo)

    def allowed_priorities(self) -> int:
        return int(self._query(S.DRM_PANTHOR_DEV_QUERY_GROUP_PRIORITIES_INFO,
                               S.DrmPanthorGroupPrioritiesInfo).allowed_mask)

    def vm_create(self, user_va_range: int = 0) -> Vm:
        args = S.DrmPanthorVmCreate(user_va_range=user_va_range)
        self.ioctl(I.DRM_IOCTL_PANTHOR_VM_CREATE, args)
        return Vm(self, int(args.id), int(args.user_va_range))

    def bo_create(self, size: int, *, no_mmap: bool = False, vm: Vm | None = None) -> Bo:
        flags = S.DRM_PANTHOR_BO_NO_MMAP if no_mmap else 0
        args = S.DrmPanthorBoCreate(size=size, flags=flags, exclusive_vm_id=vm.id if vm else 0)
        self.ioctl(I.DRM_IOCTL_PANTHOR_BO_CREATE, args)
        return Bo(self, int(args.handle), int(args.size), flags)

    def syncobj_create(self, *, signaled: bool = False) -> SyncObj:
        args = D.DrmSyncobjCreate(flags=D.DRM_SYNCOBJ_CREATE_SIGNALED if signaled else 0)
        self.ioctl(I.DRM_IOCTL_SYNCOBJ_CREATE, args)
        return SyncObj(self, int(args.handle))

    def group_create(self, vm: Vm, queues: Sequence[tuple[int, int]] = ((0, 16 << 10),), *,
                     priority: int | str = "medium", compute_core_mask: int | None = None,
                     fragment_core_mask: int | None = None, tiler_core_mask: int | None = None) -> Group:
        """GROUP_CREATE with ``queues`` as (priority 0..15, ring size) pairs; masks default to every core."""
        info = self.gpu_info()
        prio = PRIORITIES[priority] if isinstance(priority, str) else priority
        masks = [info.shader_present if compute_core_mask is None else compute_core_mask,
                 info.shader_present if fragment_core_mask is None else fragment_core_mask,
                 info.tiler_present if tiler_core_mask is None else tiler_core_mask]
        qarr, qobj = _obj_array([S.DrmPanthorQueueCreate(priority=p, ringbuf_size=r) for p, r in queues],
                                S.DrmPanthorQueueCreate)
        args = S.DrmPanthorGroupCreate(
            queues=qobj, max_compute_cores=bin(masks[0]).count("1"),
            max_fragment_cores=bin(masks[1]).count("1"), max_tiler_cores=bin(masks[2]).count("1"),
            priority=prio, compute_core_mask=masks[0], fragment_core_mask=masks[1], tiler_core_mask=masks[2],
            vm_id=vm.id)
        self.ioctl(I.DRM_IOCTL_PANTHOR_GROUP_CREATE, args)
        del qarr
        return Group(self, int(args.group_handle), vm)

    def heap_create(self, vm: Vm, *, chunk_size: int = 2 << 20, initial_chunks: int = 1, max_chunks: int = 64,
                    target_in_flight: int = 65535) -> TilerHeap:
        args = S.DrmPanthorTilerHeapCreate(vm_id=vm.id, initial_chunk_count=initial_chunks,
                                           chunk_size=chunk_size, max_chunks=max_chunks,
                                           target_in_flight=target_in_flight)
        self.ioctl(I.DRM_IOCTL_PANTHOR_TILER_HEAP_CREATE, args)
        return TilerHeap(self, int(args.handle), int(args.tiler_heap_ctx_gpu_va),
                         int(args.first_heap_chunk_gpu_va))
