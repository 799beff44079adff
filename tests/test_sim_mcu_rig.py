"""Test rig for the simulated MCU (no tests here): load a firmware image into an MCU VM, boot it.

Everything is spelled from the reference, never from the simulator's or the driver's modules, so
the tests check the model against the documents:

* registers (``mali-csf-registers-and-mmu.md``): GPU_IRQ ``0x020`` RAWSTAT / ``0x024`` CLEAR,
  L2_PWRON_LO ``0x1A0``, L2_READY_LO ``0x160``, MCU_CONTROL ``0x700``, MCU_STATUS ``0x704``,
  JOB_IRQ ``0x1000`` RAWSTAT / ``0x1004`` CLEAR / ``0x1008`` MASK, AS0 at ``0x2400`` (TRANSTAB +0,
  MEMATTR +8, COMMAND +0x18, STATUS +0x28, TRANSCFG +0x30), doorbell *i* at ``0x80000 + i*0x10000``;
  panthor's RK3588 MEMATTR ``0x4C4C4C4C_8C4C8F4C`` and TRANSCFG ``0x420001C6`` (§3.5, §3.6, §5.5);
* page tables (§4.1, §4.5): ``idx(level) = (VA >> (39 - 9*level)) & 0x1FF``, table descriptor
  ``PA | 0b11``, the §4.5 example leaf attribute bits (RW ``0xF47``, RO ``0xFC7``, non-cacheable
  ``0xE43``, no-execute bits 53/54);
* firmware container (``csf-firmware-and-interfaces.md`` §1.2-§1.5): header ``size`` at 0x10,
  entries from 0x14 (type 7:0, length 15:8), IFACE payload flags/va.start/va.end/data.start/data.end,
  flags RD 0, WR 1, EX 2, CACHE_MODE 4:3, PROT 5, SHARED 30, ZERO 31;
* the shared-section layout of §2.8 (GLB input 0x04002000, GLB output 0x04006000, CSG g input
  0x04003000 + g*0x80, output 0x04007000 + g*0x40, CS (g, s) input 0x04003400 + (8g+s)*0x80, output
  0x04007200 + (8g+s)*0x100, CSG control 0x04001000 + g*0xA0, CS control +0x40 + s*0x0C).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from blobs import SHARED_FIRMWARE_ENV, shared_firmware_root

from uio_driver.platform.dma import DmaBuffer
from uio_driver.sim.mcu import SimMcu
from uio_driver.sim.platform import SimPlatform

FIRMWARE_ROOT = shared_firmware_root()
#: Why a test that needs an Arm blob is skipped (the project never contains one).
NO_BLOB = f"the Arm firmware blob is not available (set {SHARED_FIRMWARE_ENV} to the shared/firmware tree)"
BLOBS = {
    "arm-arch10.8": FIRMWARE_ROOT / "arm/mali/arch10.8/mali_csffw.bin",
    "arm-arch10.8-2024-05": FIRMWARE_ROOT / "history/arch10.8-2024-05/mali_csffw.bin",
    "arm-arch11.8": FIRMWARE_ROOT / "arm/mali/arch11.8/mali_csffw.bin",
    "arm-arch12.8": FIRMWARE_ROOT / "arm/mali/arch12.8/mali_csffw.bin",
    "arm-arch13.8": FIRMWARE_ROOT / "arm/mali/arch13.8/mali_csffw.bin",
}

# -- registers ----------------------------------------------------------------------------------------
GPU_IRQ_RAWSTAT, GPU_IRQ_CLEAR = 0x020, 0x024
GPU_COMMAND = 0x030
L2_PWRON_LO, L2_READY_LO = 0x1A0, 0x160
MCU_CONTROL, MCU_STATUS = 0x700, 0x704
JOB_IRQ_RAWSTAT, JOB_IRQ_CLEAR, JOB_IRQ_MASK = 0x1000, 0x1004, 0x1008
MMU_IRQ_RAWSTAT = 0x2000
AS0 = 0x2400
AS_TRANSTAB, AS_MEMATTR, AS_COMMAND, AS_FAULTSTATUS, AS_FAULTADDRESS, AS_STATUS, AS_TRANSCFG = (
    0x00, 0x08, 0x18, 0x1C, 0x20, 0x28, 0x30)
AS_UPDATE = 1
MEMATTR_RK3588 = 0x4C4C4C4C_8C4C8F4C
TRANSCFG_RK3588 = 0x420001C6
GPU_IRQ_MCU_STATUS_CHANGED = 1 << 19
JOB_IRQ_GLB = 1 << 31
SOFT_RESET = 0x101  # GPU_COMMAND RESET, payload 1 (§1.5 CSF encoding)

# -- page-table leaf attributes (§4.5 example descriptors without their output address) -------------
PTE_RW = 0xF47
PTE_RO = 0xFC7
PTE_UNCACHED = 0xE43
PTE_XN = 3 << 53
TABLE = 0x3

# -- firmware container (§1.5) ---------------------------------------------------------------------
FLAG_RD, FLAG_WR, FLAG_EX, FLAG_PROT, FLAG_SHARED, FLAG_ZERO = 1, 2, 4, 1 << 5, 1 << 30, 1 << 31

# -- shared-section layout (§2.8) --------------------------------------------------------------------
SHARED = 0x04000000
GLB_IN, GLB_OUT = 0x04002000, 0x04006000


def csg_in(g: int) -> int:
    return 0x04003000 + g * 0x80


def csg_out(g: int) -> int:
    return 0x04007000 + g * 0x40


def csg_control(g: int) -> int:
    return 0x04001000 + g * 0xA0


def cs_in(g: int, s: int) -> int:
    return 0x04003400 + (8 * g + s) * 0x80


def cs_out(g: int, s: int) -> int:
    return 0x04007200 + (8 * g + s) * 0x100


def cs_control(g: int, s: int) -> int:
    return csg_control(g) + 0x40 + s * 0x0C


@dataclass(frozen=True)
class Section:
    """One IFACE entry of a firmware image."""

    flags: int
    va_start: int
    va_end: int
    data: bytes


def iface_sections(image: bytes) -> list[Section]:
    """The IFACE sections of ``image`` (§1.2-§1.5), in file order."""
    end = struct.unpack_from("<I", image, 0x10)[0]
    off, out = 0x14, []
    while off < end:
        word = struct.unpack_from("<I", image, off)[0]
        etype, size = word & 0xFF, (word >> 8) & 0xFF
        if etype == 0:
            flags, va_start, va_end, d_start, d_end = struct.unpack_from("<5I", image, off + 4)
            out.append(Section(flags, va_start, va_end, image[d_start:d_end]))
        off += size
    return out


def synthetic_image(**kwargs: object) -> bytes:
    """The project's synthetic firmware image (its code section is ``SYNTHETIC NOCODE`` filler)."""
    from uio_driver.firmware import build_synthetic_image

    return build_synthetic_image(**kwargs)  # type: ignore[arg-type]


