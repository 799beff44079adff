"""ioctl request numbers: the ``_IOC`` encoding, every ``DRM_IOCTL_PANTHOR_*`` and the DRM core
ioctls a panthor client uses, plus :func:`decode` and the dispatch tables a front end needs.

Encoding (``include/uapi/asm-generic/ioctl.h``, used by arm64 and x86): ``nr`` bits 7:0, ``type``
bits 15:8, ``size`` bits 29:16 (14 bits), ``dir`` bits 31:30 with ``_IOC_WRITE`` = 1 (user ->
kernel) and ``_IOC_READ`` = 2 (kernel -> user). DRM ioctls use type ``'d'``; driver ioctls start at
``DRM_COMMAND_BASE`` = 0x40 (cs-isa-and-uapi.md §3.2, §4.1). Every request below is computed from
the ctypes struct size, so a wrong struct layout changes the number (the tests compare against the
reference table).
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import NamedTuple

from uio_driver.errors import InvalidArgument
from uio_driver.uapi import drm as _drm
from uio_driver.uapi import structs as _pt

_IOC_NRBITS = 8
_IOC_TYPEBITS = 8
_IOC_SIZEBITS = 14
_IOC_DIRBITS = 2
_IOC_NRSHIFT = 0
_IOC_TYPESHIFT = _IOC_NRSHIFT + _IOC_NRBITS
_IOC_SIZESHIFT = _IOC_TYPESHIFT + _IOC_TYPEBITS
_IOC_DIRSHIFT = _IOC_SIZESHIFT + _IOC_SIZEBITS

_IOC_NONE = 0
_IOC_WRITE = 1
_IOC_READ = 2

DRM_IOCTL_BASE = ord("d")
DRM_COMMAND_BASE = 0x40
DRM_COMMAND_END = 0xA0

SizeArg = int | type[ctypes.Structure]


def _field(name: str, value: int, bits: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < (1 << bits):
        raise InvalidArgument(f"ioctl {name} {value!r} does not fit in {bits} bits", value=None)
    return value


def _type_code(kind: int | str) -> int:
    if isinstance(kind, str):
        if len(kind) != 1:
            raise InvalidArgument(f"ioctl type must be one character, got {kind!r}")
        return ord(kind)
    return kind


def _size_of(size: SizeArg) -> int:
    if isinstance(size, type) and issubclass(size, ctypes.Structure):
        return ctypes.sizeof(size)
    return size


def _IOC(direction: int, kind: int | str, nr: int, size: SizeArg) -> int:  # noqa: N802 (kernel name)
    """Encode an ioctl request number.

    Args:
        direction: ``_IOC_NONE``, ``_IOC_WRITE``, ``_IOC_READ`` or both ORed.
        kind: the type byte, as an int or a one-character string (``'d'`` for DRM).
        nr: command number 0-255.
        size: argument size in bytes (0-16383) or a ctypes struct type.

    Raises:
        InvalidArgument: a field does not fit its bit range.
    """
    d = _field("dir", direction, _IOC_DIRBITS)
    t = _field("type", _type_code(kind), _IOC_TYPEBITS)
    n = _field("nr", nr, _IOC_NRBITS)
    s = _field("size", _size_of(size), _IOC_SIZEBITS)
    return (d << _IOC_DIRSHIFT) | (t << _IOC_TYPESHIFT) | (n << _IOC_NRSHIFT) | (s << _IOC_SIZESHIFT)


def _IO(kind: int | str, nr: int) -> int:  # noqa: N802
    """Request with no argument."""
    return _IOC(_IOC_NONE, kind, nr, 0)


def _IOR(kind: int | str, nr: int, size: SizeArg) -> int:  # noqa: N802
    """Request whose argument the kernel writes (copied out to userspace)."""
    return _IOC(_IOC_READ, kind, nr, size)


def _IOW(kind: int | str, nr: int, size: SizeArg) -> int:  # noqa: N802
    """Request whose argument the kernel reads (copied in from userspace)."""
    return _IOC(_IOC_WRITE, kind, nr, size)


def _IOWR(kind: int | str, nr: int, size: SizeArg) -> int:  # noqa: N802
    """Request whose argument is copied in and copied back out."""
    return _IOC(_IOC_READ | _IOC_WRITE, kind, nr, size)


def DRM_IO(nr: int) -> int:  # noqa: N802
    """``_IO('d', nr)``."""
    return _IO(DRM_IOCTL_BASE, nr)


def DRM_IOR(nr: int, size: SizeArg) -> int:  # noqa: N802
    """``_IOR('d', nr, size)``."""
    return _IOR(DRM_IOCTL_BASE, nr, size)


def DRM_IOW(nr: int, size: SizeArg) -> int:  # noqa: N802
    """``_IOW('d', nr, size)``."""
    return _IOW(DRM_IOCTL_BASE, nr, size)


def DRM_IOWR(nr: int, size: SizeArg) -> int:  # noqa: N802
    """``_IOWR('d', nr, size)``."""
    return _IOWR(DRM_IOCTL_BASE, nr, size)


class IoctlRequest(NamedTuple):
    """A decoded request number: unpacks as ``(dir, type, nr, size)``."""

    dir: int
    type: int
    nr: int
    size: int

    @property
    def copies_in(self) -> bool:
        """The user says the kernel reads the argument (``_IOC_WRITE``)."""
        return bool(self.dir & _IOC_WRITE)

    @property
    def copies_out(self) -> bool:
        """The user says the kernel writes the argument back (``_IOC_READ``)."""
        return bool(self.dir & _IOC_READ)


def decode(request: int) -> IoctlRequest:
    """Split a 32-bit request number into ``(dir, type, nr, size)``.

    Raises:
        InvalidArgument: ``request`` is not an integer in [0, 2**32).
    """
    if not isinstance(request, int) or isinstance(request, bool) or not 0 <= request <= 0xFFFFFFFF:
        raise InvalidArgument(f"ioctl request {request!r} is not a 32-bit number", value=None)
    return IoctlRequest(
        dir=(request >> _IOC_DIRSHIFT) & ((1 << _IOC_DIRBITS) - 1),
        type=(request >> _IOC_TYPESHIFT) & ((1 << _IOC_TYPEBITS) - 1),
        nr=(request >> _IOC_NRSHIFT) & ((1 << _IOC_NRBITS) - 1),
        size=(request >> _IOC_SIZESHIFT) & ((1 << _IOC_SIZEBITS) - 1),
    )


# ---------------------------------------------------------------------------------------------
# Request numbers
# ---------------------------------------------------------------------------------------------

def DRM_IOCTL_PANTHOR(panthor_id: int, struct: type[ctypes.Structure]) -> int:  # noqa: N802
    """``DRM_IOWR(DRM_COMMAND_BASE + id, struct)``: every panthor ioctl is read-write."""
    return DRM_IOWR(DRM_COMMAND_BASE + panthor_id, struct)


DRM_IOCTL_PANTHOR_DEV_QUERY = DRM_IOCTL_PANTHOR(_pt.DRM_PANTHOR_DEV_QUERY, _pt.DrmPanthorDevQuery)
DRM_IOCTL_PANTHOR_VM_CREATE = DRM_IOCTL_PANTHOR(_pt.DRM_PANTHOR_VM_CREATE, _pt.DrmPanthorVmCreate)
DRM_IOCTL_PANTHOR_VM_DESTROY = DRM_IOCTL_PANTHOR(_pt.DRM_PANTHOR_VM_DESTROY, _pt.DrmPanthorVmDestroy)
DRM_IOCTL_PANTHOR_VM_BIND = DRM_IOCTL_PANTHOR(_pt.DRM_PANTHOR_VM_BIND, _pt.DrmPanthorVmBind)
DRM_IOCTL_PANTHOR_VM_GET_STATE = DRM_IOCTL_PANTHOR(_pt.DRM_PANTHOR_VM_GET_STATE, _pt.DrmPanthorVmGetState)
DRM_IOCTL_PANTHOR_BO_CREATE = DRM_IOCTL_PANTHOR(_pt.DRM_PANTHOR_BO_CREATE, _pt.DrmPanthorBoCreate)
DRM_IOCTL_PANTHOR_BO_MMAP_OFFSET = DRM_IOCTL_PANTHOR(
    _pt.DRM_PANTHOR_BO_MMAP_OFFSET, _pt.DrmPanthorBoMmapOffset
)
DRM_IOCTL_PANTHOR_GROUP_CREATE = DRM_IOCTL_PANTHOR(_pt.DRM_PANTHOR_GROUP_CREATE, _pt.DrmPanthorGroupCreate)
DRM_IOCTL_PANTHOR_GROUP_DESTROY = DRM_IOCTL_PANTHOR(_pt.DRM_PANTHOR_GROUP_DESTROY, _pt.DrmPanthorGroupDestroy)
DRM_IOCTL_PANTHOR_GROUP_SUBMIT = DRM_IOCTL_PANTHOR(_pt.DRM_PANTHOR_GROUP_SUBMIT, _pt.DrmPanthorGroupSubmit)
DRM_IOCTL_PANTHOR_GROUP_GET_STATE = DRM_IOCTL_PANTHOR(
    _pt.DRM_PANTHOR_GROUP_GET_STATE, _pt.DrmPanthorGroupGetState
)
DRM_IOCTL_PANTHOR_TILER_HEAP_CREATE = DRM_IOCTL_PANTHOR(
    _pt.DRM_PANTHOR_TILER_HEAP_CREATE, _pt.DrmPanthorTilerHeapCreate
)
DRM_IOCTL_PANTHOR_TILER_HEAP_DESTROY = DRM_IOCTL_PANTHOR(
    _pt.DRM_PANTHOR_TILER_HEAP_DESTROY, _pt.DrmPanthorTilerHeapDestroy
)
DRM_IOCTL_PANTHOR_BO_SET_LABEL = DRM_IOCTL_PANTHOR(_pt.DRM_PANTHOR_BO_SET_LABEL, _pt.DrmPanthorBoSetLabel)
DRM_IOCTL_PANTHOR_SET_USER_MMIO_OFFSET = DRM_IOCTL_PANTHOR(
    _pt.DRM_PANTHOR_SET_USER_MMIO_OFFSET, _pt.DrmPanthorSetUserMmioOffset
)
DRM_IOCTL_PANTHOR_BO_SYNC = DRM_IOCTL_PANTHOR(_pt.DRM_PANTHOR_BO_SYNC, _pt.DrmPanthorBoSync)
DRM_IOCTL_PANTHOR_BO_QUERY_INFO = DRM_IOCTL_PANTHOR(_pt.DRM_PANTHOR_BO_QUERY_INFO, _pt.DrmPanthorBoQueryInfo)

DRM_IOCTL_VERSION = DRM_IOWR(0x00, _drm.DrmVersion)
DRM_IOCTL_GEM_CLOSE = DRM_IOW(0x09, _drm.DrmGemClose)
DRM_IOCTL_GET_CAP = DRM_IOWR(0x0C, _drm.DrmGetCap)
DRM_IOCTL_PRIME_HANDLE_TO_FD = DRM_IOWR(0x2D, _drm.DrmPrimeHandle)
DRM_IOCTL_PRIME_FD_TO_HANDLE = DRM_IOWR(0x2E, _drm.DrmPrimeHandle)
DRM_IOCTL_SYNCOBJ_CREATE = DRM_IOWR(0xBF, _drm.DrmSyncobjCreate)
DRM_IOCTL_SYNCOBJ_DESTROY = DRM_IOWR(0xC0, _drm.DrmSyncobjDestroy)
DRM_IOCTL_SYNCOBJ_HANDLE_TO_FD = DRM_IOWR(0xC1, _drm.DrmSyncobjHandle)
DRM_IOCTL_SYNCOBJ_FD_TO_HANDLE = DRM_IOWR(0xC2, _drm.DrmSyncobjHandle)
DRM_IOCTL_SYNCOBJ_WAIT = DRM_IOWR(0xC3, _drm.DrmSyncobjWait)
DRM_IOCTL_SYNCOBJ_RESET = DRM_IOWR(0xC4, _drm.DrmSyncobjArray)
DRM_IOCTL_SYNCOBJ_SIGNAL = DRM_IOWR(0xC5, _drm.DrmSyncobjArray)
DRM_IOCTL_SYNCOBJ_TIMELINE_WAIT = DRM_IOWR(0xCA, _drm.DrmSyncobjTimelineWait)
DRM_IOCTL_SYNCOBJ_QUERY = DRM_IOWR(0xCB, _drm.DrmSyncobjTimelineArray)
DRM_IOCTL_SYNCOBJ_TRANSFER = DRM_IOWR(0xCC, _drm.DrmSyncobjTransfer)
DRM_IOCTL_SYNCOBJ_TIMELINE_SIGNAL = DRM_IOWR(0xCD, _drm.DrmSyncobjTimelineArray)
DRM_IOCTL_SYNCOBJ_EVENTFD = DRM_IOWR(0xCF, _drm.DrmSyncobjEventfd)


# ---------------------------------------------------------------------------------------------
# Dispatch tables (data only; the handlers live in the Device front end)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IoctlDesc:
    """What the kernel knows about one ioctl: the data ``drm_ioctl`` dispatches on.

    Attributes:
        name: the kernel's macro name without ``DRM_IOCTL_`` (``PANTHOR_VM_BIND``).
        request: the full request number as the kernel defines it.
        struct: the argument type; its size is the kernel size.
        uapi_minor: panthor driver minor that added the ioctl (0 for DRM core ioctls).
    """

    name: str
    request: int
    struct: type[_pt.UapiStruct]
    uapi_minor: int = 0

    @property
    def nr(self) -> int:
        """Command number (bits 7:0)."""
        return self.request & 0xFF

    @property
    def kernel_size(self) -> int:
        """``sizeof`` the kernel's argument struct."""
        return ctypes.sizeof(self.struct)

    @property
    def dir(self) -> int:
        """Direction bits as the kernel declares them."""
        return decode(self.request).dir


