"""GPU_COMMAND constructors (style rule 6: commands get constructors, not magic numbers).

CSF GPUs encode a command as ``opcode | payload << 8`` (kbase ``GPU_COMMAND_CODE_PAYLOAD``, panthor
``GPU_CMD_DEF``; mali-csf-registers-and-mmu.md §1.5). The pre-CSF (panfrost) numbering is different
and never used here. Every value is built from the field table in :mod:`.gpu_fields`, so the
constructors and the decoder share one declaration.
"""

from __future__ import annotations

from types import MappingProxyType

from ..errors import InvalidArgument
from .gpu_fields import (
    FLUSH_L2,
    FLUSH_LSC,
    FLUSH_OTHER,
    GPU_COMMAND_OPCODE,
    GPU_COMMAND_PAYLOAD,
    CacheOp,
    GpuCommandOp,
    ResetMode,
)
from .model import Field

CACHE_NONE = int(CacheOp.NONE)
CACHE_CLEAN = int(CacheOp.CLEAN)
CACHE_INVALIDATE = int(CacheOp.INVALIDATE)
CACHE_CLEAN_INVALIDATE = int(CacheOp.CLEAN_INVALIDATE)

#: Named commands with a fixed payload: name -> (opcode, payload), ref §1.5 table.
COMMANDS = MappingProxyType({
    "NOP": (GpuCommandOp.NOP, 0),
    "FAST_RESET": (GpuCommandOp.RESET, ResetMode.FAST),
    "SOFT_RESET": (GpuCommandOp.RESET, ResetMode.SOFT),
    "HARD_RESET": (GpuCommandOp.RESET, ResetMode.HARD),
    "PRFCNT_SAMPLE": (GpuCommandOp.PRFCNT, 1),
    "PRFCNT_CLEAR": (GpuCommandOp.PRFCNT, 2),
    "CYCLE_COUNT_STOP": (GpuCommandOp.TIME, 0),
    "CYCLE_COUNT_START": (GpuCommandOp.TIME, 1),
    "SET_PROTECTED_MODE": (GpuCommandOp.SET_PROTECTED_MODE, 0),
    "FINISH_HALT": (GpuCommandOp.FINISH_HALT, 0),
    "CLEAR_FAULT": (GpuCommandOp.CLEAR_FAULT, 0),
})

_BY_VALUE = {int(op) | int(payload) << 8: name for name, (op, payload) in COMMANDS.items()}


def _cache_op(f: Field, op: int | str) -> int:
    try:
        return f.value_of(op)
    except InvalidArgument as err:
        raise InvalidArgument(f"GPU_COMMAND FLUSH_CACHES: {err.message}", register="GPU_COMMAND") from None


