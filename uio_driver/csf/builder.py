"""``CsBuilder``: emit CS instruction streams with register, scoreboard and label checks.

The builder sits on :func:`.isa.encode` and adds what the encoding alone cannot know: the size of
the CS register file (``cs_reg_count``, 96 on the G610) and the number of scoreboard entries
(``scoreboard_slot_count``, 8), so ``r96`` or a wait on entry 9 is refused when emitted rather than
faulting on the GPU. Branch targets are :class:`Label` objects; forward references are patched when
the label is bound (Mesa ``cs_builder.h`` ``cs_set_label``: offset = target - branch - 1).

Every method validates first and appends last: a refused instruction leaves the builder unchanged.

Example:
    >>> cs = CsBuilder()
    >>> cs.move48(92, 0x10000).move32(94, 64).call(92, 94).pad(8)
    CsBuilder(8 instructions, 96 registers)
    >>> len(cs.to_bytes())
    64
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidArgument
from .isa import (
    G610_CS_REG_COUNT,
    G610_SB_SLOT_COUNT,
    CsCondition,
    CsExceptionType,
    CsFlushMode,
    CsHeapOperation,
    CsOtherFlushMode,
    CsState,
    CsSyncScope,
    FieldKind,
    InstrDef,
    TaskAxis,
    TileRenderOrder,
    encode,
    lookup,
    words_to_bytes,
)

_MAX_REGS = 256  # register fields are 8 bits wide (v10.xml)
_MAX_SB = 16  # wait masks are at most 16 bits wide (cs-isa-and-uapi.md §1.7)
_BRANCH_MIN, _BRANCH_MAX = -(1 << 15), (1 << 15) - 1  # BRANCH offset is a signed 16-bit field


@dataclass(eq=False)
class Label:
    """A branch target inside one builder. Create with :meth:`CsBuilder.label`."""

    name: str
    owner: int = field(repr=False)
    target: int | None = None
    pending: list[int] = field(default_factory=list, repr=False)

    @property
    def bound(self) -> bool:
        return self.target is not None


def _as_int(value: Any) -> int | None:
    """The integer value of ``value`` (Python or NumPy integer), None for anything else."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        return None
    return int(value)


