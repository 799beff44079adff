"""The MMIO trace file format (version 1): byte layouts, header metadata, validation errors.

A trace is a fixed 48-byte header (:class:`TraceFileHeader`), a UTF-8 JSON metadata block padded
to a multiple of 16 bytes, then fixed-size 16-byte records (:class:`TraceRecord`), little-endian.
``docs/trace-format.md`` is the normative description; this module is its executable form and the
writer (:mod:`.writer`) and reader (:mod:`.reader`) share every constant from here.

Why binary and fixed-size: a bring-up is hundreds of accesses, a firmware boot or a job loop is
millions; 16 bytes per access keeps a million-access run at 16 MB (a text line would be 2-3x that),
the writer packs into a preallocated buffer with one ``struct.pack_into`` per access, the reader
validates whole chunks at once with NumPy, and every corruption has an exact byte offset. Names are
not stored per record: ``trace show`` derives them from the register database (see
:func:`uio_driver.trace.names.regdb_fingerprint` for how a database change is detected).
"""

from __future__ import annotations

import ctypes
import json
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InvalidArgument, TraceFormatError

#: File magic (8 bytes, no terminator).
MAGIC = b"MALITRAC"
#: Format version written by this code; the reader accepts exactly this version.
VERSION = 1
#: Size of one record in bytes.
RECORD_SIZE = 16
#: Header sizes are padded to this many bytes so records stay 16-byte aligned in the file.
HEADER_ALIGN = 16
#: Upper bound on the JSON metadata (a sanity limit: real headers are well under 4 KiB).
MAX_META_SIZE = 1 << 20
#: Region ids are one byte.
MAX_REGIONS = 255

#: Header flag: record times come from a virtual clock (the simulator), not a real one.
FLAG_CLOCK_VIRTUAL = 0x1
KNOWN_FLAGS = FLAG_CLOCK_VIRTUAL

#: Record opcodes (ASCII, so a hex dump is readable).
OP_READ = ord("R")   # a 32-bit load: ``value`` is what it returned (0 if it failed)
OP_WRITE = ord("W")  # a 32-bit store of ``value``
OP_TIME = ord("T")   # time extension: a gap >= 2**32 ns, ``offset`` = low and ``value`` = high word
OP_END = ord("E")    # clean end: ``offset``/``value`` = low/high word of the number of R/W records
ACCESS_OPS = (OP_READ, OP_WRITE)
OP_NAMES = {OP_READ: "R", OP_WRITE: "W", OP_TIME: "T", OP_END: "E"}

U32_MAX = 0xFFFFFFFF


class TraceFileHeader(ctypes.LittleEndianStructure):
    """The fixed 48-byte header at byte 0 of every trace file."""

    _pack_ = 1
    _fields_ = [
        ("magic", ctypes.c_char * 8),        # MAGIC
        ("version", ctypes.c_uint16),        # VERSION
        ("record_size", ctypes.c_uint16),    # RECORD_SIZE
        ("flags", ctypes.c_uint32),          # FLAG_* bits; others must be 0
        ("header_size", ctypes.c_uint32),    # bytes before the first record (48 + JSON + padding)
        ("meta_size", ctypes.c_uint32),      # length of the JSON metadata, unpadded
        ("start_wall_ns", ctypes.c_uint64),  # time.time_ns() when recording started
        ("start_clock_ns", ctypes.c_uint64), # platform clock (ns) at the start; record times count from it
        ("gpu_id", ctypes.c_uint32),         # GPU_ID seen by the first successful read of gpu+0x0, 0 = none
        ("reserved", ctypes.c_uint32),       # 0
    ]


class TraceRecord(ctypes.LittleEndianStructure):
    """One 16-byte record."""

    _pack_ = 1
    _fields_ = [
        ("dt_ns", ctypes.c_uint32),   # nanoseconds since the previous record (or the start)
        ("op", ctypes.c_uint8),       # OP_*
        ("region", ctypes.c_uint8),   # index into the metadata "regions" list (0 for T/E)
        ("errno", ctypes.c_uint16),   # 0, or the errno of the error the access raised
        ("offset", ctypes.c_uint32),  # byte offset in the region
        ("value", ctypes.c_uint32),   # value read or written
    ]


HEADER_SIZE = ctypes.sizeof(TraceFileHeader)
GPU_ID_FIELD_OFFSET = TraceFileHeader.gpu_id.offset
#: struct format of :class:`TraceRecord` (the writer's hot path).
RECORD_STRUCT = struct.Struct("<IBBHII")
#: NumPy view of :class:`TraceRecord` (the reader's bulk path).
RECORD_DTYPE = np.dtype([("dt_ns", "<u4"), ("op", "u1"), ("region", "u1"), ("errno", "<u2"),
                         ("offset", "<u4"), ("value", "<u4")])


