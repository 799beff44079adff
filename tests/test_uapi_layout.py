"""The ctypes uAPI classes against the compiler's view of the real headers.

``tests/data/uapi_layout.json`` was produced by ``tools/gen_uapi_layout.py`` (gcc ``sizeof`` /
``offsetof`` / ``_Alignof`` of every struct and field of ``panthor_drm.h`` plus the generic DRM
structs of ``drm.h``, and the value of every enum/macro constant). Every struct and field is
compared in both directions. A second set of checks uses the sizes, offsets and minimum sizes
written in ``shared/reference/cs-isa-and-uapi.md`` §3-§4, independently of the JSON.
"""

from __future__ import annotations

import ctypes
import errno
import json
from pathlib import Path

import pytest

from uio_driver.errors import InvalidArgument
from uio_driver.uapi import drm, ioctls, structs
from uio_driver.uapi.drm import DRM_STRUCTS
from uio_driver.uapi.structs import PANTHOR_STRUCTS, UapiStruct

LAYOUT = json.loads((Path(__file__).parent / "data" / "uapi_layout.json").read_text())
ALL = {**PANTHOR_STRUCTS, **DRM_STRUCTS}


def camel(kernel_name: str) -> str:
    return "".join(part.capitalize() for part in kernel_name.split("_"))


def test_json_records_its_sources() -> None:
    assert {"panthor_drm.h", "drm.h"} <= set(LAYOUT["sources"])
    assert "@" in LAYOUT["sources"]["panthor_drm.h"]  # repository@commit


def test_every_header_struct_has_a_class_and_vice_versa() -> None:
    assert sorted(LAYOUT["structs"]) == sorted(ALL)


def test_every_struct_class_is_registered() -> None:
    defined = {
        obj.KERNEL_NAME
        for module in (structs, drm)
        for obj in vars(module).values()
        if isinstance(obj, type) and issubclass(obj, UapiStruct) and obj is not UapiStruct
    }
    assert defined == set(ALL)


@pytest.mark.parametrize("kernel_name", sorted(ALL))
def test_class_is_named_after_the_kernel_struct(kernel_name: str) -> None:
    cls = ALL[kernel_name]
    assert cls.__name__ == camel(kernel_name)
    assert cls.KERNEL_NAME == kernel_name


@pytest.mark.parametrize("kernel_name", sorted(LAYOUT["structs"]))
def test_layout_matches_compiler(kernel_name: str) -> None:
    expected = LAYOUT["structs"][kernel_name]
    cls = ALL[kernel_name]
    assert ctypes.sizeof(cls) == expected["size"]
    assert ctypes.alignment(cls) == expected["align"]
    assert [name for name, *_ in cls._fields_] == [f["name"] for f in expected["fields"]]
    for field in expected["fields"]:
        desc = getattr(cls, field["name"])
        assert (field["name"], desc.offset, desc.size) == (field["name"], field["offset"], field["size"])


def _py_constants() -> dict[str, int]:
    out: dict[str, int] = {}
    for module in (structs, drm, ioctls):
        for name, value in vars(module).items():
            if name.isupper() and name.startswith(("DRM_", "PANTHOR_")) and isinstance(value, int):
                out[name] = value
    return out


def test_constants_match_header_values() -> None:
    ours = _py_constants()
    missing = sorted(set(LAYOUT["constants"]) - set(ours))
    assert missing == []
    for name, c_value in LAYOUT["constants"].items():
        # (int)(1u << 31)-style enumerators are negative in C; the u32 flag fields hold the bits.
        expected = c_value % (1 << 32) if c_value < 0 else c_value
        assert (name, ours[name]) == (name, expected)


def test_no_constant_without_a_header_counterpart() -> None:
    assert sorted(set(_py_constants()) - set(LAYOUT["constants"])) == []


