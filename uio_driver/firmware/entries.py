"""Dataclasses for the entries of a CSF firmware container, and their payload decoders.

One dataclass per entry type of shared/reference/csf-firmware-and-interfaces.md §1.4-§1.10. Every
entry records where it sits in the file (``offset``), its raw header word, type, size, the OPTIONAL
and UPDATE bits, and its raw payload. The decoders check everything the drivers check (§1.11) plus
the payload length of each type and that name areas hold printable text; a violation raises
:class:`~uio_driver.errors.FirmwareFormatError` whose ``offset`` is the byte offset of the offending
field. Problems the drivers only warn about are appended to the walk's warning list instead.
"""

from __future__ import annotations

import ctypes
import dataclasses
import enum
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import FirmwareFormatError
from .format import (
    CORE_DUMP_VERSION_KBASE,
    GIT_SHA_LEN,
    GIT_SHA_TAG,
    IFACE_CACHE_MODE_MASK,
    IFACE_CACHE_MODE_SHIFT,
    IFACE_SUPPORTED_FLAGS,
    MCU_PAGE_SIZE,
    SHARED_SECTION_VA,
    BuildInfoLayout,
    CacheMode,
    ConfigLayout,
    CoreDumpLayout,
    FuncCallListLayout,
    IfaceFlag,
    IfaceLayout,
    PageFaultCountLayout,
    TimelineMetadataLayout,
    TraceBufferLayout,
    describe_iface_flags,
    entry_type_name,
)

_HEXDIGITS = frozenset(b"0123456789abcdefABCDEF")
_IFACE_FIXED = ctypes.sizeof(IfaceLayout)


def _plain(value: Any) -> Any:
    """JSON-friendly form of a field value."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True, kw_only=True)
class FirmwareEntry:
    """Fields every entry has (§1.3).

    Attributes:
        offset: file offset of the entry header word.
        header: the raw header word.
        type: entry type, bits 7:0.
        size: entry size in bytes including the header word, bits 15:8.
        optional: bit 31 (an unknown optional type is skipped).
        updatable: bit 30 (CONFIG/TRACE_BUFFER changes apply at run time, kbase).
        payload: the ``size - 4`` bytes after the header word.
    """

    offset: int
    header: int
    type: int
    size: int
    optional: bool
    updatable: bool
    payload: bytes = field(repr=False)

    @property
    def type_name(self) -> str:
        """Name of the type, ``"TYPE_<n>"`` for types no driver defines."""
        return entry_type_name(self.type)

    @property
    def payload_offset(self) -> int:
        """File offset of the first payload byte."""
        return self.offset + 4

    def summary(self) -> str:
        """One-line description of the payload for listings."""
        return f"{len(self.payload)} payload bytes"

    def to_dict(self) -> dict[str, Any]:
        """All fields (bytes as hex, enums by name) plus decoded extras, for JSON output."""
        out = {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}
        out["type_name"] = self.type_name
        out.update({k: _plain(v) for k, v in self._extras().items()})
        return out

    def _extras(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True, kw_only=True)
class IfaceEntry(FirmwareEntry):
    """IFACE (type 0): a memory section of the MCU address space (§1.5).

    Attributes:
        flags: raw flags word (decoded by the ``rd`` … ``zero`` properties).
        va_start: MCU VA of the first byte (inclusive).
        va_end: MCU VA one past the last byte (exclusive).
        data_start: file offset of the initial contents (inclusive).
        data_end: file offset, exclusive.
        tail: the raw name area after the five words.
        name: the name as panthor sees it (the C string in ``tail``; empty in the Arm blobs).
        virtual_exe_start: kbase's u32 right after the name's NUL, or None if the area is too short.
    """

    flags: int
    va_start: int
    va_end: int
    data_start: int
    data_end: int
    tail: bytes
    name: str
    virtual_exe_start: int | None

    @property
    def rd(self) -> bool:
        return bool(self.flags & IfaceFlag.RD)

    @property
    def wr(self) -> bool:
        return bool(self.flags & IfaceFlag.WR)

    @property
    def ex(self) -> bool:
        return bool(self.flags & IfaceFlag.EX)

    @property
    def cache_mode(self) -> CacheMode:
        return CacheMode((self.flags & IFACE_CACHE_MODE_MASK) >> IFACE_CACHE_MODE_SHIFT)

    @property
    def prot(self) -> bool:
        return bool(self.flags & IfaceFlag.PROT)

    @property
    def shared(self) -> bool:
        return bool(self.flags & IfaceFlag.SHARED)

    @property
    def zero(self) -> bool:
        return bool(self.flags & IfaceFlag.ZERO)

    @property
    def va_size(self) -> int:
        """Bytes of MCU address space the section occupies."""
        return self.va_end - self.va_start

    @property
    def data_size(self) -> int:
        """Bytes of initial contents taken from the file."""
        return self.data_end - self.data_start

    @property
    def is_shared_section(self) -> bool:
        """True for the host-visible interface section (va.start == 0x04000000, §1.11)."""
        return self.va_start == SHARED_SECTION_VA

    @property
    def flags_text(self) -> str:
        """Decoded flags as in the reference tables, e.g. ``"RD EX CM=CACHED"``."""
        return describe_iface_flags(self.flags)

    def summary(self) -> str:
        return (f"{self.flags_text}: VA {self.va_start:#010x}-{self.va_end:#010x}, "
                f"data {self.data_start:#x}-{self.data_end:#x} ({self.data_size:#x} bytes)")

    def _extras(self) -> dict[str, Any]:
        return {"rd": self.rd, "wr": self.wr, "ex": self.ex, "cache_mode": self.cache_mode,
                "prot": self.prot, "shared": self.shared, "zero": self.zero,
                "flags_text": self.flags_text, "va_size": self.va_size, "data_size": self.data_size}


@dataclass(frozen=True, kw_only=True)
class ConfigEntry(FirmwareEntry):
    """CONFIG (type 1): a firmware variable the host may tune (§1.6, kbase)."""

    address: int
    min: int
    max: int
    name: str

    def summary(self) -> str:
        return f'"{self.name}": addr {self.address:#x}, min {self.min:#x}, max {self.max:#x}'


@dataclass(frozen=True, kw_only=True)
class FutfEntry(FirmwareEntry):
    """FUTF_TEST (type 2): firmware unit-test data; no driver decodes the payload (§1.10)."""


@dataclass(frozen=True, kw_only=True)
class TraceBufferEntry(FirmwareEntry):
    """TRACE_BUFFER (type 3): MCU VAs of a trace buffer's control variables (§1.7, kbase)."""

    kind: int
    size_address: int
    insert_address: int
    extract_address: int
    data_address: int
    trace_enable_address: int
    trace_enable_bits: int
    name: str

    def summary(self) -> str:
        return (f'"{self.name}": kind {self.kind}, size@{self.size_address:#x}, '
                f"insert@{self.insert_address:#x}, extract@{self.extract_address:#x}, "
                f"data@{self.data_address:#x}, enable@{self.trace_enable_address:#x}, "
                f"enable_bits {self.trace_enable_bits}")


