"""Helpers for the queue / scheduler / recovery / heap tests (no tests here).

Every rig is a **strict** simulated G610 (a driver protocol error raises SimProtocolError) brought up to
the scheduler stage with the synthetic firmware. Expected values are spelled from the references:

* cs-isa-and-uapi.md §2.2 (user I/O page offsets), §2.1 (``panthor_syncobj_64b``: seqno u64 @0,
  status u32 @8), §2.3 (16 instructions = 128 bytes per job, ``credits = ringbuf_size / 8``), §1.9 (the
  worked words of the per-job sequence on a 96-register CS), §3.11/§3.14 (errnos);
* csf-firmware-and-interfaces.md §3.9 (doorbell *i* at 0x80000 + i·0x10000), §5.2/§6.2 (CSG/CS input
  offsets), §5.5 (endpoint_req bits), §8 (RK3588: shader_present 0x50005, tiler_present 0x1, AS 0..7).
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from uio_driver.csf.builder import CsBuilder
from uio_driver.csf.device import CsfDevice
from uio_driver.csf.group import Group, QueueSpec
from uio_driver.csf.queue import Job
from uio_driver.csf.scheduler import SchedulerConfig
from uio_driver.errors import MaliError
from uio_driver.mmu import VM
from uio_driver.platform.dma import DmaBuffer
from uio_driver.sim.mcu import SimMcu
from uio_driver.sim.platform import SimPlatform

# -- reference values ---------------------------------------------------------------------------------
SHADER_PRESENT = 0x50005
TILER_PRESENT = 0x1
DOORBELL_BASE, DOORBELL_STRIDE = 0x80000, 0x10000
JOB_BYTES = 16 * 8  # 11 instructions padded to 16 (§2.3)
STREAM_VA = 0x1000000
DATA_VA = 0x1100000
#: MCU VM window for kernel objects (§3.1).
MCU_KERNEL_WINDOW = (0x04000000, 0x08000000)


class Rig:
    """A started :class:`CsfDevice` on a strict simulator, with helpers to build and run streams."""

    def __init__(self, config: SchedulerConfig | None = None, **mcu_config: int) -> None:
        self.p = SimPlatform(strict=True)
        mcu = self.p.sim.mcu
        if not isinstance(mcu, SimMcu):
            raise TypeError("the simulated platform has no SimMcu")
        self.mcu: SimMcu = mcu
        for name, value in mcu_config.items():
            setattr(mcu.config, name, value)
        self.dev = CsfDevice(self.p, config=config, own_platform=True)
        self.dev.start()
        self.sched = self.dev.scheduler
        self.clock = self.p.clock
        self._streams: dict[int, DmaBuffer] = {}

    def close(self) -> None:
        self.dev.close()

    @property
    def faults(self) -> Any:
        return self.mcu.faults

    # -- memory and streams --------------------------------------------------------------------------

    def vm(self) -> VM:
        vm = self.dev.create_vm()
        stream = self.dev.alloc(64 << 10, name="test streams")
        self.dev.map(vm, stream, STREAM_VA)
        self._streams[vm.id] = stream
        return vm

    def data(self, vm: VM, size: int = 4096, va: int = DATA_VA) -> DmaBuffer:
        buf = self.dev.alloc(size, name="test data")
        self.dev.map(vm, buf, va)
        return buf

    def stream(self, vm: VM, build: Callable[[CsBuilder], object], offset: int = 0) -> tuple[int, int]:
        """Write a stream built by ``build`` at ``STREAM_VA + offset`` of ``vm``; returns (va, size)."""
        cs = CsBuilder()
        build(cs)
        data = cs.to_bytes()
        self._streams[vm.id].write(offset, data)
        return STREAM_VA + offset, len(data)

    def nop_stream(self, vm: VM) -> tuple[int, int]:
        return self.stream(vm, lambda cs: cs.nop(), offset=0x8000)

    def compute_stream(self, vm: VM, runs: int = 1, offset: int = 0x4000) -> tuple[int, int]:
        """RUN_COMPUTE ``runs`` times (SPD r16 pointing at mapped memory, §1.5), waiting after each."""

        def build(cs: CsBuilder) -> None:
            cs.move48(16, STREAM_VA + 0x7000)
            for _ in range(runs):
                cs.run_compute(1)
                cs.wait_all()

        return self.stream(vm, build, offset)

    def group(self, vm: VM, queues: int = 1, ring: int = 4096, **params: Any) -> Group:
        return self.dev.create_group(vm, [QueueSpec(0, ring)] * queues, **params)

    def submit(self, group: Group, stream: tuple[int, int], queue: int = 0) -> Job:
        return self.dev.submit(group, queue, stream[0], stream[1])

    def wait(self, jobs: Job | list[Job], timeout: float = 30.0) -> None:
        self.dev.wait(jobs, timeout)

    def run_until(self, predicate: Callable[[], object], timeout: float = 1.0,
                  what: str = "condition") -> None:
        self.sched.wait_for(predicate, timeout, what)

    def doorbell_rings(self, index: int) -> int:
        """Rings of doorbell ``index`` the simulated GPU saw (its own counter)."""
        return int(self.p.sim.doorbells.rings[index])


@contextmanager
def rig(config: SchedulerConfig | None = None, **mcu_config: int) -> Iterator[Rig]:
    r = Rig(config, **mcu_config)
    try:
        yield r
        assert r.p.sim.violations == [], r.p.sim.violations  # strict mode: nothing may have been recorded
    finally:
        r.close()


def raises_errno(code: int) -> Any:
    """``pytest.raises`` for a MaliError carrying ``code``."""

    class _Check:
        def __enter__(self) -> Any:
            self._cm = pytest.raises(MaliError)
            self.info = self._cm.__enter__()
            return self.info

        def __exit__(self, *exc: Any) -> bool:
            handled = self._cm.__exit__(*exc)
            got = self.info.value.errno
            assert got == code, (errno.errorcode.get(got), self.info.value)
            return bool(handled)

    return _Check()
