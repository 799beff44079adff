"""A command-stream group (CSG): a VM, 1..N queues, priorities, core masks, suspend buffers and state.

Facts: cs-isa-and-uapi.md §3.11 (GROUP_CREATE parameters and their checks, in panthor's order, with
its errnos), §3.13 (GROUP_GET_STATE flags), §5.1-§5.2 (priorities, life cycle, "can run"), §2.1
(group sync objects, suspend buffers); csf-firmware-and-interfaces.md §5.1 (suspend_size,
protm_suspend_size) and §5.5 (endpoint_req limits).

A :class:`Group` owns its memory: the sync-object buffer (``queue_count × 16`` bytes, group VM kernel
range, no-exec + uncached, zeroed), the normal and protected-mode suspend buffers (MCU VM, sized by the
firmware's ``suspend_size``/``protm_suspend_size``) and its queues' rings and user I/O pages.
Creation is all-or-nothing: a failed allocation frees everything taken so far.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import InvalidArgument, MaliError
from ..firmware.interface import CsfInfo
from ..gpu import GpuInfo
from ..mmu import VM, Prot
from .kmem import KernelBo, KernelMemory
from .queue import (
    RING_FLAGS,
    SYNCOBJ_FLAGS,
    SYNCOBJ_SIZE,
    USER_IO_FLAGS,
    USER_IO_SIZE,
    Queue,
    check_queue_priority,
    check_ring_size,
    job_template,
)

if TYPE_CHECKING:
    from .queue import Job

#: panthor MAX_CS_PER_CSG: the GROUP_CREATE queue limit (§3.11).
MAX_QUEUES_PER_GROUP = 32
#: endpoint_req field widths (§5.5): compute 7:0, fragment 15:8, tiler 19:16.
_MAX_CORES = {"compute": 0xFF, "fragment": 0xFF, "tiler": 0xF}
#: Suspend buffers are only read and written by the firmware (panthor maps them no-exec).
SUSPEND_FLAGS = Prot.NOEXEC


class GroupPriority(enum.IntEnum):
    """Kernel group priorities (``PANTHOR_GROUP_PRIORITY_*``, §3.11, §5.1)."""

    LOW = 0
    MEDIUM = 1
    HIGH = 2
    REALTIME = 3


class GroupStatus(enum.Enum):
    """Group life-cycle states (§5.2)."""

    CREATED = "created"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    TERMINATED = "terminated"
    UNKNOWN = "unknown"


class GroupStateFlags(enum.IntFlag):
    """``DRM_PANTHOR_GROUP_STATE_*`` (§3.13)."""

    NONE = 0
    TIMEDOUT = 1 << 0
    FATAL_FAULT = 1 << 1
    INNOCENT = 1 << 2


@dataclass(frozen=True)
class QueueSpec:
    """One queue of GROUP_CREATE (``drm_panthor_queue_create``): priority 0..15, ring size."""

    priority: int = 0
    ringbuf_size: int = 16 << 10


@dataclass(frozen=True)
class GroupState:
    """What GROUP_GET_STATE reports, plus the queues that saw a recoverable CS fault.

    Attributes:
        flags: TIMEDOUT / FATAL_FAULT / INNOCENT.
        fatal_queues: bit i = queue i hit a CS_FATAL (or an unrecoverable heap error / MMU fault).
        faulted_queues: bit i = queue i reported a recoverable CS_FAULT (the group stays usable).
        status: the life-cycle state.
    """

    flags: GroupStateFlags
    fatal_queues: int
    faulted_queues: int
    status: GroupStatus

    @property
    def timed_out(self) -> bool:
        return bool(self.flags & GroupStateFlags.TIMEDOUT)

    @property
    def fatal_fault(self) -> bool:
        return bool(self.flags & GroupStateFlags.FATAL_FAULT)

    @property
    def innocent(self) -> bool:
        return bool(self.flags & GroupStateFlags.INNOCENT)

    def to_dict(self) -> dict[str, Any]:
        return {"state": int(self.flags), "timed_out": self.timed_out, "fatal_fault": self.fatal_fault,
                "innocent": self.innocent, "fatal_queues": self.fatal_queues,
                "faulted_queues": self.faulted_queues, "status": self.status.value}


@dataclass(frozen=True)
class GroupParams:
    """GROUP_CREATE parameters after defaulting (see :func:`group_params`)."""

    queues: tuple[QueueSpec, ...]
    priority: GroupPriority
    compute_core_mask: int
    fragment_core_mask: int
    tiler_core_mask: int
    max_compute_cores: int
    max_fragment_cores: int
    max_tiler_cores: int


def _popcount(value: int) -> int:
    return bin(value).count("1")


def _check_mask(name: str, mask: object, present: int, what: str) -> int:
    if isinstance(mask, bool) or not isinstance(mask, int) or not 0 <= mask < 1 << 64:
        raise InvalidArgument(f"{name} {mask!r} is not a 64-bit core mask")
    if mask & ~present:
        raise InvalidArgument(f"{name} {mask:#x} is not a subset of {what} {present:#x}", value=mask)
    return mask


def _check_max(kind: str, value: object, mask: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_CORES[kind]:
        raise InvalidArgument(f"max_{kind}_cores {value!r} is outside 0..{_MAX_CORES[kind]}")
    if _popcount(mask) < value:
        raise InvalidArgument(f"max_{kind}_cores {value} exceeds the {_popcount(mask)} cores of "
                              f"{kind}_core_mask {mask:#x}", value=value)
    return value


def group_params(gpu: GpuInfo, csf: CsfInfo, queues: object, *, priority: object = GroupPriority.MEDIUM,
                 compute_core_mask: int | None = None, fragment_core_mask: int | None = None,
                 tiler_core_mask: int | None = None, max_compute_cores: int | None = None,
                 max_fragment_cores: int | None = None, max_tiler_cores: int | None = None) -> GroupParams:
    """Validate GROUP_CREATE parameters in panthor's order (§3.11); every refusal is EINVAL.

    Order: queue count (1..32, and at most the firmware's ``cs_slot_count``, which a reimplementation
    should also check); priority (0..3); core masks (compute/fragment ⊆ SHADER_PRESENT, tiler ⊆
    TILER_PRESENT); ``popcount(mask) >= max_*_cores``; then each queue (ring size a power of two in
    4 KiB..64 KiB, priority 0..15). ``None`` masks default to every present core and ``None`` maxima
    to the mask's core count (a Python convenience; the uAPI front end passes explicit values).
    The HIGH/REALTIME permission check (EACCES) belongs to the uAPI front end (it knows the caller).

    Raises:
        InvalidArgument: the first failing check.
    """
    specs = _check_queue_count(queues, csf.cs_slot_count)
    if isinstance(priority, bool) or not isinstance(priority, int) \
            or priority not in {int(p) for p in GroupPriority}:
        raise InvalidArgument(f"group priority {priority!r} is not 0 (LOW)..3 (REALTIME)")
    compute = _check_mask("compute_core_mask", gpu.shader_present if compute_core_mask is None
                          else compute_core_mask, gpu.shader_present, "SHADER_PRESENT")
    fragment = _check_mask("fragment_core_mask", gpu.shader_present if fragment_core_mask is None
                           else fragment_core_mask, gpu.shader_present, "SHADER_PRESENT")
    tiler = _check_mask("tiler_core_mask", gpu.tiler_present if tiler_core_mask is None else tiler_core_mask,
                        gpu.tiler_present, "TILER_PRESENT")
    maxima = [_check_max(kind, min(_popcount(mask), _MAX_CORES[kind]) if value is None else value, mask)
              for kind, value, mask in (("compute", max_compute_cores, compute),
                                        ("fragment", max_fragment_cores, fragment),
                                        ("tiler", max_tiler_cores, tiler))]
    for i, spec in enumerate(specs):
        check_ring_size(spec.ringbuf_size, f"queue {i} ringbuf_size")
        check_queue_priority(spec.priority, f"queue {i} priority")
    return GroupParams(tuple(specs), GroupPriority(priority), compute, fragment, tiler, *maxima)


def _check_queue_count(queues: object, cs_slot_count: int) -> list[QueueSpec]:
    if not isinstance(queues, (list, tuple)):
        raise InvalidArgument(f"queues must be a list of QueueSpec, got {type(queues).__name__}")
    specs = [q if isinstance(q, QueueSpec) else None for q in queues]
    if any(s is None for s in specs):
        raise InvalidArgument("queues must be QueueSpec(priority, ringbuf_size) objects")
    limit = min(MAX_QUEUES_PER_GROUP, cs_slot_count)
    if not 1 <= len(specs) <= limit:
        raise InvalidArgument(f"a group needs 1..{limit} queues (MAX_CS_PER_CSG {MAX_QUEUES_PER_GROUP}, "
                              f"{cs_slot_count} CS slots per CSG), got {len(specs)}", value=len(specs))
    return [s for s in specs if s is not None]


class Group:
    """One group: VM, queues, priorities, core masks, suspend buffers and scheduling state.

    Use :meth:`create`; the scheduler (:class:`~uio_driver.csf.scheduler.Scheduler`) drives it.

    Attributes:
        handle: id (1..), unique per scheduler.
        status: :class:`GroupStatus`. csg_slot: the CSG slot it is resident on, or None.
        fw_priority: the CSG priority (0..15) given at the last tick it was resident.
        timed_out, innocent, fatal_queues, faulted_queues, destroyed: the state GROUP_GET_STATE reports.
        was_suspended: suspended cleanly at least once and not terminated since (next start is RESUME).
        idle: the firmware last reported every queue idle or blocked.
    """

    def __init__(self, handle: int, vm: VM, params: GroupParams, sync: KernelBo, suspend: KernelBo,
                 protm_suspend: KernelBo) -> None:
        self.handle = handle
        self.vm = vm
        self.params = params
        self.priority = params.priority
        self.sync = sync
        self.suspend_buf = suspend
        self.protm_suspend_buf = protm_suspend
        self.queues: list[Queue] = []
        self.status = GroupStatus.CREATED
        self.csg_slot: int | None = None
        self.fw_priority = 0
        self.timed_out = False
        self.innocent = False
        self.fatal_queues = 0
        self.faulted_queues = 0
        self.destroyed = False
        self.was_suspended = False
        self.idle = True
        #: One line per fault or failure seen (for reports).
        self.faults: list[str] = []

    @classmethod
    def create(cls, handle: int, vm: VM, params: GroupParams, kmem: KernelMemory, mcu_vm: VM,
               csf: CsfInfo) -> Group:
        """Allocate the group's memory (all-or-nothing) and its queues.

        Raises:
            OutOfMemory: DMA memory, VA space or page tables ran out (nothing stays allocated).
            MaliError: the MMU refused a mapping (nothing stays allocated).
        """
        taken: list[KernelBo] = []

        def take(vm_: VM, size: int, flags: Prot, name: str) -> KernelBo:
            bo = kmem.alloc(vm_, size, flags=flags, name=name)
            taken.append(bo)
            return bo

        try:
            n = len(params.queues)
            sync = take(vm, n * SYNCOBJ_SIZE, SYNCOBJ_FLAGS, f"group {handle} syncobjs")
            suspend = take(mcu_vm, max(csf.suspend_size, 1), SUSPEND_FLAGS, f"group {handle} suspend buffer")
            protm = take(mcu_vm, max(csf.protm_suspend_size, 1), SUSPEND_FLAGS,
                         f"group {handle} protm suspend buffer")
            group = cls(handle, vm, params, sync, suspend, protm)
            template = job_template(csf.cs_reg_count, csf.scoreboard_slot_count)
            for i, spec in enumerate(params.queues):
                ring = take(vm, spec.ringbuf_size, RING_FLAGS, f"group {handle} queue {i} ring")
                user_io = take(mcu_vm, USER_IO_SIZE, USER_IO_FLAGS, f"group {handle} queue {i} user I/O")
                group.queues.append(Queue(group, i, spec.priority, ring, user_io, sync, template))
        except MaliError:
            for bo in reversed(taken):
                bo.release()
            raise
        return group

    # -- state ---------------------------------------------------------------------------------------

    @property
    def resident(self) -> bool:
        return self.csg_slot is not None

    @property
    def can_run(self) -> bool:
        """panthor ``group_can_run``: not destroyed, not timed out, no fatal queue, not terminated (§5.2)."""
        return (not self.destroyed and not self.timed_out and not self.fatal_queues
                and self.status not in (GroupStatus.TERMINATED, GroupStatus.UNKNOWN))

    @property
    def has_work(self) -> bool:
        """Some queue has a job in flight that is not known to be blocked on a sync wait."""
        return any(q.in_flight and q.blocked is None for q in self.queues)

    @property
    def pending_jobs(self) -> int:
        return sum(len(q.in_flight) for q in self.queues)

    def state(self) -> GroupState:
        """GROUP_GET_STATE (§3.13): TIMEDOUT, FATAL_FAULT (fatal_queues ≠ 0), INNOCENT (only with
        TIMEDOUT and without FATAL_FAULT)."""
        flags = GroupStateFlags.NONE
        if self.timed_out:
            flags |= GroupStateFlags.TIMEDOUT
        if self.fatal_queues:
            flags |= GroupStateFlags.FATAL_FAULT
        if self.innocent and self.timed_out and not self.fatal_queues:
            flags |= GroupStateFlags.INNOCENT
        return GroupState(flags, self.fatal_queues, self.faulted_queues, self.status)

    def release(self) -> None:
        """Free every buffer of the group and its queues."""
        for q in self.queues:
            q.release()
        for bo in (self.sync, self.suspend_buf, self.protm_suspend_buf):
            bo.release()

    def to_dict(self) -> dict[str, Any]:
        p = self.params
        return {"handle": self.handle, "vm": self.vm.id, "priority": self.priority.name,
                "status": self.status.value, "csg_slot": self.csg_slot, "fw_priority": self.fw_priority,
                "core_masks": {"compute": p.compute_core_mask, "fragment": p.fragment_core_mask,
                               "tiler": p.tiler_core_mask},
                "max_cores": {"compute": p.max_compute_cores, "fragment": p.max_fragment_cores,
                              "tiler": p.max_tiler_cores},
                "state": self.state().to_dict(), "queues": [q.to_dict() for q in self.queues],
                "faults": list(self.faults)}


def jobs_of(group: Group) -> list[Job]:
    """Every in-flight job of ``group``, queue by queue."""
    return [job for q in group.queues for job in q.in_flight]
