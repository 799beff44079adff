"""Job timeouts, GPU resets and a lost device as the uAPI reports them (cs-isa-and-uapi.md §5.4-§5.6,
§3.13, §3.3): TIMEDOUT groups refuse submissions (EINVAL), other groups keep running, and after a reset
that fails every call answers ENODEV. Uses the simulator's fault hooks (sim_only)."""

from __future__ import annotations

import errno
import struct
from collections.abc import Iterator

import pytest

import uio_driver
from uio_driver.api import Bo, GpuDevice, Submit, Vm
from uio_driver.csf import CsBuilder
from uio_driver.uapi import ioctls as I
from uio_driver.uapi import structs as S

pytestmark = pytest.mark.sim_only

CODE_VA, OUT_VA = 0x1000000, 0x2000000


@pytest.fixture
def dev() -> Iterator[GpuDevice]:
    d = uio_driver.open(backend="sim", strict=True)
    try:
        yield d
    finally:
        d.close()


def setup(dev: GpuDevice) -> tuple[Vm, Bo, Bo]:
    vm = dev.vm_create()
    code, out = dev.bo_create(8192), dev.bo_create(4096)
    vm.map(code, CODE_VA)
    vm.map(out, OUT_VA, flags="noexec")
    return vm, code, out


def store_stream(code: Bo, slot: int, offset: int, value: int) -> tuple[int, int]:
    b = CsBuilder().move48(68, OUT_VA + offset).move32(70, value).store_multiple(68, 70, 1).wait(0xFF)
    text = b.move32(70, 0).flush_cache2(70, signal_slot=1).wait(0xFF).to_bytes()
    code.mmap()[slot * 512 : slot * 512 + len(text)] = text
    return CODE_VA + slot * 512, len(text)


def hang_stream(code: Bo, slot: int) -> tuple[int, int]:
    # SYNC_WAIT64 until the (zero) word at OUT_VA + 0x800 is greater than 0: it never is, so the job makes no
    # progress and the 5 s job timeout fires (§5.4)
    b = CsBuilder().move48(80, OUT_VA + 0x800).move48(82, 0).sync_wait64(80, 82, "GREATER")
    text = b.to_bytes()
    code.mmap()[slot * 512 : slot * 512 + len(text)] = text
    return CODE_VA + slot * 512, len(text)


def test_timed_out_group_is_refused_and_others_recover(dev: GpuDevice) -> None:
    vm, code, out = setup(dev)
    victim, bystander = dev.group_create(vm), dev.group_create(vm)
    hung, done = dev.syncobj_create(), dev.syncobj_create()
    victim.submit([Submit(0, *hang_stream(code, 0), signal=[hung])])
    hung.wait(timeout=20.0)  # the job timeout (5 s of virtual time) fails the job: its fence signals
    state = victim.state()
    assert state.timed_out and not state.fatal_fault
    args = S.DrmPanthorGroupSubmit(group_handle=victim.handle)
    addr, size = store_stream(code, 1, 0, 0x600D)
    with pytest.raises(OSError) as info:
        victim.submit([Submit(0, addr, size)])
    assert info.value.errno == errno.EINVAL
    bystander.submit([Submit(0, addr, size, signal=[done])])
    done.wait(timeout=2.0)
    assert struct.unpack("<I", out.mmap()[:4])[0] == 0x600D
    del args


def test_failed_reset_makes_every_call_enodev(dev: GpuDevice) -> None:
    vm, code, out = setup(dev)
    group = dev.group_create(vm)
    hung = dev.syncobj_create()
    faults = dev.core.platform.sim.mcu.faults
    faults.never_boots = True  # the reset after the timeout cannot bring the firmware back
    group.submit([Submit(0, *hang_stream(code, 0), signal=[hung])])
    hung.wait(timeout=30.0)  # the job times out (its fence signals), the reset that follows fails
    if not dev.gone:
        dev.run_until(lambda: dev.gone, 10.0)
    assert dev.gone
    for request, arg in (
        (I.DRM_IOCTL_PANTHOR_VM_CREATE, S.DrmPanthorVmCreate()),
        (I.DRM_IOCTL_PANTHOR_DEV_QUERY, S.DrmPanthorDevQuery()),
        (I.DRM_IOCTL_PANTHOR_GROUP_GET_STATE, S.DrmPanthorGroupGetState(group_handle=1)),
    ):
        with pytest.raises(OSError) as info:
            dev.ioctl(request, arg)
        assert info.value.errno == errno.ENODEV
    with pytest.raises(OSError) as info:
        out.mmap()
    assert info.value.errno == errno.ENODEV
