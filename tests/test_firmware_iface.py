"""CSF interface layouts, shared-section accessors, req/ack helpers and discovery — over plain memory.

Expected offsets, bits and rules are copied from csf-firmware-and-interfaces.md: §4.1-§4.4 (GLB), §5.1-
§5.5 (CSG), §6.1-§6.4 (CS), §2.8 (the shared-section layout of the G610 firmware), §3.6 (discovery and
validation) and §7.1 (toggle/update helpers). The shared section is built by hand here from §2.8.
"""

from __future__ import annotations

import errno
import struct

import pytest

from uio_driver.errors import AccessDenied, BadAddress, HardwareFault, InvalidArgument
from uio_driver.firmware import blocks as b
from uio_driver.firmware.interface import BlockView, ReqAck, SharedSection, discover_interface
from uio_driver.platform.dma import DmaAllocator

# -- layouts vs the reference tables --------------------------------------------------------------------

REFERENCE_OFFSETS = {
    b.GlbControl: {"version": 0x00, "features": 0x04, "input_va": 0x08, "output_va": 0x0C,
                   "group_num": 0x10, "group_stride": 0x14, "prfcnt_size": 0x18, "instr_features": 0x1C,
                   "prfcnt_features": 0x20},
    b.GlbInput: {"req": 0x00, "ack_irq_mask": 0x04, "doorbell_req": 0x08, "progress_timer": 0x10,
                 "poweroff_timer": 0x14, "core_en_mask": 0x18, "perfcnt_as": 0x24, "perfcnt_base": 0x28,
                 "perfcnt_extract": 0x30, "perfcnt_config": 0x40, "perfcnt_csg_select": 0x44,
                 "perfcnt_fw_enable": 0x48, "perfcnt_csg_enable": 0x4C, "perfcnt_csf_enable": 0x50,
                 "perfcnt_shader_enable": 0x54, "perfcnt_tiler_enable": 0x58, "perfcnt_mmu_l2_enable": 0x5C,
                 "idle_timer": 0x80},
    b.GlbOutput: {"ack": 0x00, "doorbell_ack": 0x08, "halt_status": 0x10, "perfcnt_status": 0x14,
                  "perfcnt_insert": 0x18, "fatal_info": 0x20},
    b.CsgControl: {"features": 0x00, "input_va": 0x04, "output_va": 0x08, "suspend_size": 0x0C,
                   "protm_suspend_size": 0x10, "stream_num": 0x14, "stream_stride": 0x18},
    b.CsgInput: {"req": 0x00, "ack_irq_mask": 0x04, "doorbell_req": 0x08, "cs_irq_ack": 0x0C,
                 "allow_compute": 0x20, "allow_fragment": 0x28, "allow_other": 0x30, "endpoint_req": 0x34,
                 "suspend_buf": 0x40, "protm_suspend_buf": 0x48, "config": 0x50, "iter_trace_config": 0x54},
    b.CsgOutput: {"ack": 0x00, "doorbell_ack": 0x08, "cs_irq_req": 0x0C, "status_endpoint_current": 0x10,
                  "status_endpoint_req": 0x14, "status_state": 0x18, "resource_dep": 0x1C},
    b.CsControl: {"features": 0x00, "input_va": 0x04, "output_va": 0x08},
    b.CsInput: {"req": 0x00, "config": 0x04, "ack_irq_mask": 0x0C, "ringbuf_base": 0x10,
                "ringbuf_size": 0x18, "heap_start": 0x20, "heap_end": 0x28, "ringbuf_input": 0x30,
                "ringbuf_output": 0x38, "instr_config": 0x40, "instrbuf_size": 0x44, "instrbuf_base": 0x48,
                "instrbuf_offset_ptr": 0x50},
    b.CsOutput: {"ack": 0x00, "status_cmd_ptr": 0x40, "status_wait": 0x48, "status_req_resource": 0x4C,
                 "status_wait_sync_ptr": 0x50, "status_wait_sync_value": 0x58, "status_scoreboards": 0x5C,
                 "status_blocked_reason": 0x60, "status_wait_sync_value_hi": 0x64, "fault": 0x80,
                 "fatal": 0x84, "fault_info": 0x88, "fatal_info": 0x90, "heap_vt_start": 0xC0,
                 "heap_vt_end": 0xC4, "heap_frag_end": 0xCC, "heap_address": 0xD0},
    b.RingInputPage: {"insert": 0x00, "extract": 0x08},
    b.RingOutputPage: {"extract": 0x00, "active": 0x08},
}
U64_FIELDS = {"core_en_mask", "perfcnt_base", "fatal_info", "allow_compute", "allow_fragment",
              "suspend_buf", "protm_suspend_buf", "ringbuf_base", "heap_start", "heap_end", "ringbuf_input",
              "ringbuf_output", "instrbuf_base", "instrbuf_offset_ptr", "status_cmd_ptr",
              "status_wait_sync_ptr", "fault_info", "heap_address", "insert", "extract"}


