"""A client that speaks only the raw uAPI: ctypes structs, ioctl numbers from the reference tables,
process-memory buffers and ``Device.mmap`` (the IGT ``panthor_group/group_submit`` scenario, §8).

The command stream is encoded here by hand from the field layouts of cs-isa-and-uapi.md §1.3, not with
the driver's builder: MOVE48 d68 = result VA; MOVE32 r70 = 0xDEADBEEF; STORE_MULTIPLE [d68] <- r70;
WAIT all; MOVE32 r70 = 0; FLUSH_CACHE2 clean+inv / clean+inv / invalidate with flush-ID r70, signal
slot 1; WAIT all.
"""

from __future__ import annotations

import ctypes
import errno
import struct

import pytest

import uio_driver
from uio_driver.uapi import drm as D
from uio_driver.uapi import structs as S
from uio_driver.uapi.usercopy import address_of

pytestmark = pytest.mark.sim_only

# Request numbers exactly as the reference tables give them (§3.2, §4.1).
DEV_QUERY, VM_CREATE, VM_DESTROY, VM_BIND = 0xC0106440, 0xC0106441, 0xC0086442, 0xC0186443
BO_CREATE, BO_MMAP_OFFSET, GROUP_CREATE, GROUP_DESTROY = 0xC0186445, 0xC0106446, 0xC0386447, 0xC0086448
GROUP_SUBMIT, GROUP_GET_STATE = 0xC0186449, 0xC010644A
GEM_CLOSE, SYNCOBJ_CREATE, SYNCOBJ_DESTROY, SYNCOBJ_WAIT = 0x40086409, 0xC00864BF, 0xC00864C0, 0xC02864C3
INT64_MAX = (1 << 63) - 1

CODE_VA, RESULT_VA = 0x1000000, 0x2000000


def move48(reg: int, imm: int) -> int:
    return 0x01 << 56 | reg << 48 | imm


def move32(reg: int, imm: int) -> int:
    return 0x02 << 56 | reg << 48 | imm


def store_multiple(base: int, addr: int, mask: int, offset: int = 0) -> int:
    return 0x15 << 56 | base << 48 | addr << 40 | mask << 16 | offset


def wait(mask: int) -> int:
    return 0x03 << 56 | mask << 16


def flush_cache2(flush_reg: int, signal_slot: int) -> int:
    return 0x24 << 56 | signal_slot << 48 | flush_reg << 40 | 0x233


def stream() -> bytes:
    words = [
        move48(68, RESULT_VA),
        move32(70, 0xDEADBEEF),
        store_multiple(70, 68, 0x1),
        wait(0xFF),
        move32(70, 0),
        flush_cache2(70, 1),
        wait(0xFF),
    ]
    return struct.pack(f"<{len(words)}Q", *words)


def bo_create(dev: uio_driver.api.GpuDevice, size: int) -> int:
    args = S.DrmPanthorBoCreate(size=size)
    dev.ioctl(BO_CREATE, args)
    return int(args.handle)


def mmap_bo(dev: uio_driver.api.GpuDevice, handle: int, size: int) -> memoryview:
    args = S.DrmPanthorBoMmapOffset(handle=handle)
    dev.ioctl(BO_MMAP_OFFSET, args)
    return dev.mmap(int(args.offset), size)


def test_the_manual_encoding_matches_the_reference_words() -> None:
    assert move32(42, 0xDEADBEEF) == 0x022A0000DEADBEEF  # Mesa's test vector (§1.9)
    assert flush_cache2(94, 0) == 0x24005E0000000233
    assert wait(0xFF) == 0x0300000000FF0000


