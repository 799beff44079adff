"""Configuration and fault hooks of the simulated MCU (``sim.mcu.config``, ``sim.mcu.faults``), and
:class:`McuCrash`, the internal signal of a firmware crash.

Values the real firmware writes at boot but no source gives are marked **[model choice]**; values
known only from Mesa's drm-shim dump of a G610 are marked **secondary**
(``csf-firmware-and-interfaces.md`` §8). Both objects are plain data a test may change on the live
model; they are validated when the MCU samples them (boot start, doorbell processing).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

from ..errors import InvalidArgument
from .csf_iface import (
    CS_FEATURES_COMPUTE,
    CS_FEATURES_FRAGMENT,
    CS_FEATURES_TILER,
    HALT_STATUS_PANIC,
    MAX_STREAMS,
    suspend_record_size,
)

PAGE_SIZE = 0x1000
_U32 = 0xFFFFFFFF

#: Secondary (drm-shim "Dumped from a G610", §8): 96 work registers (features 7:0 = count - 1), 8
#: scoreboard slots (15:8), and the compute/fragment/tiler capability bits 16..18 (§6.1).
G610_CS_FEATURES = (96 - 1) | 8 << 8 | CS_FEATURES_COMPUTE | CS_FEATURES_FRAGMENT | CS_FEATURES_TILER

#: Fault hook values of :attr:`McuFaults.corrupt_interface` (§9.7 "optional fault injection").
INTERFACE_CORRUPTIONS = {
    "version_zero": "GLB control version left at 0",
    "input_va_outside": "GLB control input_va points past the end of the shared section",
    "group_num_below_min": "GLB control group_num = 2 (drivers require 3..31)",
    "unequal_csg": "CSG 1 control suspend_size differs from CSG 0's",
    "unequal_cs": "CS 0.1 control features differ from CS 0.0's",
}


@dataclass
class McuConfig:
    """Timing and boot-time values of the simulated firmware.

    Attributes:
        boot_latency_ns: virtual time from MCU_CONTROL = ENABLE/AUTO to the boot interrupt.
        answer_latency_ns: virtual time from a doorbell-0 ring to the firmware's answer (0 = at the
            next time advance).
        watchdog_ns: a host request written without a doorbell is reported after it stayed un-rung
            this long while the driver waits (checked every ``watchdog_ns``; 0 disables the check).
        slow_boot_ns: boot latency used by the ``slow_boot`` fault hook (more than panthor's 1 s).
        glb_features: GLB control ``features`` (0 on G610, verified by dmesg "Features 0x0", §2.7).
        prfcnt_size: GLB control ``prfcnt_size`` [model choice: 7 hardware blocks of 256 bytes — front
            end, tiler, one memory system, four shader cores — and one firmware block].
        suspend_size: per-CSG ``suspend_size`` [model choice: a non-zero page multiple].
        protm_suspend_size: per-CSG ``protm_suspend_size`` [model choice: a non-zero page multiple].
        cs_features: per-CS ``features``, the same for every CS (secondary, see G610_CS_FEATURES); the
            command-stream executor sizes each stream from it (registers 7:0 + 1, scoreboards 15:8).
        cs_wake_latency_ns: from a user doorbell, START/RESUME or a wake-up to the stream running.
        run_latency_ns: RUN_*/FINISH_TILING completion latency (no shading is simulated).
        flush_latency_ns: FLUSH_CACHE2 completion latency when the flush is not skipped.
        sync_latency_ns: SYNC_ADD/SET, STORE_STATE, HEAP_OPERATION, FINISH_FRAGMENT, TRACE_POINT
            latency (0 = they complete inside the instruction that issues them).
        cs_instr_ns: virtual time one instruction takes when a stream runs longer than one batch.
        sync_poll_ns: period at which SYNC_WAITs are re-evaluated while a stream is blocked in one (the
            host CPU may change sync objects without any doorbell; 0 = only on sync writes/doorbells).
        cs_batch_instructions: instructions one run executes before yielding virtual time.
        call_stack_depth: CALL nesting limit (unverified on hardware, cs-isa §1.1) [model choice].
        tiler_chunk_demand: heap chunks each tiling pass needs (0 = tiling never runs out of memory,
            see :mod:`~uio_driver.sim.heap`).
        heap_initial_chunks: chunks userspace gave each heap at creation (the model cannot see them).
    """

    boot_latency_ns: int = 50_000
    answer_latency_ns: int = 2_000
    watchdog_ns: int = 1_000_000
    slow_boot_ns: int = 1_500_000_000
    glb_features: int = 0
    prfcnt_size: int = 0x0001_0007
    suspend_size: int = 0x4000
    protm_suspend_size: int = 0x1000
    cs_features: int = G610_CS_FEATURES
    cs_wake_latency_ns: int = 1_000
    run_latency_ns: int = 10_000
    flush_latency_ns: int = 2_000
    sync_latency_ns: int = 0
    cs_instr_ns: int = 2
    sync_poll_ns: int = 1_000_000
    cs_batch_instructions: int = 256
    call_stack_depth: int = 8
    tiler_chunk_demand: int = 0
    heap_initial_chunks: int = 1

    def validate(self) -> None:
        """Raises InvalidArgument naming the first bad field."""
        _validate_once(self, self._validate)

    def _validate(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            limit = (1 << 63) - 1 if f.name.endswith("_ns") else _U32
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
                raise InvalidArgument(f"McuConfig.{f.name} must be an integer in [0, {limit:#x}], "
                                      f"got {value!r}")
        for name in ("suspend_size", "protm_suspend_size"):
            value = getattr(self, name)
            if value == 0 or value % PAGE_SIZE:
                raise InvalidArgument(f"McuConfig.{name} must be a non-zero multiple of {PAGE_SIZE:#x} "
                                      f"(§9.1), got {value:#x}")
        for name in ("cs_batch_instructions", "call_stack_depth"):
            if not 1 <= getattr(self, name) <= 0xFFFF:
                raise InvalidArgument(f"McuConfig.{name} must be in [1, 0xffff], got {getattr(self, name)}")
        need = suspend_record_size(MAX_STREAMS)
        if self.suspend_size < need:
            raise InvalidArgument(f"McuConfig.suspend_size {self.suspend_size:#x} cannot hold a suspend "
                                  f"record for {MAX_STREAMS} streams ({need:#x} bytes)")


@dataclass
class McuFaults:
    """Fault-injection hooks of the simulated firmware (reference §9.7).

    Attributes:
        never_boots: MCU_CONTROL = ENABLE/AUTO starts a boot that never completes (MCU_STATUS stays 0,
            no JOB IRQ).
        slow_boot: the boot takes ``McuConfig.slow_boot_ns`` (> 1 s, panthor's boot timeout).
        never_ack_glb: GLB_REQ bits the firmware applies nothing for and never acknowledges (e.g.
            ``1 << 8`` PING, to test the ping-timeout path).
        never_ack_csg: CSG_REQ bits never acknowledged (``0x7`` STATE, ``0x10`` EP_CFG, ``0x20``
            STATUS_UPDATE) on the slots in ``never_ack_csg_slots``.
        never_ack_csg_slots: which CSG slots ``never_ack_csg`` applies to (bit g = slot g).
        crash_on_glb: GLB_REQ bits whose request makes the firmware crash (MCU_STATUS = 3 FATAL,
            GPU IRQ bit 19, GLB output halt_status = ``crash_halt_status``) instead of answering.
        crash_halt_status: halt_status written on a crash (0x4E halted on panic, §4.3).
        corrupt_interface: publish a corrupt interface at boot, one of :data:`INTERFACE_CORRUPTIONS`.
        bad_csg_ack_state: CSG slots whose STATE acknowledgements read back as 7 (an unknown state,
            §7.5: the driver must treat the slot as unusable).
        run_never_completes: RUN_* instructions issued from now never complete (their scoreboard entry
            stays busy: a job that never finishes, for job-timeout tests).
        instruction_fault_at: N > 0: the N-th command-stream instruction executed from now (all streams)
            raises ``instruction_fault_type`` instead of executing; the hook then disarms (0).
        instruction_fault_type: exception type of that fault (default 0x51 INSTR_INVALID_ENC).
        instruction_fault_fatal: report it as CS_FATAL (e.g. type 0x41 CS_UNRECOVERABLE) not CS_FAULT.
    """

    never_boots: bool = False
    slow_boot: bool = False
    never_ack_glb: int = 0
    never_ack_csg: int = 0
    never_ack_csg_slots: int = _U32
    crash_on_glb: int = 0
    crash_halt_status: int = HALT_STATUS_PANIC
    corrupt_interface: str | None = None
    bad_csg_ack_state: int = 0
    run_never_completes: bool = False
    instruction_fault_at: int = 0
    instruction_fault_type: int = 0x51
    instruction_fault_fatal: bool = False

    def validate(self) -> None:
        """Raises InvalidArgument naming the first bad hook."""
        _validate_once(self, self._validate)

    def _validate(self) -> None:
        for name in ("never_boots", "slow_boot", "run_never_completes", "instruction_fault_fatal"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidArgument(f"McuFaults.{name} must be a bool, got {getattr(self, name)!r}")
        for name in ("never_ack_glb", "never_ack_csg", "never_ack_csg_slots", "crash_on_glb",
                     "crash_halt_status", "bad_csg_ack_state", "instruction_fault_at"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _U32:
                raise InvalidArgument(f"McuFaults.{name} must be a 32-bit mask/value, got {value!r}")
        if isinstance(self.instruction_fault_type, bool) or self.instruction_fault_type not in range(256):
            raise InvalidArgument(f"McuFaults.instruction_fault_type must be an 8-bit exception type, got "
                                  f"{self.instruction_fault_type!r}")
        if self.corrupt_interface is not None and self.corrupt_interface not in INTERFACE_CORRUPTIONS:
            raise InvalidArgument(f"McuFaults.corrupt_interface {self.corrupt_interface!r} is not one of "
                                  f"{sorted(INTERFACE_CORRUPTIONS)}")


#: Field-value tuples (with their types, so True is not 1) that passed validation: the MCU
#: re-validates its settings before every answer (tests change them between requests), which would
#: otherwise cost a field walk per doorbell.
_VALIDATED: set[tuple[object, ...]] = set()


def _validate_once(obj: object, check: Callable[[], None]) -> None:
    key = (type(obj), *((type(v), v) for v in vars(obj).values()))
    try:
        if key in _VALIDATED:
            return
    except TypeError:  # an unhashable (hence invalid) value: let the check name it
        check()
        return
    check()
    if len(_VALIDATED) < 4096:
        _VALIDATED.add(key)


class McuCrash(Exception):
    """Internal: the firmware hit something it cannot survive (an AS0 fault, a crash hook).

    Raised inside the MCU model and caught where the firmware work started
    (:meth:`SimMcu.run_guarded`), which makes the MCU FATAL; never seen by the driver.
    """

    def __init__(self, reason: str, halt_status: int = HALT_STATUS_PANIC) -> None:
        super().__init__(reason)
        self.reason = reason
        self.halt_status = halt_status
