"""The CSF host interface as the simulated MCU sees it: block layouts, REQ/ACK bits, the interface map.

Written from ``shared/reference/csf-firmware-and-interfaces.md`` §2.8 and §4-§6 (never from the
driver's ``uio_driver.firmware``/``csf``, so each side checks the other):

* control blocks (read-only for the host, written by the firmware at boot): GLB control at the start
  of the shared section (§4.1), CSG control *g* at ``0x1000 + g*group_stride`` (§5.1), CS control
  *s* at ``CSG control + 0x40 + s*stream_stride`` (§6.1);
* input blocks (host → firmware) and output blocks (firmware → host) wherever the control blocks
  point (§4.2/§4.3, §5.2/§5.3, §6.2/§6.3);
* the REQ/ACK bit layouts of §4.4, §5.4 and §6.4 and the user I/O page of §6.7.

Layouts are ``ctypes`` little-endian structures with explicit reserved fields, so ``Cls.field.offset``
is the reference offset (checked field by field in tests/test_sim_mcu_iface.py).
:func:`parse_interface` reads the control-block image the driver loaded into the shared section
(never an invented layout) and returns the :class:`InterfaceMap` the MCU model works with.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..errors import FirmwareFormatError

u32 = ctypes.c_uint32
u64 = ctypes.c_uint64

#: MCU VA of the shared interface section (panthor CSF_MCU_SHARED_REGION_START, §1.11, §3.4).
SHARED_SECTION_VA = 0x04000000
#: CSG control block 0 relative to the shared section (panthor CSF_GROUP_CONTROL_OFFSET, §4.1).
CSG_CONTROL_OFFSET = 0x1000
#: CS control block 0 relative to its CSG control block (panthor CSF_STREAM_CONTROL_OFFSET, §5.1).
CS_CONTROL_OFFSET = 0x40
#: Valid CSG slot counts the MCU model accepts: JOB_IRQ bits 0..30 are CSG slots, bit 31 is GLB (§2).
MAX_GROUPS = 31
#: Valid CS slot counts per CSG (panthor MAX_CS_PER_CSG, §3.6).
MAX_STREAMS = 32


class _Block(ctypes.LittleEndianStructure):
    """Base of every interface block: ``field_at`` names the field holding a byte offset."""

    @classmethod
    def field_at(cls, offset: int) -> str:
        """Name of the field covering byte ``offset`` of the block (``"+0x.."`` if none)."""
        for name, *_ in cls._fields_:
            desc = getattr(cls, name)
            if desc.offset <= offset < desc.offset + desc.size:
                return name
        return f"+{offset:#x}"


# -- GLB (§4) ----------------------------------------------------------------------------------------


class GlbControl(_Block):
    """GLB control block (§4.1), at the start of the shared section."""

    _fields_ = [("version", u32), ("features", u32), ("input_va", u32), ("output_va", u32),
                ("group_num", u32), ("group_stride", u32), ("prfcnt_size", u32), ("instr_features", u32),
                ("prfcnt_features", u32)]


class GlbInput(_Block):
    """GLB input block (§4.2), up to idle_timer (what panthor and a v1.x firmware use)."""

    _fields_ = [("req", u32), ("ack_irq_mask", u32), ("doorbell_req", u32), ("_res0c", u32),
                ("progress_timer", u32), ("poweroff_timer", u32), ("core_en_mask", u64), ("_res20", u32),
                ("perfcnt_as", u32), ("perfcnt_base", u64), ("perfcnt_extract", u32), ("_res34", u32 * 3),
                ("perfcnt_config", u32), ("perfcnt_csg_select", u32), ("perfcnt_fw_enable", u32),
                ("perfcnt_csg_enable", u32), ("perfcnt_csf_enable", u32), ("perfcnt_shader_enable", u32),
                ("perfcnt_tiler_enable", u32), ("perfcnt_mmu_l2_enable", u32), ("_res60", u32 * 8),
                ("idle_timer", u32)]


class GlbOutput(_Block):
    """GLB output block (§4.3)."""

    _fields_ = [("ack", u32), ("_res04", u32), ("doorbell_ack", u32), ("_res0c", u32),
                ("halt_status", u32), ("perfcnt_status", u32), ("perfcnt_insert", u32), ("_res1c", u32),
                ("fatal_info", u64)]


# -- CSG (§5) ----------------------------------------------------------------------------------------


class CsgControl(_Block):
    """CSG control block (§5.1)."""

    _fields_ = [("features", u32), ("input_va", u32), ("output_va", u32), ("suspend_size", u32),
                ("protm_suspend_size", u32), ("stream_num", u32), ("stream_stride", u32)]


class CsgInput(_Block):
    """CSG input block (§5.2), 32-bit endpoint_req form (interfaces below 4.0)."""

    _fields_ = [("req", u32), ("ack_irq_mask", u32), ("doorbell_req", u32), ("cs_irq_ack", u32),
                ("_res10", u32 * 4), ("allow_compute", u64), ("allow_fragment", u64), ("allow_other", u32),
                ("endpoint_req", u32), ("_res38", u32 * 2), ("suspend_buf", u64), ("protm_suspend_buf", u64),
                ("config", u32), ("iter_trace_config", u32)]


class CsgOutput(_Block):
    """CSG output block (§5.3)."""

    _fields_ = [("ack", u32), ("_res04", u32), ("doorbell_ack", u32), ("cs_irq_req", u32),
                ("status_endpoint_current", u32), ("status_endpoint_req", u32), ("status_state", u32),
                ("resource_dep", u32)]


# -- CS (§6) -----------------------------------------------------------------------------------------


class CsControl(_Block):
    """CS control block (§6.1)."""

    _fields_ = [("features", u32), ("input_va", u32), ("output_va", u32)]


class CsInput(_Block):
    """CS input block, CS_KERNEL_INPUT (§6.2)."""

    _fields_ = [("req", u32), ("config", u32), ("_res08", u32), ("ack_irq_mask", u32),
                ("ringbuf_base", u64), ("ringbuf_size", u32), ("_res1c", u32), ("heap_start", u64),
                ("heap_end", u64), ("ringbuf_input", u64), ("ringbuf_output", u64), ("instr_config", u32),
                ("instrbuf_size", u32), ("instrbuf_base", u64), ("instrbuf_offset_ptr", u64)]


class CsOutput(_Block):
    """CS output block, CS_KERNEL_OUTPUT (§6.3)."""

    _fields_ = [("ack", u32), ("_res04", u32 * 15), ("status_cmd_ptr", u64), ("status_wait", u32),
                ("status_req_resource", u32), ("status_wait_sync_ptr", u64), ("status_wait_sync_value", u32),
                ("status_scoreboards", u32), ("status_blocked_reason", u32),
                ("status_wait_sync_value_hi", u32), ("_res68", u32 * 6), ("fault", u32), ("fatal", u32),
                ("fault_info", u64), ("fatal_info", u64), ("_res98", u32 * 2), ("fault_trace", u32 * 4),
                ("fatal_trace", u32 * 4), ("heap_vt_start", u32), ("heap_vt_end", u32), ("_resc8", u32),
                ("heap_frag_end", u32), ("heap_address", u64)]


# -- REQ/ACK bits --------------------------------------------------------------------------------------

# GLB_REQ / GLB_ACK (§4.4).
GLB_HALT = 1 << 0
GLB_CFG_PROGRESS_TIMER = 1 << 1
GLB_CFG_ALLOC_EN = 1 << 2
GLB_CFG_POWEROFF_TIMER = 1 << 3
GLB_PROTM_ENTER = 1 << 4
GLB_PERFCNT_EN = 1 << 5
GLB_PERFCNT_SAMPLE = 1 << 6
GLB_COUNTER_EN = 1 << 7
GLB_PING = 1 << 8
GLB_FWCFG_UPDATE = 1 << 9
GLB_IDLE_EN = 1 << 10
GLB_ITER_TRACE_ENABLE = 1 << 11
GLB_SLEEP = 1 << 12
GLB_IDLE = 1 << 26
GLB_DBG_CSF = 1 << 30
#: Toggle requests the firmware applies and acknowledges by flipping ACK (§9.3 list).
GLB_TOGGLE_MASK = (GLB_CFG_PROGRESS_TIMER | GLB_CFG_ALLOC_EN | GLB_CFG_POWEROFF_TIMER | GLB_PROTM_ENTER
                   | GLB_PERFCNT_SAMPLE | GLB_PING | GLB_FWCFG_UPDATE | GLB_DBG_CSF)
#: Value bits the firmware mirrors into ACK (IDLE_EN per §4.4; the counter enables answered with an
#: ACK only, §9.3 "optional").
GLB_MIRROR_MASK = GLB_IDLE_EN | GLB_PERFCNT_EN | GLB_COUNTER_EN
#: Every host-request bit of GLB_REQ (toggles and values, HALT included); bits 20..27 and 31 are
#: firmware events the host acknowledges by copying ACK into REQ without a doorbell (§7.1).
GLB_REQUEST_MASK = 0x0001FFFF | GLB_DBG_CSF
GLB_EVENT_MASK = 0x0FF00000 | 1 << 31
GLB_BIT_NAMES = {0: "HALT", 1: "CFG_PROGRESS_TIMER", 2: "CFG_ALLOC_EN", 3: "CFG_POWEROFF_TIMER",
                 4: "PROTM_ENTER", 5: "PERFCNT_EN", 6: "PERFCNT_SAMPLE", 7: "COUNTER_EN", 8: "PING",
                 9: "FWCFG_UPDATE", 10: "IDLE_EN", 11: "ITER_TRACE_ENABLE", 12: "SLEEP", 15: "YIELD_ENABLE",
                 16: "CFG_EVICTION_TIMER", 20: "INACTIVE_COMPUTE", 21: "INACTIVE_FRAGMENT",
                 22: "INACTIVE_TILER", 23: "PROTM_EXIT", 24: "PERFCNT_THRESHOLD", 25: "PERFCNT_OVERFLOW",
                 26: "IDLE", 27: "FATAL", 30: "DBG_CSF", 31: "DBG_HOST"}
#: Timer words (idle_timer, poweroff_timer): value 30:0 in units of 1024 ticks, bit 31 source (§4.2).
TIMER_SOURCE_GPU_CYCLES = 1 << 31
TIMER_VALUE_MASK = 0x7FFFFFFF
TIMER_TICKS_PER_UNIT = 1024
#: GLB output halt_status values (panthor enum, §4.3).
HALT_STATUS_OK = 0
HALT_STATUS_PANIC = 0x4E
HALT_STATUS_WATCHDOG = 0x4F

# CSG_REQ / CSG_ACK (§5.4).
CSG_STATE_MASK = 0x7
CSG_STATE_TERMINATE, CSG_STATE_START, CSG_STATE_SUSPEND, CSG_STATE_RESUME = 0, 1, 2, 3
CSG_STATE_NAMES = {0: "TERMINATE", 1: "START", 2: "SUSPEND", 3: "RESUME"}
CSG_EP_CFG = 1 << 4
CSG_STATUS_UPDATE = 1 << 5
CSG_SYNC_UPDATE = 1 << 28
CSG_IDLE = 1 << 29
CSG_DOORBELL = 1 << 30
CSG_PROGRESS_TIMER_EVENT = 1 << 31
CSG_TOGGLE_MASK = CSG_EP_CFG | CSG_STATUS_UPDATE
CSG_REQUEST_MASK = CSG_STATE_MASK | CSG_TOGGLE_MASK
CSG_EVENT_MASK = CSG_SYNC_UPDATE | CSG_IDLE | CSG_PROGRESS_TIMER_EVENT
CSG_STATUS_STATE_IDLE = 1 << 0
# endpoint_req fields (§5.5).
EP_COMPUTE_SHIFT, EP_FRAGMENT_SHIFT, EP_TILER_SHIFT = 0, 8, 16
EP_EXCLUSIVE_COMPUTE = 1 << 20
EP_EXCLUSIVE_FRAGMENT = 1 << 21
EP_PRIORITY_SHIFT = 28

# CS_REQ / CS_ACK (§6.4).
CS_STATE_MASK = 0x7
CS_STATE_STOP, CS_STATE_START = 0, 1
CS_EXTRACT_EVENT = 1 << 4
CS_IDLE_SYNC_WAIT = 1 << 8
CS_IDLE_PROTM_PEND = 1 << 9
CS_IDLE_EMPTY = 1 << 10
CS_IDLE_RESOURCE_REQ = 1 << 11
CS_IDLE_SHARED_SB_DEC = 1 << 12
CS_TILER_OOM = 1 << 26
CS_PROTM_PEND = 1 << 27
CS_FATAL = 1 << 30
CS_FAULT = 1 << 31
CS_IDLE_MASK = (CS_IDLE_SYNC_WAIT | CS_IDLE_PROTM_PEND | CS_IDLE_EMPTY | CS_IDLE_RESOURCE_REQ
                | CS_IDLE_SHARED_SB_DEC)
CS_REQUEST_MASK = CS_STATE_MASK | CS_EXTRACT_EVENT | CS_IDLE_MASK
CS_EVENT_MASK = CS_TILER_OOM | CS_PROTM_PEND | CS_FATAL | CS_FAULT
# CS_CONFIG (§6.2): 3:0 priority, 15:8 user doorbell.
CS_CONFIG_DOORBELL_SHIFT = 8
# CS features (§6.1).
CS_FEATURES_COMPUTE = 1 << 16
CS_FEATURES_FRAGMENT = 1 << 17
CS_FEATURES_TILER = 1 << 18

# User I/O pages of a queue (§6.7): input page (host) and output page (firmware).
USER_INPUT_INSERT = 0x00
USER_INPUT_EXTRACT_INIT = 0x08
USER_OUTPUT_EXTRACT = 0x00
USER_OUTPUT_ACTIVE = 0x08


def bits_of(mask: int) -> Iterator[int]:
    """Indices of the set bits of ``mask``, lowest first."""
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


def glb_bit_names(mask: int) -> str:
    """``"PING|CFG_ALLOC_EN"`` style names of the GLB bits in ``mask``."""
    return "|".join(GLB_BIT_NAMES.get(b, f"bit{b}") for b in bits_of(mask)) or "none"


# -- the interface map ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class StreamMap:
    """Where CS slot ``index`` of a group keeps its blocks (MCU VAs)."""

    index: int
    control_va: int
    input_va: int
    output_va: int


@dataclass(frozen=True)
class GroupMap:
    """Where CSG slot ``index`` keeps its blocks, and its CS slots."""

    index: int
    control_va: int
    input_va: int
    output_va: int
    stream_num: int
    stream_stride: int
    streams: tuple[StreamMap, ...]


@dataclass(frozen=True)
class InterfaceMap:
    """The interface layout read from the loaded shared-section image (§2.8, §4.1, §5.1, §6.1).

    Attributes:
        shared_va/shared_size: the shared section.
        glb_input_va/glb_output_va: GLB blocks. group_num/group_stride: CSG slots.
        groups: one :class:`GroupMap` per CSG slot.
    """

    shared_va: int
    shared_size: int
    glb_input_va: int
    glb_output_va: int
    group_num: int
    group_stride: int
    groups: tuple[GroupMap, ...]

    def fw_owned(self) -> list[tuple[int, int, str, type[_Block]]]:
        """Every firmware-owned block as ``(va, size, label, layout)``: control and output blocks."""
        out: list[tuple[int, int, str, type[_Block]]] = [
            (self.shared_va, ctypes.sizeof(GlbControl), "GLB control", GlbControl),
            (self.glb_output_va, ctypes.sizeof(GlbOutput), "GLB output", GlbOutput)]
        for g in self.groups:
            out.append((g.control_va, ctypes.sizeof(CsgControl), f"CSG{g.index} control", CsgControl))
            out.append((g.output_va, ctypes.sizeof(CsgOutput), f"CSG{g.index} output", CsgOutput))
            for s in g.streams:
                out.append((s.control_va, ctypes.sizeof(CsControl), f"CS{g.index}.{s.index} control",
                            CsControl))
                out.append((s.output_va, ctypes.sizeof(CsOutput), f"CS{g.index}.{s.index} output", CsOutput))
        return out

    def extent(self) -> int:
        """Bytes from the start of the shared section to the end of the last interface block."""
        ends = [self.glb_input_va + ctypes.sizeof(GlbInput)]
        ends += [va + size for va, size, _, _ in self.fw_owned()]
        for g in self.groups:
            ends.append(g.input_va + ctypes.sizeof(CsgInput))
            ends += [s.input_va + ctypes.sizeof(CsInput) for s in g.streams]
        return max(ends) - self.shared_va

    def input_range(self) -> tuple[int, int]:
        """``(start, end)`` byte offsets from the shared section of the host-written input blocks."""
        spans = [(self.glb_input_va, ctypes.sizeof(GlbInput))]
        for g in self.groups:
            spans.append((g.input_va, ctypes.sizeof(CsgInput)))
            spans += [(st.input_va, ctypes.sizeof(CsInput)) for st in g.streams]
        return (min(va for va, _ in spans) - self.shared_va,
                max(va + n for va, n in spans) - self.shared_va)

    def owned_mask(self) -> np.ndarray:
        """Boolean mask over :meth:`extent` bytes: True where the firmware owns the byte."""
        mask = np.zeros(self.extent(), dtype=bool)
        for va, size, _, _ in self.fw_owned():
            mask[va - self.shared_va:va - self.shared_va + size] = True
        return mask

    def describe(self, va: int) -> str:
        """``"CSG3 output field ack"`` for a firmware-owned ``va``."""
        for base, size, label, layout in self.fw_owned():
            if base <= va < base + size:
                return f"{label} field {layout.field_at(va - base)}"
        return f"MCU VA {va:#x}"


def parse_interface(image: bytes, shared_va: int = SHARED_SECTION_VA) -> InterfaceMap:
    """Decode the control blocks of a shared-section image (the whole section, ``len(image)`` bytes).

    The checks are the MCU model's own sanity checks (the driver's §3.6 checks are stricter): every
    block lies inside the section and is 4-byte aligned, 1..31 CSG slots, 1..32 CS slots per CSG,
    strides at least the size of the control block they step over.

    Raises:
        FirmwareFormatError: the image does not hold a usable control-block layout; ``offset`` is
            the byte offset in the section of the offending field.
    """
    if len(image) < CSG_CONTROL_OFFSET:
        raise FirmwareFormatError(f"shared section of {len(image):#x} bytes is too small for the control "
                                  "blocks", offset=0)
    glb = GlbControl.from_buffer_copy(image, 0)
    _check_count("GLB control group_num", glb.group_num, MAX_GROUPS, GlbControl.group_num.offset)
    _check_block(image, shared_va, glb.input_va, GlbInput, "GLB input", GlbControl.input_va.offset)
    _check_block(image, shared_va, glb.output_va, GlbOutput, "GLB output", GlbControl.output_va.offset)
    csg_size = ctypes.sizeof(CsgControl)
    if glb.group_stride < csg_size:
        raise FirmwareFormatError(f"shared section: GLB control group_stride {glb.group_stride:#x} is "
                                  f"smaller than a CSG control block ({csg_size:#x})",
                                  offset=GlbControl.group_stride.offset)
    groups = []
    for g in range(glb.group_num):
        control = CSG_CONTROL_OFFSET + g * glb.group_stride
        _check_block(image, shared_va, shared_va + control, CsgControl, f"CSG{g} control",
                     GlbControl.group_stride.offset)
        groups.append(_parse_group(image, shared_va, g, control))
    return InterfaceMap(shared_va, len(image), glb.input_va, glb.output_va, glb.group_num, glb.group_stride,
                        tuple(groups))


def _parse_group(image: bytes, shared_va: int, g: int, control: int) -> GroupMap:
    csg = CsgControl.from_buffer_copy(image, control)
    _check_count(f"CSG{g} control stream_num", csg.stream_num, MAX_STREAMS,
                 control + CsgControl.stream_num.offset)
    _check_block(image, shared_va, csg.input_va, CsgInput, f"CSG{g} input",
                 control + CsgControl.input_va.offset)
    _check_block(image, shared_va, csg.output_va, CsgOutput, f"CSG{g} output",
                 control + CsgControl.output_va.offset)
    if csg.stream_stride < ctypes.sizeof(CsControl):
        raise FirmwareFormatError(f"shared section: CSG{g} control stream_stride {csg.stream_stride:#x} is "
                                  "smaller than a CS control block (0xc)",
                                  offset=control + CsgControl.stream_stride.offset)
    streams = []
    for s in range(csg.stream_num):
        cs_off = control + CS_CONTROL_OFFSET + s * csg.stream_stride
        _check_block(image, shared_va, shared_va + cs_off, CsControl, f"CS{g}.{s} control",
                     control + CsgControl.stream_stride.offset)
        cs = CsControl.from_buffer_copy(image, cs_off)
        _check_block(image, shared_va, cs.input_va, CsInput, f"CS{g}.{s} input",
                     cs_off + CsControl.input_va.offset)
        _check_block(image, shared_va, cs.output_va, CsOutput, f"CS{g}.{s} output",
                     cs_off + CsControl.output_va.offset)
        streams.append(StreamMap(s, shared_va + cs_off, cs.input_va, cs.output_va))
    return GroupMap(g, shared_va + control, csg.input_va, csg.output_va, csg.stream_num, csg.stream_stride,
                    tuple(streams))


def _check_count(what: str, value: int, limit: int, offset: int) -> None:
    if not 1 <= value <= limit:
        raise FirmwareFormatError(f"shared section: {what} = {value} is outside 1..{limit}", offset=offset)


def _check_block(image: bytes, shared_va: int, va: int, layout: type[_Block], what: str, offset: int) -> None:
    size = ctypes.sizeof(layout)
    if va % 4 or not shared_va <= va or va + size > shared_va + len(image):
        raise FirmwareFormatError(
            f"shared section: {what} block at MCU VA {va:#x} (+{size:#x}) is not an aligned range inside "
            f"the shared section {shared_va:#x}+{len(image):#x}", offset=offset, value=va)


# -- suspend record ------------------------------------------------------------------------------------

#: Magic of the simulator's suspend record ("MUIOSUSP", little-endian); the real record format is
#: firmware-private (§5.1 only gives its size), so the model defines its own.
SUSPEND_MAGIC = int.from_bytes(b"MUIOSUSP", "little")
SUSPEND_VERSION = 1
SUSPEND_STREAM_RUNNING = 1 << 0


class SuspendHeader(ctypes.LittleEndianStructure):
    """Start of a suspend record written to ``suspend_buf`` on CSG SUSPEND (model format)."""

    _fields_ = [("magic", u64), ("version", u32), ("slot", u32), ("stream_num", u32), ("flags", u32),
                ("time_ns", u64)]


class SuspendStream(ctypes.LittleEndianStructure):
    """Per-CS part of a suspend record: where the stream was and its status fields (model format)."""

    _fields_ = [("flags", u32), ("req_state", u32), ("extract", u64), ("cmd_ptr", u64), ("status_wait", u32),
                ("status_req_resource", u32), ("wait_sync_ptr", u64), ("wait_sync_value", u32),
                ("scoreboards", u32), ("blocked_reason", u32), ("wait_sync_value_hi", u32), ("_pad", u32 * 2)]


def suspend_record_size(stream_num: int) -> int:
    """Bytes of a suspend record for ``stream_num`` CS slots."""
    return ctypes.sizeof(SuspendHeader) + stream_num * ctypes.sizeof(SuspendStream)
