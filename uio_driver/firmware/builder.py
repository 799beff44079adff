"""Write CSF firmware containers: entry specs, a general image builder, and ``rebuild``.

The builder turns a list of entry specs (one dataclass per entry type, mirroring
:mod:`.entries`) plus data blobs into the container format of
shared/reference/csf-firmware-and-interfaces.md §1: the 20-byte header, the entry table from 0x14,
then the blobs each entry references by file offset. Blobs are placed automatically (aligned,
after the entry table) unless they carry an explicit offset; the same :class:`Blob` referenced by
two entries is written once, which is how the Arm images share file ranges between sections.
Raw ``(start, end)`` tuples write file offsets verbatim, so tests can build malformed images.

:func:`rebuild` turns a parsed image back into specs and bytes; with the layout preserved it
reproduces the Arm blobs byte for byte (in memory only), which checks parser and builder against
each other. The synthetic image itself is in :mod:`.synthetic`.
"""

from __future__ import annotations

import ctypes
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..errors import InvalidArgument
from .container import FirmwareImage
from .entries import (
    BuildInfoEntry,
    ConfigEntry,
    CoreDumpEntry,
    FirmwareEntry,
    FuncCallListEntry,
    IfaceEntry,
    PageFaultCountEntry,
    TimelineMetadataEntry,
    TraceBufferEntry,
)
from .format import (
    ENTRY_MAX_SIZE,
    FIRMWARE_MAGIC,
    GIT_SHA_TAG,
    HEADER_MINOR_KBASE,
    HEADER_SIZE,
    BuildInfoLayout,
    ConfigLayout,
    CoreDumpLayout,
    EntryType,
    FileHeaderLayout,
    FuncCallListLayout,
    IfaceLayout,
    PageFaultCountLayout,
    TimelineMetadataLayout,
    TraceBufferLayout,
    entry_header_word,
)

_U32 = 0xFFFFFFFF


@dataclass(eq=False)
class Blob:
    """Bytes stored in the file outside the entry table.

    Attributes:
        data: the bytes.
        offset: explicit file offset, or None to place it automatically after the entry table.
        align: alignment of an automatically placed blob.
    """

    data: bytes
    offset: int | None = None
    align: int = 4


#: Where an entry's referenced bytes come from: a blob, bytes (a fresh blob), a raw
#: ``(start, end)`` file range written verbatim, or None for the empty range (0, 0).
DataSource = Blob | bytes | tuple[int, int] | None
Resolver = Callable[[DataSource], tuple[int, int]]


def encode_name(name: str) -> bytes:
    """A name area as the Arm images store it: UTF-8, a NUL, zero padding to a multiple of 4."""
    raw = name.encode("utf-8") + b"\0"
    return raw + b"\0" * (-len(raw) % 4)


def _u32(value: int, what: str) -> int:
    if not isinstance(value, int) or not 0 <= value <= _U32:
        raise InvalidArgument(f"{what} {value!r} does not fit in a u32")
    return value


@dataclass(kw_only=True)
class EntrySpec:
    """Fields every entry spec has: the header-word bits besides type and size (§1.3)."""

    ENTRY_TYPE: ClassVar[int] = -1
    optional: bool = True
    updatable: bool = False
    reserved: int = 0

    def entry_type(self) -> int:
        return self.ENTRY_TYPE

    def sources(self) -> list[DataSource]:
        """Data this entry references by file offset."""
        return []

    def payload(self, resolve: Resolver) -> bytes:
        """The payload bytes, with referenced data resolved to ``(start, end)`` file offsets."""
        raise InvalidArgument(f"{type(self).__name__} has no payload encoder")

    def header_word(self, size: int) -> int:
        return entry_header_word(self.entry_type(), size, optional=self.optional, updatable=self.updatable,
                                 reserved=self.reserved)


def _pack(layout: type[ctypes.Structure], what: str, **values: int) -> bytes:
    checked = {k: _u32(v, f"{what} {k}") for k, v in values.items()}
    return bytes(layout(**checked))


def _named(fixed: bytes, name: str, name_area: bytes | None) -> bytes:
    return fixed + (encode_name(name) if name_area is None else name_area)