class VaBuffers:
    """CPU access, by VA, to the DMA buffers a rig mapped (``buffers``: VA of each buffer → buffer)."""

    buffers: dict[int, DmaBuffer]
    space = "MCU"

    def _locate(self, va: int) -> tuple[DmaBuffer, int]:
        for base, buf in self.buffers.items():
            if base <= va < base + buf.size:
                return buf, va - base
        raise KeyError(f"{self.space} VA {va:#x} is not mapped by the rig")

    def rd32(self, va: int) -> int:
        buf, off = self._locate(va)
        return struct.unpack("<I", buf.read(off, 4))[0]

    def rd64(self, va: int) -> int:
        buf, off = self._locate(va)
        return struct.unpack("<Q", buf.read(off, 8))[0]

    def wr32(self, va: int, value: int) -> None:
        buf, off = self._locate(va)
        buf.write(off, struct.pack("<I", value))

    def wr64(self, va: int, value: int) -> None:
        buf, off = self._locate(va)
        buf.write(off, struct.pack("<Q", value))


class McuRig(VaBuffers):
    """A simulated platform with an MCU VM in AS0, written by hand like panthor does it (§3, §5.7)."""

    def __init__(self, *, strict: bool = True, platform: SimPlatform | None = None) -> None:
        self.p = platform if platform is not None else SimPlatform(strict=strict, mcu=True)
        self.sim = self.p.sim
        assert isinstance(self.sim.mcu, SimMcu), "the platform has no simulated MCU (mcu=False?)"
        self.mcu: SimMcu = self.sim.mcu
        self.m = self.p.mmio
        self.clock = self.p.clock
        self.dma = self.p.dma_allocator()
        self.mem = self.p.memory
        self.tables: dict[tuple[int, int], int] = {}
        self.root = self._table()
        self.buffers: dict[int, DmaBuffer] = {}
        self.job_seen = 0

    def close(self) -> None:
        self.p.close()

    # -- MMIO -------------------------------------------------------------------------------------

    def r32(self, off: int) -> int:
        return self.m.read32(off)

    def w32(self, off: int, value: int) -> None:
        self.m.write32(off, value)

    def w64(self, off: int, value: int) -> None:
        self.w32(off, value & 0xFFFFFFFF)
        self.w32(off + 4, value >> 32)

    def power_l2(self) -> None:
        self.w32(L2_PWRON_LO, 1)
        self.clock.poll(lambda: self.r32(L2_READY_LO) & 1, 0.02, "L2 ready")

    def enable_as0(self, transcfg: int = TRANSCFG_RK3588) -> None:
        """panthor's AS enable (§5.5): TRANSTAB, MEMATTR, TRANSCFG, UPDATE; wait AS_ACTIVE clear."""
        self.w64(AS0 + AS_TRANSTAB, self.root)
        self.w64(AS0 + AS_MEMATTR, MEMATTR_RK3588)
        self.w64(AS0 + AS_TRANSCFG, transcfg)
        self.w32(AS0 + AS_COMMAND, AS_UPDATE)
        self.clock.poll(lambda: not self.r32(AS0 + AS_STATUS) & 1, 0.1, "AS0 UPDATE")

    def start_mcu(self) -> None:
        """§5.7 steps 1-2: JOB IRQ cleared and unmasked, MCU_CONTROL = AUTO."""
        self.w32(JOB_IRQ_CLEAR, 0xFFFFFFFF)
        self.w32(JOB_IRQ_MASK, 0xFFFFFFFF)
        self.w32(MCU_CONTROL, 2)

    def wait_job(self, timeout: float = 0.1) -> int:
        """Wait for the job IRQ; return and clear JOB_IRQ_RAWSTAT (0 on timeout)."""
        line = self.p.irq("job")
        if not line.wait(timeout):
            return 0
        raw = self.r32(JOB_IRQ_RAWSTAT)
        self.w32(JOB_IRQ_CLEAR, raw)
        line.acknowledge()
        return raw

    def boot(self, image: bytes | None = None) -> int:
        """L2 on, load ``image`` (default: synthetic), AS0 on, MCU AUTO, wait for JOB IRQ bit 31."""
        self.power_l2()
        self.load(synthetic_image() if image is None else image)
        self.enable_as0()
        self.start_mcu()
        raw = self.wait_job(1.0)
        assert raw & JOB_IRQ_GLB, f"no boot interrupt (MCU_STATUS {self.r32(MCU_STATUS)})"
        return raw

    # -- memory -----------------------------------------------------------------------------------

    def _table(self) -> int:
        buf = self.dma.alloc(0x1000, name="mcu vm table")
        return buf.phys

    def map_page(self, va: int, pa: int, attrs: int) -> None:
        table = self.root
        for level in range(3):
            index = (va >> (39 - 9 * level)) & 0x1FF
            key = (table, index)
            if key not in self.tables:
                self.tables[key] = self._table()
                self.mem.write64(table + 8 * index, self.tables[key] | TABLE)
            table = self.tables[key]
        self.mem.write64(table + 8 * ((va >> 12) & 0x1FF), pa | attrs)

    def map_object(self, va: int, size: int, attrs: int = PTE_UNCACHED | PTE_XN) -> DmaBuffer:
        """Allocate ``size`` bytes of zeroed memory and map it at MCU VA ``va``."""
        buf = self.dma.alloc(size, name=f"mcu {va:#x}")
        for off in range(0, size, 0x1000):
            self.map_page(va + off, buf.phys + off, attrs)
        self.buffers[va] = buf
        return buf

    def load(self, image: bytes, *, skip: tuple[int, ...] = (), attrs: dict[int, int] | None = None) -> None:
        """Map and initialise every non-PROT IFACE section (§3.2, §3.3); ``skip`` lists va.starts."""
        for sec in iface_sections(image):
            if sec.flags & FLAG_PROT or sec.va_start in skip:
                continue
            buf = self.buffers.get(sec.va_start)
            if buf is None:
                buf = self.map_object(sec.va_start, sec.va_end - sec.va_start,
                                      (attrs or {}).get(sec.va_start, section_attrs(sec.flags)))
            buf.zero()
            buf.write(0, sec.data)

    def reload(self, image: bytes) -> None:
        """Re-initialise every loaded section from ``image`` (the slow-restart reload, §3.8)."""
        for sec in iface_sections(image):
            buf = self.buffers.get(sec.va_start)
            if buf is not None:
                buf.zero()
                buf.write(0, sec.data)

    def ring(self, index: int = 0) -> None:
        """Ring doorbell ``index``; for doorbell 0 first clear JOB_IRQ so the next wait sees this answer."""
        if index == 0:
            self.w32(JOB_IRQ_CLEAR, 0xFFFFFFFF)
            self.p.irq("job").acknowledge()
        self.w32(0x80000 + index * 0x10000, 1)

    def settle(self, seconds: float = 100e-6) -> None:
        self.clock.sleep(seconds)

    # -- the panthor request helpers (§7.1) --------------------------------------------------------

    def toggle(self, req_va: int, ack_va: int, mask: int) -> None:
        """``panthor_fw_toggle_reqs``: REQ bits in ``mask`` = NOT ACK bits."""
        req, ack = self.rd32(req_va), self.rd32(ack_va)
        self.wr32(req_va, (req & ~mask) | (~ack & mask))

    def update(self, req_va: int, value: int, mask: int) -> None:
        """``panthor_fw_update_reqs``: REQ bits in ``mask`` = ``value``."""
        self.wr32(req_va, (self.rd32(req_va) & ~mask) | (value & mask))

    def ring_csg(self, *groups: int) -> None:
        """Toggle GLB doorbell_req bits of ``groups`` relative to doorbell_ack, ring doorbell 0 (§4.5)."""
        mask = sum(1 << g for g in groups)
        self.wr32(GLB_IN + 0x08, (self.rd32(GLB_IN + 0x08) & ~mask) | (~self.rd32(GLB_OUT + 0x08) & mask))
        self.ring(0)

    def ring_cs(self, g: int, *streams: int) -> None:
        """Toggle CSG g's doorbell_req bits of ``streams`` relative to its doorbell_ack."""
        mask = sum(1 << s for s in streams)
        req, ack = self.rd32(csg_in(g) + 0x08), self.rd32(csg_out(g) + 0x08)
        self.wr32(csg_in(g) + 0x08, (req & ~mask) | (~ack & mask))


def section_attrs(flags: int) -> int:
    """panthor's mapping of an IFACE section (§3.2): RO unless WR, NX unless EX, coherent → uncached."""
    if (flags >> 3) & 3 >= 2:
        attrs = PTE_UNCACHED
    else:
        attrs = PTE_RW
    if not flags & FLAG_WR:
        attrs |= PTE_RO & ~PTE_RW  # AP[2]: read-only
    if not flags & FLAG_EX:
        attrs |= PTE_XN
    return attrs
