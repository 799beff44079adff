"""Each malformation rule raises FirmwareFormatError at the byte offset of the problem.

Layout of the hand-built images (computed by hand, csf-firmware-and-interfaces.md §1.2-§1.5):
header 0x00-0x13 (magic 0x0, minor 0x4, major 0x5, size 0x10); the shared IFACE section at 0x14
(flags 0x18, va.start 0x1C, va.end 0x20, data.start 0x24, data.end 0x28, name area 0x2C); the entry
under test at 0x34 (payload 0x38; for an IFACE: flags 0x38, va.start 0x3C, va.end 0x40,
data.start 0x44, data.end 0x48, name area 0x4C). Shared data sits at 0x800-0xA00, so the file is
0xA00 bytes unless a case says otherwise.
"""

from __future__ import annotations

import errno
import struct

import pytest

from uio_driver.errors import FirmwareFormatError, InvalidArgument
from uio_driver.firmware import (
    Blob,
    ConfigSpec,
    EntrySpec,
    FuncCallListSpec,
    HeaderSpec,
    IfaceSpec,
    PageFaultCountSpec,
    RawEntrySpec,
    TimelineMetadataSpec,
    TraceBufferSpec,
    build_image,
    parse_firmware,
)

SHARED_FLAGS = 0xC000001B


def shared_spec(**changes: object) -> IfaceSpec:
    fields: dict[str, object] = {"flags": SHARED_FLAGS, "va_start": 0x04000000, "va_end": 0x04010000,
                                 "data": Blob(b"\x5a" * 0x200, offset=0x800)}
    fields.update(changes)
    return IfaceSpec(**fields)  # type: ignore[arg-type]


def image(*specs: EntrySpec, shared: IfaceSpec | None = None, **header: int) -> bytes:
    return build_image([shared or shared_spec(), *specs], header=HeaderSpec(**header))


def iface(**fields: object) -> IfaceSpec:
    base: dict[str, object] = {"flags": 0x9, "va_start": 0x00100000, "va_end": 0x00110000}
    base.update(fields)
    return IfaceSpec(**base)  # type: ignore[arg-type]


def expect(data: bytes | str, offset: int, text: str, *, kbase_strict: bool = False) -> FirmwareFormatError:
    with pytest.raises(FirmwareFormatError) as info:
        parse_firmware(data, kbase_strict=kbase_strict)  # type: ignore[arg-type]
    err = info.value
    assert err.offset == offset, str(err)
    assert text in str(err)
    assert "\n" not in str(err)
    assert err.errno == errno.EINVAL and isinstance(err, InvalidArgument)
    return err


GOOD = image()


