"""Power domains of the GPU_CONTROL block: L2, SHADER, TILER and core stacks.

Register layout (reference ``mali-csf-registers-and-mmu.md`` §1.1, §1.10), 64-bit bitmaps split
into ``_LO``/``_HI`` halves:

========= ======= ======= ======= ======== ========= ===========
Domain    PRESENT READY   PWRON   PWROFF   PWRTRANS  PWRACTIVE
========= ======= ======= ======= ======== ========= ===========
SHADER    0x100   0x140   0x180   0x1C0    0x200     0x240
TILER     0x110   0x150   0x190   0x1D0    0x210     0x250
L2        0x120   0x160   0x1A0   0x1E0    0x220     0x260
STACK     0xE00   0xE10   0xE20   0xE30    0xE40     —
========= ======= ======= ======= ======== ========= ===========

Behaviour (§5.3, §7 "Power"): a PWRON/PWROFF write sets the requested units' PWRTRANS bits in the
same write (one later panthor polls PWRTRANS clear instead of READY set, so PWRTRANS must rise
synchronously), then after a configurable virtual delay READY changes *in the same instant* as
PWRTRANS clears, and POWER_CHANGED_SINGLE (bit 9) / POWER_CHANGED_ALL (bit 10, when no transition
is left in any domain) rise in GPU_IRQ_RAWSTAT. Bits for absent units are ignored. With CSF the
host powers only the L2; host writes to the shader/tiler/stack requests are accepted but noted
(panthor never makes them — the firmware powers the cores, §5.4).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .clock import Event
from .regfile import U32_MASK, Access, Register, split64

if TYPE_CHECKING:
    from .gpu import SimGpu

GPU_IRQ_POWER_CHANGED_SINGLE = 1 << 9
GPU_IRQ_POWER_CHANGED_ALL = 1 << 10


@dataclass(frozen=True)
class DomainLayout:
    """Offsets of one power domain's registers (None = the register does not exist)."""

    name: str
    present: int
    ready: int
    pwron: int
    pwroff: int
    pwrtrans: int
    pwractive: int | None


#: The sim's own table of the power-domain registers (reference §1.1).
DOMAIN_LAYOUTS = (
    DomainLayout("SHADER", 0x100, 0x140, 0x180, 0x1C0, 0x200, 0x240),
    DomainLayout("TILER", 0x110, 0x150, 0x190, 0x1D0, 0x210, 0x250),
    DomainLayout("L2", 0x120, 0x160, 0x1A0, 0x1E0, 0x220, 0x260),
    DomainLayout("STACK", 0xE00, 0xE10, 0xE20, 0xE30, 0xE40, None),
)


@dataclass(eq=False)
class _Transition:
    """One in-flight request; ``bits`` shrinks when a later request takes some of its units."""

    bits: int
    power_on: bool
    event: Event | None = None


@dataclass(eq=False)
class PowerDomain:
    """State of one domain: READY/PWRTRANS/PWRACTIVE bitmaps plus in-flight requests."""

    layout: DomainLayout
    present: Callable[[], int]
    ready: int = 0
    active: int = 0
    transitions: list[_Transition] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.layout.name

    @property
    def trans(self) -> int:
        """PWRTRANS: units with a request in flight."""
        bits = 0
        for t in self.transitions:
            bits |= t.bits
        return bits

    def reset(self) -> None:
        for t in self.transitions:
            if t.event is not None:
                t.event.cancel()
        self.transitions.clear()
        self.ready = 0
        self.active = 0


