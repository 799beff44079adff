"""obj_array / extensible-object rules (panthor_drv.c uobj helpers, reference §3.4).

Element bytes are built with ``struct.pack`` from the reference layouts, not with the ctypes
classes under test.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import struct
from collections.abc import Iterator

import numpy as np
import pytest

from uio_driver.errors import BadAddress, InvalidArgument, OutOfMemory
from uio_driver.uapi import structs
from uio_driver.uapi.structs import DrmPanthorObjArray, UapiStruct, uobj
from uio_driver.uapi.uobj import TooBig, copy_struct_from_user, get_uobj_array, min_size, set_uobj
from uio_driver.uapi.usercopy import address_of

PAGE = mmap.PAGESIZE
_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [
    ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long,
]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]


def sync_op(flags: int, handle: int, point: int) -> bytes:
    """drm_panthor_sync_op: u32 flags @0, u32 handle @4, u64 timeline_value @8 (reference §3.5)."""
    return struct.pack("<IIQ", flags, handle, point)


def queue_create(priority: int, ringbuf_size: int) -> bytes:
    """drm_panthor_queue_create: u8 priority @0, u8 pad[3] @1, u32 ringbuf_size @4 (§3.11)."""
    return struct.pack("<B3xI", priority, ringbuf_size)


def obj_array(stride: int, count: int, array: int) -> DrmPanthorObjArray:
    return DrmPanthorObjArray(stride=stride, count=count, array=array)


class UserBuf:
    """A byte buffer the tests hand out as a user pointer (kept alive by the object)."""

    def __init__(self, data: bytes) -> None:
        self.buf = bytearray(data)
        self.addr = address_of(self.buf) if data else 0


@pytest.fixture
def hole() -> Iterator[int]:
    """Address of an unmapped page between two read-write pages ([RW][hole][RW])."""
    base = int(_libc.mmap(None, 3 * PAGE, mmap.PROT_READ | mmap.PROT_WRITE,
                          mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0))
    assert _libc.munmap(base + PAGE, PAGE) == 0
    try:
        yield base + PAGE
    finally:
        _libc.munmap(base, 3 * PAGE)


# --- rule 1: empty arrays --------------------------------------------------------------------

def test_empty_zero_filled_array_is_accepted() -> None:
    # Upstream checks count before stride: userspace leaves empty arrays all-zero.
    assert get_uobj_array(obj_array(0, 0, 0), structs.DrmPanthorSyncOp) == []
    assert get_uobj_array(obj_array(16, 0, 0xDEAD0000), structs.DrmPanthorSyncOp) == []


def test_empty_array_with_short_stride_rejected_in_legacy_mode() -> None:
    with pytest.raises(InvalidArgument) as exc:
        get_uobj_array(obj_array(0, 0, 0), structs.DrmPanthorSyncOp, check_stride_when_empty=True)
    assert exc.value.errno == errno.EINVAL
    assert get_uobj_array(obj_array(16, 0, 0), structs.DrmPanthorSyncOp, check_stride_when_empty=True) == []


# --- rule 2: stride below the minimum ----------------------------------------------------------

@pytest.mark.parametrize(
    ("cls", "minimum"),
    [(structs.DrmPanthorSyncOp, 16), (structs.DrmPanthorVmBindOp, 48), (structs.DrmPanthorQueueCreate, 8),
     (structs.DrmPanthorQueueSubmit, 40), (structs.DrmPanthorBoSyncOp, 24)],
)
def test_stride_below_min_size_is_einval(cls: type[UapiStruct], minimum: int) -> None:
    user = UserBuf(bytes(4 * minimum))
    with pytest.raises(InvalidArgument) as exc:
        get_uobj_array(obj_array(minimum - 1, 1, user.addr), cls)
    assert exc.value.errno == errno.EINVAL
    assert str(minimum - 1) in str(exc.value)
    assert len(get_uobj_array(obj_array(minimum, 2, user.addr), cls)) == 2


# --- rule 3: allocation limit ------------------------------------------------------------------

def test_huge_count_is_enomem_before_any_read() -> None:
    # 0x05555556 * 48 > INT_MAX; array = 0 would be EFAULT if it were read first.
    with pytest.raises(OutOfMemory) as exc:
        get_uobj_array(obj_array(48, 0x05555556, 0), structs.DrmPanthorVmBindOp)
    assert exc.value.errno == errno.ENOMEM


# --- rule 4: stride == sizeof -------------------------------------------------------------------

def test_same_stride_bulk_copy() -> None:
    user = UserBuf(sync_op(0x80000001, 7, 0x1122334455667788) + sync_op(0, 9, 0))
    ops = get_uobj_array(obj_array(16, 2, user.addr), structs.DrmPanthorSyncOp)
    assert [(o.flags, o.handle, o.timeline_value) for o in ops] == [
        (0x80000001, 7, 0x1122334455667788), (0, 9, 0)]
    user.buf[4] = 99  # the result is a copy, not a view of user memory
    assert ops[0].handle == 7


def test_same_stride_fault_is_efault(hole: int) -> None:
    start = hole - 16  # first element readable, second one in the hole
    ctypes.memmove(start, sync_op(0, 1, 0), 16)
    with pytest.raises(BadAddress) as exc:
        get_uobj_array(obj_array(16, 2, start), structs.DrmPanthorSyncOp)
    assert exc.value.errno == errno.EFAULT
    with pytest.raises(BadAddress):
        get_uobj_array(obj_array(16, 1, 0), structs.DrmPanthorSyncOp)


# --- rule 5: stride != sizeof -------------------------------------------------------------------

def test_larger_stride_with_zero_tail_is_accepted() -> None:
    elems = [queue_create(1, 0x10000) + bytes(8), queue_create(15, 4096) + bytes(8)]
    user = UserBuf(b"".join(elems))
    queues = get_uobj_array(obj_array(16, 2, user.addr), structs.DrmPanthorQueueCreate)
    assert [(q.priority, q.ringbuf_size) for q in queues] == [(1, 0x10000), (15, 4096)]


def test_larger_stride_with_non_zero_tail_is_e2big() -> None:
    elems = [sync_op(0, 1, 0) + bytes(8), sync_op(0, 2, 0) + bytes(7) + b"\x01"]
    user = UserBuf(b"".join(elems))
    with pytest.raises(TooBig) as exc:
        get_uobj_array(obj_array(24, 2, user.addr), structs.DrmPanthorSyncOp)
    assert exc.value.errno == errno.E2BIG
    assert isinstance(exc.value, InvalidArgument)


def test_tail_is_checked_before_the_head(hole: int) -> None:
    # Element straddling the end of the hole: its 16-byte head is unmapped, its 16-byte tail is
    # readable and non-zero. The kernel checks the tail first, so this is E2BIG, not EFAULT.
    after = hole + PAGE
    ctypes.memmove(after, b"\xff" * 16, 16)
    with pytest.raises(TooBig):
        get_uobj_array(obj_array(32, 1, after - 16), structs.DrmPanthorSyncOp)
    # Zero tail: the tail check passes and the head copy faults.
    ctypes.memmove(after, bytes(16), 16)
    with pytest.raises(BadAddress) as exc:
        get_uobj_array(obj_array(32, 1, after - 16), structs.DrmPanthorSyncOp)
    assert exc.value.errno == errno.EFAULT
    # Tail running into the hole: check_zeroed_user faults.
    with pytest.raises(BadAddress):
        get_uobj_array(obj_array(32, 1, hole - 16), structs.DrmPanthorSyncOp)


@uobj("a")
class _Grown(UapiStruct):
    """A struct as a future kernel might extend it: 8 mandatory bytes, 8 appended."""

    KERNEL_NAME = "test_grown"
    _fields_ = [("a", ctypes.c_uint64), ("b", ctypes.c_uint64)]


def test_shorter_stride_zero_extends_each_element() -> None:
    assert min_size(_Grown) == 8
    user = UserBuf(struct.pack("<QQQ", 0x11, 0x22, 0x33))  # three 8-byte elements from old userspace
    got = get_uobj_array(obj_array(8, 3, user.addr), _Grown)
    assert [(g.a, g.b) for g in got] == [(0x11, 0), (0x22, 0), (0x33, 0)]


def test_non_uobj_type_is_refused() -> None:
    with pytest.raises(InvalidArgument):
        get_uobj_array(obj_array(16, 1, 0x1000), structs.DrmPanthorVmCreate)


# --- copy_struct_from_user ------------------------------------------------------------------------

def test_copy_struct_from_user_old_timestamp_info() -> None:
    # A 1.1-era user struct: three u64 (24 bytes); the 1.8 fields read as zero.
    user = UserBuf(struct.pack("<QQQ", 24_000_000, 123456, 7))
    ts = copy_struct_from_user(structs.DrmPanthorTimestampInfo, user.addr, 24)
    assert (ts.timestamp_frequency, ts.current_timestamp, ts.timestamp_offset) == (24_000_000, 123456, 7)
    assert (ts.flags, ts.cycle_count, ts.cpu_timestamp_nsec) == (0, 0, 0)


def test_copy_struct_from_user_zero_size_reads_nothing() -> None:
    assert bytes(copy_struct_from_user(structs.DrmPanthorSyncOp, 0, 0)) == bytes(16)


# --- set_uobj ---------------------------------------------------------------------------------

def _gpu_info() -> structs.DrmPanthorGpuInfo:
    info = structs.DrmPanthorGpuInfo(gpu_id=0xA8670005, l2_features=0x07120306, as_present=0xFF,
                                     shader_present=0x50005, l2_present=1, tiler_present=1,
                                     gpu_features=0x4)
    return info


def _expected_gpu_info_prefix() -> bytes:
    # Reference §3.6 offsets: gpu_id @0, l2_features @12, as_present @64, shader_present @72,
    # l2_present @80, tiler_present @88; gpu_features appended @104.
    raw = bytearray(112)
    struct.pack_into("<I", raw, 0, 0xA8670005)
    struct.pack_into("<I", raw, 12, 0x07120306)
    struct.pack_into("<I", raw, 64, 0xFF)
    struct.pack_into("<QQQ", raw, 72, 0x50005, 1, 1)
    struct.pack_into("<Q", raw, 104, 0x4)
    return bytes(raw)


def test_set_uobj_exact_size() -> None:
    out = np.full(112, 0xAA, dtype=np.uint8)
    set_uobj(address_of(out), 112, _gpu_info())
    assert out.tobytes() == _expected_gpu_info_prefix()


def test_set_uobj_old_user_size_copies_prefix_only() -> None:
    out = np.full(128, 0xAA, dtype=np.uint8)
    set_uobj(address_of(out), 104, _gpu_info())  # userspace built against the 104-byte struct
    assert out[:104].tobytes() == _expected_gpu_info_prefix()[:104]
    assert out[104:].tolist() == [0xAA] * 24


def test_set_uobj_larger_user_size_clears_the_excess() -> None:
    out = np.full(160, 0xAA, dtype=np.uint8)
    set_uobj(address_of(out), 144, _gpu_info())
    assert out[:112].tobytes() == _expected_gpu_info_prefix()
    assert out[112:144].tolist() == [0] * 32
    assert out[144:].tolist() == [0xAA] * 16


def test_set_uobj_below_min_size_is_einval_and_writes_nothing() -> None:
    out = np.full(112, 0xAA, dtype=np.uint8)
    with pytest.raises(InvalidArgument) as exc:
        set_uobj(address_of(out), 95, _gpu_info())
    assert exc.value.errno == errno.EINVAL
    assert out.tolist() == [0xAA] * 112
    set_uobj(address_of(out), 96, _gpu_info())  # the minimum itself is fine
    assert out[:96].tobytes() == _expected_gpu_info_prefix()[:96]


def test_set_uobj_small_object() -> None:
    out = bytearray(b"\xaa" * 8)
    set_uobj(address_of(out), 8, structs.DrmPanthorGroupPrioritiesInfo(allowed_mask=0x03))
    assert bytes(out) == b"\x03\x00\x00\x00" + bytes(4)


def test_set_uobj_faults(hole: int) -> None:
    with pytest.raises(BadAddress):
        set_uobj(hole, 24, structs.DrmPanthorCsifInfo(csg_slot_count=8))
    with pytest.raises(BadAddress):
        set_uobj(0, 24, structs.DrmPanthorCsifInfo())
    ro = mmap.mmap(-1, PAGE, prot=mmap.PROT_READ)
    try:
        with pytest.raises(BadAddress) as exc:
            set_uobj(address_of(ro), 24, structs.DrmPanthorCsifInfo(csg_slot_count=8))
        assert exc.value.errno == errno.EFAULT
        assert ro[:24] == bytes(24)
    finally:
        ro.close()


def test_set_uobj_excess_running_into_a_hole_faults(hole: int) -> None:
    # The object fits before the hole, the cleared excess does not.
    with pytest.raises(BadAddress):
        set_uobj(hole - 24, 48, structs.DrmPanthorCsifInfo(csg_slot_count=8))
    stored = ctypes.string_at(hole - 24, 24)
    assert stored == struct.pack("<6I", 8, 0, 0, 0, 0, 0)  # like copy_to_user: prefix written


def test_vm_bind_ops_with_nested_sync_arrays() -> None:
    # drm_panthor_vm_bind_op (reference §3.8): flags, bo_handle, bo_offset, va, size, syncs{stride,
    # count, array}. Two ops: an async MAP with two sync ops and an UNMAP.
    syncs = UserBuf(sync_op(0, 3, 0) + sync_op(0x80000001, 4, 10))
    ops = UserBuf(
        struct.pack("<IIQQQIIQ", 0x2, 5, 0x1000, 0x800000, 0x2000, 16, 2, syncs.addr)
        + struct.pack("<IIQQQIIQ", 0x10000000, 0, 0, 0x800000, 0x1000, 0, 0, 0)
    )
    got = get_uobj_array(obj_array(48, 2, ops.addr), structs.DrmPanthorVmBindOp)
    assert (got[0].flags, got[0].bo_handle, got[0].bo_offset, got[0].va, got[0].size) == (
        0x2, 5, 0x1000, 0x800000, 0x2000)
    assert (got[1].flags, got[1].syncs.count) == (0x10000000, 0)
    nested = get_uobj_array(got[0].syncs, structs.DrmPanthorSyncOp)
    assert [(s.flags, s.handle, s.timeline_value) for s in nested] == [(0, 3, 0), (0x80000001, 4, 10)]