def _check_count(what: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise InvalidArgument(f"{what} must be an integer in [{lo}, {hi}], got {value!r}")
    return value


class CsBuilder:
    """Builds a list of CS instruction words.

    Args:
        reg_count: registers in the CS register file (``csif_info.cs_reg_count``).
        sb_slot_count: scoreboard entries (``csif_info.scoreboard_slot_count``).

    Raises:
        InvalidArgument: ``reg_count`` outside [2, 256] or ``sb_slot_count`` outside [1, 16].
    """

    def __init__(self, reg_count: int = G610_CS_REG_COUNT, sb_slot_count: int = G610_SB_SLOT_COUNT) -> None:
        self.reg_count = _check_count("reg_count", reg_count, 2, _MAX_REGS)
        self.sb_slot_count = _check_count("sb_slot_count", sb_slot_count, 1, _MAX_SB)
        self._words: list[int] = []
        self._labels: list[Label] = []

    def __len__(self) -> int:
        return len(self._words)

    def __repr__(self) -> str:
        return f"CsBuilder({len(self)} instructions, {self.reg_count} registers)"

    # --- core -------------------------------------------------------------------------------------

    def _outside(self, what: str, first: int, last: int, value: int) -> InvalidArgument:
        regs = f"r{first}" if first == last else f"r{first}..r{last}"
        return InvalidArgument(f"{what}: {regs} outside the {self.reg_count}-register CS file", value=value)

    def _check_registers(self, defn: InstrDef, fields: dict[str, Any]) -> None:
        # Values that are not integers are left for encode() to refuse with its own message.
        for f in defn.fields:
            reg = _as_int(fields.get(f.name, f.default))
            if f.kind not in (FieldKind.REG, FieldKind.REG64) or reg is None:
                continue
            last = reg + (1 if f.kind is FieldKind.REG64 else 0)
            if last >= self.reg_count:
                name = f"d{reg}" if f.kind is FieldKind.REG64 else f"r{reg}"
                raise self._outside(f"{defn.mnemonic}.{f.name} {name}", reg, last, reg)
        # Register ranges implied by a base register plus a mask (LDM/STM) or a count (TRACE_POINT).
        base = _as_int(fields.get("base_register"))
        if base is None:
            return
        multiple = defn.mnemonic in ("LOAD_MULTIPLE", "STORE_MULTIPLE")
        mask = _as_int(fields.get("mask", 0)) if multiple else None
        if mask is not None and mask > 0 and base + mask.bit_length() - 1 >= self.reg_count:
            raise self._outside(f"{defn.mnemonic} mask {mask:#x}", base, base + mask.bit_length() - 1, mask)
        count = _as_int(fields.get("register_count", 0)) if defn.mnemonic == "TRACE_POINT" else None
        if count is not None and count > 0 and base + count > self.reg_count:
            raise self._outside("TRACE_POINT", base, base + count - 1, count)

    def _check_scoreboards(self, defn: InstrDef, fields: dict[str, Any]) -> None:
        mask = _as_int(fields.get("wait_mask", 0))
        if mask is not None and mask >= 1 << self.sb_slot_count:
            raise InvalidArgument(
                f"{defn.mnemonic}.wait_mask {mask:#x} names scoreboard entries beyond the "
                f"{self.sb_slot_count} this CS has", value=mask,
            )
        for name in ("signal_slot", "endpoint_entry", "other_entry"):
            slot = _as_int(fields.get(name, 0))
            if slot is not None and slot >= self.sb_slot_count:
                raise InvalidArgument(
                    f"{defn.mnemonic}.{name} {slot} is not one of the "
                    f"{self.sb_slot_count} scoreboard entries",
                    value=slot,
                )

    def emit(self, mnemonic: str, **fields: Any) -> CsBuilder:
        """Append any instruction by mnemonic (see :func:`.isa.encode`), after the builder's checks.

        Raises:
            InvalidArgument: as :func:`.isa.encode`, or a register/scoreboard entry the CS lacks.
        """
        self._words.append(self._prepare(mnemonic, **fields))
        return self

    def _prepare(self, mnemonic: str, **fields: Any) -> int:
        defn = lookup(mnemonic)
        self._check_registers(defn, fields)
        self._check_scoreboards(defn, fields)
        return encode(defn.mnemonic, **fields)

    def words(self) -> list[int]:
        """The instruction words emitted so far (a copy).

        Raises:
            InvalidArgument: a branch refers to a label that was never bound.
        """
        dangling = [lbl.name for lbl in self._labels if lbl.pending]
        if dangling:
            raise InvalidArgument(f"branch to unbound label(s): {', '.join(dangling)}")
        return list(self._words)

    def to_bytes(self) -> bytes:
        """The stream as little-endian 64-bit words, ready to copy into GPU memory."""
        return words_to_bytes(self.words())

    def pad(self, multiple: int = 8) -> CsBuilder:
        """Append NOPs until the length is a multiple of ``multiple`` instructions (8 = 64 bytes)."""
        _check_count("pad multiple", multiple, 1, 1 << 16)
        self._words.extend([encode("NOP")] * (-len(self._words) % multiple))
        return self

    # --- labels and control flow -----------------------------------------------------------------

    def label(self, name: str | None = None) -> Label:
        """Create an unbound label; bind it with :meth:`bind` before or after branching to it."""
        lbl = Label(name or f"L{len(self._labels)}", owner=id(self))
        self._labels.append(lbl)
        return lbl

    def _own(self, label: Label) -> Label:
        if not isinstance(label, Label) or label.owner != id(self) or label not in self._labels:
            raise InvalidArgument(f"label {getattr(label, 'name', label)!r} does not belong to this builder")
        return label

    def bind(self, label: Label) -> CsBuilder:
        """Bind ``label`` to the next instruction's position and patch forward branches to it.

        Raises:
            InvalidArgument: already bound, foreign label, or a patched offset overflows 16 bits.
        """
        self._own(label)
        if label.bound:
            raise InvalidArgument(f"label {label.name!r} is already bound to instruction {label.target}")
        target = len(self._words)
        patches = {idx: target - idx - 1 for idx in label.pending}
        for idx, off in patches.items():
            if off > _BRANCH_MAX:
                raise InvalidArgument(
                    f"branch at instruction {idx} to {label.name!r}: offset {off} exceeds 16 bits"
                )
        for idx, off in patches.items():
            self._words[idx] = (self._words[idx] & ~0xFFFF) | (off & 0xFFFF)
        label.target, label.pending = target, []
        return self

    def branch(self, target: Label | int, cond: CsCondition | int | str = CsCondition.ALWAYS,
               value_reg: int = 0) -> CsBuilder:
        """BRANCH to a label (or by a raw signed instruction offset) if ``cond(r[value_reg])`` holds.

        The offset counts instructions from the one after the branch (cs-isa-and-uapi.md §1.4).
        """
        if not isinstance(target, Label):
            return self.emit("BRANCH", value=value_reg, condition=cond, offset=target)
        self._own(target)
        here = len(self._words)
        offset = 0 if target.target is None else target.target - here - 1
        if offset < _BRANCH_MIN:
            raise InvalidArgument(f"branch to {target.name!r}: offset {offset} exceeds 16 bits")
        self.emit("BRANCH", value=value_reg, condition=cond, offset=offset)
        if target.target is None:
            target.pending.append(here)
        return self

    def call(self, addr_reg: int, size_reg: int) -> CsBuilder:
        """CALL the stream at d[addr_reg], r[size_reg] bytes long; returns after it."""
        return self.emit("CALL", address=addr_reg, length=size_reg)

    def jump(self, addr_reg: int, size_reg: int) -> CsBuilder:
        """JUMP to the stream at d[addr_reg], r[size_reg] bytes long (no return)."""
        return self.emit("JUMP", address=addr_reg, length=size_reg)

    def set_exception_handler(self, addr_reg: int, size_reg: int,
                              exception_type: CsExceptionType | int = CsExceptionType.TILER_OOM) -> CsBuilder:
        """Install the stream d[addr_reg]/r[size_reg] as the handler for ``exception_type``."""
        return self.emit("SET_EXCEPTION_HANDLER", address=addr_reg, length=size_reg,
                         exception_type=exception_type)

    # --- moves and arithmetic ---------------------------------------------------------------------

    def nop(self) -> CsBuilder:
        return self.emit("NOP")

    def move48(self, reg: int, imm: int) -> CsBuilder:
        """MOVE48: d[reg] = imm (48-bit, zero-extended)."""
        return self.emit("MOVE48", destination=reg, immediate=imm)

    def move32(self, reg: int, imm: int) -> CsBuilder:
        """MOVE32: r[reg] = imm (32-bit)."""
        return self.emit("MOVE32", destination=reg, immediate=imm)

    def move64(self, reg: int, imm: int) -> CsBuilder:
        """d[reg] = imm for any 64-bit value: MOVE48, plus MOVE32 of the high word if it needs > 48 bits."""
        _check_count("move64 immediate", imm, 0, (1 << 64) - 1)
        if imm < 1 << 48:
            return self.move48(reg, imm)
        # Encode both before appending either, so a refusal changes nothing. MOVE48 zero-extends
        # into r[reg+1]; the MOVE32 then supplies the high word.
        low = self._prepare("MOVE48", destination=reg, immediate=imm & ((1 << 48) - 1))
        high = self._prepare("MOVE32", destination=reg + 1, immediate=imm >> 32)
        self._words.extend((low, high))
        return self

    def add_imm32(self, dst: int, src: int, imm: int) -> CsBuilder:
        """r[dst] = (r[src] + imm) mod 2**32, imm signed 32-bit."""
        return self.emit("ADD_IMMEDIATE32", destination=dst, source=src, immediate=imm)

    def add_imm64(self, dst: int, src: int, imm: int) -> CsBuilder:
        """d[dst] = d[src] + sign-extended imm (signed 32-bit)."""
        return self.emit("ADD_IMMEDIATE64", destination=dst, source=src, immediate=imm)

    def umin32(self, dst: int, src0: int, src1: int) -> CsBuilder:
        """r[dst] = min(r[src0], r[src1]), unsigned."""
        return self.emit("UMIN32", destination=dst, source_0=src0, source_1=src1)

    # --- memory -----------------------------------------------------------------------------------

    def load_multiple(self, base_reg: int, addr_reg: int, mask: int, offset: int = 0) -> CsBuilder:
        """For each set bit i of ``mask``: r[base_reg + i] = mem32[d[addr_reg] + offset + 4*i]."""
        return self.emit("LOAD_MULTIPLE", base_register=base_reg, address=addr_reg, mask=mask, offset=offset)

    def store_multiple(self, addr_reg: int, base_reg: int, mask: int, offset: int = 0) -> CsBuilder:
        """For each set bit i of ``mask``: mem32[d[addr_reg] + offset + 4*i] = r[base_reg + i]."""
        return self.emit("STORE_MULTIPLE", address=addr_reg, base_register=base_reg, mask=mask, offset=offset)

    def load32(self, dst: int, addr_reg: int, offset: int = 0) -> CsBuilder:
        return self.load_multiple(dst, addr_reg, 0x1, offset)

    def load64(self, dst: int, addr_reg: int, offset: int = 0) -> CsBuilder:
        self._even("load64 destination", dst)
        return self.load_multiple(dst, addr_reg, 0x3, offset)

    def store32(self, addr_reg: int, src_reg: int, offset: int = 0) -> CsBuilder:
        return self.store_multiple(addr_reg, src_reg, 0x1, offset)

    def store64(self, addr_reg: int, src_reg: int, offset: int = 0) -> CsBuilder:
        self._even("store64 source", src_reg)
        return self.store_multiple(addr_reg, src_reg, 0x3, offset)

    @staticmethod
    def _even(what: str, reg: Any) -> None:
        if isinstance(reg, int) and not isinstance(reg, bool) and reg % 2:
            raise InvalidArgument(f"{what} must be an even register (64-bit pair), got r{reg}", value=reg)

    def store_state(self, addr_reg: int, state: CsState | int | str, offset: int = 0, *,
                    wait_mask: int = 0, signal_slot: int = 0) -> CsBuilder:
        """Write the 64-bit ``state`` value (timestamp, cycle count...) to d[addr_reg] + offset."""
        return self.emit("STORE_STATE", address=addr_reg, state=state, offset=offset,
                         wait_mask=wait_mask, signal_slot=signal_slot)

    # --- synchronisation --------------------------------------------------------------------------

    def wait(self, sb_mask: int, *, progress_increment: bool = False) -> CsBuilder:
        """WAIT until every scoreboard entry in ``sb_mask`` is idle."""
        return self.emit("WAIT", wait_mask=sb_mask, progress_increment=progress_increment)

    def wait_all(self) -> CsBuilder:
        """WAIT on every scoreboard entry (panthor's GENMASK(sb_slot_count - 1, 0))."""
        return self.wait((1 << self.sb_slot_count) - 1)

    def set_sb_entry(self, endpoint: int, other: int) -> CsBuilder:
        return self.emit("SET_SB_ENTRY", endpoint_entry=endpoint, other_entry=other)

    def _sync(self, mnemonic: str, addr_reg: int, data_reg: int, error_propagate: bool,
              scope: CsSyncScope | int | str, wait_mask: int, signal_slot: int) -> CsBuilder:
        return self.emit(mnemonic, address=addr_reg, data=data_reg, error_propagate=error_propagate,
                         scope=scope, wait_mask=wait_mask, signal_slot=signal_slot)

    def sync_add32(self, addr_reg: int, data_reg: int, *, error_propagate: bool = False,
                   scope: CsSyncScope | int | str = CsSyncScope.SYSTEM, wait_mask: int = 0,
                   signal_slot: int = 0) -> CsBuilder:
        """mem32[d[addr_reg]] += r[data_reg] once ``wait_mask`` clears."""
        return self._sync("SYNC_ADD32", addr_reg, data_reg, error_propagate, scope, wait_mask, signal_slot)

    def sync_add64(self, addr_reg: int, data_reg: int, *, error_propagate: bool = False,
                   scope: CsSyncScope | int | str = CsSyncScope.SYSTEM, wait_mask: int = 0,
                   signal_slot: int = 0) -> CsBuilder:
        """mem64[d[addr_reg]] += d[data_reg] once ``wait_mask`` clears."""
        return self._sync("SYNC_ADD64", addr_reg, data_reg, error_propagate, scope, wait_mask, signal_slot)

    def sync_set32(self, addr_reg: int, data_reg: int, *, error_propagate: bool = False,
                   scope: CsSyncScope | int | str = CsSyncScope.SYSTEM, wait_mask: int = 0,
                   signal_slot: int = 0) -> CsBuilder:
        """mem32[d[addr_reg]] = r[data_reg] once ``wait_mask`` clears."""
        return self._sync("SYNC_SET32", addr_reg, data_reg, error_propagate, scope, wait_mask, signal_slot)

    def sync_set64(self, addr_reg: int, data_reg: int, *, error_propagate: bool = False,
                   scope: CsSyncScope | int | str = CsSyncScope.SYSTEM, wait_mask: int = 0,
                   signal_slot: int = 0) -> CsBuilder:
        """mem64[d[addr_reg]] = d[data_reg] once ``wait_mask`` clears."""
        return self._sync("SYNC_SET64", addr_reg, data_reg, error_propagate, scope, wait_mask, signal_slot)

    def sync_wait32(self, addr_reg: int, ref_reg: int, cond: CsCondition | int | str, *,
                    error_reject: bool = False) -> CsBuilder:
        """Block until mem32[d[addr_reg]] ``cond`` r[ref_reg] (LEQUAL or GREATER only)."""
        return self.emit("SYNC_WAIT32", address=addr_reg, data=ref_reg, condition=cond,
                         error_reject=error_reject)

    def sync_wait64(self, addr_reg: int, ref_reg: int, cond: CsCondition | int | str, *,
                    error_reject: bool = False) -> CsBuilder:
        """Block until mem64[d[addr_reg]] ``cond`` d[ref_reg] (LEQUAL or GREATER only)."""
        return self.emit("SYNC_WAIT64", address=addr_reg, data=ref_reg, condition=cond,
                         error_reject=error_reject)

    def flush_cache2(self, flush_id_reg: int, *,
                     l2: CsFlushMode | int | str = CsFlushMode.CLEAN_AND_INVALIDATE,
                     lsc: CsFlushMode | int | str = CsFlushMode.CLEAN_AND_INVALIDATE,
                     other: CsOtherFlushMode | int | str = CsOtherFlushMode.INVALIDATE,
                     wait_mask: int = 0, signal_slot: int = 0) -> CsBuilder:
        """Cache maintenance; r[flush_id_reg] holds a LATEST_FLUSH_ID sample (0 forces the flush)."""
        return self.emit("FLUSH_CACHE2", latest_flush_id=flush_id_reg, l2_flush_mode=l2, lsc_flush_mode=lsc,
                         other_flush_mode=other, wait_mask=wait_mask, signal_slot=signal_slot)

    def error_barrier(self) -> CsBuilder:
        """Leave the error state a faulting asynchronous operation put the stream in."""
        return self.emit("ERROR_BARRIER")

    def progress_wait(self, src_reg: int, queue: int) -> CsBuilder:
        return self.emit("PROGRESS_WAIT", source=src_reg, queue=queue)

    def progress_store(self, src_reg: int) -> CsBuilder:
        return self.emit("PROGRESS_STORE", source=src_reg)

    def progress_load(self, dst_reg: int) -> CsBuilder:
        return self.emit("PROGRESS_LOAD", destination=dst_reg)

    def prot_region(self, size_instrs: int) -> CsBuilder:
        """Begin a protected region of ``size_instrs`` instructions."""
        return self.emit("PROT_REGION", size=size_instrs)

    # --- work -------------------------------------------------------------------------------------

    def req_resource(self, *, compute: bool = False, fragment: bool = False, tiler: bool = False,
                     idvs: bool = False) -> CsBuilder:
        """Declare the endpoints the stream will use (all False releases them)."""
        return self.emit("REQ_RESOURCE", compute=compute, fragment=fragment, tiler=tiler, idvs=idvs)

    def run_compute(self, task_increment: int, task_axis: TaskAxis | int | str = TaskAxis.X, *,
                    srt: int = 0, spd: int = 0, tsd: int = 0, fau: int = 0,
                    progress_increment: bool = False) -> CsBuilder:
        """RUN_COMPUTE with descriptor sets selected from the staging registers (§1.5)."""
        return self.emit("RUN_COMPUTE", task_increment=task_increment, task_axis=task_axis,
                         srt_select=srt, spd_select=spd, tsd_select=tsd, fau_select=fau,
                         progress_increment=progress_increment)

    def run_compute_indirect(self, workgroups_per_task: int, *, srt: int = 0, spd: int = 0, tsd: int = 0,
                             fau: int = 0, progress_increment: bool = False) -> CsBuilder:
        return self.emit("RUN_COMPUTE_INDIRECT", workgroups_per_task=workgroups_per_task,
                         srt_select=srt, spd_select=spd, tsd_select=tsd, fau_select=fau,
                         progress_increment=progress_increment)

    def run_tiling(self, flags_override: int = 0, *, srt: int = 0, spd: int = 0, tsd: int = 0, fau: int = 0,
                   progress_increment: bool = False) -> CsBuilder:
        return self.emit("RUN_TILING", flags_override=flags_override, srt_select=srt, spd_select=spd,
                         tsd_select=tsd, fau_select=fau, progress_increment=progress_increment)

    def run_idvs(self, flags_override: int = 0, *, draw_id_reg: int | None = None, malloc_enable: bool = True,
                 progress_increment: bool = False, **selects: int) -> CsBuilder:
        """RUN_IDVS; ``selects`` are the one-bit ``varying_*_select``/``fragment_*_select`` fields."""
        return self.emit("RUN_IDVS", flags_override=flags_override, draw_id=draw_id_reg or 0,
                         draw_id_register_enable=draw_id_reg is not None, malloc_enable=malloc_enable,
                         progress_increment=progress_increment, **selects)

    def run_fragment(self, *, enable_tem: bool = False,
                     tile_order: TileRenderOrder | int | str = TileRenderOrder.Z_ORDER,
                     progress_increment: bool = False) -> CsBuilder:
        return self.emit("RUN_FRAGMENT", enable_tem=enable_tem, tile_order=tile_order,
                         progress_increment=progress_increment)

    def run_fullscreen(self, dcd_reg: int, flags_override: int = 0, *,
                       progress_increment: bool = False) -> CsBuilder:
        return self.emit("RUN_FULLSCREEN", dcd=dcd_reg, flags_override=flags_override,
                         progress_increment=progress_increment)

    def finish_tiling(self, *, progress_increment: bool = False) -> CsBuilder:
        return self.emit("FINISH_TILING", progress_increment=progress_increment)

    def finish_fragment(self, first_chunk_reg: int, last_chunk_reg: int, *, increment_frag_end: bool = True,
                        wait_mask: int = 0, signal_slot: int = 0) -> CsBuilder:
        """Return heap chunks d[first]..d[last] and optionally bump the fragment-completed counter."""
        return self.emit("FINISH_FRAGMENT", first_heap_chunk=first_chunk_reg, last_heap_chunk=last_chunk_reg,
                         increment_fragment_completed=increment_frag_end, wait_mask=wait_mask,
                         signal_slot=signal_slot)

    def heap_set(self, addr_reg: int) -> CsBuilder:
        """Use the tiler heap context at d[addr_reg] for following tiling work."""
        return self.emit("HEAP_SET", address=addr_reg)

    def heap_operation(self, operation: CsHeapOperation | int | str, *, wait_mask: int = 0,
                       signal_slot: int = 0) -> CsBuilder:
        return self.emit("HEAP_OPERATION", operation=operation, wait_mask=wait_mask, signal_slot=signal_slot)

    def trace_point(self, base_reg: int, register_count: int, *, wait_mask: int = 0,
                    signal_slot: int = 0) -> CsBuilder:
        return self.emit("TRACE_POINT", base_register=base_reg, register_count=register_count,
                         wait_mask=wait_mask, signal_slot=signal_slot)


__all__ = ["CsBuilder", "Label"]
