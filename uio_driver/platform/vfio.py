"""vfio-platform backend: the GPU as a vfio device in no-IOMMU mode (optional; UIO is the primary path).

Facts (shared/reference/rk3588-platform-and-uio.md §4):

* the GPU node has no ``iommus``, so vfio can expose it only in **no-IOMMU mode**: the kernel needs
  ``CONFIG_VFIO_NOIOMMU`` and ``vfio.enable_unsafe_noiommu_mode=1``; the group node is
  ``/dev/vfio/noiommu-<N>`` and opening it needs ``CAP_SYS_RAWIO`` (§4.1);
* vfio-platform has no reset handler for the GPU, so it binds only with ``reset_required=0`` and the
  device has no ``VFIO_DEVICE_FLAGS_RESET``; the driver resets the GPU through ``GPU_COMMAND`` (§4.6);
* open path: container ``/dev/vfio/vfio`` → API version 0 → ``CHECK_EXTENSION(8)`` → group
  ``GET_STATUS`` (VIABLE) → ``SET_CONTAINER`` → ``SET_IOMMU(8)`` → ``GET_DEVICE_FD(name)`` (§4.8);
* region N (one per ``reg`` entry) sits at device-fd offset ``N << 40``; ``MMAP`` is offered for
  page-aligned regions, mapped Device-nGnRnE (§4.5, §3.8): region 0 = the 2 MiB GPU window, region 1 of
  the vfio overlay = the ``no-map`` carveout. No-IOMMU mode has no ``MAP_DMA`` (§4.1), so DMA memory is
  that region, or a /dev/mem window, or a UIO map. vfio reports no physical addresses: they come from
  the device's DT ``reg`` (``of_node/reg``);
* IRQ index N per ``interrupts`` entry (0 job, 1 mmu, 2 gpu; ``interrupt-names`` when present), level
  lines are ``EVENTFD|MASKABLE|AUTOMASKED`` (§4.5);
* vfio-platform holds a runtime-PM reference while the device fd is open, so the node's power domain and
  clocks stay on until :meth:`VfioPlatform.close` (§4.2, §3.5).

Every syscall goes through a :class:`~uio_driver.platform.vfio_ioctl.VfioOps` (``ops=``), so tests run
the whole open path against a fake kernel.
"""

from __future__ import annotations

import errno
import mmap
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from ..errors import AccessDenied, Busy, DeviceNotFound, InvalidArgument, NotSupported
from .base import IRQ_NAMES, RK3588_GPU_SIZE, MappedMmioRegion, Platform
from .clock import RealClock
from .dma import DmaAllocator
from .vfio_ioctl import (
    VFIO_API_VERSION,
    VFIO_NOIOMMU_IOMMU,
    DeviceFlag,
    GroupFlag,
    IrqInfoFlag,
    RegionFlag,
    RegionInfo,
    VfioIrqLine,
    VfioOps,
    VfioPreadMmioRegion,
    check_extension,
    device_get_info,
    device_get_irq_info,
    device_get_region_info,
    get_api_version,
    group_get_device_fd,
    group_get_status,
    group_set_container,
    os_error,
    set_iommu,
)

T = TypeVar("T")

#: Platform driver name a usable device must be bound to.
VFIO_DRIVER = "vfio-platform"
#: Devices tried when none is named: the vfio overlay's node (dts/mali-hil-vfio.dts), then the GPU node.
DEVICE_CANDIDATES = ("fb000000.mali-hil", "fb000000.gpu")
MMIO_MODES = ("mmap", "pread")
ROOT_HINT = "no-IOMMU vfio needs CAP_SYS_RAWIO whatever the file mode (reference §4.1): run as root"
NOIOMMU_PARAM = "module/vfio/parameters/enable_unsafe_noiommu_mode"
RESET_PARAM = "module/vfio_platform/parameters/reset_required"

CarveoutOption = bool | int | str | tuple[int, int] | None


# --------------------------------------------------------------------------------------------
# sysfs: which device, which group, where its regions are
# --------------------------------------------------------------------------------------------


def _read_param(sysfs_root: str, rel: str) -> str | None:
    try:
        with open(os.path.join(sysfs_root, rel)) as f:
            return f.read().strip()
    except OSError:
        return None


