"""CSF host-interface block layouts and request/acknowledge bits, as data.

Every layout is a little-endian ``ctypes`` structure with explicit reserved fields, so
``Layout.field.offset`` is the reference offset. Source: shared/reference/csf-firmware-and-interfaces.md
§4 (GLB control/input/output, GLB_REQ/ACK bits), §5 (CSG blocks and CSG_REQ/ACK bits, endpoint_req),
§6 (CS blocks, CS_REQ/ACK bits, status_wait, blocked reasons) and §6.7 (user I/O pages); panthor
``panthor_fw.h`` for the masks panthor uses.

Three kinds of block (§4, §7.1): the **control** block is written by the firmware at boot and is
read-only for the host; the **input** block is host → firmware; the **output** block is firmware →
host. The host never writes control or output blocks.
"""

from __future__ import annotations

import ctypes
import enum
from functools import cache

u32 = ctypes.c_uint32
u64 = ctypes.c_uint64

#: CSG control block 0 relative to the shared section (panthor CSF_GROUP_CONTROL_OFFSET, §4.1).
CSG_CONTROL_OFFSET = 0x1000
#: CS control block 0 relative to its CSG control block (panthor CSF_STREAM_CONTROL_OFFSET, §5.1).
CS_CONTROL_OFFSET = 0x40


class BlockKind(enum.StrEnum):
    """Who writes a block (§4, §7.1)."""

    CONTROL = "control"  # firmware at boot; read-only for the host
    INPUT = "input"  # host → firmware
    OUTPUT = "output"  # firmware → host


class Layout(ctypes.LittleEndianStructure):
    """Base of every interface block layout (``_pack_ = 4``: the size ends at the last field)."""

    _pack_ = 4
    KIND: BlockKind = BlockKind.INPUT
    NAME = "?"

    @classmethod
    def fields(cls) -> dict[str, tuple[int, int]]:
        """``{field: (offset, size)}`` of the named (non-reserved) fields."""
        return _fields_of(cls)

    @classmethod
    def span(cls, field: str) -> tuple[int, int]:
        """``(offset, size)`` of ``field``; KeyError for an unknown one."""
        return _fields_of(cls)[field]


@cache
def _fields_of(cls: type[Layout]) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for name, *_ in cls._fields_:
        if not name.startswith("_"):
            desc = getattr(cls, name)
            out[name] = (desc.offset, desc.size)
    return out


# -- GLB (§4) -------------------------------------------------------------------------------------------


class GlbControl(Layout):
    """GLB control block at the start of the shared section (§4.1)."""

    KIND, NAME = BlockKind.CONTROL, "GLB control"
    _fields_ = [("version", u32), ("features", u32), ("input_va", u32), ("output_va", u32),
                ("group_num", u32), ("group_stride", u32), ("prfcnt_size", u32), ("instr_features", u32),
                ("prfcnt_features", u32)]


class GlbInput(Layout):
    """GLB input block (§4.2) up to idle_timer, where panthor's structure stops."""

    KIND, NAME = BlockKind.INPUT, "GLB input"
    _fields_ = [("req", u32), ("ack_irq_mask", u32), ("doorbell_req", u32), ("_res0c", u32),
                ("progress_timer", u32), ("poweroff_timer", u32), ("core_en_mask", u64), ("_res20", u32),
                ("perfcnt_as", u32), ("perfcnt_base", u64), ("perfcnt_extract", u32), ("_res34", u32 * 3),
                ("perfcnt_config", u32), ("perfcnt_csg_select", u32), ("perfcnt_fw_enable", u32),
                ("perfcnt_csg_enable", u32), ("perfcnt_csf_enable", u32), ("perfcnt_shader_enable", u32),
                ("perfcnt_tiler_enable", u32), ("perfcnt_mmu_l2_enable", u32), ("_res60", u32 * 8),
                ("idle_timer", u32)]


class GlbOutput(Layout):
    """GLB output block (§4.3); ``fatal_info`` is kbase's (newer firmware)."""

    KIND, NAME = BlockKind.OUTPUT, "GLB output"
    _fields_ = [("ack", u32), ("_res04", u32), ("doorbell_ack", u32), ("_res0c", u32), ("halt_status", u32),
                ("perfcnt_status", u32), ("perfcnt_insert", u32), ("_res1c", u32), ("fatal_info", u64)]