def _desc(name: str, struct: type[_pt.UapiStruct], minor: int = 0) -> IoctlDesc:
    return IoctlDesc(name, globals()[f"DRM_IOCTL_{name}"], struct, minor)


#: panthor driver ioctls keyed by ``nr`` (0x40 + drm_panthor_ioctl_id).
PANTHOR_IOCTLS: dict[int, IoctlDesc] = {
    d.nr: d
    for d in (
        _desc("PANTHOR_DEV_QUERY", _pt.DrmPanthorDevQuery),
        _desc("PANTHOR_VM_CREATE", _pt.DrmPanthorVmCreate),
        _desc("PANTHOR_VM_DESTROY", _pt.DrmPanthorVmDestroy),
        _desc("PANTHOR_VM_BIND", _pt.DrmPanthorVmBind),
        _desc("PANTHOR_VM_GET_STATE", _pt.DrmPanthorVmGetState),
        _desc("PANTHOR_BO_CREATE", _pt.DrmPanthorBoCreate),
        _desc("PANTHOR_BO_MMAP_OFFSET", _pt.DrmPanthorBoMmapOffset),
        _desc("PANTHOR_GROUP_CREATE", _pt.DrmPanthorGroupCreate),
        _desc("PANTHOR_GROUP_DESTROY", _pt.DrmPanthorGroupDestroy),
        _desc("PANTHOR_GROUP_SUBMIT", _pt.DrmPanthorGroupSubmit),
        _desc("PANTHOR_GROUP_GET_STATE", _pt.DrmPanthorGroupGetState),
        _desc("PANTHOR_TILER_HEAP_CREATE", _pt.DrmPanthorTilerHeapCreate),
        _desc("PANTHOR_TILER_HEAP_DESTROY", _pt.DrmPanthorTilerHeapDestroy),
        _desc("PANTHOR_BO_SET_LABEL", _pt.DrmPanthorBoSetLabel, 4),
        _desc("PANTHOR_SET_USER_MMIO_OFFSET", _pt.DrmPanthorSetUserMmioOffset, 5),
        _desc("PANTHOR_BO_SYNC", _pt.DrmPanthorBoSync, 7),
        _desc("PANTHOR_BO_QUERY_INFO", _pt.DrmPanthorBoQueryInfo, 7),
    )
}

