"""User-pointer access for the emulated ioctl front end: ``copy_from_user`` and friends.

The panthor uAPI passes raw process addresses (``drm_panthor_obj_array.array``,
``drm_panthor_dev_query.pointer``, syncobj handle arrays, ...). The kernel reads them with
``copy_from_user``, which returns ``-EFAULT`` for an address that is not mapped readable instead of
crashing. Dereferencing such an address from Python with ctypes would kill the interpreter, so this
module goes through the kernel instead:

* ``process_vm_readv`` / ``process_vm_writev`` on our own pid (libc via ctypes). The kernel walks
  our page tables with the normal permission checks (no ``FOLL_FORCE``): unmapped, ``PROT_NONE``
  and, for writes, read-only pages give ``EFAULT``. This is the default.
* Fallback when that syscall is refused (``EPERM``/``ENOSYS`` under some seccomp sandboxes):
  ``pread``/``pwrite`` on ``/proc/self/mem``. Those accesses *do* use ``FOLL_FORCE`` (they can read
  ``PROT_NONE`` pages and write read-only private pages), so this path first checks the range
  against ``/proc/self/maps`` permissions.

Every failure raises :class:`~uio_driver.errors.BadAddress` (EFAULT) naming the address and size.
As with the kernel's ``copy_to_user``, a write that faults part-way may have stored a prefix (the
bytes before the first bad page); a wholly bad pointer changes nothing.
"""

from __future__ import annotations

import ctypes
import errno
import os
import threading
from typing import Any

import numpy as np

from uio_driver.errors import BadAddress, InvalidArgument, NotSupported, OutOfMemory

#: Largest block read or written per syscall; bounds the memory spent before a fault is found.
CHUNK = 1 << 20
_U64_END = 1 << 64
_OFF_T_END = 1 << 63


class _Fault(Exception):
    """Internal: the access stopped ``done`` bytes into the range."""

    def __init__(self, done: int) -> None:
        super().__init__(done)
        self.done = done


class _Unavailable(Exception):
    """Internal: this backend cannot be used in this process (errno in ``args[0]``)."""


class _Iovec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


class _ProcessVmBackend:
    """``process_vm_readv``/``writev`` on our own pid."""

    name = "process_vm"

    def __init__(self) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        try:
            self._readv = libc.process_vm_readv
            self._writev = libc.process_vm_writev
        except AttributeError as err:  # very old libc
            raise _Unavailable(errno.ENOSYS) from err
        for fn in (self._readv, self._writev):
            fn.restype = ctypes.c_ssize_t
            fn.argtypes = [
                ctypes.c_int, ctypes.POINTER(_Iovec), ctypes.c_ulong,
                ctypes.POINTER(_Iovec), ctypes.c_ulong, ctypes.c_ulong,
            ]

    def _xfer(self, fn: Any, local: int, remote: int, size: int) -> None:
        liov = _Iovec(local, size)
        riov = _Iovec(remote, size)
        done = fn(os.getpid(), ctypes.byref(liov), 1, ctypes.byref(riov), 1, 0)
        if done < 0:
            code = ctypes.get_errno()
            if code in (errno.EPERM, errno.ENOSYS, errno.EACCES):
                raise _Unavailable(code)
            if code == errno.ENOMEM:
                raise OutOfMemory(f"process_vm copy of {size:#x} bytes at {remote:#x}: out of memory")
            raise _Fault(0)
        if done < size:
            raise _Fault(done)

    def read(self, addr: int, size: int) -> bytes:
        buf = ctypes.create_string_buffer(size)
        self._xfer(self._readv, ctypes.addressof(buf), addr, size)
        return buf.raw

    def write(self, addr: int, data: bytes) -> None:
        src = ctypes.c_char_p(data)  # points at the bytes object's storage; no copy
        self._xfer(self._writev, ctypes.cast(src, ctypes.c_void_p).value or 0, addr, len(data))


