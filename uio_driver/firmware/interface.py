"""The CSF host interface over the shared section's CPU mapping: discovery, validation and accessors.

Facts: shared/reference/csf-firmware-and-interfaces.md §3.4 (every interface access goes through the
shared section's CPU mapping; an MCU VA found in a control block is only usable if it falls inside
that section), §3.6 (discovery and validation after boot, panthor ``panthor_fw_init_ifaces``), §4-§6
(block layouts, in :mod:`.blocks`) and §7.1 (the request/acknowledge helpers
``panthor_fw_toggle_reqs`` / ``panthor_fw_update_reqs``).

:func:`discover_interface` reads the control blocks the firmware filled in at boot, applies every
check of §3.6 and returns a :class:`CsfInterface`: one :class:`GlbIface`, ``group_num``
:class:`CsgIface` objects each holding ``stream_num`` :class:`CsIface` objects, and the
:class:`CsfInfo` panthor reports. Block accessors refuse writes to control and output blocks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..errors import AccessDenied, BadAddress, FirmwareInterfaceError, InvalidArgument
from ..platform.dma import DmaBuffer
from .blocks import (
    CS_CONTROL_OFFSET,
    CS_FEATURES_SCOREBOARDS_MASK,
    CS_FEATURES_SCOREBOARDS_SHIFT,
    CS_FEATURES_WORK_REGS_MASK,
    CSG_CONTROL_OFFSET,
    BlockKind,
    CsControl,
    CsgControl,
    CsgInput,
    CsgOutput,
    CsInput,
    CsOutput,
    GlbControl,
    GlbInput,
    GlbOutput,
    Layout,
    layout_size,
)
from .container import InterfaceVersion

#: panthor MIN_CSGS / MAX_CSGS, MIN_CS_PER_CSG / MAX_CS_PER_CSG (§3.6).
MIN_CSGS, MAX_CSGS = 3, 31
MIN_CS_PER_CSG, MAX_CS_PER_CSG = 8, 32
#: panthor CSF_UNPRESERVED_REG_COUNT (§3.6 step 6).
UNPRESERVED_REG_COUNT = 4
#: MAX_CSG_PRIO + 1: panthor schedules at most 16 slots so each can get a distinct priority (§3.6 step 9).
MAX_CSG_SLOTS_SCHEDULED = 16
#: instr_features exists only from interface 1.1.0 (§3.6 step 7).
INSTR_FEATURES_MIN_VERSION = (1, 1, 0)

_U32, _U64 = 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF


class SharedSection:
    """CPU view of the shared interface section: MCU VA → CPU translation, limited to this section.

    Args:
        buffer: the DMA buffer backing the section (its CPU mapping is kept for the driver's life).
        va_start: MCU VA of the section's first byte (0x04000000 on every known firmware).
        size: bytes of MCU VA the section spans (default: the whole buffer).

    Raises:
        InvalidArgument: ``size`` larger than the buffer or not a multiple of 8.
    """

    def __init__(self, buffer: DmaBuffer, va_start: int, size: int | None = None) -> None:
        size = buffer.size if size is None else size
        if size <= 0 or size > buffer.size or size % 8:
            raise InvalidArgument(f"shared section size {size:#x} does not fit its {buffer.size:#x}-byte "
                                  "buffer")
        self.buffer = buffer
        self.va_start = va_start
        self.size = size
        self._u32 = buffer.array(np.uint32, count=size // 4)
        self._u64 = buffer.array(np.uint64, count=size // 8)

    @property
    def va_end(self) -> int:
        return self.va_start + self.size

    def contains(self, va: int, size: int = 1) -> bool:
        """True when ``[va, va + size)`` lies inside the section."""
        return self.va_start <= va and va + size <= self.va_end

    def offset_of(self, va: int, size: int, what: str) -> int:
        """Byte offset of MCU VA ``va`` in the section (the §3.4 translation).

        Raises:
            BadAddress: ``[va, va + size)`` is not inside the section (panthor: ``Invalid ... VA``).
        """
        if isinstance(va, bool) or not isinstance(va, int) or not self.contains(va, size):
            shown = f"{va:#x}" if isinstance(va, int) else repr(va)
            raise BadAddress(f"{what}: MCU VA {shown} (+{size:#x}) is outside the shared section "
                             f"{self.va_start:#x}-{self.va_end:#x}",
                             value=va if isinstance(va, int) else None)
        return va - self.va_start

    # -- word access (offsets relative to the section) ------------------------------------------------

    def read(self, offset: int, size: int) -> int:
        """Aligned 32- or 64-bit load at byte ``offset``."""
        if size == 4:
            return int(self._u32[offset >> 2])
        return int(self._u64[offset >> 3])

    def write(self, offset: int, size: int, value: int) -> None:
        """Aligned 32- or 64-bit store at byte ``offset`` (``value`` already range-checked)."""
        if size == 4:
            self._u32[offset >> 2] = value
        else:
            self._u64[offset >> 3] = value

    def read_bytes(self, va: int, size: int) -> bytes:
        """Copy ``size`` bytes at MCU VA ``va`` out of the section.

        Raises:
            BadAddress: the range is not inside the section.
        """
        return self.buffer.read(self.offset_of(va, size, "shared-section read"), size)

    def sync_for_device(self) -> None:
        """Make CPU writes to the section visible to the MCU."""
        self.buffer.sync_for_device(0, self.size)


class BlockView:
    """One interface block at an MCU VA inside the shared section, accessed field by field.

    Args:
        shared: the shared section.
        va: MCU VA of the block (must translate, whole block included, §3.4).
        layout: the block's layout (:mod:`.blocks`); its ``KIND`` decides whether writes are allowed.
        name: label for messages (``"CSG 2 input"``).

    Raises:
        BadAddress: the block is not inside the shared section.
    """

    def __init__(self, shared: SharedSection, va: int, layout: type[Layout], name: str) -> None:
        self.shared = shared
        self.layout = layout
        self.name = name
        self.va = va
        self.offset = shared.offset_of(va, layout_size(layout), f"{name} block")
        self._spans = layout.fields()

    def _span(self, name: str) -> tuple[int, int]:
        try:
            off, size = self._spans[name]
        except KeyError:
            known = ", ".join(self._spans)
            raise InvalidArgument(f"{self.name} has no field {name!r} (fields: {known})") from None
        return self.offset + off, size

    def read(self, name: str) -> int:
        """Current value of field ``name``."""
        off, size = self._span(name)
        return self.shared.read(off, size)

    def write(self, name: str, value: int) -> None:
        """Store ``value`` into field ``name`` of an input block.

        Raises:
            AccessDenied: the block is a control or output block (the host never writes those, §4).
            InvalidArgument: unknown field, or ``value`` does not fit it.
        """
        off, size = self._span(name)
        if self.layout.KIND is not BlockKind.INPUT:
            raise AccessDenied(f"{self.name} is a firmware-owned {self.layout.KIND.value} block: the host "
                               f"never writes it (field {name} at MCU VA {self.va + off - self.offset:#x})")
        limit = _U32 if size == 4 else _U64
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
            raise InvalidArgument(f"{self.name}.{name}: value {value!r} does not fit {size * 8} bits")
        self.shared.write(off, size, value)

    def snapshot(self) -> dict[str, int]:
        """Every named field's current value."""
        return {name: self.read(name) for name in self._spans}


class ReqAck:
    """A REQ word in an input block and its ACK twin in an output block (§7.1).

    Args:
        req: the input block holding REQ; ack: the output block holding ACK.
        req_field, ack_field: field names (``"req"``/``"ack"``, or ``"doorbell_req"``/``"doorbell_ack"``).
    """

    def __init__(self, req: BlockView, ack: BlockView, req_field: str = "req",
                 ack_field: str = "ack") -> None:
        self.req_block, self.ack_block = req, ack
        self.req_field, self.ack_field = req_field, ack_field

    @property
    def req(self) -> int:
        return self.req_block.read(self.req_field)

    @property
    def ack(self) -> int:
        return self.ack_block.read(self.ack_field)

    def toggle(self, mask: int) -> None:
        """``panthor_fw_toggle_reqs``: REQ bits in ``mask`` = NOT ACK bits, other REQ bits untouched."""
        req, ack = self.req, self.ack
        self.req_block.write(self.req_field, (req & ~mask) | (~ack & mask & _U32))

    def update(self, value: int, mask: int) -> None:
        """``panthor_fw_update_reqs``: REQ bits in ``mask`` = ``value``'s bits."""
        req = self.req
        self.req_block.write(self.req_field, (req & ~mask & _U32) | (value & mask))

    def pending(self, mask: int) -> int:
        """Bits of ``mask`` where REQ differs from ACK (outstanding requests, or raised events)."""
        return (self.req ^ self.ack) & mask

    def acked(self, mask: int) -> bool:
        """True when ACK equals REQ on every bit of ``mask`` (panthor's wait-acks condition)."""
        return not self.pending(mask)

    def ack_events(self, mask: int) -> int:
        """Acknowledge raised events in ``mask`` by copying ACK bits into REQ; returns the events."""
        events = self.pending(mask)
        if events:
            self.update(self.ack, events)
        return events


# -- per-interface objects ----------------------------------------------------------------------------------


@dataclass
class CsIface:
    """CS slot ``index`` of CSG ``group``: control, input and output blocks, and its REQ/ACK pair."""

    group: int
    index: int
    control: BlockView
    input: BlockView
    output: BlockView
    req: ReqAck = field(init=False)

    def __post_init__(self) -> None:
        self.req = ReqAck(self.input, self.output)


@dataclass
class CsgIface:
    """CSG slot ``index``: its blocks, REQ/ACK, CS doorbells (doorbell_req/ack) and CS IRQs."""

    index: int
    control: BlockView
    input: BlockView
    output: BlockView
    streams: list[CsIface]
    req: ReqAck = field(init=False)
    doorbell: ReqAck = field(init=False)

    def __post_init__(self) -> None:
        self.req = ReqAck(self.input, self.output)
        self.doorbell = ReqAck(self.input, self.output, "doorbell_req", "doorbell_ack")

    def toggle_cs_doorbells(self, mask: int) -> None:
        """Toggle CSG doorbell_req bits of the CS slots in ``mask`` (the FW re-reads those CS inputs)."""
        self.doorbell.toggle(mask)

    def ack_cs_irqs(self) -> int:
        """``cs_irq_ack = cs_irq_req`` (whole word, before looking at CS events, §7.1); returns the CS
        slots whose interrupt was pending."""
        req, ack = self.output.read("cs_irq_req"), self.input.read("cs_irq_ack")
        self.input.write("cs_irq_ack", req)
        return req ^ ack


@dataclass
class GlbIface:
    """The global interface: control, input and output blocks, REQ/ACK and the CSG doorbell vector."""

    control: BlockView
    input: BlockView
    output: BlockView
    req: ReqAck = field(init=False)
    doorbell: ReqAck = field(init=False)

    def __post_init__(self) -> None:
        self.req = ReqAck(self.input, self.output)
        self.doorbell = ReqAck(self.input, self.output, "doorbell_req", "doorbell_ack")


@dataclass(frozen=True)
class CsfInfo:
    """What discovery found: panthor's ``drm_panthor_csif_info`` values plus the interface facts.

    Attributes:
        csg_slot_count: CSG slots the scheduler uses, ``min(group_num, 31, 16)``.
        cs_slot_count: CS slots per CSG (``stream_num``).
        cs_reg_count: ``(CS features & 0xFF) + 1``.
        scoreboard_slot_count: ``(CS features >> 8) & 0xFF``.
        unpreserved_cs_reg_count: 4 (panthor's constant).
        version: the GLB interface version.
        features: GLB control ``features``.
        instr_features: GLB ``instr_features`` (None below interface 1.1.0, where it is not read).
        group_num / group_stride / stream_num / stream_stride: layout of the control blocks.
        suspend_size / protm_suspend_size: per-CSG suspend buffer sizes.
        cs_features: the (identical) CS control ``features`` word.
        prfcnt_size: GLB control ``prfcnt_size``.
        shared_va / shared_size: the shared section.
        git_sha: BUILD_INFO git sha of the loaded image (None if absent).
    """

    csg_slot_count: int
    cs_slot_count: int
    cs_reg_count: int
    scoreboard_slot_count: int
    unpreserved_cs_reg_count: int
    version: InterfaceVersion
    features: int
    instr_features: int | None
    group_num: int
    group_stride: int
    stream_num: int
    stream_stride: int
    suspend_size: int
    protm_suspend_size: int
    cs_features: int
    prfcnt_size: int
    shared_va: int
    shared_size: int
    git_sha: str | None = None

    @property
    def log_line(self) -> str:
        """panthor's line: ``CSF FW using interface v1.5.0, Features 0x0 Instrumentation features 0x71``."""
        return (f"CSF FW using interface {self.version.text}, Features {self.features:#x} "
                f"Instrumentation features {self.instr_features or 0:#x}")

    def csif_info(self) -> dict[str, int]:
        """The five ``drm_panthor_csif_info`` fields (DEV_QUERY_CSIF_INFO)."""
        return {"csg_slot_count": self.csg_slot_count, "cs_slot_count": self.cs_slot_count,
                "cs_reg_count": self.cs_reg_count, "scoreboard_slot_count": self.scoreboard_slot_count,
                "unpreserved_cs_reg_count": self.unpreserved_cs_reg_count}

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["version"] = self.version.to_dict()
        d["log_line"] = self.log_line
        return d


@dataclass
class CsfInterface:
    """The discovered interface: GLB, every CSG (with its CSs) and the :class:`CsfInfo`."""

    shared: SharedSection
    glb: GlbIface
    groups: list[CsgIface]
    info: CsfInfo

    def csg(self, index: int) -> CsgIface:
        """CSG slot ``index``.

        Raises:
            InvalidArgument: no such slot.
        """
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(self.groups):
            raise InvalidArgument(f"CSG slot {index!r} outside 0..{len(self.groups) - 1}")
        return self.groups[index]


# -- discovery and validation (§3.6) ------------------------------------------------------------------


def _invalid(message: str, **kw: Any) -> FirmwareInterfaceError:
    # panthor fails probe with -EINVAL for every one of these (panthor_fw_init_ifaces).
    return FirmwareInterfaceError(message, **kw)


def _block(shared: SharedSection, va: int, layout: type[Layout], name: str, what: str) -> BlockView:
    try:
        return BlockView(shared, va, layout, name)
    except BadAddress as err:
        raise _invalid(f"Invalid {what} interface {layout.KIND.value} VA {va:#x}: {err.message}",
                       value=va) from None


def _range_check(name: str, value: int, lo: int, hi: int, register: str) -> None:
    if not lo <= value <= hi:
        raise _invalid(f"{name} = {value} outside {lo}..{hi} (panthor refuses the firmware)",
                       register=register, value=value)


def _discover_cs(shared: SharedSection, csg_control: BlockView, g: int, s: int, stride: int) -> CsIface:
    control = _block(shared, csg_control.va + CS_CONTROL_OFFSET + s * stride, CsControl,
                     f"CS {g}.{s} control", "stream control")
    return CsIface(g, s, control,
                   _block(shared, control.read("input_va"), CsInput, f"CS {g}.{s} input", "stream"),
                   _block(shared, control.read("output_va"), CsOutput, f"CS {g}.{s} output", "stream"))


def _discover_csg(shared: SharedSection, g: int, group_stride: int) -> CsgIface:
    control = _block(shared, shared.va_start + CSG_CONTROL_OFFSET + g * group_stride, CsgControl,
                     f"CSG {g} control", "group control")
    stream_num = control.read("stream_num")
    _range_check(f"CSG {g} stream_num", stream_num, MIN_CS_PER_CSG, MAX_CS_PER_CSG, "CSG_CONTROL.stream_num")
    stride = control.read("stream_stride")
    streams = [_discover_cs(shared, control, g, s, stride) for s in range(stream_num)]
    return CsgIface(g, control, _block(shared, control.read("input_va"), CsgInput, f"CSG {g} input", "group"),
                    _block(shared, control.read("output_va"), CsgOutput, f"CSG {g} output", "group"), streams)


_CSG_SAME = ("features", "suspend_size", "protm_suspend_size", "stream_num")


def _check_identical(groups: list[CsgIface]) -> None:
    """Every CSG like CSG 0, every CS like CS 0.0 (§3.6 steps 4-5)."""
    first = groups[0]
    for csg in groups[1:]:
        for name in _CSG_SAME:
            a, b = first.control.read(name), csg.control.read(name)
            if a != b:
                raise _invalid(f"Expecting identical CSG slots: CSG {csg.index} {name} {b:#x} differs from "
                               f"CSG 0's {a:#x}", register=f"CSG_CONTROL.{name}", value=b)
    features = first.streams[0].control.read("features")
    for csg in groups:
        for cs in csg.streams:
            other = cs.control.read("features")
            if other != features:
                raise _invalid(f"Expecting identical CS slots: CS {csg.index}.{cs.index} features {other:#x} "
                               f"differs from CS 0.0's {features:#x}", register="CS_CONTROL.features",
                               value=other)


def discover_interface(shared: SharedSection, *, git_sha: str | None = None) -> CsfInterface:
    """Read and validate the interface the firmware published at boot (§3.6).

    Args:
        shared: the shared section (its CPU mapping).
        git_sha: the image's BUILD_INFO sha, copied into :class:`CsfInfo`.

    Returns:
        The interface; nothing is written.

    Raises:
        HardwareFault: (EINVAL, like panthor) version 0, an input/output VA outside the shared section,
            group_num outside 3..31, stream_num outside 8..32, CSG slots or CS slots not identical.
    """
    base = shared.va_start
    control = _block(shared, base, GlbControl, "GLB control", "global control")
    version = InterfaceVersion.from_raw(control.read("version"))
    if version.raw == 0:
        raise _invalid("Firmware version is 0. Firmware may have failed to boot",
                       register="GLB_CONTROL.version", value=0)
    glb = GlbIface(control, _block(shared, control.read("input_va"), GlbInput, "GLB input", "global"),
                   _block(shared, control.read("output_va"), GlbOutput, "GLB output", "global"))
    group_num = control.read("group_num")
    _range_check("group_num", group_num, MIN_CSGS, MAX_CSGS, "GLB_CONTROL.group_num")
    group_stride = control.read("group_stride")
    groups = [_discover_csg(shared, g, group_stride) for g in range(group_num)]
    _check_identical(groups)
    csg0, cs00 = groups[0].control, groups[0].streams[0].control
    cs_features = cs00.read("features")
    has_instr = version.as_tuple >= INSTR_FEATURES_MIN_VERSION
    info = CsfInfo(
        csg_slot_count=min(group_num, MAX_CSGS, MAX_CSG_SLOTS_SCHEDULED),
        cs_slot_count=csg0.read("stream_num"),
        cs_reg_count=(cs_features & CS_FEATURES_WORK_REGS_MASK) + 1,
        scoreboard_slot_count=(cs_features & CS_FEATURES_SCOREBOARDS_MASK) >> CS_FEATURES_SCOREBOARDS_SHIFT,
        unpreserved_cs_reg_count=UNPRESERVED_REG_COUNT,
        version=version,
        features=control.read("features"),
        instr_features=control.read("instr_features") if has_instr else None,
        group_num=group_num, group_stride=group_stride,
        stream_num=csg0.read("stream_num"), stream_stride=csg0.read("stream_stride"),
        suspend_size=csg0.read("suspend_size"), protm_suspend_size=csg0.read("protm_suspend_size"),
        cs_features=cs_features, prfcnt_size=control.read("prfcnt_size"),
        shared_va=shared.va_start, shared_size=shared.size, git_sha=git_sha,
    )
    return CsfInterface(shared, glb, groups, info)
