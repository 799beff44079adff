"""The simulated MCU's own interface tables and release identification, checked against the reference
(csf-firmware-and-interfaces.md §2.7, §2.8, §4.1-§4.3, §5.1-§5.3, §6.1-§6.3) and the Arm blobs."""

from __future__ import annotations

import ctypes
import hashlib
import struct

import pytest
from test_sim_mcu_rig import BLOBS, NO_BLOB, SHARED, iface_sections, synthetic_image

from uio_driver.errors import FirmwareFormatError
from uio_driver.sim import csf_iface as ci
from uio_driver.sim.fw_release import UNKNOWN_RELEASE, identify

# (block, field, reference offset) straight from the tables of §4-§6.
REFERENCE_OFFSETS = [
    (ci.GlbControl, "version", 0x00), (ci.GlbControl, "input_va", 0x08), (ci.GlbControl, "group_num", 0x10),
    (ci.GlbControl, "group_stride", 0x14), (ci.GlbControl, "prfcnt_size", 0x18),
    (ci.GlbControl, "instr_features", 0x1C), (ci.GlbControl, "prfcnt_features", 0x20),
    (ci.GlbInput, "ack_irq_mask", 0x04), (ci.GlbInput, "doorbell_req", 0x08),
    (ci.GlbInput, "progress_timer", 0x10), (ci.GlbInput, "poweroff_timer", 0x14),
    (ci.GlbInput, "core_en_mask", 0x18), (ci.GlbInput, "perfcnt_as", 0x24),
    (ci.GlbInput, "perfcnt_base", 0x28), (ci.GlbInput, "perfcnt_extract", 0x30),
    (ci.GlbInput, "perfcnt_config", 0x40), (ci.GlbInput, "perfcnt_mmu_l2_enable", 0x5C),
    (ci.GlbInput, "idle_timer", 0x80), (ci.GlbOutput, "doorbell_ack", 0x08),
    (ci.GlbOutput, "halt_status", 0x10), (ci.GlbOutput, "perfcnt_insert", 0x18),
    (ci.GlbOutput, "fatal_info", 0x20), (ci.CsgControl, "input_va", 0x04),
    (ci.CsgControl, "suspend_size", 0x0C), (ci.CsgControl, "protm_suspend_size", 0x10),
    (ci.CsgControl, "stream_num", 0x14), (ci.CsgControl, "stream_stride", 0x18),
    (ci.CsgInput, "cs_irq_ack", 0x0C), (ci.CsgInput, "allow_compute", 0x20),
    (ci.CsgInput, "allow_fragment", 0x28), (ci.CsgInput, "allow_other", 0x30),
    (ci.CsgInput, "endpoint_req", 0x34), (ci.CsgInput, "suspend_buf", 0x40),
    (ci.CsgInput, "protm_suspend_buf", 0x48), (ci.CsgInput, "config", 0x50),
    (ci.CsgInput, "iter_trace_config", 0x54), (ci.CsgOutput, "cs_irq_req", 0x0C),
    (ci.CsgOutput, "status_endpoint_current", 0x10), (ci.CsgOutput, "status_endpoint_req", 0x14),
    (ci.CsgOutput, "status_state", 0x18), (ci.CsgOutput, "resource_dep", 0x1C),
    (ci.CsControl, "input_va", 0x04), (ci.CsControl, "output_va", 0x08), (ci.CsInput, "config", 0x04),
    (ci.CsInput, "ack_irq_mask", 0x0C), (ci.CsInput, "ringbuf_base", 0x10),
    (ci.CsInput, "ringbuf_size", 0x18), (ci.CsInput, "heap_start", 0x20), (ci.CsInput, "heap_end", 0x28),
    (ci.CsInput, "ringbuf_input", 0x30), (ci.CsInput, "ringbuf_output", 0x38),
    (ci.CsInput, "instr_config", 0x40), (ci.CsInput, "instrbuf_size", 0x44),
    (ci.CsInput, "instrbuf_base", 0x48), (ci.CsInput, "instrbuf_offset_ptr", 0x50),
    (ci.CsOutput, "status_cmd_ptr", 0x40), (ci.CsOutput, "status_wait", 0x48),
    (ci.CsOutput, "status_req_resource", 0x4C), (ci.CsOutput, "status_wait_sync_ptr", 0x50),
    (ci.CsOutput, "status_wait_sync_value", 0x58), (ci.CsOutput, "status_scoreboards", 0x5C),
    (ci.CsOutput, "status_blocked_reason", 0x60), (ci.CsOutput, "status_wait_sync_value_hi", 0x64),
    (ci.CsOutput, "fault", 0x80), (ci.CsOutput, "fatal", 0x84), (ci.CsOutput, "fault_info", 0x88),
    (ci.CsOutput, "fatal_info", 0x90), (ci.CsOutput, "heap_vt_start", 0xC0),
    (ci.CsOutput, "heap_vt_end", 0xC4), (ci.CsOutput, "heap_frag_end", 0xCC),
    (ci.CsOutput, "heap_address", 0xD0),
]