@pytest.mark.parametrize("layout", list(REFERENCE_OFFSETS), ids=lambda layout: layout.NAME)
def test_layout_offsets_match_the_reference(layout: type[b.Layout]) -> None:
    want = REFERENCE_OFFSETS[layout]
    got = layout.fields()
    assert {k: v[0] for k, v in got.items()} == want
    for name, (_, size) in got.items():
        assert size == (8 if name in U64_FIELDS else 4), name


def test_request_bits_and_masks() -> None:
    assert b.GLB_ACK_IRQ_MASK_PANTHOR == 0x0400050E  # §3.7
    assert (b.GlbReq.HALT, b.GlbReq.PING, b.GlbReq.IDLE_EN, b.GlbReq.IDLE) == (1, 1 << 8, 1 << 10, 1 << 26)
    assert b.GLB_REQ_MASK == 0x7FF and b.GLB_EVT_MASK == 0x07F00000  # §4.4 bits 10:0, 26:20
    assert int(b.CSG_REQ_MASK) == 0x7 | 0x10 | 0x20  # §5.4
    assert int(b.CSG_EVT_MASK) == (1 << 28) | (1 << 29) | (1 << 31)
    assert int(b.CS_REQ_MASK) == 0x7 | 0x10 | 0xF00  # §6.4
    assert int(b.CS_EVT_MASK) == (1 << 26) | (1 << 27) | (1 << 30) | (1 << 31)
    assert b.endpoint_req(4, 4, 1, 15) == 0xF0010404  # §5.5 fields
    assert b.cs_config(3, 9) == 0x0903  # §6.2 PRIORITY 3:0, USER_DOORBELL 15:8
    with pytest.raises(ValueError):
        b.endpoint_req(256, 0, 0, 0)


# -- a hand-built shared section (§2.8) ------------------------------------------------------------------

SHARED = 0x04000000
CS_FEATURES = 95 | 8 << 8  # 96 work registers, 8 scoreboards (§6.1, §8)


def shared_image(*, version: int = 0x01050000, group_num: int = 8, stream_num: int = 8,
                 group_stride: int = 0xA0, instr_features: int = 0x71) -> bytearray:
    """The §2.8 G610 control-block layout, with what the firmware writes at boot filled in."""
    img = bytearray(0x10000)
    struct.pack_into("<9I", img, 0, version, 0, SHARED + 0x2000, SHARED + 0x6000, group_num, group_stride, 0,
                     instr_features, 1)
    for g in range(group_num):
        csg = 0x1000 + g * group_stride
        struct.pack_into("<7I", img, csg, 0, SHARED + 0x3000 + g * 0x80, SHARED + 0x7000 + g * 0x40, 0x4000,
                         0x1000, stream_num, 0x0C)
        for s in range(stream_num):
            struct.pack_into("<3I", img, csg + 0x40 + s * 0x0C, CS_FEATURES,
                             SHARED + 0x3400 + (8 * g + s) * 0x80, SHARED + 0x7200 + (8 * g + s) * 0x100)
    return img


