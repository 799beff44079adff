"""The synthetic firmware image the simulator boots when no Arm blob is available.

It is written in the real container format (:mod:`.builder`) and mirrors the arch10.8 image of
shared/reference/csf-firmware-and-interfaces.md §2.2/§2.6: the same eight IFACE sections (VA
ranges and flags), CONFIG/TRACE_BUFFER/BUILD_INFO entries, interface version v1.5.0 in
``version_hash`` (what the current G610 firmware reports, §2.7), and a shared section whose
0x2000 data bytes are the control-block image of §2.8 — byte-identical to the Arm arch10.8 one.

Nothing in it is code. The executable section holds :data:`CODE_FILLER`, a text pattern that is
never executed: the simulated MCU models only the host-visible interface. The BUILD_INFO sha,
:data:`SYNTHETIC_GIT_SHA`, is the hex spelling of the ASCII text ``mali-uio:synthetic:1``, so it
cannot be mistaken for an Arm build.
"""

from __future__ import annotations

import struct

from ..errors import InvalidArgument
from .builder import (
    Blob,
    BuildInfoSpec,
    ConfigSpec,
    EntrySpec,
    HeaderSpec,
    IfaceSpec,
    TraceBufferSpec,
    build_image,
    build_info_blob,
)
from .format import MCU_PAGE_SIZE, SHARED_SECTION_VA, CacheMode, iface_flags

#: Interface v1.5.0 encoded like GLB_VERSION (§2.7: the current arch10.8 blob's version_hash).
SYNTHETIC_VERSION_HASH = 0x01050000
#: 40 hex digits = the 20 ASCII bytes ``mali-uio:synthetic:1`` (revision 1 of this image).
SYNTHETIC_GIT_SHA = b"mali-uio:synthetic:1".hex()
#: 16-byte unit repeated through the "code" section; recognisable, and not code.
CODE_FILLER = b"SYNTHETIC NOCODE"
#: Start of the read-only data section (VAs 0x00400000 and 0x00000000 share it, like the Arm image).
RO_BANNER = b"mali-uio synthetic CSF firmware image (not Arm firmware)\0"
#: Start of the RW data section (VAs 0x02000000 and 0x01000000 share it).
RW_BANNER = b"mali-uio synthetic RW data\0"

# Shared-section layout of §2.8 (offsets from 0x04000000). The control blocks come first, the
# input blocks from 0x2000, the output blocks from 0x6000.
SHARED_SECTION_SIZE = 0x10000
SHARED_DATA_SIZE = 0x2000
GLB_INPUT_OFFSET = 0x2000
GLB_OUTPUT_OFFSET = 0x6000
CSG_CONTROL_OFFSET = 0x1000  # panthor CSF_GROUP_CONTROL_OFFSET
CS_CONTROL_OFFSET = 0x40  # panthor CSF_STREAM_CONTROL_OFFSET
CS_CONTROL_STRIDE = 0x0C  # §2.8 stream_stride
CSG_INPUT_OFFSET, CSG_INPUT_STRIDE = 0x3000, 0x80
CSG_OUTPUT_OFFSET, CSG_OUTPUT_STRIDE = 0x7000, 0x40
CS_INPUT_STRIDE = 0x80
CS_OUTPUT_STRIDE = 0x100
INSTR_FEATURES = 0x71  # §2.8 / dmesg for G610

# MCU VAs of the variables the CONFIG and TRACE_BUFFER entries name, in the 0x00410000 section
# (the Arm images keep theirs there too, §2.6).
VARS_VA = 0x00410000
WA_CFG0_VA = VARS_VA + 0x00
FWLOG_SIZE_VA = VARS_VA + 0x04
FWLOG_INSERT_VA = VARS_VA + 0x08
FWLOG_EXTRACT_VA = VARS_VA + 0x0C
FWLOG_DATA_VA = VARS_VA + 0x10
FWLOG_ENABLE_VA = VARS_VA + 0x14
LOG_VERBOSITY_VA = VARS_VA + 0x18
VARS_SIZE = 0x20


def _pad(data: bytes, size: int) -> bytes:
    return data + b"\0" * (size - len(data))


