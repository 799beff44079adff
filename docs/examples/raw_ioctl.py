"""The same job through the raw panthor uAPI: ioctl numbers, ctypes structs, user pointers.

This is what a C client written against ``panthor_drm.h`` does, with ``Device.ioctl`` in place of
``ioctl(fd, ...)`` and ``Device.mmap`` in place of ``mmap(fd, offset)``.

    python docs/examples/raw_ioctl.py [--backend sim]
"""

from __future__ import annotations

import argparse
import ctypes
import struct

import uio_driver
from uio_driver.csf import CsBuilder
from uio_driver.uapi import drm as D
from uio_driver.uapi import ioctls as I
from uio_driver.uapi import structs as S
from uio_driver.uapi.usercopy import address_of

CODE_VA, RESULT_VA = 0x1000000, 0x2000000
INT64_MAX = (1 << 63) - 1


def main(backend: str = "sim") -> int:
    dev = uio_driver.open(backend=backend)
    try:
        info = S.DrmPanthorGpuInfo()
        dev.ioctl(
            I.DRM_IOCTL_PANTHOR_DEV_QUERY,
            S.DrmPanthorDevQuery(
                type=S.DRM_PANTHOR_DEV_QUERY_GPU_INFO, size=ctypes.sizeof(info), pointer=address_of(info)
            ),
        )
        vm = S.DrmPanthorVmCreate()
        dev.ioctl(I.DRM_IOCTL_PANTHOR_VM_CREATE, vm)

        handles = []
        for _ in range(2):
            bo = S.DrmPanthorBoCreate(size=4096)
            dev.ioctl(I.DRM_IOCTL_PANTHOR_BO_CREATE, bo)
            handles.append(bo.handle)
        ops = (S.DrmPanthorVmBindOp * 2)(
            S.DrmPanthorVmBindOp(
                flags=S.DRM_PANTHOR_VM_BIND_OP_TYPE_MAP, bo_handle=handles[0], va=CODE_VA, size=4096
            ),
            S.DrmPanthorVmBindOp(
                flags=S.DRM_PANTHOR_VM_BIND_OP_TYPE_MAP | S.DRM_PANTHOR_VM_BIND_OP_MAP_NOEXEC,
                bo_handle=handles[1],
                va=RESULT_VA,
                size=4096,
            ),
        )
        dev.ioctl(
            I.DRM_IOCTL_PANTHOR_VM_BIND,
            S.DrmPanthorVmBind(
                vm_id=vm.id,
                ops=S.DrmPanthorObjArray(
                    stride=ctypes.sizeof(S.DrmPanthorVmBindOp), count=2, array=address_of(ops)
                ),
            ),
        )

        offsets = []
        for handle in handles:
            off = S.DrmPanthorBoMmapOffset(handle=handle)
            dev.ioctl(I.DRM_IOCTL_PANTHOR_BO_MMAP_OFFSET, off)
            offsets.append(off.offset)
        text = (
            CsBuilder()
            .move48(68, RESULT_VA)
            .move32(70, 42)
            .store_multiple(68, 70, 1)
            .wait(0xFF)
            .move32(70, 0)
            .flush_cache2(70, signal_slot=1)
            .wait(0xFF)
            .to_bytes()
        )
        dev.mmap(offsets[0], 4096)[: len(text)] = text

        queue = S.DrmPanthorQueueCreate(priority=0, ringbuf_size=16 << 10)
        cores = bin(info.shader_present).count("1")
        group = S.DrmPanthorGroupCreate(
            queues=S.DrmPanthorObjArray(stride=ctypes.sizeof(queue), count=1, array=address_of(queue)),
            max_compute_cores=cores,
            max_fragment_cores=cores,
            max_tiler_cores=1,
            priority=S.PANTHOR_GROUP_PRIORITY_MEDIUM,
            compute_core_mask=info.shader_present,
            fragment_core_mask=info.shader_present,
            tiler_core_mask=info.tiler_present,
            vm_id=vm.id,
        )
        dev.ioctl(I.DRM_IOCTL_PANTHOR_GROUP_CREATE, group)

        sync = D.DrmSyncobjCreate()
        dev.ioctl(I.DRM_IOCTL_SYNCOBJ_CREATE, sync)
        signal = S.DrmPanthorSyncOp(flags=S.DRM_PANTHOR_SYNC_OP_SIGNAL, handle=sync.handle)
        job = S.DrmPanthorQueueSubmit(
            queue_index=0,
            stream_size=len(text),
            stream_addr=CODE_VA,
            syncs=S.DrmPanthorObjArray(stride=16, count=1, array=address_of(signal)),
        )
        dev.ioctl(
            I.DRM_IOCTL_PANTHOR_GROUP_SUBMIT,
            S.DrmPanthorGroupSubmit(
                group_handle=group.group_handle,
                queue_submits=S.DrmPanthorObjArray(stride=ctypes.sizeof(job), count=1, array=address_of(job)),
            ),
        )
        waited = (ctypes.c_uint32 * 1)(sync.handle)
        dev.ioctl(
            I.DRM_IOCTL_SYNCOBJ_WAIT,
            D.DrmSyncobjWait(handles=address_of(waited), count_handles=1, timeout_nsec=INT64_MAX),
        )
        value = struct.unpack("<I", dev.mmap(offsets[1], 4096)[:4])[0]
        print(f"GPU_ID {info.gpu_id:#010x}: the job stored {value}")
        return 0 if value == 42 else 1
    finally:
        dev.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", default="sim")
    raise SystemExit(main(parser.parse_args().backend))
