"""One address-space slot at register level: enable, disable, lock, flush, and the update sequence.

Facts from mali-csf-registers-and-mmu.md: AS registers §3.2, commands §3.3 (write COMMAND only while
AS_STATUS.AS_ACTIVE is 0; panthor polls every 10 µs for up to 100 ms before and after each command),
LOCKADDR §3.4, enable §5.5, disable §5.6, page-table maintenance §4.7 (P1/P3).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import TypeVar

from ..errors import Timeout
from ..gpu import Gpu
from ..regs import gpu_control as gc
from ..regs import mmu as mmu_regs
from ..regs.mmu import AsCommand
from .lockregion import ADDRESS_LIMIT, LockRegion, pack_region_range

T = TypeVar("T")

#: panthor_mmu.c wait_ready: readl_poll_timeout(AS_STATUS, !(val & AS_ACTIVE), 10, 100000).
AS_POLL_INTERVAL = 10e-6
AS_TIMEOUT = 0.100


class FlushMode(enum.StrEnum):
    """How a live table update is made visible to the GPU (§4.7).

    P3 (default, the recommended model): ``LOCK`` the region, write descriptors, flush caches with
    ``GPU_COMMAND 0x23304``, ``UNLOCK``. P1 (Linux 6.10 panthor, kbase on arch <= 11): write
    descriptors, then ``LOCK`` + ``FLUSH_PT`` (or ``FLUSH_MEM``), which flush and implicitly unlock.
    """

    P3 = "p3"
    P1_FLUSH_PT = "p1-flush-pt"
    P1_FLUSH_MEM = "p1-flush-mem"


class AddressSpace:
    """Driver of address space ``as_nr``'s registers (no knowledge of VMs).

    Args:
        gpu: the GPU (register access, clock, cache flush).
        as_nr: address space number (0..7 on G610).

    Raises:
        InvalidArgument: ``as_nr`` outside the register database's AS0..AS7.
    """

    def __init__(self, gpu: Gpu, as_nr: int) -> None:
        self.gpu = gpu
        self.nr = as_nr
        self.regs = gpu.regs
        reg = mmu_regs.as_register
        self.r_transtab = reg(as_nr, "TRANSTAB")
        self.r_memattr = reg(as_nr, "MEMATTR")
        self.r_transcfg = reg(as_nr, "TRANSCFG")
        self.r_lockaddr = reg(as_nr, "LOCKADDR")
        self.r_command = reg(as_nr, "COMMAND")
        self.r_status = reg(as_nr, "STATUS")
        self.r_faultstatus = reg(as_nr, "FAULTSTATUS")
        self.r_faultaddress = reg(as_nr, "FAULTADDRESS")
        #: The last region locked by :meth:`lock` (bookkeeping, tests).
        self.last_lock: LockRegion | None = None

    # -- commands ---------------------------------------------------------------------------------

    def wait_ready(self, context: str) -> None:
        """Poll AS_STATUS until AS_ACTIVE is clear (10 µs interval, 100 ms).

        Raises:
            Timeout: naming the AS, AS<n>_STATUS and ``context`` (panthor then resets the GPU).
        """
        status = self.r_status
        read = self.regs.read
        try:
            self.gpu.clock.poll(lambda: not read(status) & mmu_regs.AS_STATUS_ACTIVE, AS_TIMEOUT,
                                f"AS{self.nr} {context}: {status.name}.AS_ACTIVE clear", AS_POLL_INTERVAL)
        except Timeout as err:
            err.register = status.name
            raise

    def command(self, command: AsCommand, *, wait: bool = True) -> None:
        """Write AS_COMMAND once AS_ACTIVE is clear; with ``wait``, also wait for completion."""
        self.wait_ready(f"before {command.name}")
        self.regs.write(self.r_command, int(command))
        if wait:
            self.wait_ready(f"after {command.name}")

    def enable(self, transtab: int, memattr: int = mmu_regs.AS_MEMATTR_RK3588,
               transcfg: int = mmu_regs.AS_TRANSCFG_RK3588) -> None:
        """Make ``transtab`` (a level-0 table PA) live in this AS (§5.5, P3: no flush first).

        Writes TRANSTAB, MEMATTR and TRANSCFG (LO then HI each), then UPDATE. On return the UPDATE
        completed (AS_ACTIVE clear) and the AS translates through the new tables.
        """
        self.regs.write64(self.r_transtab, transtab)
        self.regs.write64(self.r_memattr, memattr)
        self.regs.write64(self.r_transcfg, transcfg)
        self.command(AsCommand.UPDATE)

    def disable(self, mode: FlushMode = FlushMode.P3) -> None:
        """Stop all translation in this AS (§5.6).

        P3: ``GPU_COMMAND`` flush 0x23304; P1: lock everything + FLUSH_MEM. Then TRANSTAB = 0,
        MEMATTR = 0, TRANSCFG = 1 (ADRMODE_UNMAPPED: every access faults) and UPDATE. On return the
        UPDATE completed.
        """
        if mode is FlushMode.P3:
            self.flush_caches()
        else:
            self.lock(0, ADDRESS_LIMIT)
            self.command(AsCommand.FLUSH_MEM)
        self.regs.write64(self.r_transtab, 0)
        self.regs.write64(self.r_memattr, 0)
        self.regs.write64(self.r_transcfg, mmu_regs.AS_TRANSCFG_DISABLED)
        self.command(AsCommand.UPDATE)

    def lock(self, va: int, size: int) -> LockRegion:
        """LOCKADDR = panthor's packing of ``[va, va+size)``, then LOCK; returns once it is locked."""
        region = pack_region_range(va, size)
        self.regs.write64(self.r_lockaddr, region.lockaddr)
        self.command(AsCommand.LOCK)
        self.last_lock = region
        return region

    def flush_caches(self) -> None:
        """GPU_COMMAND FLUSH_CACHES 0x23304: L2 and LSC clean+invalidate, other caches invalidate."""
        self.gpu.flush_caches(gc.CACHE_CLEAN_INVALIDATE, gc.CACHE_CLEAN_INVALIDATE, gc.CACHE_INVALIDATE)

    # -- the table-update sequence -----------------------------------------------------------------

    def update(self, va: int, size: int, write: Callable[[], T], mode: FlushMode = FlushMode.P3) -> T:
        """Run ``write`` (the descriptor writes for ``[va, va+size)``) inside the §4.7 sequence.

        P3: LOCK (wait) → ``write()`` → GPU_COMMAND 0x23304 (wait CLEAN_CACHES_COMPLETED) → UNLOCK
        (wait). P1: ``write()`` → LOCK → FLUSH_PT/FLUSH_MEM (wait; they unlock implicitly).
        On return the GPU sees the new descriptors: caches flushed, TLB entries of the region dropped.

        Raises:
            Timeout: an AS command or the cache flush did not complete. In P3 a failed LOCK raises
                before ``write`` runs; a failure after it leaves the descriptors written (panthor
                schedules a GPU reset then).
        """
        if mode is FlushMode.P3:
            self.lock(va, size)
            result = write()
            self.flush_caches()
            self.command(AsCommand.UNLOCK)
            return result
        result = write()
        self.lock(va, size)
        self.command(AsCommand.FLUSH_PT if mode is FlushMode.P1_FLUSH_PT else AsCommand.FLUSH_MEM)
        return result

    # -- faults -----------------------------------------------------------------------------------

    def read_fault(self) -> tuple[int, int]:
        """``(AS_FAULTSTATUS, AS_FAULTADDRESS)`` (the address read tear-free)."""
        return self.regs.read(self.r_faultstatus), self.regs.read64(self.r_faultaddress)
