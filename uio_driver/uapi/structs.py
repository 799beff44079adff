"""panthor uAPI byte layouts: one ``ctypes.Structure`` per struct of ``panthor_drm.h``.

Source: ``include/uapi/drm/panthor_drm.h`` (torvalds/linux; the layout test pins the exact copy
measured, see ``tests/data/uapi_layout.json``) and ``shared/reference/cs-isa-and-uapi.md`` §3.
Class names are the kernel names in CamelCase (``drm_panthor_vm_create`` -> ``DrmPanthorVmCreate``),
field names are the kernel's, every field has an explicit fixed-width type and the natural alignment
the kernel uses (no packing). Constants keep the kernel's names.

Versioning (driver minor, ``DRM_IOCTL_VERSION``; cs-isa-and-uapi.md §3.1): every class has
``UAPI_MINOR`` (the minor that introduced it) and ``FIELD_MINOR`` for fields appended later
(``None`` where the minor could not be verified). Extensible objects (the kernel's
``PANTHOR_UOBJ_MIN_SIZE`` list, §3.4) carry ``MIN_SIZE`` = offset + size of their last mandatory
field; for every other struct ``MIN_SIZE`` is ``None``.

These classes are plain byte layouts: they validate nothing. Policy lives in the ioctl handlers,
user-memory access in :mod:`uio_driver.uapi.usercopy` and :mod:`uio_driver.uapi.uobj`.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from uio_driver.errors import InvalidArgument

_u8 = ctypes.c_uint8
_u32 = ctypes.c_uint32
_u64 = ctypes.c_uint64

_T = TypeVar("_T", bound="UapiStruct")


class UapiStruct(ctypes.Structure):
    """Base of every uAPI structure (panthor and generic DRM).

    Class attributes:
        KERNEL_NAME: the C struct name (``drm_panthor_vm_create``).
        UAPI_MINOR: driver minor that introduced the struct (0 = initial uAPI).
        FIELD_MINOR: minor that appended each later field (``None``: not verified).
        MIN_SIZE: for extensible objects, the smallest size userspace may pass
            (``PANTHOR_UOBJ_MIN_SIZE``); ``None`` for structs that are not uobjs.
        LAST_MANDATORY_FIELD: the field ``MIN_SIZE`` is derived from.
    """

    KERNEL_NAME: ClassVar[str] = ""
    UAPI_MINOR: ClassVar[int] = 0
    FIELD_MINOR: ClassVar[dict[str, int | None]] = {}
    MIN_SIZE: ClassVar[int | None] = None
    LAST_MANDATORY_FIELD: ClassVar[str | None] = None

    @classmethod
    def kernel_size(cls) -> int:
        """``sizeof(struct ...)`` as the kernel compiles it."""
        return ctypes.sizeof(cls)

    @classmethod
    def from_bytes(cls: type[_T], data: bytes | bytearray | memoryview) -> _T:
        """Build an instance from exactly ``kernel_size()`` bytes.

        Raises:
            InvalidArgument: ``data`` has another length.
        """
        if len(data) != ctypes.sizeof(cls):
            raise InvalidArgument(
                f"{cls.KERNEL_NAME}: need {ctypes.sizeof(cls)} bytes, got {len(data)}",
                value=len(data),
            )
        return cls.from_buffer_copy(bytes(data))

    def to_bytes(self) -> bytes:
        """The struct's bytes, little-endian, exactly as userspace would lay them out."""
        return bytes(self)

    def as_dict(self) -> dict[str, Any]:
        """Field values by name (nested structs as dicts, arrays as lists) for logs and tests."""
        return {name: _plain(getattr(self, name)) for name, *_ in self._fields_}

    def __repr__(self) -> str:
        body = ", ".join(f"{k}={v!r}" for k, v in self.as_dict().items())
        return f"{type(self).__name__}({body})"


def _plain(value: Any) -> Any:
    if isinstance(value, UapiStruct):
        return value.as_dict()
    if isinstance(value, ctypes.Array):
        return [_plain(v) for v in value]
    return value


