"""The simulated Mali-G610 MP4: top-level model of the 2 MiB GPU register window.

:class:`SimGpu` owns the virtual clock, the simulated physical memory, the blocks (GPU_CONTROL,
power domains, JOB IRQ, MMU with AS0..AS7, doorbell and USER pages), the strict flag, the list of
protocol violations and the optional MMIO trace. It decodes every 32-bit access with the
simulator's own tables (never ``uio_driver.regs``), written from
``shared/reference/mali-csf-registers-and-mmu.md`` §0–§3 and §7.

Strict mode (the default) raises :class:`~uio_driver.errors.SimProtocolError` naming the register
or offset for: a write to a RO register, an access to an undefined offset, any access while the GPU
power domain is off (on a board that access would hang the bus), a GPU_COMMAND while the previous
reset or flush is pending, an AS COMMAND while AS_ACTIVE, and invalid command values. Non-strict
mode records the same events in :attr:`SimGpu.violations` and behaves like hardware (the write is
ignored, the read returns 0). Violations are recorded in both modes.

Driver code never touches this object; tests and the CLI reach it as ``platform.sim``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from ..errors import BadAddress, DeviceNotFound, InvalidArgument, SimProtocolError
from .clock import VirtualClock
from .config import SimConfig, SimFaults, SimViolation
from .doorbell import DOORBELL_BASE, USER_PAGE, USER_PAGE_SIZE, DoorbellPages
from .gpu_control import (
    GPU_IRQ_DOORBELL_MIRROR,
    GPU_IRQ_RESET_COMPLETED,
    MCU_CONTROL_AUTO,
    RESET_FAST,
    RESET_KINDS,
    GpuControl,
)
from .irq import IrqBlock
from .mcu import SimMcu
from .memory import SimMemory
from .mmu import AS_BASE, AS_STRIDE, MAX_AS, SimMmu
from .power import PowerController
from .regfile import U32_MASK, Register, RegisterFile

#: Size of the GPU register window (RK3588 device tree ``reg = <0x0 0xfb000000 0x0 0x200000>``).
WINDOW_SIZE = 0x200000
JOB_IRQ_BASE = 0x1000
IPA_CONTROL_BASE = 0x40000

TraceEntry = tuple[int, str, int, int]


class McuHook(Protocol):
    """What a simulated MCU plugs into ``SimGpu.mcu``.

    ``control(value)`` is called after every accepted MCU_CONTROL write (0 DISABLE, 1 ENABLE,
    2 AUTO); the MCU reports its state with :meth:`GpuControl.set_mcu_status`. ``reset()`` is
    called when a GPU reset or power cycle stops the MCU (MCU_STATUS is already 0 then). When a fast
    reset restarts an AUTO MCU, an optional ``auto_restart()`` is called instead of ``control(2)``
    (no host write happened). The default model is :class:`~uio_driver.sim.mcu.SimMcu`.
    """

    def control(self, value: int) -> None: ...

    def reset(self) -> None: ...


class SimGpu:
    """Register-accurate model of the G610 GPU window on virtual time.

    Args:
        config: identification values, clocks and delays (default: real G610 MP4 values).
        faults: fault-injection hooks (default: none).
        strict: raise :class:`SimProtocolError` on protocol violations (default True).
        clock: the virtual clock to schedule on (default: a new one).
        memory: simulated physical RAM (default: empty).
        trace: record every MMIO access in :attr:`trace`.
        power_on: switch the GPU power domain on at construction (reset state).
        mcu: attach the simulated MCU (:class:`~uio_driver.sim.mcu.SimMcu`, the firmware interface
            model); False leaves :attr:`mcu` None (MCU_CONTROL then only records a note).

    Attributes:
        gpu: the GPU_CONTROL block (``gpu.irq`` is the GPU IRQ block, ``gpu.faults`` the hooks).
        power: the power domains.
        job_irq: the JOB IRQ block (raised by the MCU model).
        mmu: the MMU block with the AS register files.
        doorbells: doorbell and USER page decoder.
        regs: the register file (``regs.named("GPU_ID")``).
        violations: every protocol violation seen, in order.
        notes: notable but legal events (e.g. host SHADER_PWRON, MCU enable without firmware).
        trace: None, or a list of ``(time_ns, "R"|"W", offset, value)``.
        mcu: the plugged-in MCU model (:class:`McuHook`; by default a :class:`SimMcu`) or None.
        resets: completed GPU resets as ``(time_ns, "soft"|"hard"|"fast")``.
    """

    def __init__(self, config: SimConfig | None = None, faults: SimFaults | None = None, *,
                 strict: bool = True, clock: VirtualClock | None = None, memory: SimMemory | None = None,
                 trace: bool = False, power_on: bool = True, mcu: bool = True) -> None:
        config = SimConfig() if config is None else config
        faults = SimFaults() if faults is None else faults
        if not isinstance(config, SimConfig):
            raise InvalidArgument(f"sim: config must be a SimConfig, got {type(config).__name__}")
        if not isinstance(faults, SimFaults):
            raise InvalidArgument(f"sim: faults must be a SimFaults, got {type(faults).__name__}")
        if not all(isinstance(flag, bool) for flag in (strict, trace, mcu)):
            raise InvalidArgument(f"sim: strict/trace/mcu must be bools, got {strict!r}/{trace!r}/{mcu!r}")
        config.validate()
        self.config = config
        self.faults = faults
        self.strict = strict
        self.clock = VirtualClock() if clock is None else clock
        self.memory = SimMemory() if memory is None else memory
        self.violations: list[SimViolation] = []
        self.notes: list[str] = []
        self.trace: list[TraceEntry] | None = [] if trace else None
        self.mcu: McuHook | None = None
        self.resets: list[tuple[int, str]] = []
        #: GPU_STATUS.GPU_ACTIVE (set by the MCU/CS model while it executes work).
        self.gpu_active = False
        self.latest_flush = 0
        self.power_domain_on = False
        self.closed = False
        self.gpu = GpuControl(self)
        self.power = PowerController(self)
        self.job_irq = IrqBlock("JOB", JOB_IRQ_BASE)
        self.mmu = SimMmu(self)
        self.doorbells = DoorbellPages(self)
        self.regs = RegisterFile(self.violation, fallback_read=self.doorbells.read,
                                 fallback_write=self.doorbells.write, describe=self.describe_offset)
        for regs in (self.gpu.registers(), self.power.registers(), self.job_irq.registers(),
                     self.mmu.registers()):
            self.regs.extend(regs)
        if mcu:
            self.mcu = SimMcu(self)
        if power_on:
            self.set_power_domain(True)

    # -- blocks ----------------------------------------------------------------------------------

    @property
    def gpu_irq(self) -> IrqBlock:
        return self.gpu.irq

    def irq_block(self, line: str) -> IrqBlock:
        """The IRQ block driving line ``"gpu"``, ``"job"`` or ``"mmu"``."""
        blocks = {"gpu": self.gpu.irq, "job": self.job_irq, "mmu": self.mmu.irq}
        try:
            return blocks[line]
        except KeyError:
            raise InvalidArgument(f"sim: no IRQ line {line!r} (have gpu, job, mmu)") from None

    def register(self, name: str) -> Register:
        """The register called ``name`` (e.g. ``"AS0_TRANSTAB_LO"``)."""
        return self.regs.named(name)

    # -- MMIO ------------------------------------------------------------------------------------

    def read32(self, offset: int) -> int:
        """A 32-bit load from the GPU window at byte ``offset``.

        Raises:
            BadAddress: offset not an aligned offset inside the 2 MiB window.
            SimProtocolError: (strict) undefined offset or GPU power domain off.
        """
        if type(offset) is not int or offset & 3 or not 0 <= offset <= WINDOW_SIZE - 4:
            self._bad_offset(offset)
        if self.power_domain_on:
            value = self.regs.read(offset)
        else:
            self._powered_off("read", offset, None)
            value = 0
        if self.trace is not None:
            self.trace.append((self.clock.now_ns(), "R", offset, value))
        return value

    def write32(self, offset: int, value: int) -> None:
        """A 32-bit store of ``value`` to the GPU window at byte ``offset``.

        Raises:
            BadAddress: offset not an aligned offset inside the 2 MiB window (nothing written).
            InvalidArgument: value outside 0..2^32-1 (nothing written).
            SimProtocolError: (strict) any protocol violation, see the module docstring.
        """
        if type(offset) is not int or offset & 3 or not 0 <= offset <= WINDOW_SIZE - 4:
            self._bad_offset(offset)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= U32_MASK:
            raise InvalidArgument(f"sim: value {value!r} for offset {offset:#x} does not fit 32 bits",
                                  offset=offset, value=value if isinstance(value, int) else None)
        if self.power_domain_on:
            self.regs.write(offset, value)
        else:
            self._powered_off("write", offset, value)
        if self.trace is not None:
            self.trace.append((self.clock.now_ns(), "W", offset, value))

    def _bad_offset(self, offset: object) -> None:
        raise BadAddress(f"sim: offset {offset!r} is outside the {WINDOW_SIZE:#x}-byte GPU window "
                         "or not 4-byte aligned", offset=offset if isinstance(offset, int) else None)

    def _powered_off(self, what: str, offset: int, value: int | None) -> None:
        if self.closed:
            raise DeviceNotFound(f"sim: {what} at {offset:#x} after the simulated GPU was closed",
                                 offset=offset)
        reg = self.regs.at(offset)
        name = reg.name if reg is not None else None
        self.violation("power-off", f"{what} of {name or 'offset'} ({offset:#x}) while the GPU power domain "
                       "is off (on a board this access hangs the bus)",
                       register=name, offset=offset, value=value)

    def describe_offset(self, offset: int) -> str:
        """Which block of the window ``offset`` falls in (for messages)."""
        if offset < 0x1000:
            return "GPU_CONTROL"
        if JOB_IRQ_BASE <= offset < 0x1400:
            return "JOB_CONTROL"
        if 0x2000 <= offset < AS_BASE:
            return "MMU"
        if AS_BASE <= offset < AS_BASE + MAX_AS * AS_STRIDE:
            n = (offset - AS_BASE) // AS_STRIDE
            state = "" if self.config.as_present >> n & 1 else ", not present"
            return f"AS{n} +{(offset - AS_BASE) % AS_STRIDE:#x}{state}"
        if USER_PAGE <= offset < USER_PAGE + USER_PAGE_SIZE:
            return "USER page"
        if IPA_CONTROL_BASE <= offset < DOORBELL_BASE:
            return "IPA_CONTROL, not modelled"
        return "unmapped gap"

    # -- violations and notes ------------------------------------------------------------------

    def violation(self, kind: str, message: str, *, register: str | None = None,
                  offset: int | None = None, value: int | None = None) -> None:
        """Record a protocol violation; in strict mode also raise it.

        Raises:
            SimProtocolError: when :attr:`strict` is set.
        """
        self.violations.append(SimViolation(self.clock.now_ns(), kind, message, register, offset, value))
        if self.strict:
            raise SimProtocolError(f"sim: {message}", register=register, offset=offset, value=value,
                                   kind=kind)

    def note(self, message: str) -> None:
        """Record a notable, legal event (``t=<ns>ns: message``)."""
        self.notes.append(f"t={self.clock.now_ns()}ns: {message}")

    def require_l2_ready(self, what: str) -> bool:
        """Check before a GPU-side memory access (walk, MCU fetch): the L2 must be powered (§7).

        Returns:
            True if the L2 is ready; False (after recording a violation) otherwise.

        Raises:
            SimProtocolError: (strict) the L2 is not ready.
        """
        if self.power_domain_on and self.power.l2_ready():
            return True
        self.violation("l2-off", f"GPU memory access ({what}) while the L2 is not powered (L2_READY = "
                       f"{self.power.l2.ready:#x})")
        return False

    # -- power domain and resets -------------------------------------------------------------------

    def set_power_domain(self, on: bool) -> None:
        """Switch the GPU power domain (RK3588_PD_GPU) on or off.

        Off loses all state and cancels every pending event; accesses are then violations. On
        puts every block in its power-on reset state (IRQ masks 0, L2 off, MCU disabled).
        """
        if not isinstance(on, bool):
            raise InvalidArgument(f"sim: power domain state must be a bool, got {on!r}")
        if self.closed:
            raise DeviceNotFound("sim: the simulated GPU is closed")
        self._reset_blocks(keep_masks=False, fast=False)
        self.latest_flush = 0
        self.doorbells.reset()
        self.power_domain_on = on

    def begin_reset(self, kind: int) -> None:
        """Start a GPU_COMMAND reset (0 fast, 1 soft, 2 hard); completes after ``reset_delay_ns``."""
        gpu = self.gpu
        if gpu.reset_event is not None:
            gpu.reset_event.cancel()  # a hard reset pre-empting a stuck one restarts the timer
        gpu.reset_event = None
        gpu.cancel_flush()
        if not self.config.preserve_irq_masks_on_reset:
            # Masks are dropped when the reset starts, so a mask written during the reset (kbase
            # writes GPU_IRQ_MASK = RESET_COMPLETED after the command) is honoured at completion.
            for block in (gpu.irq, self.job_irq, self.mmu.irq):
                block.mask = 0
        gpu.reset_pending = True
        if self.faults.reset_never_completes:
            self.note(f"fault hook: {RESET_KINDS[kind]} reset will never complete")
            return
        gpu.reset_event = self.clock.schedule(self.config.reset_delay_ns, lambda: self._complete_reset(kind),
                                              f"{RESET_KINDS[kind]} reset")

    def _complete_reset(self, kind: int) -> None:
        fast = kind == RESET_FAST
        self._reset_blocks(keep_masks=True, fast=fast)
        self.resets.append((self.clock.now_ns(), RESET_KINDS[kind]))
        self.gpu.irq.raise_bits(GPU_IRQ_RESET_COMPLETED)

    def _reset_blocks(self, *, keep_masks: bool, fast: bool) -> None:
        """Reset state of every block (§7 "Reset state").

        A fast reset keeps the power domains on and MCU_CONTROL (kbase: fast reset keeps power; AUTO
        lets the MCU restart by itself after it, §1.5, §1.9); soft/hard resets and power cycles do not.
        """
        self.gpu.reset(keep_mask=keep_masks, keep_mcu_control=fast)
        if not fast:
            self.power.reset()
        self.mmu.reset(keep_mask=keep_masks)
        self.job_irq.reset(keep_mask=keep_masks)
        self.gpu_active = False
        if self.mcu is not None:
            self.mcu.reset()
            if fast and self.gpu.mcu_control == MCU_CONTROL_AUTO:
                # AUTO lets the MCU restart by itself after a fast reset (§1.9); a model with
                # ``auto_restart`` tells this apart from a host MCU_CONTROL write.
                restart = getattr(self.mcu, "auto_restart", None)
                if restart is not None:
                    restart()
                else:
                    self.mcu.control(MCU_CONTROL_AUTO)

    def cache_flush_completed(self) -> None:
        """Count one completed cache flush in LATEST_FLUSH (never 0 again after the first)."""
        self.latest_flush = (self.latest_flush + 1) & U32_MASK or 1

    # -- hooks for tests and later models -----------------------------------------------------------

    def inject_gpu_fault(self, status: int, address: int) -> bool:
        """Latch a GPU fault (GPU_FAULTSTATUS/ADDRESS) and raise GPU_IRQ_FAULT; see
        :meth:`GpuControl.inject_fault`."""
        return self.gpu.inject_fault(status, address)

    def on_doorbell(self, callback: Callable[[int], None]) -> None:
        """Call ``callback(index)`` whenever doorbell ``index`` is rung."""
        self.doorbells.subscribe(callback)

    def set_doorbell_mirror(self, level: bool) -> None:
        """Drive GPU IRQ bit 18 DOORBELL_MIRROR (not clearable through GPU_IRQ_CLEAR, §1.4)."""
        self.gpu.irq.set_sticky_level(GPU_IRQ_DOORBELL_MIRROR, level)

    def close(self) -> None:
        """Stop the model: pending events are cancelled and further accesses raise DeviceNotFound."""
        if self.closed:
            return
        self._reset_blocks(keep_masks=False, fast=False)
        self.power_domain_on = False
        self.closed = True
