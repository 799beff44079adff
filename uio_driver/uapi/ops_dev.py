"""DEV_QUERY (0x40) and the DRM core VERSION / GET_CAP calls.

DEV_QUERY (cs-isa-and-uapi.md §3.6, panthor_drv.c ``panthor_ioctl_dev_query``):

* ``pointer == 0``: the kernel size of the type goes to ``size``; unknown type -> EINVAL;
* otherwise ``panthor_set_uobj``: unknown type -> EINVAL, ``size`` below the type's minimum -> EINVAL,
  ``min(size, kernel size)`` bytes copied, the rest of the user buffer cleared, EFAULT on a fault.
  ``size`` is *not* written back in this path (§7.2 #5).

The driver reports panthor 1.3 (TIMESTAMP_INFO, GROUP_PRIORITIES_INFO and the INNOCENT group state),
so the kernel sizes are the ones of that version: gpu_info 104, csif_info 24, timestamp_info 24,
group_priorities_info 4.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from uio_driver.errors import InvalidArgument
from uio_driver.regs import gpu_control as gc
from uio_driver.uapi import drm as D
from uio_driver.uapi import structs as S
from uio_driver.uapi.uobj import min_size
from uio_driver.uapi.usercopy import clear_user, copy_to_user

if TYPE_CHECKING:
    from uio_driver.uapi.device import Device

DRIVER_NAME = b"panthor"
DRIVER_DESC = b"Panthor DRM driver"
DRIVER_DATE = b"20230801"
DRIVER_MAJOR = 1
#: 1.1 TIMESTAMP_INFO, 1.2 GROUP_PRIORITIES_INFO + REALTIME, 1.3 GROUP_STATE_INNOCENT (§3.1).
DRIVER_MINOR = 3

#: Kernel struct sizes for driver 1.3 (§3.6).
KERNEL_SIZES = {
    S.DRM_PANTHOR_DEV_QUERY_GPU_INFO: 104,
    S.DRM_PANTHOR_DEV_QUERY_CSIF_INFO: 24,
    S.DRM_PANTHOR_DEV_QUERY_TIMESTAMP_INFO: 24,
    S.DRM_PANTHOR_DEV_QUERY_GROUP_PRIORITIES_INFO: 4,
}
#: Timestamp frequency: the RK3588 arch timer (24 MHz, csf-firmware-and-interfaces.md §3.7).
TIMESTAMP_FREQUENCY_HZ = 24_000_000
#: LOW and MEDIUM for everyone; HIGH and REALTIME need CAP_SYS_NICE or DRM master (§3.6, §7.1 #2).
UNPRIVILEGED_PRIORITY_MASK = 0x03
PRIVILEGED_PRIORITY_MASK = 0x0F


def gpu_info(dev: Device) -> S.DrmPanthorGpuInfo:
    """``drm_panthor_gpu_info`` from the probed GPU (GPU_CONTROL identification registers)."""
    info = dev.gpu.info or dev.gpu.probe()
    out = S.DrmPanthorGpuInfo()
    for name in ("gpu_id", "gpu_rev", "csf_id", "l2_features", "tiler_features", "mem_features",
                 "mmu_features", "thread_features", "max_threads", "thread_max_workgroup_size",
                 "thread_max_barrier_size", "coherency_features", "as_present", "shader_present",
                 "l2_present", "tiler_present", "core_features"):
        setattr(out, name, getattr(info, name))
    for i, value in enumerate(info.texture_features):
        out.texture_features[i] = value
    return out


def csif_info(dev: Device) -> S.DrmPanthorCsifInfo:
    """``drm_panthor_csif_info`` from the discovered firmware interface (CsfInfo)."""
    info = dev.core.firmware.info
    out = S.DrmPanthorCsifInfo()
    if info is None:
        raise InvalidArgument("CSIF_INFO: the firmware interface has not been discovered")
    for name in ("csg_slot_count", "cs_slot_count", "cs_reg_count", "scoreboard_slot_count",
                 "unpreserved_cs_reg_count"):
        setattr(out, name, getattr(info, name))
    return out


def timestamp_info(dev: Device) -> S.DrmPanthorTimestampInfo:
    """``drm_panthor_timestamp_info`` (1.1 form): frequency, GPU_TIMESTAMP and GPU_TIMESTAMP_OFFSET."""
    regs = dev.gpu.regs
    out = S.DrmPanthorTimestampInfo()
    out.timestamp_frequency = TIMESTAMP_FREQUENCY_HZ
    out.current_timestamp = regs.read64(gc.TIMESTAMP)
    out.timestamp_offset = regs.read64(gc.TIMESTAMP_OFFSET)
    return out


def priorities_info(dev: Device) -> S.DrmPanthorGroupPrioritiesInfo:
    out = S.DrmPanthorGroupPrioritiesInfo()
    out.allowed_mask = PRIVILEGED_PRIORITY_MASK if dev.privileged else UNPRIVILEGED_PRIORITY_MASK
    return out


_BUILDERS = {
    S.DRM_PANTHOR_DEV_QUERY_GPU_INFO: gpu_info,
    S.DRM_PANTHOR_DEV_QUERY_CSIF_INFO: csif_info,
    S.DRM_PANTHOR_DEV_QUERY_TIMESTAMP_INFO: timestamp_info,
    S.DRM_PANTHOR_DEV_QUERY_GROUP_PRIORITIES_INFO: priorities_info,
}


def dev_query(dev: Device, args: S.DrmPanthorDevQuery) -> None:
    """DRM_IOCTL_PANTHOR_DEV_QUERY."""
    kind = int(args.type)
    if kind not in _BUILDERS:
        raise InvalidArgument(f"DEV_QUERY: unknown type {kind}", value=kind)
    ksize = KERNEL_SIZES[kind]
    if args.pointer == 0:
        args.size = ksize
        return
    obj = _BUILDERS[kind](dev)
    usize, ptr = int(args.size), int(args.pointer)
    need = min_size(type(obj))
    if usize < need:
        raise InvalidArgument(f"DEV_QUERY type {kind}: size {usize} is below the minimum {need}", value=usize)
    copy_to_user(ptr, bytes(obj)[: min(usize, ksize)])
    if usize > ksize:
        clear_user(ptr + ksize, usize - ksize)


def version(dev: Device, args: D.DrmVersion) -> None:
    """DRM_IOCTL_VERSION: numbers, then each string copied to its buffer (``drm_copy_field``).

    Each ``*_len`` comes back as the full string length; at most the given length is copied (no NUL).
    """
    args.version_major, args.version_minor, args.version_patchlevel = DRIVER_MAJOR, DRIVER_MINOR, 0
    for field, text in (("name", DRIVER_NAME), ("date", DRIVER_DATE), ("desc", DRIVER_DESC)):
        room = int(getattr(args, f"{field}_len"))
        setattr(args, f"{field}_len", len(text))
        ptr = int(getattr(args, field))
        if room and ptr:
            copy_to_user(ptr, text[: min(room, len(text))])


#: DRM_CAP values for this driver (§4.2): PRIME import+export, syncobj, timeline syncobj.
CAPS = {
    D.DRM_CAP_PRIME: D.DRM_PRIME_CAP_IMPORT | D.DRM_PRIME_CAP_EXPORT,
    D.DRM_CAP_TIMESTAMP_MONOTONIC: 1,
    D.DRM_CAP_SYNCOBJ: 1,
    D.DRM_CAP_SYNCOBJ_TIMELINE: 1,
}


def get_cap(dev: Device, args: D.DrmGetCap) -> None:
    """DRM_IOCTL_GET_CAP: unknown capability -> EINVAL (``drm_getcap``)."""
    cap = int(args.capability)
    if cap not in CAPS:
        raise InvalidArgument(f"GET_CAP: unknown capability {cap:#x}", value=cap)
    args.value = CAPS[cap]


HANDLERS = {
    0x40 + S.DRM_PANTHOR_DEV_QUERY: dev_query,
    0x00: version,
    0x0C: get_cap,
}