@dataclass(frozen=True, kw_only=True)
class TimelineMetadataEntry(FirmwareEntry):
    """TIMELINE_METADATA (type 4): a blob of timeline metadata elsewhere in the file (§1.8)."""

    data_start: int
    data_size: int
    name: str

    @property
    def data_end(self) -> int:
        return self.data_start + self.data_size

    def summary(self) -> str:
        return f'"{self.name}": data {self.data_start:#x}, size {self.data_size:#x}'


@dataclass(frozen=True, kw_only=True)
class BuildInfoEntry(FirmwareEntry):
    """BUILD_INFO_METADATA (type 6): the firmware's git sha (§1.9).

    Attributes:
        meta_start: file offset of the metadata.
        meta_size: its size in bytes.
        raw: the referenced bytes (empty when they are not inside the file).
        git_sha: the hex digits after ``git_sha: `` (at most 40, as kbase copies), or None.
        dirty: True for kbase's ``'+'`` marker after the sha, False for ``' '``, None otherwise.
        text: what panthor prints (everything after the tag up to the NUL), or None.
        nul_terminated: whether the last referenced byte is NUL (panthor warns otherwise).
    """

    meta_start: int
    meta_size: int
    raw: bytes
    git_sha: str | None
    dirty: bool | None
    text: str | None
    nul_terminated: bool

    def summary(self) -> str:
        sha = self.git_sha or "-"
        return f"meta_start {self.meta_start:#x}, meta_size {self.meta_size}: git_sha {sha}"


@dataclass(frozen=True, kw_only=True)
class FuncCallListEntry(FirmwareEntry):
    """FUNC_CALL_LIST (type 7): MCU VA range of logging call sites (§1.10, kbase)."""

    start_address: int
    end_address: int
    name: str

    def summary(self) -> str:
        return f'"{self.name}": {self.start_address:#x}-{self.end_address:#x}'


@dataclass(frozen=True, kw_only=True)
class PageFaultCountEntry(FirmwareEntry):
    """PAGE_FAULT_CNT (type 8): MCU VA of the variable kbase points at its counter (§1.10)."""

    address: int

    def summary(self) -> str:
        return f"addr {self.address:#x}"