def noiommu_hint(sysfs_root: str = "/sys") -> str:
    """How to enable vfio's no-IOMMU mode, from ``enable_unsafe_noiommu_mode`` (§4.1)."""
    value = _read_param(sysfs_root, NOIOMMU_PARAM)
    if value is None:
        return ("vfio is not loaded or the kernel lacks CONFIG_VFIO_NOIOMMU: "
                "modprobe vfio enable_unsafe_noiommu_mode=1")
    if value.upper() in ("Y", "1"):
        return "no-IOMMU mode is on; rebind the device to vfio-platform so it gets a noiommu group"
    return (f"enable it: echo Y > /sys/{NOIOMMU_PARAM} (or boot with vfio.enable_unsafe_noiommu_mode=1), "
            "then rebind the device to vfio-platform")


def reset_required_hint(sysfs_root: str = "/sys") -> str:
    """What vfio-platform's ``reset_required`` parameter means for binding the GPU (§4.6)."""
    value = _read_param(sysfs_root, RESET_PARAM)
    if value is None:
        return "vfio-platform is not loaded: modprobe vfio-platform reset_required=0"
    if value.upper() in ("Y", "1"):
        return ("vfio-platform has reset_required=Y and no reset handler for the GPU, so it refuses the "
                "device: modprobe -r vfio_platform && modprobe vfio-platform reset_required=0 "
                "(or boot with vfio_platform.reset_required=0)")
    return ""


def _bind_hint(name: str) -> str:
    return (f"echo {VFIO_DRIVER} > /sys/bus/platform/devices/{name}/driver_override; "
            f"echo {name} > /sys/bus/platform/drivers_probe (`mali-uio setup udev --vfio` does this at boot)")


@dataclass(frozen=True)
class VfioSysDevice:
    """What sysfs says about the platform device handed to vfio-platform.

    Attributes:
        name: platform device name (``GROUP_GET_DEVICE_FD`` argument).
        sys_path: ``<sysfs>/bus/platform/devices/<name>``.
        driver: bound driver name, if any.
        group: IOMMU group number from the ``iommu_group`` link, if any.
        reg: DT ``reg`` entries as (address, size): region N is entry N.
        reg_names: DT ``reg-names``.
        interrupt_names: DT ``interrupt-names`` (IRQ index N is entry N).
    """

    name: str
    sys_path: str
    driver: str | None
    group: int | None
    reg: tuple[tuple[int, int], ...] = ()
    reg_names: tuple[str, ...] = ()
    interrupt_names: tuple[str, ...] = ()

    @property
    def of_reg_path(self) -> str:
        return os.path.join(self.sys_path, "of_node", "reg")

    def irq_names(self, count: int) -> list[str | None]:
        """GPU line name of each vfio IRQ index (None for lines that are not job/mmu/gpu)."""
        if self.interrupt_names:
            # Vendor trees spell them upper case (reference §1.8).
            names = [n.lower() for n in self.interrupt_names[:count]]
            return [n if n in IRQ_NAMES else None for n in names] + [None] * (count - len(names))
        # §1.2: interrupts are listed job, mmu, gpu.
        return [IRQ_NAMES[i] if i < len(IRQ_NAMES) else None for i in range(count)]


def _dt_strings(path: str) -> tuple[str, ...]:
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError:
        return ()
    return tuple(s.decode(errors="replace") for s in raw.split(b"\0") if s)


def _dt_reg(path: str) -> tuple[tuple[int, int], ...]:
    """``reg`` with 2 address + 2 size cells (the RK3588 root node's cell counts, §1.1)."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError:
        return ()
    if len(raw) % 16:
        raise InvalidArgument(f"vfio: {path} is {len(raw)} bytes, not a list of <addr64 size64> entries")
    return tuple((int.from_bytes(raw[i:i + 8], "big"), int.from_bytes(raw[i + 8:i + 16], "big"))
                 for i in range(0, len(raw), 16))


def _link_name(path: str) -> str | None:
    try:
        return os.path.basename(os.readlink(path))
    except OSError:
        return None


def read_vfio_device(sysfs_root: str, name: str) -> VfioSysDevice:
    """Read one platform device's driver, IOMMU group and DT reg/interrupt names (no checks)."""
    path = os.path.join(sysfs_root, "bus", "platform", "devices", name)
    group = _link_name(os.path.join(path, "iommu_group"))
    of = os.path.join(path, "of_node")
    return VfioSysDevice(
        name=name, sys_path=path, driver=_link_name(os.path.join(path, "driver")),
        group=int(group) if group is not None and group.isdigit() else None,
        reg=_dt_reg(os.path.join(of, "reg")), reg_names=_dt_strings(os.path.join(of, "reg-names")),
        interrupt_names=_dt_strings(os.path.join(of, "interrupt-names")))