class GlbReq(enum.IntFlag):
    """GLB_REQ / GLB_ACK / GLB_ACK_IRQ_MASK bits with panthor's names (§4.4)."""

    HALT = 1 << 0  # value (0→1 edge); completion is MCU_STATUS = HALT, never an ACK
    CFG_PROGRESS_TIMER = 1 << 1  # toggle
    CFG_ALLOC_EN = 1 << 2  # toggle
    CFG_POWEROFF_TIMER = 1 << 3  # toggle
    PROTM_ENTER = 1 << 4  # toggle
    PERFCNT_EN = 1 << 5
    PERFCNT_SAMPLE = 1 << 6  # toggle
    COUNTER_EN = 1 << 7
    PING = 1 << 8  # toggle
    FWCFG_UPDATE = 1 << 9  # toggle
    IDLE_EN = 1 << 10  # value, mirrored into ACK
    SLEEP = 1 << 12
    INACTIVE_COMPUTE = 1 << 20  # events from here
    INACTIVE_FRAGMENT = 1 << 21
    INACTIVE_TILER = 1 << 22
    PROTM_EXIT = 1 << 23
    PERFCNT_THRESHOLD = 1 << 24
    PERFCNT_OVERFLOW = 1 << 25
    IDLE = 1 << 26
    DBG_CSF = 1 << 30
    DBG_HOST = 1 << 31


#: panthor GLB_REQ_MASK: bits 10:0, the only ones ``panthor_fw_glb_wait_acks`` accepts (HALT excluded there).
GLB_REQ_MASK = 0x7FF
#: panthor GLB_EVT_MASK: the event bits 26:20 scanned in the GLB IRQ path.
GLB_EVT_MASK = 0x07F00000
#: Toggle-request bits that can be waited for through GLB_ACK (§4.4 "toggle").
GLB_TOGGLE_REQS = (GlbReq.CFG_PROGRESS_TIMER | GlbReq.CFG_ALLOC_EN | GlbReq.CFG_POWEROFF_TIMER
                   | GlbReq.PROTM_ENTER | GlbReq.PERFCNT_SAMPLE | GlbReq.PING | GlbReq.FWCFG_UPDATE)
#: Value bits the firmware mirrors into ACK.
GLB_VALUE_REQS = GlbReq.IDLE_EN | GlbReq.PERFCNT_EN | GlbReq.COUNTER_EN
#: panthor's GLB ack_irq_mask (§3.7): 0x0400050E.
GLB_ACK_IRQ_MASK_PANTHOR = (GlbReq.CFG_ALLOC_EN | GlbReq.PING | GlbReq.CFG_PROGRESS_TIMER
                            | GlbReq.CFG_POWEROFF_TIMER | GlbReq.IDLE_EN | GlbReq.IDLE)

#: GLB timer words (poweroff_timer, idle_timer; §4.2, §3.7): value 30:0 in units of 1024 ticks, bit 31
#: selects the GPU cycle counter instead of the system timestamp.
GLB_TIMER_VALUE_MASK = 0x7FFFFFFF
GLB_TIMER_SOURCE_GPU_COUNTER = 1 << 31
GLB_TIMER_TICKS_PER_UNIT = 1024

#: halt_status values (panthor enum, §4.3).
HALT_STATUS = {0: "OK", 0x4E: "halted on panic", 0x4F: "halted on watchdog expiration"}


# -- CSG (§5) -------------------------------------------------------------------------------------------


class CsgControl(Layout):
    """CSG control block (§5.1) at shared + 0x1000 + g·group_stride."""

    KIND, NAME = BlockKind.CONTROL, "CSG control"
    _fields_ = [("features", u32), ("input_va", u32), ("output_va", u32), ("suspend_size", u32),
                ("protm_suspend_size", u32), ("stream_num", u32), ("stream_stride", u32)]


class CsgInput(Layout):
    """CSG input block (§5.2), 32-bit endpoint_req form (interfaces below 4.0, i.e. the G610's)."""

    KIND, NAME = BlockKind.INPUT, "CSG input"
    _fields_ = [("req", u32), ("ack_irq_mask", u32), ("doorbell_req", u32), ("cs_irq_ack", u32),
                ("_res10", u32 * 4), ("allow_compute", u64), ("allow_fragment", u64), ("allow_other", u32),
                ("endpoint_req", u32), ("_res38", u32 * 2), ("suspend_buf", u64), ("protm_suspend_buf", u64),
                ("config", u32), ("iter_trace_config", u32)]