@dataclass(frozen=True, kw_only=True)
class CoreDumpEntry(FirmwareEntry):
    """CORE_DUMP (type 9): core-dump version and MCU VA of the register save area (§1.10)."""

    version: int
    regs_address: int

    @property
    def version_major(self) -> int:
        return (self.version >> 8) & 0xFFFFFF

    @property
    def version_minor(self) -> int:
        return self.version & 0xFF

    def summary(self) -> str:
        return f"version {self.version:#x}, regs addr {self.regs_address:#010x}"


@dataclass(frozen=True, kw_only=True)
class UnknownEntry(FirmwareEntry):
    """An optional entry of a type no driver defines (e.g. type 5, §1.10); kept, not interpreted."""

    @property
    def words(self) -> tuple[int, ...]:
        """The payload as little-endian u32 words."""
        return struct.unpack_from(f"<{len(self.payload) // 4}I", self.payload)

    def summary(self) -> str:
        return "words " + ", ".join(f"{w:#x}" for w in self.words)

    def _extras(self) -> dict[str, Any]:
        return {"words": self.words}


@dataclass
class DecodeContext:
    """What a payload decoder needs besides the payload: the whole file and the walk's state."""

    data: bytes
    kbase_strict: bool
    warnings: list[str] = field(default_factory=list)


def _fail(message: str, offset: int) -> FirmwareFormatError:
    return FirmwareFormatError(message, offset=offset)


def decode_name(area: bytes, area_offset: int, what: str) -> str:
    """The C string at the start of a name area; it must be printable text.

    Raises:
        FirmwareFormatError: at the offset of the first byte that is not printable UTF-8.
    """
    end = area.find(b"\0")
    raw = area if end < 0 else area[:end]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        bad = area_offset + err.start
        raise _fail(f"{what}: name byte {raw[err.start]:#04x} at {bad:#x} is not UTF-8 text", bad) from None
    if not text.isprintable():
        index = next(i for i, ch in enumerate(text) if not ch.isprintable())
        bad = area_offset + len(text[:index].encode("utf-8"))
        raise _fail(f"{what}: name has a non-printable character {text[index]!r} at {bad:#x}", bad)
    return text


def _check_iface_ranges(what: str, pos: int, hdr: IfaceLayout, file_len: int) -> None:
    """panthor ``panthor_fw_load_section_entry`` checks, in its order, plus data size ≤ VA size."""
    if hdr.data_end < hdr.data_start:
        raise _fail(f"{what}: data.end {hdr.data_end:#x} < data.start {hdr.data_start:#x}", pos + 0x10)
    if hdr.va_end < hdr.va_start:
        raise _fail(f"{what}: va.end {hdr.va_end:#x} < va.start {hdr.va_start:#x}", pos + 0x08)
    if hdr.data_end > file_len:
        raise _fail(f"{what}: data.end {hdr.data_end:#x} is past the end of the file ({file_len:#x} bytes)",
                    pos + 0x10)
    for name, value, at in (("va.start", hdr.va_start, pos + 0x04), ("va.end", hdr.va_end, pos + 0x08)):
        if value % MCU_PAGE_SIZE:
            raise _fail(f"{what}: {name} {value:#x} is not aligned to the {MCU_PAGE_SIZE:#x}-byte MCU page",
                        at)
    unknown = hdr.flags & ~IFACE_SUPPORTED_FLAGS
    if unknown:
        raise _fail(f"{what}: flags {hdr.flags:#010x} have unsupported bits {unknown:#x}", pos)
    # panthor copies data.size bytes into a va-sized buffer and zero-fills the rest, so a data range
    # longer than the VA range would overflow it.
    if hdr.data_end - hdr.data_start > hdr.va_end - hdr.va_start:
        raise _fail(f"{what}: data range ({hdr.data_end - hdr.data_start:#x} bytes) is larger than the "
                    f"VA range ({hdr.va_end - hdr.va_start:#x} bytes)", pos + 0x10)


def _check_shared_flags(what: str, pos: int, hdr: IfaceLayout) -> None:
    """The section at 0x04000000 is the host interface: SHARED, not PROT, not empty (§1.11, §3.4)."""
    if hdr.va_start != SHARED_SECTION_VA:
        return
    if not hdr.flags & IfaceFlag.SHARED:
        raise _fail(f"{what}: interface at {SHARED_SECTION_VA:#x} must be SHARED (flags {hdr.flags:#010x})",
                    pos)
    if hdr.flags & IfaceFlag.PROT:
        # panthor skips PROT sections before recording the shared one, so it would never be found.
        raise _fail(f"{what}: interface at {SHARED_SECTION_VA:#x} must not be PROT "
                    f"(flags {hdr.flags:#010x})", pos)
    if hdr.va_end == hdr.va_start:
        raise _fail(f"{what}: interface at {SHARED_SECTION_VA:#x} is empty (va.end == va.start)", pos + 0x08)


