"""Hand-built images, one per entry type, parsed back field by field.

Every image is the 20-byte header, a shared IFACE section at 0x14 (32 bytes) and then the entry
under test at 0x34, so offsets and header words below are computed by hand from
csf-firmware-and-interfaces.md §1.2-§1.10 (type 7:0, size 15:8, UPDATE bit 30, OPTIONAL bit 31).
Referenced data is pinned at explicit file offsets so the expected values do not depend on the
builder's automatic placement.
"""

from __future__ import annotations

import json
import struct

import pytest

from uio_driver.errors import InvalidArgument
from uio_driver.firmware import (
    Blob,
    BuildInfoEntry,
    BuildInfoSpec,
    CacheMode,
    ConfigEntry,
    ConfigSpec,
    CoreDumpEntry,
    CoreDumpSpec,
    EntrySpec,
    FirmwareImage,
    FuncCallListEntry,
    FuncCallListSpec,
    FutfEntry,
    HeaderSpec,
    IfaceEntry,
    IfaceSpec,
    PageFaultCountEntry,
    PageFaultCountSpec,
    RawEntrySpec,
    TimelineMetadataEntry,
    TimelineMetadataSpec,
    TraceBufferEntry,
    TraceBufferSpec,
    UnknownEntry,
    build_image,
    build_info_blob,
    parse_firmware,
)

SHARED_DATA = bytes(range(256)) * 2
SHA = "0123456789abcdef0123456789abcdef01234567"


def shared_spec() -> IfaceSpec:
    # RD | WR | CACHED_COHERENT (3 << 3) | SHARED (bit 30) | ZERO (bit 31) = 0xC000001B, as in §2.2.
    return IfaceSpec(flags=0xC000001B, va_start=0x04000000, va_end=0x04010000,
                     data=Blob(SHARED_DATA, offset=0x800))


def image_with(*specs: EntrySpec, kbase_strict: bool = False, **header: int) -> FirmwareImage:
    data = build_image([shared_spec(), *specs], header=HeaderSpec(**header))
    return parse_firmware(data, kbase_strict=kbase_strict)


def test_minimal_image_header_and_shared_section() -> None:
    image = image_with(version_hash=0x01050000)
    data = image.data
    assert data[:4] == bytes.fromhex("6e3af1c3")  # magic 0xC3F13A6E, little endian (§1.2)
    assert image.header.entry_end == 0x34 == struct.unpack_from("<I", data, 0x10)[0]
    assert (image.header.major, image.header.minor) == (0, 3)
    (shared,) = image.entries
    assert isinstance(shared, IfaceEntry) and image.shared_section is shared
    assert (shared.offset, shared.header, shared.size) == (0x14, 0x00002000, 32)
    assert (shared.data_start, shared.data_end) == (0x800, 0xA00)
    assert image.section_data(shared) == SHARED_DATA
    assert (shared.rd, shared.wr, shared.ex, shared.prot, shared.shared, shared.zero) == (
        True, True, False, False, True, True)
    assert shared.cache_mode is CacheMode.CACHED_COHERENT
    assert len(data) == 0xA00
    assert image.warnings == ()
    assert image.interface_version.as_tuple == (1, 5, 0)


@pytest.mark.parametrize("mode", list(CacheMode))
def test_iface_flags_decoded(mode: CacheMode) -> None:
    flags = 0x1 | 0x2 | 0x4 | (int(mode) << 3) | 0x80000000  # RD WR EX, cache mode, ZERO
    tail = b"text\0" + struct.pack("<I", 0x00100040) + b"\0" * 3
    image = image_with(IfaceSpec(flags=flags, va_start=0x00100000, va_end=0x00103000,
                                 data=Blob(b"\xaa" * 0x20, offset=0x400), tail=tail))
    sec = image.entries[1]
    assert isinstance(sec, IfaceEntry)
    assert sec.offset == 0x34 and sec.size == 4 + 20 + 12 and sec.header == 0x00002400
    assert (sec.rd, sec.wr, sec.ex, sec.prot, sec.shared, sec.zero) == (True, True, True, False, False, True)
    assert sec.cache_mode is mode
    assert (sec.va_start, sec.va_end, sec.va_size) == (0x00100000, 0x00103000, 0x3000)
    assert (sec.data_start, sec.data_end, sec.data_size) == (0x400, 0x420, 0x20)
    assert image.section_data(sec) == b"\xaa" * 0x20
    assert sec.tail == tail
    assert sec.name == "text"
    assert sec.virtual_exe_start == 0x00100040
    assert image.sections == (image.shared_section, sec)


