"""Device.ioctl generic dispatch (drm_ioctl rules), DEV_QUERY, VERSION, GET_CAP and ENODEV.

Expected values come from shared/reference/cs-isa-and-uapi.md: ioctl numbers (§3.2, §4.1), dispatch
rules (§3.3), DEV_QUERY sizes and G610 values (§3.6), uobj rules (§3.4).
"""

from __future__ import annotations

import ctypes
import errno
from collections.abc import Iterator

import pytest

import uio_driver
from uio_driver.api import GpuDevice
from uio_driver.uapi import drm as D
from uio_driver.uapi import ioctls as I
from uio_driver.uapi import structs as S
from uio_driver.uapi.usercopy import address_of

pytestmark = pytest.mark.sim_only

DEV_QUERY = 0xC0106440  # reference §3.2
VM_CREATE = 0xC0106441


@pytest.fixture
def dev() -> Iterator[GpuDevice]:
    d = uio_driver.open(backend="sim", strict=True)
    try:
        yield d
    finally:
        d.close()


def _req(direction: int, nr: int, size: int, kind: int = ord("d")) -> int:
    return (direction << 30) | (size << 16) | (kind << 8) | nr


def _errno_of(dev: GpuDevice, request: int, arg: object) -> int:
    with pytest.raises(OSError) as info:
        dev.ioctl(request, arg)
    return int(info.value.errno or 0)


# -- generic dispatch -------------------------------------------------------------------------------


def test_request_numbers_match_the_reference() -> None:
    assert I.DRM_IOCTL_PANTHOR_DEV_QUERY == DEV_QUERY
    assert I.DRM_IOCTL_PANTHOR_GROUP_SUBMIT == 0xC0186449
    assert I.DRM_IOCTL_SYNCOBJ_WAIT == 0xC02864C3


def test_wrong_type_byte_is_enotty(dev: GpuDevice) -> None:
    assert _errno_of(dev, _req(3, 0x40, 16, kind=ord("e")), S.DrmPanthorDevQuery()) == errno.ENOTTY


@pytest.mark.parametrize("nr", [0x4D, 0x4E, 0x50, 0x60, 0x9F, 0x01, 0x0A])
def test_unknown_nr_is_einval(dev: GpuDevice, nr: int) -> None:
    # A 1.3 driver has 13 ioctls (0x40..0x4C); 0x4D+ and core numbers nobody serves are EINVAL.
    assert _errno_of(dev, _req(3, nr, 16), bytearray(16)) == errno.EINVAL


def test_short_user_struct_is_zero_extended_and_copied_back_short(dev: GpuDevice) -> None:
    # An 8-byte DEV_QUERY (type, size): pointer reads as 0, so the size query path runs.
    buf = bytearray(b"\0" * 8 + b"\xee" * 8)
    dev.ioctl(_req(3, 0x40, 8), buf)
    assert int.from_bytes(buf[4:8], "little") == 104
    assert buf[8:] == b"\xee" * 8  # beyond the user's size: untouched


def test_long_user_struct_tail_is_copied_back_unchanged(dev: GpuDevice) -> None:
    buf = bytearray(24)
    buf[16:24] = b"\x5a" * 8
    dev.ioctl(_req(3, 0x41, 24), buf)
    assert int.from_bytes(buf[4:8], "little") == 1  # VM id
    assert int.from_bytes(buf[8:16], "little") == 1 << 47
    assert buf[16:24] == b"\x5a" * 8


def test_direction_bits_gate_the_copies(dev: GpuDevice) -> None:
    q = S.DrmPanthorDevQuery(type=0)
    dev.ioctl(_req(1, 0x40, 16), q)  # user says write-only: no copy-out
    assert q.size == 0
    q2 = S.DrmPanthorDevQuery(type=99)
    dev.ioctl(_req(2, 0x40, 16), q2)  # read-only: no copy-in, handler sees type 0, copy-out 104
    assert (q2.type, q2.size) == (0, 104)


def test_bad_argument_address_is_efault(dev: GpuDevice) -> None:
    assert _errno_of(dev, DEV_QUERY, 8) == errno.EFAULT
    assert _errno_of(dev, DEV_QUERY, bytearray(4)) == errno.EFAULT  # shorter than the request size


def test_argument_as_process_address(dev: GpuDevice) -> None:
    q = S.DrmPanthorDevQuery(type=1)
    assert dev.ioctl(DEV_QUERY, address_of(q)) == 0
    assert q.size == 24


def test_read_only_buffer_for_an_output_ioctl_is_efault_but_runs(dev: GpuDevice) -> None:
    data = bytes(16)
    assert _errno_of(dev, VM_CREATE, data) == errno.EFAULT
    assert len(dev.objects.vms) == 1  # the handler ran; only the copy-out failed (as in the kernel)


# -- DEV_QUERY ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind, size", [(0, 104), (1, 24), (2, 24), (3, 4)])
def test_size_query(dev: GpuDevice, kind: int, size: int) -> None:
    q = S.DrmPanthorDevQuery(type=kind, size=0xDEAD)
    dev.ioctl(DEV_QUERY, q)
    assert q.size == size


@pytest.mark.parametrize("pointer", [0, 1])
def test_unknown_type_is_einval(dev: GpuDevice, pointer: int) -> None:
    buf = ctypes.create_string_buffer(64)
    q = S.DrmPanthorDevQuery(type=4, size=64, pointer=address_of(buf) if pointer else 0)
    assert _errno_of(dev, DEV_QUERY, q) == errno.EINVAL
    assert buf.raw == bytes(64)


