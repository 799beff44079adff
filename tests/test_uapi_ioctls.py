"""ioctl request numbers against the reference tables (cs-isa-and-uapi.md §3.2 and §4.1)."""

from __future__ import annotations

import errno

import pytest

from uio_driver.errors import InvalidArgument
from uio_driver.uapi import drm, ioctls, structs
from uio_driver.uapi.ioctls import (
    _IO,
    _IOR,
    _IOW,
    _IOWR,
    DRM_CORE_IOCTLS,
    PANTHOR_IOCTLS,
    IoctlRequest,
    decode,
    lookup,
)

# Written from the reference table, not computed.
PANTHOR_TABLE = {
    "DEV_QUERY": 0xC0106440,
    "VM_CREATE": 0xC0106441,
    "VM_DESTROY": 0xC0086442,
    "VM_BIND": 0xC0186443,
    "VM_GET_STATE": 0xC0086444,
    "BO_CREATE": 0xC0186445,
    "BO_MMAP_OFFSET": 0xC0106446,
    "GROUP_CREATE": 0xC0386447,
    "GROUP_DESTROY": 0xC0086448,
    "GROUP_SUBMIT": 0xC0186449,
    "GROUP_GET_STATE": 0xC010644A,
    "TILER_HEAP_CREATE": 0xC028644B,
    "TILER_HEAP_DESTROY": 0xC008644C,
    "BO_SET_LABEL": 0xC010644D,
    "SET_USER_MMIO_OFFSET": 0xC008644E,
    "BO_SYNC": 0xC010644F,
    "BO_QUERY_INFO": 0xC0106450,
}

DRM_TABLE = {
    "VERSION": 0xC0406400,
    "GEM_CLOSE": 0x40086409,
    "GET_CAP": 0xC010640C,
    "PRIME_HANDLE_TO_FD": 0xC00C642D,
    "PRIME_FD_TO_HANDLE": 0xC00C642E,
    "SYNCOBJ_CREATE": 0xC00864BF,
    "SYNCOBJ_DESTROY": 0xC00864C0,
    "SYNCOBJ_HANDLE_TO_FD": 0xC01864C1,
    "SYNCOBJ_FD_TO_HANDLE": 0xC01864C2,
    "SYNCOBJ_WAIT": 0xC02864C3,
    "SYNCOBJ_RESET": 0xC01064C4,
    "SYNCOBJ_SIGNAL": 0xC01064C5,
    "SYNCOBJ_TIMELINE_WAIT": 0xC03064CA,
    "SYNCOBJ_QUERY": 0xC01864CB,
    "SYNCOBJ_TRANSFER": 0xC02064CC,
    "SYNCOBJ_TIMELINE_SIGNAL": 0xC01864CD,
    "SYNCOBJ_EVENTFD": 0xC01864CF,
}


@pytest.mark.parametrize(("name", "value"), sorted(PANTHOR_TABLE.items()))
def test_panthor_request_numbers(name: str, value: int) -> None:
    assert getattr(ioctls, f"DRM_IOCTL_PANTHOR_{name}") == value


@pytest.mark.parametrize(("name", "value"), sorted(DRM_TABLE.items()))
def test_drm_core_request_numbers(name: str, value: int) -> None:
    assert getattr(ioctls, f"DRM_IOCTL_{name}") == value


def test_dispatch_tables_cover_the_reference_tables() -> None:
    assert {d.name: d.request for d in PANTHOR_IOCTLS.values()} == {
        f"PANTHOR_{k}": v for k, v in PANTHOR_TABLE.items()}
    assert {d.name: d.request for d in DRM_CORE_IOCTLS.values()} == DRM_TABLE
    assert sorted(PANTHOR_IOCTLS) == list(range(0x40, 0x51))