def uobj(last_mandatory_field: str) -> Callable[[type[_T]], type[_T]]:
    """Mark a struct as an extensible uobj whose minimum size ends at ``last_mandatory_field``.

    Mirrors ``PANTHOR_UOBJ_DECL(type, field)`` in panthor_drv.c: ``MIN_SIZE =
    offsetof(field) + sizeof(field)``, i.e. the struct's size when it entered the uAPI.
    """

    def apply(cls: type[_T]) -> type[_T]:
        desc = getattr(cls, last_mandatory_field)
        cls.MIN_SIZE = desc.offset + desc.size
        cls.LAST_MANDATORY_FIELD = last_mandatory_field
        return cls

    return apply


# ---------------------------------------------------------------------------------------------
# MMIO regions exposed to userspace (mmap offsets of the DRM fd)
# ---------------------------------------------------------------------------------------------

DRM_PANTHOR_USER_MMIO_OFFSET_32BIT = 1 << 43
DRM_PANTHOR_USER_MMIO_OFFSET_64BIT = 1 << 56
#: The header picks by ``sizeof(unsigned long)`` of the process that maps.
DRM_PANTHOR_USER_MMIO_OFFSET = (
    DRM_PANTHOR_USER_MMIO_OFFSET_32BIT
    if ctypes.sizeof(ctypes.c_ulong) < 8
    else DRM_PANTHOR_USER_MMIO_OFFSET_64BIT
)
#: LATEST_FLUSH_ID page (register page 0x10000), read by userspace for ``latest_flush``.
DRM_PANTHOR_USER_FLUSH_ID_MMIO_OFFSET = DRM_PANTHOR_USER_MMIO_OFFSET | 0

# ---------------------------------------------------------------------------------------------
# enum drm_panthor_ioctl_id (ioctl nr = DRM_COMMAND_BASE + id)
# ---------------------------------------------------------------------------------------------

DRM_PANTHOR_DEV_QUERY = 0
DRM_PANTHOR_VM_CREATE = 1
DRM_PANTHOR_VM_DESTROY = 2
DRM_PANTHOR_VM_BIND = 3
DRM_PANTHOR_VM_GET_STATE = 4
DRM_PANTHOR_BO_CREATE = 5
DRM_PANTHOR_BO_MMAP_OFFSET = 6
DRM_PANTHOR_GROUP_CREATE = 7
DRM_PANTHOR_GROUP_DESTROY = 8
DRM_PANTHOR_GROUP_SUBMIT = 9
DRM_PANTHOR_GROUP_GET_STATE = 10
DRM_PANTHOR_TILER_HEAP_CREATE = 11
DRM_PANTHOR_TILER_HEAP_DESTROY = 12
DRM_PANTHOR_BO_SET_LABEL = 13  # 1.4
DRM_PANTHOR_SET_USER_MMIO_OFFSET = 14  # 1.5
DRM_PANTHOR_BO_SYNC = 15  # 1.7
DRM_PANTHOR_BO_QUERY_INFO = 16  # 1.7

# ---------------------------------------------------------------------------------------------
# Object arrays and sync operations (§3.4, §3.5)
# ---------------------------------------------------------------------------------------------


class DrmPanthorObjArray(UapiStruct):
    """``struct drm_panthor_obj_array``: ``count`` objects of ``stride`` bytes at ``array``."""

    KERNEL_NAME = "drm_panthor_obj_array"
    _fields_ = [("stride", _u32), ("count", _u32), ("array", _u64)]


DRM_PANTHOR_SYNC_OP_HANDLE_TYPE_MASK = 0xFF
DRM_PANTHOR_SYNC_OP_HANDLE_TYPE_SYNCOBJ = 0
DRM_PANTHOR_SYNC_OP_HANDLE_TYPE_TIMELINE_SYNCOBJ = 1
DRM_PANTHOR_SYNC_OP_WAIT = 0
#: ``(int)(1u << 31)`` in the header; kept as the u32 bit pattern the ``flags`` field holds.
DRM_PANTHOR_SYNC_OP_SIGNAL = 1 << 31


@uobj("timeline_value")
class DrmPanthorSyncOp(UapiStruct):
    """``struct drm_panthor_sync_op`` (16 bytes): a WAIT or SIGNAL on a (timeline) syncobj."""

    KERNEL_NAME = "drm_panthor_sync_op"
    _fields_ = [("flags", _u32), ("handle", _u32), ("timeline_value", _u64)]


# ---------------------------------------------------------------------------------------------
# DEV_QUERY (§3.6)
# ---------------------------------------------------------------------------------------------