# Sizes from the reference tables (cs-isa-and-uapi.md §3.2, §3.4-§3.14, §4.1-§4.2).
REFERENCE_SIZES = {
    "drm_panthor_obj_array": 16, "drm_panthor_sync_op": 16, "drm_panthor_dev_query": 16,
    "drm_panthor_csif_info": 24, "drm_panthor_group_priorities_info": 4,
    "drm_panthor_vm_create": 16, "drm_panthor_vm_destroy": 8, "drm_panthor_vm_bind_op": 48,
    "drm_panthor_vm_bind": 24, "drm_panthor_vm_get_state": 8, "drm_panthor_bo_create": 24,
    "drm_panthor_bo_mmap_offset": 16, "drm_panthor_bo_set_label": 16,
    "drm_panthor_set_user_mmio_offset": 8, "drm_panthor_bo_sync_op": 24, "drm_panthor_bo_sync": 16,
    "drm_panthor_bo_query_info": 16, "drm_panthor_queue_create": 8, "drm_panthor_group_create": 56,
    "drm_panthor_group_destroy": 8, "drm_panthor_queue_submit": 40, "drm_panthor_group_submit": 24,
    "drm_panthor_group_get_state": 16, "drm_panthor_tiler_heap_create": 40,
    "drm_panthor_tiler_heap_destroy": 8,
    "drm_version": 64, "drm_gem_close": 8, "drm_get_cap": 16, "drm_prime_handle": 12,
    "drm_syncobj_create": 8, "drm_syncobj_destroy": 8, "drm_syncobj_handle": 24,
    "drm_syncobj_wait": 40, "drm_syncobj_array": 16, "drm_syncobj_timeline_wait": 48,
    "drm_syncobj_timeline_array": 24, "drm_syncobj_transfer": 32, "drm_syncobj_eventfd": 24,
}


@pytest.mark.parametrize("kernel_name", sorted(REFERENCE_SIZES))
def test_size_matches_reference(kernel_name: str) -> None:
    assert ctypes.sizeof(ALL[kernel_name]) == REFERENCE_SIZES[kernel_name]


def test_grown_output_objects_keep_the_reference_prefix() -> None:
    # Reference §3.6: gpu_info is 104 bytes with tiler_present @88, core_features @96, pad @100;
    # the newest header appends gpu_features (u64) at 104. timestamp_info: 3 x u64 (24 bytes),
    # later extended with flags/duration/cycle/cpu time after offset 24.
    gpu = structs.DrmPanthorGpuInfo
    ref = {"gpu_id": 0, "csf_id": 8, "mmu_features": 24, "texture_features": 48, "as_present": 64,
           "selected_coherency": 68, "shader_present": 72, "l2_present": 80, "tiler_present": 88,
           "core_features": 96, "pad": 100}
    assert {name: getattr(gpu, name).offset for name in ref} == ref
    assert gpu.gpu_features.offset == 104
    ts = structs.DrmPanthorTimestampInfo
    assert [ts.timestamp_frequency.offset, ts.current_timestamp.offset, ts.timestamp_offset.offset] == [
        0, 8, 16]
    assert ts.flags.offset == 24


def test_reference_field_offsets() -> None:
    gc = structs.DrmPanthorGroupCreate
    assert [getattr(gc, f).offset for f in (
        "queues", "max_compute_cores", "max_fragment_cores", "max_tiler_cores", "priority", "pad",
        "compute_core_mask", "fragment_core_mask", "tiler_core_mask", "vm_id", "group_handle",
    )] == [0, 16, 17, 18, 19, 20, 24, 32, 40, 48, 52]
    qs = structs.DrmPanthorQueueSubmit
    assert [qs.stream_addr.offset, qs.latest_flush.offset, qs.syncs.offset] == [8, 16, 24]
    th = structs.DrmPanthorTilerHeapCreate
    assert [th.handle.offset, th.tiler_heap_ctx_gpu_va.offset, th.first_heap_chunk_gpu_va.offset] == [
        20, 24, 32]
    wait = drm.DrmSyncobjTimelineWait
    assert [wait.timeout_nsec.offset, wait.count_handles.offset, wait.first_signaled.offset,
            wait.deadline_nsec.offset] == [16, 24, 32, 40]


