"""One exception hierarchy for the whole project, rooted at :class:`MaliError`.

Every error carries an ``errno`` (the value the Linux kernel / panthor would return for the same
condition) and, where relevant, the register, offset or value involved, so callers can inspect the
failure instead of parsing strings. ``MaliError`` derives from :class:`OSError` so that code written
against the panthor uAPI (which sees ``OSError`` with ``errno`` set) works unchanged.

Rules (see docs/architecture.md):

* input checks raise one of these, never ``assert``;
* a refused operation changes nothing;
* messages name the register/offset/value/path involved.
"""

from __future__ import annotations

import errno as _errno
from typing import Any


class MaliError(OSError):
    """Base class of every error raised by mali-uio.

    Attributes:
        errno: kernel errno for this condition (``EIO`` when nothing more specific applies).
        message: human-readable, single-line description.
        register: register name involved, if any.
        offset: MMIO/byte offset involved, if any.
        value: value involved, if any.
        stage: bring-up stage the error happened in, if known (used for greppable failure lines).
    """

    default_errno: int = _errno.EIO

    def __init__(
        self,
        message: str,
        *,
        errno: int | None = None,
        register: str | None = None,
        offset: int | None = None,
        value: int | None = None,
        stage: str | None = None,
        **details: Any,
    ) -> None:
        code = self.default_errno if errno is None else errno
        super().__init__(code, message)
        self.message = message
        self.register = register
        self.offset = offset
        self.value = value
        self.stage = stage
        self.details = details

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        # OSError's default pickling passes (errno, strerror) positionally; keep ours intact.
        return (_rebuild, (type(self), self.message, self.__dict__.copy(), self.errno))

    def fail_line(self) -> str:
        """One greppable line describing the failure (style rule 24)."""
        parts = ["MALI_UIO_FAIL", f"kind={type(self).__name__}"]
        if self.stage:
            parts.append(f"stage={self.stage}")
        if self.register:
            parts.append(f"reg={self.register}")
        if self.offset is not None:
            parts.append(f"offset={self.offset:#x}")
        if self.value is not None:
            parts.append(f"value={self.value:#x}")
        parts.append(f"errno={_errno.errorcode.get(self.errno or 0, self.errno)}")
        return " ".join(parts)


def _rebuild(cls: type[MaliError], message: str, state: dict[str, Any], code: int) -> MaliError:
    err = cls.__new__(cls)
    OSError.__init__(err, code, message)
    err.__dict__.update(state)
    return err


class InvalidArgument(MaliError):
    """A caller passed a value the operation does not accept (EINVAL)."""

    default_errno = _errno.EINVAL


class TooBig(InvalidArgument):
    """An argument is larger than the kernel accepts, e.g. non-zero bytes past a known struct (E2BIG)."""

    default_errno = _errno.E2BIG


class Timeout(MaliError):
    """A bounded hardware wait expired; the message names what was awaited (ETIMEDOUT)."""

    default_errno = _errno.ETIMEDOUT


class DeviceNotFound(MaliError):
    """No usable GPU device/backend, or the device is gone (ENODEV)."""

    default_errno = _errno.ENODEV


class AccessDenied(MaliError):
    """Permission problem: a device node, a read-only register, writes not enabled (EACCES)."""

    default_errno = _errno.EACCES


class BadAddress(MaliError):
    """An address/offset outside the mapped window or misaligned, or a bad user pointer (EFAULT)."""

    default_errno = _errno.EFAULT


class OutOfMemory(MaliError):
    """An allocator (DMA carveout, page-table pages, slots) is exhausted (ENOMEM)."""

    default_errno = _errno.ENOMEM


class NoEntry(MaliError):
    """A named object does not exist where the kernel answers ENOENT (e.g. BO_MMAP_OFFSET)."""

    default_errno = _errno.ENOENT


class NotPermitted(MaliError):
    """The object exists but the operation is not allowed on it (EPERM: mmap of a NO_MMAP BO)."""

    default_errno = _errno.EPERM


class TimeExpired(MaliError):
    """A sync-object wait reached its deadline (ETIME, not ETIMEDOUT: drm_syncobj.c)."""

    default_errno = _errno.ETIME


class Busy(MaliError):
    """The resource is in use or a previous command is still pending (EBUSY)."""

    default_errno = _errno.EBUSY


class NotSupported(MaliError):
    """The request is valid in general but not supported here (EOPNOTSUPP)."""

    default_errno = _errno.EOPNOTSUPP


class HardwareFault(MaliError):
    """The GPU reported a fault (GPU fault, MMU fault, MCU fatal) (EIO)."""

    default_errno = _errno.EIO


class FirmwareFormatError(InvalidArgument):
    """A firmware image is malformed; ``offset`` is the byte offset of the problem (EINVAL)."""


class TraceFormatError(InvalidArgument):
    """An MMIO trace file is malformed; ``offset`` is the byte offset of the problem (EINVAL)."""


class FirmwareInterfaceError(HardwareFault):
    """The booted firmware's interface memory is invalid (panthor fails probe with EINVAL)."""

    default_errno = _errno.EINVAL


class FirmwareNotFound(DeviceNotFound):
    """No firmware file was found; ``paths`` lists every path tried (ENOENT)."""

    default_errno = _errno.ENOENT

    @property
    def paths(self) -> list[str]:
        return list(self.details.get("paths", []))


class SimProtocolError(MaliError):
    """The simulator (strict mode) caught a driver protocol error (EPROTO).

    Examples: a write to a read-only register, an access to a powered-off block, a command
    issued while the previous one is pending, a missing TLB flush, a request without doorbell.
    """

    default_errno = _errno.EPROTO


__all__ = [
    "AccessDenied",
    "BadAddress",
    "Busy",
    "DeviceNotFound",
    "FirmwareFormatError",
    "FirmwareInterfaceError",
    "FirmwareNotFound",
    "HardwareFault",
    "InvalidArgument",
    "MaliError",
    "NoEntry",
    "NotPermitted",
    "NotSupported",
    "OutOfMemory",
    "SimProtocolError",
    "TimeExpired",
    "Timeout",
    "TooBig",
    "TraceFormatError",
]