@pytest.mark.parametrize("block,name,offset", REFERENCE_OFFSETS,
                         ids=[f"{b.__name__}.{n}" for b, n, _ in REFERENCE_OFFSETS])
def test_block_field_offsets_match_the_reference(block, name, offset):
    assert getattr(block, name).offset == offset
    assert block.field_at(offset) == name


def test_request_bits_match_the_reference():
    # §4.4: PING 8, IDLE_EN 10, IDLE 26; panthor's init request 0x40E and ack_irq_mask 0x0400050E (§3.7).
    assert ci.GLB_PING == 0x100 and ci.GLB_IDLE_EN == 0x400 and ci.GLB_IDLE == 0x4000000
    init = ci.GLB_IDLE_EN | ci.GLB_CFG_ALLOC_EN | ci.GLB_CFG_POWEROFF_TIMER | ci.GLB_CFG_PROGRESS_TIMER
    assert init == 0x40E
    # §5.4 / §6.4 bit positions.
    assert (ci.CSG_EP_CFG, ci.CSG_STATUS_UPDATE) == (0x10, 0x20)
    assert (ci.CSG_SYNC_UPDATE, ci.CSG_IDLE) == (1 << 28, 1 << 29)
    assert (ci.CS_IDLE_SYNC_WAIT, ci.CS_IDLE_EMPTY) == (0x100, 0x400)
    assert (ci.CS_TILER_OOM, ci.CS_FAULT) == (1 << 26, 1 << 31)


def _arm_shared_image() -> bytes:
    image = BLOBS["arm-arch10.8"].read_bytes()
    shared = next(s for s in iface_sections(image) if s.va_start == SHARED)
    return shared.data + bytes(shared.va_end - shared.va_start - len(shared.data))


@pytest.mark.skipif(not BLOBS["arm-arch10.8"].exists(),
                    reason=NO_BLOB)
def test_parse_interface_of_the_arm_image_gives_the_reference_map():
    m = ci.parse_interface(_arm_shared_image())
    assert (m.glb_input_va, m.glb_output_va, m.group_num, m.group_stride) == (0x04002000, 0x04006000, 8, 0xA0)
    for g in range(8):
        grp = m.groups[g]
        assert (grp.input_va, grp.output_va) == (0x04003000 + g * 0x80, 0x04007000 + g * 0x40)
        assert (grp.stream_num, grp.stream_stride) == (8, 0x0C)
        for s in range(8):
            cs = grp.streams[s]
            assert cs.control_va == 0x04001000 + g * 0xA0 + 0x40 + s * 0x0C
            index = 8 * g + s
            assert (cs.input_va, cs.output_va) == (0x04003400 + index * 0x80, 0x04007200 + index * 0x100)
    # §2.8 map: the last CS output block (63) starts at 0x04007200 + 63 * 0x100 = 0x0400B100 and its
    # last field, heap_address (u64 at 0xD0, §6.3), ends 0xD8 bytes later.
    assert m.extent() == 0xB100 + 0xD8
    assert m.describe(0x04007000 + 3 * 0x40 + 0x0C) == "CSG3 output field cs_irq_req"


