"""``CsfDevice``: the whole GPU as one object — bring-up, firmware, MMU, scheduler, VMs, BOs, heaps.

It is what the panthor-compatible front end (``uio_driver/uapi``) sits on and what ``mali-uio run`` uses::

    with CsfDevice.open("sim") as dev:
        vm = dev.create_vm()
        bo = dev.alloc(4096)
        dev.map(vm, bo, 0x1000000)
        group = dev.create_group(vm, [QueueSpec(priority=0, ringbuf_size=16384)])
        job = dev.submit(group, 0, stream_va, stream_size)
        dev.wait(job)
        job.result()  # raises the job's error, if any

Opening runs every bring-up stage (identify … glb_init, then the scheduler stage); closing tears
everything down in reverse: groups terminated and freed, heaps and VMs destroyed, the MCU stopped, the
firmware sections and the MCU VM freed, the MMU closed and — when the device opened it — the platform.
"""

from __future__ import annotations

import errno as _errno
import logging
from collections.abc import Sequence
from typing import Any, Self

from ..bringup import Bringup, StageResult
from ..errors import InvalidArgument, MaliError
from ..firmware.device import CsfFirmware
from ..firmware.interface import CsfInfo
from ..gpu import Gpu, GpuInfo
from ..mmu import VM, Mmu, Prot
from ..platform.base import Platform
from ..platform.dma import DmaBuffer
from ..regs import user as user_regs
from .group import Group, GroupState, QueueSpec
from .heap import HeapPool, TilerHeap
from .kmem import KernelMemory
from .queue import Job
from .scheduler import Scheduler, SchedulerConfig

log = logging.getLogger(__name__)


