"""Test rig for the simulated MMU (no tests here): a SimGpu with hand-placed RAM, the L2 powered,
address spaces programmed through raw MMIO offsets, and page tables written descriptor by descriptor.

Everything is spelled from ``mali-csf-registers-and-mmu.md`` directly — never from the driver's
``uio_driver.regs``/``uio_driver.mmu`` nor the simulator's own walker constants — so the tests check
the walker against the reference:

* MMU IRQ ``0x2000`` RAWSTAT, ``0x2004`` CLEAR, ``0x2008`` MASK, ``0x200C`` STATUS (§3.1);
* AS n at ``0x2400 + n*0x40``: TRANSTAB +0x00, MEMATTR +0x08, LOCKADDR +0x10, COMMAND +0x18,
  FAULTSTATUS +0x1C, FAULTADDRESS +0x20/+0x24, STATUS +0x28, TRANSCFG +0x30 (§3.2);
* AS commands UPDATE 1, LOCK 2, UNLOCK 3, FLUSH_PT 4, FLUSH_MEM 5 (§3.3);
* L2_PWRON_LO ``0x1A0`` (§5.10 step 11); GPU_FAULTSTATUS ``0x03C``, GPU_FAULTADDRESS ``0x040`` (§1.7);
* panthor's RK3588 values MEMATTR ``0x4C4C4C4C_8C4C8F4C`` and TRANSCFG ``0x420001C6`` (§3.5, §3.6).
"""

from __future__ import annotations

from uio_driver.sim import SimConfig, SimGpu
from uio_driver.sim.memory import SimMemory

MMU_IRQ_RAWSTAT, MMU_IRQ_CLEAR, MMU_IRQ_MASK, MMU_IRQ_STATUS = 0x2000, 0x2004, 0x2008, 0x200C
TRANSTAB, MEMATTR, LOCKADDR, COMMAND, FAULTSTATUS, FAULTADDRESS, STATUS, TRANSCFG = (
    0x00, 0x08, 0x10, 0x18, 0x1C, 0x20, 0x28, 0x30)
UPDATE, LOCK, UNLOCK, FLUSH_PT, FLUSH_MEM = 1, 2, 3, 4, 5
L2_PWRON_LO = 0x1A0
GPU_FAULTSTATUS, GPU_FAULTADDRESS = 0x03C, 0x040
GPU_COMMAND = 0x030

MEMATTR_RK3588 = 0x4C4C4C4C_8C4C8F4C
TRANSCFG_RK3588 = 0x420001C6

# §4.5 example descriptors for PA 0x12345000 (and the 2 MiB block at 0x40200000).
PTE_RW = 0x0000000012345F47
PTE_RO = 0x0000000012345FC7
PTE_NOEXEC = 0x0060000012345F47
PTE_UNCACHED = 0x0000000012345E43
PTE_RO_NOEXEC = 0x0060000012345FC7
BLOCK_2M_RW = 0x0000000040200F45

TABLE_POOL = 0x1000_0000
#: RAM of the default rig: a table pool, the page at 0x12345000, 4 MiB holding the 2 MiB block.
DEFAULT_RAM = ((TABLE_POOL, 0x10_0000), (0x1234_0000, 0x1_0000), (0x4000_0000, 0x40_0000))


def as_reg(n: int, off: int) -> int:
    return 0x2400 + n * 0x40 + off


def page_flags(pte: int) -> int:
    """The attribute bits of a §4.5 example PTE (everything but the output address)."""
    return pte & ~0x0000_FFFF_FFFF_F000