@dataclass(frozen=True)
class RegionInfo:
    """An MMIO region named in a trace header (records refer to it by its index)."""

    name: str
    size: int
    phys_base: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "size": self.size, "phys_base": self.phys_base}


@dataclass(frozen=True)
class TraceHeader:
    """Everything a trace says about itself before the first record.

    Attributes:
        backend: platform name of the recording ("sim", "uio", ...).
        simulated: True when recorded on the simulator.
        clock_virtual: record times are virtual (simulator) nanoseconds.
        start_wall_ns: wall-clock time (``time.time_ns()``) when recording started.
        start_clock_ns: platform clock reading at the start; record times are relative to it.
        regions: MMIO regions, indexed by the records' region id.
        gpu_id: GPU_ID seen during the run, or None.
        command: the command line that produced the trace, if known.
        notes: the platform's notes (which node, which mode, ...).
        tool: producer and version ("mali-uio 0.1.0").
        regdb: fingerprint of the register database the producer had (names are derived at show time).
        version: format version.
        header_size: byte offset of the first record.
        extra: metadata keys this version does not interpret (kept for forward compatibility).
    """

    backend: str
    simulated: bool
    clock_virtual: bool
    start_wall_ns: int
    start_clock_ns: int
    regions: tuple[RegionInfo, ...]
    gpu_id: int | None = None
    command: str | None = None
    notes: tuple[str, ...] = ()
    tool: str = ""
    regdb: str = ""
    version: int = VERSION
    header_size: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def region_index(self, name: str) -> int | None:
        for i, region in enumerate(self.regions):
            if region.name == name:
                return i
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version, "backend": self.backend, "simulated": self.simulated,
            "clock": "virtual" if self.clock_virtual else "real", "start_wall_ns": self.start_wall_ns,
            "start_clock_ns": self.start_clock_ns, "gpu_id": self.gpu_id, "command": self.command,
            "regions": [r.to_dict() for r in self.regions], "notes": list(self.notes), "tool": self.tool,
            "regdb": self.regdb,
        }


_META_KEYS = ("backend", "simulated", "command", "regions", "notes", "tool", "regdb")


