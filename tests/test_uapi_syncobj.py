"""DRM sync objects through Device.ioctl: binary and timeline semantics, waits, errors
(cs-isa-and-uapi.md §4.1-§4.3; dma-fence-chain semantics for timelines).

Fences that stand for unfinished GPU work are made with :class:`Fence` probes driven by the simulator's
virtual clock, so waits advance virtual time and never sleep for real.
"""

from __future__ import annotations

import ctypes
import errno
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

import uio_driver
from uio_driver.api import GpuDevice, SyncObj
from uio_driver.uapi import drm as D
from uio_driver.uapi import ioctls as I
from uio_driver.uapi.syncobj import Fence
from uio_driver.uapi.usercopy import address_of

pytestmark = pytest.mark.sim_only

WAIT_ALL, WAIT_FOR_SUBMIT, WAIT_AVAILABLE = 1, 2, 4


@pytest.fixture
def dev() -> Iterator[GpuDevice]:
    d = uio_driver.open(backend="sim", strict=True)
    try:
        yield d
    finally:
        d.close()


def u32s(*values: int) -> Any:
    return (ctypes.c_uint32 * max(1, len(values)))(*values)


def u64s(*values: int) -> Any:
    return (ctypes.c_uint64 * max(1, len(values)))(*values)


def errno_of(dev: GpuDevice, request: int, arg: Any) -> int:
    before = dev.objects.snapshot()
    with pytest.raises(OSError) as info:
        dev.ioctl(request, arg)
    assert dev.objects.snapshot() == before
    return int(info.value.errno or 0)


def pending_until(dev: GpuDevice, seconds: float) -> Fence:
    """A fence that signals ``seconds`` of platform time from now (like a GPU job)."""
    due = dev.clock.now() + seconds
    return Fence("job", probe=lambda: (dev.clock.now() >= due, 0))


def install(dev: GpuDevice, so: SyncObj, fence: Fence, point: int = 0) -> None:
    obj = dev.objects.syncobjs.get(so.handle)
    assert obj is not None
    if point:
        obj.add_point(fence, point)
    else:
        obj.replace_fence(fence)


def wait(dev: GpuDevice, sos: Sequence[SyncObj], flags: int = 0, timeout_nsec: int = 0) -> D.DrmSyncobjWait:
    handles = u32s(*(s.handle for s in sos))
    args = D.DrmSyncobjWait(
        handles=address_of(handles), count_handles=len(sos), flags=flags, timeout_nsec=timeout_nsec
    )
    dev.ioctl(I.DRM_IOCTL_SYNCOBJ_WAIT, args)
    return args


def in_seconds(s: float) -> int:
    return time.monotonic_ns() + int(s * 1e9)


# -- create / destroy ----------------------------------------------------------------------------------


def test_create_and_destroy(dev: GpuDevice) -> None:
    a = D.DrmSyncobjCreate()
    dev.ioctl(I.DRM_IOCTL_SYNCOBJ_CREATE, a)
    assert a.handle == 1
    assert errno_of(dev, I.DRM_IOCTL_SYNCOBJ_CREATE, D.DrmSyncobjCreate(flags=2)) == errno.EINVAL
    assert errno_of(dev, I.DRM_IOCTL_SYNCOBJ_DESTROY, D.DrmSyncobjDestroy(handle=1, pad=1)) == errno.EINVAL
    dev.ioctl(I.DRM_IOCTL_SYNCOBJ_DESTROY, D.DrmSyncobjDestroy(handle=1))
    assert errno_of(dev, I.DRM_IOCTL_SYNCOBJ_DESTROY, D.DrmSyncobjDestroy(handle=1)) == errno.EINVAL


def test_created_signaled(dev: GpuDevice) -> None:
    so = dev.syncobj_create(signaled=True)
    assert wait(dev, [so]).first_signaled == 0


# -- binary waits ------------------------------------------------------------------------------------------