def _iface_name(what: str, tail: bytes, tail_pos: int, kbase_strict: bool) -> tuple[str, int | None]:
    """panthor's name (the C string) and kbase's virtual_exe_start (the u32 after the NUL)."""
    nul = tail.find(b"\0")
    if kbase_strict and (nul < 0 or len(tail) < nul + 5):
        raise _fail(f"{what}: name area ({len(tail)} bytes) lacks the NUL and u32 virtual_exe_start "
                    "kbase requires", tail_pos)
    name = decode_name(tail, tail_pos, what)
    exe: int | None = None
    if 0 <= nul and nul + 5 <= len(tail):
        exe = int.from_bytes(tail[nul + 1:nul + 5], "little")
    return name, exe


def decode_iface(common: dict[str, Any], ctx: DecodeContext) -> IfaceEntry:
    """Decode and check an IFACE payload (§1.5, §1.11)."""
    payload: bytes = common["payload"]
    pos = common["offset"] + 4
    what = f"IFACE entry at {common['offset']:#x}"
    hdr = IfaceLayout.from_buffer_copy(payload)
    _check_iface_ranges(what, pos, hdr, len(ctx.data))
    _check_shared_flags(what, pos, hdr)
    tail = payload[_IFACE_FIXED:]
    name, exe = _iface_name(what, tail, pos + _IFACE_FIXED, ctx.kbase_strict)
    if hdr.flags & IfaceFlag.PROT:
        ctx.warnings.append(f"{what}: protected-mode section {hdr.va_start:#x}-{hdr.va_end:#x} "
                            "(panthor skips it: 'Firmware protected mode entry not be supported')")
    return IfaceEntry(flags=hdr.flags, va_start=hdr.va_start, va_end=hdr.va_end, data_start=hdr.data_start,
                      data_end=hdr.data_end, tail=tail, name=name, virtual_exe_start=exe, **common)


def decode_config(common: dict[str, Any], ctx: DecodeContext) -> ConfigEntry:
    """Decode a CONFIG payload (§1.6)."""
    payload: bytes = common["payload"]
    hdr = ConfigLayout.from_buffer_copy(payload)
    name_pos = common["offset"] + 4 + 0xC
    name = decode_name(payload[0xC:], name_pos, f"CONFIG entry at {common['offset']:#x}")
    return ConfigEntry(address=hdr.address, min=hdr.min, max=hdr.max, name=name, **common)


def decode_futf(common: dict[str, Any], ctx: DecodeContext) -> FutfEntry:
    """FUTF_TEST payloads are not interpreted by any driver (§1.10)."""
    return FutfEntry(**common)


def decode_trace_buffer(common: dict[str, Any], ctx: DecodeContext) -> TraceBufferEntry:
    """Decode a TRACE_BUFFER payload (§1.7)."""
    payload: bytes = common["payload"]
    h = TraceBufferLayout.from_buffer_copy(payload)
    name = decode_name(payload[0x1C:], common["offset"] + 4 + 0x1C,
                       f"TRACE_BUFFER entry at {common['offset']:#x}")
    return TraceBufferEntry(kind=h.kind, size_address=h.size_address, insert_address=h.insert_address,
                            extract_address=h.extract_address, data_address=h.data_address,
                            trace_enable_address=h.trace_enable_address,
                            trace_enable_bits=h.trace_enable_bits, name=name, **common)


def decode_timeline(common: dict[str, Any], ctx: DecodeContext) -> TimelineMetadataEntry:
    """Decode a TIMELINE_METADATA payload; its data must lie within the file (§1.8)."""
    payload: bytes = common["payload"]
    pos = common["offset"] + 4
    what = f"TIMELINE_METADATA entry at {common['offset']:#x}"
    hdr = TimelineMetadataLayout.from_buffer_copy(payload)
    if hdr.data_start > len(ctx.data):
        raise _fail(f"{what}: data start {hdr.data_start:#x} is past the end of the file "
                    f"({len(ctx.data):#x} bytes)", pos)
    if hdr.data_start + hdr.data_size > len(ctx.data):
        raise _fail(f"{what}: data {hdr.data_start:#x}+{hdr.data_size:#x} runs past the end of the file "
                    f"({len(ctx.data):#x} bytes)", pos + 4)
    name = decode_name(payload[8:], pos + 8, what)
    return TimelineMetadataEntry(data_start=hdr.data_start, data_size=hdr.data_size, name=name, **common)