def section(img: bytearray, size: int = 0x10000) -> SharedSection:
    alloc = DmaAllocator(0x10000000, 0x10000, bytearray(0x10000), name="test")
    buf = alloc.alloc(0x10000)
    buf.write(0, img)
    return SharedSection(buf, SHARED, size)


def test_discovery_of_the_g610_layout() -> None:
    iface = discover_interface(section(shared_image()), git_sha="abc")
    info = iface.info
    assert info.csif_info() == {"csg_slot_count": 8, "cs_slot_count": 8, "cs_reg_count": 96,
                                "scoreboard_slot_count": 8, "unpreserved_cs_reg_count": 4}
    assert info.version.text == "v1.5.0" and info.instr_features == 0x71 and info.git_sha == "abc"
    assert info.log_line == "CSF FW using interface v1.5.0, Features 0x0 Instrumentation features 0x71"
    assert (info.group_stride, info.stream_stride, info.suspend_size) == (0xA0, 0x0C, 0x4000)
    assert iface.glb.input.va == 0x04002000 and iface.glb.output.va == 0x04006000
    assert iface.csg(7).input.va == 0x04003000 + 7 * 0x80
    assert iface.csg(2).streams[5].output.va == 0x04007200 + (8 * 2 + 5) * 0x100
    with pytest.raises(InvalidArgument):
        iface.csg(8)


def test_instr_features_is_not_read_before_interface_1_1() -> None:
    info = discover_interface(section(shared_image(version=0x01000000))).info
    assert info.instr_features is None
    assert info.log_line.endswith("Instrumentation features 0x0")
    assert discover_interface(section(shared_image(version=0x01010000))).info.instr_features == 0x71


def test_csg_slot_count_is_capped_at_16() -> None:
    # 20 groups: their control blocks fit below 0x2000, but §2.8's CS output addresses for groups >= 8 would
    # run past the 64 KiB section, so groups 8..19 reuse the input/output blocks of groups 0..7.
    img = shared_image(group_num=20, stream_num=8)
    for g in range(20):
        csg = 0x1000 + g * 0xA0
        h = g % 8
        struct.pack_into("<2I", img, csg + 4, SHARED + 0x3000 + h * 0x80, SHARED + 0x7000 + h * 0x40)
        for s in range(8):
            struct.pack_into("<2I", img, csg + 0x40 + s * 0x0C + 4, SHARED + 0x3400 + (8 * h + s) * 0x80,
                             SHARED + 0x7200 + (8 * h + s) * 0x100)
    assert discover_interface(section(img)).info.csg_slot_count == 16  # min(20, 31, 16), §3.6 step 9


def _corrupt(offset: int, value: int) -> bytearray:
    img = shared_image()
    struct.pack_into("<I", img, offset, value)
    return img


@pytest.mark.parametrize(("img", "match"), [
    (shared_image(version=0), "Firmware version is 0"),
    (_corrupt(0x08, SHARED + 0x10000), "Invalid global interface input VA"),
    (_corrupt(0x0C, 0x1000), "Invalid global interface output VA"),
    (_corrupt(0x0C, SHARED + 0x10000 - 0x10), "Invalid global interface output VA"),  # block crosses the end
    (_corrupt(0x10, 2), "group_num = 2 outside 3..31"),
    (_corrupt(0x10, 32), "group_num = 32 outside 3..31"),
    (_corrupt(0x1000 + 0xA0 * 3 + 0x14, 7), "CSG 3 stream_num = 7 outside 8..32"),
    (_corrupt(0x1000 + 0xA0 * 1 + 0x0C, 0x5000), "Expecting identical CSG slots: CSG 1 suspend_size"),
    (_corrupt(0x1000 + 0xA0 * 6 + 0x10, 0x2000), "Expecting identical CSG slots: CSG 6 protm_suspend_size"),
    (_corrupt(0x1000 + 0xA0 * 2 + 0x00, 1), "Expecting identical CSG slots: CSG 2 features"),
    (_corrupt(0x1000 + 0x40 + 0x0C, CS_FEATURES ^ 1), "Expecting identical CS slots: CS 0.1 features"),
    (_corrupt(0x1000 + 0xA0 * 4 + 0x04, 0x08000000), "Invalid group interface input VA"),
    (_corrupt(0x1000 + 0xA0 * 5 + 0x40 + 3 * 0x0C + 8, 0), "Invalid stream interface output VA"),
], ids=["version0", "glb-input-out", "glb-output-low", "glb-output-crosses-end", "group_num-2",
        "group_num-32", "stream_num-7", "csg-suspend", "csg-protm", "csg-features", "cs-features",
        "csg-input", "cs-output"])