# PANTHOR_UOBJ_MIN_SIZE, reference §3.4.
REFERENCE_MIN_SIZES = {
    "drm_panthor_sync_op": 16, "drm_panthor_vm_bind_op": 48, "drm_panthor_queue_create": 8,
    "drm_panthor_queue_submit": 40, "drm_panthor_bo_sync_op": 24, "drm_panthor_gpu_info": 96,
    "drm_panthor_csif_info": 24, "drm_panthor_timestamp_info": 16,
    "drm_panthor_group_priorities_info": 4,
}


@pytest.mark.parametrize("kernel_name", sorted(ALL))
def test_min_size_matches_reference(kernel_name: str) -> None:
    assert ALL[kernel_name].MIN_SIZE == REFERENCE_MIN_SIZES.get(kernel_name)


def test_uapi_minor_annotations() -> None:
    # Reference §3.1: 1.1 TIMESTAMP_INFO, 1.2 GROUP_PRIORITIES_INFO, 1.4 BO_SET_LABEL,
    # 1.5 SET_USER_MMIO_OFFSET, "1.6+" BO_SYNC/BO_QUERY_INFO/selected_coherency.
    assert structs.DrmPanthorTimestampInfo.UAPI_MINOR == 1
    assert structs.DrmPanthorGroupPrioritiesInfo.UAPI_MINOR == 2
    assert structs.DrmPanthorBoSetLabel.UAPI_MINOR == 4
    assert structs.DrmPanthorSetUserMmioOffset.UAPI_MINOR == 5
    for cls in (structs.DrmPanthorBoSync, structs.DrmPanthorBoSyncOp, structs.DrmPanthorBoQueryInfo):
        assert cls.UAPI_MINOR >= 6
    assert (structs.DrmPanthorGpuInfo.FIELD_MINOR["selected_coherency"] or 0) >= 6
    assert structs.DrmPanthorVmCreate.UAPI_MINOR == 0


def test_reference_constant_values() -> None:
    assert structs.DRM_PANTHOR_SYNC_OP_SIGNAL == 0x80000000
    assert structs.DRM_PANTHOR_VM_BIND_OP_TYPE_MASK == 0xF0000000
    assert structs.DRM_PANTHOR_VM_BIND_OP_TYPE_SYNC_ONLY == 0x20000000
    assert structs.DRM_PANTHOR_USER_MMIO_OFFSET_32BIT == 1 << 43
    assert structs.DRM_PANTHOR_USER_MMIO_OFFSET_64BIT == 1 << 56
    assert structs.DRM_PANTHOR_GROUP_STATE_INNOCENT == 4
    assert structs.PANTHOR_GROUP_PRIORITY_REALTIME == 3
    assert structs.DRM_PANTHOR_GPU_COHERENCY_NONE == 31
    assert (drm.DRM_CAP_SYNCOBJ, drm.DRM_CAP_SYNCOBJ_TIMELINE, drm.DRM_CAP_PRIME) == (0x13, 0x14, 0x5)
    assert (drm.DRM_CLOEXEC, drm.DRM_RDWR) == (0x80000, 2)


def test_byte_helpers_round_trip_little_endian() -> None:
    op = structs.DrmPanthorSyncOp(flags=0x80000001, handle=7, timeline_value=0x1122334455667788)
    raw = op.to_bytes()
    assert raw == bytes.fromhex("01000080" "07000000" "8877665544332211")
    assert structs.DrmPanthorSyncOp.from_bytes(raw).as_dict() == {
        "flags": 0x80000001, "handle": 7, "timeline_value": 0x1122334455667788}


def test_from_bytes_rejects_wrong_length() -> None:
    with pytest.raises(InvalidArgument) as info:
        structs.DrmPanthorSyncOp.from_bytes(bytes(15))
    assert info.value.errno == errno.EINVAL
    assert "drm_panthor_sync_op" in str(info.value)


def test_as_dict_nests_obj_arrays_and_arrays() -> None:
    q = structs.DrmPanthorGroupCreate(vm_id=3)
    q.queues.count = 2
    d = q.as_dict()
    assert d["queues"] == {"stride": 0, "count": 2, "array": 0}
    assert structs.DrmPanthorGpuInfo().as_dict()["texture_features"] == [0, 0, 0, 0]
