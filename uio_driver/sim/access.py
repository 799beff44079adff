"""GPU memory accesses through an address space: the simulated MMU's access engine.

Every GPU-side access (the MCU's reads of its interface through AS0, command-stream fetches and
sync-object updates through a group's AS, and the tests' probes) goes through :class:`GpuAccess`,
mixed into :class:`~uio_driver.sim.mmu.SimMmu`: argument checks, the L2-power and lock checks, a real
walk of the driver's page tables behind the per-AS TLB (stale until flushed, :mod:`.tlb`), faults
latched in AS_FAULTSTATUS/FAULTADDRESS with the MMU IRQ raised, and test fault injection.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, NoReturn

from ..errors import InvalidArgument, Timeout
from .memory import SimBusError
from .walker import (
    ACCESS_TYPES,
    FAULTSTATUS_ACCESS_SHIFT,
    FAULTSTATUS_SOURCE_SHIFT,
    GPU_BUS_FAULT,
    GPU_FAULT_ADDRESS_VALID,
    GPU_FAULT_JASID_SHIFT,
    GPU_FAULT_JASID_VALID,
    MMU_EXCEPTION_NAMES,
    TRANSTAB_BUS_FAULT,
    InjectedFault,
    SimFault,
    SimGpuFault,
    SimTranslation,
    check_access_args,
    check_aligned,
    check_count,
    value_bytes,
)

if TYPE_CHECKING:
    from .gpu import SimGpu
    from .mmu import AddressSpace
    from .tlb import SimTranslator


#: ``allow_stall`` value of the simulated firmware's accesses: a locked region raises
#: :class:`SimAccessStalled` so the caller retries after the lock (the hardware stalls the access).
DEFER = "defer"
#: Retry period of firmware work whose access stalled behind a driver LOCK (a lock lasts a few µs).
STALL_RETRY_NS = 1_000


class SimAccessStalled(Exception):  # noqa: N818 - a control-flow signal inside the simulator
    """A firmware-side GPU access hit a region the driver locked: retry once the lock is gone.

    Internal to the simulator (the MCU and the command-stream executor catch it); never reaches
    the driver.
    """

    def __init__(self, as_nr: int, va: int, size: int) -> None:
        super().__init__(f"AS{as_nr} access [{va:#x}, +{size:#x}) stalls behind a LOCK")
        self.as_nr, self.va, self.size = as_nr, va, size


class GpuAccess:
    """The access API of :class:`~uio_driver.sim.mmu.SimMmu` (needs its AS, TLB and fault state)."""

    _sim: SimGpu
    translator: SimTranslator
    injected: list[InjectedFault]
    fault_log: list[SimFault]
    stall_timeout_ns: int

    if TYPE_CHECKING:  # provided by SimMmu

        def space(self, as_nr: int) -> AddressSpace: ...

        def raise_fault(self, as_nr: int, status: int, address: int, *, extra: int = 0,
                        bus_error: bool = False) -> bool: ...

    # -- GPU memory accesses through an AS -------------------------------------------------------

    def translate(self, as_nr: int, va: int, access: str = "read", *, source: int = 0
                  ) -> SimTranslation | SimFault:
        """What the MMU makes of an ``access`` to ``va`` in ``as_nr`` right now (TLB, then walk).

        Uses and fills the TLB and applies the strict stale-TLB check like an access, but latches
        nothing and ignores injected faults and locks.

        Returns:
            The translation of ``va`` or the fault an access would report.

        Raises:
            InvalidArgument: absent AS, bad VA, access or source (nothing changes).
            SimProtocolError: (strict) L2 off, unsupported ADRMODE, stale TLB entry, bad descriptor.
        """
        s = self.space(as_nr)
        check_access_args(as_nr, va, 1, access, source)
        self._sim.require_l2_ready(f"AS{as_nr} translation of VA {va:#x}")
        got = self.translator.lookup(s, va, access, source)
        return got if isinstance(got, SimFault) else replace(got, va=va, pa=got.at(va))

    def gpu_read(self, as_nr: int, va: int, size: int, *, access: str = "read", source: int = 0,
                 allow_stall: bool | str = False) -> bytes:
        """Read ``size`` bytes at ``va`` through address space ``as_nr`` as the GPU would.

        Args:
            access: "read" (data) or "execute" (instruction fetch; needs no XN).
            source: SOURCE_ID reported in FAULTSTATUS bits 31:16.
            allow_stall: wait in virtual time for a lock covering the range (module docstring);
                ``"defer"`` (the simulated firmware) raises SimAccessStalled instead, for a retry.

        Raises:
            SimGpuFault: the access faulted; the fault is latched (first fault wins) and the IRQ raised.
            InvalidArgument / BadAddress: bad arguments (nothing changes).
            SimProtocolError: (strict) see :meth:`translate`, plus access to a locked region.
            Timeout: ``allow_stall`` and nothing released the lock in time.
        """
        if access not in ("read", "execute"):
            raise InvalidArgument(f"sim: gpu_read access must be 'read' or 'execute', got {access!r}")
        views = self._prepare(as_nr, va, size, access, source, allow_stall)
        return bytes(views[0]) if len(views) == 1 else b"".join(views)

    def gpu_read_into(self, as_nr: int, va: int, out: memoryview, *, access: str = "read", source: int = 0,
                      allow_stall: bool | str = False) -> None:
        """:meth:`gpu_read` of ``len(out)`` bytes straight into ``out`` (no intermediate copy)."""
        off = 0
        for view in self._prepare(as_nr, va, out.nbytes, access, source, allow_stall):
            out[off:off + view.nbytes] = view
            off += view.nbytes

    def gpu_write(self, as_nr: int, va: int, data: bytes | bytearray | memoryview, *, source: int = 0,
                  allow_stall: bool | str = False) -> None:
        """Write ``data`` at ``va`` through address space ``as_nr`` as the GPU would.

        All or nothing: every piece is translated and checked before the first byte is written.

        Raises:
            Same as :meth:`gpu_read` (write permission needs AP[2] = 0).
        """
        try:
            buf = memoryview(data).cast("B")
        except TypeError:
            kind = type(data).__name__
            raise InvalidArgument(f"sim: gpu_write data must be bytes-like, not {kind}") from None
        off = 0
        for view in self._prepare(as_nr, va, buf.nbytes, "write", source, allow_stall):
            view[:] = buf[off:off + view.nbytes]
            off += view.nbytes

    def gpu_swap(self, as_nr: int, va: int, data: bytes | bytearray | memoryview, *,
                 source: int = 0, allow_stall: bool | str = False) -> bytes:
        """:meth:`gpu_write` that also returns what the range held before (one translation)."""
        buf = memoryview(data).cast("B")
        old, off = [], 0
        for view in self._prepare(as_nr, va, buf.nbytes, "write", source, allow_stall):
            old.append(bytes(view))
            view[:] = buf[off:off + view.nbytes]
            off += view.nbytes
        return b"".join(old)

    def gpu_read32(self, as_nr: int, va: int, *, access: str = "read", source: int = 0,
                   allow_stall: bool | str = False) -> int:
        """A naturally aligned little-endian 32-bit GPU load (see :meth:`gpu_read`)."""
        check_aligned(va, 4)
        data = self.gpu_read(as_nr, va, 4, access=access, source=source, allow_stall=allow_stall)
        return int.from_bytes(data, "little")

    def gpu_read64(self, as_nr: int, va: int, *, access: str = "read", source: int = 0,
                   allow_stall: bool | str = False) -> int:
        """A naturally aligned little-endian 64-bit GPU load (see :meth:`gpu_read`)."""
        check_aligned(va, 8)
        data = self.gpu_read(as_nr, va, 8, access=access, source=source, allow_stall=allow_stall)
        return int.from_bytes(data, "little")

    def gpu_write32(self, as_nr: int, va: int, value: int, *, source: int = 0,
                    allow_stall: bool | str = False) -> None:
        """A naturally aligned little-endian 32-bit GPU store (see :meth:`gpu_write`)."""
        check_aligned(va, 4)
        self.gpu_write(as_nr, va, value_bytes(value, 4), source=source, allow_stall=allow_stall)

    def gpu_write64(self, as_nr: int, va: int, value: int, *, source: int = 0,
                    allow_stall: bool | str = False) -> None:
        """A naturally aligned little-endian 64-bit GPU store (see :meth:`gpu_write`)."""
        check_aligned(va, 8)
        self.gpu_write(as_nr, va, value_bytes(value, 8), source=source, allow_stall=allow_stall)

    # -- fault injection (tests) -----------------------------------------------------------------

    def inject_fault(self, as_nr: int, va: int, size: int, exception_type: int, *, count: int = 1
                     ) -> InjectedFault:
        """Make the next ``count`` accesses touching ``[va, va + size)`` in ``as_nr`` fault with
        ``exception_type`` (a §3.7 MMU code), whatever the tables say. FAULTADDRESS is the first
        byte of the access inside the range."""
        self.space(as_nr)
        check_access_args(as_nr, va, size, "read", 0)
        if exception_type not in MMU_EXCEPTION_NAMES:
            raise InvalidArgument(f"sim: {exception_type!r} is not an MMU exception type (§3.7 table)")
        return self._inject(InjectedFault(as_nr, va, size, exception_type, False, check_count(count)))

    def inject_walk_bus_error(self, as_nr: int, va: int, size: int = 0x1000, *, level: int = 0,
                              count: int = 1) -> InjectedFault:
        """Make the next ``count`` table walks (TLB misses) of a VA in ``[va, va + size)`` get a bus
        error reading their level-``level`` descriptor: TRANSTAB_BUS_FAULT(level) and MMU IRQ bit
        16 + ``as_nr`` (§3.1). TLB hits do not walk, so they do not consume it."""
        self.space(as_nr)
        check_access_args(as_nr, va, size, "read", 0)
        if level not in (0, 1, 2, 3):
            raise InvalidArgument(f"sim: walk bus-error level must be 0..3, got {level!r}")
        count = check_count(count)
        return self._inject(InjectedFault(as_nr, va, size, TRANSTAB_BUS_FAULT + level, True, count))

    def _inject(self, fault: InjectedFault) -> InjectedFault:
        self.injected.append(fault)
        return fault

    def _walk_bus_error(self, as_nr: int, va: int) -> int | None:
        inj = self._take_injected(as_nr, va, 1, on_walk=True) if self.injected else None
        return None if inj is None else inj.exception_type - TRANSTAB_BUS_FAULT

    def _take_injected(self, as_nr: int, va: int, size: int, on_walk: bool) -> InjectedFault | None:
        for inj in self.injected:
            if inj.on_walk == on_walk and inj.matches(as_nr, va, size):
                inj.remaining -= 1
                if inj.remaining == 0:
                    self.injected.remove(inj)
                return inj
        return None

    # -- access engine ---------------------------------------------------------------------------

    def _prepare(self, as_nr: int, va: int, size: int, access: str, source: int,
                 allow_stall: bool | str) -> list[memoryview]:
        """Checks and translations of a whole access: a RAM view per piece, in VA order, or a raise."""
        s = self.space(as_nr)
        check_access_args(as_nr, va, size, access, source)
        if size == 0:
            return []
        sim = self._sim
        if not (sim.power_domain_on and sim.power.l2_ready()):  # message built only when needed
            sim.require_l2_ready(f"AS{as_nr} GPU {access} of {size} bytes at VA {va:#x}")
        if s.locked is not None:
            self._wait_unlocked(s, va, size, access, allow_stall)
        if self.injected:
            inj = self._take_injected(as_nr, va, size, on_walk=False)
            if inj is not None:
                self._fail(SimFault(as_nr, max(va, inj.va), inj.exception_type, access, source,
                                    "injected by the inject_fault test hook"))
        else:
            fast = self._fast_views(s, va, size, access)
            if fast is not None:
                return fast
        pieces = []
        cur, end = va, va + size
        while cur < end:
            got = self.translator.lookup(s, cur, access, source)
            if isinstance(got, SimFault):
                self._fail(got)
            n = min(end, got.va_base + got.size) - cur
            pieces.append((cur, got.at(cur), n))
            cur += n
        return [self._ram_view(as_nr, piece, access, source) for piece in pieces]

    def _fast_views(self, s: AddressSpace, va: int, size: int, access: str) -> list[memoryview] | None:
        """Views for an access over cached 4 KiB pages only, else None (the general path decides)."""
        fast_view = self.translator.fast_view
        end = va + size
        if end - (va & ~0xFFF) <= 0x1000:
            view = fast_view(s, va, size, access)
            return None if view is None else [view]
        views = []
        cur = va
        while cur < end:
            n = min(end, (cur | 0xFFF) + 1) - cur
            view = fast_view(s, cur, n, access)
            if view is None:
                return None
            views.append(view)
            cur += n
        return views

    def _wait_unlocked(self, s: AddressSpace, va: int, size: int, access: str,
                       allow_stall: bool | str) -> None:
        region = s.locked
        if region is None or not region.overlaps(va, size):
            return
        if allow_stall == DEFER:
            raise SimAccessStalled(s.nr, va, size)
        what = (f"AS{s.nr} GPU {access} of [{va:#x}, {va + size:#x}) is an access to locked region "
                f"[{region.base:#x}, {region.end:#x})")
        if not allow_stall:
            self._sim.violation("locked-access", f"{what}: the hardware stalls it until UNLOCK/FLUSH_PT/"
                                "FLUSH_MEM, which a synchronous access cannot wait for (allow_stall=True)",
                                register=f"AS{s.nr}_LOCKADDR_LO")
            return
        clock = self._sim.clock
        deadline = clock.now_ns() + self.stall_timeout_ns
        while s.locked is not None and s.locked.overlaps(va, size):
            nxt = clock.next_event_ns()
            if nxt is None or nxt > deadline:
                raise Timeout(f"sim: {what} stalled and nothing pending releases the lock within "
                              f"{self.stall_timeout_ns} ns of virtual time", register=f"AS{s.nr}_LOCKADDR_LO")
            clock.advance_to(nxt)

    def _ram_view(self, as_nr: int, piece: tuple[int, int, int], access: str, source: int) -> memoryview:
        va, pa, n = piece
        try:
            return self._sim.memory.view(pa, n)
        except SimBusError:
            pass
        # A data access to an address no RAM decodes: GPU_BUS_FAULT in GPU_FAULTSTATUS with the
        # address and AS (§1.7); GPU_FAULTADDRESS holds the physical address [inferred].
        status = (GPU_BUS_FAULT | ACCESS_TYPES[access] << FAULTSTATUS_ACCESS_SHIFT | GPU_FAULT_ADDRESS_VALID
                  | GPU_FAULT_JASID_VALID | (as_nr & 0xF) << GPU_FAULT_JASID_SHIFT
                  | source << FAULTSTATUS_SOURCE_SHIFT)
        latched = self._sim.inject_gpu_fault(status, pa)
        raise SimGpuFault(as_nr, va, GPU_BUS_FAULT, access, source=source, latched=latched,
                          faultstatus=status, reason=f"PA {pa:#x}+{n:#x} is not RAM")

    def _fail(self, fault: SimFault) -> NoReturn:
        latched = self.raise_fault(fault.as_nr, fault.faultstatus, fault.va, bus_error=fault.bus_error)
        self.fault_log.append(fault)
        raise SimGpuFault.from_fault(fault, latched=latched)