def test_validation_failures(img: bytearray, match: str) -> None:
    with pytest.raises(HardwareFault, match=match) as exc:
        discover_interface(section(img))
    assert exc.value.errno == errno.EINVAL  # panthor_fw_init_ifaces returns -EINVAL


def test_smaller_shared_section_bounds_translation() -> None:
    # The 2024-05 firmware has a 48 KiB shared section (§2.7): CS output blocks up to 0x0400B1FF fit.
    info = discover_interface(section(shared_image(), size=0xC000)).info
    assert info.shared_size == 0xC000
    with pytest.raises(HardwareFault, match="Invalid stream interface output VA"):
        discover_interface(section(shared_image(), size=0xB000))


# -- accessors ----------------------------------------------------------------------------------------------


def test_translation_is_limited_to_the_shared_section() -> None:
    sh = section(shared_image())
    assert sh.offset_of(0x04002000, 4, "x") == 0x2000
    for va, size in ((0x03FFFFFC, 4), (0x04010000, 4), (0x0400FFFC, 8), (-4, 4)):
        with pytest.raises(BadAddress, match="outside the shared section"):
            sh.offset_of(va, size, "x")


def test_block_views_refuse_host_writes_to_firmware_blocks() -> None:
    sh = section(shared_image())
    control = BlockView(sh, SHARED, b.GlbControl, "GLB control")
    output = BlockView(sh, SHARED + 0x6000, b.GlbOutput, "GLB output")
    inp = BlockView(sh, SHARED + 0x2000, b.GlbInput, "GLB input")
    assert control.read("group_num") == 8
    for view, field in ((control, "version"), (output, "ack")):
        with pytest.raises(AccessDenied, match="firmware-owned"):
            view.write(field, 1)
    assert sh.buffer.read(0x6000, 4) == bytes(4)
    inp.write("core_en_mask", 0x50005)
    assert struct.unpack_from("<Q", sh.buffer.read(0x2018, 8))[0] == 0x50005
    with pytest.raises(InvalidArgument, match="does not fit 32 bits"):
        inp.write("req", 1 << 32)
    with pytest.raises(InvalidArgument, match="no field"):
        inp.read("nope")


def test_toggle_update_and_events_follow_panthor() -> None:
    sh = section(shared_image())
    inp = BlockView(sh, SHARED + 0x2000, b.GlbInput, "GLB input")
    out = BlockView(sh, SHARED + 0x6000, b.GlbOutput, "GLB output")
    pair = ReqAck(inp, out)
    sh.buffer.write(0x6000, struct.pack("<I", 0x0000_0104))  # FW-side ACK (test plays the firmware)
    inp.write("req", 0x0000_0400)
    pair.toggle(0x10E)  # REQ bits = NOT ACK bits on the mask, others untouched
    assert pair.req == (0x400 & ~0x10E) | (~0x104 & 0x10E)  # = 0x40A
    assert pair.pending(0x10E) == 0x10E
    pair.update(0, 0x400)
    assert pair.req == 0x00A
    sh.buffer.write(0x6000, struct.pack("<I", 0x0400_000A))  # FW acks everything, raises IDLE (bit 26)
    assert pair.acked(0x7FF)
    assert pair.ack_events(b.GLB_EVT_MASK) == 1 << 26
    assert pair.req == 0x0400_000A and pair.pending(0xFFFFFFFF) == 0