DRM_PANTHOR_DEV_QUERY_GPU_INFO = 0
DRM_PANTHOR_DEV_QUERY_CSIF_INFO = 1
DRM_PANTHOR_DEV_QUERY_TIMESTAMP_INFO = 2  # 1.1
DRM_PANTHOR_DEV_QUERY_GROUP_PRIORITIES_INFO = 3  # 1.2

# enum drm_panthor_gpu_coherency: the COHERENCY_ENABLE protocol numbers (1.7).
DRM_PANTHOR_GPU_COHERENCY_ACE_LITE = 0
DRM_PANTHOR_GPU_COHERENCY_ACE = 1
DRM_PANTHOR_GPU_COHERENCY_NONE = 31


@uobj("tiler_present")
class DrmPanthorGpuInfo(UapiStruct):
    """``struct drm_panthor_gpu_info``: GPU_CONTROL identification registers.

    ``selected_coherency`` took the place of the implicit padding at 68 (1.7); ``gpu_features``
    was appended after ``pad`` (Mali-G1 support series; minor not verified). Userspace built
    against the 96-byte original still works because DEV_QUERY copies ``min(size, kernel)``.
    """

    KERNEL_NAME = "drm_panthor_gpu_info"
    FIELD_MINOR = {"selected_coherency": 7, "gpu_features": None}
    _fields_ = [
        ("gpu_id", _u32),
        ("gpu_rev", _u32),
        ("csf_id", _u32),
        ("l2_features", _u32),
        ("tiler_features", _u32),
        ("mem_features", _u32),
        ("mmu_features", _u32),
        ("thread_features", _u32),
        ("max_threads", _u32),
        ("thread_max_workgroup_size", _u32),
        ("thread_max_barrier_size", _u32),
        ("coherency_features", _u32),
        ("texture_features", _u32 * 4),
        ("as_present", _u32),
        ("selected_coherency", _u32),
        ("shader_present", _u64),
        ("l2_present", _u64),
        ("tiler_present", _u64),
        ("core_features", _u32),
        ("pad", _u32),
        ("gpu_features", _u64),
    ]


@uobj("pad")
class DrmPanthorCsifInfo(UapiStruct):
    """``struct drm_panthor_csif_info``: CSG/CS slot counts and CS register budget."""

    KERNEL_NAME = "drm_panthor_csif_info"
    _fields_ = [
        ("csg_slot_count", _u32),
        ("cs_slot_count", _u32),
        ("cs_reg_count", _u32),
        ("scoreboard_slot_count", _u32),
        ("unpreserved_cs_reg_count", _u32),
        ("pad", _u32),
    ]


# enum drm_panthor_timestamp_info_flags (1.8: "extends DEV_QUERY_TIMESTAMP_INFO with flags").
DRM_PANTHOR_TIMESTAMP_GPU = 1 << 0
DRM_PANTHOR_TIMESTAMP_CPU_NONE = 0 << 1
DRM_PANTHOR_TIMESTAMP_CPU_MONOTONIC = 1 << 1
DRM_PANTHOR_TIMESTAMP_CPU_MONOTONIC_RAW = 2 << 1
DRM_PANTHOR_TIMESTAMP_CPU_TYPE_MASK = 7 << 1
DRM_PANTHOR_TIMESTAMP_GPU_OFFSET = 1 << 4
DRM_PANTHOR_TIMESTAMP_GPU_CYCLE_COUNT = 1 << 5
DRM_PANTHOR_TIMESTAMP_FREQ = 1 << 6
DRM_PANTHOR_TIMESTAMP_DURATION = 1 << 7

_TIMESTAMP_EXT = ("flags", "duration_nsec", "cycle_count", "cpu_timestamp_sec", "cpu_timestamp_nsec")


@uobj("current_timestamp")
class DrmPanthorTimestampInfo(UapiStruct):
    """``struct drm_panthor_timestamp_info`` (1.1; 24 bytes until the 1.8 extension).

    ``flags`` = 0 means GPU | GPU_OFFSET | FREQ, the 1.1 behaviour.
    """

    KERNEL_NAME = "drm_panthor_timestamp_info"
    UAPI_MINOR = 1
    FIELD_MINOR = dict.fromkeys(_TIMESTAMP_EXT, 8)
    _fields_ = [
        ("timestamp_frequency", _u64),
        ("current_timestamp", _u64),
        ("timestamp_offset", _u64),
        ("flags", _u32),
        ("duration_nsec", _u32),
        ("cycle_count", _u64),
        ("cpu_timestamp_sec", _u64),
        ("cpu_timestamp_nsec", _u64),
    ]