@dataclass(kw_only=True)
class IfaceSpec(EntrySpec):
    """IFACE section (§1.5). ``tail`` defaults to the Arm layout: NUL, va.start as u32, 3 zero bytes."""

    ENTRY_TYPE: ClassVar[int] = EntryType.IFACE
    optional: bool = False
    flags: int
    va_start: int
    va_end: int
    data: DataSource = None
    tail: bytes | None = None

    def sources(self) -> list[DataSource]:
        return [self.data]

    def payload(self, resolve: Resolver) -> bytes:
        start, end = resolve(self.data)
        tail = self.tail
        if tail is None:
            tail = b"\0" + struct.pack("<I", _u32(self.va_start, "IFACE va_start")) + b"\0" * 3
        return _pack(IfaceLayout, "IFACE", flags=self.flags, va_start=self.va_start, va_end=self.va_end,
                     data_start=start, data_end=end) + tail


@dataclass(kw_only=True)
class ConfigSpec(EntrySpec):
    """CONFIG variable (§1.6)."""

    ENTRY_TYPE: ClassVar[int] = EntryType.CONFIG
    address: int
    min: int = 0
    max: int = _U32
    name: str = ""
    name_area: bytes | None = None

    def payload(self, resolve: Resolver) -> bytes:
        fixed = _pack(ConfigLayout, "CONFIG", address=self.address, min=self.min, max=self.max)
        return _named(fixed, self.name, self.name_area)


@dataclass(kw_only=True)
class TraceBufferSpec(EntrySpec):
    """TRACE_BUFFER (§1.7)."""

    ENTRY_TYPE: ClassVar[int] = EntryType.TRACE_BUFFER
    kind: int = 0
    size_address: int
    insert_address: int
    extract_address: int
    data_address: int
    trace_enable_address: int
    trace_enable_bits: int = 0
    name: str = ""
    name_area: bytes | None = None

    def payload(self, resolve: Resolver) -> bytes:
        fixed = _pack(TraceBufferLayout, "TRACE_BUFFER", kind=self.kind, size_address=self.size_address,
                      insert_address=self.insert_address, extract_address=self.extract_address,
                      data_address=self.data_address, trace_enable_address=self.trace_enable_address,
                      trace_enable_bits=self.trace_enable_bits)
        return _named(fixed, self.name, self.name_area)


@dataclass(kw_only=True)
class TimelineMetadataSpec(EntrySpec):
    """TIMELINE_METADATA (§1.8); a ``(start, end)`` tuple writes start and ``end - start``."""

    ENTRY_TYPE: ClassVar[int] = EntryType.TIMELINE_METADATA
    data: DataSource = None
    name: str = ""
    name_area: bytes | None = None

    def sources(self) -> list[DataSource]:
        return [self.data]

    def payload(self, resolve: Resolver) -> bytes:
        start, end = resolve(self.data)
        fixed = _pack(TimelineMetadataLayout, "TIMELINE_METADATA", data_start=start, data_size=end - start)
        return _named(fixed, self.name, self.name_area)


@dataclass(kw_only=True)
class BuildInfoSpec(EntrySpec):
    """BUILD_INFO_METADATA (§1.9); ``meta`` is usually :func:`build_info_blob`."""

    ENTRY_TYPE: ClassVar[int] = EntryType.BUILD_INFO_METADATA
    meta: DataSource = None

    def sources(self) -> list[DataSource]:
        return [self.meta]

    def payload(self, resolve: Resolver) -> bytes:
        start, end = resolve(self.meta)
        return _pack(BuildInfoLayout, "BUILD_INFO", meta_start=start, meta_size=end - start)


@dataclass(kw_only=True)
class FuncCallListSpec(EntrySpec):
    """FUNC_CALL_LIST (§1.10)."""

    ENTRY_TYPE: ClassVar[int] = EntryType.FUNC_CALL_LIST
    start_address: int
    end_address: int
    name: str = ""
    name_area: bytes | None = None

    def payload(self, resolve: Resolver) -> bytes:
        fixed = _pack(FuncCallListLayout, "FUNC_CALL_LIST", start_address=self.start_address,
                      end_address=self.end_address)
        return _named(fixed, self.name, self.name_area)


@dataclass(kw_only=True)
class PageFaultCountSpec(EntrySpec):
    """PAGE_FAULT_CNT (§1.10)."""

    ENTRY_TYPE: ClassVar[int] = EntryType.PAGE_FAULT_CNT
    address: int

    def payload(self, resolve: Resolver) -> bytes:
        return _pack(PageFaultCountLayout, "PAGE_FAULT_CNT", address=self.address)


