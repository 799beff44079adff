"""Byte layouts and constants of the CSF firmware container (``mali_csffw.bin``).

Everything here comes from shared/reference/csf-firmware-and-interfaces.md §1 (which cites panthor
``panthor_fw.c`` and kbase ``mali_kbase_csf_firmware.c``). The parser (:mod:`.container`,
:mod:`.entries`) and the image builder (:mod:`.synthetic`) both use these layouts; the tests check
them against the reference tables and the real Arm blobs.
"""

from __future__ import annotations

import ctypes
import enum

#: File header magic (§1.2; bytes ``6e 3a f1 c3``).
FIRMWARE_MAGIC = 0xC3F13A6E
#: Header format major version accepted by panthor and kbase (§1.2).
HEADER_MAJOR = 0
#: Header format minor version kbase insists on (panthor ignores it) (§1.2).
HEADER_MINOR_KBASE = 3
#: Size of the file header; the entry table starts right after it (§1.2).
HEADER_SIZE = 0x14

#: Entry header word fields (§1.3).
ENTRY_TYPE_MASK = 0xFF
ENTRY_SIZE_SHIFT = 8
ENTRY_SIZE_MASK = 0xFF
ENTRY_RESERVED_MASK = 0x3FFF0000
ENTRY_UPDATABLE = 1 << 30
ENTRY_OPTIONAL = 1 << 31
#: Largest entry size the 8-bit size field can express that is a multiple of 4.
ENTRY_MAX_SIZE = 0xFC

#: MCU VM page size; IFACE VAs must be aligned to it (§1.11, panthor ``panthor_vm_page_size``).
MCU_PAGE_SIZE = 0x1000
#: The shared interface section is identified purely by this va.start (§1.11,
#: panthor ``CSF_MCU_SHARED_REGION_START``).
SHARED_SECTION_VA = 0x04000000

#: Tag at the start of the BUILD_INFO metadata (§1.9).
GIT_SHA_TAG = b"git_sha: "
#: Number of hex digits of the git sha kbase copies (§1.9).
GIT_SHA_LEN = 40
#: CORE_DUMP version kbase accepts: major 0, minor 1 (§1.10).
CORE_DUMP_VERSION_KBASE = 0x0001


class EntryType(enum.IntEnum):
    """Entry types (§1.4); 5 is present in the blobs but defined by neither driver."""

    IFACE = 0
    CONFIG = 1
    FUTF_TEST = 2
    TRACE_BUFFER = 3
    TIMELINE_METADATA = 4
    BUILD_INFO_METADATA = 6
    FUNC_CALL_LIST = 7
    PAGE_FAULT_CNT = 8
    CORE_DUMP = 9


#: Types panthor handles or deliberately ignores; any other non-optional type is fatal there (§1.4).
PANTHOR_KNOWN_TYPES = frozenset({0, 1, 2, 3, 4, 6})
#: Types kbase handles; a non-optional FUTF_TEST (2) is fatal there (§1.4).
KBASE_KNOWN_TYPES = frozenset({0, 1, 3, 4, 6, 7, 8, 9})


class IfaceFlag(enum.IntFlag):
    """IFACE section flags (§1.5)."""

    RD = 1 << 0
    WR = 1 << 1
    EX = 1 << 2
    PROT = 1 << 5
    SHARED = 1 << 30
    ZERO = 1 << 31


IFACE_CACHE_MODE_SHIFT = 3
IFACE_CACHE_MODE_MASK = 0x3 << IFACE_CACHE_MODE_SHIFT
#: Bits 0-5, 30 and 31 are defined; anything else is refused by both drivers (§1.11).
IFACE_SUPPORTED_FLAGS = 0x3F | int(IfaceFlag.SHARED) | int(IfaceFlag.ZERO)


class CacheMode(enum.IntEnum):
    """IFACE flags bits 4:3 (§1.5)."""

    NONE = 0
    CACHED = 1
    UNCACHED_COHERENT = 2
    CACHED_COHERENT = 3


class _Layout(ctypes.LittleEndianStructure):
    """Base of the packed little-endian layouts below."""

    _pack_ = 1


class FileHeaderLayout(_Layout):
    """File header, 20 bytes at offset 0 (§1.2)."""

    _fields_ = [
        ("magic", ctypes.c_uint32),
        ("minor", ctypes.c_uint8),
        ("major", ctypes.c_uint8),
        ("padding1", ctypes.c_uint16),
        ("version_hash", ctypes.c_uint32),
        ("padding2", ctypes.c_uint32),
        ("size", ctypes.c_uint32),
    ]


class IfaceLayout(_Layout):
    """IFACE payload before the name area (§1.5)."""

    _fields_ = [
        ("flags", ctypes.c_uint32),
        ("va_start", ctypes.c_uint32),
        ("va_end", ctypes.c_uint32),
        ("data_start", ctypes.c_uint32),
        ("data_end", ctypes.c_uint32),
    ]


class ConfigLayout(_Layout):
    """CONFIG payload before the name (§1.6, kbase ``CONFIGURATION_ENTRY_NAME_OFFSET`` = 0xC)."""

    _fields_ = [
        ("address", ctypes.c_uint32),
        ("min", ctypes.c_uint32),
        ("max", ctypes.c_uint32),
    ]


