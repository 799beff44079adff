"""The GPU_CONTROL block (window offsets ``0x000``..``0xFFF``) of the simulated G610.

Written from ``mali-csf-registers-and-mmu.md`` §1 and §7 with the simulator's own tables:
identification registers (values from :class:`~uio_driver.sim.config.SimConfig`), the GPU IRQ
block, GPU_COMMAND in the CSF encoding ``opcode | payload << 8`` (§1.5), GPU_STATUS (§1.6), the GPU
fault registers (§1.7), TIMESTAMP/CYCLE_COUNT, configuration registers, and MCU_CONTROL/MCU_STATUS
(§1.9). Power domains live in :mod:`uio_driver.sim.power`; the reset sequence itself is run by
:class:`~uio_driver.sim.gpu.SimGpu` because it touches every block.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import InvalidArgument
from .clock import NS_PER_S, Event
from .irq import IrqBlock
from .regfile import U32_MASK, Access, Refusal, Register, split64

if TYPE_CHECKING:
    from .config import SimConfig, SimFaults
    from .gpu import SimGpu

# -- GPU IRQ bits (§1.4) -----------------------------------------------------------------------
GPU_IRQ_FAULT = 1 << 0
GPU_IRQ_PROTM_FAULT = 1 << 1
GPU_IRQ_RESET_COMPLETED = 1 << 8
GPU_IRQ_POWER_CHANGED_SINGLE = 1 << 9
GPU_IRQ_POWER_CHANGED_ALL = 1 << 10
GPU_IRQ_PRFCNT_SAMPLE_COMPLETED = 1 << 16
GPU_IRQ_CLEAN_CACHES_COMPLETED = 1 << 17
GPU_IRQ_DOORBELL_MIRROR = 1 << 18
GPU_IRQ_MCU_STATUS_CHANGED = 1 << 19
#: Bits defined for G610 (bit 20 FLUSH_PA_RANGE_COMPLETED exists only on newer GPUs; the rest RAZ/WI).
GPU_IRQ_IMPLEMENTED = 0x000F0703

# -- GPU_COMMAND opcodes and payloads (§1.5, CSF encoding) -----------------------------------------
CMD_NOP = 0x00
CMD_RESET = 0x01
CMD_PRFCNT = 0x02
CMD_TIME = 0x03
CMD_FLUSH_CACHES = 0x04
CMD_SET_PROTECTED_MODE = 0x05
CMD_FINISH_HALT = 0x06
CMD_CLEAR_FAULT = 0x07
RESET_FAST, RESET_SOFT, RESET_HARD = 0, 1, 2
RESET_KINDS = {RESET_FAST: "fast", RESET_SOFT: "soft", RESET_HARD: "hard"}
_UNMODELED = {CMD_SET_PROTECTED_MODE: "SET_PROTECTED_MODE", CMD_FINISH_HALT: "FINISH_HALT"}

# -- GPU_STATUS bits (§1.6) ----------------------------------------------------------------------
GPU_STATUS_ACTIVE = 1 << 0
GPU_STATUS_PWR_ACTIVE = 1 << 1
GPU_STATUS_PAGE_FAULT = 1 << 4
GPU_STATUS_CYCLE_COUNT_ACTIVE = 1 << 6

# -- MCU (§1.9) ------------------------------------------------------------------------------------
MCU_CONTROL_DISABLE, MCU_CONTROL_ENABLE, MCU_CONTROL_AUTO = 0, 1, 2
MCU_STATUS_DISABLED, MCU_STATUS_ENABLED, MCU_STATUS_HALT, MCU_STATUS_FATAL = 0, 1, 2, 3
MCU_CONTROL_NAMES = {0: "DISABLE", 1: "ENABLE", 2: "AUTO"}

#: The sim's own table of constant identification registers: (name, offset, SimConfig field, index).
ID_REGISTERS: tuple[tuple[str, int, str, int | None], ...] = (
    ("GPU_ID", 0x000, "gpu_id", None),
    ("L2_FEATURES", 0x004, "l2_features", None),
    ("CORE_FEATURES", 0x008, "core_features", None),
    ("TILER_FEATURES", 0x00C, "tiler_features", None),
    ("MEM_FEATURES", 0x010, "mem_features", None),
    ("MMU_FEATURES", 0x014, "mmu_features", None),
    ("AS_PRESENT", 0x018, "as_present", None),
    ("CSF_ID", 0x01C, "csf_id", None),
    ("PRFCNT_FEATURES", 0x068, "prfcnt_features", None),
    ("THREAD_MAX_THREADS", 0x0A0, "thread_max_threads", None),
    ("THREAD_MAX_WORKGROUP_SIZE", 0x0A4, "thread_max_workgroup_size", None),
    ("THREAD_MAX_BARRIER_SIZE", 0x0A8, "thread_max_barrier_size", None),
    ("THREAD_FEATURES", 0x0AC, "thread_features", None),
    ("TEXTURE_FEATURES_0", 0x0B0, "texture_features", 0),
    ("TEXTURE_FEATURES_1", 0x0B4, "texture_features", 1),
    ("TEXTURE_FEATURES_2", 0x0B8, "texture_features", 2),
    ("TEXTURE_FEATURES_3", 0x0BC, "texture_features", 3),
    ("GPU_REVID", 0x280, "gpu_revid", None),
    ("COHERENCY_FEATURES", 0x300, "coherency_features", None),
    ("THREAD_TLS_ALLOC", 0x310, "thread_tls_alloc", None),
)

#: Plain RW configuration registers (§1.1): (name, offset). Reset value 0 unless noted in reset().
CONFIG_REGISTERS: tuple[tuple[str, int], ...] = (
    ("L2_CONFIG", 0x048),
    ("PWR_OVERRIDE0", 0x054),
    ("PWR_OVERRIDE1", 0x058),
    ("TIMESTAMP_OFFSET_LO", 0x088),
    ("TIMESTAMP_OFFSET_HI", 0x08C),
    ("ASN_HASH_0", 0x2C0),
    ("ASN_HASH_1", 0x2C4),
    ("ASN_HASH_2", 0x2C8),
    *((f"SYSC_ALLOC{i}", 0x340 + 4 * i) for i in range(8)),
    ("CSF_CONFIG", 0xF00),
    ("SHADER_CONFIG", 0xF04),
    ("TILER_CONFIG", 0xF08),
    ("L2_MMU_CONFIG", 0xF0C),
)

#: COHERENCY_ENABLE takes a protocol *number* (§1.1): 0 ACE-Lite, 1 ACE, 31 none.
COHERENCY_PROTOCOLS = (0, 1, 31)


class GpuControl:
    """State and registers of GPU_CONTROL (except the power domains)."""

    def __init__(self, sim: SimGpu) -> None:
        self._sim = sim
        self.irq = IrqBlock("GPU", 0x020, implemented=GPU_IRQ_IMPLEMENTED, sticky=GPU_IRQ_DOORBELL_MIRROR)
        self.faultstatus = 0
        self.faultaddress = 0
        self.mcu_status = MCU_STATUS_DISABLED
        self.reset_event: Event | None = None
        self.reset_pending = False
        self.flush_event: Event | None = None
        self.flush_pending = False
        self._cycle_base = 0
        self._cycle_t0_ns = 0
        self.cycle_running = False
        #: Completed flushes as (time_ns, l2, lsc, other) nibbles, in order (for a later cache model).
        self.flushes: list[tuple[int, int, int, int]] = []
        cfg = sim.config
        self._config = {name: Register(name, off, Access.RW) for name, off in CONFIG_REGISTERS}
        self._config["L2_CONFIG"].reset = cfg.l2_config_reset
        self._config["COHERENCY_ENABLE"] = Register(
            "COHERENCY_ENABLE", 0x304, Access.RW, reset=cfg.coherency_enable_reset, validate=_check_coherency)
        for reg in self._config.values():
            reg.reset_value()
        self.mcu_control_reg = Register("MCU_CONTROL", 0x700, Access.RW, validate=_check_mcu_control,
                                        on_write=self._mcu_control_written)

    @property
    def faults(self) -> SimFaults:
        """The model's fault hooks — the same object as ``SimGpu.faults`` (architecture.md spells
        the path ``sim.gpu.faults``)."""
        return self._sim.faults

    # -- registers -----------------------------------------------------------------------------

    def registers(self) -> list[Register]:
        cfg = self._sim.config
        regs = self.irq.registers()
        for name, off, attr, index in ID_REGISTERS:
            regs.append(Register(name, off, Access.RO, on_read=_config_reader(cfg, attr, index)))
        regs += split64("GPU_FEATURES", 0x060, Access.RO, lambda: cfg.gpu_features)
        regs += self._config.values()
        regs += [
            Register("GPU_COMMAND", 0x030, Access.WO, validate=self._check_command, on_write=self._command),
            Register("GPU_STATUS", 0x034, Access.RO, on_read=self.status),
            # §1.1: JM GPUs keep the flush ID here; on CSF it moved to the USER page (0x10000), so
            # this reads 0 [inferred] — the register exists in the map, it is just not used on G610.
            Register("LATEST_FLUSH_JM", 0x038, Access.RO),
            Register("GPU_FAULTSTATUS", 0x03C, Access.RO, on_read=lambda: self.faultstatus),
            Register("PWR_KEY", 0x050, Access.WO),
            Register("MCU_STATUS", 0x704, Access.RO, on_read=lambda: self.mcu_status),
            self.mcu_control_reg,
        ]
        regs += split64("GPU_FAULTADDRESS", 0x040, Access.RO, lambda: self.faultaddress)
        regs += split64("CYCLE_COUNT", 0x090, Access.RO, self.cycle_count)
        regs += split64("TIMESTAMP", 0x098, Access.RO, self.timestamp)
        return regs

    # -- GPU_STATUS, time ------------------------------------------------------------------------

    def status(self) -> int:
        sim = self._sim
        value = 0
        if sim.gpu_active:
            value |= GPU_STATUS_ACTIVE
        if sim.power.transitioning:
            value |= GPU_STATUS_PWR_ACTIVE
        if sim.mmu.page_fault_pending:
            value |= GPU_STATUS_PAGE_FAULT
        if self.cycle_running:
            value |= GPU_STATUS_CYCLE_COUNT_ACTIVE
        return value

    @property
    def timestamp_offset(self) -> int:
        return self._config["TIMESTAMP_OFFSET_LO"].value | self._config["TIMESTAMP_OFFSET_HI"].value << 32

    def timestamp(self) -> int:
        """System-counter ticks at ``timestamp_hz`` since virtual time 0, plus TIMESTAMP_OFFSET."""
        sim = self._sim
        ticks = sim.clock.now_ns() * sim.config.timestamp_hz // NS_PER_S
        return (ticks + self.timestamp_offset) & ((1 << 64) - 1)

    def cycle_count(self) -> int:
        """GPU cycles counted at ``gpu_clock_hz`` while CYCLE_COUNT_START is in effect."""
        if not self.cycle_running:
            return self._cycle_base
        sim = self._sim
        elapsed = sim.clock.now_ns() - self._cycle_t0_ns
        return (self._cycle_base + elapsed * sim.config.gpu_clock_hz // NS_PER_S) & ((1 << 64) - 1)

    def _set_cycle_running(self, running: bool) -> None:
        if running == self.cycle_running:
            return
        self._cycle_base = self.cycle_count()
        self._cycle_t0_ns = self._sim.clock.now_ns()
        self.cycle_running = running

    # -- GPU_COMMAND -------------------------------------------------------------------------------

    def _check_command(self, value: int) -> Refusal:
        opcode, payload = value & 0xFF, value >> 8
        if opcode != CMD_NOP:
            if self.reset_pending and not (opcode == CMD_RESET and payload == RESET_HARD):
                # A hard reset is the documented last resort after a stuck soft reset (§1.5).
                return ("command-pending", "the previous GPU reset has not completed (wait for "
                        "RESET_COMPLETED; only a hard reset may pre-empt it)")
            if self.flush_pending and opcode != CMD_RESET:
                return ("command-pending", "the previous cache flush has not completed (wait for "
                        "CLEAN_CACHES_COMPLETED; only one flush may be outstanding, §1.5)")
        if opcode in _UNMODELED:
            return ("unsupported", f"{_UNMODELED[opcode]} is not modelled by the simulator")
        valid_payloads = {CMD_NOP: (0,), CMD_RESET: (0, 1, 2), CMD_PRFCNT: (1, 2), CMD_TIME: (0, 1),
                          CMD_CLEAR_FAULT: (0,)}
        if opcode == CMD_FLUSH_CACHES:
            if payload >> 12 or any((payload >> s) & 0xF > 3 for s in (0, 4, 8)):
                return "FLUSH_CACHES payload must be three 2-bit nibbles (l2 | lsc<<4 | other<<8)"
            return None
        if opcode not in valid_payloads:
            return f"unknown GPU_COMMAND opcode {opcode:#x}"
        if payload not in valid_payloads[opcode]:
            return f"invalid payload {payload:#x} for opcode {opcode:#x}"
        return None

    def _command(self, value: int) -> None:
        opcode, payload = value & 0xFF, value >> 8
        sim = self._sim
        if opcode == CMD_RESET:
            sim.begin_reset(payload)
        elif opcode == CMD_FLUSH_CACHES:
            self._start_flush(payload & 0xF, payload >> 4 & 0xF, payload >> 8 & 0xF)
        elif opcode == CMD_TIME:
            self._set_cycle_running(payload == 1)
        elif opcode == CMD_CLEAR_FAULT:
            self.faultstatus = 0
            self.faultaddress = 0
        elif opcode == CMD_PRFCNT and payload == 1:
            # No counters are modelled; the sample "completes" like a flush so waits terminate.
            sim.clock.schedule(sim.config.flush_delay_ns,
                               lambda: self.irq.raise_bits(GPU_IRQ_PRFCNT_SAMPLE_COMPLETED), "PRFCNT sample")

    def _start_flush(self, l2: int, lsc: int, other: int) -> None:
        sim = self._sim
        self.flush_pending = True
        if sim.faults.flush_never_completes:
            sim.note("fault hook: cache flush will never complete")
            return
        self.flush_event = sim.clock.schedule(
            sim.config.flush_delay_ns, lambda: self._complete_flush(l2, lsc, other),
            f"FLUSH_CACHES l2={l2} lsc={lsc} other={other}")

    def _complete_flush(self, l2: int, lsc: int, other: int) -> None:
        self.flush_pending = False
        self.flush_event = None
        self.flushes.append((self._sim.clock.now_ns(), l2, lsc, other))
        self._sim.cache_flush_completed()
        self.irq.raise_bits(GPU_IRQ_CLEAN_CACHES_COMPLETED)

    def cancel_flush(self) -> None:
        """Drop an outstanding flush (a reset aborts it)."""
        if self.flush_event is not None:
            self.flush_event.cancel()
        self.flush_event = None
        self.flush_pending = False

    # -- faults --------------------------------------------------------------------------------

    def inject_fault(self, status: int, address: int) -> bool:
        """Latch a GPU fault in GPU_FAULTSTATUS/ADDRESS and raise GPU_IRQ_FAULT.

        The first fault stays latched until CLEAR_FAULT (0x007) or a reset [inferred, §1.7].

        Returns:
            True if latched, False if an earlier fault is still latched (the IRQ bit is raised anyway).

        Raises:
            InvalidArgument: ``status`` not a non-zero 32-bit value or ``address`` not 64-bit.
        """
        if isinstance(status, bool) or not isinstance(status, int) or not 0 < status <= U32_MASK:
            raise InvalidArgument(f"GPU fault status {status!r} must be a non-zero 32-bit value")
        if isinstance(address, bool) or not isinstance(address, int) or not 0 <= address < 1 << 64:
            raise InvalidArgument(f"GPU fault address {address!r} does not fit 64 bits")
        latched = self.faultstatus == 0
        if latched:
            self.faultstatus, self.faultaddress = status, address
        self.irq.raise_bits(GPU_IRQ_FAULT)
        return latched

    # -- MCU -----------------------------------------------------------------------------------

    @property
    def mcu_control(self) -> int:
        return self.mcu_control_reg.value

    def _mcu_control_written(self, value: int) -> None:
        sim = self._sim
        if sim.mcu is not None:
            sim.mcu.control(value)
            return
        if value != MCU_CONTROL_DISABLE:
            sim.note(f"MCU_CONTROL = {MCU_CONTROL_NAMES[value]} ({value}) but no firmware model is attached: "
                     "MCU_STATUS stays DISABLED (nothing to run)")
        self.set_mcu_status(MCU_STATUS_DISABLED)

    def set_mcu_status(self, value: int) -> None:
        """Set MCU_STATUS (for the MCU model); a change raises GPU IRQ bit 19 MCU_STATUS_CHANGED.

        Raises:
            InvalidArgument: ``value`` not one of 0 DISABLED, 1 ENABLED, 2 HALT, 3 FATAL.
        """
        if value not in (MCU_STATUS_DISABLED, MCU_STATUS_ENABLED, MCU_STATUS_HALT, MCU_STATUS_FATAL):
            raise InvalidArgument(f"MCU_STATUS value {value!r} is not 0..3")
        if value != self.mcu_status:
            self.mcu_status = value
            self.irq.raise_bits(GPU_IRQ_MCU_STATUS_CHANGED)

    # -- reset -----------------------------------------------------------------------------------

    def reset(self, *, keep_mask: bool, keep_mcu_control: bool = False) -> None:
        """Reset state of GPU_CONTROL (§7): GPU_STATUS 0, fault registers 0, MCU disabled, RW
        configuration registers at their reset values, GPU RAWSTAT 0."""
        self.cancel_flush()
        if self.reset_event is not None:
            self.reset_event.cancel()
        self.reset_event = None
        self.reset_pending = False
        self.faultstatus = self.faultaddress = 0
        self._cycle_base = self._cycle_t0_ns = 0
        self.cycle_running = False
        self.mcu_status = MCU_STATUS_DISABLED
        if not keep_mcu_control:
            self.mcu_control_reg.reset_value()
        for reg in self._config.values():
            reg.reset_value()
        self.irq.reset(keep_mask=keep_mask)


def _check_coherency(value: int) -> Refusal:
    if value not in COHERENCY_PROTOCOLS:
        return "not a coherency protocol number (0 ACE-Lite, 1 ACE, 31 none)"
    return None


def _check_mcu_control(value: int) -> Refusal:
    if value not in MCU_CONTROL_NAMES:
        return "MCU_CONTROL takes 0 DISABLE, 1 ENABLE or 2 AUTO"
    return None


def _config_reader(cfg: SimConfig, attr: str, index: int | None) -> Callable[[], int]:
    """Read an identification value from the live config on every access (constant across resets)."""
    if index is None:
        return lambda: int(getattr(cfg, attr))
    return lambda: int(getattr(cfg, attr)[index])
