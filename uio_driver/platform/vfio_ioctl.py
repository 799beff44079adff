"""vfio uAPI for the vfio-platform backend: ioctl numbers, struct layouts, flags and the syscall layer.

Facts from shared/reference/rk3588-platform-and-uio.md §4 (which cites ``include/uapi/linux/vfio.h``,
``drivers/vfio/platform/vfio_platform_common.c`` and ``vfio_platform_irq.c``):

* every vfio ioctl is ``_IO(';', 100 + n)``: type 0x3B, no size or direction encoded (§4.3), so the
  numbers are ``0x3B64 + n``;
* every argument struct starts with ``argsz`` and is little-endian with natural alignment (§4.4);
* a region's offset in the device fd is ``index << 40`` (``VFIO_PLATFORM_OFFSET_SHIFT``, §4.5);
* no-IOMMU mode is the IOMMU "type" ``VFIO_NOIOMMU_IOMMU`` = 8 (§4.3 extension values).

:class:`VfioOps` is the only place that makes syscalls, so tests substitute a fake kernel for it. The
ioctl wrappers raise the ``OSError`` the kernel (or the fake) gives; :func:`os_error` turns one into
the project error for that errno. The two per-fd objects built on these calls live here too:
:class:`VfioIrqLine` (an eventfd-backed GPU interrupt line) and :class:`VfioPreadMmioRegion`
(MMIO by ``pread``/``pwrite``).
"""

from __future__ import annotations

import ctypes
import enum
import errno
import math
import mmap
import os
import select
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import (
    AccessDenied,
    Busy,
    DeviceNotFound,
    HardwareFault,
    InvalidArgument,
    MaliError,
    NotSupported,
)
from .base import Clock, IrqLine, MmioRegion
from .clock import RealClock

# --------------------------------------------------------------------------------------------
# ioctl numbers (§4.3)
# --------------------------------------------------------------------------------------------

#: ``VFIO_TYPE`` = ';' and ``VFIO_BASE`` = 100 (vfio.h).
VFIO_TYPE = ord(";")
VFIO_BASE = 100


def vfio_io(n: int) -> int:
    """``_IO(VFIO_TYPE, VFIO_BASE + n)``: direction and size bits are zero for every vfio ioctl."""
    return (VFIO_TYPE << 8) | (VFIO_BASE + n)


VFIO_GET_API_VERSION = vfio_io(0)
VFIO_CHECK_EXTENSION = vfio_io(1)
VFIO_SET_IOMMU = vfio_io(2)
VFIO_GROUP_GET_STATUS = vfio_io(3)
VFIO_GROUP_SET_CONTAINER = vfio_io(4)
VFIO_GROUP_UNSET_CONTAINER = vfio_io(5)
VFIO_GROUP_GET_DEVICE_FD = vfio_io(6)
VFIO_DEVICE_GET_INFO = vfio_io(7)
VFIO_DEVICE_GET_REGION_INFO = vfio_io(8)
VFIO_DEVICE_GET_IRQ_INFO = vfio_io(9)
VFIO_DEVICE_SET_IRQS = vfio_io(10)
VFIO_DEVICE_RESET = vfio_io(11)

#: ``VFIO_API_VERSION`` returned by ``VFIO_GET_API_VERSION``.
VFIO_API_VERSION = 0
#: Extension / IOMMU type of the no-IOMMU driver (§4.3).
VFIO_NOIOMMU_IOMMU = 8
#: Region ``index`` lives at device-fd offset ``index << 40`` (§4.5).
VFIO_PLATFORM_OFFSET_SHIFT = 40


def region_offset(index: int) -> int:
    """Device-fd offset of region ``index`` (``VFIO_PLATFORM_INDEX_TO_OFFSET``)."""
    return index << VFIO_PLATFORM_OFFSET_SHIFT


# --------------------------------------------------------------------------------------------
# Flags (§4.4)
# --------------------------------------------------------------------------------------------


class GroupFlag(enum.IntFlag):
    """``vfio_group_status.flags``."""

    VIABLE = 1 << 0
    CONTAINER_SET = 1 << 1


class DeviceFlag(enum.IntFlag):
    """``vfio_device_info.flags``."""

    RESET = 1 << 0
    PCI = 1 << 1
    PLATFORM = 1 << 2
    AMBA = 1 << 3
    CCW = 1 << 4
    AP = 1 << 5
    FSL_MC = 1 << 6
    CAPS = 1 << 7
    CDX = 1 << 8


