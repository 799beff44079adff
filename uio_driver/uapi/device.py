"""The panthor-compatible front end: :class:`Device` with ``ioctl``, ``mmap`` and ``close``.

A :class:`Device` is one open DRM file on one GPU. ``Device.ioctl(request, arg)`` takes the Linux ioctl
number and an argument laid out as the kernel's struct and applies the generic DRM dispatch rules
(``drm_ioctl.c``, cs-isa-and-uapi.md §3.3) before the handler runs:

1. device gone (unplugged, closed, fatal reset failure) -> ENODEV, before anything else;
2. type byte other than ``'d'`` -> ENOTTY; an ``nr`` no handler serves -> EINVAL;
3. the argument is copied in for ``min(user size, kernel size)`` bytes when both sides say IN and the
   rest is zero-filled; the handler sees the kernel's struct only;
4. the user's size is copied back when both sides say OUT - also after a failed handler (VM_BIND's
   ``ops.count``); a copy fault is EFAULT.

Handlers live in ``ops_*.py`` (one module per ioctl family) and raise a
:class:`~uio_driver.errors.MaliError` carrying panthor's errno. A refused call changes nothing.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import time
from collections.abc import Callable
from typing import Any, Self

import numpy as np

from uio_driver.errors import BadAddress, DeviceNotFound, InvalidArgument, MaliError, Timeout
from uio_driver.uapi import ioctls as I
from uio_driver.uapi.objects import FileObjects
from uio_driver.uapi.usercopy import copy_from_user, copy_to_user

log = logging.getLogger(__name__)

Handler = Callable[["Device", Any], None]

#: Default bound of a syncobj wait on a simulated GPU (virtual seconds): longer than a job timeout
#: (5 s) plus a reset, so a wait never ends early for a job that will still complete.
SIM_MAX_WAIT_S = 30.0


def _handlers() -> tuple[dict[int, Handler], list[Callable[[Device], None]]]:
    from uio_driver.uapi import ops_bo, ops_dev, ops_group, ops_heap, ops_syncobj, ops_vm

    table: dict[int, Handler] = {}
    pumps: list[Callable[[Device], None]] = []
    for module in (ops_dev, ops_vm, ops_bo, ops_group, ops_heap, ops_syncobj):
        table.update(module.HANDLERS)
        pump = getattr(module, "pump", None)
        if pump is not None:
            pumps.append(pump)
    return table, pumps


class _UserArg:
    """The ioctl argument as user memory: a buffer object or a raw process address (int)."""

    def __init__(self, arg: Any) -> None:
        self.address: int | None = None
        self.array = np.zeros(0, dtype=np.uint8)
        if isinstance(arg, int) and not isinstance(arg, bool):
            self.address = arg
        elif isinstance(arg, ctypes.Structure | ctypes.Union | ctypes.Array):
            self.array = np.ctypeslib.as_array((ctypes.c_uint8 * ctypes.sizeof(arg)).from_buffer(arg))
        else:
            try:
                self.array = np.frombuffer(arg, dtype=np.uint8)
            except (TypeError, ValueError, BufferError) as err:
                raise BadAddress(f"ioctl argument {type(arg).__name__} is neither a buffer nor an "
                                 "address") from err

    def read(self, size: int) -> bytes:
        if self.address is not None:
            return copy_from_user(self.address, size)
        if size > self.array.size:
            raise BadAddress(f"ioctl argument is {self.array.size} bytes, the request says {size}",
                             value=size)
        return self.array[:size].tobytes()

    def write(self, data: bytes) -> None:
        if self.address is not None:
            copy_to_user(self.address, data)
            return
        if len(data) > self.array.size or not self.array.flags.writeable:
            raise BadAddress(f"ioctl argument is not a writable buffer of {len(data)} bytes", value=len(data))
        self.array[: len(data)] = np.frombuffer(data, dtype=np.uint8)


class Device:
    """One open panthor DRM file on a GPU (use :func:`uio_driver.open`).

    Args:
        core: the driver stack below the uAPI (GPU, MMU, firmware, scheduler).
        privileged: the caller may create HIGH and REALTIME groups (CAP_SYS_NICE / DRM master).
        max_wait: longest syncobj wait in platform seconds (None: as long as the deadline says; the
            simulator default is :data:`SIM_MAX_WAIT_S`, since nothing can signal a fence in
            virtual time after every job has finished or timed out).
        owns_core: :meth:`close` also closes ``core``.
    """

    def __init__(self, core: Any, *, privileged: bool = False, max_wait: float | None = None,
                 owns_core: bool = True) -> None:
        self.core = core
        self.privileged = privileged
        self.clock = core.platform.clock
        self.max_wait = max_wait if max_wait is not None else (SIM_MAX_WAIT_S if self.clock.virtual else None)
        self.owns_core = owns_core
        self.objects = FileObjects()
        self._handlers, self._pumps = _handlers()
        self._gone: str | None = None
        self._closed = False
        #: Per-file state owned by the ops modules (keyed by module).
        self.state: dict[str, Any] = {}

    # -- stack access -----------------------------------------------------------------------------

    @property
    def gpu(self) -> Any:
        return self.core.gpu

    @property
    def mmu(self) -> Any:
        return self.core.mmu

    @property
    def allocator(self) -> Any:
        return self.core.mmu.allocator

    @property
    def simulated(self) -> bool:
        return bool(self.core.platform.simulated)

    # -- life cycle -----------------------------------------------------------------------------------

    @property
    def gone(self) -> bool:
        """The device can no longer be used (every call answers ENODEV)."""
        if self._gone is None:
            lost = self.core.scheduler.recovery.device_lost
            if lost:
                self._gone = f"the GPU was lost: {lost}"
        return self._gone is not None

    def check_alive(self) -> None:
        """Raise ENODEV when the device is gone (``drm_dev_enter`` failing)."""
        if self.gone:
            raise DeviceNotFound(f"panthor device is gone: {self._gone}")

    def unplug(self) -> None:
        """Model ``drm_dev_unplug``: objects are torn down, every later call answers ENODEV."""
        if self._gone is None:
            self._teardown()
            self._gone = "device unplugged"

    def close(self) -> None:
        """Tear everything down: groups destroyed, VMs unbound and freed, firmware stopped, platform
        closed (when this Device owns the stack). Idempotent."""
        if self._closed:
            return
        if self._gone is None or self._gone == "device unplugged":
            self._teardown()
        self._gone = self._gone or "device closed"
        self._closed = True
        if self.owns_core:
            self.core.close()

    def _teardown(self) -> None:
        from uio_driver.uapi import ops_bo, ops_group, ops_vm

        for step in (ops_group.release_all, ops_vm.release_all, ops_bo.release_all):
            try:
                step(self)
            except MaliError as err:  # keep tearing down; report what failed
                log.warning("panthor teardown: %s", err)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- ioctl ------------------------------------------------------------------------------------------

    def _lookup(self, request: int) -> I.IoctlDesc:
        req = I.decode(request)
        if req.type != I.DRM_IOCTL_BASE:
            raise MaliError(f"ioctl {request:#010x}: type {req.type:#04x} is not DRM's 'd'",
                            errno=errno.ENOTTY)
        desc = I.lookup(request)
        if desc is None or req.nr not in self._handlers:
            raise InvalidArgument(f"ioctl {request:#010x}: no handler for nr {req.nr:#04x}", value=req.nr)
        return desc

    def ioctl(self, request: int, arg: Any) -> int:
        """Run one ioctl as the kernel would (see the module docstring).

        Args:
            request: the Linux request number (e.g. ``DRM_IOCTL_PANTHOR_DEV_QUERY`` = 0xC0106440).
            arg: a ctypes structure, a writable buffer, or a process address (int) of the argument.

        Returns:
            0.

        Raises:
            MaliError: (an OSError) with the errno panthor returns for the case.
        """
        self.check_alive()
        desc = self._lookup(request)
        req = I.decode(request)
        in_size = req.size if req.dir & desc.dir & 1 else 0  # _IOC_WRITE: user -> kernel
        out_size = req.size if req.dir & desc.dir & 2 else 0  # _IOC_READ: kernel -> user
        ksize = max(in_size, out_size, desc.kernel_size)
        user = _UserArg(arg)
        kdata = bytearray(ksize)
        kdata[:in_size] = user.read(in_size)
        kstruct = desc.struct.from_buffer(kdata)
        error: MaliError | None = None
        try:
            self.progress()
            self._handlers[req.nr](self, kstruct)
        except MaliError as err:
            error = err
        del kstruct
        if out_size:
            user.write(bytes(kdata[:out_size]))
        if error is not None:
            raise error
        return 0

    # -- mmap ----------------------------------------------------------------------------------------

    def mmap(self, offset: int, length: int) -> memoryview:
        """A writable view of the BO whose fake offset BO_MMAP_OFFSET returned (``drm_gem_mmap``).

        Args:
            offset: exactly a BO's mmap offset (page aligned).
            length: bytes to map, ``0 < length <= BO size`` (rounded up to pages as mmap does).

        Raises:
            DeviceNotFound: the device is gone (ENODEV).
            InvalidArgument: no BO starts at ``offset``, the length is 0 or exceeds the BO (EINVAL).
        """
        self.check_alive()
        for label, v in (("offset", offset), ("length", length)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise InvalidArgument(f"mmap {label} {v!r} is not a non-negative integer")
        if offset % 4096:
            raise InvalidArgument(f"mmap offset {offset:#x} is not page aligned", value=offset)
        if length == 0:
            raise InvalidArgument("mmap of 0 bytes", value=0)
        bo = self.objects.offsets.get(offset)
        if bo is None or not bo.alive:
            raise InvalidArgument(f"mmap: no buffer object at offset {offset:#x}", value=offset)
        pages = -(-length // 4096) * 4096
        if pages > bo.size:
            raise InvalidArgument(f"mmap of {length:#x} bytes exceeds the {bo.size:#x}-byte BO at "
                                  f"offset {offset:#x}", value=length)
        return bo.buffer.view[:length]

    # -- progress and waiting ------------------------------------------------------------------------

    def progress(self) -> None:
        """Handle pending GPU events and push work whose dependencies are met (never blocks)."""
        self.core.process()
        for pump in self._pumps:
            pump(self)

    def run_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Advance the device (servicing events) until ``predicate()`` or ``timeout`` seconds passed.

        ``timeout`` is platform time (virtual on the simulator) and bounded by :attr:`max_wait`.
        Returns the predicate's last value.
        """

        def check() -> bool:
            self.progress()
            return bool(predicate())

        if check():
            return True
        if self.max_wait is not None:
            timeout = min(timeout, self.max_wait)
        if timeout <= 0:
            return False
        try:
            self.core.scheduler.wait_for(check, timeout, "syncobj wait")
        except Timeout:
            return False
        return True

    def wait_deadline(self, predicate: Callable[[], bool], timeout_nsec: int) -> bool:
        """Wait for ``predicate`` until the absolute CLOCK_MONOTONIC time ``timeout_nsec``.

        0 or a past time only polls; the remaining time is converted to a bounded wait in platform
        time (on the simulator the host clock barely moves, so the virtual wait covers exactly the
        time the caller allowed).
        """
        remaining = (timeout_nsec - time.monotonic_ns()) / 1e9 if timeout_nsec > 0 else 0.0
        return self.run_until(predicate, remaining)


def open_device(backend: str = "auto", firmware: str | None = None, *, privileged: bool = False,
                max_wait: float | None = None, device_class: type[Device] | None = None,
                **options: Any) -> Device:
    """Open a platform, bring the GPU up to a running firmware and return a :class:`Device`.

    Args:
        backend: ``auto``, ``sim``, ``uio``, ``vfio`` or ``devmem`` (see ``open_platform``).
        firmware: firmware file or directory (None: search; synthetic image on the simulator).
        privileged: allow HIGH/REALTIME groups.
        max_wait: bound of syncobj waits in platform seconds (see :class:`Device`).
        device_class: the :class:`Device` subclass to build (the Python layer's ``GpuDevice``).
        options: backend options (``strict=`` for the simulator, ...).

    Raises:
        MaliError: the platform or a bring-up step failed (everything opened so far is closed).
    """
    from uio_driver.csf.device import CsfDevice

    core = CsfDevice.open(backend, firmware=firmware, **options)
    return (device_class or Device)(core, privileged=privileged, max_wait=max_wait)
