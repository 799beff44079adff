"""The DRM sync-object ioctls: CREATE, DESTROY, WAIT, RESET, SIGNAL, TIMELINE_WAIT, QUERY,
TRANSFER, TIMELINE_SIGNAL (``drm_syncobj.c``; cs-isa-and-uapi.md §4.1-§4.3).

Checks, in the kernel's order: flags/pad (EINVAL), ``count_handles == 0`` (EINVAL, as the reference
table gives it), the handle array (ENOMEM when the kernel's ``kmalloc_array`` would fail, EFAULT),
every handle looked up (ENOENT), the points array (EFAULT). Waits take an absolute CLOCK_MONOTONIC
deadline (0 or past: poll) and fail with ETIME; a point with no fence is EINVAL unless
WAIT_FOR_SUBMIT (or WAIT_AVAILABLE for timeline waits) is set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from uio_driver.errors import InvalidArgument, OutOfMemory
from uio_driver.uapi import drm as D
from uio_driver.uapi.objects import NoEntry
from uio_driver.uapi.syncobj import (
    DRM_SYNCOBJ_CREATE_SIGNALED,
    DRM_SYNCOBJ_QUERY_FLAGS_LAST_SUBMITTED,
    DRM_SYNCOBJ_WAIT_FLAGS_WAIT_ALL,
    DRM_SYNCOBJ_WAIT_FLAGS_WAIT_AVAILABLE,
    DRM_SYNCOBJ_WAIT_FLAGS_WAIT_DEADLINE,
    DRM_SYNCOBJ_WAIT_FLAGS_WAIT_FOR_SUBMIT,
    Syncobj,
    TimeExpired,
    signaled_stub,
    wait_fences,
)
from uio_driver.uapi.usercopy import copy_from_user, copy_to_user

if TYPE_CHECKING:
    from uio_driver.uapi.device import Device

WAIT_FLAGS = (DRM_SYNCOBJ_WAIT_FLAGS_WAIT_ALL | DRM_SYNCOBJ_WAIT_FLAGS_WAIT_FOR_SUBMIT
              | DRM_SYNCOBJ_WAIT_FLAGS_WAIT_DEADLINE)
TIMELINE_WAIT_FLAGS = WAIT_FLAGS | DRM_SYNCOBJ_WAIT_FLAGS_WAIT_AVAILABLE
#: Largest kmalloc() on arm64 with 4 KiB pages (KMALLOC_MAX_SIZE, order-10 pages) [inferred]: handle and
#: point arrays above it fail with ENOMEM before anything is read.
KMALLOC_MAX_SIZE = 4 << 20
#: DRM_SYNCOBJ_WAIT_FOR_SUBMIT_TIMEOUT of drm_syncobj_find_fence (10 s).
WAIT_FOR_SUBMIT_TIMEOUT_S = 10.0


def _count(count: int, what: str) -> int:
    if count == 0:
        raise InvalidArgument(f"{what}: count_handles is 0", value=0)
    return count


def _user_array(ptr: int, count: int, dtype: type, what: str) -> np.ndarray:
    size = count * np.dtype(dtype).itemsize
    if size > KMALLOC_MAX_SIZE:
        raise OutOfMemory(f"{what}: {count} entries ({size:#x} bytes) exceed the kernel's kmalloc limit",
                          value=count)
    return np.frombuffer(copy_from_user(ptr, size), dtype=dtype)


def _find_all(dev: Device, ptr: int, count: int, what: str) -> list[Syncobj]:
    """``drm_syncobj_array_find``: copy the handles, look every one up (ENOENT on the first unknown)."""
    handles = _user_array(ptr, count, np.uint32, what)
    out: list[Syncobj] = []
    for h in handles.tolist():
        so = dev.objects.syncobjs.get(h)
        if so is None:
            raise NoEntry(f"{what}: no syncobj with handle {h}", value=h)
        out.append(so)
    return out


def _points(ptr: int, count: int, what: str) -> list[int]:
    if ptr == 0:
        return [0] * count
    return [int(p) for p in _user_array(ptr, count, np.uint64, what).tolist()]


# -- create / destroy --------------------------------------------------------------------------------


def syncobj_create(dev: Device, args: D.DrmSyncobjCreate) -> None:
    """DRM_IOCTL_SYNCOBJ_CREATE (flag CREATE_SIGNALED: starts with a signalled stub fence)."""
    flags = int(args.flags)
    if flags & ~DRM_SYNCOBJ_CREATE_SIGNALED:
        raise InvalidArgument(f"SYNCOBJ_CREATE: unknown flags {flags:#x}", value=flags)
    args.handle = dev.objects.syncobjs.alloc(Syncobj(signaled=bool(flags)))


def syncobj_destroy(dev: Device, args: D.DrmSyncobjDestroy) -> None:
    """DRM_IOCTL_SYNCOBJ_DESTROY: ``pad`` or an unknown handle -> EINVAL."""
    if args.pad:
        raise InvalidArgument(f"SYNCOBJ_DESTROY: pad is {int(args.pad):#x}", value=int(args.pad))
    if dev.objects.syncobjs.remove(int(args.handle)) is None:
        raise InvalidArgument(f"SYNCOBJ_DESTROY: no syncobj with handle {int(args.handle)}",
                              value=int(args.handle))


# -- waits --------------------------------------------------------------------------------------------


def _wait(dev: Device, syncobjs: list[Syncobj], points: list[int], flags: int, timeout_nsec: int) -> int:
    result = wait_fences(syncobjs, points, flags, lambda done: dev.wait_deadline(done, timeout_nsec))
    return result.first_signaled


def syncobj_wait(dev: Device, args: D.DrmSyncobjWait) -> None:
    """DRM_IOCTL_SYNCOBJ_WAIT (both the 32-byte and the 40-byte struct reach this handler)."""
    flags = int(args.flags)
    if flags & ~WAIT_FLAGS:
        raise InvalidArgument(f"SYNCOBJ_WAIT: unknown flags {flags & ~WAIT_FLAGS:#x}", value=flags)
    count = _count(int(args.count_handles), "SYNCOBJ_WAIT")
    syncobjs = _find_all(dev, int(args.handles), count, "SYNCOBJ_WAIT")
    args.first_signaled = _wait(dev, syncobjs, [0] * count, flags, int(args.timeout_nsec))


def syncobj_timeline_wait(dev: Device, args: D.DrmSyncobjTimelineWait) -> None:
    """DRM_IOCTL_SYNCOBJ_TIMELINE_WAIT (adds WAIT_AVAILABLE and the points array; NULL = all 0)."""
    flags = int(args.flags)
    if flags & ~TIMELINE_WAIT_FLAGS:
        raise InvalidArgument(f"SYNCOBJ_TIMELINE_WAIT: unknown flags {flags & ~TIMELINE_WAIT_FLAGS:#x}",
                              value=flags)
    count = _count(int(args.count_handles), "SYNCOBJ_TIMELINE_WAIT")
    syncobjs = _find_all(dev, int(args.handles), count, "SYNCOBJ_TIMELINE_WAIT")
    points = _points(int(args.points), count, "SYNCOBJ_TIMELINE_WAIT")
    args.first_signaled = _wait(dev, syncobjs, points, flags, int(args.timeout_nsec))


# -- reset / signal / query ------------------------------------------------------------------------------


def syncobj_reset(dev: Device, args: D.DrmSyncobjArray) -> None:
    """DRM_IOCTL_SYNCOBJ_RESET: every syncobj loses its fence."""
    if args.pad:
        raise InvalidArgument(f"SYNCOBJ_RESET: pad is {int(args.pad):#x}", value=int(args.pad))
    count = _count(int(args.count_handles), "SYNCOBJ_RESET")
    for so in _find_all(dev, int(args.handles), count, "SYNCOBJ_RESET"):
        so.replace_fence(None)


def syncobj_signal(dev: Device, args: D.DrmSyncobjArray) -> None:
    """DRM_IOCTL_SYNCOBJ_SIGNAL: every syncobj gets an already signalled stub fence."""
    if args.pad:
        raise InvalidArgument(f"SYNCOBJ_SIGNAL: pad is {int(args.pad):#x}", value=int(args.pad))
    count = _count(int(args.count_handles), "SYNCOBJ_SIGNAL")
    for so in _find_all(dev, int(args.handles), count, "SYNCOBJ_SIGNAL"):
        so.replace_fence(signaled_stub())


def syncobj_timeline_signal(dev: Device, args: D.DrmSyncobjTimelineArray) -> None:
    """DRM_IOCTL_SYNCOBJ_TIMELINE_SIGNAL: a signalled point at each (handle, point); flags MBZ."""
    if args.flags:
        raise InvalidArgument(f"SYNCOBJ_TIMELINE_SIGNAL: flags {int(args.flags):#x} must be 0",
                              value=int(args.flags))
    count = _count(int(args.count_handles), "SYNCOBJ_TIMELINE_SIGNAL")
    syncobjs = _find_all(dev, int(args.handles), count, "SYNCOBJ_TIMELINE_SIGNAL")
    points = _points(int(args.points), count, "SYNCOBJ_TIMELINE_SIGNAL")
    for so, point in zip(syncobjs, points, strict=True):
        so.add_point(signaled_stub(), point)


def syncobj_query(dev: Device, args: D.DrmSyncobjTimelineArray) -> None:
    """DRM_IOCTL_SYNCOBJ_QUERY: per handle the last signalled (or, with LAST_SUBMITTED, submitted)
    timeline point, 0 for a binary syncobj; written one u64 at a time (EFAULT stops the loop)."""
    flags = int(args.flags)
    if flags & ~DRM_SYNCOBJ_QUERY_FLAGS_LAST_SUBMITTED:
        raise InvalidArgument(f"SYNCOBJ_QUERY: unknown flags {flags:#x}", value=flags)
    count = _count(int(args.count_handles), "SYNCOBJ_QUERY")
    syncobjs = _find_all(dev, int(args.handles), count, "SYNCOBJ_QUERY")
    last_submitted = bool(flags & DRM_SYNCOBJ_QUERY_FLAGS_LAST_SUBMITTED)
    base = int(args.points)
    for i, so in enumerate(syncobjs):
        copy_to_user(base + 8 * i if base else 0, int(so.query(last_submitted)).to_bytes(8, "little"))


def syncobj_transfer(dev: Device, args: D.DrmSyncobjTransfer) -> None:
    """DRM_IOCTL_SYNCOBJ_TRANSFER: source (handle, point) fence -> destination point or fence."""
    if args.pad:
        raise InvalidArgument(f"SYNCOBJ_TRANSFER: pad is {int(args.pad):#x}", value=int(args.pad))
    dst = dev.objects.syncobjs.get(int(args.dst_handle))
    if dst is None:
        raise NoEntry(f"SYNCOBJ_TRANSFER: no syncobj with handle {int(args.dst_handle)}",
                      value=int(args.dst_handle))
    src = dev.objects.syncobjs.get(int(args.src_handle))
    if src is None:
        raise NoEntry(f"SYNCOBJ_TRANSFER: no syncobj with handle {int(args.src_handle)}",
                      value=int(args.src_handle))
    point = int(args.src_point)
    fence = src.find_fence(point)
    if fence is None and int(args.flags) & DRM_SYNCOBJ_WAIT_FLAGS_WAIT_FOR_SUBMIT:
        if not dev.run_until(lambda: src.find_fence(point) is not None, WAIT_FOR_SUBMIT_TIMEOUT_S):
            raise TimeExpired(f"SYNCOBJ_TRANSFER: nothing was submitted for point {point} in time")
        fence = src.find_fence(point)
    if fence is None:
        raise InvalidArgument(f"SYNCOBJ_TRANSFER: source has no fence for point {point}", value=point)
    if args.dst_point:
        dst.add_point(fence, int(args.dst_point))
    else:
        dst.replace_fence(fence)


def release_all(dev: Device) -> None:
    for handle in list(dev.objects.syncobjs):
        dev.objects.syncobjs.remove(handle)


HANDLERS = {
    0xBF: syncobj_create,
    0xC0: syncobj_destroy,
    0xC3: syncobj_wait,
    0xC4: syncobj_reset,
    0xC5: syncobj_signal,
    0xCA: syncobj_timeline_wait,
    0xCB: syncobj_query,
    0xCC: syncobj_transfer,
    0xCD: syncobj_timeline_signal,
}