class CsfDevice:
    """A brought-up GPU with a running CSF scheduler.

    Args:
        platform: the platform (see :func:`~uio_driver.platform.open_platform`).
        firmware: firmware file or directory (None: search; synthetic on the simulator).
        config: scheduler timings and policy.
        own_platform: close ``platform`` in :meth:`close`.

    Call :meth:`start` (or use :meth:`open`) before anything else.
    """

    def __init__(self, platform: Platform, *, firmware: str | None = None,
                 config: SchedulerConfig | None = None, own_platform: bool = False) -> None:
        self.platform = platform
        self.own_platform = own_platform
        self.bringup = Bringup(platform, firmware_path=firmware)
        if config is not None:
            config.validate()
            self.bringup.objects["scheduler_config"] = config
        self.results: list[StageResult] = []
        self._dying_vms: set[int] = set()
        self.closed = False

    @classmethod
    def open(cls, backend: str = "auto", *, firmware: str | None = None,
             config: SchedulerConfig | None = None, **platform_options: Any) -> CsfDevice:
        """Open a platform, bring the GPU up and start the scheduler; the device owns the platform.

        Raises:
            MaliError: a bring-up stage failed (``stage`` names it); everything opened is closed.
        """
        from ..platform import open_platform

        platform = open_platform(backend, **platform_options)
        dev = cls(platform, firmware=firmware, config=config, own_platform=True)
        try:
            dev.start()
        except BaseException:
            dev.close()
            raise
        return dev

    def start(self) -> list[StageResult]:
        """Run every bring-up stage up to and including ``scheduler``; returns the stage results."""
        self.results = self.bringup.run(until="scheduler")
        return self.results

    # -- layers ----------------------------------------------------------------------------------------

    @property
    def gpu(self) -> Gpu:
        return self.bringup.gpu

    @property
    def mmu(self) -> Mmu:
        return self._object("mmu")

    @property
    def firmware(self) -> CsfFirmware:
        return self._object("firmware")

    @property
    def scheduler(self) -> Scheduler:
        return self._object("scheduler")

    @property
    def kmem(self) -> KernelMemory:
        return self._object("kmem")

    @property
    def gpu_info(self) -> GpuInfo:
        """``drm_panthor_gpu_info`` values (DEV_QUERY GPU_INFO)."""
        return self.gpu.info or self.gpu.probe()

    @property
    def csf_info(self) -> CsfInfo:
        """``drm_panthor_csif_info`` values and the interface facts (DEV_QUERY CSIF_INFO)."""
        info = self.firmware.info
        if info is None:
            raise MaliError("the firmware has not booted", errno=_errno.ENODEV)
        return info

    def _object(self, name: str) -> Any:
        if self.closed:
            raise MaliError(f"device closed: no {name}", errno=_errno.ENODEV)
        try:
            return self.bringup.objects[name]
        except KeyError:
            raise MaliError(f"the device is not started: no {name} (call start())",
                            errno=_errno.ENODEV) from None

    def latest_flush_id(self) -> int:
        """The USER page's LATEST_FLUSH (what userspace passes as a job's ``latest_flush``)."""
        return self.gpu.regs.read(user_regs.LATEST_FLUSH)

    # -- VMs and buffers -------------------------------------------------------------------------------

    def create_vm(self, user_va_range: int = 0, *, name: str = "") -> VM:
        """VM_CREATE: a user VM with panthor's layout (kernel range at the top)."""
        return self.mmu.create_vm(user_va_range, name=name)

    def _check_vm(self, vm: VM) -> VM:
        if not isinstance(vm, VM) or vm.is_mcu or vm.destroyed or self.mmu.vms.get(vm.id) is not vm \
                or vm.id in self._dying_vms:
            raise InvalidArgument(f"{vm!r} is not a live user VM of this device")
        return vm

    def vm(self, vm_id: int) -> VM:
        """The live user VM ``vm_id`` (EINVAL otherwise)."""
        vm = self.mmu.vms.get(vm_id) if isinstance(vm_id, int) else None
        if vm is None:
            raise InvalidArgument(f"unknown VM id {vm_id!r}")
        return self._check_vm(vm)

    def destroy_vm(self, vm: VM) -> None:
        """VM_DESTROY: its heap pool goes at once; the VM itself when its last group is destroyed
        (groups hold a reference, as in panthor)."""
        self._check_vm(vm)
        pool = self.scheduler.heap_pools.pop(vm.id, None)
        if pool is not None:
            pool.close()
        if any(g.vm is vm for g in self.scheduler.groups.values()):
            self._dying_vms.add(vm.id)
            return
        self._free_vm(vm)

    def _free_vm(self, vm: VM) -> None:
        self._dying_vms.discard(vm.id)
        self.mmu.destroy_vm(vm)
        self.kmem.forget(vm)

    def alloc(self, size: int, *, name: str = "") -> DmaBuffer:
        """Physically contiguous, zeroed DMA memory for a buffer object (rounded up to pages)."""
        return self.mmu.allocator.alloc(size, name=name)

    def map(self, vm: VM, buffer: DmaBuffer, va: int, *, flags: int = Prot.NONE, offset: int = 0,
            size: int | None = None) -> None:
        """Map ``buffer`` at user VA ``va`` of ``vm`` (VM_BIND MAP; see :meth:`VM.map`)."""
        self._check_vm(vm).map(buffer, va, offset=offset, size=size, flags=flags)

    def unmap(self, vm: VM, va: int, size: int) -> None:
        """VM_BIND UNMAP of a user range."""
        self._check_vm(vm).unmap(va, size)

    # -- groups and jobs -------------------------------------------------------------------------------

    def create_group(self, vm: VM, queues: Sequence[QueueSpec] | None = None, **params: Any) -> Group:
        """GROUP_CREATE (see :meth:`Scheduler.create_group`); ``queues`` defaults to one 16 KiB queue."""
        self._check_vm(vm)
        specs = list(queues) if queues is not None else [QueueSpec()]
        return self.scheduler.create_group(vm, specs, **params)

    def destroy_group(self, group: Group) -> None:
        """GROUP_DESTROY; a VM destroyed meanwhile goes with its last group."""
        vm = group.vm if isinstance(group, Group) else None
        self.scheduler.destroy_group(group)
        if vm is not None and vm.id in self._dying_vms and not any(
                g.vm is vm for g in self.scheduler.groups.values()):
            self._free_vm(vm)

    def submit(self, group: Group, queue_index: int, stream_addr: int, stream_size: int,
               latest_flush: int | None = None) -> Job:
        """Submit one job; ``latest_flush`` None reads LATEST_FLUSH (see :meth:`Scheduler.submit_many`)."""
        flush = self.latest_flush_id() if latest_flush is None else latest_flush
        return self.scheduler.submit(group, queue_index, stream_addr, stream_size, flush)

    def submit_many(self, group: Group, jobs: Sequence[tuple[int, int, int, int]]) -> list[Job]:
        """GROUP_SUBMIT with several jobs, all-or-nothing (see :meth:`Scheduler.submit_many`)."""
        return self.scheduler.submit_many(group, jobs)

    def wait(self, jobs: Job | Sequence[Job], timeout: float | None = None) -> None:
        """Wait until the job(s) are done (completed or failed; check ``job.result()``)."""
        self.scheduler.wait_jobs([jobs] if isinstance(jobs, Job) else list(jobs), timeout)

    def group_state(self, group: Group) -> GroupState:
        """GROUP_GET_STATE."""
        return self.scheduler.group_state(group)

    def process(self) -> None:
        """Handle pending interrupts and deferred work now (no waiting)."""
        self.scheduler.process()

    # -- tiler heaps -----------------------------------------------------------------------------------

    def create_heap(self, vm: VM, initial_chunk_count: int, chunk_size: int, max_chunks: int,
                    target_in_flight: int) -> TilerHeap:
        """TILER_HEAP_CREATE; the VM's heap pool is created with its first heap.

        Raises:
            InvalidArgument: unknown VM or a bad parameter. Busy: 128 heaps. OutOfMemory: allocation.
        """
        from .heap import check_heap_args

        self._check_vm(vm)
        check_heap_args(initial_chunk_count, chunk_size, max_chunks, target_in_flight)
        pools = self.scheduler.heap_pools
        pool = pools.get(vm.id)
        created = pool is None
        if pool is None:
            pool = HeapPool(self.kmem, vm, 1 << (self.gpu_info.l2_features & 0xFF))
        try:
            heap = pool.create(initial_chunk_count, chunk_size, max_chunks, target_in_flight)
        except MaliError:
            if created:
                pool.close()
            raise
        pools[vm.id] = pool
        return heap

    def destroy_heap(self, handle: int) -> None:
        """TILER_HEAP_DESTROY by handle ``(vm_id << 16) | heap_id``.

        Raises:
            InvalidArgument: unknown VM or heap id (EINVAL). MaliError: the VM has no heap pool (ENOENT).
        """
        if isinstance(handle, bool) or not isinstance(handle, int) or not 0 <= handle <= 0xFFFFFFFF:
            raise InvalidArgument(f"tiler heap handle {handle!r} is not a u32")
        vm = self.vm(handle >> 16)
        pool = self.scheduler.heap_pools.get(vm.id)
        if pool is None:
            raise MaliError(f"{vm.name} has no tiler heap pool", errno=_errno.ENOENT)
        pool.destroy(handle & 0xFFFF)

    # -- life cycle ------------------------------------------------------------------------------------

    def close(self) -> None:
        """Tear everything down (idempotent); errors are logged, teardown goes on."""
        if self.closed:
            return
        objects = self.bringup.objects
        sched: Scheduler | None = objects.get("scheduler")
        steps: list[tuple[str, Any]] = []
        if sched is not None:
            steps.append(("groups", sched.close))
            steps += [(f"heap pool of VM {vm_id}", pool.close) for vm_id, pool in sched.heap_pools.items()]
        mmu: Mmu | None = objects.get("mmu")
        fw: CsfFirmware | None = objects.get("firmware")
        if fw is not None:
            steps.append(("firmware", fw.close))
        if mmu is not None:
            steps.append(("mmu", mmu.close))
        for what, step in steps:
            try:
                step()
            except MaliError as err:
                log.warning("close: %s: %s", what, err.message)
        if sched is not None:
            sched.heap_pools.clear()
        self.closed = True
        if self.own_platform:
            self.platform.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def to_dict(self) -> dict[str, Any]:
        return {"backend": self.platform.name, "simulated": self.platform.simulated,
                "gpu": self.gpu_info.name, "csif_info": self.csf_info.csif_info(),
                "scheduler": self.scheduler.to_dict(),
                "groups": [g.to_dict() for g in self.scheduler.groups.values()]}
