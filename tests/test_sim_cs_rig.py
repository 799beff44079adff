"""Test rig for the simulated command-stream executor (no tests here).

Builds on the MCU rig (:mod:`test_sim_mcu_rig`): a booted MCU, a group VM in AS1 written descriptor
by descriptor, queues programmed like panthor's ``cs_slot_prog_locked`` and groups started like
``csg_slot_prog_locked`` (``csf-firmware-and-interfaces.md`` §7.4). Everything is spelled from the
reference, never from the simulator's or the driver's modules:

* instruction words are hand-encoded from ``cs-isa-and-uapi.md`` §1.3 bit layouts (opcode in 63:56),
  and the panthor per-job sequence is the word table of §1.9;
* CSG/CS bits from §5.4/§6.4 (STATE, EP_CFG 4, STATUS_UPDATE 5, SYNC_UPDATE 28, IDLE 29,
  PROGRESS_TIMER_EVENT 31; CS STATE, IDLE_SYNC_WAIT 8, IDLE_EMPTY 10, TILER_OOM 26, FATAL 30,
  FAULT 31), CS input offsets (§6.2: heap_start 0x20, heap_end 0x28) and CS output offsets (§6.3);
* user I/O pages (§6.7): input insert @0, extract @8; output extract @0, active @8;
* doorbell of the queues of CSG slot g = g + 1 (§7.2).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from test_sim_mcu_rig import (
    AS0,
    AS_COMMAND,
    AS_MEMATTR,
    AS_STATUS,
    AS_TRANSCFG,
    AS_TRANSTAB,
    AS_UPDATE,
    GLB_IN,
    GLB_OUT,
    JOB_IRQ_CLEAR,
    JOB_IRQ_RAWSTAT,
    MEMATTR_RK3588,
    PTE_UNCACHED,
    PTE_XN,
    TABLE,
    TRANSCFG_RK3588,
    McuRig,
    VaBuffers,
    cs_in,
    cs_out,
    csg_in,
    csg_out,
)

from uio_driver.platform.dma import DmaBuffer

# -- CSG / CS bits ------------------------------------------------------------------------------------------
TERMINATE, START, SUSPEND, RESUME = 0, 1, 2, 3
EP_CFG, STATUS_UPDATE = 1 << 4, 1 << 5
SYNC_UPDATE, CSG_IDLE, PROGRESS_TIMER_EVENT = 1 << 28, 1 << 29, 1 << 31
CS_START, IDLE_SYNC_WAIT, IDLE_EMPTY = 1, 1 << 8, 1 << 10
TILER_OOM, CS_FATAL, CS_FAULT = 1 << 26, 1 << 30, 1 << 31
CS_REQ_MASK = 0x7 | 1 << 4 | 0x1F00
EP_DEFAULT = 4 | 4 << 8 | 1 << 16 | 15 << 28
GLB_CFG_PROGRESS_TIMER, GLB_CFG_ALLOC_EN = 1 << 1, 1 << 2

# -- CS output block offsets (§6.3) -------------------------------------------------------------------------
STATUS_CMD_PTR, STATUS_WAIT, STATUS_REQ_RESOURCE, STATUS_WAIT_SYNC_PTR = 0x40, 0x48, 0x4C, 0x50
STATUS_WAIT_SYNC_VALUE, STATUS_SCOREBOARDS, STATUS_BLOCKED_REASON = 0x58, 0x5C, 0x60
STATUS_WAIT_SYNC_VALUE_HI = 0x64
FAULT, FATAL, FAULT_INFO, FATAL_INFO = 0x80, 0x84, 0x88, 0x90
HEAP_VT_START, HEAP_VT_END, HEAP_FRAG_END, HEAP_ADDRESS = 0xC0, 0xC4, 0xCC, 0xD0
HEAP_START, HEAP_END = 0x20, 0x28  # CS input (§6.2)

# -- MCU VM and group VM layout (test choices) --------------------------------------------------------------
IO_VA = 0x04100000  # user I/O pages, 8 KiB per queue (MCU VM)
SUSPEND_VA = 0x04400000  # suspend buffers, 64 KiB per CSG slot (MCU VM)
RING_VA = 0x1000_0000  # rings: 64 KiB apart per (g, s) (group VM)
STREAM_VA = 0x2000_0000  # user streams (group VM)
SYNC_VA = 0x3000_0000  # sync objects (group VM)
OUT = 0x4000_0000  # scratch output buffer (group VM)
DESC = 0x5000_0000  # descriptors RUN_* point at (group VM)
AS_N = 1
GPU_PTE = PTE_UNCACHED | PTE_XN


# -- instruction encoders (cs-isa-and-uapi.md §1.3) ---------------------------------------------------------


def op(opcode: int, payload: int = 0) -> int:
    return opcode << 56 | payload


NOP = 0


def move48(d: int, imm: int) -> int:
    return op(0x01, d << 48 | imm)


def move32(r: int, imm: int) -> int:
    return op(0x02, r << 48 | imm)


def wait(mask: int, progress: int = 0) -> int:
    return op(0x03, progress << 32 | mask << 16)


def run_compute(spd: int = 0, progress: int = 0) -> int:
    return op(0x04, spd << 42 | progress << 32)


def run_tiling() -> int:
    return op(0x05)


def run_idvs(malloc: int = 1) -> int:
    return op(0x06, malloc << 33)


def run_fragment() -> int:
    return op(0x07)


def run_fullscreen(dcd: int) -> int:
    return op(0x08, dcd << 40)


def finish_tiling() -> int:
    return op(0x09)


def finish_fragment(first: int, last: int, increment: int = 1, wait_mask: int = 0, signal: int = 0) -> int:
    return op(0x0B, signal << 48 | first << 40 | last << 32 | wait_mask << 16 | increment)


def add32(dest: int, src: int, imm: int) -> int:
    return op(0x10, dest << 48 | src << 40 | imm & 0xFFFFFFFF)


def add64(dest: int, src: int, imm: int) -> int:
    return op(0x11, dest << 48 | src << 40 | imm & 0xFFFFFFFF)


def umin32(dest: int, src0: int, src1: int) -> int:
    return op(0x12, dest << 48 | src0 << 40 | src1 << 32)


def load_multiple(base: int, addr: int, mask: int, offset: int = 0) -> int:
    return op(0x14, base << 48 | addr << 40 | mask << 16 | offset & 0xFFFF)


def store_multiple(base: int, addr: int, mask: int, offset: int = 0) -> int:
    return op(0x15, base << 48 | addr << 40 | mask << 16 | offset & 0xFFFF)


def branch(value: int, cond: int, offset: int) -> int:
    return op(0x16, value << 40 | cond << 28 | offset & 0xFFFF)


def set_sb_entry(endpoint: int, other: int = 0) -> int:
    return op(0x17, other << 4 | endpoint)


def progress_wait(source: int, queue: int) -> int:
    return op(0x18, source << 40 | queue)


def set_exception_handler(addr: int, length: int, kind: int = 2) -> int:
    return op(0x19, addr << 40 | length << 32 | kind)


def call(addr: int, length: int) -> int:
    return op(0x20, addr << 40 | length << 32)


def jump(addr: int, length: int) -> int:
    return op(0x21, addr << 40 | length << 32)


def req_resource(mask: int) -> int:
    return op(0x22, mask)


def flush_cache2(flush_id: int, l2: int = 3, lsc: int = 3, other: int = 2, wait_mask: int = 0,
                 signal: int = 0) -> int:
    return op(0x24, signal << 48 | flush_id << 40 | wait_mask << 16 | other << 8 | lsc << 4 | l2)


def _sync(opcode: int, addr: int, data: int, wait_mask: int, signal: int, propagate: int, scope: int) -> int:
    return op(opcode, signal << 48 | addr << 40 | data << 32 | wait_mask << 16 | scope << 1 | propagate)


def sync_add32(addr: int, data: int, wait_mask: int = 0, signal: int = 0, propagate: int = 0) -> int:
    return _sync(0x25, addr, data, wait_mask, signal, propagate, 0)


def sync_set32(addr: int, data: int, wait_mask: int = 0, signal: int = 0, propagate: int = 0) -> int:
    return _sync(0x26, addr, data, wait_mask, signal, propagate, 0)


def sync_add64(addr: int, data: int, wait_mask: int = 0, signal: int = 0, propagate: int = 0) -> int:
    return _sync(0x33, addr, data, wait_mask, signal, propagate, 0)


def sync_set64(addr: int, data: int, wait_mask: int = 0, signal: int = 0, propagate: int = 0) -> int:
    return _sync(0x34, addr, data, wait_mask, signal, propagate, 0)


def sync_wait32(addr: int, ref: int, cond: int, reject: int = 0) -> int:
    return op(0x27, addr << 40 | ref << 32 | cond << 28 | reject)


def sync_wait64(addr: int, ref: int, cond: int, reject: int = 0) -> int:
    return op(0x35, addr << 40 | ref << 32 | cond << 28 | reject)


def store_state(addr: int, state: int, offset: int = 0, wait_mask: int = 0, signal: int = 0) -> int:
    return op(0x28, signal << 48 | addr << 40 | state << 32 | wait_mask << 16 | offset & 0xFFFF)


def prot_region(size: int) -> int:
    return op(0x29, size)


def progress_store(source: int) -> int:
    return op(0x2A, source << 40)


def progress_load(dest: int) -> int:
    return op(0x2B, dest << 48)


def error_barrier() -> int:
    return op(0x2F)


def heap_set(addr: int) -> int:
    return op(0x30, addr << 40)


def heap_operation(operation: int, wait_mask: int = 0, signal: int = 0) -> int:
    return op(0x31, signal << 48 | operation << 32 | wait_mask << 16)


def trace_point(wait_mask: int = 0, signal: int = 0) -> int:
    return op(0x32, signal << 48 | wait_mask << 16)


def dump(first: int, mask: int, at: int = 0) -> list[int]:
    """Store registers ``first + i`` (bit i of ``mask``) at ``OUT + at`` (uses d90 as the pointer)."""
    return [move48(90, OUT + at), store_multiple(first, 90, mask)]


# §1.6 condition codes
LEQUAL, GREATER, EQUAL, NEQUAL, LESS, GEQUAL, ALWAYS = range(7)


def panthor_job(latest_flush: int, stream_addr: int, stream_size: int, sync_addr: int) -> list[int]:
    """The §1.9 table word for word (96-register CS: addr_reg 92, val_reg 94), padded to 16."""
    return [0x025E0000_00000000 | latest_flush, 0x24005E00_00000233, 0x015C0000_00000000 | stream_addr,
            0x025E0000_00000000 | stream_size, 0x03000000_00010000, 0x20005C5E_00000000,
            0x015C0000_00000000 | sync_addr, 0x015E0000_00000001, 0x03000000_00FF0000, 0x33005C5E_00000001,
            0x2F000000_00000000] + [0] * 5


# -- rig ---------------------------------------------------------------------------------------------------


class GpuVm(VaBuffers):
    """A group VM: its own 4-level tables, pages mapped uncached/no-exec like panthor's kernel objects."""

    def __init__(self, rig: McuRig) -> None:
        self.rig = rig
        self.space = "GPU"
        self.root = rig.dma.alloc(0x1000, name="group vm root").phys
        self.tables: dict[tuple[int, int], int] = {}
        self.buffers: dict[int, DmaBuffer] = {}

    def map_page(self, va: int, pa: int, attrs: int = GPU_PTE) -> None:
        table = self.root
        for level in range(3):
            index = (va >> (39 - 9 * level)) & 0x1FF
            if (table, index) not in self.tables:
                self.tables[(table, index)] = self.rig.dma.alloc(0x1000, name="group vm table").phys
                self.rig.mem.write64(table + 8 * index, self.tables[(table, index)] | TABLE)
            table = self.tables[(table, index)]
        self.rig.mem.write64(table + 8 * ((va >> 12) & 0x1FF), pa | attrs)

    def unmap_page(self, va: int) -> None:
        """Zero the leaf (the TLB is not flushed: only for VAs the GPU never translated)."""
        table = self.root
        for level in range(3):
            table = self.tables[(table, (va >> (39 - 9 * level)) & 0x1FF)]
        self.rig.mem.write64(table + 8 * ((va >> 12) & 0x1FF), 0)

    def map(self, va: int, size: int) -> DmaBuffer:
        buf = self.rig.dma.alloc(size, name=f"gpu {va:#x}")
        for off in range(0, size, 0x1000):
            self.map_page(va + off, buf.phys + off)
        self.buffers[va] = buf
        return buf

    def write_words(self, va: int, words: list[int]) -> None:
        buf, off = self._locate(va)
        buf.write(off, struct.pack(f"<{len(words)}Q", *words))


