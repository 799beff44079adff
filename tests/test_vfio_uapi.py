"""vfio uAPI numbers and layouts against the reference tables (rk3588-platform-and-uio.md §4.3, §4.4)."""

from __future__ import annotations

import ctypes
import struct

import pytest

from uio_driver.platform import vfio_ioctl as v

# §4.3: name -> (n, number), copied from the table.
IOCTLS = {
    "VFIO_GET_API_VERSION": (0, 0x3B64),
    "VFIO_CHECK_EXTENSION": (1, 0x3B65),
    "VFIO_SET_IOMMU": (2, 0x3B66),
    "VFIO_GROUP_GET_STATUS": (3, 0x3B67),
    "VFIO_GROUP_SET_CONTAINER": (4, 0x3B68),
    "VFIO_GROUP_UNSET_CONTAINER": (5, 0x3B69),
    "VFIO_GROUP_GET_DEVICE_FD": (6, 0x3B6A),
    "VFIO_DEVICE_GET_INFO": (7, 0x3B6B),
    "VFIO_DEVICE_GET_REGION_INFO": (8, 0x3B6C),
    "VFIO_DEVICE_GET_IRQ_INFO": (9, 0x3B6D),
    "VFIO_DEVICE_SET_IRQS": (10, 0x3B6E),
    "VFIO_DEVICE_RESET": (11, 0x3B6F),
}


@pytest.mark.parametrize("name", sorted(IOCTLS))
def test_ioctl_numbers_match_the_reference_table(name: str) -> None:
    n, number = IOCTLS[name]
    assert getattr(v, name) == number
    # _IO(';', 100 + n): type ';' = 0x3B in bits 8..15, nr in bits 0..7, no size/direction bits.
    assert number == (ord(";") << 8) | (100 + n) and number >> 16 == 0
    assert v.vfio_io(n) == number


def test_extension_and_offset_constants() -> None:
    assert (v.VFIO_API_VERSION, v.VFIO_NOIOMMU_IOMMU, v.VFIO_PLATFORM_OFFSET_SHIFT) == (0, 8, 40)
    assert v.region_offset(0) == 0 and v.region_offset(1) == 0x100_0000_0000 and v.region_offset(2) == 2 << 40


# §4.4: struct -> (size, Python struct format, [(field, offset)])
LAYOUTS = {
    v.VfioGroupStatus: (8, "<II", [("argsz", 0), ("flags", 4)]),
    v.VfioDeviceInfo: (24, "<6I", [("argsz", 0), ("flags", 4), ("num_regions", 8), ("num_irqs", 12),
                                   ("cap_offset", 16), ("pad", 20)]),
    v.VfioRegionInfo: (32, "<4I2Q", [("argsz", 0), ("flags", 4), ("index", 8), ("cap_offset", 12),
                                     ("size", 16), ("offset", 24)]),
    v.VfioIrqInfo: (16, "<4I", [("argsz", 0), ("flags", 4), ("index", 8), ("count", 12)]),
    v.VfioIrqSet: (20, "<5I", [("argsz", 0), ("flags", 4), ("index", 8), ("start", 12), ("count", 16)]),
}


@pytest.mark.parametrize("cls", list(LAYOUTS), ids=lambda c: c.__name__)
def test_struct_layouts_match_the_reference(cls: type[ctypes.Structure]) -> None:
    size, fmt, fields = LAYOUTS[cls]
    assert ctypes.sizeof(cls) == size == struct.calcsize(fmt)
    assert [(f, getattr(cls, f).offset) for f, _ in cls._fields_] == fields  # type: ignore[misc]
    # Byte image: fill every field with a distinct value and decode it with the reference format.
    values = list(range(1, len(fields) + 1))
    obj = cls(**{f: val for (f, _), val in zip(fields, values, strict=True)})
    assert list(struct.unpack(fmt, bytes(obj))) == values


def test_region_info_carries_64_bit_size_and_offset() -> None:
    raw = struct.pack("<4I2Q", 32, 7, 1, 0, 0x1_0000_0000, 1 << 40)
    info = v.VfioRegionInfo.from_buffer_copy(raw)
    assert (info.size, info.offset, info.index) == (0x1_0000_0000, 1 << 40, 1)


@pytest.mark.parametrize("flag,value", [
    (v.GroupFlag.VIABLE, 1), (v.GroupFlag.CONTAINER_SET, 2),
    (v.DeviceFlag.RESET, 1), (v.DeviceFlag.PCI, 2), (v.DeviceFlag.PLATFORM, 4), (v.DeviceFlag.AMBA, 8),
    (v.DeviceFlag.CCW, 16), (v.DeviceFlag.AP, 32), (v.DeviceFlag.FSL_MC, 64), (v.DeviceFlag.CAPS, 128),
    (v.DeviceFlag.CDX, 256),
    (v.RegionFlag.READ, 1), (v.RegionFlag.WRITE, 2), (v.RegionFlag.MMAP, 4), (v.RegionFlag.CAPS, 8),
    (v.IrqInfoFlag.EVENTFD, 1), (v.IrqInfoFlag.MASKABLE, 2), (v.IrqInfoFlag.AUTOMASKED, 4),
    (v.IrqInfoFlag.NORESIZE, 8),
    (v.IrqSetFlag.DATA_NONE, 1), (v.IrqSetFlag.DATA_BOOL, 2), (v.IrqSetFlag.DATA_EVENTFD, 4),
    (v.IrqSetFlag.ACTION_MASK, 8), (v.IrqSetFlag.ACTION_UNMASK, 16), (v.IrqSetFlag.ACTION_TRIGGER, 32),
])
def test_flag_values(flag: int, value: int) -> None:
    assert int(flag) == value


class _Recorder(v.VfioOps):
    """Captures ioctl arguments instead of calling the kernel."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, int, object]] = []

    def ioctl(self, fd: int, request: int, arg: int | bytearray = 0) -> int:
        self.seen.append((fd, request, bytes(arg) if isinstance(arg, bytearray) else arg))
        return 0


def test_set_irqs_images() -> None:
    ops = _Recorder()
    v.device_set_irqs(ops, 5, 2, v.IrqSetFlag.DATA_EVENTFD | v.IrqSetFlag.ACTION_TRIGGER, eventfds=(42,))
    v.device_set_irqs(ops, 5, 1, v.IrqSetFlag.DATA_NONE | v.IrqSetFlag.ACTION_UNMASK)
    v.device_set_irqs(ops, 5, 0, v.IrqSetFlag.DATA_NONE | v.IrqSetFlag.ACTION_TRIGGER, count=0)
    # §4.5: arm = argsz 24, flags DATA_EVENTFD|ACTION_TRIGGER = 0x24, index, start 0, count 1, fd.
    assert ops.seen[0] == (5, 0x3B6E, struct.pack("<5Ii", 24, 0x24, 2, 0, 1, 42))
    assert ops.seen[1] == (5, 0x3B6E, struct.pack("<5I", 20, 0x11, 1, 0, 1))
    assert ops.seen[2] == (5, 0x3B6E, struct.pack("<5I", 20, 0x21, 0, 0, 0))


def test_by_value_and_pointer_arguments() -> None:
    ops = _Recorder()
    v.check_extension(ops, 3, 8)
    v.set_iommu(ops, 3, 8)
    v.group_set_container(ops, 4, 3)
    v.group_get_device_fd(ops, 4, "fb000000.gpu")
    assert ops.seen == [(3, 0x3B65, 8), (3, 0x3B66, 8), (4, 0x3B68, struct.pack("<i", 3)),
                        (4, 0x3B6A, b"fb000000.gpu\0")]
