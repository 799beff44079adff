"""Streaming trace writer: bounded memory, whole records on disk, a clean END on close.

Records are packed into a preallocated buffer of ``flush_records`` records and written with one
``write`` of whole records when it fills, when an access fails (so the failing access is on disk
before the error propagates) and on :meth:`TraceWriter.close`. A process that dies therefore leaves
the header and a prefix of whole records (at most one buffer is lost on a hard kill); a file without
the END record is reported by the reader as incomplete, not corrupt.
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import time
from collections.abc import Iterable
from typing import BinaryIO

from .. import __version__
from ..errors import InvalidArgument, MaliError
from .format import (
    GPU_ID_FIELD_OFFSET,
    MAX_REGIONS,
    OP_END,
    OP_READ,
    OP_TIME,
    OP_WRITE,
    RECORD_SIZE,
    RECORD_STRUCT,
    U32_MAX,
    RegionInfo,
    TraceHeader,
    encode_header,
)

#: Default buffer: 4096 records = 64 KiB.
DEFAULT_FLUSH_RECORDS = 4096


class TraceWriter:
    """Writes one trace file; the sink a :class:`~uio_driver.trace.recorder.TracingMmioRegion` feeds.

    Regions are registered with :meth:`add_region` before the first record; the header (with the
    region table) is written when the first record arrives (or on close).

    Args:
        target: path of the file to create (truncated if it exists) or a writable, seekable binary
            file object (not closed by the writer).
        backend: platform name ("sim", "uio", ...).
        clock_virtual: True when times come from the simulator's virtual clock.
        start_clock_ns: clock reading at the start; record times are stored relative to it.
        simulated: the platform is the simulator.
        command: command line that is being traced (for the header).
        notes: platform notes to keep in the header.
        regdb: register-database fingerprint (see :func:`uio_driver.trace.names.regdb_fingerprint`).
        start_wall_ns: wall time of the start (default: now).
        flush_records: records buffered before a write (bounds memory; >= 1).

    Raises:
        InvalidArgument: bad ``flush_records`` or start time.
        MaliError: the file cannot be created (errno from the OS).
    """

    def __init__(self, target: str | os.PathLike[str] | BinaryIO, *, backend: str, clock_virtual: bool,
                 start_clock_ns: int, simulated: bool = False, command: str | None = None,
                 notes: Iterable[str] = (), regdb: str = "", start_wall_ns: int | None = None,
                 flush_records: int = DEFAULT_FLUSH_RECORDS) -> None:
        if isinstance(flush_records, bool) or not isinstance(flush_records, int) or flush_records < 1:
            raise InvalidArgument(f"trace writer: flush_records must be an int >= 1, got {flush_records!r}")
        if isinstance(start_clock_ns, bool) or not isinstance(start_clock_ns, int) or start_clock_ns < 0:
            raise InvalidArgument(f"trace writer: start_clock_ns must be an int >= 0, got {start_clock_ns!r}")
        self._template = TraceHeader(
            backend=backend, simulated=simulated, clock_virtual=clock_virtual,
            start_wall_ns=time.time_ns() if start_wall_ns is None else start_wall_ns,
            start_clock_ns=start_clock_ns, regions=(), command=command, notes=tuple(notes),
            tool=f"mali-uio {__version__}", regdb=regdb)
        self.path: str | None = None if hasattr(target, "write") else os.fspath(target)
        self._file: BinaryIO = self._open(target)
        self._owns_file = self.path is not None
        self._buf = bytearray(flush_records * RECORD_SIZE)
        self._pos = 0
        self._last_ns = start_clock_ns
        self._regions: list[RegionInfo] = []
        self._header_written = False
        self._attached = 0
        self._gpu_region = -1
        self._gpu_id_state = 0  # 0 not seen, 1 seen but not on disk, 2 written
        self.gpu_id: int | None = None
        #: Number of access (R/W) records so far.
        self.count = 0
        self.closed = False
        atexit.register(self.close)

    def _open(self, target: str | os.PathLike[str] | BinaryIO) -> BinaryIO:
        if self.path is None:
            return target  # type: ignore[return-value]
        try:
            return open(self.path, "wb", buffering=0)
        except OSError as err:
            raise MaliError(f"cannot create trace file {self.path}: {err.strerror}",
                            errno=err.errno) from None

    # -- regions ------------------------------------------------------------------------------

    def add_region(self, name: str, size: int, phys_base: int | None = None) -> int:
        """Register an MMIO region; returns the id records use for it.

        Raises:
            InvalidArgument: duplicate name, bad size, too many regions, or recording already started.
        """
        if self._header_written or self.closed:
            raise InvalidArgument(f"trace writer: region {name!r} added after recording started")
        if any(r.name == name for r in self._regions):
            raise InvalidArgument(f"trace writer: region {name!r} is already traced")
        if len(self._regions) >= MAX_REGIONS:
            raise InvalidArgument(f"trace writer: at most {MAX_REGIONS} regions")
        if isinstance(size, bool) or not isinstance(size, int) or not 4 <= size <= 1 << 32 or size & 3:
            raise InvalidArgument(f"trace writer: region {name!r} size {size!r} is not a multiple of 4 "
                                  "in 4..2**32")
        self._regions.append(RegionInfo(name, size, phys_base))
        if name == "gpu":
            self._gpu_region = len(self._regions) - 1
        return len(self._regions) - 1

    @property
    def regions(self) -> tuple[RegionInfo, ...]:
        return tuple(self._regions)

    def attach(self) -> None:
        """Count one more user (a traced region); :meth:`detach` closes the file after the last."""
        self._attached += 1

    def detach(self) -> None:
        self._attached -= 1
        if self._attached <= 0:
            self.close()

    # -- records ------------------------------------------------------------------------------

    def record(self, time_ns: int, op: int, region: int, offset: int, value: int, errno: int = 0) -> None:
        """Append one access.

        Args:
            time_ns: platform clock reading when the access was issued (not before the previous one).
            op: :data:`~uio_driver.trace.format.OP_READ` or ``OP_WRITE``.
            region: id from :meth:`add_region`.
            offset: byte offset in the region.
            value: value read (0 if the read failed) or written.
            errno: 0, or the errno of the error the access raised.

        Raises:
            InvalidArgument: the writer is closed, time went backwards, or a field does not fit.
        """
        if self.closed:
            raise InvalidArgument("trace writer: record after close")
        dt = time_ns - self._last_ns
        if not 0 <= dt <= U32_MAX or not (op == OP_READ or op == OP_WRITE) \
                or not 0 <= region < len(self._regions) or not 0 <= errno <= 0xFFFF:
            dt = self._check_record(dt, op, region, errno, offset, value)
        if errno and op == OP_READ and value:
            raise InvalidArgument(f"trace writer: a failed read carries no value (got {value!r})")
        # GPU_ID is offset 0x000 of the GPU window (mali-csf-registers-and-mmu.md §1.2): keep the
        # first value read for the header (patched in at the next flush).
        if offset == 0 and region == self._gpu_region and op == OP_READ and not errno and value \
                and not self._gpu_id_state and value <= U32_MAX:
            self.gpu_id, self._gpu_id_state = value, 1
        self._put(dt, op, region, errno, offset, value)
        self._last_ns = time_ns
        self.count += 1
        if errno:
            self.flush()

    def _check_record(self, dt: int, op: int, region: int, errno: int, offset: int, value: int) -> int:
        """Slow path of :meth:`record`: refuse bad fields, emit a time extension for long gaps."""
        for label, v in (("offset", offset), ("value", value)):
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= U32_MAX:
                raise InvalidArgument(f"trace writer: {label} {v!r} does not fit 32 bits")
        if op not in (OP_READ, OP_WRITE):
            raise InvalidArgument(f"trace writer: op {op!r} is not a read or write")
        if not 0 <= region < len(self._regions):
            raise InvalidArgument(f"trace writer: region id {region!r} is not registered")
        if not 0 <= errno <= 0xFFFF:
            raise InvalidArgument(f"trace writer: errno {errno!r} does not fit 16 bits")
        if dt < 0:
            raise InvalidArgument(f"trace writer: time went backwards by {-dt} ns")
        if dt >= 1 << 64:
            raise InvalidArgument(f"trace writer: a gap of {dt} ns does not fit 64 bits")
        self._put(0, OP_TIME, 0, 0, dt & U32_MAX, dt >> 32)
        return 0

    def _put(self, dt: int, op: int, region: int, errno: int, offset: int, value: int) -> None:
        if not self._header_written:
            self._write_header()
        try:
            RECORD_STRUCT.pack_into(self._buf, self._pos, dt, op, region, errno, offset, value)
        except Exception:  # struct.error/TypeError: a field that does not fit
            raise InvalidArgument(f"trace writer: record fields do not fit (offset {offset!r}, "
                                  f"value {value!r})",
                                  offset=offset if isinstance(offset, int) else None) from None
        self._pos += RECORD_SIZE
        if self._pos == len(self._buf):
            self.flush()

    # -- file -------------------------------------------------------------------------------------

    def header(self) -> TraceHeader:
        """The header as it is (or will be) written."""
        return dataclasses.replace(self._template, regions=tuple(self._regions), gpu_id=self.gpu_id)

    def _write_header(self) -> None:
        if not self._regions:
            raise InvalidArgument("trace writer: no region registered")
        data = encode_header(self.header())
        self._header_written = True
        self._write_all(data)

    def flush(self) -> None:
        """Write the buffered records (whole records, one write) and patch GPU_ID into the header."""
        if self._pos:
            self._write_all(memoryview(self._buf)[: self._pos])
            self._pos = 0
        if self._gpu_id_state == 1 and self._header_written and self.gpu_id is not None:
            end = self._file.tell()
            self._file.seek(GPU_ID_FIELD_OFFSET)
            self._write_all(self.gpu_id.to_bytes(4, "little"))
            self._file.seek(end)
            self._gpu_id_state = 2

    def _write_all(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        try:
            while view:
                n = self._file.write(view)
                view = view[n if n is not None else len(view):]
        except OSError as err:
            raise MaliError(f"writing trace file {self.path or '<stream>'}: {err.strerror}",
                            errno=err.errno) from None

    def close(self) -> None:
        """Write the END record (the number of accesses), flush and close the file. Idempotent."""
        if self.closed:
            return
        try:
            if not self._header_written and self._regions:
                self._write_header()
            if self._header_written:
                count = self.count
                self._put(0, OP_END, 0, 0, count & U32_MAX, count >> 32)
                self.flush()
        finally:
            self.closed = True
            atexit.unregister(self.close)
            if self._owns_file:
                self._file.close()

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