def test_iface_name_area_variants() -> None:
    # Payload exactly the 5 words: empty name, no virtual_exe_start (fine for panthor).
    bare = image_with(IfaceSpec(flags=0x1, va_start=0x1000, va_end=0x2000, tail=b""))
    assert (bare.sections[1].name, bare.sections[1].virtual_exe_start) == ("", None)
    # No NUL at all: panthor's name is the whole area; kbase finds no u32 after a NUL.
    no_nul = image_with(IfaceSpec(flags=0x1, va_start=0x1000, va_end=0x2000, tail=b"abcd"))
    assert (no_nul.sections[1].name, no_nul.sections[1].virtual_exe_start) == ("abcd", None)
    # Empty VA range (panthor records it, maps nothing) and no data.
    empty = image_with(IfaceSpec(flags=0x1, va_start=0x5000, va_end=0x5000))
    assert empty.sections[1].va_size == 0 and empty.sections[1].data_size == 0


def test_adjacent_and_empty_sections_do_not_overlap() -> None:
    image = image_with(
        IfaceSpec(flags=0x1, va_start=0x1000, va_end=0x2000),
        IfaceSpec(flags=0x1, va_start=0x2000, va_end=0x3000),
        IfaceSpec(flags=0x1, va_start=0x2000, va_end=0x2000),
    )
    assert [(s.va_start, s.va_end) for s in image.sections[1:]] == [(0x1000, 0x2000), (0x2000, 0x3000),
                                                                     (0x2000, 0x2000)]
    assert image.section_for_va(0x2000) is image.sections[2]


def test_prot_section_is_kept_with_a_warning() -> None:
    image = image_with(IfaceSpec(flags=0x2B, va_start=0x03000000, va_end=0x03040000))
    sec = image.sections[1]
    assert sec.prot and sec.wr and sec.cache_mode is CacheMode.CACHED
    assert image.loadable_sections == (image.shared_section,)
    assert len(image.warnings) == 1 and "protected" in image.warnings[0] and "0x34" in image.warnings[0]


def test_config_entry() -> None:
    image = image_with(ConfigSpec(address=0x4112CC, min=0, max=3, name="Log verbosity", updatable=True))
    e = image.entries[1]
    assert isinstance(e, ConfigEntry)
    # 4 + 12 + "Log verbosity\0" padded to 16 = 32 bytes; UPDATE and OPTIONAL set: 0xC0002001 (§2.2 #8).
    assert (e.offset, e.size, e.header, e.type) == (0x34, 32, 0xC0002001, 1)
    assert e.optional and e.updatable
    assert (e.address, e.min, e.max, e.name) == (0x4112CC, 0, 3, "Log verbosity")
    assert e.payload == struct.pack("<3I", 0x4112CC, 0, 3) + b"Log verbosity\0\0\0"


def test_futf_entry_is_kept_raw() -> None:
    image = image_with(RawEntrySpec(type=2, body=b"\x01\x02\x03\x04\x05\x06\x07\x08"))
    e = image.entries[1]
    assert isinstance(e, FutfEntry)
    assert (e.type, e.size, e.header, e.type_name) == (2, 12, 0x80000C02, "FUTF_TEST")
    assert e.payload == b"\x01\x02\x03\x04\x05\x06\x07\x08"


