"""The CSF firmware of one GPU, from file to firmware-ready: :class:`CsfFirmware`.

Order (shared/reference/csf-firmware-and-interfaces.md §3.5-§3.8, panthor ``panthor_fw_init``):

1. locate and parse the image (:func:`~.locate.locate_firmware`, :func:`~.container.parse_firmware`);
2. create the MCU VM, map and initialise every section, make the VM active in AS 0 (:mod:`.loader`);
3. start the MCU and wait for its boot interrupt (:mod:`.mcu`);
4. discover and validate the interface (:mod:`.interface`), log panthor's interface line;
5. global initialisation and doorbell 0 (:mod:`.glb`).

"Firmware ready" = the boot interrupt arrived, GLB_VERSION ≠ 0 and the interface validated (§3.5);
:meth:`CsfFirmware.start` additionally waits for the global initialisation to be acknowledged.
:meth:`CsfFirmware.reset` is panthor's reset path: halt if possible, soft reset, L2 on, MMU post-reset,
AS 0 re-activated, fast restart (after a clean halt) or full reload, boot, global init (§3.8).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from ..errors import Busy, FirmwareFormatError, HardwareFault, MaliError, NotSupported, Timeout
from ..gpu import Gpu
from ..mmu import VM, Mmu
from ..regs.gpu_fields import McuStatus
from .container import FirmwareImage, parse_firmware
from .glb import RK3588_TIMESTAMP_HZ, GlobalInterface
from .interface import CsfInfo, CsfInterface, discover_interface
from .loader import LoadedFirmware, load_firmware
from .locate import SYSTEM_FIRMWARE_ROOT, FirmwareSource, locate_firmware
from .mcu import BOOT_TIMEOUT, Mcu

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class StepTime:
    """Host CPU time and device (platform clock) time of one step."""

    host_s: float
    device_s: float

    def to_dict(self) -> dict[str, float]:
        return {"host_s": self.host_s, "device_s": self.device_s}


class CsfFirmware:
    """The CSF firmware of the GPU behind ``gpu``/``mmu``.

    Args:
        gpu: the probed GPU (L2 powered before :meth:`boot`).
        mmu: the MMU (its allocator backs the sections; the MCU VM is created in it).
        image: the parsed firmware.
        source: where the image came from (for messages), if known.
        timestamp_hz: system timestamp rate used to convert GLB timers (24 MHz on RK3588; None selects
            the GPU cycle counter with ``gpu_clock_hz``).
        gpu_clock_hz: GPU clock rate, used only when ``timestamp_hz`` is None.

    Attributes:
        loaded: the sections in the MCU VM (after :meth:`load`).
        interface: the discovered interface (after :meth:`boot`).
        glb: the GLB request driver (after :meth:`boot`).
        log: what panthor would print (protected-mode warning, git sha, interface line, resets).
        timings: per-step times of the last :meth:`load`/:meth:`boot`/:meth:`init_global`.
        resets: kinds of the resets performed (``"fast"``/``"slow"``).
    """

    def __init__(self, gpu: Gpu, mmu: Mmu, image: FirmwareImage, *, source: FirmwareSource | None = None,
                 timestamp_hz: int | None = RK3588_TIMESTAMP_HZ, gpu_clock_hz: int | None = None) -> None:
        self.gpu = gpu
        self.mmu = mmu
        self.image = image
        self.source = source
        self.timestamp_hz = timestamp_hz
        self.gpu_clock_hz = gpu_clock_hz
        self.mcu = Mcu(gpu)
        self.vm: VM | None = None
        self.loaded: LoadedFirmware | None = None
        self.interface: CsfInterface | None = None
        self.glb: GlobalInterface | None = None
        self.initialised = False
        #: The MCU halted cleanly (HALT acknowledged through MCU_STATUS) and has not restarted since.
        self.halted_cleanly = False
        self.log: list[str] = []
        self.timings: dict[str, StepTime] = {}
        self.resets: list[str] = []
        if source is not None:
            self._log(f"firmware: {source.description}")

    @classmethod
    def locate(cls, gpu: Gpu, mmu: Mmu, path: str | os.PathLike[str] | None = None, *,
               env: Mapping[str, str] | None = None, firmware_root: str = SYSTEM_FIRMWARE_ROOT,
               **kwargs: Any) -> CsfFirmware:
        """Find the firmware for this GPU (synthetic on the simulator when none exists) and parse it.

        Raises:
            FirmwareNotFound: on hardware, no file (the message names every path tried), or an explicit
                ``path`` that does not exist.
            FirmwareFormatError: the file is malformed (the message names it).
        """
        gpu_id = gpu.info.gpu_id if gpu.info else gpu.probe().gpu_id
        source = locate_firmware(None if path is None else os.fspath(path), gpu_id=gpu_id,
                                 simulated=gpu.platform.simulated, env=env, firmware_root=firmware_root)
        image = _parse(source)
        return cls(gpu, mmu, image, source=source, **kwargs)

    # -- bookkeeping ------------------------------------------------------------------------------

    def _log(self, line: str) -> None:
        self.log.append(line)
        log.info("%s", line)

    def _timed(self, step: str, fn: Callable[[], T]) -> T:
        t0, d0 = time.perf_counter(), self.gpu.clock.now()
        result = fn()
        self.timings[step] = StepTime(time.perf_counter() - t0, self.gpu.clock.now() - d0)
        return result

    @property
    def info(self) -> CsfInfo | None:
        """The discovered :class:`CsfInfo` (None before the first boot)."""
        return None if self.interface is None else self.interface.info

    @property
    def ready(self) -> bool:
        """Booted, interface valid and global initialisation sent."""
        return self.interface is not None and self.initialised and self.mcu.booted

    # -- load, boot, init -------------------------------------------------------------------------

    def load(self) -> LoadedFirmware:
        """Create the MCU VM, map and initialise every section, bind the VM to AS 0 (§3.2-§3.5 step 3).

        Raises:
            MaliError: see :func:`~.loader.load_firmware`; a second load is refused (Busy).
        """
        if self.loaded is not None:
            raise Busy("firmware already loaded into the MCU VM")
        if self.vm is None:
            self.vm = self.mmu.vms.get(0) or self.mmu.create_mcu_vm()
        vm = self.vm

        def run() -> LoadedFirmware:
            return load_firmware(self.mmu, vm, self.image)

        self.loaded = self._timed("load", run)
        for line in self.loaded.log:
            self._log(line)
        return self.loaded

    def boot(self, timeout: float = BOOT_TIMEOUT) -> CsfInfo:
        """Start the MCU, wait for its boot interrupt, discover and validate the interface (§3.5-§3.6).

        Returns:
            The interface facts. On return JOB IRQ bit 31 was seen, GLB_VERSION ≠ 0 and every check of §3.6
            passed; :attr:`glb` is ready for requests.

        Raises:
            Timeout / HardwareFault: the MCU did not boot (MCU_STATUS decoded in the message).
            HardwareFault: (EINVAL) the interface failed validation.
            NotSupported: the GPU has no address space besides AS 0 for user VMs.
        """
        loaded = self.loaded if self.loaded is not None else self.load()
        if len(self.mmu.as_numbers) < 2:
            raise NotSupported("the GPU has no address space besides AS0 (the MCU's) for user VMs")
        if self.glb is not None:
            self.glb.close()
            self.glb = None
        self.initialised = False
        self.halted_cleanly = False
        self._timed("mcu_start", lambda: self.mcu.start(timeout))
        previous = self.interface
        self.interface = self._timed("discover", lambda: discover_interface(loaded.shared_view,
                                                                             git_sha=self.image.git_sha))
        if previous is not None and previous.info.version != self.interface.info.version:
            now = self.interface.info.version
            raise HardwareFault(f"Version check failed in firmware reboot: interface {now} after "
                                f"{previous.info.version}", register="GLB_CONTROL.version", value=now.raw)
        self._log(self.interface.info.log_line)
        info = self.gpu.info or self.gpu.probe()
        self.glb = GlobalInterface(self.interface.glb, self.mcu, shader_present=info.shader_present,
                                   timestamp_hz=self.timestamp_hz, gpu_clock_hz=self.gpu_clock_hz)
        return self.interface.info

    def init_global(self, *, wait: bool = True) -> dict[str, int]:
        """The §3.7 global initialisation and doorbell 0 (see :meth:`GlobalInterface.global_init`).

        Raises:
            Busy: not booted. Timeout / HardwareFault: an acknowledgement did not come (with ``wait``).
        """
        glb = self._glb()
        values = self._timed("glb_init", lambda: glb.global_init(wait=wait))
        self.initialised = True
        return values

    def start(self) -> CsfInfo:
        """Load (if needed), boot and initialise: firmware-ready on return."""
        info = self.boot()
        self.init_global()
        return info

    def _glb(self) -> GlobalInterface:
        if self.glb is None:
            raise Busy("the firmware has not booted: no GLB interface yet")
        return self.glb

    # -- halt, stop, reset ------------------------------------------------------------------------

    def halt(self) -> None:
        """Halt the MCU cleanly (GLB HALT, MCU_STATUS == HALT within 100 ms, HALT cleared).

        A later :meth:`reset` then restarts fast (panthor's suspend/resume path).
        """
        self._glb().halt()
        self.initialised = False
        self.halted_cleanly = True

    def stop(self) -> None:
        """``MCU_CONTROL = 0`` and wait for MCU_STATUS DISABLED (100 ms)."""
        self.initialised = False
        self.mcu.stop()

    def reset(self, *, on_hang: bool = False) -> str:
        """panthor's GPU reset with firmware restart (§3.8, mali-csf-registers-and-mmu.md §5.2).

        Pre-reset: unless ``on_hang``, a graceful halt when the MCU runs (or the clean halt of a previous
        :meth:`halt`, panthor's suspend/resume) allows a fast restart; mask the JOB IRQ. Then soft
        reset, L2 on, MMU post-reset, AS 0 re-activated; after a clean halt a fast restart (nothing
        reloaded, HALT already 0), otherwise every section re-initialised from the private copies; then
        boot, the interface re-read (its version must not change) and the global initialisation.

        Returns:
            ``"fast"`` or ``"slow"``.

        Raises:
            MaliError: a step failed (``stage`` names it); the device may be reset again.
        """
        if self.loaded is None or self.vm is None:
            raise Busy("reset: the firmware was never loaded")
        fast = not on_hang and (self._still_halted() or self._try_halt())
        self.mcu.suspend_irq()
        self.initialised = False
        gpu_irqs = self.gpu.irq.mask_of("gpu")
        self.gpu.soft_reset()
        if gpu_irqs:
            self.gpu.enable_interrupts()
        self.gpu.power_on_l2()
        self.mmu.post_reset()
        self.mmu.activate(self.vm)
        kind = "fast" if fast else "slow"
        if fast:
            self._glb().clear_halt()  # already 0 after halt(); the FW reacts only to 0→1 edges
        else:
            self.loaded.reload()
        self.resets.append(kind)
        what = "fast restart, nothing reloaded" if fast else "all sections reloaded"
        self._log(f"GPU reset ({kind}): {what}")
        self.boot()
        self.init_global()
        return kind

    def _still_halted(self) -> bool:
        return self.halted_cleanly and self.mcu.status() is McuStatus.HALT

    def _try_halt(self) -> bool:
        if self.glb is None or self.mcu.status() is not McuStatus.ENABLED:
            return False
        try:
            self.glb.halt()
        except (Timeout, HardwareFault) as err:
            self._log(f"Failed to cleanly suspend MCU: {err.message}")
            return False
        return True

    def close(self) -> None:
        """Stop the MCU, unmap and free every section, destroy the MCU VM, detach from the IRQs."""
        if self.glb is not None:
            self.glb.close()
            self.glb = None
        try:
            if self.mcu.status() is not McuStatus.DISABLED:
                self.mcu.stop()
        except MaliError as err:
            self._log(f"close: {err.message}")
        self.mcu.close()
        if self.loaded is not None:
            self.loaded.unload()
            self.loaded = None
        if self.vm is not None and not self.vm.destroyed:
            self.mmu.destroy_vm(self.vm)
        self.vm = None
        self.interface = None

    def to_dict(self) -> dict[str, Any]:
        """Facts for the CLI's JSON output."""
        src = self.source
        return {
            "source": None if src is None else {"path": src.path, "synthetic": src.synthetic,
                                                "description": src.description},
            "image_version": self.image.interface_version.to_dict(),
            "git_sha": self.image.git_sha,
            "loaded": None if self.loaded is None else self.loaded.to_dict(),
            "info": None if self.info is None else self.info.to_dict(),
            "csif_info": None if self.info is None else self.info.csif_info(),
            "ready": self.ready,
            "log": list(self.log),
            "timings": {k: v.to_dict() for k, v in self.timings.items()},
            "resets": list(self.resets),
        }


def _parse(source: FirmwareSource) -> FirmwareImage:
    try:
        return parse_firmware(source.data)
    except FirmwareFormatError as err:
        where = source.path or "synthetic image"
        raise FirmwareFormatError(f"{where}: {err.message}", offset=err.offset) from None
