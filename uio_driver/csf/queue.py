"""A command-stream queue: ring buffer, user I/O pages, sync object, job append and completion.

Facts: cs-isa-and-uapi.md §2.1 (per-queue kernel objects), §2.2 (user I/O pages), §2.3 (the per-job
ring sequence, its padding and credits), §2.4 (submission steps), §2.5 (completion) and §3.12 (the
job checks of GROUP_SUBMIT); csf-firmware-and-interfaces.md §6.7 (ring and user I/O pages).

* The **ring** (``ringbuf_size``, a power of two in 4 KiB..64 KiB) is mapped no-exec + uncached in the
  group VM's kernel VA range; the CPU writes it through its own mapping.
* The **user I/O pages** (8 KiB) are mapped no-exec + uncached in the MCU VM: page 0 is the host's
  input page (``insert`` u64 @0, ``extract`` u64 @8), page 1 the firmware's output page
  (``extract`` u64 @0, ``active`` u32 @8).
* The queue's ``panthor_syncobj_64b`` (seqno u64 @0, status u32 @8, pad) is slot ``index`` of its
  group's sync-object buffer; the job sequence's SYNC_ADD64 bumps ``seqno``, so after job *n*
  (seqnos start at 1) completes ``seqno >= n``.

A job appends exactly panthor's sequence (:func:`~uio_driver.csf.jobseq.panthor_job_instructions`) at
``insert & (size - 1)``, wrapping at the end of the ring, then: barrier, ``input.extract =
output.extract``, ``input.insert = end``. Ringing the doorbell is the scheduler's business (only a
resident group has one). The ring is never overrun: a job needs ``count`` credits out of
``ringbuf_size / 8`` and ``insert`` never gets more than ``ringbuf_size`` ahead of the firmware's
``extract``.
"""

from __future__ import annotations

import ctypes
import errno as _errno
import functools
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..errors import Busy, InvalidArgument, MaliError, Timeout
from ..firmware.blocks import RingInputPage, RingOutputPage
from ..mmu import Prot
from .isa import G610_CS_REG_COUNT, G610_SB_SLOT_COUNT
from .jobseq import job_instruction_count, panthor_job_instructions
from .kmem import PAGE_SIZE, KernelBo

if TYPE_CHECKING:
    from .group import Group

#: panthor's ring size limits (group_create_queue; §2.1, §3.11).
RING_SIZE_MIN = 4 << 10
RING_SIZE_MAX = 64 << 10
#: Queue priorities inside a group (CS config bits 3:0, §3.11).
QUEUE_PRIORITY_MAX = 15
#: Two pages: input page, output page (§2.1, §6.7).
USER_IO_SIZE = 2 * PAGE_SIZE
#: Bytes per instruction.
INSTR_SIZE = 8
#: Status panthor writes into the sync object of a killed queue (§2.5).
SYNCOBJ_STATUS_KILLED = 0xFFFFFFFF
#: latest_flush bits 30:24 must be zero (§3.12).
LATEST_FLUSH_RESERVED = 0x7F << 24


class SyncObj64(ctypes.LittleEndianStructure):
    """``struct panthor_syncobj_64b`` (§2.1): 16 bytes."""

    _pack_ = 8
    _fields_ = [("seqno", ctypes.c_uint64), ("status", ctypes.c_uint32), ("pad", ctypes.c_uint32)]


SYNCOBJ_SIZE = ctypes.sizeof(SyncObj64)
_IN_INSERT = RingInputPage.insert.offset // 8
_IN_EXTRACT = RingInputPage.extract.offset // 8
_OUT_EXTRACT = (PAGE_SIZE + RingOutputPage.extract.offset) // 8
_OUT_ACTIVE = (PAGE_SIZE + RingOutputPage.active.offset) // 4
_SYNC_SEQNO = SyncObj64.seqno.offset // 8
_SYNC_STATUS = SyncObj64.status.offset // 4