class GpuCommand:
    """Constructors for GPU_COMMAND values (all return the 32-bit value to write)."""

    @staticmethod
    def encode(opcode: int | str, payload: int = 0) -> int:
        """``opcode | payload << 8`` with both checked against the field table.

        Raises:
            InvalidArgument: unknown opcode or a payload wider than 24 bits.
        """
        try:
            return GPU_COMMAND_PAYLOAD.insert(GPU_COMMAND_OPCODE.insert(0, opcode), payload)
        except InvalidArgument as err:
            raise InvalidArgument(f"GPU_COMMAND: {err.message}", register="GPU_COMMAND") from None

    @staticmethod
    def named(name: str) -> int:
        """Value of a fixed command from :data:`COMMANDS` (e.g. ``"SOFT_RESET"`` → 0x101)."""
        try:
            opcode, payload = COMMANDS[name.upper()]
        except KeyError:
            raise InvalidArgument(f"unknown GPU command {name!r} (known: {', '.join(COMMANDS)})",
                                  register="GPU_COMMAND") from None
        return GpuCommand.encode(opcode, payload)

    @staticmethod
    def nop() -> int:
        """NOP (0x000)."""
        return GpuCommand.named("NOP")

    @staticmethod
    def soft_reset() -> int:
        """SOFT_RESET (0x101): stop the bus interfaces, then reset; completion = RESET_COMPLETED."""
        return GpuCommand.named("SOFT_RESET")

    @staticmethod
    def hard_reset() -> int:
        """HARD_RESET (0x201): immediate reset, may leave the bus inconsistent (last resort)."""
        return GpuCommand.named("HARD_RESET")

    @staticmethod
    def fast_reset() -> int:
        """FAST_RESET (0x001): bus idle, power domains kept on (kbase)."""
        return GpuCommand.named("FAST_RESET")

    @staticmethod
    def cycle_count_start() -> int:
        """CYCLE_COUNT_START (0x103): GPU_STATUS.CYCLE_COUNT_ACTIVE follows."""
        return GpuCommand.named("CYCLE_COUNT_START")

    @staticmethod
    def cycle_count_stop() -> int:
        """CYCLE_COUNT_STOP (0x003)."""
        return GpuCommand.named("CYCLE_COUNT_STOP")

    @staticmethod
    def clear_fault() -> int:
        """CLEAR_FAULT (0x007): clears GPU_FAULTSTATUS/ADDRESS (unverified on G610, ref §1.5)."""
        return GpuCommand.named("CLEAR_FAULT")

    @staticmethod
    def prfcnt_sample() -> int:
        """PRFCNT sample (0x102); completion = PRFCNT_SAMPLE_COMPLETED."""
        return GpuCommand.named("PRFCNT_SAMPLE")

    @staticmethod
    def prfcnt_clear() -> int:
        """PRFCNT clear (0x202)."""
        return GpuCommand.named("PRFCNT_CLEAR")

    @staticmethod
    def flush_caches(l2: int | str = CACHE_CLEAN_INVALIDATE, lsc: int | str = CACHE_CLEAN_INVALIDATE,
                     other: int | str = CACHE_INVALIDATE) -> int:
        """FLUSH_CACHES with per-cache operations (CACHE_NONE/CLEAN/INVALIDATE/CLEAN_INVALIDATE).

        ``other`` (read-only caches) accepts only NONE or INVALIDATE. Defaults give panthor's full
        flush 0x23304; completion is signalled by GPU IRQ CLEAN_CACHES_COMPLETED. A cache flush does
        not unlock an AS lock region (panthor ``mmu_hw_do_flush_on_gpu_ctrl``).

        Raises:
            InvalidArgument: an operation outside its field's defined encodings.
        """
        value = GPU_COMMAND_OPCODE.insert(0, GpuCommandOp.FLUSH_CACHES)
        for f, op in ((FLUSH_L2, l2), (FLUSH_LSC, lsc), (FLUSH_OTHER, other)):
            value = f.insert(value, _cache_op(f, op))
        return value

    @staticmethod
    def describe(value: int) -> str:
        """Human-readable form of a GPU_COMMAND value, e.g. ``FLUSH_CACHES(L2=CLEAN_INVALIDATE, ...)``.

        Raises:
            InvalidArgument: ``value`` does not fit 32 bits.
        """
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFFFFFFFF:
            raise InvalidArgument(f"GPU_COMMAND value {value!r} does not fit 32 bits", register="GPU_COMMAND")
        if value in _BY_VALUE:
            return _BY_VALUE[value]
        opcode = GPU_COMMAND_OPCODE.extract(value)
        name = GPU_COMMAND_OPCODE.describe(opcode) or f"<unknown {opcode:#x}>"
        if opcode == GpuCommandOp.FLUSH_CACHES and not value >> 20:
            parts = [f"{f.name}={f.describe(f.extract(value))}" for f in (FLUSH_L2, FLUSH_LSC, FLUSH_OTHER)]
            return f"{name}({', '.join(parts)})"
        return f"{name}(payload={GPU_COMMAND_PAYLOAD.extract(value):#x})"