def test_wait_argument_errors(dev: GpuDevice) -> None:
    so = dev.syncobj_create(signaled=True)
    handles = u32s(so.handle, 77)
    base = {"handles": address_of(handles), "count_handles": 1}
    assert (
        errno_of(dev, I.DRM_IOCTL_SYNCOBJ_WAIT, D.DrmSyncobjWait(**base, flags=WAIT_AVAILABLE))
        == errno.EINVAL
    )
    assert (
        errno_of(dev, I.DRM_IOCTL_SYNCOBJ_WAIT, D.DrmSyncobjWait(handles=address_of(handles))) == errno.EINVAL
    )
    assert (
        errno_of(dev, I.DRM_IOCTL_SYNCOBJ_WAIT, D.DrmSyncobjWait(handles=24, count_handles=1)) == errno.EFAULT
    )
    assert (
        errno_of(
            dev, I.DRM_IOCTL_SYNCOBJ_WAIT, D.DrmSyncobjWait(handles=address_of(handles), count_handles=2)
        )
        == errno.ENOENT
    )
    assert (
        errno_of(
            dev,
            I.DRM_IOCTL_SYNCOBJ_WAIT,
            D.DrmSyncobjWait(handles=address_of(handles), count_handles=1 << 22),
        )
        == errno.ENOMEM
    )


def test_unsubmitted_binary_is_einval_unless_wait_for_submit(dev: GpuDevice) -> None:
    so = dev.syncobj_create()
    with pytest.raises(OSError) as info:
        wait(dev, [so])
    assert info.value.errno == errno.EINVAL
    with pytest.raises(OSError) as info:
        wait(dev, [so], flags=WAIT_FOR_SUBMIT)
    assert info.value.errno == errno.ETIME


def test_wait_for_submit_times_out_in_virtual_time(dev: GpuDevice) -> None:
    so = dev.syncobj_create()
    t0, host0 = dev.clock.now(), time.monotonic()
    with pytest.raises(OSError) as info:
        wait(dev, [so], flags=WAIT_FOR_SUBMIT, timeout_nsec=in_seconds(0.5))
    assert info.value.errno == errno.ETIME
    assert 0.45 <= dev.clock.now() - t0 <= 0.55  # the deadline became a virtual wait
    assert time.monotonic() - host0 < 5


def test_wait_returns_when_the_fence_signals(dev: GpuDevice) -> None:
    so = dev.syncobj_create()
    install(dev, so, pending_until(dev, 0.2))
    t0 = dev.clock.now()
    with pytest.raises(OSError) as info:
        wait(dev, [so])  # timeout 0: just look
    assert info.value.errno == errno.ETIME
    wait(dev, [so], timeout_nsec=in_seconds(2.0))
    assert 0.2 <= dev.clock.now() - t0 < 0.3


def test_absolute_timeout_in_the_past_polls(dev: GpuDevice) -> None:
    so = dev.syncobj_create()
    install(dev, so, pending_until(dev, 0.2))
    t0 = dev.clock.now()
    with pytest.raises(OSError) as info:
        wait(dev, [so], timeout_nsec=time.monotonic_ns() - 1_000_000_000)
    assert info.value.errno == errno.ETIME
    assert dev.clock.now() - t0 < 0.01


def test_wait_any_and_wait_all(dev: GpuDevice) -> None:
    slow, fast, done = dev.syncobj_create(), dev.syncobj_create(), dev.syncobj_create(signaled=True)
    install(dev, slow, pending_until(dev, 1.0))
    install(dev, fast, pending_until(dev, 0.1))
    assert wait(dev, [slow, done]).first_signaled == 1  # already signalled: no waiting
    assert wait(dev, [slow, fast], timeout_nsec=in_seconds(5)).first_signaled == 1
    with pytest.raises(OSError) as info:
        wait(dev, [slow, fast], flags=WAIT_ALL, timeout_nsec=in_seconds(0.3))
    assert info.value.errno == errno.ETIME
    args = wait(dev, [slow, fast], flags=WAIT_ALL, timeout_nsec=in_seconds(5))
    assert args.first_signaled == 1  # the first entry found signalled on the first pass
    install(dev, slow, pending_until(dev, 0.2))
    install(dev, fast, pending_until(dev, 0.1))
    args = wait(dev, [slow, fast], flags=WAIT_ALL, timeout_nsec=in_seconds(5))
    assert args.first_signaled == 0xFFFFFFFF  # nothing was done on the first pass: the kernel's ~0
    assert wait(dev, [done, fast], flags=WAIT_ALL).first_signaled == 0