@dataclass(kw_only=True)
class CoreDumpSpec(EntrySpec):
    """CORE_DUMP (§1.10); version ``(major << 8) | minor``, kbase accepts 0.1."""

    ENTRY_TYPE: ClassVar[int] = EntryType.CORE_DUMP
    version: int = 1
    regs_address: int

    def payload(self, resolve: Resolver) -> bytes:
        return _pack(CoreDumpLayout, "CORE_DUMP", version=self.version, regs_address=self.regs_address)


@dataclass(kw_only=True)
class RawEntrySpec(EntrySpec):
    """Any entry written verbatim: FUTF_TEST, undefined types (e.g. 5), or deliberately broken ones.

    ``header_override`` replaces the computed header word (the size field included), so the payload
    need not be a multiple of 4 then.
    """

    type: int
    body: bytes = b""
    header_override: int | None = None

    def entry_type(self) -> int:
        return self.type

    def payload(self, resolve: Resolver) -> bytes:
        return self.body

    def header_word(self, size: int) -> int:
        if self.header_override is not None:
            return _u32(self.header_override, "header_override")
        return super().header_word(size)


def build_info_blob(git_sha: str, *, dirty: bool = False) -> bytes:
    """BUILD_INFO metadata as the Arm images hold it: ``git_sha: <sha>`` + ``' '``/``'+'`` + NUL."""
    return GIT_SHA_TAG + git_sha.encode("ascii") + (b"+" if dirty else b" ") + b"\0"


@dataclass(frozen=True)
class HeaderSpec:
    """File header fields (§1.2); ``entry_end`` None means "where the entry table really ends"."""

    version_hash: int = 0
    minor: int = HEADER_MINOR_KBASE
    major: int = 0
    magic: int = FIRMWARE_MAGIC
    padding1: int = 0
    padding2: int = 0
    entry_end: int | None = None


@dataclass(frozen=True)
class BuiltImage:
    """An assembled image and where its parts went.

    Attributes:
        data: the file bytes.
        entry_offsets: file offset of each entry, in spec order.
        table_end: where the entry table really ends (the header's ``size`` unless overridden).
        blob_ranges: ``(start, end)`` of every placed blob, keyed by ``id(blob)``.
    """

    data: bytes
    entry_offsets: tuple[int, ...]
    table_end: int
    blob_ranges: dict[int, tuple[int, int]] = field(repr=False)

    def range_of(self, blob: Blob) -> tuple[int, int]:
        """File range a blob was written to."""
        return self.blob_ranges[id(blob)]


def _as_blob(source: DataSource, cache: dict[int, Blob]) -> Blob | None:
    """Blob behind a data source (bytes become one fresh blob per source object)."""
    if isinstance(source, Blob):
        return source
    if isinstance(source, bytes):
        return cache.setdefault(id(source), Blob(source))
    return None


def _collect_blobs(specs: Sequence[EntrySpec], extra: Sequence[Blob], cache: dict[int, Blob]) -> list[Blob]:
    """Extra blobs first (their order is the placement order), then referenced ones in entry order."""
    seen: dict[int, Blob] = {}
    for blob in extra:
        seen.setdefault(id(blob), blob)
    for spec in specs:
        for source in spec.sources():
            found = _as_blob(source, cache)
            if found is not None:
                seen.setdefault(id(found), found)
    return list(seen.values())


