"""The synthetic firmware image, the general builder, and rebuild() of the Arm blobs.

Expected values come from csf-firmware-and-interfaces.md: the arch10.8 section table (§2.2), the
control-block image (§2.8, recomputed here from its formulas), v1.5.0 = 0x01050000 (§2.7).
"""

from __future__ import annotations

import hashlib
import importlib.util
import struct
from pathlib import Path

import pytest
from blobs import shared_firmware_root

from uio_driver.errors import InvalidArgument
from uio_driver.firmware import (
    Blob,
    BuildInfoEntry,
    BuildInfoSpec,
    ConfigEntry,
    ConfigSpec,
    CoreDumpSpec,
    FuncCallListSpec,
    HeaderSpec,
    IfaceEntry,
    IfaceSpec,
    PageFaultCountSpec,
    RawEntrySpec,
    TimelineMetadataSpec,
    TraceBufferEntry,
    TraceBufferSpec,
    assemble,
    build_image,
    build_info_blob,
    build_synthetic_image,
    parse_firmware,
    rebuild,
)
from uio_driver.firmware.synthetic import shared_section_image, synthetic_entry_specs

REPO = Path(__file__).resolve().parents[1]


FIRMWARE_ROOT = shared_firmware_root()
needs_blobs = pytest.mark.skipif(
    not FIRMWARE_ROOT.is_dir(),
    reason=f"the Arm firmware blobs are not available ({FIRMWARE_ROOT} missing; "
           "set MALI_UIO_SHARED_FIRMWARE)",
)
BLOBS = ["arm/mali/arch10.8", "arm/mali/arch11.8", "arm/mali/arch12.8", "arm/mali/arch13.8",
         "history/arch10.8-2024-05"]

# §2.2: (va.start, va.end, flags) of the eight arch10.8 sections, in file order.
ARCH10_8_SECTIONS = [
    (0x00400000, 0x00410000, 0x00000009),
    (0x00410000, 0x00420000, 0x00000009),
    (0x00000000, 0x00010000, 0x00000009),
    (0x00800000, 0x00820000, 0x0000000D),
    (0x02000000, 0x02040000, 0x8000000B),
    (0x01000000, 0x01040000, 0x80000009),
    (0x03000000, 0x03040000, 0x0000002B),
    (0x04000000, 0x04010000, 0xC000001B),
]


def expected_control_blocks(prfcnt_features: int = 1) -> bytes:
    """§2.8 written out from its formulas, independently of the builder."""
    out = bytearray(0x2000)
    struct.pack_into("<9I", out, 0, 0, 0, 0x04002000, 0x04006000, 8, 0xA0, 0, 0x71, prfcnt_features)
    for g in range(8):
        base = 0x1000 + g * 0xA0
        struct.pack_into("<7I", out, base, 0, 0x04003000 + g * 0x80, 0x04007000 + g * 0x40, 0, 0, 8, 0x0C)
        for s in range(8):
            struct.pack_into("<3I", out, base + 0x40 + s * 0x0C, 0, 0x04003400 + (8 * g + s) * 0x80,
                             0x04007200 + (8 * g + s) * 0x100)
    return bytes(out)


@pytest.fixture(scope="module")
def synthetic() -> bytes:
    return build_synthetic_image()


def test_synthetic_header_and_version(synthetic: bytes) -> None:
    image = parse_firmware(synthetic, kbase_strict=True)
    assert synthetic[:4] == bytes.fromhex("6e3af1c3")
    assert image.header.version_hash == 0x01050000
    assert image.interface_version.as_tuple == (1, 5, 0) and str(image.interface_version) == "v1.5.0"
    assert (image.header.major, image.header.minor) == (0, 3)
    assert len(synthetic) == 0x4000


def test_synthetic_sections_mirror_arch10_8(synthetic: bytes) -> None:
    image = parse_firmware(synthetic)
    assert [(s.va_start, s.va_end, s.flags) for s in image.sections] == ARCH10_8_SECTIONS
    sec = {s.va_start: s for s in image.sections}
    # Pairs sharing file bytes, like the Arm image (§2.6).
    assert (sec[0].data_start, sec[0].data_end) == (sec[0x00400000].data_start, sec[0x00400000].data_end)
    assert (sec[0x01000000].data_start, sec[0x01000000].data_end) == (sec[0x02000000].data_start,
                                                                      sec[0x02000000].data_end)
    assert image.section_data(sec[0x00400000]).startswith(b"mali-uio synthetic CSF firmware image")
    assert image.section_data(sec[0x02000000]).startswith(b"mali-uio synthetic RW data\0")
    assert sec[0x03000000].data_size == 0
    # The shared section's data is page aligned in the file (§2.6) and is the §2.8 image.
    shared = image.shared_section
    assert shared.data_start % 0x1000 == 0 and shared.data_size == 0x2000
    assert image.section_data(shared) == expected_control_blocks()


