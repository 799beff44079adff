"""Hypothesis fuzz of every ioctl and of mmap: random structs, handles and pointers (valid buffers with
random contents, NULL, unmapped, misaligned) must only ever raise OSErrors with panthor's errnos, never
another exception, and the device must still run a job afterwards."""

from __future__ import annotations

import ctypes
import errno
import mmap
import struct
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import uio_driver
from uio_driver.api import Submit
from uio_driver.csf import CsBuilder
from uio_driver.uapi import ioctls as I
from uio_driver.uapi import structs as S
from uio_driver.uapi.usercopy import address_of

pytestmark = pytest.mark.sim_only

ALLOWED = {
    errno.EINVAL,
    errno.ENOENT,
    errno.EFAULT,
    errno.E2BIG,
    errno.ENOMEM,
    errno.EBUSY,
    errno.EACCES,
    errno.EPERM,
    errno.ETIME,
    errno.ENOTTY,
}
#: Scratch memory for user pointers: 8 KiB followed by a PROT_NONE guard page, so a pointer or a length
#: that runs past the end faults (EFAULT) instead of scribbling over the interpreter's heap - the fuzz
#: never hands out an address it does not own.
SCRATCH_SIZE = 8192
#: Element size of each ioctl's object array (the kernel's, drawn most of the time).
ELEMENT_SIZE = {S.DrmPanthorVmBind: 48, S.DrmPanthorGroupCreate: 8, S.DrmPanthorGroupSubmit: 40}
DESCS = sorted([*I.PANTHOR_IOCTLS.values(), *I.DRM_CORE_IOCTLS.values()], key=lambda d: d.request)
#: Draw the calls with arrays and sync ops (the deepest validation paths) more often.
WEIGHTED = DESCS + [d for d in DESCS for _ in range(4) if d.struct in ELEMENT_SIZE]