def encode_header(header: TraceHeader) -> bytes:
    """The header bytes (fixed part, JSON metadata, zero padding) for ``header``.

    Raises:
        InvalidArgument: too many regions, a region that does not fit, or oversized metadata.
    """
    _check_regions(header.regions)
    meta = {"backend": header.backend, "simulated": header.simulated, "command": header.command,
            "regions": [r.to_dict() for r in header.regions], "notes": list(header.notes),
            "tool": header.tool, "regdb": header.regdb}
    blob = json.dumps(meta, sort_keys=True, separators=(",", ":")).encode()
    if len(blob) > MAX_META_SIZE:
        raise InvalidArgument(f"trace metadata is {len(blob)} bytes; the limit is {MAX_META_SIZE}")
    total = -(-(HEADER_SIZE + len(blob)) // HEADER_ALIGN) * HEADER_ALIGN
    fixed = TraceFileHeader(MAGIC, VERSION, RECORD_SIZE, FLAG_CLOCK_VIRTUAL if header.clock_virtual else 0,
                            total, len(blob), _u64(header.start_wall_ns, "start_wall_ns"),
                            _u64(header.start_clock_ns, "start_clock_ns"), header.gpu_id or 0, 0)
    return bytes(fixed) + blob + bytes(total - HEADER_SIZE - len(blob))


def _u64(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << 64:
        raise InvalidArgument(f"trace header: {what} {value!r} is not an unsigned 64-bit integer")
    return value


def _check_regions(regions: tuple[RegionInfo, ...]) -> None:
    if len(regions) > MAX_REGIONS:
        raise InvalidArgument(f"a trace names at most {MAX_REGIONS} regions, got {len(regions)}")
    names = [r.name for r in regions]
    if len(set(names)) != len(names):
        raise InvalidArgument(f"trace region names must be unique: {names}")
    for r in regions:
        if not isinstance(r.size, int) or not 4 <= r.size <= 1 << 32 or r.size & 3:
            raise InvalidArgument(f"trace region {r.name!r}: size {r.size!r} is not a multiple of 4 "
                                  "in 4..2**32 bytes")


def decode_fixed(data: bytes, path: str = "") -> TraceFileHeader:
    """Parse and check the fixed 48-byte header.

    Raises:
        TraceFormatError: short file, bad magic, unsupported version/record size, unknown flags,
            inconsistent sizes (``offset`` = byte offset of the offending field).
    """
    if len(data) < HEADER_SIZE:
        raise format_error(path, 0, f"{len(data)} bytes is too short for the {HEADER_SIZE}-byte trace header")
    fixed = TraceFileHeader.from_buffer_copy(data[:HEADER_SIZE])
    if bytes(data[:8]) != MAGIC:
        raise format_error(path, 0, f"bad magic {bytes(data[:8])!r}: not a mali-uio trace "
                           f"(expected {MAGIC!r})")
    if fixed.version != VERSION:
        raise format_error(path, TraceFileHeader.version.offset,
                     f"unsupported trace format version {fixed.version} (this reader knows {VERSION})")
    if fixed.record_size != RECORD_SIZE:
        raise format_error(path, TraceFileHeader.record_size.offset,
                     f"record size {fixed.record_size}, expected {RECORD_SIZE}")
    if fixed.flags & ~KNOWN_FLAGS:
        raise format_error(path, TraceFileHeader.flags.offset, f"unknown header flags {fixed.flags:#x}")
    if fixed.meta_size > MAX_META_SIZE:
        raise format_error(path, TraceFileHeader.meta_size.offset,
                     f"metadata size {fixed.meta_size} exceeds the {MAX_META_SIZE}-byte limit")
    expected = -(-(HEADER_SIZE + fixed.meta_size) // HEADER_ALIGN) * HEADER_ALIGN
    if fixed.header_size != expected:
        raise format_error(path, TraceFileHeader.header_size.offset,
                     f"header size {fixed.header_size} does not match {fixed.meta_size} bytes of "
                     f"metadata (expected {expected})")
    if fixed.reserved:
        raise format_error(path, TraceFileHeader.reserved.offset,
                           f"reserved header word is {fixed.reserved:#x}, not 0")
    return fixed


def decode_metadata(fixed: TraceFileHeader, blob: bytes, path: str = "") -> TraceHeader:
    """Build the :class:`TraceHeader` from the fixed part and the metadata bytes after it.

    Raises:
        TraceFormatError: truncated or non-JSON metadata, missing keys, bad region table, non-zero
            padding.
    """
    size = fixed.meta_size
    if len(blob) < fixed.header_size - HEADER_SIZE:
        raise format_error(path, HEADER_SIZE + len(blob),
                     f"file ends inside the header ({HEADER_SIZE + len(blob)} of {fixed.header_size} bytes)")
    if any(blob[size:fixed.header_size - HEADER_SIZE]):
        raise format_error(path, HEADER_SIZE + size, "non-zero bytes in the header padding")
    try:
        meta = json.loads(bytes(blob[:size]).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise format_error(path, HEADER_SIZE, f"metadata is not UTF-8 JSON ({err})") from None
    if not isinstance(meta, dict) or not all(k in meta for k in _META_KEYS):
        raise format_error(path, HEADER_SIZE,
                           f"metadata must be a JSON object with keys {', '.join(_META_KEYS)}")
    regions = _parse_regions(meta["regions"], path)
    notes = meta["notes"]
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise format_error(path, HEADER_SIZE, "metadata 'notes' must be a list of strings")
    for key, kind in (("backend", str), ("simulated", bool), ("tool", str), ("regdb", str)):
        if not isinstance(meta[key], kind):
            raise format_error(path, HEADER_SIZE, f"metadata {key!r} must be a {kind.__name__}")
    if meta["command"] is not None and not isinstance(meta["command"], str):
        raise format_error(path, HEADER_SIZE, "metadata 'command' must be a string or null")
    return TraceHeader(
        backend=meta["backend"], simulated=meta["simulated"],
        clock_virtual=bool(fixed.flags & FLAG_CLOCK_VIRTUAL), start_wall_ns=fixed.start_wall_ns,
        start_clock_ns=fixed.start_clock_ns, regions=regions, gpu_id=fixed.gpu_id or None,
        command=meta["command"], notes=tuple(notes), tool=meta["tool"], regdb=meta["regdb"],
        version=fixed.version, header_size=fixed.header_size,
        extra={k: v for k, v in meta.items() if k not in _META_KEYS},
    )


def _parse_regions(raw: object, path: str) -> tuple[RegionInfo, ...]:
    if not isinstance(raw, list) or not raw:
        raise format_error(path, HEADER_SIZE, "metadata 'regions' must be a non-empty list")
    regions = []
    for item in raw:
        ok = (isinstance(item, dict) and isinstance(item.get("name"), str)
              and type(item.get("size")) is int
              and (item.get("phys_base") is None or type(item.get("phys_base")) is int))
        if not ok:
            raise format_error(path, HEADER_SIZE, f"bad region entry {item!r} (need name, size, phys_base)")
        regions.append(RegionInfo(item["name"], item["size"], item["phys_base"]))
    try:
        _check_regions(tuple(regions))
    except InvalidArgument as err:
        raise format_error(path, HEADER_SIZE, err.message) from None
    return tuple(regions)


def format_error(path: str, offset: int, message: str) -> TraceFormatError:
    where = f"{path}: " if path else ""
    return TraceFormatError(f"{where}byte {offset:#x}: {message}", offset=offset, path=path)
