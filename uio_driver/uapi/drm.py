"""Generic DRM structures a panthor client needs (``include/uapi/drm/drm.h``).

Source: ``torvalds/linux include/uapi/drm/drm.h`` and ``shared/reference/cs-isa-and-uapi.md`` §4.2:
``DRM_IOCTL_VERSION``, ``GEM_CLOSE``, ``GET_CAP``, PRIME import/export and the syncobj calls.
Same conventions as :mod:`uio_driver.uapi.structs` (kernel names in CamelCase, kernel field names,
fixed-width types, natural alignment).

``drm_version`` holds ``__kernel_size_t`` lengths and ``char __user *`` pointers; they are declared
as 64-bit integers, i.e. the LP64 layout of aarch64 (RK3588) and x86_64. A 32-bit process would see
a 36-byte struct; this driver does not emulate the compat path.

Three syncobj structs grew a trailing field after they were introduced; the kernel matches ioctls
by number and zero-extends short user structs (§3.3), so both sizes are valid requests.
``SIZE_HISTORY`` lists every size, oldest first.
"""

from __future__ import annotations

import ctypes
import os
from typing import ClassVar

from uio_driver.uapi.structs import UapiStruct

_u32 = ctypes.c_uint32
_u64 = ctypes.c_uint64
_s32 = ctypes.c_int32
_s64 = ctypes.c_int64

# ---------------------------------------------------------------------------------------------
# Capabilities (DRM_IOCTL_GET_CAP)
# ---------------------------------------------------------------------------------------------

DRM_CAP_DUMB_BUFFER = 0x1
DRM_CAP_VBLANK_HIGH_CRTC = 0x2
DRM_CAP_DUMB_PREFERRED_DEPTH = 0x3
DRM_CAP_DUMB_PREFER_SHADOW = 0x4
DRM_CAP_PRIME = 0x5
DRM_PRIME_CAP_IMPORT = 0x1
DRM_PRIME_CAP_EXPORT = 0x2
DRM_CAP_TIMESTAMP_MONOTONIC = 0x6
DRM_CAP_ASYNC_PAGE_FLIP = 0x7
DRM_CAP_CURSOR_WIDTH = 0x8
DRM_CAP_CURSOR_HEIGHT = 0x9
DRM_CAP_ADDFB2_MODIFIERS = 0x10
DRM_CAP_PAGE_FLIP_TARGET = 0x11
DRM_CAP_CRTC_IN_VBLANK_EVENT = 0x12
DRM_CAP_SYNCOBJ = 0x13
DRM_CAP_SYNCOBJ_TIMELINE = 0x14
DRM_CAP_ATOMIC_ASYNC_PAGE_FLIP = 0x15

#: PRIME export flags are the open(2) flags (``DRM_RDWR O_RDWR``, ``DRM_CLOEXEC O_CLOEXEC``).
DRM_RDWR = os.O_RDWR
DRM_CLOEXEC = os.O_CLOEXEC

# ---------------------------------------------------------------------------------------------
# Syncobj flags
# ---------------------------------------------------------------------------------------------

DRM_SYNCOBJ_CREATE_SIGNALED = 1 << 0
DRM_SYNCOBJ_FD_TO_HANDLE_FLAGS_IMPORT_SYNC_FILE = 1 << 0
DRM_SYNCOBJ_FD_TO_HANDLE_FLAGS_TIMELINE = 1 << 1
DRM_SYNCOBJ_HANDLE_TO_FD_FLAGS_EXPORT_SYNC_FILE = 1 << 0
DRM_SYNCOBJ_HANDLE_TO_FD_FLAGS_TIMELINE = 1 << 1
DRM_SYNCOBJ_WAIT_FLAGS_WAIT_ALL = 1 << 0
DRM_SYNCOBJ_WAIT_FLAGS_WAIT_FOR_SUBMIT = 1 << 1
#: Timeline waits only: a point counts as done once a fence exists for it.
DRM_SYNCOBJ_WAIT_FLAGS_WAIT_AVAILABLE = 1 << 2
#: Apply ``deadline_nsec`` as a fence deadline hint.
DRM_SYNCOBJ_WAIT_FLAGS_WAIT_DEADLINE = 1 << 3
DRM_SYNCOBJ_QUERY_FLAGS_LAST_SUBMITTED = 1 << 0


class DrmVersion(UapiStruct):
    """``struct drm_version``: the driver fills the numbers and copies strings to user buffers."""

    KERNEL_NAME = "drm_version"
    _fields_ = [
        ("version_major", _s32),
        ("version_minor", _s32),
        ("version_patchlevel", _s32),
        ("name_len", _u64),
        ("name", _u64),
        ("date_len", _u64),
        ("date", _u64),
        ("desc_len", _u64),
        ("desc", _u64),
    ]