def test_a_failed_fence_still_counts_as_signalled(dev: GpuDevice) -> None:
    so = dev.syncobj_create()
    fence = Fence("failed job")
    fence.signal(-errno.EINVAL)
    install(dev, so, fence)
    wait(dev, [so])


def test_old_32_byte_wait_struct(dev: GpuDevice) -> None:
    so = dev.syncobj_create(signaled=True)
    handles = u32s(so.handle)
    buf = bytearray(
        bytes(D.DrmSyncobjWait(handles=address_of(handles), count_handles=1, first_signaled=9))[:32]
    )
    dev.ioctl(0xC02064C3, buf)  # reference §4.1 old size
    assert int.from_bytes(buf[24:28], "little") == 0


# -- reset / signal -----------------------------------------------------------------------------------------


def test_reset_and_signal(dev: GpuDevice) -> None:
    a, b = dev.syncobj_create(signaled=True), dev.syncobj_create()
    handles = u32s(a.handle, b.handle, 99)
    arr = D.DrmSyncobjArray(handles=address_of(handles), count_handles=2)
    dev.ioctl(I.DRM_IOCTL_SYNCOBJ_SIGNAL, arr)
    wait(dev, [a, b], flags=WAIT_ALL)
    dev.ioctl(I.DRM_IOCTL_SYNCOBJ_RESET, arr)
    with pytest.raises(OSError) as info:
        wait(dev, [a])
    assert info.value.errno == errno.EINVAL
    for request in (I.DRM_IOCTL_SYNCOBJ_RESET, I.DRM_IOCTL_SYNCOBJ_SIGNAL):
        assert (
            errno_of(dev, request, D.DrmSyncobjArray(handles=address_of(handles), count_handles=2, pad=1))
            == errno.EINVAL
        )
        assert errno_of(dev, request, D.DrmSyncobjArray(handles=address_of(handles))) == errno.EINVAL
        # one unknown handle: ENOENT and nobody is touched
        assert (
            errno_of(dev, request, D.DrmSyncobjArray(handles=address_of(handles), count_handles=3))
            == errno.ENOENT
        )


# -- timelines --------------------------------------------------------------------------------------------


def test_timeline_signal_query_and_wait(dev: GpuDevice) -> None:
    so = dev.syncobj_create()
    so.signal(point=1)
    so.signal(point=3)
    assert so.query() == 3
    so.wait(point=2, timeout=0)  # point 3 >= 2 has signalled
    with pytest.raises(OSError) as info:
        so.wait(point=4, timeout=0)
    assert info.value.errno == errno.EINVAL  # not submitted
    with pytest.raises(OSError) as info:
        so.wait(point=4, timeout=0, wait_for_submit=True)
    assert info.value.errno == errno.ETIME


def test_timeline_points_signal_in_order(dev: GpuDevice) -> None:
    so = dev.syncobj_create()
    so.signal(point=3)
    install(dev, so, pending_until(dev, 1.0), point=4)
    so.signal(point=5)  # signalled itself, but the chain waits for point 4
    assert so.query() == 3
    assert so.query(last_submitted=True) == 5
    with pytest.raises(OSError) as info:
        so.wait(point=5, timeout=0.5)
    assert info.value.errno == errno.ETIME
    so.wait(point=5, timeout=1.0)
    assert so.query() == 5


