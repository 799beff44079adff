"""Trace reader: validates the header and every record, streams accesses in NumPy chunks.

Every problem is a :class:`~uio_driver.trace.format.TraceFormatError` whose ``offset`` is the byte
offset of the bad field or record. A file that stops at a record boundary without the END record is
*incomplete* (the writer did not finish, e.g. the process was killed): it reads fine and
:attr:`TraceReader.complete` is False. A partial record at the end is an error unless
``allow_truncated`` is set, in which case the whole records before it are read and
:attr:`TraceReader.truncated_at` says where the data stopped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, fields

import numpy as np

from ..errors import MaliError
from .format import (
    HEADER_SIZE,
    OP_END,
    OP_NAMES,
    OP_READ,
    OP_TIME,
    OP_WRITE,
    RECORD_DTYPE,
    RECORD_SIZE,
    TraceHeader,
    decode_fixed,
    decode_metadata,
    format_error,
)

#: Records read and validated per chunk (1 MiB).
CHUNK_RECORDS = 65536


@dataclass(frozen=True)
class Access:
    """One recorded 32-bit access.

    Attributes:
        index: position among the trace's accesses (0-based).
        time_ns: nanoseconds since the start of the recording (platform clock).
        op: "R" or "W".
        region: region id (index into ``header.regions``).
        offset: byte offset in the region.
        value: value read or written (0 for a failed read).
        errno: 0, or the errno of the error the access raised.
        byte_offset: position of the record in the file.
    """

    index: int
    time_ns: int
    op: str
    region: int
    offset: int
    value: int
    errno: int = 0
    byte_offset: int = 0

    @property
    def failed(self) -> bool:
        return self.errno != 0


@dataclass
class AccessArray:
    """Accesses as parallel NumPy arrays (the bulk form of :class:`Access`)."""

    index: np.ndarray        # int64
    time_ns: np.ndarray      # int64, relative to the start
    op: np.ndarray           # uint8, OP_READ / OP_WRITE
    region: np.ndarray       # uint8
    offset: np.ndarray       # uint32
    value: np.ndarray        # uint32
    errno: np.ndarray        # uint16
    byte_offset: np.ndarray  # int64

    def __len__(self) -> int:
        return len(self.index)

    def access(self, i: int) -> Access:
        """Row ``i`` as an :class:`Access`."""
        return Access(int(self.index[i]), int(self.time_ns[i]), OP_NAMES[int(self.op[i])],
                      int(self.region[i]), int(self.offset[i]), int(self.value[i]), int(self.errno[i]),
                      int(self.byte_offset[i]))

    def __iter__(self) -> Iterator[Access]:
        for i in range(len(self)):
            yield self.access(i)

    @classmethod
    def concatenate(cls, parts: list[AccessArray]) -> AccessArray:
        if not parts:
            return cls(*(np.zeros(0, dtype=dt) for dt in _DTYPES))
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)))


_DTYPES = (np.int64, np.int64, np.uint8, np.uint8, np.uint32, np.uint32, np.uint16, np.int64)


class TraceReader:
    """Open a trace file and check its header; iterate to read and check the records.

    Args:
        path: the trace file.
        allow_truncated: accept a partial record at the end (read the whole ones before it).
        chunk_records: records per validation chunk (bounds memory while streaming).

    Attributes:
        header: the parsed :class:`TraceHeader`.
        complete: after a full iteration, True if the END record was present (None before).
        truncated_at: byte offset where a partial trailing record starts (only with allow_truncated).
        count: accesses read so far.
        duration_ns: time of the last record relative to the start.

    Raises:
        TraceFormatError: malformed header (byte offset in ``offset``).
        MaliError: the file cannot be opened (errno from the OS).
    """

    def __init__(self, path: str | os.PathLike[str], *, allow_truncated: bool = False,
                 chunk_records: int = CHUNK_RECORDS) -> None:
        self.path = os.fspath(path)
        self.allow_truncated = allow_truncated
        self.chunk_records = max(1, int(chunk_records))
        self.complete: bool | None = None
        self.truncated_at: int | None = None
        self.count = 0
        self.duration_ns = 0
        try:
            with open(self.path, "rb") as f:
                fixed = decode_fixed(f.read(HEADER_SIZE), self.path)
                blob = f.read(fixed.header_size - HEADER_SIZE)
        except OSError as err:
            if isinstance(err, MaliError):
                raise
            raise MaliError(f"cannot read trace file {self.path}: {err.strerror}", errno=err.errno) from None
        self.header: TraceHeader = decode_metadata(fixed, blob, self.path)
        sizes = [r.size for r in self.header.regions]
        self._region_size = np.array(sizes + [0] * (256 - len(sizes)), dtype=np.uint64)

    def __iter__(self) -> Iterator[Access]:
        for chunk in self.chunks():
            yield from chunk

    def chunks(self) -> Iterator[AccessArray]:
        """Validated accesses, one :class:`AccessArray` per chunk of the file."""
        self.count, self.duration_ns, self.complete, self.truncated_at = 0, 0, None, None
        ended = False
        base = self.header.header_size
        try:
            f = open(self.path, "rb")  # noqa: SIM115 - closed in finally, generator-friendly
        except OSError as err:
            raise MaliError(f"cannot read trace file {self.path}: {err.strerror}", errno=err.errno) from None
        try:
            f.seek(base)
            while data := f.read(self.chunk_records * RECORD_SIZE):
                whole = len(data) - len(data) % RECORD_SIZE
                if ended:
                    raise format_error(self.path, base, "data after the END record")
                if whole < len(data):
                    self._partial(base + whole, len(data) - whole)
                recs = np.frombuffer(data, dtype=RECORD_DTYPE, count=whole // RECORD_SIZE)
                chunk, ended = self._chunk(recs, base)
                base += whole
                if len(chunk):
                    yield chunk
                if whole < len(data):
                    break
        finally:
            f.close()
        self.complete = ended

    def _partial(self, offset: int, size: int) -> None:
        if not self.allow_truncated:
            raise format_error(self.path, offset, f"truncated record: the file ends {size} bytes into a "
                         f"{RECORD_SIZE}-byte record")
        self.truncated_at = offset

    def _chunk(self, recs: np.ndarray, base: int) -> tuple[AccessArray, bool]:
        """Validate one chunk and turn it into accesses; returns (accesses, END seen)."""
        bad = ~self._valid(recs)
        if bad.any():
            i = int(np.argmax(bad))
            raise format_error(self.path, base + i * RECORD_SIZE, self._problem(recs[i]))
        op = recs["op"]
        ends = np.flatnonzero(op == OP_END)
        if len(ends) and ends[0] != len(recs) - 1:
            raise format_error(self.path, base + (int(ends[0]) + 1) * RECORD_SIZE,
                               "data after the END record")
        inc = recs["dt_ns"].astype(np.uint64)
        is_time = op == OP_TIME
        gap_lo = recs["offset"][is_time].astype(np.uint64)
        inc[is_time] += gap_lo | (recs["value"][is_time].astype(np.uint64) << np.uint64(32))
        times = (np.cumsum(inc) + np.uint64(self.duration_ns)).astype(np.int64)
        if len(times):
            self.duration_ns = int(times[-1])
        is_access = (op == OP_READ) | (op == OP_WRITE)
        n = int(is_access.sum())
        positions = np.flatnonzero(is_access)
        out = AccessArray(np.arange(self.count, self.count + n, dtype=np.int64), times[is_access],
                          op[is_access], recs["region"][is_access], recs["offset"][is_access],
                          recs["value"][is_access], recs["errno"][is_access],
                          base + positions.astype(np.int64) * RECORD_SIZE)
        self.count += n
        if len(ends):
            end = recs[-1]
            declared = int(end["offset"]) | int(end["value"]) << 32
            if declared != self.count:
                raise format_error(self.path, base + (len(recs) - 1) * RECORD_SIZE,
                             f"END record counts {declared} accesses but the file holds {self.count}")
        return out, bool(len(ends))

    def _valid(self, recs: np.ndarray) -> np.ndarray:
        op, region, offset = recs["op"], recs["region"], recs["offset"].astype(np.uint64)
        access = (op == OP_READ) | (op == OP_WRITE)
        control = (op == OP_TIME) | (op == OP_END)
        n_regions = len(self.header.regions)
        ok_access = ((region < n_regions) & (offset % 4 == 0)
                     & (offset + 4 <= self._region_size[region])
                     & ~((op == OP_READ) & (recs["errno"] != 0) & (recs["value"] != 0)))
        ok_control = (region == 0) & (recs["errno"] == 0) & (recs["dt_ns"] == 0)
        return (access & ok_access) | (control & ok_control)

    def _problem(self, rec: np.void) -> str:
        """One line naming what is wrong with an invalid record."""
        op, region, offset = int(rec["op"]), int(rec["region"]), int(rec["offset"])
        if op not in OP_NAMES:
            return f"unknown record op {op:#04x}"
        name = OP_NAMES[op]
        if op in (OP_TIME, OP_END):
            return f"{name} record with non-zero region/errno/dt fields"
        if region >= len(self.header.regions):
            return f"{name} record names region {region}, the header declares {len(self.header.regions)}"
        info = self.header.regions[region]
        if offset % 4:
            return f"{name} record offset {offset:#x} is not 4-byte aligned"
        if offset + 4 > info.size:
            return f"{name} record offset {offset:#x} is outside region {info.name!r} ({info.size:#x} bytes)"
        return f"failed read record carries value {int(rec['value']):#x} (must be 0)"

    def read_all(self) -> AccessArray:
        """Every access of the file in one :class:`AccessArray`."""
        return AccessArray.concatenate(list(self.chunks()))


@dataclass
class Trace:
    """A whole trace in memory: header, accesses and how the file ended."""

    path: str
    header: TraceHeader
    accesses: AccessArray
    complete: bool
    truncated_at: int | None = None
    duration_ns: int = 0

    def __len__(self) -> int:
        return len(self.accesses)


def read_trace(path: str | os.PathLike[str], *, allow_truncated: bool = False) -> Trace:
    """Read and validate a whole trace file.

    Raises:
        TraceFormatError: malformed file (``offset`` = byte offset of the problem).
        MaliError: the file cannot be read.
    """
    reader = TraceReader(path, allow_truncated=allow_truncated)
    accesses = reader.read_all()
    return Trace(reader.path, reader.header, accesses, bool(reader.complete), reader.truncated_at,
                 reader.duration_ns)