@uobj("pad")
class DrmPanthorGroupPrioritiesInfo(UapiStruct):
    """``struct drm_panthor_group_priorities_info`` (1.2): bit p set = priority p allowed."""

    KERNEL_NAME = "drm_panthor_group_priorities_info"
    UAPI_MINOR = 2
    _fields_ = [("allowed_mask", _u8), ("pad", _u8 * 3)]


class DrmPanthorDevQuery(UapiStruct):
    """``struct drm_panthor_dev_query``: ``type``, user buffer ``size`` and ``pointer``."""

    KERNEL_NAME = "drm_panthor_dev_query"
    _fields_ = [("type", _u32), ("size", _u32), ("pointer", _u64)]


# ---------------------------------------------------------------------------------------------
# VMs (§3.7, §3.8)
# ---------------------------------------------------------------------------------------------


class DrmPanthorVmCreate(UapiStruct):
    """``struct drm_panthor_vm_create``: ``flags`` MBZ, returns ``id`` and ``user_va_range``."""

    KERNEL_NAME = "drm_panthor_vm_create"
    _fields_ = [("flags", _u32), ("id", _u32), ("user_va_range", _u64)]


class DrmPanthorVmDestroy(UapiStruct):
    """``struct drm_panthor_vm_destroy``."""

    KERNEL_NAME = "drm_panthor_vm_destroy"
    _fields_ = [("id", _u32), ("pad", _u32)]


# enum drm_panthor_vm_bind_op_flags
DRM_PANTHOR_VM_BIND_OP_MAP_READONLY = 1 << 0
DRM_PANTHOR_VM_BIND_OP_MAP_NOEXEC = 1 << 1
DRM_PANTHOR_VM_BIND_OP_MAP_UNCACHED = 1 << 2
#: Sparse mapping over a dummy object (newest header; minor not verified).
DRM_PANTHOR_VM_BIND_OP_MAP_SPARSE = 1 << 3
#: ``(int)(0xfu << 28)`` in the header; kept as the u32 bit pattern.
DRM_PANTHOR_VM_BIND_OP_TYPE_MASK = 0xF << 28
DRM_PANTHOR_VM_BIND_OP_TYPE_MAP = 0 << 28
DRM_PANTHOR_VM_BIND_OP_TYPE_UNMAP = 1 << 28
DRM_PANTHOR_VM_BIND_OP_TYPE_SYNC_ONLY = 2 << 28

# enum drm_panthor_vm_bind_flags
DRM_PANTHOR_VM_BIND_ASYNC = 1 << 0


@uobj("syncs")
class DrmPanthorVmBindOp(UapiStruct):
    """``struct drm_panthor_vm_bind_op`` (48 bytes): one MAP / UNMAP / SYNC_ONLY operation."""

    KERNEL_NAME = "drm_panthor_vm_bind_op"
    _fields_ = [
        ("flags", _u32),
        ("bo_handle", _u32),
        ("bo_offset", _u64),
        ("va", _u64),
        ("size", _u64),
        ("syncs", DrmPanthorObjArray),
    ]


class DrmPanthorVmBind(UapiStruct):
    """``struct drm_panthor_vm_bind``: ``ops`` is an array of :class:`DrmPanthorVmBindOp`."""

    KERNEL_NAME = "drm_panthor_vm_bind"
    _fields_ = [("vm_id", _u32), ("flags", _u32), ("ops", DrmPanthorObjArray)]


# enum drm_panthor_vm_state
DRM_PANTHOR_VM_STATE_USABLE = 0
DRM_PANTHOR_VM_STATE_UNUSABLE = 1


class DrmPanthorVmGetState(UapiStruct):
    """``struct drm_panthor_vm_get_state``."""

    KERNEL_NAME = "drm_panthor_vm_get_state"
    _fields_ = [("vm_id", _u32), ("state", _u32)]


# ---------------------------------------------------------------------------------------------
# Buffer objects (§3.9, §3.10)
# ---------------------------------------------------------------------------------------------

# enum drm_panthor_bo_flags
DRM_PANTHOR_BO_NO_MMAP = 1 << 0
DRM_PANTHOR_BO_WB_MMAP = 1 << 1  # 1.7


