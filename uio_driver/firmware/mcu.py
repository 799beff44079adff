"""The MCU at register level: boot, stop, halt wait, doorbells and the JOB interrupt.

Sequences and timeouts are panthor's (mali-csf-registers-and-mmu.md §1.9 MCU_CONTROL/MCU_STATUS, §2
JOB IRQ, §5.7 boot and stop; csf-firmware-and-interfaces.md §3.5, §3.8, §7.8):

* boot: ``JOB_IRQ_CLEAR = ~0``, ``JOB_IRQ_MASK = ~0``, ``MCU_CONTROL = AUTO (2)``, then wait up to
  1000 ms for a JOB interrupt with bit 31 (GLOBAL_IF); on timeout accept the boot if
  ``JOB_IRQ_STATUS`` bit 31 is set, else fail with MCU_STATUS decoded ("Failed to boot MCU (status=…)");
* stop: ``MCU_CONTROL = 0``, poll ``MCU_STATUS == DISABLED`` every 10 µs for up to 100 ms;
* halt completion: poll ``MCU_STATUS == HALT`` every 10 µs for up to 100 ms (the GLB side of the halt
  is in :mod:`.glb`);
* doorbell *i*: write 1 to ``0x80000 + i·0x10000``.

The JOB interrupt is serviced through the GPU's :class:`~uio_driver.irq.IrqDispatcher` (a handler on
the "job" line); with no OS-level IRQ line the dispatcher reads STATUS, and RAWSTAT is polled as a
fallback, so the driver also works without interrupt delivery.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..errors import HardwareFault, MaliError, Timeout
from ..gpu import Gpu
from ..regs import doorbell as db
from ..regs import gpu_control as gc
from ..regs import job_control as jc
from ..regs.gpu_fields import McuControl, McuStatus

log = logging.getLogger(__name__)

#: panthor timeouts (§7.8) and poll interval.
BOOT_TIMEOUT = 1.000
HALT_TIMEOUT = 0.100
STOP_TIMEOUT = 0.100
POLL_INTERVAL = 10e-6

JobIrqListener = Callable[[int], None]


def mcu_status_name(status: int) -> str:
    """``"disabled"``, ``"enabled"``, ``"halt"`` or ``"fatal"`` (panthor's words for MCU_STATUS 0..3)."""
    return McuStatus(status & 3).name.lower()


class Mcu:
    """MCU_CONTROL/MCU_STATUS, the doorbells and the JOB IRQ of one GPU.

    Args:
        gpu: the GPU (register access, IRQ dispatcher, clock).

    Attributes:
        booted: a JOB interrupt with GLOBAL_IF arrived since the last :meth:`start` (panthor's flag).
        job_irqs: JOB interrupt bits handled so far, OR-ed (diagnostics).
    """

    def __init__(self, gpu: Gpu) -> None:
        self.gpu = gpu
        self.regs = gpu.regs
        self.clock = gpu.clock
        self.booted = False
        self.job_irqs = 0
        self._listeners: list[JobIrqListener] = []
        gpu.irq.add_handler("job", self._on_job_irq)

    # -- JOB interrupt --------------------------------------------------------------------------

    def add_listener(self, listener: JobIrqListener) -> None:
        """Call ``listener(bits)`` for every JOB interrupt once the firmware has booted."""
        self._listeners.append(listener)

    def remove_listener(self, listener: JobIrqListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _on_job_irq(self, bits: int) -> None:
        # panthor_job_irq_handler: the first GLOBAL_IF marks the boot; events count only once booted.
        self.job_irqs |= bits
        if not self.booted and bits & jc.JOB_IRQ_GLOBAL_IF:
            self.booted = True
        if self.booted:
            for listener in list(self._listeners):
                listener(bits)

    def service(self) -> int:
        """Handle pending JOB interrupts now (also latched RAWSTAT bits when the block is masked).

        Returns:
            The JOB interrupt bits handled (0 when nothing was pending).
        """
        irq = self.gpu.irq
        handled = irq.service("job")
        raw = irq.take_raw_event("job", jc.JOB_IRQ_PANTHOR_MASK) if not irq.mask_of("job") else 0
        if raw:
            self._on_job_irq(raw)
        return handled | raw

    def suspend_irq(self) -> None:
        """Mask every JOB interrupt (panthor_job_irq_suspend, before a reset)."""
        self.gpu.irq.set_mask("job", 0)

    # -- registers ------------------------------------------------------------------------------

    def status(self) -> McuStatus:
        """MCU_STATUS (2 bits)."""
        return McuStatus(self.regs.read(gc.MCU_STATUS) & 3)

    def ring(self, index: int = db.GLB_DOORBELL) -> None:
        """Ring doorbell ``index`` (write 1 at offset 0 of its page).

        Raises:
            InvalidArgument: ``index`` outside 0..23.
        """
        self.regs.write(db.doorbell_register(index), db.DOORBELL_RING)

    def wait_status(self, want: McuStatus, timeout: float, what: str) -> None:
        """Poll MCU_STATUS every 10 µs until it reads ``want``.

        Raises:
            Timeout: naming ``what`` and the last MCU_STATUS, decoded.
        """
        try:
            self.clock.poll(lambda: self.status() is want, timeout, what, POLL_INTERVAL)
        except Timeout as err:
            status = self.status()
            raise Timeout(f"{what}: MCU_STATUS is {status.value} ({status.name.lower()}), not "
                          f"{want.value} ({want.name.lower()}) after {timeout * 1e3:.3g} ms",
                          register="MCU_STATUS", value=int(status)) from err

    # -- boot and stop --------------------------------------------------------------------------

    def start(self, timeout: float = BOOT_TIMEOUT) -> None:
        """Start the MCU and wait for the firmware's boot interrupt (§5.7, panthor_fw_start).

        Preconditions (not checked here): L2 powered, sections loaded, MCU VM active in AS 0.

        Guarantees on return: the firmware raised JOB IRQ bit 31 (handled and cleared) and the JOB IRQ
        mask is ~0. The interface is not read here (:func:`~.interface.discover_interface` does).

        Raises:
            Timeout: no GLOBAL_IF interrupt within ``timeout`` and none latched in JOB_IRQ_STATUS;
                the message reports MCU_STATUS decoded, like panthor's "Failed to boot MCU (status=…)".
            HardwareFault: the MCU reported FATAL (MCU_STATUS = 3) while booting.
        """
        self.booted = False
        self.gpu.irq.set_mask("job", jc.JOB_IRQ_PANTHOR_MASK)  # CLEAR = ~0 then MASK = ~0
        self.regs.write(gc.MCU_CONTROL, McuControl.AUTO)
        fatal = False

        def up() -> bool:
            nonlocal fatal
            self.service()
            if self.booted:
                return True
            # Not in panthor (it waits the full second): a crashed MCU will not boot, say so at once.
            fatal = self.status() is McuStatus.FATAL
            return fatal

        try:
            self.clock.poll(up, timeout, "MCU boot", POLL_INTERVAL)
        except Timeout:
            if self.regs.read(jc.JOB_IRQ_STATUS) & jc.JOB_IRQ_GLOBAL_IF:
                self.service()  # panthor accepts a boot whose interrupt is latched but was not delivered
                self.booted = True
                return
            raise self._boot_failure(timeout, Timeout) from None
        if fatal:
            raise self._boot_failure(timeout, HardwareFault)

    def _boot_failure(self, timeout: float, kind: type[MaliError]) -> MaliError:
        raw = self.regs.read(gc.MCU_STATUS)
        name = mcu_status_name(raw)
        waited = "the MCU reported FATAL" if kind is HardwareFault else f"within {timeout * 1e3:.0f} ms"
        return kind(f"MCU boot: no JOB IRQ GLOBAL_IF (bit 31) after MCU_CONTROL = AUTO, {waited}: "
                    f"Failed to boot MCU (status={name})", register="MCU_STATUS", value=raw)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """``MCU_CONTROL = DISABLE`` and wait for ``MCU_STATUS == DISABLED`` (panthor_fw_stop).

        Raises:
            Timeout: "Failed to stop MCU", with the MCU_STATUS seen.
        """
        self.regs.write(gc.MCU_CONTROL, McuControl.DISABLE)
        self.booted = False
        self.wait_status(McuStatus.DISABLED, timeout, "Failed to stop MCU")

    def close(self) -> None:
        """Detach from the IRQ dispatcher."""
        self.gpu.irq.remove_handler("job", self._on_job_irq)
        self._listeners.clear()