class PowerController:
    """All power domains of the simulated GPU and their registers."""

    def __init__(self, sim: SimGpu) -> None:
        self._sim = sim
        cfg = sim.config
        present = {
            "SHADER": lambda: cfg.shader_present,
            "TILER": lambda: cfg.tiler_present,
            "L2": lambda: cfg.l2_present,
            "STACK": lambda: cfg.stack_present,
        }
        self.domains = {lay.name: PowerDomain(lay, present[lay.name]) for lay in DOMAIN_LAYOUTS}
        self._l2 = self.domains["L2"]

    @property
    def l2(self) -> PowerDomain:
        return self.domains["L2"]

    @property
    def transitioning(self) -> bool:
        """GPU_STATUS.PWR_ACTIVE: some transition is in progress in some domain."""
        return any(d.transitions for d in self.domains.values())

    def l2_ready(self) -> bool:
        """True when every present L2 slice group is powered (L2_READY == L2_PRESENT).

        Checked before every GPU memory access, so it reads the fields directly.
        """
        l2 = self._l2
        present = self._sim.config.l2_present
        if not present or l2.ready & present != present:
            return False
        return not l2.transitions or not l2.trans & present

    # -- registers -----------------------------------------------------------------------------

    def registers(self) -> list[Register]:
        regs: list[Register] = []
        for dom in self.domains.values():
            lay = dom.layout
            regs += split64(f"{lay.name}_PRESENT", lay.present, Access.RO, dom.present)
            regs += split64(f"{lay.name}_READY", lay.ready, Access.RO, _attr(dom, "ready"))
            regs += split64(f"{lay.name}_PWRTRANS", lay.pwrtrans, Access.RO, _attr(dom, "trans"))
            if lay.pwractive is not None:
                regs += split64(f"{lay.name}_PWRACTIVE", lay.pwractive, Access.RO, _attr(dom, "active"))
            for kind, base, on in (("PWRON", lay.pwron, True), ("PWROFF", lay.pwroff, False)):
                for half, suffix in ((0, "LO"), (1, "HI")):
                    regs.append(Register(
                        f"{lay.name}_{kind}_{suffix}", base + 4 * half, Access.WO,
                        on_write=self._request_hook(dom, on, half)))
        return regs

    def _request_hook(self, dom: PowerDomain, power_on: bool, half: int) -> Callable[[int], None]:
        def hook(value: int) -> None:
            self.request(dom.name, (value & U32_MASK) << (32 * half), power_on)
        return hook

    # -- behaviour -------------------------------------------------------------------------------

    def request(self, domain: str, bits: int, power_on: bool) -> None:
        """Host request: start powering ``bits`` of ``domain`` on (or off); absent units are ignored."""
        if domain != "L2":
            # reference §5.4: with CSF the firmware powers shader cores and tiler, never the host.
            verb = "PWRON" if power_on else "PWROFF"
            self._sim.note(f"host wrote {domain}_{verb} = {bits:#x}; panthor never does this on CSF "
                           "(the firmware powers the cores)")
        self.firmware_request(domain, bits, power_on)

    def firmware_request(self, domain: str, bits: int, power_on: bool) -> None:
        """Power transition requested by the simulated MCU (e.g. shader cores per core_en_mask)."""
        sim = self._sim
        dom = self.domains[domain]
        verb = "PWRON" if power_on else "PWROFF"
        bits &= dom.present()
        if power_on:
            bits &= ~dom.ready | dom.trans
        else:
            bits &= dom.ready | dom.trans
        if not bits:
            return
        for t in dom.transitions:
            t.bits &= ~bits  # the newest request for a unit wins
        transition = _Transition(bits, power_on)
        dom.transitions.append(transition)
        if domain == "L2" and power_on and sim.faults.l2_never_powers_up:
            sim.note(f"fault hook: L2 power-up of {bits:#x} will never complete")
            return
        delay = sim.config.l2_power_delay_ns if domain == "L2" else sim.config.core_power_delay_ns
        transition.event = sim.clock.schedule(
            delay, lambda: self._complete(dom, transition), f"{domain} {verb} {bits:#x}")

    def _complete(self, dom: PowerDomain, transition: _Transition) -> None:
        dom.transitions.remove(transition)
        if transition.power_on:
            dom.ready |= transition.bits
        else:
            dom.ready &= ~transition.bits
        if not transition.bits:
            return  # every unit was taken over by a later request
        irq = GPU_IRQ_POWER_CHANGED_SINGLE
        if not self.transitioning:
            irq |= GPU_IRQ_POWER_CHANGED_ALL
        self._sim.gpu_irq.raise_bits(irq)

    def reset(self) -> None:
        """Reset state: every READY/PWRTRANS/PWRACTIVE bit 0, in-flight requests dropped."""
        for dom in self.domains.values():
            dom.reset()


def _attr(obj: object, name: str) -> Callable[[], int]:
    """A getter of ``obj.name`` for a dynamic register (evaluated on every read)."""
    return lambda: int(getattr(obj, name))