class DrmPanthorBoCreate(UapiStruct):
    """``struct drm_panthor_bo_create``: ``size`` in/out (page-rounded), returns ``handle``."""

    KERNEL_NAME = "drm_panthor_bo_create"
    _fields_ = [
        ("size", _u64),
        ("flags", _u32),
        ("exclusive_vm_id", _u32),
        ("handle", _u32),
        ("pad", _u32),
    ]


class DrmPanthorBoMmapOffset(UapiStruct):
    """``struct drm_panthor_bo_mmap_offset``: returns the fake ``offset`` to mmap the BO."""

    KERNEL_NAME = "drm_panthor_bo_mmap_offset"
    _fields_ = [("handle", _u32), ("pad", _u32), ("offset", _u64)]


class DrmPanthorBoSetLabel(UapiStruct):
    """``struct drm_panthor_bo_set_label`` (1.4): ``label`` points at a NUL-terminated string."""

    KERNEL_NAME = "drm_panthor_bo_set_label"
    UAPI_MINOR = 4
    _fields_ = [("handle", _u32), ("pad", _u32), ("label", _u64)]


class DrmPanthorSetUserMmioOffset(UapiStruct):
    """``struct drm_panthor_set_user_mmio_offset`` (1.5): the 32BIT or 64BIT offset."""

    KERNEL_NAME = "drm_panthor_set_user_mmio_offset"
    UAPI_MINOR = 5
    _fields_ = [("offset", _u64)]


# enum drm_panthor_bo_sync_op_type (1.7)
DRM_PANTHOR_BO_SYNC_CPU_CACHE_FLUSH = 0
DRM_PANTHOR_BO_SYNC_CPU_CACHE_FLUSH_AND_INVALIDATE = 1


@uobj("size")
class DrmPanthorBoSyncOp(UapiStruct):
    """``struct drm_panthor_bo_sync_op`` (1.7): CPU cache maintenance on a BO range."""

    KERNEL_NAME = "drm_panthor_bo_sync_op"
    UAPI_MINOR = 7
    _fields_ = [("handle", _u32), ("type", _u32), ("offset", _u64), ("size", _u64)]


class DrmPanthorBoSync(UapiStruct):
    """``struct drm_panthor_bo_sync`` (1.7): ``ops`` is an array of :class:`DrmPanthorBoSyncOp`."""

    KERNEL_NAME = "drm_panthor_bo_sync"
    UAPI_MINOR = 7
    _fields_ = [("ops", DrmPanthorObjArray)]


# enum drm_panthor_bo_extra_flags (1.7)
DRM_PANTHOR_BO_IS_IMPORTED = 1 << 0


class DrmPanthorBoQueryInfo(UapiStruct):
    """``struct drm_panthor_bo_query_info`` (1.7): returns ``extra_flags`` and ``create_flags``."""

    KERNEL_NAME = "drm_panthor_bo_query_info"
    UAPI_MINOR = 7
    _fields_ = [("handle", _u32), ("extra_flags", _u32), ("create_flags", _u32), ("pad", _u32)]


# ---------------------------------------------------------------------------------------------
# Groups, submission, tiler heaps (§3.11 - §3.14)
# ---------------------------------------------------------------------------------------------


@uobj("ringbuf_size")
class DrmPanthorQueueCreate(UapiStruct):
    """``struct drm_panthor_queue_create`` (8 bytes): queue priority 0-15 and ring size."""

    KERNEL_NAME = "drm_panthor_queue_create"
    _fields_ = [("priority", _u8), ("pad", _u8 * 3), ("ringbuf_size", _u32)]


# enum drm_panthor_group_priority
PANTHOR_GROUP_PRIORITY_LOW = 0
PANTHOR_GROUP_PRIORITY_MEDIUM = 1
PANTHOR_GROUP_PRIORITY_HIGH = 2
PANTHOR_GROUP_PRIORITY_REALTIME = 3  # 1.2