def _synthetic_shared(**kwargs) -> bytearray:
    image = synthetic_image(**kwargs)
    shared = next(s for s in iface_sections(image) if s.va_start == SHARED)
    return bytearray(shared.data + bytes(0x10000 - len(shared.data)))


def test_parse_interface_uses_the_image_counts_not_invented_ones():
    m = ci.parse_interface(bytes(_synthetic_shared(group_num=4, stream_num=2)))
    assert m.group_num == 4 and [g.stream_num for g in m.groups] == [2, 2, 2, 2]
    assert m.group_stride == 0x40 + 2 * 0x0C


@pytest.mark.parametrize("offset,value,match", [
    (0x10, 0, "group_num = 0"),                 # GLB group_num
    (0x10, 40, "group_num = 40"),
    (0x08, 0x05000000, "GLB input block"),      # GLB input_va outside the section
    (0x0C, 0x0400FFF0, "GLB output block"),     # runs past the end
    (0x08, 0x04002002, "GLB input block"),      # misaligned
    (0x1000 + 0x14, 0, "stream_num = 0"),       # CSG0 stream_num
    (0x1000 + 0x04, 0x03000000, "CSG0 input"),
    (0x1000 + 0x40 + 8, 0x04010000, "CS0.0 output"),
    (0x14, 0x10, "group_stride"),
])
def test_parse_interface_refuses_unusable_images(offset, value, match):
    image = _synthetic_shared()
    struct.pack_into("<I", image, offset, value)
    with pytest.raises(FirmwareFormatError, match=match):
        ci.parse_interface(bytes(image))


def test_parse_interface_refuses_a_section_too_small():
    with pytest.raises(FirmwareFormatError):
        ci.parse_interface(bytes(0x800))


# -- release identification (§2.7: version_hash = GLB_VERSION) ----------------------------------------

EXPECTED_VERSION = {"arm-arch10.8": 0x01050000, "arm-arch10.8-2024-05": 0x01010000,
                    "arm-arch11.8": 0x02080000,
                    "arm-arch12.8": 0x030D0000, "arm-arch13.8": 0x030D0000}
EXPECTED_SHARED = {"arm-arch10.8-2024-05": 0xC000}


@pytest.mark.parametrize("name", sorted(BLOBS))
def test_each_arm_release_is_identified_by_its_code_section(name):
    path = BLOBS[name]
    if not path.exists():
        pytest.skip(f"{NO_BLOB}: {path}")
    image = path.read_bytes()
    code = next(s for s in iface_sections(image) if s.flags & 4)  # the EX section
    assert code.va_start == 0x00800000
    release = identify(code.data + bytes(code.va_end - code.va_start - len(code.data)))
    assert release.name == name
    header_version_hash = struct.unpack_from("<I", image, 8)[0]
    assert release.version == EXPECTED_VERSION[name] == header_version_hash
    shared = next(s for s in iface_sections(image) if s.va_start == SHARED)
    assert release.shared_size == EXPECTED_SHARED.get(name, 0x10000) == shared.va_end - shared.va_start
    assert release.code_sha256 == hashlib.sha256(code.data).hexdigest()


def test_synthetic_and_unknown_images_answer_as_v1_5_0():
    assert identify(b"SYNTHETIC NOCODE" * 4).name == "synthetic"
    assert identify(b"SYNTHETIC NOCODE").version == 0x01050000
    unknown = identify(b"\x01\x02\x03" + bytes(100))
    assert unknown is UNKNOWN_RELEASE and unknown.version == 0x01050000 and unknown.version_text == "v1.5.0"


def test_suspend_record_layout_fits_the_default_suspend_size():
    assert ctypes.sizeof(ci.SuspendHeader) == 0x20 and ctypes.sizeof(ci.SuspendStream) == 0x40
    assert ci.suspend_record_size(8) == 0x20 + 8 * 0x40
