"""Parser for the CSF firmware container (``mali_csffw.bin``).

:func:`parse_firmware` walks the file exactly as shared/reference/csf-firmware-and-interfaces.md
§1.12 describes (header, then back-to-back entries up to the header's ``size``), decodes every entry
type of §1.4 into a dataclass (:mod:`.entries`), and enforces every rule of §1.11 plus the ones the
reference implies (entry size ≥ 4, payload long enough for its type, IFACE data length within its VA
range, printable names, exactly one non-empty SHARED section at 0x04000000, no overlapping section VA
ranges). Whatever the input, it either returns a :class:`FirmwareImage` or raises
:class:`~uio_driver.errors.FirmwareFormatError` whose ``offset`` is the byte offset of the problem.
Things the Linux drivers accept with a log line (a PROT section panthor skips, a corrupt build-info
block, a header minor kbase would refuse …) end up in :attr:`FirmwareImage.warnings`.

Only the container is interpreted; section contents are never decoded (firmware licence).
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

from ..errors import FirmwareFormatError, InvalidArgument
from .entries import (
    DECODERS,
    BuildInfoEntry,
    DecodeContext,
    FirmwareEntry,
    IfaceEntry,
    UnknownEntry,
    decode_unknown,
)
from .format import (
    ENTRY_OPTIONAL,
    ENTRY_RESERVED_MASK,
    ENTRY_SIZE_MASK,
    ENTRY_SIZE_SHIFT,
    ENTRY_TYPE_MASK,
    ENTRY_UPDATABLE,
    FIRMWARE_MAGIC,
    HEADER_MAJOR,
    HEADER_MINOR_KBASE,
    HEADER_SIZE,
    KBASE_KNOWN_TYPES,
    PANTHOR_KNOWN_TYPES,
    PAYLOAD_LAYOUTS,
    SHARED_SECTION_VA,
    FileHeaderLayout,
    entry_type_name,
)

E = TypeVar("E", bound=FirmwareEntry)


@dataclass(frozen=True)
class InterfaceVersion:
    """The CSF interface version encoded like GLB_VERSION: major 31:24, minor 23:16, patch 15:0 (§2.7)."""

    raw: int
    major: int
    minor: int
    patch: int

    @classmethod
    def from_raw(cls, raw: int) -> InterfaceVersion:
        return cls(raw=raw, major=(raw >> 24) & 0xFF, minor=(raw >> 16) & 0xFF, patch=raw & 0xFFFF)

    @property
    def as_tuple(self) -> tuple[int, int, int]:
        """``(major, minor, patch)``."""
        return (self.major, self.minor, self.patch)

    @property
    def text(self) -> str:
        """As panthor logs it: ``"v1.5.0"``."""
        return f"v{self.major}.{self.minor}.{self.patch}"

    def __str__(self) -> str:
        return self.text

    def to_dict(self) -> dict[str, Any]:
        return {"raw": self.raw, "major": self.major, "minor": self.minor, "patch": self.patch,
                "text": self.text}


@dataclass(frozen=True)
class FirmwareHeader:
    """The 20-byte file header (§1.2). ``entry_end`` is the header's ``size`` field."""

    magic: int
    minor: int
    major: int
    padding1: int
    version_hash: int
    padding2: int
    entry_end: int

    @property
    def interface_version(self) -> InterfaceVersion:
        """``version_hash`` read as the interface version (§2.7)."""
        return InterfaceVersion.from_raw(self.version_hash)

    def to_dict(self) -> dict[str, Any]:
        return {"magic": self.magic, "minor": self.minor, "major": self.major, "padding1": self.padding1,
                "version_hash": self.version_hash, "padding2": self.padding2, "entry_end": self.entry_end}