class Fixture:
    """One device shared by all examples, with a few live objects so small handles mean something."""

    def __init__(self) -> None:
        self.dev = uio_driver.open(backend="sim", strict=True, max_wait=0.005)
        self._map = mmap.mmap(-1, SCRATCH_SIZE + 4096)
        self.scratch = (ctypes.c_uint8 * SCRATCH_SIZE).from_buffer(self._map)
        libc = ctypes.CDLL(None, use_errno=True)
        guard = address_of(self.scratch) + SCRATCH_SIZE
        if libc.mprotect(ctypes.c_void_p(guard), ctypes.c_size_t(4096), 0) != 0:
            raise OSError(ctypes.get_errno(), "mprotect of the guard page failed")
        self.ensure()

    def ensure(self) -> None:
        """Recreate VM 1 (with BOs mapped at 0x100000), group 1 and syncobjs 1..3 if the fuzz removed them
        (the lowest free id comes back), so every example can reach past the handle checks."""
        objects = self.dev.objects
        try:
            if objects.vms.get(1) is None and len(objects.vms) < 32:
                vm = self.dev.vm_create()
                bo = self.dev.bo_create(8192)
                vm.map(bo, 0x100000)
            if objects.groups.get(1) is None and objects.vms.get(1) is not None:
                self.dev.group_create(uio_driver.api.Vm(self.dev, 1, 1 << 47), [(0, 16 << 10), (1, 4096)])
            while len(objects.syncobjs) < 3:
                self.dev.syncobj_create(signaled=True)
        except OSError:
            pass  # out of ids or memory: the example runs with what exists

    def region(self, i: int) -> int:
        """Address of quarter ``i`` of the scratch buffer (0: array elements, 1: sync ops, 2: handles,
        3: random bytes / output buffers)."""
        return address_of(self.scratch) + i * (SCRATCH_SIZE // 4)

    def values(self) -> st.SearchStrategy[int]:
        base = address_of(self.scratch)
        return st.one_of(
            st.sampled_from(
                [
                    0,
                    1,
                    2,
                    3,
                    4,
                    7,
                    8,
                    16,
                    24,
                    40,
                    48,
                    64,
                    0x1000,
                    0x10000,
                    0x100000,
                    1 << 31,
                    1 << 47,
                    0xFFFFFFFF,
                    (1 << 64) - 1,
                ]
            ),
            st.sampled_from([base, base + 8, base + 3, base + SCRATCH_SIZE - 8, 16, 4096 * 3]),
            st.integers(0, (1 << 64) - 1),
        )


@pytest.fixture(scope="module")
def fx() -> Iterator[Fixture]:
    f = Fixture()
    try:
        yield f
    finally:
        f.dev.close()


def check(fx: Fixture, request: int, arg: Any) -> None:
    try:
        fx.dev.ioctl(request, arg)
    except OSError as err:
        assert err.errno in ALLOWED, f"{request:#x}: errno {err.errno} ({err})"


def _sync_ops(draw: Any, fx: Fixture) -> bytes:
    ops = []
    for _ in range(8):
        flags = draw(st.sampled_from([0, 1 << 31, 1 << 31, (1 << 31) | 1, 1, 2, 1 << 8]))
        ops.append(
            S.DrmPanthorSyncOp(
                flags=flags,
                handle=draw(st.integers(0, 4)),
                timeline_value=draw(st.sampled_from([0, 0, 0, 1, 2, 7])),
            )
        )
    return b"".join(bytes(o) for o in ops)


def _elements(draw: Any, desc: I.IoctlDesc, fx: Fixture) -> bytes:
    """Plausible array elements for the ioctl's object array (region A of the scratch buffer)."""
    syncs = S.DrmPanthorObjArray(stride=16, count=draw(st.sampled_from([0, 0, 1, 2])), array=fx.region(1))
    out: list[Any] = []
    for _ in range(4):
        if desc.struct is S.DrmPanthorVmBind:
            out.append(
                S.DrmPanthorVmBindOp(
                    flags=draw(st.sampled_from([0, 1 << 28, 2 << 28, 3 << 28, 2, 7])),
                    bo_handle=draw(st.integers(0, 3)),
                    bo_offset=draw(st.sampled_from([0, 4096, 3])),
                    va=draw(st.sampled_from([0, 0x200000, 0x100000, 5])),
                    size=draw(st.sampled_from([0, 4096, 8192, 1 << 21])),
                    syncs=syncs,
                )
            )
        elif desc.struct is S.DrmPanthorGroupCreate:
            out.append(
                S.DrmPanthorQueueCreate(
                    priority=draw(st.integers(0, 16)),
                    ringbuf_size=draw(st.sampled_from([4096, 16384, 65536, 3000])),
                )
            )
        elif desc.struct is S.DrmPanthorGroupSubmit:
            addr, size = draw(
                st.sampled_from(
                    [(0x100000, 64), (0x100040, 8), (0, 0), (0x9000000, 64), (0, 64), (0x100000, 4096)]
                )
            )
            out.append(
                S.DrmPanthorQueueSubmit(
                    queue_index=draw(st.integers(0, 1)),
                    stream_size=size,
                    stream_addr=addr,
                    latest_flush=draw(st.sampled_from([0, 0, 1, 1 << 24])),
                    syncs=syncs,
                )
            )
        else:
            out.append((ctypes.c_uint32 * 4)(*(draw(st.integers(0, 4)) for _ in range(4))))
    return b"".join(bytes(o) for o in out)


def _template(desc: I.IoctlDesc, fx: Fixture, draw: Any) -> dict[str, Any]:
    """Mostly valid fields for ``desc`` (pointers into the scratch regions)."""
    stride = ELEMENT_SIZE.get(desc.struct, 16)
    arr = S.DrmPanthorObjArray(
        stride=draw(st.sampled_from([stride] * 6 + [stride - 8, stride + 8, 8])),
        count=draw(st.integers(0, 4)),
        array=fx.region(0),
    )
    t: dict[str, Any] = {
        "vm_id": 1,
        "id": 1,
        "group_handle": 1,
        "handle": draw(st.integers(0, 3)),
        "handles": fx.region(2),
        "points": draw(st.sampled_from([0, fx.region(3)])),
        "count_handles": draw(st.integers(0, 4)),
        "ops": arr,
        "queues": arr,
        "queue_submits": arr,
        "size": draw(st.sampled_from([0, 4096, 5000, 104])),
        "pointer": fx.region(3),
        "timeout_nsec": 0,
    }
    if desc.struct is S.DrmPanthorGroupCreate:
        t.update(
            max_compute_cores=4,
            max_fragment_cores=4,
            max_tiler_cores=1,
            priority=1,
            compute_core_mask=0x50005,
            fragment_core_mask=0x50005,
            tiler_core_mask=1,
        )
    if desc.struct is S.DrmPanthorVmBind:
        t["flags"] = draw(st.sampled_from([0, 1]))
    return t


@settings(
    max_examples=800,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_random_ioctls_only_raise_panthor_errnos(fx: Fixture, data: st.DataObject) -> None:
    fx.ensure()
    desc = data.draw(st.sampled_from(WEIGHTED))
    draw = data.draw
    regions = [
        _elements(draw, desc, fx),
        _sync_ops(draw, fx),
        bytes((ctypes.c_uint32 * 8)(*(draw(st.integers(0, 5)) for _ in range(8)))),
        draw(st.binary(min_size=0, max_size=SCRATCH_SIZE // 4)),
    ]
    for i, blob in enumerate(regions):
        ctypes.memmove(fx.region(i), blob[: SCRATCH_SIZE // 4], min(len(blob), SCRATCH_SIZE // 4))
    arg = desc.struct()
    names = [n for n, *_ in desc.struct._fields_]
    for name, value in _template(desc, fx, draw).items():
        if name in names:
            setattr(arg, name, value)
    for name in draw(st.lists(st.sampled_from(names), max_size=3)):  # a few fields get random values
        if not isinstance(getattr(arg, name), ctypes.Structure | ctypes.Array):
            setattr(arg, name, draw(fx.values()) & ((1 << (8 * getattr(desc.struct, name).size)) - 1))
    # mostly the kernel's own request; sometimes another size or direction of the same nr
    size = draw(st.sampled_from([desc.kernel_size, desc.kernel_size, 0, 4, desc.kernel_size + 8]))
    direction = draw(st.sampled_from([desc.dir, desc.dir, 0, 1, 2, 3]))
    request = (direction << 30) | (size << 16) | (ord("d") << 8) | desc.nr
    buf = (ctypes.c_uint8 * max(size, 1))()
    ctypes.memmove(buf, ctypes.byref(arg), min(size, ctypes.sizeof(arg)))
    check(fx, request, buf)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=st.integers(0, 0xFFFFFFFF), address=st.sampled_from([0, 8, 4096]))
def test_random_request_numbers(fx: Fixture, request: int, address: int) -> None:
    check(fx, request, address if address else bytearray(64))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    offset=st.one_of(st.integers(0, 1 << 40), st.sampled_from([0, 1 << 32, (1 << 32) + 4096])),
    length=st.integers(0, 1 << 24),
)
def test_random_mmap(fx: Fixture, offset: int, length: int) -> None:
    try:
        view = fx.dev.mmap(offset, length)
    except OSError as err:
        assert err.errno == errno.EINVAL
    else:
        assert len(view) == length


def test_device_still_runs_a_job_after_the_fuzz(fx: Fixture) -> None:
    dev = fx.dev
    vm = dev.vm_create() if len(dev.objects.vms) < 32 else None
    if vm is None:  # the fuzz may have used every VM id: free one the documented way
        dev.ioctl(I.DRM_IOCTL_PANTHOR_VM_DESTROY, bytearray(struct.pack("<II", 32, 0)))
        vm = dev.vm_create()
    code, out = dev.bo_create(4096), dev.bo_create(4096)
    vm.map(code, 0x4000000)
    vm.map(out, 0x5000000)
    b = CsBuilder().move48(68, 0x5000000).move32(70, 0xC0FFEE).store_multiple(68, 70, 1).wait(0xFF)
    b.move32(70, 0).flush_cache2(70, signal_slot=1).wait(0xFF)
    text = b.to_bytes()
    code.mmap()[: len(text)] = text
    done = dev.syncobj_create()
    dev.group_create(vm).submit([Submit(0, 0x4000000, len(text), signal=[done])])
    done.wait(timeout=1.0)
    assert struct.unpack("<I", out.mmap()[:4])[0] == 0xC0FFEE
