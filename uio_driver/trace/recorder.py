"""Opt-in MMIO tracing: a wrapper region that records every 32-bit access into a sink.

The wrapper is a separate object around the platform's fast region (peers-and-style.md style rule
11, m1n1's TraceMode): an untraced run never touches this module and its accesses cost exactly what
they cost before. :func:`start_tracing` swaps the wrappers into a platform's region table right
after it is opened, before any driver object captures ``platform.mmio``.

What is recorded (docs/trace-format.md):

* every ``read32``/``write32`` that reaches the inner region, with the platform clock reading taken
  just before the access;
* ``read64``/``write64`` as the 32-bit accesses they are made of (HI, LO, HI [, retries] and LO, HI);
* an access the inner region rejects with an ``OSError`` (every :class:`~uio_driver.errors.MaliError`
  is one) is recorded with that errno, then the error is re-raised unchanged. Malformed calls (an
  offset or value that cannot name a register) never reach the device and are not recorded.
"""

from __future__ import annotations

import errno as _errno
import operator
import os
import shlex
import sys
from typing import Any, Protocol

from ..platform.base import Clock, MmioRegion, Platform
from .format import OP_READ, OP_WRITE, U32_MAX
from .names import regdb_fingerprint
from .writer import TraceWriter


class TraceSink(Protocol):
    """What a :class:`TracingMmioRegion` writes to (:class:`~uio_driver.trace.writer.TraceWriter`)."""

    def add_region(self, name: str, size: int, phys_base: int | None = None) -> int: ...

    def record(self, time_ns: int, op: int, region: int, offset: int, value: int, errno: int = 0) -> None: ...

    def attach(self) -> None: ...

    def detach(self) -> None: ...


class TracingMmioRegion(MmioRegion):
    """An :class:`MmioRegion` that forwards to ``inner`` and records each access in ``sink``.

    Args:
        inner: the region actually accessed.
        sink: where records go; the region is registered in it under ``region_name``.
        clock: platform clock sampled before each access.
        region_name: name recorded for the region (default: ``inner.name``).
    """

    def __init__(self, inner: MmioRegion, sink: TraceSink, clock: Clock,
                 region_name: str | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        self.size = inner.size
        self.phys_base = inner.phys_base
        self.sink = sink
        self.region_id = sink.add_region(region_name or inner.name, inner.size, inner.phys_base)
        sink.attach()
        self._now = clock.now_ns
        self._record = sink.record
        self._read = inner.read32
        self._write = inner.write32
        self._closed = False

    def read32(self, offset: int) -> int:
        t = self._now()
        try:
            value = self._read(offset)
        except OSError as err:
            if self._well_formed(offset, 0):
                self._record(t, OP_READ, self.region_id, offset, 0, err.errno or _errno.EIO)
            raise
        self._record(t, OP_READ, self.region_id, offset, value)
        return value

    def write32(self, offset: int, value: int) -> None:
        t = self._now()
        try:
            self._write(offset, value)
        except OSError as err:
            if self._well_formed(offset, value):
                self._record(t, OP_WRITE, self.region_id, offset, operator.index(value),
                             err.errno or _errno.EIO)
            raise
        # The inner region accepted it, so it is an integer (a NumPy scalar on some paths).
        self._record(t, OP_WRITE, self.region_id, offset,
                     value if type(value) is int else operator.index(value))

    def _well_formed(self, offset: object, value: Any) -> bool:
        """True if the call names a register and a 32-bit value (so it could reach the device)."""
        try:
            v = operator.index(value)
        except TypeError:
            return False
        return (type(offset) is int and 0 <= offset <= self.size - 4 and not offset & 3
                and not isinstance(value, bool) and 0 <= v <= U32_MAX)

    def close(self) -> None:
        """Close the inner region and release the sink (the last region closes the trace file)."""
        if self._closed:
            return
        self._closed = True
        try:
            self.inner.close()
        finally:
            self.sink.detach()


def start_tracing(platform: Platform, path: str | os.PathLike[str], *, command: str | None = None,
                  flush_records: int | None = None) -> TraceWriter:
    """Record every MMIO access of ``platform`` into the trace file ``path`` from now on.

    Every region of ``platform.regions`` is replaced by a :class:`TracingMmioRegion`; closing the
    platform closes the regions and so writes the END record and closes the file. Call it before
    creating driver objects (they capture ``platform.mmio`` when built).

    Args:
        platform: an open platform.
        path: trace file to create (truncated if it exists).
        command: command line recorded in the header (default: this process's argv).
        flush_records: records buffered between writes (default 4096).

    Returns:
        The :class:`TraceWriter` (``writer.count`` accesses so far).

    Raises:
        MaliError: the file cannot be created.
    """
    kwargs = {} if flush_records is None else {"flush_records": flush_records}
    writer = TraceWriter(path, backend=platform.name, clock_virtual=platform.clock.virtual,
                         start_clock_ns=platform.clock.now_ns(), simulated=platform.simulated,
                         command=command if command is not None else _argv(), notes=platform.notes,
                         regdb=regdb_fingerprint(), **kwargs)
    for name, region in list(platform.regions.items()):
        platform.regions[name] = TracingMmioRegion(region, writer, platform.clock, name)
    platform.notes.append(f"tracing MMIO to {os.fspath(path)}")
    return writer


def _argv() -> str:
    prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"
    return shlex.join(["mali-uio" if prog in ("mali-uio", "__main__.py") else prog, *sys.argv[1:]])