def with_u32(data: bytes, offset: int, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into("<I", out, offset, value)
    return bytes(out)


# ---- header (§1.2, §1.11) -------------------------------------------------------------------------

@pytest.mark.parametrize("length", [0, 1, 19])
def test_shorter_than_header(length: int) -> None:
    expect(GOOD[:length], 0, f"file is {length} bytes, shorter than the 20-byte header")


def test_not_bytes() -> None:
    expect("not bytes", 0, "must be bytes, not str")


def test_bad_magic() -> None:
    expect(with_u32(GOOD, 0, 0xC3F13A6F), 0, "bad magic 0xc3f13a6f")


def test_header_major_not_zero() -> None:
    expect(image(major=1), 5, "unsupported header version 1.3")


def test_header_minor_kbase_strict() -> None:
    expect(image(minor=2), 4, "not understood by kbase", kbase_strict=True)


def test_entry_table_end_past_file() -> None:
    expect(image(entry_end=0xA01), 0x10, "entry table end 0xa01 is past the end of the file (0xa00 bytes")


def test_entry_table_end_before_first_entry() -> None:
    expect(image(entry_end=0x10), 0x10, "before the first entry at 0x14")


def test_no_entries_means_no_shared_section() -> None:
    expect(image(entry_end=0x14), 0x14, "no IFACE section at 0x4000000")


# ---- entry walk (§1.3, §1.12 step 2) --------------------------------------------------------------

def test_entry_header_word_past_table_end() -> None:
    expect(image(entry_end=0x36), 0x34, "entry at 0x34: header word runs past the entry table end 0x36")


def test_entry_size_not_multiple_of_4() -> None:
    bad = RawEntrySpec(type=5, body=b"\0" * 28, header_override=0x80001F05)
    expect(image(bad), 0x34, "entry at 0x34: size 0x1f is not a multiple of 4")


def test_entry_size_zero() -> None:
    bad = RawEntrySpec(type=5, body=b"", header_override=0x80000005)
    expect(image(bad), 0x34, "entry at 0x34: size 0x0 is smaller than its 4-byte header")


def test_entry_runs_past_table_end() -> None:
    data = image(PageFaultCountSpec(address=4))
    expect(with_u32(data, 0x10, 0x38), 0x34, "entry at 0x34: size 0x8 runs past the entry table end 0x38")


def test_unknown_mandatory_type() -> None:
    expect(image(RawEntrySpec(type=0x42, body=b"", optional=False)), 0x34,
           "entry at 0x34: unsupported non-optional entry type 66")


def test_type_5_mandatory() -> None:
    expect(image(RawEntrySpec(type=5, body=b"\0" * 16, optional=False)), 0x34, "non-optional entry type 5")


def test_mandatory_futf_refused_by_kbase() -> None:
    expect(image(RawEntrySpec(type=2, body=b"", optional=False)), 0x34, "unknown to kbase", kbase_strict=True)


@pytest.mark.parametrize(
    ("etype", "body", "need", "name"),
    [(0, 16, 20, "IFACE"), (1, 8, 12, "CONFIG"), (3, 24, 28, "TRACE_BUFFER"), (4, 4, 8, "TIMELINE_METADATA"),
     (6, 4, 8, "BUILD_INFO_METADATA"), (7, 4, 8, "FUNC_CALL_LIST"), (8, 0, 4, "PAGE_FAULT_CNT"),
     (9, 4, 8, "CORE_DUMP")],
)
def test_payload_too_short_for_type(etype: int, body: int, need: int, name: str) -> None:
    expect(image(RawEntrySpec(type=etype, body=b"\0" * body, optional=etype != 0)), 0x34,
           f"{name} entry at 0x34: payload of {body} bytes is shorter than the {need} bytes its fields need")


# ---- IFACE (§1.5, §1.11) --------------------------------------------------------------------------

def test_iface_data_end_before_start() -> None:
    expect(image(iface(data=(0x900, 0x800))), 0x48, "data.end 0x800 < data.start 0x900")


def test_iface_va_end_before_start() -> None:
    expect(image(iface(va_start=0x00200000, va_end=0x00100000)), 0x40, "va.end 0x100000 < va.start 0x200000")


def test_iface_data_past_file() -> None:
    expect(image(iface(data=(0x900, 0xA04))), 0x48,
           "data.end 0xa04 is past the end of the file (0xa00 bytes)")


def test_iface_va_start_not_page_aligned() -> None:
    expect(image(iface(va_start=0x00100800)), 0x3C, "va.start 0x100800 is not aligned to the 0x1000-byte")


def test_iface_va_end_not_page_aligned() -> None:
    expect(image(iface(va_end=0x00110004)), 0x40, "va.end 0x110004 is not aligned")


@pytest.mark.parametrize("bit", [6, 7, 15, 29])
def test_iface_unsupported_flag(bit: int) -> None:
    flags = 0x9 | (1 << bit)
    expect(image(iface(flags=flags)), 0x38, f"flags {flags:#010x} have unsupported bits {1 << bit:#x}")


def test_iface_data_longer_than_va_range() -> None:
    expect(image(iface(va_end=0x00101000, data=(0x800, 0x1801))), 0x48, "data.end 0x1801 is past")
    expect(image(iface(va_end=0x00101000, data=Blob(b"\1" * 0x1004, offset=0xA00))), 0x48,
           "data range (0x1004 bytes) is larger than the VA range (0x1000 bytes)")


def test_shared_section_must_be_shared() -> None:
    expect(image(shared=shared_spec(flags=SHARED_FLAGS & ~(1 << 30))), 0x18,
           "interface at 0x4000000 must be SHARED")


def test_shared_section_must_not_be_prot() -> None:
    expect(image(shared=shared_spec(flags=SHARED_FLAGS | 0x20)), 0x18, "must not be PROT")


def test_shared_section_must_not_be_empty() -> None:
    expect(image(shared=shared_spec(va_end=0x04000000, data=None)), 0x20, "is empty")


def test_second_shared_section() -> None:
    second = shared_spec(data=(0x800, 0x900))
    expect(image(second), 0x3C, "IFACE entry at 0x34: second interface section at 0x4000000")


def test_missing_shared_section() -> None:
    data = build_image([iface()])
    expect(data, 0x34, "no IFACE section at 0x4000000")


@pytest.mark.parametrize(
    ("first", "second"),
    [((0x00100000, 0x00110000), (0x00108000, 0x00118000)),   # partial overlap, later entry higher
     ((0x00108000, 0x00118000), (0x00100000, 0x00110000)),   # partial overlap, later entry lower
     ((0x00100000, 0x00200000), (0x00150000, 0x00151000)),   # containment
     ((0x00100000, 0x00110000), (0x00100000, 0x00110000))],  # identical
)
def test_overlapping_sections(first: tuple[int, int], second: tuple[int, int]) -> None:
    data = image(iface(va_start=first[0], va_end=first[1]), iface(va_start=second[0], va_end=second[1]))
    # The IFACE at 0x34 is 32 bytes, so the later one is at 0x54; its va.start field is at 0x5C.
    err = expect(data, 0x5C, "IFACE entry at 0x54: VA range")
    assert "of the entry at 0x34" in str(err)


def test_overlap_with_shared_section() -> None:
    err = expect(image(iface(va_start=0x0400F000, va_end=0x04011000)), 0x3C, "overlaps 0x4000000-0x4010000")
    assert "entry at 0x14" in str(err)


# ---- name areas ------------------------------------------------------------------------------------

def test_iface_name_not_utf8() -> None:
    expect(image(iface(tail=b"\xff\0\0\0")), 0x4C, "name byte 0xff at 0x4c is not UTF-8")


def test_iface_name_control_character() -> None:
    expect(image(iface(tail=b"ab\x01\0")), 0x4E, "non-printable character '\\x01' at 0x4e")


def test_iface_name_area_kbase_strict() -> None:
    expect(image(iface(tail=b"name")), 0x4C, "lacks the NUL and u32 virtual_exe_start", kbase_strict=True)
    expect(image(iface(tail=b"\0\0\0\0")), 0x4C, "lacks the NUL", kbase_strict=True)


def test_config_name_not_printable() -> None:
    expect(image(ConfigSpec(address=0, name_area=b"A\x07\0\0")), 0x45, "CONFIG entry at 0x34: name has")


def test_trace_buffer_name_not_utf8() -> None:
    spec = TraceBufferSpec(size_address=0, insert_address=0, extract_address=0, data_address=0,
                           trace_enable_address=0, name_area=b"\xc3(\0\0")
    expect(image(spec), 0x54, "TRACE_BUFFER entry at 0x34: name byte 0xc3 at 0x54")


def test_func_call_list_name_not_printable() -> None:
    spec = FuncCallListSpec(start_address=0, end_address=0, name_area=b"\x1b[31m\0\0\0")
    expect(image(spec), 0x40, "FUNC_CALL_LIST entry at 0x34")


def test_timeline_metadata_outside_file() -> None:
    expect(image(TimelineMetadataSpec(data=(0xA01, 0xA01))), 0x38, "data start 0xa01 is past the end")
    expect(image(TimelineMetadataSpec(data=(0x900, 0xA01))), 0x3C, "data 0x900+0x101 runs past the end")


def test_good_image_still_parses() -> None:
    """The base image of this module is valid: the failures above come from the one change each."""
    assert parse_firmware(GOOD).header.entry_end == 0x34
    assert parse_firmware(GOOD, kbase_strict=True).shared_section.offset == 0x14