class _ProcMemBackend:
    """``/proc/self/mem`` with an explicit ``/proc/self/maps`` permission check."""

    name = "procmem"

    def __init__(self) -> None:
        self._fd = -1
        self._pid = -1

    def _mem_fd(self) -> int:
        if self._pid != os.getpid():  # reopen after fork: the fd would address the parent
            try:
                self._fd = os.open("/proc/self/mem", os.O_RDWR | os.O_CLOEXEC)
            except OSError as err:
                raise _Unavailable(err.errno) from err
            self._pid = os.getpid()
        return self._fd

    @staticmethod
    def _accessible(addr: int, size: int, perm: str) -> int:
        """Bytes from ``addr`` covered by consecutive mappings that have ``perm`` ('r' or 'w')."""
        end, cursor = addr + size, addr
        with open("/proc/self/maps", "rb") as maps:
            for line in maps:
                span, perms = line.split(None, 2)[:2]
                lo, hi = (int(x, 16) for x in span.split(b"-"))
                if hi <= cursor:
                    continue
                if lo > cursor or perm.encode() not in perms[:2]:
                    break
                cursor = hi
                if cursor >= end:
                    return size
        return cursor - addr

    def _check(self, addr: int, size: int, perm: str) -> None:
        ok = self._accessible(addr, size, perm)
        if ok < size or addr + size > _OFF_T_END:
            raise _Fault(min(ok, max(0, _OFF_T_END - addr)))

    def read(self, addr: int, size: int) -> bytes:
        self._check(addr, size, "r")
        try:
            data = os.pread(self._mem_fd(), size, addr)
        except OSError as err:
            raise _Fault(0) from err
        if len(data) < size:
            raise _Fault(len(data))
        return data

    def write(self, addr: int, data: bytes) -> None:
        self._check(addr, len(data), "w")
        try:
            done = os.pwrite(self._mem_fd(), data, addr)
        except OSError as err:
            raise _Fault(0) from err
        if done < len(data):
            raise _Fault(done)


_Backend = _ProcessVmBackend | _ProcMemBackend
_BACKENDS: dict[str, type[_ProcessVmBackend] | type[_ProcMemBackend]] = {
    "process_vm": _ProcessVmBackend,
    "procmem": _ProcMemBackend,
}
_lock = threading.Lock()
_active: _Backend | None = None
_requested = "auto"


def select_backend(name: str = "auto") -> str:
    """Choose how user memory is accessed: ``"auto"``, ``"process_vm"`` or ``"procmem"``.

    ``auto`` uses ``process_vm_readv`` and falls back to ``/proc/self/mem`` the first time the
    syscall is refused. Returns the previous choice (so tests can restore it).

    Raises:
        InvalidArgument: unknown backend name.
    """
    global _active, _requested
    if name != "auto" and name not in _BACKENDS:
        raise InvalidArgument(f"unknown user-copy backend {name!r} (auto, process_vm, procmem)")
    with _lock:
        previous, _requested, _active = _requested, name, None
    return previous


def active_backend() -> str:
    """Name of the backend that serves copies now (``process_vm`` or ``procmem``)."""
    return _backend().name


def _backend() -> _Backend:
    global _active
    with _lock:
        if _active is None:
            first = "process_vm" if _requested == "auto" else _requested
            try:
                _active = _BACKENDS[first]()
            except _Unavailable:
                if _requested != "auto":
                    raise NotSupported(f"user-copy backend {first} is not available") from None
                _active = _ProcMemBackend()
        backend: _Backend = _active
    return backend


def _refused(op: str, err: _Unavailable) -> NotSupported:
    return NotSupported(f"{op}: user memory is not accessible here ({os.strerror(err.args[0])})")


def _run(op: str, method: str, *args: Any) -> Any:
    """Call ``read``/``write`` on the backend, falling back once to procmem under ``auto``.

    Raises:
        NotSupported: no backend can access user memory in this process.
    """
    global _active
    try:
        return getattr(_backend(), method)(*args)
    except _Unavailable as err:
        if _requested != "auto":
            raise _refused(op, err) from None
        with _lock:
            _active = _ProcMemBackend()
    try:
        return getattr(_backend(), method)(*args)
    except _Unavailable as err:
        raise _refused(op, err) from None


def _check_range(op: str, addr: int, size: int) -> None:
    for label, value in (("address", addr), ("size", size)):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < _U64_END:
            raise InvalidArgument(f"{op}: {label} {value!r} is not a 64-bit unsigned integer")
    if size and (addr == 0 or addr + size > _U64_END):
        raise _bad(op, addr, size, addr)


def _bad(op: str, addr: int, size: int, at: int) -> BadAddress:
    why = "NULL user pointer" if addr == 0 else f"fault at {at:#x}"
    return BadAddress(
        f"{op}: user address {addr:#x} size {size:#x} is not accessible ({why})",
        offset=addr, value=size, address=addr, size=size, fault_address=at,
    )