def _place(blobs: list[Blob], table_end: int) -> dict[int, tuple[int, int]]:
    """Explicit offsets as given; the others aligned after the table, skipping explicit ranges."""
    ranges: dict[int, tuple[int, int]] = {}
    fixed: list[tuple[int, int]] = []
    for blob in blobs:
        if blob.offset is not None:
            _u32(blob.offset, "blob offset")
            ranges[id(blob)] = (blob.offset, blob.offset + len(blob.data))
            fixed.append(ranges[id(blob)])
    cursor = table_end
    for blob in blobs:
        if blob.offset is not None:
            continue
        if blob.align <= 0:
            raise InvalidArgument(f"blob alignment {blob.align} must be positive")
        start = -(-cursor // blob.align) * blob.align
        clash = next((r for r in fixed if r[0] < start + len(blob.data) and start < r[1]), None)
        while clash is not None and blob.data:
            start = -(-clash[1] // blob.align) * blob.align
            clash = next((r for r in fixed if r[0] < start + len(blob.data) and start < r[1]), None)
        ranges[id(blob)] = (start, start + len(blob.data))
        cursor = start + len(blob.data)
    return ranges


def _resolver(ranges: dict[int, tuple[int, int]], cache: dict[int, Blob]) -> Resolver:
    def resolve(source: DataSource) -> tuple[int, int]:
        if source is None:
            return (0, 0)
        if isinstance(source, tuple):
            if len(source) != 2:
                raise InvalidArgument(f"a file range must be (start, end), got {source!r}")
            return (_u32(source[0], "range start"), _u32(source[1], "range end"))
        blob = _as_blob(source, cache)
        if blob is None:
            raise InvalidArgument(f"unsupported data source {type(source).__name__}")
        return ranges.get(id(blob), (0, 0))

    return resolve


def _entry_bytes(spec: EntrySpec, resolve: Resolver, index: int) -> bytes:
    body = spec.payload(resolve)
    size = 4 + len(body)
    overridden = isinstance(spec, RawEntrySpec) and spec.header_override is not None
    if not overridden and (len(body) % 4 or size > ENTRY_MAX_SIZE):
        raise InvalidArgument(f"entry {index} ({type(spec).__name__}): size {size:#x} must be a multiple "
                              f"of 4 and at most {ENTRY_MAX_SIZE:#x}")
    return struct.pack("<I", spec.header_word(size)) + body


def _write(out: bytearray, start: int, data: bytes, written: list[tuple[int, int]]) -> None:
    """Write ``data`` at ``start``; overlapping earlier writes must hold the same bytes."""
    end = start + len(data)
    for lo, hi in written:
        a, b = max(lo, start), min(hi, end)
        if a < b and out[a:b] != data[a - start:b - start]:
            raise InvalidArgument(f"blob at {start:#x}-{end:#x} overlaps different bytes at {a:#x}-{b:#x}")
    out[start:end] = data
    written.append((start, end))


def assemble(
    specs: Sequence[EntrySpec],
    *,
    header: HeaderSpec = HeaderSpec(),
    extra_blobs: Sequence[Blob] = (),
    file_size: int | None = None,
) -> BuiltImage:
    """Lay out and serialise an image.

    Args:
        specs: entries in file order.
        header: header fields; ``entry_end`` overrides the table end written at 0x10.
        extra_blobs: blobs to place even if no entry references them; automatic placement follows
            this order first, then the order in which entries reference blobs.
        file_size: pad the file with zeros to this size.

    Returns:
        The bytes and the layout.

    Raises:
        InvalidArgument: a value does not fit its field, an entry is too big, blobs overlap with
            different bytes, or ``file_size`` is smaller than the content.
    """
    cache: dict[int, Blob] = {}
    sizes = [len(_entry_bytes(s, lambda src: (0, 0), i)) for i, s in enumerate(specs)]
    offsets = tuple(HEADER_SIZE + sum(sizes[:i]) for i in range(len(specs)))
    table_end = HEADER_SIZE + sum(sizes)
    ranges = _place(_collect_blobs(specs, extra_blobs, cache), table_end)
    resolve = _resolver(ranges, cache)
    table = bytearray(bytes(FileHeaderLayout(
        magic=_u32(header.magic, "magic"), minor=header.minor & 0xFF, major=header.major & 0xFF,
        padding1=header.padding1 & 0xFFFF, version_hash=_u32(header.version_hash, "version_hash"),
        padding2=_u32(header.padding2, "padding2"),
        size=_u32(table_end if header.entry_end is None else header.entry_end, "entry_end"))))
    for i, spec in enumerate(specs):
        table += _entry_bytes(spec, resolve, i)
    content_end = max([len(table)] + [end for _, end in ranges.values()])
    if file_size is not None and file_size < content_end:
        raise InvalidArgument(f"file_size {file_size:#x} is smaller than the content "
                              f"({content_end:#x} bytes)")
    out = bytearray(max(content_end, file_size or 0))
    written: list[tuple[int, int]] = []
    _write(out, 0, bytes(table), written)
    blobs = {id(b): b for b in _collect_blobs(specs, extra_blobs, cache)}
    for key, (start, _end) in ranges.items():
        _write(out, start, blobs[key].data, written)
    return BuiltImage(data=bytes(out), entry_offsets=offsets, table_end=table_end, blob_ranges=ranges)


def build_image(
    specs: Sequence[EntrySpec],
    *,
    header: HeaderSpec = HeaderSpec(),
    extra_blobs: Sequence[Blob] = (),
    file_size: int | None = None,
) -> bytes:
    """Serialise an image; see :func:`assemble` (this returns only the bytes)."""
    return assemble(specs, header=header, extra_blobs=extra_blobs, file_size=file_size).data


def _source(image: FirmwareImage, start: int, end: int) -> DataSource:
    """A referenced file range: the bytes pinned at their offset, or the raw range if not in the file."""
    if start < end <= image.file_size:
        return Blob(image.data[start:end], offset=start)
    return (start, end)


def _name_area(entry: FirmwareEntry, fixed: int, name: str) -> bytes | None:
    area = entry.payload[fixed:]
    return None if area == encode_name(name) else area


def spec_for_entry(entry: FirmwareEntry, image: FirmwareImage) -> EntrySpec:
    """The spec that writes ``entry`` back exactly as parsed (referenced data pinned in place)."""
    bits: dict[str, Any] = {"optional": entry.optional, "updatable": entry.updatable,
                            "reserved": (entry.header >> 16) & 0x3FFF}
    if isinstance(entry, IfaceEntry):
        return IfaceSpec(flags=entry.flags, va_start=entry.va_start, va_end=entry.va_end, tail=entry.tail,
                         data=_source(image, entry.data_start, entry.data_end), **bits)
    if isinstance(entry, ConfigEntry):
        return ConfigSpec(address=entry.address, min=entry.min, max=entry.max, name=entry.name,
                          name_area=_name_area(entry, 0xC, entry.name), **bits)
    if isinstance(entry, TraceBufferEntry):
        return TraceBufferSpec(kind=entry.kind, size_address=entry.size_address,
                               insert_address=entry.insert_address, extract_address=entry.extract_address,
                               data_address=entry.data_address,
                               trace_enable_address=entry.trace_enable_address,
                               trace_enable_bits=entry.trace_enable_bits, name=entry.name,
                               name_area=_name_area(entry, 0x1C, entry.name), **bits)
    if isinstance(entry, TimelineMetadataEntry):
        return TimelineMetadataSpec(data=_source(image, entry.data_start, entry.data_end), name=entry.name,
                                    name_area=_name_area(entry, 8, entry.name), **bits)
    if isinstance(entry, BuildInfoEntry):
        meta = _source(image, entry.meta_start, entry.meta_start + entry.meta_size)
        return BuildInfoSpec(meta=meta, **bits)
    if isinstance(entry, FuncCallListEntry):
        return FuncCallListSpec(start_address=entry.start_address, end_address=entry.end_address,
                                name=entry.name, name_area=_name_area(entry, 8, entry.name), **bits)
    if isinstance(entry, PageFaultCountEntry):
        return PageFaultCountSpec(address=entry.address, **bits)
    if isinstance(entry, CoreDumpEntry):
        return CoreDumpSpec(version=entry.version, regs_address=entry.regs_address, **bits)
    return RawEntrySpec(type=entry.type, body=entry.payload, **bits)


def _unreferenced(image: FirmwareImage) -> list[Blob]:
    """Non-zero file ranges no documented entry field points at (e.g. the type-5 tables), verbatim."""
    covered = [(0, image.header.entry_end)]
    for e in image.entries:
        if isinstance(e, IfaceEntry):
            covered.append((e.data_start, e.data_end))
        elif isinstance(e, TimelineMetadataEntry):
            covered.append((e.data_start, e.data_end))
        elif isinstance(e, BuildInfoEntry) and e.raw:
            covered.append((e.meta_start, e.meta_start + e.meta_size))
    blobs = []
    cursor = 0
    for start, end in sorted(covered) + [(image.file_size, image.file_size)]:
        if start > cursor and any(image.data[cursor:start]):
            blobs.append(Blob(image.data[cursor:start], offset=cursor))
        cursor = max(cursor, end)
    return blobs


def rebuild(image: FirmwareImage) -> bytes:
    """Write a parsed image back with its layout preserved.

    Header and entries are re-encoded from the decoded fields; referenced data (section contents,
    build info, timeline metadata) is placed at its recorded offsets; bytes no documented field
    references (the undocumented type-5 tables) are carried over verbatim. For the Arm blobs the
    result equals the input byte for byte.
    """
    h = image.header
    header = HeaderSpec(version_hash=h.version_hash, minor=h.minor, major=h.major, magic=h.magic,
                        padding1=h.padding1, padding2=h.padding2, entry_end=h.entry_end)
    specs = [spec_for_entry(e, image) for e in image.entries]
    return build_image(specs, header=header, extra_blobs=_unreferenced(image), file_size=image.file_size)