def _git_sha(raw: bytes) -> tuple[str | None, bool | None, str | None]:
    """(sha, dirty, text) from metadata that starts with the tag (kbase and panthor readings)."""
    body = raw[len(GIT_SHA_TAG):]
    count = 0
    while count < min(GIT_SHA_LEN, len(body)) and body[count] in _HEXDIGITS:
        count += 1
    sha = body[:count].decode("ascii") if count else None
    marker = body[count:count + 1]
    dirty = True if marker == b"+" else False if marker == b" " else None
    nul = body.find(b"\0")
    text = (body if nul < 0 else body[:nul]).decode("utf-8", errors="replace")
    return sha, dirty, text


def decode_build_info(common: dict[str, Any], ctx: DecodeContext) -> BuildInfoEntry:
    """Decode BUILD_INFO_METADATA; problems panthor only logs become warnings (§1.9)."""
    hdr = BuildInfoLayout.from_buffer_copy(common["payload"])
    what = f"BUILD_INFO entry at {common['offset']:#x}"
    start, size = hdr.meta_start, hdr.meta_size
    fields: dict[str, Any] = {"raw": b"", "git_sha": None, "dirty": None, "text": None,
                              "nul_terminated": False}
    if start + size > len(ctx.data):
        ctx.warnings.append(f"{what}: metadata {start:#x}+{size:#x} runs past the end of the file "
                            "(panthor: 'Firmware build info corrupt'); build info ignored")
    else:
        raw = ctx.data[start:start + size]
        fields["raw"] = raw
        fields["nul_terminated"] = raw[-1:] == b"\0"
        if not raw.startswith(GIT_SHA_TAG):
            ctx.warnings.append(f"{what}: metadata does not start with {GIT_SHA_TAG.decode()!r}; ignored")
        else:
            sha, dirty, text = _git_sha(raw)
            fields.update(git_sha=sha, dirty=dirty, text=text)
            if not fields["nul_terminated"]:
                ctx.warnings.append(f"{what}: git sha is not NUL terminated (panthor warns)")
            if sha is None or len(sha) != GIT_SHA_LEN:
                ctx.warnings.append(f"{what}: git sha has {len(sha or '')} hex digits, "
                                    f"expected {GIT_SHA_LEN}")
    return BuildInfoEntry(meta_start=start, meta_size=size, **fields, **common)


def decode_func_call_list(common: dict[str, Any], ctx: DecodeContext) -> FuncCallListEntry:
    """Decode a FUNC_CALL_LIST payload (§1.10)."""
    payload: bytes = common["payload"]
    hdr = FuncCallListLayout.from_buffer_copy(payload)
    what = f"FUNC_CALL_LIST entry at {common['offset']:#x}"
    name = decode_name(payload[8:], common["offset"] + 4 + 8, what)
    return FuncCallListEntry(start_address=hdr.start_address, end_address=hdr.end_address, name=name,
                             **common)


def decode_page_fault_count(common: dict[str, Any], ctx: DecodeContext) -> PageFaultCountEntry:
    """Decode a PAGE_FAULT_CNT payload (§1.10)."""
    hdr = PageFaultCountLayout.from_buffer_copy(common["payload"])
    return PageFaultCountEntry(address=hdr.address, **common)


def decode_core_dump(common: dict[str, Any], ctx: DecodeContext) -> CoreDumpEntry:
    """Decode a CORE_DUMP payload; kbase only understands version 0.1 (§1.10)."""
    hdr = CoreDumpLayout.from_buffer_copy(common["payload"])
    if hdr.version != CORE_DUMP_VERSION_KBASE:
        ctx.warnings.append(f"CORE_DUMP entry at {common['offset']:#x}: version {hdr.version:#x} "
                            "(kbase supports only 0.1)")
    return CoreDumpEntry(version=hdr.version, regs_address=hdr.regs_address, **common)


def decode_unknown(common: dict[str, Any], ctx: DecodeContext) -> UnknownEntry:
    """Keep an optional entry of an undefined type as raw payload."""
    return UnknownEntry(**common)


Decoder = Callable[[dict[str, Any], DecodeContext], FirmwareEntry]

#: Decoder per known entry type (§1.4).
DECODERS: dict[int, Decoder] = {
    0: decode_iface,
    1: decode_config,
    2: decode_futf,
    3: decode_trace_buffer,
    4: decode_timeline,
    6: decode_build_info,
    7: decode_func_call_list,
    8: decode_page_fault_count,
    9: decode_core_dump,
}