@dataclass(frozen=True)
class FirmwareImage:
    """A parsed firmware file.

    Attributes:
        header: the file header.
        entries: every entry, in file order.
        warnings: problems the Linux drivers only log (one line each).
        data: the whole file (section contents are sliced from it).
        kbase_strict: whether kbase's extra rules were applied.
    """

    header: FirmwareHeader
    entries: tuple[FirmwareEntry, ...]
    warnings: tuple[str, ...]
    data: bytes = field(repr=False)
    kbase_strict: bool = False

    @property
    def file_size(self) -> int:
        return len(self.data)

    @cached_property
    def sections(self) -> tuple[IfaceEntry, ...]:
        """IFACE entries in file order, PROT ones included."""
        return self.entries_of(IfaceEntry)

    @property
    def loadable_sections(self) -> tuple[IfaceEntry, ...]:
        """The sections panthor records: all but PROT ones (§1.11)."""
        return tuple(s for s in self.sections if not s.prot)

    @cached_property
    def shared_section(self) -> IfaceEntry:
        """The host-visible interface section (va.start 0x04000000); the parser guarantees one."""
        return next(s for s in self.sections if s.va_start == SHARED_SECTION_VA)

    @property
    def build_info(self) -> BuildInfoEntry | None:
        """The first BUILD_INFO_METADATA entry, if any."""
        found = self.entries_of(BuildInfoEntry)
        return found[0] if found else None

    @property
    def git_sha(self) -> str | None:
        """The firmware's git sha from BUILD_INFO, if present and readable."""
        info = self.build_info
        return info.git_sha if info else None

    @property
    def interface_version(self) -> InterfaceVersion:
        """``version_hash`` decoded as major.minor.patch (§2.7)."""
        return self.header.interface_version

    @property
    def unknown_entries(self) -> tuple[UnknownEntry, ...]:
        """Optional entries of types no driver defines (e.g. type 5), kept but not interpreted."""
        return self.entries_of(UnknownEntry)

    def entries_of(self, kind: type[E]) -> tuple[E, ...]:
        """Entries of one dataclass type, in file order."""
        return tuple(e for e in self.entries if type(e) is kind)

    def section_data(self, entry: IfaceEntry) -> bytes:
        """The initial contents of ``entry`` (``data.end - data.start`` bytes of the file).

        Raises:
            InvalidArgument: ``entry`` is not an IFACE entry of this image.
        """
        if not isinstance(entry, IfaceEntry) or entry not in self.sections:
            raise InvalidArgument(f"section_data: {entry!r} is not an IFACE entry of this image")
        return self.data[entry.data_start:entry.data_end]

    def section_for_va(self, va: int) -> IfaceEntry | None:
        """The section whose VA range contains ``va``, or None."""
        return next((s for s in self.sections if s.va_start <= va < s.va_end), None)

    def to_dict(self) -> dict[str, Any]:
        """Everything the CLI's ``--json`` prints."""
        info = self.build_info
        return {
            "file_size": self.file_size,
            "header": self.header.to_dict(),
            "interface_version": self.interface_version.to_dict(),
            "git_sha": self.git_sha,
            "build_info": None if info is None else {"git_sha": info.git_sha, "dirty": info.dirty,
                                                     "text": info.text},
            "entries": [e.to_dict() for e in self.entries],
            "sections": [e.to_dict() for e in self.sections],
            "shared_section_offset": self.shared_section.offset,
            "unknown_entries": [e.offset for e in self.unknown_entries],
            "warnings": list(self.warnings),
        }


def _fail(message: str, offset: int) -> FirmwareFormatError:
    return FirmwareFormatError(message, offset=offset)


def _as_bytes(data: object) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise _fail(f"firmware image must be bytes, not {type(data).__name__}", 0)


def _parse_header(buf: bytes, kbase_strict: bool, warnings: list[str]) -> FirmwareHeader:
    """Header checks of §1.11 (panthor ``panthor_fw_load``, kbase ``kbase_csf_firmware_load``)."""
    if len(buf) < HEADER_SIZE:
        raise _fail(f"file is {len(buf)} bytes, shorter than the {HEADER_SIZE}-byte header", 0)
    raw = FileHeaderLayout.from_buffer_copy(buf)
    if raw.magic != FIRMWARE_MAGIC:
        raise _fail(f"bad magic {raw.magic:#010x} (expected {FIRMWARE_MAGIC:#010x})", 0)
    if raw.major != HEADER_MAJOR:
        raise _fail(f"unsupported header version {raw.major}.{raw.minor} (major must be {HEADER_MAJOR})", 5)
    if raw.minor != HEADER_MINOR_KBASE:
        if kbase_strict:
            raise _fail(f"header version {raw.major}.{raw.minor} not understood by kbase "
                        f"(minor must be {HEADER_MINOR_KBASE})", 4)
        warnings.append(f"header minor {raw.minor} is not {HEADER_MINOR_KBASE} (kbase would refuse it)")
    if raw.padding1 or raw.padding2:
        warnings.append(f"header padding is not zero ({raw.padding1:#x}, {raw.padding2:#x})")
    if raw.size > len(buf):
        raise _fail(f"entry table end {raw.size:#x} is past the end of the file ({len(buf):#x} bytes; "
                    "'Firmware image is truncated')", 0x10)
    if raw.size < HEADER_SIZE:
        raise _fail(f"entry table end {raw.size:#x} is before the first entry at {HEADER_SIZE:#x}", 0x10)
    return FirmwareHeader(magic=raw.magic, minor=raw.minor, major=raw.major, padding1=raw.padding1,
                          version_hash=raw.version_hash, padding2=raw.padding2, entry_end=raw.size)


def _entry_bounds(buf: bytes, off: int, end: int) -> tuple[int, int]:
    """Header word and size of the entry at ``off``, after the walk checks of §1.12 step 2."""
    if off + 4 > end:
        raise _fail(f"entry at {off:#x}: header word runs past the entry table end {end:#x}", off)
    word = int.from_bytes(buf[off:off + 4], "little")
    size = (word >> ENTRY_SIZE_SHIFT) & ENTRY_SIZE_MASK
    if size % 4:
        raise _fail(f"entry at {off:#x}: size {size:#x} is not a multiple of 4", off)
    if size < 4:
        raise _fail(f"entry at {off:#x}: size {size:#x} is smaller than its 4-byte header", off)
    if off + size > end:
        raise _fail(f"entry at {off:#x}: size {size:#x} runs past the entry table end {end:#x}", off)
    return word, size