class TraceBufferLayout(_Layout):
    """TRACE_BUFFER payload before the name (§1.7, kbase ``TRACE_BUFFER_ENTRY_NAME_OFFSET`` = 0x1C)."""

    _fields_ = [
        ("kind", ctypes.c_uint32),
        ("size_address", ctypes.c_uint32),
        ("insert_address", ctypes.c_uint32),
        ("extract_address", ctypes.c_uint32),
        ("data_address", ctypes.c_uint32),
        ("trace_enable_address", ctypes.c_uint32),
        ("trace_enable_bits", ctypes.c_uint32),
    ]


class TimelineMetadataLayout(_Layout):
    """TIMELINE_METADATA payload before the name (§1.8, ``TL_METADATA_ENTRY_NAME_OFFSET`` = 0x8)."""

    _fields_ = [
        ("data_start", ctypes.c_uint32),
        ("data_size", ctypes.c_uint32),
    ]


class BuildInfoLayout(_Layout):
    """BUILD_INFO_METADATA payload (§1.9)."""

    _fields_ = [
        ("meta_start", ctypes.c_uint32),
        ("meta_size", ctypes.c_uint32),
    ]


class FuncCallListLayout(_Layout):
    """FUNC_CALL_LIST payload before the name (§1.10, ``FUNC_CALL_LIST_ENTRY_NAME_OFFSET`` = 0x8)."""

    _fields_ = [
        ("start_address", ctypes.c_uint32),
        ("end_address", ctypes.c_uint32),
    ]


class PageFaultCountLayout(_Layout):
    """PAGE_FAULT_CNT payload (§1.10)."""

    _fields_ = [("address", ctypes.c_uint32)]


class CoreDumpLayout(_Layout):
    """CORE_DUMP payload (§1.10)."""

    _fields_ = [
        ("version", ctypes.c_uint32),
        ("regs_address", ctypes.c_uint32),
    ]


#: Fixed part of each known payload, i.e. the minimum payload length (§1.5-§1.10).
PAYLOAD_LAYOUTS: dict[int, type[_Layout]] = {
    EntryType.IFACE: IfaceLayout,
    EntryType.CONFIG: ConfigLayout,
    EntryType.TRACE_BUFFER: TraceBufferLayout,
    EntryType.TIMELINE_METADATA: TimelineMetadataLayout,
    EntryType.BUILD_INFO_METADATA: BuildInfoLayout,
    EntryType.FUNC_CALL_LIST: FuncCallListLayout,
    EntryType.PAGE_FAULT_CNT: PageFaultCountLayout,
    EntryType.CORE_DUMP: CoreDumpLayout,
}


def entry_header_word(
    entry_type: int, size: int, *, optional: bool, updatable: bool = False, reserved: int = 0
) -> int:
    """Compose an entry header word (§1.3): type 7:0, size 15:8, reserved 29:16, UPDATE 30, OPTIONAL 31."""
    word = (entry_type & ENTRY_TYPE_MASK) | ((size & ENTRY_SIZE_MASK) << ENTRY_SIZE_SHIFT)
    word |= (reserved << 16) & ENTRY_RESERVED_MASK
    if updatable:
        word |= ENTRY_UPDATABLE
    if optional:
        word |= ENTRY_OPTIONAL
    return word


def iface_flags(
    *,
    rd: bool = False,
    wr: bool = False,
    ex: bool = False,
    cache_mode: CacheMode = CacheMode.NONE,
    prot: bool = False,
    shared: bool = False,
    zero: bool = False,
) -> int:
    """Compose IFACE flags from their parts (§1.5)."""
    value = int(cache_mode) << IFACE_CACHE_MODE_SHIFT
    for flag, on in ((IfaceFlag.RD, rd), (IfaceFlag.WR, wr), (IfaceFlag.EX, ex), (IfaceFlag.PROT, prot),
                     (IfaceFlag.SHARED, shared), (IfaceFlag.ZERO, zero)):
        if on:
            value |= int(flag)
    return value


def describe_iface_flags(flags: int) -> str:
    """Flags as the reference tables print them, e.g. ``"RD WR CM=CACHED_COHERENT SHARED ZERO"``."""
    parts = [name for name, bit in (("RD", IfaceFlag.RD), ("WR", IfaceFlag.WR), ("EX", IfaceFlag.EX))
             if flags & bit]
    mode = (flags & IFACE_CACHE_MODE_MASK) >> IFACE_CACHE_MODE_SHIFT
    if mode:
        parts.append(f"CM={CacheMode(mode).name}")
    parts += [name for name, bit in (("PROT", IfaceFlag.PROT), ("SHARED", IfaceFlag.SHARED),
                                     ("ZERO", IfaceFlag.ZERO)) if flags & bit]
    unknown = flags & ~IFACE_SUPPORTED_FLAGS & 0xFFFFFFFF
    if unknown:
        parts.append(f"UNKNOWN={unknown:#x}")
    return " ".join(parts) if parts else "-"


def entry_type_name(entry_type: int) -> str:
    """``"IFACE"``, ``"CONFIG"`` … or ``"TYPE_5"`` for types no driver defines."""
    try:
        return EntryType(entry_type).name
    except ValueError:
        return f"TYPE_{entry_type}"
