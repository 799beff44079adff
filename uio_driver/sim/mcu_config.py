"""Configuration and fault hooks of the simulated MCU (``sim.mcu.config``, ``sim.mcu.faults``), and
:class:`McuCrash`, the internal signal of a firmware crash.

Values the real firmware writes at boot but no source gives are marked **[model choice]**; values
known only from Mesa's drm-shim dump of a G610 are marked **secondary**
(``csf-firmware-and-interfaces.md`` §8). Both objects are plain data a test may change on the live
model; they are validated when the MCU samples them (boot start, doorbell processing).
"""

from __future__ import annotations

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
        cs_features: per-CS ``features``, the same for every CS (secondary, see G610_CS_FEATURES).
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

    def validate(self) -> None:
        """Raises InvalidArgument naming the first bad field."""
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

    def validate(self) -> None:
        """Raises InvalidArgument naming the first bad hook."""
        for name in ("never_boots", "slow_boot"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidArgument(f"McuFaults.{name} must be a bool, got {getattr(self, name)!r}")
        for name in ("never_ack_glb", "never_ack_csg", "never_ack_csg_slots", "crash_on_glb",
                     "crash_halt_status", "bad_csg_ack_state"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _U32:
                raise InvalidArgument(f"McuFaults.{name} must be a 32-bit mask/value, got {value!r}")
        if self.corrupt_interface is not None and self.corrupt_interface not in INTERFACE_CORRUPTIONS:
            raise InvalidArgument(f"McuFaults.corrupt_interface {self.corrupt_interface!r} is not one of "
                                  f"{sorted(INTERFACE_CORRUPTIONS)}")


class McuCrash(Exception):
    """Internal: the firmware hit something it cannot survive (an AS0 fault, a crash hook).

    Raised inside the MCU model and caught where the firmware work started
    (:meth:`SimMcu.run_guarded`), which makes the MCU FATAL; never seen by the driver.
    """

    def __init__(self, reason: str, halt_status: int = HALT_STATUS_PANIC) -> None:
        super().__init__(reason)
        self.reason = reason
        self.halt_status = halt_status