def _check_type(off: int, etype: int, optional: bool, ctx: DecodeContext) -> None:
    """Unknown non-optional types are fatal (§1.3); which types are known depends on the driver."""
    if optional:
        return
    if etype not in DECODERS:
        raise _fail(f"entry at {off:#x}: unsupported non-optional entry type {etype}", off)
    if ctx.kbase_strict and etype not in KBASE_KNOWN_TYPES:
        raise _fail(f"entry at {off:#x}: non-optional entry type {etype} "
                    f"({entry_type_name(etype)}) is unknown to kbase", off)
    if not ctx.kbase_strict and etype not in PANTHOR_KNOWN_TYPES:
        ctx.warnings.append(f"entry at {off:#x}: non-optional {entry_type_name(etype)} entry "
                            "(panthor refuses non-optional entries of this type)")


def _decode_entry(buf: bytes, off: int, word: int, size: int, ctx: DecodeContext) -> FirmwareEntry:
    etype = word & ENTRY_TYPE_MASK
    optional = bool(word & ENTRY_OPTIONAL)
    _check_type(off, etype, optional, ctx)
    if word & ENTRY_RESERVED_MASK:
        ctx.warnings.append(f"entry at {off:#x}: reserved header bits 29:16 set ({word:#010x})")
    payload = buf[off + 4:off + size]
    layout = PAYLOAD_LAYOUTS.get(etype)
    if layout is not None and len(payload) < ctypes.sizeof(layout):
        raise _fail(f"{entry_type_name(etype)} entry at {off:#x}: payload of {len(payload)} bytes is "
                    f"shorter than the {ctypes.sizeof(layout)} bytes its fields need", off)
    common = {"offset": off, "header": word, "type": etype, "size": size, "optional": optional,
              "updatable": bool(word & ENTRY_UPDATABLE), "payload": payload}
    return DECODERS.get(etype, decode_unknown)(common, ctx)


def _walk(buf: bytes, end: int, ctx: DecodeContext) -> list[FirmwareEntry]:
    """Read entries back to back from 0x14 until ``end`` (§1.12 step 2)."""
    entries: list[FirmwareEntry] = []
    off = HEADER_SIZE
    while off < end:
        word, size = _entry_bounds(buf, off, end)
        entries.append(_decode_entry(buf, off, word, size, ctx))
        off += size
    return entries


def _check_sections(sections: list[IfaceEntry], entry_end: int) -> None:
    """Exactly one shared section, and no two non-empty sections share MCU VAs."""
    shared = [s for s in sections if s.va_start == SHARED_SECTION_VA]
    if len(shared) > 1:
        second = shared[1]
        raise _fail(f"IFACE entry at {second.offset:#x}: second interface section at "
                    f"{SHARED_SECTION_VA:#x} (the first is the entry at {shared[0].offset:#x})",
                    second.offset + 8)
    mapped = sorted((s for s in sections if s.va_end > s.va_start), key=lambda s: (s.va_start, s.offset))
    widest: IfaceEntry | None = None
    for sec in mapped:
        if widest is not None and sec.va_start < widest.va_end:
            later, earlier = (sec, widest) if sec.offset > widest.offset else (widest, sec)
            raise _fail(f"IFACE entry at {later.offset:#x}: VA range {later.va_start:#x}-{later.va_end:#x} "
                        f"overlaps {earlier.va_start:#x}-{earlier.va_end:#x} of the entry at "
                        f"{earlier.offset:#x}", later.offset + 8)
        if widest is None or sec.va_end > widest.va_end:
            widest = sec
    if not shared:
        raise _fail(f"no IFACE section at {SHARED_SECTION_VA:#x} in the entry table "
                    "('Shared interface region not found')", entry_end)


def parse_firmware(data: bytes | bytearray | memoryview, *, kbase_strict: bool = False) -> FirmwareImage:
    """Parse and validate a CSF firmware container.

    By default the rules are panthor's (§1.11) plus the reference's implied ones; entry types only
    kbase defines (7, 8, 9) are decoded too. ``kbase_strict`` adds kbase's rules: header minor 3,
    IFACE name areas holding a NUL and a u32 ``virtual_exe_start``, non-optional FUTF_TEST refused.

    Args:
        data: the whole file (a bytearray or memoryview is copied first).
        kbase_strict: also apply kbase's stricter checks.

    Returns:
        The parsed image; nothing in ``data`` is modified.

    Raises:
        FirmwareFormatError: the image is malformed; ``offset`` is the byte offset of the problem
            (the offending header/entry field; for a missing shared section, the entry-table end).
    """
    buf = _as_bytes(data)
    warnings: list[str] = []
    header = _parse_header(buf, kbase_strict, warnings)
    ctx = DecodeContext(buf, kbase_strict, warnings)
    entries = _walk(buf, header.entry_end, ctx)
    _check_sections([e for e in entries if isinstance(e, IfaceEntry)], header.entry_end)
    return FirmwareImage(header=header, entries=tuple(entries), warnings=tuple(warnings), data=buf,
                         kbase_strict=kbase_strict)