def test_trace_buffer_entry() -> None:
    spec = TraceBufferSpec(kind=1, size_address=0x410028, insert_address=0x41002C, extract_address=0x410030,
                           data_address=0x410034, trace_enable_address=0x4112D0, trace_enable_bits=17,
                           name="fwlog", updatable=True)
    e = image_with(spec).entries[1]
    assert isinstance(e, TraceBufferEntry)
    assert (e.size, e.header) == (40, 0xC0002803)  # §2.2 #12
    assert (e.kind, e.size_address, e.insert_address, e.extract_address, e.data_address,
            e.trace_enable_address, e.trace_enable_bits, e.name) == (
        1, 0x410028, 0x41002C, 0x410030, 0x410034, 0x4112D0, 17, "fwlog")
    assert e.payload[0x1C:] == b"fwlog\0\0\0"


def test_timeline_metadata_entry() -> None:
    meta = bytes(range(0x40))
    e = image_with(TimelineMetadataSpec(data=Blob(meta, offset=0x600), name="timeline_header")).entries[1]
    assert isinstance(e, TimelineMetadataEntry)
    assert (e.size, e.header) == (28, 0x80001C04)  # §2.2 #22
    assert (e.data_start, e.data_size, e.data_end, e.name) == (0x600, 0x40, 0x640, "timeline_header")


def test_build_info_entry_dirty_marker() -> None:
    image = image_with(BuildInfoSpec(meta=Blob(build_info_blob(SHA, dirty=True), offset=0x700)))
    e = image.build_info
    assert isinstance(e, BuildInfoEntry) and e is image.entries[1]
    assert (e.size, e.header) == (12, 0x80000C06)  # §2.2 #19
    assert (e.meta_start, e.meta_size) == (0x700, 9 + 40 + 2)
    assert e.raw == b"git_sha: " + SHA.encode() + b"+\0"
    assert (e.git_sha, e.dirty, e.nul_terminated, e.text) == (SHA, True, True, SHA + "+")
    assert image.git_sha == SHA and image.warnings == ()


@pytest.mark.parametrize(
    ("meta", "warning", "sha"),
    [
        ((0x9F0, 0x9F0 + 51), "past the end of the file", None),  # the file is 0xA00 bytes
        (b"version: 1.0\0", "does not start with 'git_sha: '", None),
        (b"git_sha: " + SHA.encode() + b" ", "not NUL terminated", SHA),
        (b"git_sha: abc \0", "has 3 hex digits", "abc"),
    ],
)
def test_build_info_problems_are_warnings(meta: bytes | tuple[int, int], warning: str,
                                          sha: str | None) -> None:
    """panthor only logs these (§1.9), so they are warnings, not errors."""
    source = Blob(meta, offset=0x700) if isinstance(meta, bytes) else meta
    image = image_with(BuildInfoSpec(meta=source))
    e = image.build_info
    assert e is not None and e.git_sha == sha
    assert len(image.warnings) == 1 and warning in image.warnings[0]
    assert image.warnings[0].startswith("BUILD_INFO entry at 0x34")


def test_func_call_list_entry() -> None:
    e = image_with(FuncCallListSpec(start_address=0x410D84, end_address=0x4112CC, name="log")).entries[1]
    assert isinstance(e, FuncCallListEntry)
    assert (e.size, e.header) == (16, 0x80001007)  # §2.2 #18
    assert (e.start_address, e.end_address, e.name) == (0x410D84, 0x4112CC, "log")


def test_page_fault_count_entry() -> None:
    e = image_with(PageFaultCountSpec(address=0x410408)).entries[1]
    assert isinstance(e, PageFaultCountEntry)
    assert (e.size, e.header, e.address) == (8, 0x80000808, 0x410408)  # §2.2 #23