def test_code_section_is_filler(synthetic: bytes) -> None:
    image = parse_firmware(synthetic)
    (code,) = [s for s in image.sections if s.ex]
    assert code.va_start == 0x00800000 and code.rd and not code.wr
    assert image.section_data(code) == b"SYNTHETIC NOCODE" * (0x1000 // 16)


def test_synthetic_git_sha_is_visibly_synthetic(synthetic: bytes) -> None:
    image = parse_firmware(synthetic)
    sha = image.git_sha
    assert sha is not None and len(sha) == 40
    assert bytes.fromhex(sha) == b"mali-uio:synthetic:1"
    info = image.build_info
    assert info is not None and info.raw == b"git_sha: " + sha.encode() + b" \0"
    assert info.dirty is False and info.meta_start == image.header.entry_end
    assert sha != "95a25d71030715381f33105394285e1dcc860a65"


def test_synthetic_config_and_trace_buffer_variables_live_in_0x410000(synthetic: bytes) -> None:
    image = parse_firmware(synthetic)
    configs = image.entries_of(ConfigEntry)
    traces = image.entries_of(TraceBufferEntry)
    assert [c.name for c in configs] == ["Log verbosity", "WA_CFG0"] and len(traces) == 1
    assert (configs[0].min, configs[0].max, configs[0].updatable) == (0, 3, True)
    addresses = [c.address for c in configs] + [traces[0].size_address, traces[0].insert_address,
                                                traces[0].extract_address, traces[0].data_address,
                                                traces[0].trace_enable_address]
    assert len(set(addresses)) == len(addresses)
    for va in addresses:
        section = image.section_for_va(va)
        assert section is not None and section.va_start == 0x00410000
        assert va - section.va_start + 4 <= section.data_size  # the variable has initial bytes
    assert image.warnings == (image.warnings[0],) and "protected" in image.warnings[0]


@needs_blobs
def test_synthetic_shared_data_equals_arm_arch10_8(synthetic: bytes) -> None:
    real = parse_firmware((FIRMWARE_ROOT / "arm/mali/arch10.8/mali_csffw.bin").read_bytes())
    ours = parse_firmware(synthetic)
    assert ours.section_data(ours.shared_section) == real.section_data(real.shared_section)
    assert ours.header.version_hash == real.header.version_hash


def test_shared_section_image_parameters() -> None:
    four = shared_section_image(group_num=4, stream_num=8, prfcnt_features=2)
    glb = struct.unpack_from("<9I", four, 0)
    assert glb == (0, 0, 0x04002000, 0x04006000, 4, 0xA0, 0, 0x71, 2)
    # CS inputs follow the four CSG inputs: 0x04003000 + 4 * 0x80.
    assert struct.unpack_from("<3I", four, 0x1000 + 0x40) == (0, 0x04003200, 0x04007100)
    with pytest.raises(InvalidArgument, match="CSG control blocks"):
        shared_section_image(group_num=32, stream_num=8)
    with pytest.raises(InvalidArgument, match="input blocks"):
        shared_section_image(group_num=16, stream_num=8)
    with pytest.raises(InvalidArgument, match="group_num 0"):
        shared_section_image(group_num=0)
    with pytest.raises(InvalidArgument, match="code_size"):
        build_synthetic_image(code_size=-1)


def test_synthetic_round_trip(synthetic: bytes) -> None:
    specs, _blobs = synthetic_entry_specs()
    image = parse_firmware(synthetic)
    assert len(image.entries) == len(specs)
    for spec, entry in zip(specs, image.entries, strict=True):
        assert entry.type == spec.entry_type() and entry.optional == spec.optional
        assert entry.updatable == spec.updatable
        if isinstance(spec, IfaceSpec):
            assert isinstance(entry, IfaceEntry)
            assert (entry.flags, entry.va_start, entry.va_end) == (spec.flags, spec.va_start, spec.va_end)
            assert image.section_data(entry) == (spec.data.data if isinstance(spec.data, Blob) else b"")
        elif isinstance(spec, ConfigSpec):
            assert isinstance(entry, ConfigEntry)
            assert (entry.address, entry.min, entry.max, entry.name) == (spec.address, spec.min, spec.max,
                                                                         spec.name)
        elif isinstance(spec, TraceBufferSpec):
            assert isinstance(entry, TraceBufferEntry)
            assert (entry.name, entry.kind, entry.data_address) == (spec.name, spec.kind, spec.data_address)
        else:
            assert isinstance(spec, BuildInfoSpec) and isinstance(spec.meta, Blob)
            assert isinstance(entry, BuildInfoEntry) and entry.raw == spec.meta.data
    assert rebuild(image) == synthetic


def test_every_spec_type_round_trips_through_rebuild() -> None:
    specs = [
        IfaceSpec(flags=0xC000001B, va_start=0x04000000, va_end=0x04010000, data=b"\1" * 0x40),
        IfaceSpec(flags=0x2B, va_start=0x03000000, va_end=0x03001000),
        ConfigSpec(address=0x10, min=1, max=2, name="cfg", updatable=True),
        TraceBufferSpec(kind=1, size_address=1, insert_address=2, extract_address=3, data_address=4,
                        trace_enable_address=5, trace_enable_bits=6, name="tb"),
        TimelineMetadataSpec(data=b"timeline!", name="tl"),
        BuildInfoSpec(meta=build_info_blob("ab" * 20)),
        FuncCallListSpec(start_address=0x100, end_address=0x200, name="log"),
        PageFaultCountSpec(address=0x300),
        CoreDumpSpec(regs_address=0x400),
        RawEntrySpec(type=5, body=struct.pack("<4I", 1, 2, 3, 4)),
        RawEntrySpec(type=2, body=b"futf"),
        ConfigSpec(address=0, name="odd", name_area=b"odd\0junk"),
    ]
    data = build_image(specs, header=HeaderSpec(version_hash=0x02080000))
    image = parse_firmware(data)
    assert [e.type for e in image.entries] == [0, 0, 1, 3, 4, 6, 7, 8, 9, 5, 2, 1]
    assert rebuild(image) == data
    assert image.entries[-1].payload[12:] == b"odd\0junk"


def test_builder_layout_rules() -> None:
    shared = Blob(b"\2" * 0x100, align=0x1000)
    table = [IfaceSpec(flags=0xC000001B, va_start=0x04000000, va_end=0x04010000, data=shared),
             IfaceSpec(flags=0x9, va_start=0x1000, va_end=0x2000, data=shared)]
    built = assemble(table, extra_blobs=[Blob(b"x" * 8, offset=0x2000)])
    # Header 0x14 + two 32-byte entries = 0x54; the shared blob is placed once, page aligned.
    assert built.entry_offsets == (0x14, 0x34) and built.table_end == 0x54
    assert built.range_of(shared) == (0x1000, 0x1100)
    image = parse_firmware(built.data)
    assert [(s.data_start, s.data_end) for s in image.sections] == [(0x1000, 0x1100)] * 2
    assert built.data[0x2000:0x2008] == b"x" * 8 and len(built.data) == 0x2008
    # An automatic blob skips explicitly placed ones.
    auto = Blob(b"\3" * 0x20)
    around = assemble([IfaceSpec(flags=0xC000001B, va_start=0x04000000, va_end=0x04010000, data=auto)],
                      extra_blobs=[Blob(b"\4" * 0x10, offset=0x34)])
    assert around.range_of(auto) == (0x44, 0x64)
    assert len(build_image(table, file_size=0x3000)) == 0x3000


def test_builder_rejects_bad_input() -> None:
    shared = IfaceSpec(flags=0xC000001B, va_start=0x04000000, va_end=0x04010000)
    with pytest.raises(InvalidArgument, match="does not fit in a u32"):
        build_image([IfaceSpec(flags=1 << 32, va_start=0, va_end=0)])
    with pytest.raises(InvalidArgument, match="at most 0xfc"):
        build_image([shared, ConfigSpec(address=0, name="n" * 250)])
    with pytest.raises(InvalidArgument, match="multiple of 4"):
        build_image([shared, RawEntrySpec(type=5, body=b"abc")])
    with pytest.raises(InvalidArgument, match="overlaps different bytes"):
        build_image([shared], extra_blobs=[Blob(b"a" * 8, offset=0x100), Blob(b"b" * 8, offset=0x104)])
    with pytest.raises(InvalidArgument, match="overlaps different bytes"):
        build_image([shared], extra_blobs=[Blob(b"a" * 8, offset=0x10)])
    with pytest.raises(InvalidArgument, match="smaller than the content"):
        build_image([shared], file_size=0x10)


@needs_blobs
@pytest.mark.parametrize("relpath", BLOBS)
def test_rebuild_reproduces_arm_blobs_byte_for_byte(relpath: str) -> None:
    data = (FIRMWARE_ROOT / relpath / "mali_csffw.bin").read_bytes()
    out = rebuild(parse_firmware(data))
    assert len(out) == len(data)
    assert hashlib.sha256(out).hexdigest() == hashlib.sha256(data).hexdigest()


def test_build_synthetic_script(tmp_path: Path, capsys: pytest.CaptureFixture[str], synthetic: bytes) -> None:
    spec = importlib.util.spec_from_file_location("build_synthetic", REPO / "firmware" / "build_synthetic.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "mali_csffw.bin"
    assert module.main([str(out)]) == 0
    assert out.read_bytes() == synthetic
    assert "v1.5.0" in capsys.readouterr().out
    assert module.main([str(tmp_path / "missing-dir" / "x.bin")]) == 1
    assert "cannot write" in capsys.readouterr().err
