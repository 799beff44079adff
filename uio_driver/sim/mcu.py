"""The simulated MCU: boot, MCU_CONTROL/MCU_STATUS, halt, crash, reset, doorbell 0 dispatch.

It models the host-visible interface of the CSF firmware, never the firmware itself (the licence
forbids disassembling or emulating it). Facts: ``csf-firmware-and-interfaces.md`` §3 (address space,
boot), §7 (request/acknowledge protocol) and §9 (simulated MCU checklist);
``mali-csf-registers-and-mmu.md`` §1.9, §2 and §5.7.

Every access the MCU makes goes through address space 0 with :meth:`SimMmu.gpu_read`/``gpu_write``,
exactly like the real MCU behind the GPU MMU (§3.1): a missing AS0 mapping faults (the fault is
latched in AS0 and the MMU IRQ raised) and a stale TLB is a strict-mode error.

Boot (MCU_CONTROL = 1 ENABLE or 2 AUTO, §3.5, §9.2):

* **at the write** the L2 must be powered (else a strict ``l2-off`` violation; non-strict: the MCU
  never boots and MCU_STATUS stays 0) and AS0 must be programmed for the MCU VM — ADRMODE 6
  (or 2) live or pending an UPDATE (else a strict ``mcu-as0`` violation; non-strict: the boot goes
  on and fails as below);
* **after** :attr:`McuConfig.boot_latency_ns` the MCU fetches its code at 0x00800000 (identifying the
  release, :mod:`.fw_release`) and reads the shared section at 0x04000000. If AS0 cannot translate
  either (AS0 not enabled, section not mapped, code mapped no-execute …) the boot **fails fatally**:
  the MMU fault is latched in AS0, MCU_STATUS becomes 3 FATAL and GPU IRQ bit 19 rises; no JOB IRQ.
  A shared section that holds no usable control-block image (driver did not load it) is also fatal;
* otherwise it fills in what the real firmware writes at boot (version, features, prfcnt_size,
  suspend sizes, CS features), initialises the output blocks, sets MCU_STATUS = 1 and raises
  JOB_IRQ bit 31 — in that order.

Restart kinds: *cold* (first boot), *fast* (after a clean HALT the shared section still holds the
previous boot's contents: GLB ACK = REQ, nothing reloaded), *slow* (after an unclean stop the
driver must have reloaded the sections: a still-set GLB version, or a writable data section that
differs from the one loaded at the first boot, is a strict ``stale-sections`` violation).

GLB handling lives in :mod:`.glb`, CSG/CS handling in :mod:`.csg`, the strict-mode protocol
watch (requests without doorbell, writes to firmware-owned blocks) in :mod:`.mcu_watch`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ..errors import FirmwareFormatError, InvalidArgument
from .access import DEFER, STALL_RETRY_NS, SimAccessStalled
from .clock import Event
from .cs_exec import CsExec
from .csf_iface import (
    CSG_CONTROL_OFFSET,
    HALT_STATUS_OK,
    HALT_STATUS_PANIC,
    SHARED_SECTION_VA,
    CsControl,
    CsgControl,
    GlbControl,
    InterfaceMap,
    parse_interface,
)
from .csg import CsgSlot
from .fw_release import (
    CODE_SECTION_SIZE,
    CODE_SECTION_VA,
    SYNTHETIC_CODE_MARK,
    UNKNOWN_RELEASE,
    FirmwareRelease,
    code_digest,
    identify,
)
from .glb import GlbInterface
from .mcu_config import McuConfig, McuCrash, McuFaults
from .mcu_watch import ProtocolWatch
from .walker import (
    ACCESS_TYPES,
    FAULTSTATUS_ACCESS_SHIFT,
    SimFault,
    SimGpuFault,
)
from .walker import (
    TRANSLATION_FAULT as TRANSLATION_FAULT_0,
)

if TYPE_CHECKING:
    from .gpu import SimGpu

MCU_AS = 0  # the MCU VM is always bound to AS 0 (panthor vm->for_mcu, kbase MCU_AS_NR, §3.1)
JOB_IRQ_GLB = 1 << 31  # JOB_IRQ bit 31 JOB_IRQ_GLOBAL_IF (registers §2)
MCU_STATUS_DISABLED, MCU_STATUS_ENABLED, MCU_STATUS_HALT, MCU_STATUS_FATAL = 0, 1, 2, 3
_CONTROL_NAMES = {0: "DISABLE", 1: "ENABLE", 2: "AUTO"}
_PAGE = 0x1000
#: TRANSCFG ADRMODE values that enable an AS (registers §3.5): 6 AARCH64_4K, 2 IDENTITY.
_ENABLED_ADRMODES = (6, 2)
_ADRMODE_UNMAPPED = 1


class McuState(enum.Enum):
    """Life-cycle state of the simulated MCU (MCU_STATUS in brackets)."""

    DISABLED = "disabled"  # [0]
    BOOTING = "booting"  # [0] until the boot completes (§9.2)
    RUNNING = "running"  # [1]
    HALTED = "halted"  # [2]
    FATAL = "fatal"  # [3]


_STATUS_OF = {McuState.DISABLED: MCU_STATUS_DISABLED, McuState.BOOTING: MCU_STATUS_DISABLED,
              McuState.RUNNING: MCU_STATUS_ENABLED, McuState.HALTED: MCU_STATUS_HALT,
              McuState.FATAL: MCU_STATUS_FATAL}


class CsExecutor(Protocol):
    """What runs command streams (default :class:`~uio_driver.sim.cs_exec.CsExec`; :class:`IdleExecutor`
    runs nothing).

    ``on_cs_start``/``on_cs_stop`` are called when a CS's STATE is applied; ``on_user_doorbell`` for a
    doorbell n >= 1 while the MCU runs; ``run_queue`` after the CSG doorbell bit of a started CS was
    processed (the host's FAULT/TILER_OOM answers arrive that way); ``is_busy`` tells the GLB idle timer
    and CSG status whether a CS has work. Optional hooks, called when present:
    ``save_state(csg, suspend_buf)`` after the CSG suspend record is written,
    ``restore_state(csg, suspend_buf)`` when RESUME has read it, ``on_cs_terminate(csg, cs)`` on
    TERMINATE, ``reset()`` when the MCU stops (reset, disable).
    """

    def on_cs_start(self, csg: int, cs: int) -> None: ...

    def on_cs_stop(self, csg: int, cs: int) -> None: ...

    def on_user_doorbell(self, doorbell: int) -> None: ...

    def run_queue(self, csg: int, cs: int) -> None: ...

    def is_busy(self, csg: int, cs: int) -> bool: ...


class IdleExecutor:
    """The executor until ring processing is modelled: runs nothing, so every CS is idle."""

    def on_cs_start(self, csg: int, cs: int) -> None:
        """Nothing to fetch yet: the stream stays idle at its start position."""

    def on_cs_stop(self, csg: int, cs: int) -> None:
        """Nothing is running, so nothing needs stopping."""

    def on_user_doorbell(self, doorbell: int) -> None:
        """A new ``insert`` is not fetched by this executor."""

    def run_queue(self, csg: int, cs: int) -> None:
        """Executes no instruction."""

    def is_busy(self, csg: int, cs: int) -> bool:
        return False


@dataclass(frozen=True)
class BootRecord:
    """One completed boot: virtual time, ``"cold"``/``"fast"``/``"slow"`` and the release name."""

    time_ns: int
    kind: str
    release: str


class SimMcu:
    """The simulated MCU plugged into :attr:`SimGpu.mcu` (``control(value)``/``reset()`` hook).

    Attributes:
        config: timings and boot-time values (:class:`McuConfig`).
        faults: fault hooks (:class:`McuFaults`).
        state: :class:`McuState`.
        release: the firmware release identified at the last boot (None before).
        iface: the interface layout read at the last boot (None before).
        glb: the GLB interface model. csg: one :class:`CsgSlot` per CSG slot (empty before boot).
        executor: the command-stream executor hook (:class:`CsExecutor`).
        boots: completed boots. crashes: ``(time_ns, reason)`` of every crash.
        rings: doorbell-0 rings the MCU answered to.
    """

    def __init__(self, sim: SimGpu) -> None:
        self.sim = sim
        self.config = McuConfig()
        self.faults = McuFaults()
        self.state = McuState.DISABLED
        self.release: FirmwareRelease | None = None
        self.iface: InterfaceMap | None = None
        self._input_snap: tuple[InterfaceMap, int, int, bytearray] | None = None
        #: Firmware work retried because an access stalled behind a driver LOCK.
        self.stalls = 0
        self.glb = GlbInterface(self)
        self.csg: list[CsgSlot] = []
        self.executor: CsExecutor = CsExec(self)
        self.watch = ProtocolWatch(self)
        self.boots: list[BootRecord] = []
        self.crashes: list[tuple[int, str]] = []
        self.rings = 0
        self._boot_event: Event | None = None
        self._answer_event: Event | None = None
        self._last_stop_clean = False
        self._rw_digest: tuple[str, str] | None = None
        sim.on_doorbell(self._doorbell)

    # -- McuHook ------------------------------------------------------------------------------

    def control(self, value: int) -> None:
        """MCU_CONTROL was written (0 DISABLE, 1 ENABLE, 2 AUTO; §1.9)."""
        if value == 0:
            self._stop()
            return
        if self.state in (McuState.BOOTING, McuState.RUNNING):
            return
        name = _CONTROL_NAMES.get(value, str(value))
        if self.state in (McuState.HALTED, McuState.FATAL):
            self.sim.note(f"MCU_CONTROL = {name} while the MCU is {self.state.value}: it restarts only after "
                          "a GPU reset")
            return
        self.config.validate()
        self.faults.validate()
        if not self.sim.require_l2_ready(f"MCU boot (MCU_CONTROL = {name})"):
            self.sim.note("MCU enabled with the L2 off: it never boots")
            return
        self._check_as0_programmed(name)
        self._start_boot()

    def auto_restart(self) -> None:
        """A fast GPU reset with MCU_CONTROL = AUTO: the MCU restarts by itself (§1.9).

        No host write is involved, so there are no write-time checks; the boot still needs AS0 and
        the shared section when it completes (else it fails fatally like any boot).
        """
        if self.state is McuState.DISABLED:
            self._start_boot()

    def _start_boot(self) -> None:
        self.state = McuState.BOOTING
        if self.faults.never_boots:
            self.sim.note("fault hook: the MCU boot never completes")
            return
        delay = self.config.slow_boot_ns if self.faults.slow_boot else self.config.boot_latency_ns
        self._boot_event = self.sim.clock.schedule(delay, self._boot, "MCU boot")

    def reset(self) -> None:
        """A GPU reset or power cycle stopped the MCU (MCU_STATUS is already 0); memory is kept."""
        self._record_stop()
        self._quiesce()
        self.state = McuState.DISABLED

    # -- public helpers (tests, the executor) ---------------------------------------------------

    def layout(self) -> InterfaceMap:
        """The interface layout of the running firmware.

        Raises:
            InvalidArgument: the MCU has not booted (there is no interface yet).
        """
        if self.iface is None:
            raise InvalidArgument("sim MCU: no CSF interface yet (the MCU has not booted)")
        return self.iface

    @property
    def status(self) -> int:
        """The MCU_STATUS value this state reports."""
        return _STATUS_OF[self.state]

    def inject_fatal(self, halt_status: int = HALT_STATUS_PANIC,
                     reason: str = "injected by inject_fatal") -> None:
        """Crash the firmware now: halt_status in the GLB output, MCU_STATUS = 3, GPU IRQ bit 19."""
        self._crash(f"fault hook: {reason}", halt_status)

    def note_activity(self) -> None:
        """Command-stream activity: restarts the GLB idle countdown (§9.3)."""
        self.glb.note_activity()

    def any_busy(self) -> bool:
        """True when the executor reports work on any started CS."""
        return any(self.executor.is_busy(slot.index, cs.index) for slot in self.csg for cs in slot.streams
                   if cs.running)

    # -- memory through AS0 ---------------------------------------------------------------------

    def read(self, va: int, size: int, access: str = "read") -> bytes:
        """Read MCU memory through AS0; a fault becomes an MCU crash, a locked region a stall
        (:class:`SimAccessStalled`, retried by :meth:`run_guarded`)."""
        try:
            return self.sim.mmu.gpu_read(MCU_AS, va, size, access=access, allow_stall=DEFER)
        except SimGpuFault as fault:
            raise McuCrash(f"MCU {access} of {size:#x} bytes at MCU VA {va:#x} faulted: {fault}") from fault

    def write(self, va: int, data: bytes) -> None:
        """Write MCU memory through AS0 (and remember it as the firmware's own write).

        A host write to firmware-owned bytes the firmware is about to overwrite is reported first
        (doorbells read only input blocks; the watchdog checks every other byte).
        """
        watched = self.watch.overlaps(va, len(data))
        try:
            if watched:
                self.watch.check_before_write(va, self.sim.mmu.gpu_swap(MCU_AS, va, data, allow_stall=DEFER))
            else:
                self.sim.mmu.gpu_write(MCU_AS, va, data, allow_stall=DEFER)
        except SimGpuFault as fault:
            raise McuCrash(f"MCU write of {len(data):#x} bytes at MCU VA {va:#x} faulted: {fault}") from fault
        self.watch.fw_wrote(va, data)

    def snapshot(self) -> bytes:
        """The interface part of the shared section as the MCU reads it now (after a boot)."""
        shared_va = SHARED_SECTION_VA if self.iface is None else self.iface.shared_va
        return self.read(shared_va, self.watch.extent)

    def input_snapshot(self) -> bytearray:
        """Like :meth:`snapshot`, but only the host-written input blocks are read (the rest is zero).

        Answering a doorbell needs only what the host wrote; host writes to firmware-owned bytes
        are caught before the firmware overwrites them and by the protocol watchdog. The returned
        buffer is reused by the next call.
        """
        iface = self.iface
        if iface is None:
            return bytearray(self.snapshot())
        cached = self._input_snap
        if cached is None or cached[0] is not iface:
            lo, hi = iface.input_range()
            cached = self._input_snap = (iface, lo, hi, bytearray(self.watch.extent))
        _, lo, hi, buf = cached
        try:
            self.sim.mmu.gpu_read_into(MCU_AS, iface.shared_va + lo, memoryview(buf)[lo:hi],
                                       allow_stall=DEFER)
        except SimGpuFault as fault:
            raise McuCrash(f"MCU read of its input blocks at MCU VA {iface.shared_va + lo:#x} faulted: "
                           f"{fault}") from fault
        return buf

    def raise_job_irq(self, bits: int) -> None:
        """Raise JOB_IRQ bits (after the ACK words were written, §7.3, §9.7)."""
        self.sim.job_irq.raise_bits(bits)

    def violation(self, kind: str, message: str, *, register: str | None = None,
                  value: int | None = None) -> None:
        """A driver protocol error (strict: SimProtocolError)."""
        self.sim.violation(kind, message, register=register, value=value)

    def run_guarded(self, what: Callable[[], None]) -> None:
        """Run firmware work; a crash it hits makes the MCU FATAL.

        An access that stalls behind a region the driver locked (§3.3: the hardware stalls it until
        UNLOCK/FLUSH) makes the work run again a little later: firmware work is written to be
        repeatable (it re-reads what it needs and skips what is already done).
        """
        try:
            what()
        except McuCrash as crash:
            self._crash(crash.reason, crash.halt_status)
        except SimAccessStalled as stall:
            self.stalls += 1
            self.sim.clock.schedule(STALL_RETRY_NS, lambda: self.run_guarded(what), f"MCU retry ({stall})")

    def as0_locked_over_interface(self) -> bool:
        """True when an AS0 lock covers the interface: the MCU's accesses would stall (§3.3)."""
        region = self.sim.mmu.locked_region(MCU_AS)
        return (region is not None and self.iface is not None
                and region.overlaps(self.iface.shared_va, self.watch.extent))

    # -- boot -------------------------------------------------------------------------------------

    def _check_as0_programmed(self, name: str) -> None:
        mmu = self.sim.mmu
        modes = (mmu.live_config(MCU_AS).adrmode, mmu.pending_config(MCU_AS).adrmode)
        if not any(mode in _ENABLED_ADRMODES for mode in modes):
            msg = (f"MCU_CONTROL = {name} while AS0 is not programmed for the MCU VM (TRANSCFG ADRMODE live "
                   f"{modes[0]}, pending {modes[1]}): panthor binds the MCU VM to AS0 before starting the "
                   "MCU (§3.5)")
            self.violation("mcu-as0", msg, register="MCU_CONTROL")

    def _boot(self) -> None:
        self._boot_event = None
        self.run_guarded(self._boot_sequence)

    def _boot_sequence(self) -> None:
        self._check_as0_live()
        release = self._identify()
        image = self.read(SHARED_SECTION_VA, release.shared_size)
        try:
            iface = parse_interface(image)
        except FirmwareFormatError as err:
            raise McuCrash(f"the shared section holds no usable control-block image ({err}); was it loaded?",
                           HALT_STATUS_PANIC) from err
        kind = self._restart_kind(image, release)
        self.release, self.iface = release, iface
        self.watch.attach(iface, image)
        self._publish_control(image, iface, release)
        fast = kind == "fast"
        self.glb.boot(image, fast)
        self.csg = [CsgSlot(self, group) for group in iface.groups]
        for slot in self.csg:
            slot.boot(image, fast)
        self.state = McuState.RUNNING
        self._last_stop_clean = False
        self.boots.append(BootRecord(self.sim.clock.now_ns(), kind, release.name))
        self.sim.gpu.set_mcu_status(MCU_STATUS_ENABLED)
        self.raise_job_irq(JOB_IRQ_GLB)
        self.watch.start()

    def _check_as0_live(self) -> None:
        """An AS0 left in its reset state (ADRMODE 0) or another unmodelled mode cannot fetch code: the
        first fetch faults like any access through an unconfigured AS (registers §7 "Reset state")."""
        mode = self.sim.mmu.live_config(MCU_AS).adrmode
        if mode in _ENABLED_ADRMODES or mode == _ADRMODE_UNMAPPED:
            return  # translated (or faulted) by the MMU model itself
        status = TRANSLATION_FAULT_0 | ACCESS_TYPES["execute"] << FAULTSTATUS_ACCESS_SHIFT
        self.sim.mmu.raise_fault(MCU_AS, status, CODE_SECTION_VA)
        raise McuCrash(f"MCU code fetch at MCU VA {CODE_SECTION_VA:#x}: AS0 is not enabled (live TRANSCFG "
                       f"ADRMODE {mode})")

    def _identify(self) -> FirmwareRelease:
        """Fetch the code section (execute access) and look its hash up (no code is interpreted)."""
        first = self.read(CODE_SECTION_VA, _PAGE, access="execute")
        if first.startswith(SYNTHETIC_CODE_MARK):
            release = identify(first)
        else:
            release = identify(first + self._read_mapped(CODE_SECTION_VA + _PAGE, CODE_SECTION_SIZE - _PAGE))
        if release is UNKNOWN_RELEASE:
            self.sim.note(f"MCU: unknown firmware image (code digest {code_digest(first)[:16]}...): "
                          "answering as interface v1.5.0 (§2.7)")
        gpu_id = self.sim.config.gpu_id
        arch = (gpu_id >> 28 & 0xF, gpu_id >> 24 & 0xF)
        if release.gpu_arch is not None and release.gpu_arch != arch:
            built = f"{release.gpu_arch[0]}.{release.gpu_arch[1]}"
            self.sim.note(f"MCU: firmware {release.name} is built for arch {built} but GPU_ID {gpu_id:#010x} "
                          f"is arch {arch[0]}.{arch[1]}")
        return release

    def _read_mapped(self, va: int, size: int) -> bytes:
        """Read the part of ``[va, va + size)`` AS0 maps executable, stopping at the first hole."""
        end = va
        while end < va + size and not isinstance(self.sim.mmu.translate(MCU_AS, end, "execute"), SimFault):
            end += _PAGE
        return self.read(va, end - va, access="execute") if end > va else b""

    def _restart_kind(self, image: bytes, release: FirmwareRelease) -> str:
        version = GlbControl.from_buffer_copy(image, 0).version
        booted = bool(self.boots)
        if version != 0 and booted and self._last_stop_clean:
            return "fast"
        if version != 0 and booted:
            msg = (f"MCU restarted after a stop without HALT but the shared section was not reloaded (GLB "
                   f"version {version:#x} still set): a slow restart must re-initialise every section (§3.8)")
            self.violation("stale-sections", msg, register="MCU_CONTROL", value=version)
        digest = self._rw_section_digest(release)
        if not booted or self._rw_digest is None or self._rw_digest[0] != release.name:
            self._rw_digest = None if digest is None else (release.name, digest)
            return "cold" if not booted else "slow"
        if digest is not None and digest != self._rw_digest[1]:
            va, size = release.rw_section or (0, 0)
            self.violation("stale-sections", f"MCU slow restart: the writable section {va:#x}+{size:#x} "
                           "differs from the image loaded at the first boot: the driver did not "
                           "re-initialise it (§3.8)",
                           register="MCU_CONTROL")
        return "slow"

    def _rw_section_digest(self, release: FirmwareRelease) -> str | None:
        if release.rw_section is None:
            return None
        va, size = release.rw_section
        return code_digest(self.read(va, size))

    def _publish_control(self, image: bytes, iface: InterfaceMap, release: FirmwareRelease) -> None:
        """Write the control-block fields the real firmware fills in at boot (§2.8, §9.1)."""
        cfg, corrupt = self.config, self.faults.corrupt_interface
        glb = GlbControl.from_buffer_copy(image, 0)
        glb.version = 0 if corrupt == "version_zero" else release.version
        glb.features = cfg.glb_features
        glb.prfcnt_size = cfg.prfcnt_size
        if corrupt == "input_va_outside":
            glb.input_va = iface.shared_va + iface.shared_size
        if corrupt == "group_num_below_min":
            glb.group_num = 2
        end = CSG_CONTROL_OFFSET + iface.group_num * iface.group_stride
        region = bytearray(image[CSG_CONTROL_OFFSET:end])
        for group in iface.groups:
            at = group.control_va - iface.shared_va - CSG_CONTROL_OFFSET
            csg = CsgControl.from_buffer_copy(region, at)
            odd_csg = corrupt == "unequal_csg" and group.index == 1
            csg.suspend_size = cfg.suspend_size + (_PAGE if odd_csg else 0)
            csg.protm_suspend_size = cfg.protm_suspend_size
            region[at:at + len(bytes(csg))] = bytes(csg)
            for stream in group.streams:
                cs_at = stream.control_va - iface.shared_va - CSG_CONTROL_OFFSET
                cs = CsControl.from_buffer_copy(region, cs_at)
                odd = corrupt == "unequal_cs" and (group.index, stream.index) == (0, 1)
                cs.features = cfg.cs_features ^ (1 if odd else 0)
                region[cs_at:cs_at + len(bytes(cs))] = bytes(cs)
        self.write(iface.shared_va, bytes(glb))
        self.write(iface.shared_va + CSG_CONTROL_OFFSET, bytes(region))

    # -- doorbells --------------------------------------------------------------------------------

    def _doorbell(self, index: int) -> None:
        if self.sim.mcu is not self:
            return  # unplugged (``sim.mcu = None``): no firmware listens any more
        if index != 0:
            if self.state is McuState.RUNNING:
                self.executor.on_user_doorbell(index)
            return
        if self.state is not McuState.RUNNING:
            if self.state is McuState.FATAL:
                self.sim.note("doorbell 0 rung while the MCU is FATAL: nothing answers")
                return
            self.violation("mcu-not-running", f"doorbell 0 rung while the MCU is {self.state.value} "
                           f"(MCU_STATUS = {self.status}): no firmware reads the GLB input",
                           register="DOORBELL0")
            return
        self.rings += 1
        self._schedule_answer(self.config.answer_latency_ns)

    @property
    def answer_pending(self) -> bool:
        """A doorbell-0 ring is waiting for the firmware's answer."""
        return self._answer_event is not None

    def _schedule_answer(self, delay_ns: int) -> None:
        if self._answer_event is None:
            self._answer_event = self.sim.clock.schedule(delay_ns, self._answer, "MCU answers doorbell 0")

    def _answer(self) -> None:
        self._answer_event = None
        if self.state is not McuState.RUNNING:
            return
        if self.as0_locked_over_interface():
            # The MCU's accesses stall behind the lock; try again shortly (§3.3).
            self._schedule_answer(max(1_000, self.config.answer_latency_ns))
            return
        self.config.validate()
        self.faults.validate()
        self.run_guarded(self._process_glb)

    def _process_glb(self) -> None:
        self.glb.process(self.input_snapshot())

    # -- halt, crash, stop ------------------------------------------------------------------------

    def halt(self) -> None:
        """GLB_REQ.HALT 0→1: stop processing, halt_status = OK, MCU_STATUS = 2 (no ACK, §3.8, §9.3)."""
        self._quiesce(keep_slots=True)
        self.glb.out.halt_status = HALT_STATUS_OK
        self.glb.write_out()
        self.state = McuState.HALTED
        self.sim.gpu.set_mcu_status(MCU_STATUS_HALT)

    def _crash(self, reason: str, halt_status: int) -> None:
        self.crashes.append((self.sim.clock.now_ns(), reason))
        self.sim.note(f"MCU crashed: {reason}")
        self._quiesce(keep_slots=True)
        if self.state is McuState.RUNNING:
            self.glb.out.halt_status = halt_status
            try:
                self.glb.write_out()
            except McuCrash:
                pass  # the GLB output itself is unreachable: nothing more to report there
        self.state = McuState.FATAL
        self.sim.gpu.set_mcu_status(MCU_STATUS_FATAL)

    def _stop(self) -> None:
        self._record_stop()
        self._quiesce()
        self.state = McuState.DISABLED
        self.sim.gpu.set_mcu_status(MCU_STATUS_DISABLED)

    def _record_stop(self) -> None:
        """Remember whether the MCU stopped cleanly (halted): the next boot may then be a fast one."""
        self._last_stop_clean = self.state is McuState.HALTED or (
            self.state is McuState.DISABLED and self._last_stop_clean)

    def _quiesce(self, *, keep_slots: bool = False) -> None:
        """Cancel every pending MCU event; drop the run-time slot state unless ``keep_slots``."""
        for event in (self._boot_event, self._answer_event):
            if event is not None:
                event.cancel()
        self._boot_event = self._answer_event = None
        self.watch.stop()
        self.glb.stop()
        for slot in self.csg:
            slot.stop_streams()
        if not keep_slots:
            self.csg = []
            reset = getattr(self.executor, "reset", None)
            if reset is not None:
                reset()