def _check_interface_fits(group_num: int, stream_num: int) -> None:
    """Every block of §2.8's layout must fit in its region of the 64 KiB shared section."""
    for name, value in (("group_num", group_num), ("stream_num", stream_num)):
        if not isinstance(value, int) or value < 1:
            raise InvalidArgument(f"{name} {value!r} must be a positive int")
    group_stride = CS_CONTROL_OFFSET + stream_num * CS_CONTROL_STRIDE
    limits = (
        ("CSG control blocks", CSG_CONTROL_OFFSET + group_num * group_stride, GLB_INPUT_OFFSET),
        ("CSG/CS input blocks", CSG_INPUT_OFFSET + group_num * (1 + stream_num) * CS_INPUT_STRIDE,
         GLB_OUTPUT_OFFSET),
        ("CSG/CS output blocks", CSG_OUTPUT_OFFSET + group_num * CSG_OUTPUT_STRIDE
         + group_num * stream_num * CS_OUTPUT_STRIDE, SHARED_SECTION_SIZE),
    )
    for what, end, limit in limits:
        if end > limit:
            raise InvalidArgument(f"{group_num} groups x {stream_num} streams: {what} end at {end:#x}, "
                                  f"past {limit:#x}")


def shared_section_image(*, group_num: int = 8, stream_num: int = 8, prfcnt_features: int = 1) -> bytes:
    """The 0x2000-byte initial image of the shared section (§2.8).

    GLB control at 0x0 (version 0 — the MCU fills it at boot —, input/output VAs 0x04002000 and
    0x04006000, group_num, group_stride, instr_features 0x71, prfcnt_features), then one CSG
    control block per group at 0x1000 + g·group_stride, each followed at +0x40 by its CS control
    blocks. With the defaults this equals the Arm arch10.8 image.

    Raises:
        InvalidArgument: the counts do not fit the §2.8 layout.
    """
    _check_interface_fits(group_num, stream_num)
    group_stride = CS_CONTROL_OFFSET + stream_num * CS_CONTROL_STRIDE
    out = bytearray(SHARED_DATA_SIZE)
    # GLB control: version, features, input_va, output_va, group_num, group_stride, prfcnt_size,
    # instr_features, prfcnt_features (§4.1).
    struct.pack_into("<9I", out, 0, 0, 0, SHARED_SECTION_VA + GLB_INPUT_OFFSET,
                     SHARED_SECTION_VA + GLB_OUTPUT_OFFSET, group_num, group_stride, 0, INSTR_FEATURES,
                     prfcnt_features)
    cs_input_base = CSG_INPUT_OFFSET + group_num * CSG_INPUT_STRIDE
    cs_output_base = CSG_OUTPUT_OFFSET + group_num * CSG_OUTPUT_STRIDE
    for g in range(group_num):
        csg = CSG_CONTROL_OFFSET + g * group_stride
        # CSG control: features, input_va, output_va, suspend_size, protm_suspend_size, stream_num,
        # stream_stride (§5.1).
        struct.pack_into("<7I", out, csg, 0, SHARED_SECTION_VA + CSG_INPUT_OFFSET + g * CSG_INPUT_STRIDE,
                         SHARED_SECTION_VA + CSG_OUTPUT_OFFSET + g * CSG_OUTPUT_STRIDE, 0, 0, stream_num,
                         CS_CONTROL_STRIDE)
        for s in range(stream_num):
            index = g * stream_num + s
            # CS control: features, input_va, output_va (§6.1).
            struct.pack_into("<3I", out, csg + CS_CONTROL_OFFSET + s * CS_CONTROL_STRIDE, 0,
                             SHARED_SECTION_VA + cs_input_base + index * CS_INPUT_STRIDE,
                             SHARED_SECTION_VA + cs_output_base + index * CS_OUTPUT_STRIDE)
    return bytes(out)