def test_gpu_info_values(dev: GpuDevice) -> None:
    info = S.DrmPanthorGpuInfo()
    q = S.DrmPanthorDevQuery(type=0, size=104, pointer=address_of(info))
    dev.ioctl(DEV_QUERY, q)
    assert info.gpu_id == 0xA8670005 and info.shader_present == 0x50005
    assert info.l2_features == 0x07120306 and info.mmu_features == 0x2830
    assert info.as_present == 0xFF and info.tiler_present == 1 and info.l2_present == 1
    assert q.size == 104


def test_gpu_info_below_minimum_is_einval_and_writes_nothing(dev: GpuDevice) -> None:
    buf = ctypes.create_string_buffer(b"\xee" * 128, 128)
    q = S.DrmPanthorDevQuery(type=0, size=95, pointer=address_of(buf))
    assert _errno_of(dev, DEV_QUERY, q) == errno.EINVAL
    assert buf.raw == b"\xee" * 128


def test_gpu_info_minimum_size_copies_96_bytes(dev: GpuDevice) -> None:
    buf = ctypes.create_string_buffer(b"\xee" * 128, 128)
    dev.ioctl(DEV_QUERY, S.DrmPanthorDevQuery(type=0, size=96, pointer=address_of(buf)))
    assert int.from_bytes(buf.raw[0:4], "little") == 0xA8670005
    assert int.from_bytes(buf.raw[88:96], "little") == 1  # tiler_present
    assert buf.raw[96:] == b"\xee" * 32


def test_larger_user_buffer_is_zero_filled_and_size_not_written(dev: GpuDevice) -> None:
    buf = ctypes.create_string_buffer(b"\xee" * 256, 256)
    q = S.DrmPanthorDevQuery(type=1, size=200, pointer=address_of(buf))
    dev.ioctl(DEV_QUERY, q)
    assert list(int.from_bytes(buf.raw[i : i + 4], "little") for i in range(0, 20, 4)) == [8, 8, 96, 8, 4]
    assert buf.raw[24:200] == bytes(176)
    assert buf.raw[200:] == b"\xee" * 56
    assert q.size == 200  # quirk §7.2 #5


def test_bad_pointer_is_efault(dev: GpuDevice) -> None:
    assert _errno_of(dev, DEV_QUERY, S.DrmPanthorDevQuery(type=0, size=104, pointer=16)) == errno.EFAULT


def test_timestamp_info(dev: GpuDevice) -> None:
    first, second = dev.timestamp_info(), None
    dev.clock.sleep(0.001)
    second = dev.timestamp_info()
    assert first.timestamp_frequency == 24_000_000
    assert second.current_timestamp >= first.current_timestamp


def test_group_priorities_info() -> None:
    with uio_driver.open(backend="sim") as plain:
        assert plain.allowed_priorities() == 0x03
    with uio_driver.open(backend="sim", privileged=True) as priv:
        assert priv.allowed_priorities() == 0x0F


# -- DRM core: VERSION, GET_CAP -------------------------------------------------------------------------


def test_version(dev: GpuDevice) -> None:
    name = ctypes.create_string_buffer(32)
    desc = ctypes.create_string_buffer(4)
    v = D.DrmVersion(name_len=32, name=address_of(name), desc_len=4, desc=address_of(desc))
    dev.ioctl(I.DRM_IOCTL_VERSION, v)
    assert (v.version_major, v.version_minor) == (1, 3)
    assert name.value == b"panthor" and v.name_len == 7
    assert desc.raw == b"Pant" and v.desc_len == len("Panthor DRM driver")


def test_get_cap(dev: GpuDevice) -> None:
    for cap, value in ((D.DRM_CAP_SYNCOBJ, 1), (D.DRM_CAP_SYNCOBJ_TIMELINE, 1), (D.DRM_CAP_PRIME, 3)):
        arg = D.DrmGetCap(capability=cap)
        dev.ioctl(I.DRM_IOCTL_GET_CAP, arg)
        assert arg.value == value
    assert _errno_of(dev, I.DRM_IOCTL_GET_CAP, D.DrmGetCap(capability=0x9999)) == errno.EINVAL


# -- ENODEV ---------------------------------------------------------------------------------------------


def test_every_call_after_close_is_enodev() -> None:
    d = uio_driver.open(backend="sim")
    bo = d.bo_create(4096)
    offset = bo.mmap_offset()
    d.close()
    d.close()  # idempotent
    for request in (DEV_QUERY, VM_CREATE, I.DRM_IOCTL_SYNCOBJ_CREATE, I.DRM_IOCTL_GEM_CLOSE, 0xC0106540):
        assert _errno_of(d, request, bytearray(64)) == errno.ENODEV
    with pytest.raises(OSError) as info:
        d.mmap(offset, 4096)
    assert info.value.errno == errno.ENODEV


def test_unplug_tears_down_and_gives_enodev(dev: GpuDevice) -> None:
    vm = dev.vm_create()
    bo = dev.bo_create(8192)
    vm.map(bo, 0x10000)
    used = dev.allocator.used_bytes
    dev.unplug()
    assert dev.allocator.used_bytes < used  # the BO and the VM's tables went back
    assert _errno_of(dev, DEV_QUERY, S.DrmPanthorDevQuery()) == errno.ENODEV
    with pytest.raises(OSError) as info:
        dev.vm_create()
    assert info.value.errno == errno.ENODEV