def copy_from_user(addr: int, size: int) -> bytes:
    """Read ``size`` bytes of this process's memory at ``addr``, like the kernel helper.

    ``size == 0`` reads nothing and never faults (any address, including 0).

    Raises:
        BadAddress: any byte of the range is unmapped or unreadable, the range wraps past 2**64,
            or ``addr`` is 0 with ``size > 0`` (EFAULT).
        InvalidArgument: ``addr``/``size`` are not 64-bit unsigned integers.
    """
    _check_range("copy_from_user", addr, size)
    if size == 0:
        return b""
    parts: list[bytes] = []
    for off in range(0, size, CHUNK):
        n = min(CHUNK, size - off)
        try:
            parts.append(_run("copy_from_user", "read", addr + off, n))
        except _Fault as fault:
            raise _bad("copy_from_user", addr, size, addr + off + fault.done) from None
    return parts[0] if len(parts) == 1 else b"".join(parts)


def copy_to_user(addr: int, data: bytes | bytearray | memoryview | ctypes.Structure) -> None:
    """Write ``data`` to this process's memory at ``addr``, like the kernel helper.

    Empty ``data`` writes nothing and never faults.

    Raises:
        BadAddress: a byte of the range is unmapped or read-only, the range wraps, or ``addr`` is 0
            (EFAULT). Bytes before the first bad page may already have been written.
        InvalidArgument: ``addr`` is not a 64-bit unsigned integer.
    """
    payload = bytes(data)
    _check_range("copy_to_user", addr, len(payload))
    for off in range(0, len(payload), CHUNK):
        try:
            _run("copy_to_user", "write", addr + off, payload[off : off + CHUNK])
        except _Fault as fault:
            raise _bad("copy_to_user", addr, len(payload), addr + off + fault.done) from None


def clear_user(addr: int, size: int) -> None:
    """Zero ``size`` bytes at ``addr`` (the kernel's ``clear_user``); same errors as
    :func:`copy_to_user`."""
    _check_range("clear_user", addr, size)
    zeros = bytes(min(size, CHUNK))
    for off in range(0, size, CHUNK):
        n = min(CHUNK, size - off)
        try:
            _run("clear_user", "write", addr + off, zeros[:n])
        except _Fault as fault:
            raise _bad("clear_user", addr, size, addr + off + fault.done) from None


def check_zeroed_user(addr: int, size: int) -> bool:
    """True if the ``size`` bytes at ``addr`` are all zero (the kernel's ``check_zeroed_user``).

    Reads in chunks and stops at the first non-zero chunk.

    Raises:
        BadAddress: the range is not readable (EFAULT).
    """
    _check_range("check_zeroed_user", addr, size)
    for off in range(0, size, CHUNK):
        n = min(CHUNK, size - off)
        if any(copy_from_user(addr + off, n)):
            return False
    return True


def strndup_user(addr: int, limit: int) -> bytes:
    """Read a NUL-terminated string of at most ``limit`` bytes including the NUL.

    Mirrors ``strndup_user`` (mm/util.c): the string is read page by page so a short string at
    the end of a mapping does not fault on the following page. Returns the bytes without the NUL.

    Raises:
        BadAddress: the string runs into unreadable memory before its NUL (EFAULT).
        InvalidArgument: no NUL within ``limit`` bytes (EINVAL; BO_SET_LABEL reports it as E2BIG).
    """
    _check_range("strndup_user", addr, 1)
    page = 4096
    out = bytearray()
    cursor = addr
    while len(out) < limit:
        n = min(page - cursor % page, limit - len(out))
        chunk = copy_from_user(cursor, n)
        nul = chunk.find(0)
        if nul >= 0:
            return bytes(out + chunk[:nul])
        out += chunk
        cursor += n
    raise InvalidArgument(f"strndup_user: string at {addr:#x} has no NUL within {limit} bytes",
                          offset=addr, value=limit)


def address_of(obj: Any) -> int:
    """Address of the first byte of a buffer, to hand out as a "user pointer" in tests and tools.

    Accepts ctypes instances (structures, arrays, scalars), NumPy arrays and any C-contiguous
    buffer-protocol object (``bytearray``, ``memoryview``, ``mmap.mmap``, ``array.array``, even
    read-only ones). The caller must keep ``obj`` alive (and unresized) while the address is used.

    Raises:
        InvalidArgument: ``obj`` has no contiguous buffer.
    """
    if isinstance(obj, ctypes.Structure | ctypes.Union | ctypes.Array | ctypes._SimpleCData):
        return ctypes.addressof(obj)
    if isinstance(obj, np.ndarray):
        if not obj.flags.c_contiguous:
            raise InvalidArgument("address_of: NumPy array is not C-contiguous")
        return int(obj.ctypes.data)
    try:
        view = np.frombuffer(obj, dtype=np.uint8)
    except (TypeError, ValueError) as err:
        raise InvalidArgument(f"address_of: {type(obj).__name__} has no contiguous buffer") from err
    return int(view.ctypes.data)