class RegionFlag(enum.IntFlag):
    """``vfio_region_info.flags``."""

    READ = 1 << 0
    WRITE = 1 << 1
    MMAP = 1 << 2
    CAPS = 1 << 3


class IrqInfoFlag(enum.IntFlag):
    """``vfio_irq_info.flags``."""

    EVENTFD = 1 << 0
    MASKABLE = 1 << 1
    AUTOMASKED = 1 << 2
    NORESIZE = 1 << 3


class IrqSetFlag(enum.IntFlag):
    """``vfio_irq_set.flags``: one DATA_* type and one ACTION_*."""

    DATA_NONE = 1 << 0
    DATA_BOOL = 1 << 1
    DATA_EVENTFD = 1 << 2
    ACTION_MASK = 1 << 3
    ACTION_UNMASK = 1 << 4
    ACTION_TRIGGER = 1 << 5


# --------------------------------------------------------------------------------------------
# Struct layouts (§4.4)
# --------------------------------------------------------------------------------------------


class VfioGroupStatus(ctypes.Structure):
    """``struct vfio_group_status`` (8 bytes)."""

    _fields_ = [("argsz", ctypes.c_uint32), ("flags", ctypes.c_uint32)]


class VfioDeviceInfo(ctypes.Structure):
    """``struct vfio_device_info`` (24 bytes; 16 on old kernels, which still accept argsz 16)."""

    _fields_ = [
        ("argsz", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("num_regions", ctypes.c_uint32),
        ("num_irqs", ctypes.c_uint32),
        ("cap_offset", ctypes.c_uint32),
        ("pad", ctypes.c_uint32),
    ]


class VfioRegionInfo(ctypes.Structure):
    """``struct vfio_region_info`` (32 bytes); the caller sets ``index``."""

    _fields_ = [
        ("argsz", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("index", ctypes.c_uint32),
        ("cap_offset", ctypes.c_uint32),
        ("size", ctypes.c_uint64),
        ("offset", ctypes.c_uint64),
    ]


class VfioIrqInfo(ctypes.Structure):
    """``struct vfio_irq_info`` (16 bytes); the caller sets ``index``."""

    _fields_ = [
        ("argsz", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("index", ctypes.c_uint32),
        ("count", ctypes.c_uint32),
    ]


class VfioIrqSet(ctypes.Structure):
    """Header of ``struct vfio_irq_set`` (20 bytes); ``data[]`` follows (s32 eventfds here)."""

    _fields_ = [
        ("argsz", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("index", ctypes.c_uint32),
        ("start", ctypes.c_uint32),
        ("count", ctypes.c_uint32),
    ]


@dataclass(frozen=True)
class DeviceInfo:
    """Parsed ``vfio_device_info``."""

    flags: DeviceFlag
    num_regions: int
    num_irqs: int


@dataclass(frozen=True)
class RegionInfo:
    """Parsed ``vfio_region_info``: ``size`` bytes at device-fd ``offset``."""

    index: int
    flags: RegionFlag
    size: int
    offset: int


@dataclass(frozen=True)
class IrqInfo:
    """Parsed ``vfio_irq_info``."""

    index: int
    flags: IrqInfoFlag
    count: int


# --------------------------------------------------------------------------------------------
# Syscall layer
# --------------------------------------------------------------------------------------------


class VfioOps:
    """The syscalls the vfio backend makes, on the real kernel. Tests pass a fake subclass.

    Every method raises ``OSError`` (with the kernel's errno) on failure.
    """

    def open(self, path: str, flags: int) -> int:
        return os.open(path, flags | os.O_CLOEXEC)

    def close(self, fd: int) -> None:
        os.close(fd)

    def ioctl(self, fd: int, request: int, arg: int | bytearray = 0) -> int:
        """``ioctl(fd, request, arg)``: an int is passed by value, a bytearray by pointer (updated in
        place); returns the ioctl's return value (e.g. the new fd of ``GROUP_GET_DEVICE_FD``)."""
        import fcntl

        if isinstance(arg, bytearray):
            # mutate_flag=True: the kernel writes the struct back and the int result is returned
            # (with an immutable argument fcntl would return the buffer instead, §4.8).
            return fcntl.ioctl(fd, request, arg, True)
        return fcntl.ioctl(fd, request, arg)

    def mmap(self, fd: int, length: int, offset: int, writable: bool = True) -> mmap.mmap:
        prot = mmap.PROT_READ | (mmap.PROT_WRITE if writable else 0)
        return mmap.mmap(fd, length, flags=mmap.MAP_SHARED, prot=prot, offset=offset)

    def pread(self, fd: int, size: int, offset: int) -> bytes:
        return os.pread(fd, size, offset)

    def pwrite(self, fd: int, data: bytes, offset: int) -> int:
        return os.pwrite(fd, data, offset)

    def eventfd(self) -> int:
        """A non-blocking eventfd (counter 0)."""
        return os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)

    def read(self, fd: int, size: int) -> bytes:
        return os.read(fd, size)

    def poll(self, fd: int, timeout_ms: int) -> bool:
        """True when ``fd`` is readable within ``timeout_ms`` milliseconds."""
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(timeout_ms))


def _struct_bytes(obj: ctypes.Structure) -> bytearray:
    return bytearray(bytes(obj))


def get_api_version(ops: VfioOps, container: int) -> int:
    """``VFIO_GET_API_VERSION`` on the container."""
    return ops.ioctl(container, VFIO_GET_API_VERSION, 0)


def check_extension(ops: VfioOps, container: int, extension: int) -> int:
    """``VFIO_CHECK_EXTENSION(extension)``: > 0 when supported."""
    return ops.ioctl(container, VFIO_CHECK_EXTENSION, extension)


def set_iommu(ops: VfioOps, container: int, iommu_type: int) -> None:
    """``VFIO_SET_IOMMU(iommu_type)``; needs a group attached to the container."""
    ops.ioctl(container, VFIO_SET_IOMMU, iommu_type)


def group_get_status(ops: VfioOps, group: int) -> GroupFlag:
    """``VFIO_GROUP_GET_STATUS``: the group's flags."""
    buf = _struct_bytes(VfioGroupStatus(argsz=ctypes.sizeof(VfioGroupStatus)))
    ops.ioctl(group, VFIO_GROUP_GET_STATUS, buf)
    return GroupFlag(VfioGroupStatus.from_buffer(buf).flags)


def group_set_container(ops: VfioOps, group: int, container: int) -> None:
    """``VFIO_GROUP_SET_CONTAINER``: the argument is a pointer to the container fd (an int)."""
    ops.ioctl(group, VFIO_GROUP_SET_CONTAINER, bytearray(bytes(ctypes.c_int32(container))))


def group_get_device_fd(ops: VfioOps, group: int, name: str) -> int:
    """``VFIO_GROUP_GET_DEVICE_FD``: a pointer to the NUL-terminated device name; returns the fd."""
    return ops.ioctl(group, VFIO_GROUP_GET_DEVICE_FD, bytearray(name.encode() + b"\0"))


def device_get_info(ops: VfioOps, device: int) -> DeviceInfo:
    """``VFIO_DEVICE_GET_INFO``."""
    buf = _struct_bytes(VfioDeviceInfo(argsz=ctypes.sizeof(VfioDeviceInfo)))
    ops.ioctl(device, VFIO_DEVICE_GET_INFO, buf)
    info = VfioDeviceInfo.from_buffer(buf)
    return DeviceInfo(DeviceFlag(info.flags), info.num_regions, info.num_irqs)


def device_get_region_info(ops: VfioOps, device: int, index: int) -> RegionInfo:
    """``VFIO_DEVICE_GET_REGION_INFO`` for region ``index``."""
    buf = _struct_bytes(VfioRegionInfo(argsz=ctypes.sizeof(VfioRegionInfo), index=index))
    ops.ioctl(device, VFIO_DEVICE_GET_REGION_INFO, buf)
    info = VfioRegionInfo.from_buffer(buf)
    return RegionInfo(info.index, RegionFlag(info.flags), info.size, info.offset)


def device_get_irq_info(ops: VfioOps, device: int, index: int) -> IrqInfo:
    """``VFIO_DEVICE_GET_IRQ_INFO`` for IRQ ``index``."""
    buf = _struct_bytes(VfioIrqInfo(argsz=ctypes.sizeof(VfioIrqInfo), index=index))
    ops.ioctl(device, VFIO_DEVICE_GET_IRQ_INFO, buf)
    info = VfioIrqInfo.from_buffer(buf)
    return IrqInfo(info.index, IrqInfoFlag(info.flags), info.count)


def device_set_irqs(ops: VfioOps, device: int, index: int, flags: IrqSetFlag, *,
                    eventfds: Sequence[int] = (), count: int | None = None) -> None:
    """``VFIO_DEVICE_SET_IRQS`` with ``DATA_EVENTFD`` (``eventfds`` as s32 data) or ``DATA_NONE``.

    ``count`` defaults to the number of eventfds, or 1 for ``DATA_NONE`` (``count=0`` with
    ``DATA_NONE|ACTION_TRIGGER`` tears the trigger down).
    """
    n = len(eventfds) if count is None and eventfds else (1 if count is None else count)
    data = b"".join(bytes(ctypes.c_int32(fd)) for fd in eventfds)
    header = VfioIrqSet(argsz=ctypes.sizeof(VfioIrqSet) + len(data), flags=int(flags), index=index,
                        start=0, count=n)
    ops.ioctl(device, VFIO_DEVICE_SET_IRQS, bytearray(bytes(header) + data))


def os_error(err: OSError, what: str, fix: str = "") -> MaliError:
    """The project error for a failed vfio syscall, keeping the kernel's errno; names ``what`` and ``fix``."""
    text = f"vfio: {what} failed: {err.strerror or err}" + (f"; {fix}" if fix else "")
    code = err.errno
    if code in (errno.EPERM, errno.EACCES):
        return AccessDenied(text, errno=code)
    if code in (errno.ENOENT, errno.ENODEV, errno.ENXIO):
        return DeviceNotFound(text, errno=code)
    if code == errno.EBUSY:
        return Busy(text)
    if code in (errno.ENOTTY, errno.EOPNOTSUPP, errno.ENOSYS):
        return NotSupported(text, errno=code)
    return MaliError(text, errno=code)


# --------------------------------------------------------------------------------------------
# IRQ line (§4.5)
# --------------------------------------------------------------------------------------------

_U64 = struct.Struct("=Q")  # an eventfd read returns the native-endian u64 counter


class VfioIrqLine(IrqLine):
    """One GPU interrupt line delivered through an eventfd (reference §4.5).

    Construction arms the line (``SET_IRQS(DATA_EVENTFD|ACTION_TRIGGER)``). A level line is masked by
    the kernel when it fires, which then signals the eventfd; :meth:`wait` polls the eventfd and
    consumes its 8-byte counter; :meth:`acknowledge` unmasks (``DATA_NONE|ACTION_UNMASK``) after the
    driver cleared the cause in the GPU (vfio_platform_irq.c: an unmask re-enables the line, and a
    still-asserted level line fires again at once).

    Args:
        name: "job", "mmu" or "gpu".
        index: vfio IRQ index.
        device_fd: the vfio device fd (not owned).
        ops: syscall layer.
        device: platform device name, for messages.
        clock: time source for the wait deadline (real time).
    """

    def __init__(self, name: str, index: int, device_fd: int, ops: VfioOps, *, device: str = "",
                 clock: Clock | None = None) -> None:
        self.name = name
        self.index = index
        self.device_fd = device_fd
        self.ops = ops
        self.device = device
        self.clock = clock if clock is not None else RealClock()
        #: Interrupts counted by the last delivery (the eventfd counter; >= 1).
        self.last_delta = 0
        self.closed = False
        try:
            self.eventfd = ops.eventfd()
        except OSError as err:
            raise os_error(err, f"eventfd for irq {name}") from None
        try:
            self._set(IrqSetFlag.DATA_EVENTFD | IrqSetFlag.ACTION_TRIGGER, "arm", eventfds=(self.eventfd,))
        except MaliError:
            ops.close(self.eventfd)
            raise

    def _set(self, flags: IrqSetFlag, what: str, *, eventfds: tuple[int, ...] = (),
             count: int | None = None) -> None:
        self._check_open()
        try:
            device_set_irqs(self.ops, self.device_fd, self.index, flags, eventfds=eventfds, count=count)
        except OSError as err:
            raise os_error(err, f"SET_IRQS ({what}) of irq {self.name} (index {self.index}) on "
                           f"{self.device or 'the device'}") from None

    def enable(self) -> None:
        """Unmask the line at the interrupt controller."""
        self._set(IrqSetFlag.DATA_NONE | IrqSetFlag.ACTION_UNMASK, "unmask")

    def disable(self) -> None:
        """Mask the line at the interrupt controller."""
        self._set(IrqSetFlag.DATA_NONE | IrqSetFlag.ACTION_MASK, "mask")

    def acknowledge(self) -> None:
        """Unmask after the device-level cause was cleared (the kernel auto-masked the line)."""
        self._set(IrqSetFlag.DATA_NONE | IrqSetFlag.ACTION_UNMASK, "unmask")

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the eventfd; consume its 8-byte counter on delivery.

        Returns:
            True when an interrupt was delivered (the line is masked until :meth:`acknowledge`).

        Raises:
            InvalidArgument: negative, NaN or infinite timeout.
            DeviceNotFound: the line was closed.
        """
        if not 0 <= timeout < math.inf:
            raise InvalidArgument(f"irq {self.name}: wait timeout {timeout!r} must be finite and >= 0")
        self._check_open()
        deadline = self.clock.now() + timeout
        while True:
            remaining = max(0.0, deadline - self.clock.now())
            # poll() takes whole milliseconds; round up so a wait never ends before its timeout.
            if self.ops.poll(self.eventfd, math.ceil(remaining * 1000)) and self._consume():
                return True
            if self.clock.now() >= deadline:
                return False

    def _consume(self) -> bool:
        try:
            data = self.ops.read(self.eventfd, _U64.size)
        except BlockingIOError:
            return False  # another reader took it: keep waiting until the deadline
        except OSError as err:
            raise os_error(err, f"read of the irq {self.name} eventfd") from None
        if len(data) != _U64.size:
            raise HardwareFault(f"irq {self.name}: eventfd read returned {len(data)} bytes, expected 8")
        self.last_delta = _U64.unpack(data)[0]
        return True

    def _check_open(self) -> None:
        if self.closed:
            raise DeviceNotFound(f"irq {self.name}: vfio line used after close()", errno=errno.EBADF)

    def close(self) -> None:
        """Tear the trigger down (``DATA_NONE|ACTION_TRIGGER`` with count 0) and close the eventfd."""
        if self.closed:
            return
        try:
            self._set(IrqSetFlag.DATA_NONE | IrqSetFlag.ACTION_TRIGGER, "disarm", count=0)
        except MaliError:
            pass  # the device fd may already be gone; closing it frees the IRQ anyway
        self.closed = True
        self.ops.close(self.eventfd)


# --------------------------------------------------------------------------------------------
# MMIO through pread/pwrite (§4.5)
# --------------------------------------------------------------------------------------------


class VfioPreadMmioRegion(MmioRegion):
    """MMIO through ``pread``/``pwrite`` on the device fd: one exact-width kernel access per call.

    Slow (a syscall each), but usable when a region offers no ``MMAP`` and handy for debugging.
    """

    def __init__(self, name: str, ops: VfioOps, fd: int, region: RegionInfo, size: int,
                 phys_base: int | None = None) -> None:
        self.name = name
        self.size = size
        self.phys_base = phys_base
        self.ops = ops
        self.fd = fd
        self.base = region.offset
        self.closed = False

    def read32(self, offset: int) -> int:
        self._check(offset)
        try:
            data = self.ops.pread(self.fd, 4, self.base + offset)
        except OSError as err:
            raise os_error(err, f"pread of {self.name} offset {offset:#x}") from None
        if len(data) != 4:
            raise HardwareFault(f"{self.name}: pread at {offset:#x} returned {len(data)} bytes",
                                offset=offset)
        return int.from_bytes(data, "little")

    def write32(self, offset: int, value: int) -> None:
        self._check(offset)
        self.check_value(value, offset, self.name)
        try:
            done = self.ops.pwrite(self.fd, value.to_bytes(4, "little"), self.base + offset)
        except OSError as err:
            raise os_error(err, f"pwrite of {self.name} offset {offset:#x}") from None
        if done != 4:
            raise HardwareFault(f"{self.name}: pwrite at {offset:#x} stored {done} of 4 bytes",
                                offset=offset)

    def _check(self, offset: int) -> None:
        if self.closed:
            raise DeviceNotFound(f"{self.name}: MMIO region used after close()")
        self.check_offset(offset)

    def close(self) -> None:
        self.closed = True


__all__ = [
    "VFIO_API_VERSION",
    "VFIO_NOIOMMU_IOMMU",
    "VFIO_PLATFORM_OFFSET_SHIFT",
    "DeviceFlag",
    "DeviceInfo",
    "GroupFlag",
    "IrqInfo",
    "IrqInfoFlag",
    "IrqSetFlag",
    "RegionFlag",
    "RegionInfo",
    "VfioDeviceInfo",
    "VfioGroupStatus",
    "VfioIrqInfo",
    "VfioIrqLine",
    "VfioIrqSet",
    "VfioOps",
    "VfioPreadMmioRegion",
    "os_error",
    "region_offset",
    "vfio_io",
]