@dataclass
class Queue:
    g: int
    s: int
    ring_va: int
    ring_size: int
    io_va: int
    ring: DmaBuffer
    insert: int = 0


class CsRig(McuRig):
    """A booted MCU with a group VM in AS1 and helpers to start queues and submit instructions."""

    def __init__(self, *, strict: bool = True) -> None:
        super().__init__(strict=strict)
        self.boot()
        self.wr64(GLB_IN + 0x18, 0x50005)  # core_en_mask = SHADER_PRESENT (§3.7)
        self.toggle(GLB_IN, GLB_OUT, GLB_CFG_ALLOC_EN)
        self.ring(0)
        self.settle()
        self.wait_job(0)
        self.vm = GpuVm(self)
        self.enable_as(AS_N, self.vm.root)
        self.queues: dict[tuple[int, int], Queue] = {}
        self.csg_events: list[tuple[int, int]] = []

    def enable_as(self, n: int, root: int) -> None:
        base = AS0 + n * 0x40
        self.w64(base + AS_TRANSTAB, root)
        self.w64(base + AS_MEMATTR, MEMATTR_RK3588)
        self.w64(base + AS_TRANSCFG, TRANSCFG_RK3588)
        self.w32(base + AS_COMMAND, AS_UPDATE)
        self.clock.poll(lambda: not self.r32(base + AS_STATUS) & 1, 0.1, f"AS{n} UPDATE")

    def set_progress_timer(self, value: int) -> None:
        """GLB progress_timer (units of 1024 GPU cycles, §4.2) applied with CFG_PROGRESS_TIMER."""
        self.wr32(GLB_IN + 0x10, value)
        self.toggle(GLB_IN, GLB_OUT, GLB_CFG_PROGRESS_TIMER)
        self.ring(0)
        self.settle()
        self.wait_job(0)

    # -- queues and groups ----------------------------------------------------------------------------------

    def moved(self, q: Queue, g: int, s: int) -> Queue:
        """The same queue (ring, I/O pages, insert) bound to CS slot ``s`` of CSG slot ``g`` (§7.4)."""
        moved = Queue(g, s, q.ring_va, q.ring_size, q.io_va, q.ring, q.insert)
        self.queues[(g, s)] = moved
        return moved

    def queue(self, g: int, s: int, ring_size: int = 0x1000) -> Queue:
        """Allocate the ring (group VM) and the user I/O pages (MCU VM) of queue (g, s)."""
        ring_va = RING_VA + (8 * g + s) * 0x1_0000
        io_va = IO_VA + (8 * g + s) * 0x2000
        ring = self.vm.map(ring_va, ring_size)
        if io_va not in self.buffers:
            self.map_object(io_va, 0x2000)
        q = Queue(g, s, ring_va, ring_size, io_va, ring)
        self.queues[(g, s)] = q
        return q

    def program_queue(self, q: Queue) -> None:
        """panthor cs_slot_prog_locked (§7.4 step 2)."""
        base = cs_in(q.g, q.s)
        self.wr64(q.io_va + 0x08, self.rd64(q.io_va + 0x1000))  # input.extract = output.extract
        self.wr64(base + 0x10, q.ring_va)
        self.wr32(base + 0x18, q.ring_size)
        self.wr64(base + 0x30, q.io_va)
        self.wr64(base + 0x38, q.io_va + 0x1000)
        self.wr32(base + 0x04, (q.g + 1) << 8)  # priority 0, doorbell g + 1
        self.wr32(base + 0x0C, 0xFFFFFFFF)
        self.update(base, IDLE_SYNC_WAIT | IDLE_EMPTY | CS_START, CS_REQ_MASK)

    def start_group(self, g: int, queues: tuple[Queue, ...], state: int = START,
                    suspend_va: int | None = None) -> None:
        """§7.4 steps 2-5 for CSG slot g, wait for the STATE ack, then handle its interrupt like panthor.

        ``suspend_va`` is the group's suspend buffer (panthor allocates it per group, so a group resumed
        on another slot brings its own); by default one per slot.
        """
        for q in queues:
            self.program_queue(q)
        base = csg_in(g)
        suspend_va = SUSPEND_VA + g * 0x10000 if suspend_va is None else suspend_va
        if suspend_va not in self.buffers:
            self.map_object(suspend_va, 0x10000)
        self.wr64(base + 0x20, 0x50005)
        self.wr64(base + 0x28, 0x50005)
        self.wr32(base + 0x30, 1)
        self.wr32(base + 0x34, EP_DEFAULT)
        self.wr64(base + 0x40, suspend_va)
        self.wr32(base + 0x50, AS_N)
        self.wr32(base + 0x04, 0xFFFFFFFF)
        self.ring_cs(g, *(q.s for q in queues))
        self.update(base, state, 0x7)
        self.toggle(base, csg_out(g), EP_CFG)
        self.ring_csg(g)
        self.clock.poll(lambda: self.rd32(csg_out(g)) & 7 == state, 0.1, f"CSG{g} STATE {state}")
        self.take_irq()
        self.ack_csg_events(g)  # like panthor after the STATE ack: cs_irq_ack = cs_irq_req (§7.6)

    def set_state(self, g: int, state: int) -> None:
        self.update(csg_in(g), state, 0x7)
        self.ring_csg(g)
        self.clock.poll(lambda: self.rd32(csg_out(g)) & 7 == state, 0.1, f"CSG{g} STATE {state}")

    def start(self, g: int = 0, s: int = 0, ring_size: int = 0x1000) -> Queue:
        q = self.queue(g, s, ring_size)
        self.start_group(g, (q,))
        return q

    # -- submission -----------------------------------------------------------------------------------------

    def write_ring(self, q: Queue, words: list[int]) -> None:
        """Copy ``words`` into the ring at ``insert`` (wrapping at the end), like copy_instrs_to_ringbuf."""
        for i, word in enumerate(words):
            off = (q.insert + 8 * i) % q.ring_size
            q.ring.write(off, struct.pack("<Q", word))
        q.insert += 8 * len(words)

    def submit(self, q: Queue, words: list[int], *, ring: bool = True) -> None:
        """§2.4 steps 4-6: instructions, input.extract = output.extract, input.insert, doorbell."""
        self.write_ring(q, words)
        self.wr64(q.io_va + 0x08, self.rd64(q.io_va + 0x1000))
        self.wr64(q.io_va, q.insert)
        if ring:
            self.ring(q.g + 1)

    def run(self, q: Queue, words: list[int], seconds: float = 100e-6) -> None:
        """Submit ``words`` to ``q`` and let ``seconds`` of virtual time pass."""
        self.submit(q, words)
        self.settle(seconds)

    def scratch(self, va: int = OUT, size: int = 0x1000) -> DmaBuffer:
        """A zeroed group-VM buffer at ``va`` (mapped once)."""
        if va not in self.vm.buffers:
            self.vm.map(va, size)
        return self.vm.buffers[va]

    def words(self, va: int, count: int) -> list[int]:
        """``count`` u32 words of group-VM memory at ``va``."""
        return [self.vm.rd32(va + 4 * i) for i in range(count)]

    def status_update(self, g: int) -> None:
        """CSG STATUS_UPDATE (§7.5): the firmware publishes the CS status fields."""
        self.toggle(csg_in(g), csg_out(g), STATUS_UPDATE)
        self.ring_csg(g)
        self.clock.poll(lambda: not (self.rd32(csg_in(g)) ^ self.rd32(csg_out(g))) & STATUS_UPDATE, 0.1,
                        "STATUS_UPDATE ack")

    def extract(self, q: Queue) -> int:
        return self.rd64(q.io_va + 0x1000)

    def active(self, q: Queue) -> int:
        return self.rd32(q.io_va + 0x1008)

    def out32(self, q: Queue, off: int) -> int:
        return self.rd32(cs_out(q.g, q.s) + off)

    def out64(self, q: Queue, off: int) -> int:
        return self.rd64(cs_out(q.g, q.s) + off)

    # -- host-side event handling (panthor §7.6) ------------------------------------------------------------

    def cs_events(self, q: Queue) -> int:
        """CS events pending for the host: (REQ ^ ACK) & (TILER_OOM | FATAL | FAULT)."""
        return (self.rd32(cs_in(q.g, q.s)) ^ self.rd32(cs_out(q.g, q.s))) & (TILER_OOM | CS_FATAL | CS_FAULT)

    def ack_cs(self, q: Queue, bits: int, *, doorbell: bool = True) -> None:
        """Copy ACK ``bits`` into REQ; with ``doorbell`` toggle the CS doorbell bit and ring CSG g (§7.6)."""
        ack = self.rd32(cs_out(q.g, q.s))
        self.update(cs_in(q.g, q.s), ack, bits)
        if doorbell:
            self.ring_cs(q.g, q.s)
            self.ring_csg(q.g)

    def ack_csg_events(self, g: int) -> int:
        """panthor steps 2-3: cs_irq_ack = cs_irq_req; copy SYNC_UPDATE/IDLE/PROGRESS ACK bits into REQ."""
        self.wr32(csg_in(g) + 0x0C, self.rd32(csg_out(g) + 0x0C))
        req, ack = self.rd32(csg_in(g)), self.rd32(csg_out(g))
        events = (req ^ ack) & (SYNC_UPDATE | CSG_IDLE | PROGRESS_TIMER_EVENT)
        self.update(csg_in(g), ack, events)
        self.csg_events.append((g, events))
        return events

    def take_irq(self) -> int:
        """JOB_IRQ_RAWSTAT now, cleared."""
        raw = self.r32(JOB_IRQ_RAWSTAT)
        self.w32(JOB_IRQ_CLEAR, raw)
        self.p.irq("job").acknowledge()
        return raw