def test_wait_available(dev: GpuDevice) -> None:
    so = dev.syncobj_create()
    install(dev, so, pending_until(dev, 10.0), point=2)
    so.wait(point=2, available=True, timeout=0)  # submitted is enough
    with pytest.raises(OSError) as info:
        so.wait(point=2, timeout=0)
    assert info.value.errno == errno.ETIME


def test_timeline_wait_null_points_and_errors(dev: GpuDevice) -> None:
    so = dev.syncobj_create(signaled=True)
    handles = u32s(so.handle)
    args = D.DrmSyncobjTimelineWait(handles=address_of(handles), points=0, count_handles=1)
    dev.ioctl(I.DRM_IOCTL_SYNCOBJ_TIMELINE_WAIT, args)
    assert (
        errno_of(
            dev,
            I.DRM_IOCTL_SYNCOBJ_TIMELINE_WAIT,
            D.DrmSyncobjTimelineWait(handles=address_of(handles), points=40, count_handles=1),
        )
        == errno.EFAULT
    )
    assert (
        errno_of(
            dev,
            I.DRM_IOCTL_SYNCOBJ_TIMELINE_WAIT,
            D.DrmSyncobjTimelineWait(handles=address_of(handles), count_handles=1, flags=16),
        )
        == errno.EINVAL
    )


def test_query_and_timeline_signal_errors(dev: GpuDevice) -> None:
    binary = dev.syncobj_create(signaled=True)
    handles, points = u32s(binary.handle), u64s(77)
    q = D.DrmSyncobjTimelineArray(handles=address_of(handles), points=address_of(points), count_handles=1)
    dev.ioctl(I.DRM_IOCTL_SYNCOBJ_QUERY, q)
    assert points[0] == 0  # a binary syncobj has no payload
    for request, flags in ((I.DRM_IOCTL_SYNCOBJ_QUERY, 2), (I.DRM_IOCTL_SYNCOBJ_TIMELINE_SIGNAL, 1)):
        bad = D.DrmSyncobjTimelineArray(
            handles=address_of(handles), points=address_of(points), count_handles=1, flags=flags
        )
        assert errno_of(dev, request, bad) == errno.EINVAL
        empty = D.DrmSyncobjTimelineArray(handles=address_of(handles), points=address_of(points))
        assert errno_of(dev, request, empty) == errno.EINVAL
    q.points = 8
    with pytest.raises(OSError) as info:
        dev.ioctl(I.DRM_IOCTL_SYNCOBJ_QUERY, q)
    assert info.value.errno == errno.EFAULT
    sig = D.DrmSyncobjTimelineArray(handles=address_of(handles), points=0, count_handles=1)
    dev.ioctl(I.DRM_IOCTL_SYNCOBJ_TIMELINE_SIGNAL, sig)  # NULL points: point 0


def test_transfer_timeline_point_to_binary(dev: GpuDevice) -> None:
    timeline, binary = dev.syncobj_create(), dev.syncobj_create()
    install(dev, timeline, pending_until(dev, 0.1), point=7)
    dev.ioctl(
        I.DRM_IOCTL_SYNCOBJ_TRANSFER,
        D.DrmSyncobjTransfer(src_handle=timeline.handle, dst_handle=binary.handle, src_point=7),
    )
    with pytest.raises(OSError):
        binary.wait(timeout=0)
    binary.wait(timeout=1.0)
    assert (
        errno_of(
            dev, I.DRM_IOCTL_SYNCOBJ_TRANSFER, D.DrmSyncobjTransfer(src_handle=timeline.handle, dst_handle=99)
        )
        == errno.ENOENT
    )
    assert (
        errno_of(
            dev,
            I.DRM_IOCTL_SYNCOBJ_TRANSFER,
            D.DrmSyncobjTransfer(src_handle=timeline.handle, dst_handle=binary.handle, src_point=8),
        )
        == errno.EINVAL
    )