class DrmPanthorGroupCreate(UapiStruct):
    """``struct drm_panthor_group_create`` (56 bytes): ``queues`` of :class:`DrmPanthorQueueCreate`."""

    KERNEL_NAME = "drm_panthor_group_create"
    _fields_ = [
        ("queues", DrmPanthorObjArray),
        ("max_compute_cores", _u8),
        ("max_fragment_cores", _u8),
        ("max_tiler_cores", _u8),
        ("priority", _u8),
        ("pad", _u32),
        ("compute_core_mask", _u64),
        ("fragment_core_mask", _u64),
        ("tiler_core_mask", _u64),
        ("vm_id", _u32),
        ("group_handle", _u32),
    ]


class DrmPanthorGroupDestroy(UapiStruct):
    """``struct drm_panthor_group_destroy``."""

    KERNEL_NAME = "drm_panthor_group_destroy"
    _fields_ = [("group_handle", _u32), ("pad", _u32)]


@uobj("syncs")
class DrmPanthorQueueSubmit(UapiStruct):
    """``struct drm_panthor_queue_submit`` (40 bytes): one job, its stream and its sync ops."""

    KERNEL_NAME = "drm_panthor_queue_submit"
    _fields_ = [
        ("queue_index", _u32),
        ("stream_size", _u32),
        ("stream_addr", _u64),
        ("latest_flush", _u32),
        ("pad", _u32),
        ("syncs", DrmPanthorObjArray),
    ]


class DrmPanthorGroupSubmit(UapiStruct):
    """``struct drm_panthor_group_submit``: ``queue_submits`` of :class:`DrmPanthorQueueSubmit`."""

    KERNEL_NAME = "drm_panthor_group_submit"
    _fields_ = [("group_handle", _u32), ("pad", _u32), ("queue_submits", DrmPanthorObjArray)]


# enum drm_panthor_group_state_flags
DRM_PANTHOR_GROUP_STATE_TIMEDOUT = 1 << 0
DRM_PANTHOR_GROUP_STATE_FATAL_FAULT = 1 << 1
DRM_PANTHOR_GROUP_STATE_INNOCENT = 1 << 2  # 1.3


class DrmPanthorGroupGetState(UapiStruct):
    """``struct drm_panthor_group_get_state``: returns ``state`` flags and ``fatal_queues``."""

    KERNEL_NAME = "drm_panthor_group_get_state"
    _fields_ = [("group_handle", _u32), ("state", _u32), ("fatal_queues", _u32), ("pad", _u32)]


class DrmPanthorTilerHeapCreate(UapiStruct):
    """``struct drm_panthor_tiler_heap_create`` (40 bytes, no pad field)."""

    KERNEL_NAME = "drm_panthor_tiler_heap_create"
    _fields_ = [
        ("vm_id", _u32),
        ("initial_chunk_count", _u32),
        ("chunk_size", _u32),
        ("max_chunks", _u32),
        ("target_in_flight", _u32),
        ("handle", _u32),
        ("tiler_heap_ctx_gpu_va", _u64),
        ("first_heap_chunk_gpu_va", _u64),
    ]


class DrmPanthorTilerHeapDestroy(UapiStruct):
    """``struct drm_panthor_tiler_heap_destroy``: ``handle`` = ``(vm_id << 16) | heap_id``."""

    KERNEL_NAME = "drm_panthor_tiler_heap_destroy"
    _fields_ = [("handle", _u32), ("pad", _u32)]


#: Every panthor struct class, keyed by kernel name.
PANTHOR_STRUCTS: dict[str, type[UapiStruct]] = {
    cls.KERNEL_NAME: cls
    for cls in (
        DrmPanthorObjArray, DrmPanthorSyncOp, DrmPanthorGpuInfo, DrmPanthorCsifInfo,
        DrmPanthorTimestampInfo, DrmPanthorGroupPrioritiesInfo, DrmPanthorDevQuery,
        DrmPanthorVmCreate, DrmPanthorVmDestroy, DrmPanthorVmBindOp, DrmPanthorVmBind,
        DrmPanthorVmGetState, DrmPanthorBoCreate, DrmPanthorBoMmapOffset, DrmPanthorQueueCreate,
        DrmPanthorGroupCreate, DrmPanthorGroupDestroy, DrmPanthorQueueSubmit,
        DrmPanthorGroupSubmit, DrmPanthorGroupGetState, DrmPanthorTilerHeapCreate,
        DrmPanthorTilerHeapDestroy, DrmPanthorBoSetLabel, DrmPanthorSetUserMmioOffset,
        DrmPanthorBoSyncOp, DrmPanthorBoSync, DrmPanthorBoQueryInfo,
    )
}