def find_vfio_device(sysfs_root: str = "/sys", device: str | None = None) -> VfioSysDevice:
    """The GPU's platform device bound to vfio-platform.

    Raises:
        DeviceNotFound: no such platform device, or it is not bound to vfio-platform (the message
            says how to bind it and what ``reset_required`` does).
        Busy: it is bound to another driver (panthor, uio_pdrv_genirq, ...).
    """
    devices_dir = os.path.join(sysfs_root, "bus", "platform", "devices")
    names = (device,) if device else DEVICE_CANDIDATES
    present = [n for n in names if os.path.exists(os.path.join(devices_dir, n))]
    if not present:
        if device:
            raise DeviceNotFound(f"vfio: no platform device {device} under {devices_dir}")
        raise DeviceNotFound(
            f"vfio: no GPU platform device ({' or '.join(DEVICE_CANDIDATES)}) under {devices_dir}: apply "
            "the vfio overlay (mali-uio dts build BOARD --variant vfio, mali-uio dts install) and reboot")
    found = [read_vfio_device(sysfs_root, n) for n in present]
    for dev in found:
        if dev.driver == VFIO_DRIVER:
            return dev
    first = found[0]
    if first.driver is not None:
        raise Busy(f"vfio: {first.name} is bound to {first.driver}, not {VFIO_DRIVER}: echo {first.name} > "
                   f"/sys/bus/platform/drivers/{first.driver}/unbind; {_bind_hint(first.name)}")
    reset = reset_required_hint(sysfs_root)
    raise DeviceNotFound(f"vfio: {first.name} is not bound to {VFIO_DRIVER}: {_bind_hint(first.name)}"
                         + (f"; {reset}" if reset else ""))


# --------------------------------------------------------------------------------------------
# Platform
# --------------------------------------------------------------------------------------------


@dataclass
class _Handles:
    """Everything opened so far; :meth:`VfioPlatform.close` releases it."""

    container: int = -1
    group: int = -1
    device: int = -1
    extra_fds: list[int] = field(default_factory=list)
    mappings: list[mmap.mmap] = field(default_factory=list)