def test_core_dump_entry() -> None:
    image = image_with(CoreDumpSpec(version=1, regs_address=0x0202DE58))
    e = image.entries[1]
    assert isinstance(e, CoreDumpEntry)
    assert (e.size, e.header) == (12, 0x80000C09)  # §2.2 #21
    assert (e.version, e.version_major, e.version_minor, e.regs_address) == (1, 0, 1, 0x0202DE58)
    assert image.warnings == ()
    newer = image_with(CoreDumpSpec(version=0x0102, regs_address=0))
    assert (newer.entries[1].version_major, newer.entries[1].version_minor) == (1, 2)  # type: ignore[attr-defined]
    assert "kbase supports only 0.1" in newer.warnings[0]


def test_unknown_optional_entries_are_kept() -> None:
    image = image_with(RawEntrySpec(type=5, body=struct.pack("<4I", 0x34C, 0x28, 1, 0x100)),
                       RawEntrySpec(type=0x42, body=b""))
    five, other = image.unknown_entries
    assert isinstance(five, UnknownEntry) and isinstance(other, UnknownEntry)
    assert (five.offset, five.header, five.size, five.type_name) == (0x34, 0x80001405, 20, "TYPE_5")
    assert five.words == (0x34C, 0x28, 1, 0x100)
    assert (other.offset, other.header, other.size, other.words) == (0x48, 0x80000442, 4, ())
    assert image.warnings == ()


def test_non_optional_kbase_types_warn_in_panthor_mode() -> None:
    spec = PageFaultCountSpec(address=0x410408, optional=False)
    image = image_with(spec)
    assert isinstance(image.entries[1], PageFaultCountEntry)
    assert len(image.warnings) == 1 and "panthor refuses" in image.warnings[0]
    assert image_with(spec, kbase_strict=True).warnings == ()


def test_header_oddities_are_warnings() -> None:
    image = image_with(minor=2, padding1=0x1234, padding2=5)
    assert image.header.minor == 2 and (image.header.padding1, image.header.padding2) == (0x1234, 5)
    assert any("minor 2" in w for w in image.warnings)
    assert any("padding" in w for w in image.warnings)


def test_reserved_entry_bits_are_a_warning() -> None:
    image = image_with(PageFaultCountSpec(address=4, reserved=0x0101))
    assert image.entries[1].header == 0x81010808
    assert image.warnings == ("entry at 0x34: reserved header bits 29:16 set (0x81010808)",)


def test_section_data_refuses_foreign_entries() -> None:
    image = image_with(ConfigSpec(address=0x10, name="x"))
    other = image_with(IfaceSpec(flags=0x1, va_start=0x1000, va_end=0x2000, data=Blob(b"zz", offset=0x700)))
    with pytest.raises(InvalidArgument, match="not an IFACE entry of this image"):
        image.section_data(image.entries[1])  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="not an IFACE entry of this image"):
        image.section_data(other.sections[1])
    assert other.section_data(other.sections[1]) == b"zz"


def test_bytearray_input_is_not_modified() -> None:
    data = bytearray(build_image([shared_spec()]))
    before = bytes(data)
    image = parse_firmware(data)
    assert bytes(data) == before and image.data == before


def test_to_dict_is_json_ready() -> None:
    image = image_with(ConfigSpec(address=0x10, name="x"), RawEntrySpec(type=5, body=b"\1\0\0\0"))
    out = json.loads(json.dumps(image.to_dict()))
    assert out["header"]["entry_end"] == 0x34 + 20 + 8
    shared = out["sections"][0]
    assert shared["cache_mode"] == "CACHED_COHERENT" and shared["shared"] is True
    assert shared["va_size"] == 0x10000
    assert shared["tail"] == "0000000004000000"
    assert out["entries"][1]["name"] == "x" and out["entries"][1]["type_name"] == "CONFIG"
    assert out["entries"][2]["words"] == [1]
    assert out["unknown_entries"] == [0x34 + 20]