def test_raw_client_stores_a_value_and_reads_it_back() -> None:
    dev = uio_driver.open(backend="sim", strict=True)
    try:
        before = dev.allocator.state()
        info = S.DrmPanthorGpuInfo()
        dev.ioctl(DEV_QUERY, S.DrmPanthorDevQuery(type=0, size=ctypes.sizeof(info), pointer=address_of(info)))
        vm = S.DrmPanthorVmCreate()
        dev.ioctl(VM_CREATE, vm)
        code, result = bo_create(dev, 4096), bo_create(dev, 4096)
        text = stream()
        mmap_bo(dev, code, 4096)[: len(text)] = text
        ops = (S.DrmPanthorVmBindOp * 2)(
            S.DrmPanthorVmBindOp(flags=0, bo_handle=code, va=CODE_VA, size=4096),
            S.DrmPanthorVmBindOp(
                flags=S.DRM_PANTHOR_VM_BIND_OP_MAP_NOEXEC, bo_handle=result, va=RESULT_VA, size=4096
            ),
        )
        dev.ioctl(
            VM_BIND,
            S.DrmPanthorVmBind(
                vm_id=vm.id,
                ops=S.DrmPanthorObjArray(
                    stride=ctypes.sizeof(S.DrmPanthorVmBindOp), count=2, array=address_of(ops)
                ),
            ),
        )

        queue = S.DrmPanthorQueueCreate(priority=0, ringbuf_size=16 << 10)
        cores = bin(info.shader_present).count("1")
        group = S.DrmPanthorGroupCreate(
            queues=S.DrmPanthorObjArray(stride=8, count=1, array=address_of(queue)),
            max_compute_cores=cores,
            max_fragment_cores=cores,
            max_tiler_cores=1,
            priority=1,
            compute_core_mask=info.shader_present,
            fragment_core_mask=info.shader_present,
            tiler_core_mask=info.tiler_present,
            vm_id=vm.id,
        )
        dev.ioctl(GROUP_CREATE, group)
        assert group.group_handle == 1

        sync = D.DrmSyncobjCreate()
        dev.ioctl(SYNCOBJ_CREATE, sync)
        signal = S.DrmPanthorSyncOp(flags=S.DRM_PANTHOR_SYNC_OP_SIGNAL, handle=sync.handle)
        job = S.DrmPanthorQueueSubmit(
            queue_index=0,
            stream_size=len(text),
            stream_addr=CODE_VA,
            syncs=S.DrmPanthorObjArray(stride=16, count=1, array=address_of(signal)),
        )
        dev.ioctl(
            GROUP_SUBMIT,
            S.DrmPanthorGroupSubmit(
                group_handle=group.group_handle,
                queue_submits=S.DrmPanthorObjArray(stride=40, count=1, array=address_of(job)),
            ),
        )
        handles = (ctypes.c_uint32 * 1)(sync.handle)
        dev.ioctl(
            SYNCOBJ_WAIT,
            D.DrmSyncobjWait(handles=address_of(handles), count_handles=1, timeout_nsec=INT64_MAX),
        )

        assert struct.unpack("<I", mmap_bo(dev, result, 4096)[:4])[0] == 0xDEADBEEF
        state = S.DrmPanthorGroupGetState(group_handle=group.group_handle)
        dev.ioctl(GROUP_GET_STATE, state)
        assert (state.state, state.fatal_queues, state.group_handle) == (0, 0, 0)

        dev.ioctl(GROUP_DESTROY, S.DrmPanthorGroupDestroy(group_handle=group.group_handle))
        dev.ioctl(VM_DESTROY, S.DrmPanthorVmDestroy(id=vm.id))
        for handle in (code, result):
            dev.ioctl(GEM_CLOSE, D.DrmGemClose(handle=handle))
        dev.ioctl(SYNCOBJ_DESTROY, D.DrmSyncobjDestroy(handle=sync.handle))
        assert dev.allocator.state() == before  # everything went back
    finally:
        dev.close()
    with pytest.raises(OSError) as err:
        dev.ioctl(DEV_QUERY, S.DrmPanthorDevQuery())
    assert err.value.errno == errno.ENODEV
