"""The MMU block: MMU IRQ registers and the per-address-space (AS) register files.

Written from ``mali-csf-registers-and-mmu.md`` §3 and §7 "MMU and address spaces":

* MMU_IRQ at ``0x2000`` (bits 0..15 page fault in AS n, bits 16..31 bus error in AS n, kbase naming);
* AS n at ``0x2400 + n*0x40`` for each bit of AS_PRESENT (AS0..AS7 on G610), registers below;
* TRANSTAB/MEMATTR/TRANSCFG writes are *pending*; ``COMMAND = UPDATE`` latches all three together
  (whatever order they were written in — panthor and kbase differ, §5.5) into the *live* config;
* AS_STATUS.AS_ACTIVE is 1 from a COMMAND write until the command completes after
  ``SimConfig.as_command_delay_ns`` (0 = completes inside the write); a COMMAND written while
  AS_ACTIVE is a driver bug (§3.3) and a strict-mode error;
* LOCK decodes LOCKADDR exactly as §3.4 (size ``2^(code+1)``, codes below 14 act as 14, base aligned
  down to the size, low bits ignored); UNLOCK releases; FLUSH_PT/FLUSH_MEM flush and implicitly unlock;
* FAULTSTATUS/FAULTADDRESS/FAULTEXTRA are RO and latched by :meth:`SimMmu.raise_fault` ("first
  fault wins" until MMU_IRQ_CLEAR clears that AS's bit, §7).

GPU-side memory accesses (tests now, the simulated MCU/command streams later) go through
:meth:`SimMmu.gpu_read`/:meth:`SimMmu.gpu_write` (and the u32/u64 helpers): each access needs the L2
powered and is translated with the *live* config only — ADRMODE 6 by the walker
(:mod:`uio_driver.sim.walker`) behind a per-AS TLB (:mod:`uio_driver.sim.tlb`), ADRMODE 2 as VA = PA,
ADRMODE 1 always TRANSLATION_FAULT_0, ADRMODE 0/8 (and reserved values) a violation plus that fault.
Accesses are split where a leaf ends; every piece is translated (and its RAM checked) before any
byte moves, so a faulting access transfers nothing. A fault is latched through
:meth:`SimMmu.raise_fault` and raised to the caller as :class:`~uio_driver.sim.walker.SimGpuFault`.
A data access to a PA with no RAM is a GPU bus fault (GPU_FAULTSTATUS 0x80, §1.7).

Accesses to a locked region: the hardware stalls them until UNLOCK/FLUSH_PT/FLUSH_MEM. A
synchronous call cannot wait for the driver, so the model's choice is: by default such an access is a
``"locked-access"`` violation (strict: SimProtocolError "access to locked region"; non-strict: recorded,
then the access proceeds as if it had won the race); with ``allow_stall=True`` (test hook) the access
waits in virtual time — running scheduled events, e.g. an UNLOCK already in flight — until the lock
is released, or raises Timeout after :attr:`SimMmu.stall_timeout_ns` with nothing transferred; with
``allow_stall="defer"`` (the simulated firmware: MCU interface accesses and command streams) it raises
:class:`~uio_driver.sim.access.SimAccessStalled` and the firmware retries the work after
``STALL_RETRY_NS`` of virtual time, so a job keeps running across the driver's table updates.

Other models still subscribe to the hooks (``on_update``, ``on_lock``, ``on_unlock``, ``on_flush``,
``on_reset``) through :meth:`SimMmu.add_listener`; the TLB maintenance is one such listener.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import InvalidArgument
from .access import GpuAccess
from .clock import Event
from .irq import IrqBlock
from .regfile import U32_MASK, Access, Refusal, Register
from .tlb import SimTlb, SimTranslator
from .walker import (
    InjectedFault,
    SimFault,
)

if TYPE_CHECKING:
    from .gpu import SimGpu

MMU_IRQ_BASE = 0x2000
AS_BASE = 0x2400
AS_STRIDE = 0x40
MAX_AS = 16  # §0: AS n at 0x2400 + n*0x40, n = 0..15 in the address map

# Per-AS register offsets (§3.2); 0x2C is unused.
TRANSTAB_LO, TRANSTAB_HI = 0x00, 0x04
MEMATTR_LO, MEMATTR_HI = 0x08, 0x0C
LOCKADDR_LO, LOCKADDR_HI = 0x10, 0x14
COMMAND = 0x18
FAULTSTATUS = 0x1C
FAULTADDRESS_LO, FAULTADDRESS_HI = 0x20, 0x24
STATUS = 0x28
TRANSCFG_LO, TRANSCFG_HI = 0x30, 0x34
FAULTEXTRA_LO, FAULTEXTRA_HI = 0x38, 0x3C

AS_STATUS_AS_ACTIVE = 1 << 0

# AS_COMMAND values (§3.3).
AS_COMMAND_NOP = 0
AS_COMMAND_UPDATE = 1
AS_COMMAND_LOCK = 2
AS_COMMAND_UNLOCK = 3
AS_COMMAND_FLUSH_PT = 4
AS_COMMAND_FLUSH_MEM = 5
AS_COMMAND_NAMES = {0: "NOP", 1: "UPDATE", 2: "LOCK", 3: "UNLOCK", 4: "FLUSH_PT", 5: "FLUSH_MEM"}

# LOCKADDR fields (§3.4): size code 5:0, bits 11:6 reserved on G610 (FLUSH_SKIP_LEVELS is arch >= 12).
LOCKADDR_SIZE_MASK = 0x3F
LOCKADDR_RESERVED_MASK = 0xFC0
LOCK_REGION_MIN_CODE = 14  # 2^(14+1) = 32 KiB, AS_LOCK_REGION_MIN_SIZE (panthor/kbase)

#: How long an ``allow_stall`` access waits for a lock to go: panthor's AS_ACTIVE timeout (§3.3).
DEFAULT_STALL_TIMEOUT_NS = 100_000_000


@dataclass(frozen=True)
class LockRegion:
    """A locked VA range ``[base, base + size)``; ``size`` is a power of two (2^64 = everything)."""

    base: int
    size: int

    @property
    def end(self) -> int:
        return self.base + self.size

    def contains(self, va: int) -> bool:
        """True when address ``va`` lies in the region."""
        return self.base <= va < self.end

    def overlaps(self, va: int, size: int) -> bool:
        """True when ``[va, va + size)`` shares at least one byte with the region."""
        return size > 0 and va < self.end and self.base < va + size


def lock_region_from_lockaddr(lockaddr: int) -> LockRegion:
    """Decode a 64-bit LOCKADDR value the way the MMU does (§3.4, §7).

    The size code is ``LOCKADDR[5:0]``; the region is ``2^(code + 1)`` bytes (codes below 14 act as
    14, the 32 KiB minimum [inferred, §7]) and naturally aligned, so the base bits below the size are
    ignored — e.g. LOCKADDR ``0x400E`` locks ``[0x0, 0x8000)``.
    """
    code = max(lockaddr & LOCKADDR_SIZE_MASK, LOCK_REGION_MIN_CODE)
    size = 1 << (code + 1)
    base = lockaddr & ~0xFFF & ~(size - 1) & ((1 << 64) - 1)
    return LockRegion(base, size)


@dataclass(frozen=True)
class AsConfig:
    """TRANSTAB, MEMATTR and TRANSCFG of one address space (each 64 bits)."""

    transtab: int = 0
    memattr: int = 0
    transcfg: int = 0

    @property
    def adrmode(self) -> int:
        """TRANSCFG[3:0] (§3.5): 0 LEGACY, 1 UNMAPPED, 2 IDENTITY, 6 AARCH64_4K, 8 AARCH64_64K."""
        return self.transcfg & 0xF


class AddressSpace:
    """Registers and state of one AS."""

    def __init__(self, nr: int) -> None:
        self.nr = nr
        self.base = AS_BASE + nr * AS_STRIDE
        #: Raw 32-bit words of the RW registers (TRANSTAB, MEMATTR, LOCKADDR, TRANSCFG), by offset // 4.
        self.pending = [0] * (AS_STRIDE // 4)
        self.live = AsConfig()
        self.locked: LockRegion | None = None
        self.active_event: Event | None = None
        self.active = False
        self.faultstatus = 0
        self.faultaddress = 0
        self.faultextra = 0

    def pending64(self, offset: int) -> int:
        return self.pending[offset // 4] | self.pending[offset // 4 + 1] << 32

    def pending_config(self) -> AsConfig:
        return AsConfig(self.pending64(TRANSTAB_LO), self.pending64(MEMATTR_LO), self.pending64(TRANSCFG_LO))

    def reset(self) -> None:
        """Reset state (§7): every register 0, AS_STATUS 0, no lock, no command in flight."""
        if self.active_event is not None:
            self.active_event.cancel()
        self.active_event = None
        self.pending[:] = [0] * len(self.pending)
        self.live = AsConfig()
        self.locked = None
        self.active = False
        self.faultstatus = self.faultaddress = self.faultextra = 0


class SimMmu(GpuAccess):
    """MMU IRQ block plus the AS register files of every present AS; GPU memory accesses through an
    AS (walks, TLB, faults, fault injection) come from :class:`~uio_driver.sim.access.GpuAccess`."""

    def __init__(self, sim: SimGpu) -> None:
        self._sim = sim
        self.irq = IrqBlock("MMU", MMU_IRQ_BASE)
        present = sim.config.as_present
        self.spaces: dict[int, AddressSpace] = {n: AddressSpace(n) for n in range(MAX_AS) if present >> n & 1}
        self.listeners: list[Any] = []
        #: Completed AS commands as (time_ns, as_nr, command) (tests, tracing).
        self.completed: list[tuple[int, int, int]] = []
        #: Forced faults waiting for a matching access/walk (see :meth:`inject_fault`).
        self.injected: list[InjectedFault] = []
        #: Every MMU fault a GPU access reported, in order (latched or not).
        self.fault_log: list[SimFault] = []
        self.stall_timeout_ns = DEFAULT_STALL_TIMEOUT_NS
        #: TLBs + walker front end; also the listener that keeps the TLBs coherent.
        self.translator = SimTranslator(sim, self.spaces, walk_bus_error=self._walk_bus_error)
        #: One TLB per present AS (:mod:`uio_driver.sim.tlb`).
        self.tlbs: dict[int, SimTlb] = self.translator.tlbs
        self.add_listener(self.translator)

    # -- registers -----------------------------------------------------------------------------

    def registers(self) -> list[Register]:
        regs = self.irq.registers()
        for space in self.spaces.values():
            regs += self._as_registers(space)
        return regs

    def _as_registers(self, s: AddressSpace) -> list[Register]:
        n, base = s.nr, s.base
        regs = []
        for name, off in (("TRANSTAB", TRANSTAB_LO), ("MEMATTR", MEMATTR_LO), ("LOCKADDR", LOCKADDR_LO),
                          ("TRANSCFG", TRANSCFG_LO)):
            for suffix, o in (("LO", off), ("HI", off + 4)):
                regs.append(Register(f"AS{n}_{name}_{suffix}", base + o, Access.RW,
                                     on_read=_word_reader(s, o), on_write=_word_writer(s, o)))
        regs += [
            Register(f"AS{n}_COMMAND", base + COMMAND, Access.WO,
                     validate=lambda v: self._check_command(s, v),
                     on_write=lambda v: self._command(s, v)),
            Register(f"AS{n}_FAULTSTATUS", base + FAULTSTATUS, Access.RO, on_read=lambda: s.faultstatus),
            Register(f"AS{n}_FAULTADDRESS_LO", base + FAULTADDRESS_LO, Access.RO,
                     on_read=lambda: s.faultaddress & U32_MASK),
            Register(f"AS{n}_FAULTADDRESS_HI", base + FAULTADDRESS_HI, Access.RO,
                     on_read=lambda: s.faultaddress >> 32),
            Register(f"AS{n}_STATUS", base + STATUS, Access.RO,
                     on_read=lambda: AS_STATUS_AS_ACTIVE if s.active else 0),
            Register(f"AS{n}_FAULTEXTRA_LO", base + FAULTEXTRA_LO, Access.RO,
                     on_read=lambda: s.faultextra & U32_MASK),
            Register(f"AS{n}_FAULTEXTRA_HI", base + FAULTEXTRA_HI, Access.RO,
                     on_read=lambda: s.faultextra >> 32),
        ]
        return regs

    # -- AS commands -----------------------------------------------------------------------------

    def _check_command(self, s: AddressSpace, value: int) -> Refusal:
        if s.active:
            # §3.3: only write COMMAND when AS_STATUS.AS_ACTIVE is 0 (hardware behaviour undefined).
            return ("as-active", f"written while AS{s.nr}_STATUS.AS_ACTIVE is set (previous command "
                    "still running)")
        if value not in AS_COMMAND_NAMES:
            return f"unknown AS command {value} (valid: 0..5)"
        if value == AS_COMMAND_LOCK:
            lockaddr = s.pending64(LOCKADDR_LO)
            if lockaddr & LOCKADDR_RESERVED_MASK:
                return (f"LOCK with AS{s.nr}_LOCKADDR = {lockaddr:#x}: bits 11:6 are reserved on G610 "
                        "and must be 0")
        return None

    def _command(self, s: AddressSpace, value: int) -> None:
        # The operands are captured when the command is written; the effect lands on completion.
        operand: Any = None
        if value == AS_COMMAND_UPDATE:
            operand = s.pending_config()
        elif value == AS_COMMAND_LOCK:
            operand = lock_region_from_lockaddr(s.pending64(LOCKADDR_LO))
        s.active = True
        sim = self._sim
        if sim.faults.as_stuck(s.nr):
            sim.note(f"fault hook: AS{s.nr} command {AS_COMMAND_NAMES[value]} leaves AS_ACTIVE stuck")
            return
        delay = sim.config.as_command_delay_ns
        if delay == 0:
            self._complete(s, value, operand)
        else:
            s.active_event = sim.clock.schedule(
                delay, lambda: self._complete(s, value, operand), f"AS{s.nr} {AS_COMMAND_NAMES[value]}")

    def _complete(self, s: AddressSpace, command: int, operand: Any) -> None:
        s.active = False
        s.active_event = None
        self.completed.append((self._sim.clock.now_ns(), s.nr, command))
        if command == AS_COMMAND_UPDATE:
            s.live = operand
            self.on_update(s.nr)
        elif command == AS_COMMAND_LOCK:
            s.locked = operand
            self.on_lock(s.nr, operand)
        elif command == AS_COMMAND_UNLOCK:
            region, s.locked = s.locked, None
            self.on_unlock(s.nr, region)
        elif command in (AS_COMMAND_FLUSH_PT, AS_COMMAND_FLUSH_MEM):
            region = s.locked or lock_region_from_lockaddr(s.pending64(LOCKADDR_LO))
            s.locked = None  # FLUSH_PT/FLUSH_MEM implicitly unlock (§3.3)
            self.on_flush(s.nr, region, command)
            self._sim.cache_flush_completed()

    # -- hooks for the walker/TLB model ----------------------------------------------------------

    def add_listener(self, listener: Any) -> None:
        """Subscribe an object with any of ``on_update(as_nr)``, ``on_lock(as_nr, region)``,
        ``on_unlock(as_nr, region)``, ``on_flush(as_nr, region, command)``, ``on_reset()``."""
        self.listeners.append(listener)

    def _notify(self, hook: str, *args: Any) -> None:
        for listener in self.listeners:
            fn: Callable[..., None] | None = getattr(listener, hook, None)
            if fn is not None:
                fn(*args)

    def on_update(self, as_nr: int) -> None:
        """UPDATE completed: the live config of ``as_nr`` changed (its TLB must be dropped)."""
        self._notify("on_update", as_nr)

    def on_lock(self, as_nr: int, region: LockRegion) -> None:
        """LOCK completed: accesses to ``region`` in ``as_nr`` stall until unlocked."""
        self._notify("on_lock", as_nr, region)

    def on_unlock(self, as_nr: int, region: LockRegion | None) -> None:
        """UNLOCK completed (``region`` None if nothing was locked); TLB entries of it are dropped."""
        self._notify("on_unlock", as_nr, region)

    def on_flush(self, as_nr: int, region: LockRegion, command: int) -> None:
        """FLUSH_PT/FLUSH_MEM completed on ``region`` (the lock, if any, is already released)."""
        self._notify("on_flush", as_nr, region, command)

    # -- queries and fault reporting --------------------------------------------------------------

    def space(self, as_nr: int) -> AddressSpace:
        """The AS ``as_nr``; raises InvalidArgument for an absent AS."""
        try:
            return self.spaces[as_nr]
        except (KeyError, TypeError):
            raise InvalidArgument(
                f"AS {as_nr!r} is not present (AS_PRESENT = {self._sim.config.as_present:#x})") from None

    def live_config(self, as_nr: int) -> AsConfig:
        """The configuration the MMU uses for ``as_nr`` (as latched by the last UPDATE)."""
        return self.space(as_nr).live

    def pending_config(self, as_nr: int) -> AsConfig:
        """The TRANSTAB/MEMATTR/TRANSCFG values written but not yet latched."""
        return self.space(as_nr).pending_config()

    def locked_region(self, as_nr: int) -> LockRegion | None:
        return self.space(as_nr).locked

    def raise_fault(self, as_nr: int, status: int, address: int, *, extra: int = 0,
                    bus_error: bool = False) -> bool:
        """Report an MMU fault in ``as_nr``: latch FAULTSTATUS/ADDRESS/EXTRA and raise its IRQ bit.

        Bit ``as_nr`` (page fault) or ``16 + as_nr`` (bus error) is raised in MMU_IRQ_RAWSTAT. The
        first fault wins: while either bit of this AS is still set, the latched registers are not
        overwritten (§7, inferred).

        Returns:
            True if this fault was latched, False if an earlier one is still pending.

        Raises:
            InvalidArgument: absent AS, or status/address out of range (nothing changes).
        """
        s = self.space(as_nr)
        for label, v, bits in (("status", status, 32), ("address", address, 64), ("extra", extra, 64)):
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 1 << bits:
                raise InvalidArgument(f"AS{as_nr} fault {label} {v!r} does not fit {bits} bits")
        pending_bits = (1 << as_nr) | (1 << (16 + as_nr))
        if self.irq.rawstat & pending_bits:
            return False
        s.faultstatus, s.faultaddress, s.faultextra = status, address, extra
        self.irq.raise_bits(1 << (16 + as_nr) if bus_error else 1 << as_nr)
        return True

    @property
    def page_fault_pending(self) -> bool:
        """GPU_STATUS.PAGE_FAULT: some AS has a page fault latched (§1.6)."""
        return bool(self.irq.rawstat & 0xFFFF)

    # -- reset -----------------------------------------------------------------------------------

    def reset(self, *, keep_mask: bool) -> None:
        """Reset state: every AS register 0, AS_STATUS 0, locks dropped, MMU RAWSTAT 0."""
        for s in self.spaces.values():
            s.reset()
        self.irq.reset(keep_mask=keep_mask)
        self._notify("on_reset")


def _word_reader(space: AddressSpace, offset: int) -> Callable[[], int]:
    index = offset // 4
    return lambda: space.pending[index]


def _word_writer(space: AddressSpace, offset: int) -> Callable[[int], None]:
    index = offset // 4

    def write(value: int) -> None:
        space.pending[index] = value
    return write