def check_ring_size(ring_size: object, what: str = "ringbuf_size") -> int:
    """``ring_size`` if it is a power of two in [4 KiB, 64 KiB] (panthor's rule), else EINVAL."""
    if isinstance(ring_size, bool) or not isinstance(ring_size, int) \
            or not RING_SIZE_MIN <= ring_size <= RING_SIZE_MAX or ring_size & (ring_size - 1):
        raise InvalidArgument(f"{what} {ring_size!r} must be a power of two in [{RING_SIZE_MIN:#x}, "
                              f"{RING_SIZE_MAX:#x}]", value=ring_size if isinstance(ring_size, int) else None)
    return ring_size


def check_queue_priority(priority: object, what: str = "queue priority") -> int:
    """``priority`` if it is in 0..15, else EINVAL."""
    if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= QUEUE_PRIORITY_MAX:
        raise InvalidArgument(f"{what} {priority!r} is outside 0..{QUEUE_PRIORITY_MAX}")
    return priority


def _uint(name: str, value: object, limit: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < limit:
        raise InvalidArgument(f"job {name} {value!r} is not an integer in [0, {limit:#x})")
    return value


def check_job(stream_addr: object, stream_size: object, latest_flush: object) -> tuple[int, int, int]:
    """The per-job checks of GROUP_SUBMIT (§3.12): size multiple of 8, address multiple of 64, zero only
    together, latest_flush a u32 with bits 30:24 clear. Raises InvalidArgument (EINVAL)."""
    addr = _uint("stream_addr", stream_addr, 1 << 48)
    size = _uint("stream_size", stream_size, 1 << 32)
    flush = _uint("latest_flush", latest_flush, 1 << 32)
    if size % INSTR_SIZE:
        raise InvalidArgument(f"job stream_size {size} is not a multiple of 8", value=size)
    if addr % 64:
        raise InvalidArgument(f"job stream_addr {addr:#x} is not 64-byte aligned", value=addr)
    if (size == 0) != (addr == 0):
        raise InvalidArgument(f"job stream_addr {addr:#x} and stream_size {size} must both be zero or both "
                              "non-zero")
    if flush & LATEST_FLUSH_RESERVED:
        raise InvalidArgument(f"job latest_flush {flush:#x} has bits 30:24 set", value=flush)
    return addr, size, flush


class JobTemplate:
    """panthor's job sequence with the four per-job values patched into a precomputed word array.

    The sequence is produced once by :func:`panthor_job_instructions`; probing it with each parameter
    at its two extreme legal bit patterns finds the single word and the immediate bits that parameter
    lands in (a MOVE32/MOVE48 immediate). :meth:`words` then only ORs the values into a copy — the
    hot path of every submission. The template is verified against the reference function at
    construction; if the probe does not find a plain immediate (or ``patch`` is False, the benchmark's
    baseline), every job uses the reference function.
    """

    _PARAMS = (("stream_addr", 64, 1 << 48), ("stream_size", 8, 1 << 32), ("sync_addr", 8, 1 << 48),
               ("latest_flush", 1, 1 << 32))

    def __init__(self, cs_reg_count: int, sb_slot_count: int, *, patch: bool = True) -> None:
        self.cs_reg_count, self.sb_slot_count = cs_reg_count, sb_slot_count
        base_args = {name: align for name, align, _ in self._PARAMS}
        self.base = np.array(self._reference(**base_args), dtype=np.uint64)
        self.slots: list[tuple[int, int]] = []  # (word index, immediate mask) per parameter, in _PARAMS order
        for name, align, limit in self._PARAMS if patch else ():
            high = ((limit - 1) & ~(align - 1)) ^ align
            probe = np.array(self._reference(**{**base_args, name: high}), dtype=np.uint64)
            changed = np.flatnonzero(probe != self.base)
            mask = int(probe[changed[0]] ^ self.base[changed[0]]) if len(changed) == 1 else 0
            if len(changed) != 1 or mask | (align - 1) != limit - 1:
                self.slots = []
                break
            self.slots.append((int(changed[0]), mask))
        if self.slots:
            for index, mask in self.slots:
                self.base[index] &= np.uint64(~mask & 0xFFFFFFFFFFFFFFFF)
            check = (0x1234_5678_9AC0, 0x1238, 0x7654_3210_0008, 0x00AB_CDEF)
            if list(self.words(*check)) != self._reference(*check):
                self.slots = []

    def _reference(self, stream_addr: int, stream_size: int, sync_addr: int, latest_flush: int) -> list[int]:
        return panthor_job_instructions(stream_addr, stream_size, sync_addr, latest_flush,
                                        cs_reg_count=self.cs_reg_count, sb_slot_count=self.sb_slot_count)

    def words(self, stream_addr: int, stream_size: int, sync_addr: int, latest_flush: int) -> np.ndarray:
        """The job's ring words (uint64), identical to :func:`panthor_job_instructions`."""
        if not self.slots:
            words = self._reference(stream_addr, stream_size, sync_addr, latest_flush)
            return np.array(words, dtype=np.uint64)
        out = self.base.copy()
        for (index, _), value in zip(self.slots, (stream_addr, stream_size, sync_addr, latest_flush),
                                     strict=True):
            out[index] |= np.uint64(value)
        return out


@functools.lru_cache(maxsize=8)
def job_template(cs_reg_count: int = G610_CS_REG_COUNT,
                 sb_slot_count: int = G610_SB_SLOT_COUNT) -> JobTemplate:
    """The shared :class:`JobTemplate` for a CS register file / scoreboard size."""
    return JobTemplate(cs_reg_count, sb_slot_count)


def _plain_copy(dst: np.ndarray, src: np.ndarray) -> None:
    dst[...] = src


def _device_copy(dst: np.ndarray, src: np.ndarray) -> None:
    np.bitwise_or(src, np.uint64(0), out=dst)


@dataclass(eq=False)
class Job:
    """One submitted job (panthor's ``panthor_job`` and its done fence).

    Attributes:
        seqno: the queue sequence number its SYNC_ADD64 reaches (first job 1). A zero-size job reuses
            the previous job's seqno (it is a pure synchronisation point, §2.4 step 1).
        ring_start/ring_end: absolute ring offsets of its instructions (equal for a zero-size job).
        done: the job finished (successfully or not). error: errno when it failed (EINVAL for a CS
            fault/fatal fault, ETIMEDOUT, ECANCELED), else None.
        fault: what went wrong, when something did.
    """

    queue: Queue = field(repr=False)
    seqno: int
    ring_start: int
    ring_end: int
    stream_addr: int
    stream_size: int
    latest_flush: int
    credits: int
    submitted_ns: int
    done: bool = False
    error: int | None = None
    fault: str | None = None
    completed_ns: int | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None

    def result(self) -> None:
        """Raise the job's error (a MaliError carrying its errno) if it failed; Busy if not done yet."""
        if not self.done:
            raise Busy(f"job {self.seqno} of queue {self.queue.index} has not completed")
        if self.error is not None:
            cls = Timeout if self.error == _errno.ETIMEDOUT else MaliError
            raise cls(f"job {self.seqno} of queue {self.queue.index} failed: {self.fault or 'error'} "
                      f"({_errno.errorcode.get(self.error, self.error)})", errno=self.error)

    def to_dict(self) -> dict[str, object]:
        return {"queue": self.queue.index, "seqno": self.seqno, "ring_start": self.ring_start,
                "ring_end": self.ring_end, "done": self.done,
                "error": None if self.error is None else _errno.errorcode.get(self.error, self.error),
                "fault": self.fault}


@dataclass(eq=False)
class Queue:
    """Queue ``index`` of a group: its ring, user I/O pages and sync object.

    Created by :class:`~uio_driver.csf.group.Group`, which allocates the memory (see :meth:`create`).

    Attributes:
        doorbell: the doorbell of the CSG slot the group is resident on (slot + 1), else None.
        last_seqno: last sequence number handed out.
        in_flight: jobs not completed yet, oldest first.
        blocked: the firmware reported the queue blocked on a sync wait at the last status read, as
            ``(sync_ptr, ref, is_64bit, greater)``; None when not blocked.
        timer_start_ns / timeout_budget_ns: job-timeout accounting (§5.4), kept by the scheduler.
    """

    group: Group = field(repr=False)
    index: int
    priority: int
    ring: KernelBo = field(repr=False)
    user_io: KernelBo = field(repr=False)
    sync: KernelBo = field(repr=False)
    template: JobTemplate = field(repr=False)
    doorbell: int | None = None
    last_seqno: int = 0
    insert: int = 0
    credits_in_flight: int = 0
    in_flight: deque[Job] = field(default_factory=deque, repr=False)
    blocked: tuple[int, int, bool, bool] | None = None
    timer_start_ns: int | None = None
    timeout_budget_ns: int = 0

    def __post_init__(self) -> None:
        self._ring = self.ring.u64
        self._io64 = self.user_io.u64
        self._io32 = self.user_io.u32
        self._sync64 = self.sync.u64
        self._sync32 = self.sync.u32
        self._slot64 = self.index * SYNCOBJ_SIZE // 8
        self._slot32 = self.index * SYNCOBJ_SIZE // 4
        self.ring_size = self.ring.size
        self.credit_limit = self.ring_size // INSTR_SIZE
        self.job_credits = job_instruction_count()
        # A Device-memory carveout mapping (UIO, /dev/mem) must not be written with memcpy: copy
        # element by element there, as DmaBuffer.write does (platform/dma.py).
        self._copy = _device_copy if self.ring.buffer.allocator.device_memory else _plain_copy

    # -- addresses ------------------------------------------------------------------------------------

    @property
    def ringbuf_base(self) -> int:
        """GPU VA of the ring (group VM, kernel range)."""
        return self.ring.va

    @property
    def input_va(self) -> int:
        """MCU VA of the input page."""
        return self.user_io.va

    @property
    def output_va(self) -> int:
        """MCU VA of the output page (input + 4 KiB)."""
        return self.user_io.va + PAGE_SIZE

    @property
    def sync_va(self) -> int:
        """GPU VA of this queue's ``panthor_syncobj_64b`` (group sync objects + 16 × index, §2.3)."""
        return self.sync.va + self.index * SYNCOBJ_SIZE

    # -- user I/O pages and sync object ----------------------------------------------------------------

    @property
    def output_extract(self) -> int:
        """The firmware's extract pointer (output page)."""
        return int(self._io64[_OUT_EXTRACT])

    @property
    def active(self) -> bool:
        """Output page ``active`` bit 0."""
        return bool(self._io32[_OUT_ACTIVE] & 1)

    @property
    def input_insert(self) -> int:
        return int(self._io64[_IN_INSERT])

    @property
    def input_extract(self) -> int:
        return int(self._io64[_IN_EXTRACT])

    def sync_extract(self) -> None:
        """``input.extract = output.extract`` (before a start and on every submission, §2.2)."""
        self._io64[_IN_EXTRACT] = self._io64[_OUT_EXTRACT]

    @property
    def seqno(self) -> int:
        """Current ``seqno`` of the queue's sync object (read from memory)."""
        return int(self._sync64[self._slot64 + _SYNC_SEQNO])

    @property
    def sync_status(self) -> int:
        return int(self._sync32[self._slot32 + _SYNC_STATUS])

    # -- submission ----------------------------------------------------------------------------------

    @property
    def idle(self) -> bool:
        """No job in flight."""
        return not self.in_flight

    def has_room(self) -> bool:
        """One more job fits: within the credit limit and ``insert`` no more than a ring ahead of the
        firmware's ``extract`` (the ring is never overrun)."""
        if self.credits_in_flight + self.job_credits > self.credit_limit:
            return False
        return self.insert + self.job_credits * INSTR_SIZE - self.output_extract <= self.ring_size

    def append(self, stream_addr: int, stream_size: int, latest_flush: int, now_ns: int) -> Job:
        """Write one job into the ring and publish it in the input page (§2.4 steps 1, 3-5).

        The caller checked :meth:`has_room` and the job parameters (:func:`check_job`).

        Returns:
            The job; for ``stream_size == 0`` nothing is written and the job completes with the
            previous one.
        """
        if stream_size == 0:
            job = Job(self, self.last_seqno, self.insert, self.insert, 0, 0, latest_flush, 0, now_ns)
            if not self.in_flight:
                job.done, job.completed_ns = True, now_ns
            else:
                self.in_flight.append(job)
            return job
        words = self.template.words(stream_addr, stream_size, self.sync_va, latest_flush)
        count = len(words)
        start = self.insert
        nwords = len(self._ring)
        pos = (start // INSTR_SIZE) & (nwords - 1)
        first = min(count, nwords - pos)
        self._copy(self._ring[pos:pos + first], words[:first])
        if first < count:  # wrap around the end of the ring
            self._copy(self._ring[:count - first], words[first:])
        end = start + count * INSTR_SIZE
        self.ring.buffer.sync_for_device()  # write barrier: the ring before the pointers (§2.4 step 5)
        self._io64[_IN_EXTRACT] = self._io64[_OUT_EXTRACT]
        self._io64[_IN_INSERT] = end
        self.insert = end
        self.last_seqno += 1
        job = Job(self, self.last_seqno, start, end, stream_addr, stream_size, latest_flush, count, now_ns)
        self.in_flight.append(job)
        self.credits_in_flight += count
        return job

    # -- completion ----------------------------------------------------------------------------------

    def check_completion(self, now_ns: int) -> list[Job]:
        """Complete every in-flight job whose seqno the sync object reached (§2.5); returns them."""
        if not self.in_flight:
            return []
        seqno = self.seqno
        done: list[Job] = []
        while self.in_flight and self.in_flight[0].seqno <= seqno:
            job = self.in_flight.popleft()
            job.done, job.completed_ns = True, now_ns
            if job.stream_size == 0 and done and done[-1].error is not None:
                job.error, job.fault = done[-1].error, done[-1].fault
            self.credits_in_flight -= job.credits
            done.append(job)
        return done

    def job_at(self, offset: int) -> Job | None:
        """The in-flight job whose ring range holds absolute ring offset ``offset`` (else the oldest)."""
        for job in self.in_flight:
            if job.ring_start <= offset < job.ring_end:
                return job
        return next((j for j in self.in_flight if j.stream_size), None)

    def fail_all(self, error: int, reason: str, now_ns: int) -> list[Job]:
        """Fail every in-flight job with ``error`` and release GPU waiters: the sync object gets
        ``seqno = last allocated``, ``status = ~0`` (§2.5). Returns the jobs failed."""
        self._sync64[self._slot64 + _SYNC_SEQNO] = self.last_seqno
        self._sync32[self._slot32 + _SYNC_STATUS] = SYNCOBJ_STATUS_KILLED
        self.sync.buffer.sync_for_device()
        failed = list(self.in_flight)
        for job in failed:
            job.done, job.completed_ns = True, now_ns
            if job.error is None:
                job.error, job.fault = error, reason
        self.in_flight.clear()
        self.credits_in_flight = 0
        self.timer_start_ns = None
        return failed

    def release(self) -> None:
        """Free the ring and the user I/O pages (the group frees the sync-object buffer)."""
        self.ring.release()
        self.user_io.release()

    def to_dict(self) -> dict[str, object]:
        return {"index": self.index, "priority": self.priority, "ringbuf_size": self.ring_size,
                "ringbuf_base": self.ringbuf_base, "input_va": self.input_va, "output_va": self.output_va,
                "sync_va": self.sync_va, "insert": self.insert, "extract": self.output_extract,
                "seqno": self.seqno, "last_seqno": self.last_seqno, "in_flight": len(self.in_flight),
                "doorbell": self.doorbell}


#: Mapping flags of each per-queue object (§2.1): no-exec + uncached.
RING_FLAGS = Prot.NOEXEC | Prot.UNCACHED
USER_IO_FLAGS = Prot.NOEXEC | Prot.UNCACHED
SYNCOBJ_FLAGS = Prot.NOEXEC | Prot.UNCACHED