class VfioPlatform(Platform):
    """The GPU through vfio-platform in no-IOMMU mode: MMIO from region 0, DMA from the carveout,
    one :class:`~uio_driver.platform.vfio_ioctl.VfioIrqLine` per GPU interrupt, real time.

    Build it with :meth:`discover`; every fd stays open until :meth:`close`.
    """

    name = "vfio"
    OPTIONS = ("dev_root", "sysfs_root", "device", "group", "carveout", "mmio", "ops")

    def __init__(self, ops: VfioOps | None = None) -> None:
        super().__init__()
        self.clock = RealClock()
        self.ops = ops if ops is not None else VfioOps()
        self.handles = _Handles()
        self.sys_device: VfioSysDevice | None = None
        self.device_flags = DeviceFlag(0)
        self.region_info: dict[int, RegionInfo] = {}
        self.num_irqs = 0

    @classmethod
    def discover(cls, dev_root: str = "/dev", sysfs_root: str = "/sys", device: str | None = None,
                 group: int | str | None = None, carveout: CarveoutOption = None, mmio: str = "mmap",
                 ops: VfioOps | None = None) -> VfioPlatform:
        """Open the GPU's vfio device, map its registers and the carveout, arm its interrupts.

        Args:
            dev_root: directory holding ``vfio/vfio`` and ``vfio/noiommu-N`` (and ``mem``, ``uioN``).
            sysfs_root: sysfs mount point (a fake tree in tests).
            device: platform device name (default: ``fb000000.mali-hil`` of the vfio overlay, else
                ``fb000000.gpu``, whichever is bound to vfio-platform).
            group: vfio group number or group node path (default: the device's ``iommu_group``).
            carveout: None = region 1 when present, else none; True = region 1, required; False =
                none; an int = that region index; ``(phys, size)`` = a /dev/mem window; a str = the
                UIO map of that name (e.g. ``"dma"``) of a ``mali-hil-*`` node.
            mmio: "mmap" (default; needs the region's ``MMAP`` flag) or "pread" (a syscall per access).
            ops: syscall layer (tests pass a fake kernel).

        Returns:
            An open platform; nothing is left open when this raises.

        Raises:
            DeviceNotFound: no vfio container/group/device, or a missing region.
            NotSupported: no-IOMMU mode off, wrong API version, no ``MMAP``, not a platform device, an
                IRQ without eventfd/mask support.
            AccessDenied: permission denied (``CAP_SYS_RAWIO``, file modes).
            Busy: the group is not viable or the device is bound to another driver.
            InvalidArgument: malformed options, a region of the wrong size.
        """
        if mmio not in MMIO_MODES:
            raise InvalidArgument(f"vfio: mmio option must be one of {', '.join(MMIO_MODES)}, got {mmio!r}")
        _check_carveout_option(carveout)
        platform = cls(ops)
        try:
            platform._open_container(dev_root, sysfs_root)
            sysdev = find_vfio_device(sysfs_root, device)
            platform.sys_device = sysdev
            platform._attach_group(_group_path(dev_root, sysdev, group), sysfs_root)
            platform._open_device(sysdev, sysfs_root)
            platform._map_registers(sysdev, mmio)
            platform._setup_carveout(sysdev, carveout, dev_root, sysfs_root)
            platform._setup_irqs(sysdev)
        except BaseException:
            platform.close()
            raise
        return platform

    def _call(self, fn: Callable[[], T], what: str, fix: str = "") -> T:
        try:
            return fn()
        except OSError as err:
            raise os_error(err, what, fix) from None

    def _open_container(self, dev_root: str, sysfs_root: str) -> None:
        path = os.path.join(dev_root, "vfio", "vfio")
        try:
            self.handles.container = self.ops.open(path, os.O_RDWR)
        except FileNotFoundError:
            raise DeviceNotFound(f"vfio: no {path}: vfio is not loaded (modprobe vfio "
                                 "enable_unsafe_noiommu_mode=1; the kernel needs CONFIG_VFIO and "
                                 "CONFIG_VFIO_NOIOMMU)", errno=errno.ENOENT) from None
        except OSError as err:
            raise os_error(err, f"open {path}", "install the udev rule (`mali-uio setup udev --vfio`) "
                           "or run as root") from None
        container = self.handles.container
        version = self._call(lambda: get_api_version(self.ops, container), "VFIO_GET_API_VERSION")
        if version != VFIO_API_VERSION:
            raise NotSupported(f"vfio: {path} reports API version {version}; this backend speaks "
                               f"{VFIO_API_VERSION}", value=version)
        supported = self._call(lambda: check_extension(self.ops, container, VFIO_NOIOMMU_IOMMU),
                               f"VFIO_CHECK_EXTENSION({VFIO_NOIOMMU_IOMMU})")
        if supported <= 0:
            raise NotSupported(f"vfio: no-IOMMU mode is not enabled (CHECK_EXTENSION(VFIO_NOIOMMU_IOMMU="
                               f"{VFIO_NOIOMMU_IOMMU}) = {supported}); {noiommu_hint(sysfs_root)}")
        self.notes.append(f"vfio: container {path}, API {version}, no-IOMMU mode (taints the kernel)")

    def _attach_group(self, path: str, sysfs_root: str) -> None:
        try:
            self.handles.group = self.ops.open(path, os.O_RDWR)
        except FileNotFoundError:
            raise DeviceNotFound(f"vfio: no group node {path}; {noiommu_hint(sysfs_root)}",
                                 errno=errno.ENOENT) from None
        except OSError as err:
            raise os_error(err, f"open {path}", ROOT_HINT) from None
        group, container = self.handles.group, self.handles.container
        status = self._call(lambda: group_get_status(self.ops, group), f"VFIO_GROUP_GET_STATUS on {path}")
        if not status & GroupFlag.VIABLE:
            raise Busy(f"vfio: group {path} is not viable: another device of the group is bound to a "
                       "non-vfio driver (bind every device of the group to vfio-platform)")
        self._call(lambda: group_set_container(self.ops, group, container),
                   f"VFIO_GROUP_SET_CONTAINER on {path}")
        self._call(lambda: set_iommu(self.ops, container, VFIO_NOIOMMU_IOMMU),
                   f"VFIO_SET_IOMMU(VFIO_NOIOMMU_IOMMU={VFIO_NOIOMMU_IOMMU})", ROOT_HINT)
        self.notes.append(f"vfio: group {path} viable, attached, IOMMU type {VFIO_NOIOMMU_IOMMU} (no-IOMMU)")

    def _open_device(self, sysdev: VfioSysDevice, sysfs_root: str) -> None:
        group = self.handles.group
        self.handles.device = self._call(lambda: group_get_device_fd(self.ops, group, sysdev.name),
                                         f"VFIO_GROUP_GET_DEVICE_FD({sysdev.name!r})",
                                         reset_required_hint(sysfs_root))
        device = self.handles.device
        info = self._call(lambda: device_get_info(self.ops, device), "VFIO_DEVICE_GET_INFO")
        if not info.flags & DeviceFlag.PLATFORM:
            raise NotSupported(f"vfio: {sysdev.name} is not a platform device (flags {int(info.flags):#x})",
                               value=int(info.flags))
        if info.num_regions < 1:
            raise DeviceNotFound(f"vfio: {sysdev.name} has no regions; its DT node needs the GPU reg")
        self.device_flags = info.flags
        self.num_irqs = info.num_irqs
        for index in range(info.num_regions):
            self.region_info[index] = self._call(
                lambda i=index: device_get_region_info(self.ops, device, i),  # type: ignore[misc]
                f"VFIO_DEVICE_GET_REGION_INFO({index})")
        reset = ("it has a vfio reset handler" if info.flags & DeviceFlag.RESET else
                 "no vfio reset (reset_required=0): the driver resets the GPU through GPU_COMMAND")
        self.notes.append(f"vfio: device {sysdev.name}: {info.num_regions} regions, {info.num_irqs} irqs; "
                          f"{reset}")

    def _map_registers(self, sysdev: VfioSysDevice, mode: str) -> None:
        region = self.region_info[0]
        if region.size != RK3588_GPU_SIZE:
            raise InvalidArgument(f"vfio: region 0 of {sysdev.name} is {region.size:#x} bytes; the GPU "
                                  f"window is exactly {RK3588_GPU_SIZE:#x} (reg of gpu@fb000000): check the "
                                  "overlay",
                                  value=region.size)
        if ~region.flags & (RegionFlag.READ | RegionFlag.WRITE):
            raise AccessDenied(f"vfio: region 0 of {sysdev.name} is not read/write "
                               f"(flags {int(region.flags):#x})")
        phys = sysdev.reg[0][0] if sysdev.reg else None
        if mode == "pread":
            self.regions["gpu"] = VfioPreadMmioRegion("gpu", self.ops, self.handles.device, region,
                                                      RK3588_GPU_SIZE, phys)
            self.notes.append("vfio: GPU registers through pread/pwrite (one syscall per access)")
            return
        mm = self._mmap_region(sysdev, region, "GPU registers")
        self.regions["gpu"] = MappedMmioRegion("gpu", mm, size=RK3588_GPU_SIZE, phys_base=phys)
        where = f" at {phys:#x}" if phys is not None else ""
        self.notes.append(f"vfio: GPU registers = region 0 of {sysdev.name}{where}, mmap")

    def _mmap_region(self, sysdev: VfioSysDevice, region: RegionInfo, what: str) -> mmap.mmap:
        if not region.flags & RegionFlag.MMAP:
            raise NotSupported(
                f"vfio: region {region.index} ({what}) of {sysdev.name} offers no mmap (flags "
                f"{int(region.flags):#x}): vfio-platform maps only page-aligned regions; fix the node's reg, "
                "or open with mmio='pread'")
        device = self.handles.device
        mm = self._call(lambda: self.ops.mmap(device, region.size, region.offset),
                        f"mmap of region {region.index} ({what}, {region.size:#x} bytes at "
                        f"{region.offset:#x})")
        self.handles.mappings.append(mm)
        return mm

    def _setup_carveout(self, sysdev: VfioSysDevice, carveout: CarveoutOption, dev_root: str,
                        sysfs_root: str) -> None:
        if carveout is False or (carveout is None and len(self.region_info) < 2):
            self.notes.append("vfio: no carveout; DMA allocation is unavailable")
        elif isinstance(carveout, tuple):
            self.dma = self._carveout_devmem(dev_root, *carveout)
        elif isinstance(carveout, str):
            self.dma = self._carveout_uio(sysfs_root, dev_root, carveout)
        else:
            self.dma = self._carveout_region(sysdev, 1 if carveout is None or carveout is True else carveout)

    def _carveout_region(self, sysdev: VfioSysDevice, index: int) -> DmaAllocator:
        if index == 0 or index not in self.region_info:
            raise DeviceNotFound(f"vfio: carveout region {index}: {sysdev.name} has regions "
                                 f"0..{len(self.region_info) - 1}, and region 0 is the GPU window")
        if index >= len(sysdev.reg):
            raise DeviceNotFound(f"vfio: cannot tell the physical address of region {index}: "
                                 f"{sysdev.of_reg_path} lists {len(sysdev.reg)} reg entries")
        phys, dt_size = sysdev.reg[index]
        region = self.region_info[index]
        if region.size != dt_size:
            raise InvalidArgument(f"vfio: region {index} is {region.size:#x} bytes but reg entry {index} of "
                                  f"{sysdev.of_reg_path} says {dt_size:#x}", value=region.size)
        mm = self._mmap_region(sysdev, region, "carveout")
        # vfio-platform maps regions Device-nGnRnE (§4.5): no memset/memcpy on them.
        dma = DmaAllocator(phys, region.size, mm, device_memory=True, name=f"{sysdev.name} region {index}")
        self.notes.append(f"vfio: carveout = region {index} of {sysdev.name} at {phys:#x}+{region.size:#x}")
        return dma

    def _carveout_devmem(self, dev_root: str, phys: int, size: int) -> DmaAllocator:
        """The carveout as a /dev/mem window (no-IOMMU vfio has no MAP_DMA, §4.1; /dev/mem §5)."""
        page = mmap.PAGESIZE
        if phys < 0 or size <= 0 or phys % page or size % page:
            raise InvalidArgument(f"vfio: carveout {phys:#x}+{size:#x} must be page aligned ({page:#x})")
        path = os.path.join(dev_root, "mem")
        fd = self._call(lambda: self.ops.open(path, os.O_RDWR | os.O_SYNC), f"open {path} for the carveout",
                        "needs root (CAP_SYS_RAWIO) and CONFIG_DEVMEM")
        self.handles.extra_fds.append(fd)
        st = os.fstat(fd)
        # A regular file stands in for /dev/mem in tests; touching a mapping past its end is SIGBUS.
        if stat.S_ISREG(st.st_mode) and st.st_size < phys + size:
            raise InvalidArgument(f"vfio: carveout {phys:#x}+{size:#x} lies past the end of {path}")
        mm = self._call(lambda: self.ops.mmap(fd, size, phys), f"mmap of {path} at {phys:#x}+{size:#x}",
                        "CONFIG_STRICT_DEVMEM allows only no-map (reserved) RAM")
        self.handles.mappings.append(mm)
        self.notes.append(f"vfio: carveout = {path} at {phys:#x}+{size:#x}")
        # /dev/mem maps of no-map RAM are Device-nGnRnE (§5).
        return DmaAllocator(phys, size, mm, device_memory=True, name="vfio /dev/mem carveout")

    def _carveout_uio(self, sysfs_root: str, dev_root: str, map_name: str) -> DmaAllocator:
        """The carveout as the UIO map ``map_name`` of a ``mali-hil-*`` node (§3.7)."""
        from .uio import find_gpu_uio_nodes, map_uio, open_uio_device

        for node in find_gpu_uio_nodes(sysfs_root).values():
            m = node.map(map_name)
            if m is None:
                continue
            fd, path = open_uio_device(node, dev_root)
            self.handles.extra_fds.append(fd)
            mm = map_uio(fd, path, node, m)
            self.handles.mappings.append(mm)
            view = memoryview(mm)[m.offset:m.offset + m.length]
            try:
                dma = DmaAllocator(m.phys, m.length, view, device_memory=True,
                                   name=f"{node.name} map{m.index}")
            finally:
                view.release()
            self.notes.append(f"vfio: carveout = {node.name} ({node.uio}) map{m.index} {m.name!r} at "
                              f"{m.phys:#x}+{m.length:#x}")
            return dma
        raise DeviceNotFound(f"vfio: carveout={map_name!r}: no mali-hil-* UIO node under "
                             f"{os.path.join(sysfs_root, 'class', 'uio')} has a map of that name")

    def _setup_irqs(self, sysdev: VfioSysDevice) -> None:
        device = self.handles.device
        for index, name in enumerate(sysdev.irq_names(self.num_irqs)):
            if name is None or name in self.irqs:
                self.notes.append(f"vfio: irq index {index} is not a (new) GPU line; ignored")
                continue
            info = self._call(lambda i=index: device_get_irq_info(self.ops, device, i),  # type: ignore[misc]
                              f"VFIO_DEVICE_GET_IRQ_INFO({index})")
            needed = IrqInfoFlag.EVENTFD | IrqInfoFlag.MASKABLE
            if info.flags & needed != needed or info.count != 1:
                raise NotSupported(
                    f"vfio: irq {index} ({name}) of {sysdev.name} has flags {int(info.flags):#x}, count "
                    f"{info.count}: the GPU lines are level-high, so vfio must offer EVENTFD|MASKABLE with "
                    "count 1 (check the node's interrupts: IRQ_TYPE_LEVEL_HIGH = 4)")
            self.irqs[name] = VfioIrqLine(name, index, device, self.ops, device=sysdev.name, clock=self.clock)
            self.notes.append(f"vfio: irq {name} = index {index} (eventfd)")
        missing = [n for n in IRQ_NAMES if n not in self.irqs]
        if missing:
            self.notes.append(f"vfio: no {', '.join(missing)} line(s); poll their RAWSTAT registers instead")

    # -- life cycle --------------------------------------------------------------------------

    def describe(self) -> dict[str, object]:
        info = super().describe()
        if self.sys_device is not None:
            info["device"] = self.sys_device.name
        info["vfio_regions"] = {i: {"size": r.size, "flags": int(r.flags), "offset": r.offset}
                                for i, r in self.region_info.items()}
        return info

    def close(self) -> None:
        """Disarm the IRQs, unmap, close the device, group and container (the GPU may power off)."""
        if self.closed:
            return
        super().close()
        for mm in self.handles.mappings:
            try:
                mm.close()
            except BufferError:
                pass  # callers still hold views; the mapping goes away with the last of them
        for fd in (*self.handles.extra_fds, self.handles.device, self.handles.group, self.handles.container):
            if fd >= 0:
                self.ops.close(fd)
        self.handles = _Handles()