class CsgOutput(Layout):
    """CSG output block (§5.3)."""

    KIND, NAME = BlockKind.OUTPUT, "CSG output"
    _fields_ = [("ack", u32), ("_res04", u32), ("doorbell_ack", u32), ("cs_irq_req", u32),
                ("status_endpoint_current", u32), ("status_endpoint_req", u32), ("status_state", u32),
                ("resource_dep", u32)]


class CsgState(enum.IntEnum):
    """CSG_REQ/ACK STATE (bits 2:0, §5.4)."""

    TERMINATE = 0
    START = 1
    SUSPEND = 2
    RESUME = 3


class CsgReq(enum.IntFlag):
    """CSG_REQ / CSG_ACK bits (§5.4)."""

    STATE_MASK = 0x7
    EP_CFG = 1 << 4
    STATUS_UPDATE = 1 << 5
    SYNC_UPDATE = 1 << 28
    IDLE = 1 << 29
    DOORBELL = 1 << 30
    PROGRESS_TIMER_EVENT = 1 << 31


#: panthor CSG_REQ_MASK and CSG_EVT_MASK (§5.4).
CSG_REQ_MASK = CsgReq.STATE_MASK | CsgReq.EP_CFG | CsgReq.STATUS_UPDATE
CSG_EVT_MASK = CsgReq.SYNC_UPDATE | CsgReq.IDLE | CsgReq.PROGRESS_TIMER_EVENT
#: CSG status_state bit 0 (§5.3).
CSG_STATUS_STATE_IS_IDLE = 1 << 0


def endpoint_req(compute: int, fragment: int, tiler: int, priority: int, *,
                 exclusive_compute: bool = False, exclusive_fragment: bool = False) -> int:
    """Pack the 32-bit CSG endpoint_req (§5.5): compute 7:0, fragment 15:8, tiler 19:16, priority 31:28.

    Raises:
        ValueError: a count or the priority does not fit its field (callers turn it into InvalidArgument).
    """
    fields = (("compute", compute, 0xFF), ("fragment", fragment, 0xFF), ("tiler", tiler, 0xF),
              ("priority", priority, 0xF))
    for name, value, limit in fields:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
            raise ValueError(f"endpoint_req {name} {value!r} outside 0..{limit}")
    return (compute | fragment << 8 | tiler << 16 | int(exclusive_compute) << 20
            | int(exclusive_fragment) << 21 | priority << 28)


# -- CS (§6) --------------------------------------------------------------------------------------------


class CsControl(Layout):
    """CS control block (§6.1) at CSG control + 0x40 + s·stream_stride."""

    KIND, NAME = BlockKind.CONTROL, "CS control"
    _fields_ = [("features", u32), ("input_va", u32), ("output_va", u32)]


class CsInput(Layout):
    """CS input block, CS_KERNEL_INPUT (§6.2)."""

    KIND, NAME = BlockKind.INPUT, "CS input"
    _fields_ = [("req", u32), ("config", u32), ("_res08", u32), ("ack_irq_mask", u32), ("ringbuf_base", u64),
                ("ringbuf_size", u32), ("_res1c", u32), ("heap_start", u64), ("heap_end", u64),
                ("ringbuf_input", u64), ("ringbuf_output", u64), ("instr_config", u32),
                ("instrbuf_size", u32), ("instrbuf_base", u64), ("instrbuf_offset_ptr", u64)]


class CsOutput(Layout):
    """CS output block, CS_KERNEL_OUTPUT (§6.3)."""

    KIND, NAME = BlockKind.OUTPUT, "CS output"
    _fields_ = [("ack", u32), ("_res04", u32 * 15), ("status_cmd_ptr", u64), ("status_wait", u32),
                ("status_req_resource", u32), ("status_wait_sync_ptr", u64), ("status_wait_sync_value", u32),
                ("status_scoreboards", u32), ("status_blocked_reason", u32),
                ("status_wait_sync_value_hi", u32),
                ("_res68", u32 * 6), ("fault", u32), ("fatal", u32), ("fault_info", u64), ("fatal_info", u64),
                ("_res98", u32 * 10), ("heap_vt_start", u32), ("heap_vt_end", u32), ("_resc8", u32),
                ("heap_frag_end", u32), ("heap_address", u64)]