def _section_specs(shared: Blob, code_size: int) -> tuple[list[IfaceSpec], list[Blob]]:
    """The eight IFACE sections of arch10.8 (§2.2) and their data blobs, in the Arm file order."""
    cached = CacheMode.CACHED
    ro = Blob(_pad(RO_BANNER, 0x80))
    variables = Blob(bytes(VARS_SIZE))
    code = Blob((CODE_FILLER * (-(-code_size // len(CODE_FILLER))))[:code_size])
    rw = Blob(_pad(RW_BANNER, 0x40))
    specs = [
        IfaceSpec(flags=iface_flags(rd=True, cache_mode=cached), va_start=0x00400000, va_end=0x00410000,
                  data=ro),
        IfaceSpec(flags=iface_flags(rd=True, cache_mode=cached), va_start=VARS_VA, va_end=0x00420000,
                  data=variables),
        IfaceSpec(flags=iface_flags(rd=True, cache_mode=cached), va_start=0x00000000, va_end=0x00010000,
                  data=ro),
        IfaceSpec(flags=iface_flags(rd=True, ex=True, cache_mode=cached), va_start=0x00800000,
                  va_end=0x00820000, data=code),
        IfaceSpec(flags=iface_flags(rd=True, wr=True, cache_mode=cached, zero=True), va_start=0x02000000,
                  va_end=0x02040000, data=rw),
        IfaceSpec(flags=iface_flags(rd=True, cache_mode=cached, zero=True), va_start=0x01000000,
                  va_end=0x01040000, data=rw),
        IfaceSpec(flags=iface_flags(rd=True, wr=True, cache_mode=cached, prot=True), va_start=0x03000000,
                  va_end=0x03040000),
        IfaceSpec(flags=iface_flags(rd=True, wr=True, cache_mode=CacheMode.CACHED_COHERENT, shared=True,
                                    zero=True),
                  va_start=SHARED_SECTION_VA, va_end=SHARED_SECTION_VA + SHARED_SECTION_SIZE, data=shared),
    ]
    return specs, [ro, variables, code, rw, shared]


def synthetic_entry_specs(
    *,
    git_sha: str = SYNTHETIC_GIT_SHA,
    group_num: int = 8,
    stream_num: int = 8,
    prfcnt_features: int = 1,
    code_size: int = 0x1000,
) -> tuple[list[EntrySpec], list[Blob]]:
    """Entry specs and blobs (in placement order) of the synthetic image, for tests to modify.

    Raises:
        InvalidArgument: bad counts (see :func:`shared_section_image`) or a negative ``code_size``.
    """
    if not isinstance(code_size, int) or not 0 <= code_size <= 0x20000:
        raise InvalidArgument(f"code_size {code_size!r} must be 0..0x20000 (the code section's VA size)")
    shared = Blob(shared_section_image(group_num=group_num, stream_num=stream_num,
                                       prfcnt_features=prfcnt_features), align=MCU_PAGE_SIZE)
    sections, section_blobs = _section_specs(shared, code_size)
    build_info = Blob(build_info_blob(git_sha))
    specs: list[EntrySpec] = [
        *sections,
        ConfigSpec(address=LOG_VERBOSITY_VA, min=0, max=3, name="Log verbosity", updatable=True),
        ConfigSpec(address=WA_CFG0_VA, min=0, max=0xFFFFFFFF, name="WA_CFG0"),
        TraceBufferSpec(kind=1, size_address=FWLOG_SIZE_VA, insert_address=FWLOG_INSERT_VA,
                        extract_address=FWLOG_EXTRACT_VA, data_address=FWLOG_DATA_VA,
                        trace_enable_address=FWLOG_ENABLE_VA, trace_enable_bits=17, name="fwlog",
                        updatable=True),
        BuildInfoSpec(meta=build_info),
    ]
    # Like the Arm images: build info right after the entry table, then section data, and the
    # shared section's data page aligned at the end (§2.6).
    return specs, [build_info, *section_blobs]


def build_synthetic_image(
    *,
    version_hash: int = SYNTHETIC_VERSION_HASH,
    git_sha: str = SYNTHETIC_GIT_SHA,
    group_num: int = 8,
    stream_num: int = 8,
    prfcnt_features: int = 1,
    code_size: int = 0x1000,
) -> bytes:
    """The synthetic firmware image (about 16 KiB) that boots on the simulator.

    Args:
        version_hash: header version_hash = the interface version (default v1.5.0).
        git_sha: the sha written into BUILD_INFO.
        group_num: CSG slots published in the shared section's control blocks.
        stream_num: CS slots per CSG.
        prfcnt_features: GLB control word 0x20 (1 like arch10.8).
        code_size: bytes of filler in the executable section.

    Returns:
        The image; :func:`~uio_driver.firmware.container.parse_firmware` accepts it.

    Raises:
        InvalidArgument: a parameter is out of range.
    """
    specs, blobs = synthetic_entry_specs(git_sha=git_sha, group_num=group_num, stream_num=stream_num,
                                         prfcnt_features=prfcnt_features, code_size=code_size)
    return build_image(specs, header=HeaderSpec(version_hash=version_hash), extra_blobs=blobs)