#: DRM core ioctls a panthor client uses, keyed by ``nr``.
DRM_CORE_IOCTLS: dict[int, IoctlDesc] = {
    d.nr: d
    for d in (
        _desc("VERSION", _drm.DrmVersion),
        _desc("GEM_CLOSE", _drm.DrmGemClose),
        _desc("GET_CAP", _drm.DrmGetCap),
        _desc("PRIME_HANDLE_TO_FD", _drm.DrmPrimeHandle),
        _desc("PRIME_FD_TO_HANDLE", _drm.DrmPrimeHandle),
        _desc("SYNCOBJ_CREATE", _drm.DrmSyncobjCreate),
        _desc("SYNCOBJ_DESTROY", _drm.DrmSyncobjDestroy),
        _desc("SYNCOBJ_HANDLE_TO_FD", _drm.DrmSyncobjHandle),
        _desc("SYNCOBJ_FD_TO_HANDLE", _drm.DrmSyncobjHandle),
        _desc("SYNCOBJ_WAIT", _drm.DrmSyncobjWait),
        _desc("SYNCOBJ_RESET", _drm.DrmSyncobjArray),
        _desc("SYNCOBJ_SIGNAL", _drm.DrmSyncobjArray),
        _desc("SYNCOBJ_TIMELINE_WAIT", _drm.DrmSyncobjTimelineWait),
        _desc("SYNCOBJ_QUERY", _drm.DrmSyncobjTimelineArray),
        _desc("SYNCOBJ_TRANSFER", _drm.DrmSyncobjTransfer),
        _desc("SYNCOBJ_TIMELINE_SIGNAL", _drm.DrmSyncobjTimelineArray),
        _desc("SYNCOBJ_EVENTFD", _drm.DrmSyncobjEventfd),
    )
}


def lookup(request: int) -> IoctlDesc | None:
    """The kernel's descriptor for ``request``, matched like ``drm_ioctl`` does: by ``nr`` only.

    The size and direction bits of ``request`` are deliberately ignored (§3.3: a request with
    an older, shorter struct size still reaches the same handler). Returns ``None`` for a type
    byte other than ``'d'`` or an ``nr`` nobody handles; the caller maps that to ENOTTY/EINVAL.

    Raises:
        InvalidArgument: ``request`` is not a 32-bit number.
    """
    req = decode(request)
    if req.type != DRM_IOCTL_BASE:
        return None
    table = PANTHOR_IOCTLS if DRM_COMMAND_BASE <= req.nr < DRM_COMMAND_END else DRM_CORE_IOCTLS
    return table.get(req.nr)