class CsState(enum.IntEnum):
    """CS_REQ/ACK STATE (bits 2:0, §6.4)."""

    STOP = 0
    START = 1


class CsReq(enum.IntFlag):
    """CS_REQ / CS_ACK bits (§6.4)."""

    STATE_MASK = 0x7
    EXTRACT_EVENT = 1 << 4
    IDLE_SYNC_WAIT = 1 << 8
    IDLE_PROTM_PEND = 1 << 9
    IDLE_EMPTY = 1 << 10
    IDLE_RESOURCE_REQ = 1 << 11
    TILER_OOM = 1 << 26
    PROTM_PEND = 1 << 27
    FATAL = 1 << 30
    FAULT = 1 << 31


#: panthor CS_REQ_MASK and CS_EVT_MASK (§6.4).
CS_REQ_MASK = (CsReq.STATE_MASK | CsReq.EXTRACT_EVENT | CsReq.IDLE_SYNC_WAIT | CsReq.IDLE_PROTM_PEND
               | CsReq.IDLE_EMPTY | CsReq.IDLE_RESOURCE_REQ)
CS_EVT_MASK = CsReq.TILER_OOM | CsReq.PROTM_PEND | CsReq.FATAL | CsReq.FAULT


def cs_config(priority: int, doorbell: int) -> int:
    """CS input ``config`` (§6.2): PRIORITY 3:0, USER_DOORBELL 15:8.

    Raises:
        ValueError: a value does not fit its field.
    """
    if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= 0xF:
        raise ValueError(f"CS priority {priority!r} outside 0..15")
    if isinstance(doorbell, bool) or not isinstance(doorbell, int) or not 0 <= doorbell <= 0xFF:
        raise ValueError(f"CS doorbell {doorbell!r} outside 0..255")
    return priority | doorbell << 8


class CsBlockedReason(enum.IntEnum):
    """status_blocked_reason 3:0 (§6.5)."""

    UNBLOCKED = 0
    SB_WAIT = 1
    PROGRESS_WAIT = 2
    SYNC_WAIT = 3
    DEFERRED = 4
    RESOURCE = 5
    FLUSH = 6


#: status_wait bits (§6.5).
CS_STATUS_WAIT_SB_MASK = 0xFFFF
CS_STATUS_WAIT_SYNC_COND_SHIFT = 24
CS_STATUS_WAIT_SYNC_COND_MASK = 0xF << CS_STATUS_WAIT_SYNC_COND_SHIFT
CS_STATUS_WAIT_PROGRESS = 1 << 28
CS_STATUS_WAIT_PROTM_PEND = 1 << 29
CS_STATUS_WAIT_SYNC_64B = 1 << 30
CS_STATUS_WAIT_SYNC = 1 << 31

#: CS control features (§6.1): register count − 1 in 7:0, scoreboard slots in 15:8, capability bits.
CS_FEATURES_WORK_REGS_MASK = 0xFF
CS_FEATURES_SCOREBOARDS_SHIFT = 8
CS_FEATURES_SCOREBOARDS_MASK = 0xFF << CS_FEATURES_SCOREBOARDS_SHIFT
CS_FEATURES_COMPUTE = 1 << 16
CS_FEATURES_FRAGMENT = 1 << 17
CS_FEATURES_TILER = 1 << 18

# -- user I/O pages (§6.7) --------------------------------------------------------------------------------


class RingInputPage(Layout):
    """Page 0 of a queue's user I/O object: host-written (§6.7)."""

    KIND, NAME = BlockKind.INPUT, "ring input page"
    _fields_ = [("insert", u64), ("extract", u64)]


class RingOutputPage(Layout):
    """Page 1 of a queue's user I/O object: firmware-written (§6.7)."""

    KIND, NAME = BlockKind.OUTPUT, "ring output page"
    _fields_ = [("extract", u64), ("active", u32)]


def bit_names(value: int, flags: type[enum.IntFlag]) -> str:
    """``"PING|CFG_ALLOC_EN"`` for the set bits of ``value`` (unknown bits as ``bitN``)."""
    names = []
    for bit in range(32):
        mask = 1 << bit
        if value & mask:
            member = next((m for m in flags if m.value == mask), None)
            names.append(member.name if member is not None and member.name else f"bit{bit}")
    return "|".join(names) or "none"


def layout_size(layout: type[Layout]) -> int:
    """Bytes a layout spans (its last field's end)."""
    return ctypes.sizeof(layout)