class Rig:
    """A powered SimGpu (L2 on) over hand-placed RAM, with hand-written page tables."""

    def __init__(self, *, strict: bool = True, ram=DEFAULT_RAM, as_command_delay_ns: int = 0) -> None:
        self.mem = SimMemory()
        for base, size in ram:
            self.mem.add_ram(base, size)
        self.sim = SimGpu(SimConfig(as_command_delay_ns=as_command_delay_ns), strict=strict, memory=self.mem)
        self.mmu = self.sim.mmu
        self._next_table = TABLE_POOL
        self.power_l2()

    # -- MMIO ------------------------------------------------------------------------------------

    def r32(self, off: int) -> int:
        return self.sim.read32(off)

    def w32(self, off: int, value: int) -> None:
        self.sim.write32(off, value)

    def w64(self, off: int, value: int) -> None:
        self.w32(off, value & 0xFFFFFFFF)
        self.w32(off + 4, value >> 32)

    def power_l2(self) -> None:
        self.w32(L2_PWRON_LO, 1)
        self.sim.clock.advance(1_000_000)

    def wait_idle(self, n: int) -> None:
        for _ in range(1000):
            if not self.r32(as_reg(n, STATUS)) & 1:
                return
            self.sim.clock.advance(1_000)
        raise AssertionError(f"AS{n} stayed active")

    def command(self, n: int, command: int, lockaddr: int | None = None) -> None:
        if lockaddr is not None:
            self.w64(as_reg(n, LOCKADDR), lockaddr)
        self.wait_idle(n)
        self.w32(as_reg(n, COMMAND), command)
        self.wait_idle(n)

    def configure(self, n: int, transtab: int, *, transcfg: int = TRANSCFG_RK3588,
                  memattr: int = MEMATTR_RK3588) -> None:
        """panthor's AS enable (§5.5): TRANSTAB, MEMATTR, TRANSCFG, then UPDATE."""
        self.w64(as_reg(n, TRANSTAB), transtab)
        self.w64(as_reg(n, MEMATTR), memattr)
        self.w64(as_reg(n, TRANSCFG), transcfg)
        self.command(n, UPDATE)

    def fault_regs(self, n: int) -> tuple[int, int]:
        """(AS_FAULTSTATUS, AS_FAULTADDRESS) read through MMIO."""
        addr = self.r32(as_reg(n, FAULTADDRESS)) | self.r32(as_reg(n, FAULTADDRESS + 4)) << 32
        return self.r32(as_reg(n, FAULTSTATUS)), addr

    # -- tables ----------------------------------------------------------------------------------

    def table(self) -> int:
        """A fresh zeroed 4 KiB table page from the pool."""
        pa = self._next_table
        self._next_table += 0x1000
        return pa

    def put(self, table: int, index: int, value: int) -> None:
        self.mem.write64(table + 8 * index, value)

    def get(self, table: int, index: int) -> int:
        return self.mem.read64(table + 8 * index)

    def map(self, t0: int, va: int, leaf: int, *, level: int = 3) -> list[int]:
        """Write ``leaf`` for ``va`` at ``level``, creating tables on the way; returns the tables
        [T0, T1, ...] used. Indices use the §4.1 formula ``(VA >> (39 - 9*level)) & 0x1FF``."""
        tables = [t0]
        for lvl in range(level):
            idx = (va >> (39 - 9 * lvl)) & 0x1FF
            desc = self.get(tables[-1], idx)
            if desc & 3 == 3:
                nxt = desc & 0x0000_FFFF_FFFF_F000
            else:
                nxt = self.table()
                self.put(tables[-1], idx, nxt | 3)
            tables.append(nxt)
        self.put(tables[-1], (va >> (39 - 9 * level)) & 0x1FF, leaf)
        return tables

    def reference_tables(self) -> tuple[int, int, int, int]:
        """§4.5: VA 0x10203000 -> PA 0x12345000 with T0[0]=T1|3, T1[0]=T2|3, T2[0x081]=T3|3,
        T3[0x003]=0x12345F47; returns (T0, T1, T2, T3)."""
        t0, t1, t2, t3 = self.table(), self.table(), self.table(), self.table()
        self.put(t0, 0, t1 | 3)
        self.put(t1, 0, t2 | 3)
        self.put(t2, 0x081, t3 | 3)
        self.put(t3, 0x003, PTE_RW)
        return t0, t1, t2, t3