def test_descriptor_properties() -> None:
    bind = PANTHOR_IOCTLS[0x43]
    assert (bind.name, bind.nr, bind.kernel_size, bind.dir, bind.struct) == (
        "PANTHOR_VM_BIND", 0x43, 24, 3, structs.DrmPanthorVmBind)
    assert PANTHOR_IOCTLS[0x4D].uapi_minor == 4
    assert PANTHOR_IOCTLS[0x4E].uapi_minor == 5
    assert PANTHOR_IOCTLS[0x40].uapi_minor == 0
    assert DRM_CORE_IOCTLS[0x09].dir == 1  # GEM_CLOSE is _IOW


def test_decode_splits_fields() -> None:
    # 0xC0106440 = dir 3 (RW), size 0x10, type 'd', nr 0x40.
    assert decode(0xC0106440) == IoctlRequest(3, 0x64, 0x40, 16)
    d, t, nr, size = decode(0x40086409)
    assert (d, t, nr, size) == (1, ord("d"), 9, 8)
    assert decode(0x40086409).copies_in and not decode(0x40086409).copies_out
    assert decode(0x80046402).copies_out and not decode(0x80046402).copies_in
    assert decode(0) == (0, 0, 0, 0)
    assert decode(0xFFFFFFFF) == (3, 0xFF, 0xFF, 0x3FFF)


@pytest.mark.parametrize("bad", [-1, 1 << 32, "0xC0106440", 1.0, True, None])
def test_decode_rejects_non_32_bit_values(bad: object) -> None:
    with pytest.raises(InvalidArgument) as info:
        decode(bad)  # type: ignore[arg-type]
    assert info.value.errno == errno.EINVAL


def test_encoding_helpers_match_hand_computed_values() -> None:
    assert _IO("d", 0x1E) == 0x0000641E  # DRM_IOCTL_SET_MASTER
    assert _IOR("d", 0x02, 4) == 0x80046402  # DRM_IOCTL_GET_MAGIC (struct drm_auth, 4 bytes)
    assert _IOW(ord("d"), 0x09, drm.DrmGemClose) == 0x40086409
    assert _IOWR("d", 0x40, structs.DrmPanthorDevQuery) == 0xC0106440
    assert _IOWR("U", 0xFF, 0x3FFF) == 0xFFFF55FF


@pytest.mark.parametrize(
    ("args", "what"),
    [(("d", 256, 0), "nr"), (("d", -1, 0), "nr"), (("d", 0, 1 << 14), "size"), (("dd", 0, 0), "type"),
     ((256, 0, 0), "type")],
)
def test_encoding_rejects_out_of_range_fields(args: tuple[object, int, int], what: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        _IOWR(*args)  # type: ignore[arg-type]
    assert info.value.errno == errno.EINVAL
    assert what in str(info.value) or "character" in str(info.value)


def test_lookup_matches_by_nr_like_drm_ioctl() -> None:
    # Old userspace: SYNCOBJ_WAIT with the 32-byte struct (before deadline_nsec) is the same ioctl.
    old_wait = lookup(0xC02064C3)
    assert old_wait is not None and old_wait.name == "SYNCOBJ_WAIT" and old_wait.kernel_size == 40
    old_tl = lookup(0xC02864CA)
    assert old_tl is not None and old_tl.name == "SYNCOBJ_TIMELINE_WAIT"
    assert lookup(0x40106440) is PANTHOR_IOCTLS[0x40]  # wrong direction bits: still DEV_QUERY
    assert lookup(0xC0106540) is None  # type byte 'e', not DRM
    assert lookup(0xC0106451) is None  # first nr past BO_QUERY_INFO
    assert lookup(0xC008643F) is None  # core nr nobody here handles


def test_old_sizes_recorded_for_grown_syncobj_structs() -> None:
    assert drm.DrmSyncobjWait.SIZE_HISTORY == (32, 40)
    assert drm.DrmSyncobjTimelineWait.SIZE_HISTORY == (40, 48)
    assert drm.DrmSyncobjHandle.SIZE_HISTORY == (16, 24)