def _group_path(dev_root: str, sysdev: VfioSysDevice, group: int | str | None) -> str:
    """The group node: an explicit path or number, else ``noiommu-<N>`` from the device's iommu_group."""
    if isinstance(group, str):
        return group
    number = group if group is not None else sysdev.group
    if number is None:
        raise DeviceNotFound(f"vfio: {sysdev.name} has no iommu_group in sysfs ({sysdev.sys_path}): "
                             "vfio-platform puts it in a no-IOMMU group only if no-IOMMU mode was enabled "
                             "before binding (vfio.enable_unsafe_noiommu_mode=1), then rebind it")
    noiommu = os.path.join(dev_root, "vfio", f"noiommu-{number}")
    plain = os.path.join(dev_root, "vfio", str(number))
    if not os.path.exists(noiommu) and os.path.exists(plain):
        raise NotSupported(f"vfio: {sysdev.name} is in IOMMU-backed group {plain}, not a no-IOMMU group; "
                           "the RK3588 GPU has no IOMMU (is this the right device?)")
    return noiommu


def _check_carveout_option(carveout: object) -> None:
    if carveout is None or isinstance(carveout, (bool, str)):
        return
    if isinstance(carveout, int):
        if carveout < 1:
            raise InvalidArgument(f"vfio: carveout region index {carveout} must be >= 1 (region 0 is the "
                                  "GPU window)")
        return
    if (isinstance(carveout, tuple) and len(carveout) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in carveout)):
        return
    raise InvalidArgument(f"vfio: carveout option must be None, a bool, a region index, (phys, size) or a "
                          f"UIO map name, got {carveout!r}")


__all__ = [
    "DEVICE_CANDIDATES",
    "MMIO_MODES",
    "VFIO_DRIVER",
    "VfioIrqLine",
    "VfioOps",
    "VfioPlatform",
    "VfioPreadMmioRegion",
    "VfioSysDevice",
    "find_vfio_device",
    "noiommu_hint",
    "read_vfio_device",
    "reset_required_hint",
]