class DrmGemClose(UapiStruct):
    """``struct drm_gem_close``: drop a GEM handle."""

    KERNEL_NAME = "drm_gem_close"
    _fields_ = [("handle", _u32), ("pad", _u32)]


class DrmGetCap(UapiStruct):
    """``struct drm_get_cap``: ``capability`` in, ``value`` out."""

    KERNEL_NAME = "drm_get_cap"
    _fields_ = [("capability", _u64), ("value", _u64)]


class DrmPrimeHandle(UapiStruct):
    """``struct drm_prime_handle`` (12 bytes): GEM handle <-> dma-buf fd."""

    KERNEL_NAME = "drm_prime_handle"
    _fields_ = [("handle", _u32), ("flags", _u32), ("fd", _s32)]


class DrmSyncobjCreate(UapiStruct):
    """``struct drm_syncobj_create``: returns ``handle``; ``flags`` may be CREATE_SIGNALED."""

    KERNEL_NAME = "drm_syncobj_create"
    _fields_ = [("handle", _u32), ("flags", _u32)]


class DrmSyncobjDestroy(UapiStruct):
    """``struct drm_syncobj_destroy``."""

    KERNEL_NAME = "drm_syncobj_destroy"
    _fields_ = [("handle", _u32), ("pad", _u32)]


class DrmSyncobjHandle(UapiStruct):
    """``struct drm_syncobj_handle``: syncobj <-> fd / sync_file (``point`` appended later)."""

    KERNEL_NAME = "drm_syncobj_handle"
    SIZE_HISTORY: ClassVar[tuple[int, ...]] = (16, 24)
    _fields_ = [("handle", _u32), ("flags", _u32), ("fd", _s32), ("pad", _u32), ("point", _u64)]


class DrmSyncobjTransfer(UapiStruct):
    """``struct drm_syncobj_transfer``: copy a fence from (src, point) to (dst, point)."""

    KERNEL_NAME = "drm_syncobj_transfer"
    _fields_ = [
        ("src_handle", _u32),
        ("dst_handle", _u32),
        ("src_point", _u64),
        ("dst_point", _u64),
        ("flags", _u32),
        ("pad", _u32),
    ]


class DrmSyncobjWait(UapiStruct):
    """``struct drm_syncobj_wait``: ``handles`` points at u32[count]; absolute CLOCK_MONOTONIC."""

    KERNEL_NAME = "drm_syncobj_wait"
    SIZE_HISTORY: ClassVar[tuple[int, ...]] = (32, 40)
    _fields_ = [
        ("handles", _u64),
        ("timeout_nsec", _s64),
        ("count_handles", _u32),
        ("flags", _u32),
        ("first_signaled", _u32),
        ("pad", _u32),
        ("deadline_nsec", _u64),
    ]


class DrmSyncobjTimelineWait(UapiStruct):
    """``struct drm_syncobj_timeline_wait``: like the binary wait plus ``points`` (u64[count])."""

    KERNEL_NAME = "drm_syncobj_timeline_wait"
    SIZE_HISTORY: ClassVar[tuple[int, ...]] = (40, 48)
    _fields_ = [
        ("handles", _u64),
        ("points", _u64),
        ("timeout_nsec", _s64),
        ("count_handles", _u32),
        ("flags", _u32),
        ("first_signaled", _u32),
        ("pad", _u32),
        ("deadline_nsec", _u64),
    ]


class DrmSyncobjEventfd(UapiStruct):
    """``struct drm_syncobj_eventfd``: signal an eventfd when (handle, point) signals."""

    KERNEL_NAME = "drm_syncobj_eventfd"
    _fields_ = [("handle", _u32), ("flags", _u32), ("point", _u64), ("fd", _s32), ("pad", _u32)]


class DrmSyncobjArray(UapiStruct):
    """``struct drm_syncobj_array`` (RESET, SIGNAL): ``handles`` points at u32[count]."""

    KERNEL_NAME = "drm_syncobj_array"
    _fields_ = [("handles", _u64), ("count_handles", _u32), ("pad", _u32)]


class DrmSyncobjTimelineArray(UapiStruct):
    """``struct drm_syncobj_timeline_array`` (QUERY, TIMELINE_SIGNAL)."""

    KERNEL_NAME = "drm_syncobj_timeline_array"
    _fields_ = [("handles", _u64), ("points", _u64), ("count_handles", _u32), ("flags", _u32)]


#: Every generic DRM struct class, keyed by kernel name.
DRM_STRUCTS: dict[str, type[UapiStruct]] = {
    cls.KERNEL_NAME: cls
    for cls in (
        DrmVersion, DrmGemClose, DrmGetCap, DrmPrimeHandle, DrmSyncobjCreate, DrmSyncobjDestroy,
        DrmSyncobjHandle, DrmSyncobjTransfer, DrmSyncobjWait, DrmSyncobjTimelineWait,
        DrmSyncobjEventfd, DrmSyncobjArray, DrmSyncobjTimelineArray,
    )
}
