"""Fake sysfs/dev trees for the hardware backends' tests.

:class:`FakeSysfs` lays out, under a temporary directory, what the kernel shows for
``uio_pdrv_genirq`` nodes (rk3588-platform-and-uio.md §3.2) with the same shapes as a real board:

* ``sys/devices/platform/<dev>/uio/uioN/{name,version,event,maps/mapM/{name,addr,size,offset}}``,
* ``sys/class/uio/uioN`` -> that directory, ``.../uioN/device`` -> the platform device,
* ``<platform device>/of_node`` -> ``sys/firmware/devicetree/base/<node>`` with ``compatible``
  (NUL-separated) and ``interrupts`` (big-endian cells),
* ``dev/uioN``: a regular file standing in for the character device.

Limits of the stand-in, which the tests take into account: mmap offset ``M * PAGESIZE`` of a regular
file maps the file's bytes from there, so the maps of one node overlap in the file (map1 starts one
page into map0); ``read``/``write`` on the file move a file position instead of talking to an IRQ;
``poll`` always reports it readable. The IRQ protocol is therefore tested on a socketpair.

:class:`FakeSysfs` also builds platform devices, DT nodes, module parameters and the vfio overlay's
device (for the vfio backend and ``mali-uio doctor``), and :class:`FakeVfioKernel` plays the kernel side
of vfio-platform in no-IOMMU mode for :class:`~uio_driver.platform.vfio.VfioPlatform` (``ops=``).
"""

from __future__ import annotations

import errno
import mmap
import os
import struct
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from uio_driver.platform.vfio_ioctl import VfioOps

PAGESIZE = mmap.PAGESIZE

GPU_BASE = 0xFB000000
GPU_SIZE = 0x200000
#: The example overlay's carveout (reference §7.4): 0x30000000, 256 MiB.
CARVEOUT_BASE = 0x30000000
CARVEOUT_SIZE = 0x10000000
#: GIC SPI numbers of the GPU lines (reference §0), written here independently of the driver.
SPI = {"job": 92, "mmu": 93, "gpu": 94}


def _page_up(n: int) -> int:
    return -(-n // PAGESIZE) * PAGESIZE


@dataclass
class FakeMap:
    """One ``maps/mapM`` entry as the kernel prints it."""

    name: str
    addr: int
    size: int
    offset: int = 0


@dataclass
class FakeUioNode:
    """A fake UIO node and its device file."""

    index: int
    name: str
    sys_dir: Path
    dev_path: Path
    maps: list[FakeMap] = field(default_factory=list)

    @property
    def uio(self) -> str:
        return f"uio{self.index}"

    def file_offset(self, map_index: int, byte: int = 0) -> int:
        """Where byte ``byte`` of map ``map_index`` lives in the device file (mmap semantics)."""
        return map_index * PAGESIZE + self.maps[map_index].offset + byte

    def pread(self, offset: int, size: int) -> bytes:
        with open(self.dev_path, "rb") as f:
            f.seek(offset)
            return f.read(size)

    def pwrite(self, offset: int, data: bytes) -> None:
        with open(self.dev_path, "r+b") as f:
            f.seek(offset)
            f.write(data)

    def read_u32(self, map_index: int, byte: int) -> int:
        return int.from_bytes(self.pread(self.file_offset(map_index, byte), 4), sys.byteorder)

    def write_u32(self, map_index: int, byte: int, value: int) -> None:
        self.pwrite(self.file_offset(map_index, byte), value.to_bytes(4, sys.byteorder))


class FakeSysfs:
    """Builder of a fake ``sys/`` + ``dev/`` tree under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.sys = self.root / "sys"
        self.dev = self.root / "dev"
        (self.sys / "class" / "uio").mkdir(parents=True, exist_ok=True)
        (self.sys / "devices" / "platform").mkdir(parents=True, exist_ok=True)
        (self.sys / "firmware" / "devicetree" / "base").mkdir(parents=True, exist_ok=True)
        self.dev.mkdir(parents=True, exist_ok=True)
        self.nodes: list[FakeUioNode] = []

    @property
    def sysfs_root(self) -> str:
        return str(self.sys)

    @property
    def dev_root(self) -> str:
        return str(self.dev)

    def add_uio(self, name: str, maps: list[FakeMap] | tuple[FakeMap, ...] = (), *, event: int = 0,
                compatible: tuple[str, ...] | None = ("generic-uio",), spi: int | None = None,
                of_node: bool = True, dev_file: bool = True, dev_size: int | None = None,
                index: int | None = None, of_path: str | None = None) -> FakeUioNode:
        """Add ``uioN`` named ``name`` with ``maps``; ``spi`` writes an ``interrupts`` property.

        ``of_path`` names the DT node (under ``sys/firmware/devicetree/base``) to link as ``of_node``,
        e.g. the overlay's ``mali-hil@fb000000``; by default a node named after the UIO node is made.
        """
        n = len(self.nodes) if index is None else index
        node_name = f"{name}@{maps[0].addr:x}" if maps else name
        plat_name = f"{maps[0].addr:x}.{name}" if maps else name
        plat = self.sys / "devices" / "platform" / plat_name
        if plat.exists():
            plat = plat.with_name(f"{plat_name}.{n}")
        uio_dir = plat / "uio" / f"uio{n}"
        uio_dir.mkdir(parents=True)
        (uio_dir / "name").write_text(name + "\n")
        (uio_dir / "version").write_text("devicetree\n")
        (uio_dir / "event").write_text(f"{event}\n")
        for i, m in enumerate(maps):
            d = uio_dir / "maps" / f"map{i}"
            d.mkdir(parents=True)
            (d / "name").write_text(m.name + "\n")
            (d / "addr").write_text(f"0x{m.addr:016x}\n")  # %pa on a 64-bit phys_addr_t
            (d / "size").write_text(f"0x{m.size:016x}\n")
            (d / "offset").write_text(f"0x{m.offset:x}\n")
        os.symlink(os.path.relpath(plat, uio_dir), uio_dir / "device")
        class_dir = self.sys / "class" / "uio"
        os.symlink(os.path.relpath(uio_dir, class_dir), class_dir / f"uio{n}")
        if of_node:
            of = self.sys / "firmware" / "devicetree" / "base" / (of_path or node_name)
            if of.exists() and of_path is None:  # same-named nodes (a misconfiguration under test): keep both
                of = of.with_name(f"{node_name}-{n}")
            of.mkdir(parents=True, exist_ok=True)
            if compatible is not None:
                (of / "compatible").write_bytes(b"".join(c.encode() + b"\0" for c in compatible))
            if spi is not None:
                # <GIC_SPI n IRQ_TYPE_LEVEL_HIGH 0>: 4-cell GIC specifier, big-endian (§7.4).
                (of / "interrupts").write_bytes(b"".join(v.to_bytes(4, "big") for v in (0, spi, 4, 0)))
            os.symlink(os.path.relpath(of, plat), plat / "of_node")
        node = FakeUioNode(n, name, uio_dir, self.dev / f"uio{n}", list(maps))
        if dev_file:
            need = max((i * PAGESIZE + _page_up(m.offset + m.size) for i, m in enumerate(maps)),
                       default=PAGESIZE)
            with open(node.dev_path, "wb") as f:
                f.truncate(need if dev_size is None else dev_size)
        self.nodes.append(node)
        return node

    def add_example_overlay(self, carveout_size: int = 0x100000, prefix: str = "mali-hil-") -> FakeUioNode:
        """The three nodes of the reference's example overlay (§7.4); returns the ``job`` node.

        The carveout defaults to 1 MiB instead of 256 MiB to keep the fake file small.
        """
        job = self.add_uio(f"{prefix}job", [FakeMap("gpu-regs", GPU_BASE, GPU_SIZE),
                                             FakeMap("dma", CARVEOUT_BASE, carveout_size)], spi=SPI["job"])
        self.add_uio(f"{prefix}mmu", spi=SPI["mmu"])
        self.add_uio(f"{prefix}gpu", spi=SPI["gpu"])
        return job

    def add_mem(self, size: int = GPU_BASE + GPU_SIZE) -> Path:
        """A sparse ``dev/mem`` of ``size`` bytes (truncate only: nothing is written)."""
        path = self.dev / "mem"
        with open(path, "wb") as f:
            f.truncate(size)
        return path

    def mem_read_u32(self, phys: int) -> int:
        with open(self.dev / "mem", "rb") as f:
            f.seek(phys)
            return int.from_bytes(f.read(4), sys.byteorder)

    def mem_write_u32(self, phys: int, value: int) -> None:
        with open(self.dev / "mem", "r+b") as f:
            f.seek(phys)
            f.write(value.to_bytes(4, sys.byteorder))

    # -- platform devices, vfio and the rest of a board's tree (doctor / vfio tests) --------------

    def dt_node(self, path: str, props: Mapping[str, bytes | str] | None = None) -> Path:
        """A device-tree node ``sys/firmware/devicetree/base/<path>`` with properties.

        A str value is written as a NUL-terminated DT string, bytes as they are; ``b""`` makes an
        empty (boolean) property such as ``no-map``.
        """
        node = self.sys / "firmware" / "devicetree" / "base" / path
        node.mkdir(parents=True, exist_ok=True)
        for key, value in (props or {}).items():
            (node / key).write_bytes(value.encode() + b"\0" if isinstance(value, str) else value)
        return node

    def add_platform_device(self, name: str, *, driver: str | None = None, of_node: str | None = None,
                            props: Mapping[str, bytes | str] | None = None, iommu_group: int | None = None,
                            runtime_status: str | None = None) -> Path:
        """``sys/devices/platform/<name>`` with its ``sys/bus/platform/devices`` link, an optional bound
        ``driver`` (both directions), ``of_node`` (created with ``props``), ``iommu_group`` link (a
        no-IOMMU group) and ``power/runtime_status``."""
        dev = self.sys / "devices" / "platform" / name
        dev.mkdir(parents=True, exist_ok=True)
        bus = self.sys / "bus" / "platform" / "devices"
        bus.mkdir(parents=True, exist_ok=True)
        if not (bus / name).is_symlink():
            os.symlink(os.path.relpath(dev, bus), bus / name)
        if driver is not None:
            drv = self.sys / "bus" / "platform" / "drivers" / driver
            drv.mkdir(parents=True, exist_ok=True)
            os.symlink(os.path.relpath(drv, dev), dev / "driver")
            os.symlink(os.path.relpath(dev, drv), drv / name)
        if of_node is not None:
            node = self.dt_node(of_node, props)
            os.symlink(os.path.relpath(node, dev), dev / "of_node")
        if iommu_group is not None:
            group = self.sys / "kernel" / "iommu_groups" / str(iommu_group)
            group.mkdir(parents=True, exist_ok=True)
            (group / "name").write_text("vfio-noiommu\n")
            os.symlink(os.path.relpath(group, dev), dev / "iommu_group")
        if runtime_status is not None:
            (dev / "power").mkdir(exist_ok=True)
            (dev / "power" / "runtime_status").write_text(runtime_status + "\n")
        return dev

    def set_param(self, module: str, param: str, value: str) -> None:
        """``sys/module/<module>/parameters/<param>``."""
        d = self.sys / "module" / module / "parameters"
        d.mkdir(parents=True, exist_ok=True)
        (d / param).write_text(value + "\n")

    def add_vfio_gpu(self, name: str = "fb000000.mali-hil", *, group: int = 0,
                     carveout: tuple[int, int] | None = (CARVEOUT_BASE, 0x100000),
                     interrupt_names: tuple[str, ...] | None = ("job", "mmu", "gpu"),
                     driver: str | None = "vfio-platform", noiommu: str | None = "Y",
                     reset_required: str | None = "N", dev_nodes: bool = True) -> Path:
        """The vfio overlay's device (dts/mali-hil-vfio.dts) bound to vfio-platform in no-IOMMU group
        ``group``, with the vfio module parameters and ``dev/vfio/{vfio,noiommu-N}`` files."""
        reg = [(GPU_BASE, GPU_SIZE)] + ([carveout] if carveout else [])
        props: dict[str, bytes | str] = {
            "compatible": "hil,mali-vfio",
            "reg": b"".join(a.to_bytes(8, "big") + s.to_bytes(8, "big") for a, s in reg),
            "reg-names": b"gpu-regs\0" + (b"dma\0" if carveout else b""),
        }
        if interrupt_names is not None:
            props["interrupt-names"] = b"".join(n.encode() + b"\0" for n in interrupt_names)
        dev = self.add_platform_device(name, driver=driver, of_node=f"mali-hil@{GPU_BASE:x}", props=props,
                                       iommu_group=group if driver == "vfio-platform" else None)
        if noiommu is not None:
            self.set_param("vfio", "enable_unsafe_noiommu_mode", noiommu)
        if reset_required is not None:
            self.set_param("vfio_platform", "reset_required", reset_required)
        if dev_nodes:
            (self.dev / "vfio").mkdir(exist_ok=True)
            (self.dev / "vfio" / "vfio").touch()
            if driver == "vfio-platform":
                (self.dev / "vfio" / f"noiommu-{group}").touch()
        return dev

    def add_board(self, *, compatible: tuple[str, ...] = ("radxa,rock-5b", "rockchip,rk3588"),
                  variant: str = "uio", carveout: tuple[int, int] = (CARVEOUT_BASE, 0x100000),
                  gpu_id: int = 0xA8670005, runtime_status: str = "active", debugfs: bool = True,
                  regulator_state: str = "enabled", always_on: bool = True) -> FakeUioNode | None:
        """A healthy RK3588 board after bring-up (what ``mali-uio doctor`` should pass), under ``root``.

        Lays out ``proc/device-tree`` (-> the sysfs DT) with the board compatible, ``gpu@fb000000``
        disabled, ``__symbols__/vdd_gpu_s0``, the overlay's reserved-memory carveout and mali-hil node
        (reference §7.4), the UIO nodes (``variant="uio"``; GPU_ID in map0) or the vfio device, the
        regulator in ``sys/class/regulator``, genpd/clk debugfs summaries, ``proc/iomem``, the udev rule
        and a firmware file. Returns the ``mali-hil-job`` node for the uio variant.
        """
        (self.root / "proc").mkdir(exist_ok=True)
        if not (self.root / "proc" / "device-tree").is_symlink():
            os.symlink("../sys/firmware/devicetree/base", self.root / "proc" / "device-tree")
        base, size = carveout
        reg = (GPU_BASE.to_bytes(8, "big") + GPU_SIZE.to_bytes(8, "big") + base.to_bytes(8, "big")
               + size.to_bytes(8, "big"))
        self.dt_node("", {"compatible": b"".join(c.encode() + b"\0" for c in compatible),
                          "model": "Fake board"})
        self.dt_node("gpu@fb000000", {"compatible": "rockchip,rk3588-mali", "status": "disabled"})
        rail = "spi@feb20000/pmic@0/regulators/dcdc-reg1"
        self.dt_node("__symbols__", {"vdd_gpu_s0": f"/{rail}"})
        rail_props: dict[str, bytes | str] = {"regulator-name": "vdd_gpu_s0"}
        if always_on:
            rail_props["regulator-always-on"] = b""
        self.dt_node(rail, rail_props)
        cells2 = (2).to_bytes(4, "big")
        self.dt_node("reserved-memory", {"#address-cells": cells2, "#size-cells": cells2, "ranges": b""})
        self.dt_node(f"reserved-memory/mali-hil-dma@{base:x}", {"reg": reg[16:], "no-map": b""})
        # power-domains = <&power 12>; clocks = <&cru 262>, <&cru 263>, <&cru 264> (phandles 1 and 2)
        pm = {"power-domains": b"".join(v.to_bytes(4, "big") for v in (1, 12)),
              "clocks": b"".join(v.to_bytes(4, "big") for v in (2, 262, 2, 263, 2, 264))}
        job = None
        if variant == "uio":
            self.dt_node(f"mali-hil@{GPU_BASE:x}", {"reg": reg, "reg-names": b"gpu-regs\0dma\0", **pm})
            maps = [FakeMap("gpu-regs", GPU_BASE, GPU_SIZE), FakeMap("dma", base, size)]
            job = self.add_uio("mali-hil-job", maps, spi=SPI["job"], of_path=f"mali-hil@{GPU_BASE:x}")
            self.add_uio("mali-hil-mmu", spi=SPI["mmu"], of_path="mali-hil-mmu-irq")
            self.add_uio("mali-hil-gpu", spi=SPI["gpu"], of_path="mali-hil-gpu-irq")
            job.write_u32(0, 0, gpu_id)
            power = (job.sys_dir / "device" / "power")
            power.mkdir(exist_ok=True)
            (power / "runtime_status").write_text(runtime_status + "\n")
        else:
            dev = self.add_vfio_gpu(carveout=carveout)
            self.dt_node(f"mali-hil@{GPU_BASE:x}", pm)
            (dev / "power").mkdir(exist_ok=True)
            (dev / "power" / "runtime_status").write_text(runtime_status + "\n")
        reg_dir = self.sys / "class" / "regulator" / "regulator.7"
        reg_dir.mkdir(parents=True, exist_ok=True)
        for key, value in (("name", "vdd_gpu_s0"), ("state", regulator_state), ("num_users", "1"),
                           ("microvolts", "750000")):
            (reg_dir / key).write_text(value + "\n")
        if debugfs:
            self.set_debugfs(gpu_domain="on",
                             clocks={"clk_gpu": 1, "clk_gpu_coregroup": 1, "clk_gpu_stacks": 1})
        (self.root / "proc" / "iomem").write_text(
            f"00200000-{base - 1:08x} : System RAM\n{base:08x}-{base + size - 1:08x} : reserved\n"
            f"fb000000-fb1fffff : fb000000.mali-hil\n")
        (self.root / "proc" / "modules").write_text("uio_pdrv_genirq 16384 3 - Live 0x0\n")
        rules = self.root / "etc" / "udev" / "rules.d"
        rules.mkdir(parents=True, exist_ok=True)
        (rules / "60-mali-hil.rules").write_text(
            'SUBSYSTEM=="uio", ATTR{name}=="mali-hil-*", GROUP="gpuhil", MODE="0660"\n')
        fw = self.root / "lib" / "firmware" / "arm" / "mali" / "arch10.8"
        fw.mkdir(parents=True, exist_ok=True)
        (fw / "mali_csffw.bin").write_bytes(b"fake firmware (never parsed by the doctor)")
        return job

    def set_debugfs(self, *, gpu_domain: str | None = "on", clocks: dict[str, int] | None = None) -> None:
        """``sys/kernel/debug/pm_genpd/pm_genpd_summary`` and ``clk/clk_summary`` in the kernel's
        column layout (domain/status, clock/enable count)."""
        debug = self.sys / "kernel" / "debug"
        (debug / "pm_genpd").mkdir(parents=True, exist_ok=True)
        (debug / "clk").mkdir(parents=True, exist_ok=True)
        lines = ["domain                          status          children", "    /device"
                 "                                             runtime status", "-" * 60,
                 "npu                             off-0", ]
        if gpu_domain is not None:
            lines += [f"gpu                             {gpu_domain}",
                      "    /devices/platform/fb000000.mali-hil                 active"]
        (debug / "pm_genpd" / "pm_genpd_summary").write_text("\n".join(lines) + "\n")
        rows = ["                                 enable  prepare  protect                               ",
                "   clock                          count    count    count        rate   accuracy phase",
                "-" * 60,
                " xin24m                              20       20        0    24000000          0     0"]
        rows += [f"    {name:<30} {count:>5}        1        0   200000000          0     0"
                 for name, count in (clocks or {}).items()]
        (debug / "clk" / "clk_summary").write_text("\n".join(rows) + "\n")


# --------------------------------------------------------------------------------------------
# A fake vfio kernel
# --------------------------------------------------------------------------------------------

# Written from rk3588-platform-and-uio.md §4.3/§4.4 independently of uio_driver.platform.vfio_ioctl,
# so the two check each other.
IOCTL = {
    0x3B64: "GET_API_VERSION", 0x3B65: "CHECK_EXTENSION", 0x3B66: "SET_IOMMU", 0x3B67: "GROUP_GET_STATUS",
    0x3B68: "GROUP_SET_CONTAINER", 0x3B69: "GROUP_UNSET_CONTAINER", 0x3B6A: "GROUP_GET_DEVICE_FD",
    0x3B6B: "DEVICE_GET_INFO", 0x3B6C: "DEVICE_GET_REGION_INFO", 0x3B6D: "DEVICE_GET_IRQ_INFO",
    0x3B6E: "DEVICE_SET_IRQS", 0x3B6F: "DEVICE_RESET",
}
#: ioctls whose argument is a struct starting with argsz (§4.4).
_ARGSZ_IOCTLS = ("GROUP_GET_STATUS", "DEVICE_GET_INFO", "DEVICE_GET_REGION_INFO", "DEVICE_GET_IRQ_INFO",
                 "DEVICE_SET_IRQS")
REGION_READ, REGION_WRITE, REGION_MMAP = 1, 2, 4
IRQ_EVENTFD, IRQ_MASKABLE, IRQ_AUTOMASKED = 1, 2, 4
SET_DATA_NONE, SET_DATA_BOOL, SET_DATA_EVENTFD = 1, 2, 4
SET_ACTION_MASK, SET_ACTION_UNMASK, SET_ACTION_TRIGGER = 8, 16, 32
DEVICE_PLATFORM, DEVICE_RESET = 4, 1
NOIOMMU = 8
_OFFSET_SHIFT = 40


@dataclass
class FakeRegion:
    """A device region backed by a temporary file (what the kernel's ioremap would reach)."""

    size: int
    flags: int
    path: Path


@dataclass
class FakeIrq:
    """One device IRQ as vfio_platform_irq.c keeps it: trigger eventfd, masked, and the line level."""

    flags: int = IRQ_EVENTFD | IRQ_MASKABLE | IRQ_AUTOMASKED
    count: int = 1
    trigger: int | None = None
    masked: bool = False
    level: bool = False
    fired: int = 0


def _err(code: int) -> OSError:
    return OSError(code, os.strerror(code))


class FakeVfioKernel(VfioOps):
    """The kernel side of vfio-platform in no-IOMMU mode, over in-memory state.

    Container, group and device fds are fake numbers (>= 10000); everything else (eventfds, /dev/mem,
    uio files) goes to the real OS. Knobs model each prerequisite: ``api_version``, ``noiommu``,
    ``viable``, ``cap_sys_rawio``, ``device_flags``, ``device_open_errno`` (e.g. a failing required
    reset), ``open_errno`` per path. ``calls`` records every ioctl by name in order.
    """

    def __init__(self, tree: FakeSysfs, *, device: str = "fb000000.mali-hil", group: int = 0,
                 carveout_size: int | None = 0x100000, irqs: int = 3, gpu_flags: int | None = None) -> None:
        self.tree = tree
        self.device_name = device
        self.container_path = str(tree.dev / "vfio" / "vfio")
        self.group_path = str(tree.dev / "vfio" / f"noiommu-{group}")
        self.api_version = 0
        self.noiommu = True
        self.viable = True
        self.cap_sys_rawio = True
        self.device_flags = DEVICE_PLATFORM
        self.device_open_errno: int | None = None
        self.open_errno: dict[str, int] = {}
        self.calls: list[str] = []
        #: Real fds (eventfds, /dev/mem, uio) closed through this layer, in order.
        self.closed_real: list[int] = []
        rw_mmap = REGION_READ | REGION_WRITE | REGION_MMAP
        self.regions = [self._region(0, GPU_SIZE, rw_mmap if gpu_flags is None else gpu_flags)]
        if carveout_size:
            self.regions.append(self._region(1, carveout_size, rw_mmap))
        self.irqs = [FakeIrq() for _ in range(irqs)]
        self.fds: dict[int, dict[str, object]] = {}
        self._next = 10000

    def _region(self, index: int, size: int, flags: int) -> FakeRegion:
        path = self.tree.root / f"vfio-region{index}.bin"
        with open(path, "wb") as f:
            f.truncate(size)
        return FakeRegion(size, flags, path)

    # -- syscalls ------------------------------------------------------------------------------

    def _new_fd(self, kind: str, **state: object) -> int:
        fd = self._next
        self._next += 1
        self.fds[fd] = {"kind": kind, **state}
        return fd

    def _kind(self, fd: int) -> str | None:
        entry = self.fds.get(fd)
        return None if entry is None else str(entry["kind"])

    def open(self, path: str, flags: int) -> int:
        if path in self.open_errno:
            raise _err(self.open_errno[path])
        if path in (self.container_path, self.group_path):
            if not os.path.exists(path):
                raise _err(errno.ENOENT)
            if path == self.container_path:
                return self._new_fd("container", iommu=None, groups=[])
            if not self.cap_sys_rawio:  # vfio_group_fops_open: no-IOMMU groups need CAP_SYS_RAWIO
                raise _err(errno.EPERM)
            return self._new_fd("group", container=None)
        return super().open(path, flags)

    def close(self, fd: int) -> None:
        entry = self.fds.pop(fd, None)
        if entry is None:
            super().close(fd)
            self.closed_real.append(fd)
        elif entry["kind"] == "device":
            for irq in self.irqs:  # vfio_platform_irq_cleanup on release
                irq.trigger, irq.masked = None, False

    def ioctl(self, fd: int, request: int, arg: int | bytearray = 0) -> int:
        name = IOCTL.get(request, hex(request))
        self.calls.append(name)
        kind = self._kind(fd)
        if kind is None:
            raise _err(errno.EBADF)
        if name in _ARGSZ_IOCTLS and (not isinstance(arg, bytearray) or len(arg) < 4
                                      or len(arg) < struct.unpack_from("<I", arg)[0]):
            raise _err(errno.EFAULT)  # not a struct, or argsz claims more bytes than were passed
        handler = getattr(self, f"_{kind}_{name}", None)
        if handler is None:
            raise _err(errno.ENOTTY)
        return int(handler(fd, arg))

    def mmap(self, fd: int, length: int, offset: int, writable: bool = True) -> mmap.mmap:
        if self._kind(fd) != "device":
            return super().mmap(fd, length, offset, writable)
        index, pgoff = offset >> _OFFSET_SHIFT, offset & ((1 << _OFFSET_SHIFT) - 1)
        if index >= len(self.regions):
            raise _err(errno.EINVAL)
        region = self.regions[index]
        if not region.flags & REGION_MMAP or pgoff + length > region.size:
            raise _err(errno.EINVAL)
        with open(region.path, "r+b") as f:
            return mmap.mmap(f.fileno(), length, flags=mmap.MAP_SHARED, offset=pgoff)

    def pread(self, fd: int, size: int, offset: int) -> bytes:
        if self._kind(fd) != "device":
            return super().pread(fd, size, offset)
        region, off = self._rw_region(offset, size, REGION_READ)
        with open(region.path, "rb") as f:
            f.seek(off)
            return f.read(size)

    def pwrite(self, fd: int, data: bytes, offset: int) -> int:
        if self._kind(fd) != "device":
            return super().pwrite(fd, data, offset)
        region, off = self._rw_region(offset, len(data), REGION_WRITE)
        with open(region.path, "r+b") as f:
            f.seek(off)
            return f.write(data)

    def _rw_region(self, offset: int, size: int, need: int) -> tuple[FakeRegion, int]:
        index, off = offset >> _OFFSET_SHIFT, offset & ((1 << _OFFSET_SHIFT) - 1)
        if index >= len(self.regions) or not self.regions[index].flags & need:
            raise _err(errno.EINVAL)
        if off + size > self.regions[index].size:
            raise _err(errno.EINVAL)
        return self.regions[index], off

    # -- container and group ioctls --------------------------------------------------------------

    def _container_GET_API_VERSION(self, fd: int, arg: object) -> int:
        return self.api_version

    def _container_CHECK_EXTENSION(self, fd: int, arg: object) -> int:
        return 1 if arg == NOIOMMU and self.noiommu else 0

    def _container_SET_IOMMU(self, fd: int, arg: object) -> int:
        state = self.fds[fd]
        if not state["groups"] or arg != NOIOMMU or not self.noiommu:
            raise _err(errno.EINVAL)
        if not self.cap_sys_rawio:  # vfio_noiommu_open
            raise _err(errno.EPERM)
        state["iommu"] = arg
        return 0

    def _group_GROUP_GET_STATUS(self, fd: int, arg: bytearray) -> int:
        if struct.unpack_from("<I", arg)[0] < 8:
            raise _err(errno.EINVAL)
        flags = (1 if self.viable else 0) | (2 if self.fds[fd]["container"] is not None else 0)
        struct.pack_into("<I", arg, 4, flags)
        return 0

    def _group_GROUP_SET_CONTAINER(self, fd: int, arg: bytearray) -> int:
        (container,) = struct.unpack_from("<i", arg)
        if not self.viable:
            raise _err(errno.EPERM)
        if self.fds[fd]["container"] is not None:
            raise _err(errno.EINVAL)
        if self._kind(container) != "container":
            raise _err(errno.EBADF)
        self.fds[fd]["container"] = container
        groups = self.fds[container]["groups"]
        assert isinstance(groups, list)
        groups.append(fd)
        return 0

    def _group_GROUP_GET_DEVICE_FD(self, fd: int, arg: bytearray) -> int:
        container = self.fds[fd]["container"]
        if container is None or self.fds[container]["iommu"] is None:  # type: ignore[index]
            raise _err(errno.EINVAL)
        name = bytes(arg).split(b"\0", 1)[0].decode()
        if name != self.device_name:
            raise _err(errno.ENODEV)
        if self.device_open_errno is not None:
            raise _err(self.device_open_errno)
        return self._new_fd("device")

    # -- device ioctls -------------------------------------------------------------------------

    def _device_DEVICE_GET_INFO(self, fd: int, arg: bytearray) -> int:
        if struct.unpack_from("<I", arg)[0] < 16:
            raise _err(errno.EINVAL)
        struct.pack_into("<3I", arg, 4, self.device_flags, len(self.regions), len(self.irqs))
        return 0

    def _device_DEVICE_GET_REGION_INFO(self, fd: int, arg: bytearray) -> int:
        argsz, _, index, _ = struct.unpack_from("<4I", arg)
        if argsz < 32 or index >= len(self.regions):
            raise _err(errno.EINVAL)
        region = self.regions[index]
        struct.pack_into("<I", arg, 4, region.flags)
        struct.pack_into("<2Q", arg, 16, region.size, index << _OFFSET_SHIFT)
        return 0

    def _device_DEVICE_GET_IRQ_INFO(self, fd: int, arg: bytearray) -> int:
        argsz, _, index, _ = struct.unpack_from("<4I", arg)
        if argsz < 16 or index >= len(self.irqs):
            raise _err(errno.EINVAL)
        struct.pack_into("<I", arg, 4, self.irqs[index].flags)
        struct.pack_into("<I", arg, 12, self.irqs[index].count)
        return 0

    def _device_DEVICE_RESET(self, fd: int, arg: object) -> int:
        if not self.device_flags & DEVICE_RESET:
            raise _err(errno.EINVAL)
        return 0

    def _device_DEVICE_SET_IRQS(self, fd: int, arg: bytearray) -> int:
        argsz, flags, index, start, count = struct.unpack_from("<5I", arg)
        if argsz < 20 or index >= len(self.irqs) or flags & ~0x3F:
            raise _err(errno.EINVAL)
        data = None
        if not flags & SET_DATA_NONE:
            size = 1 if flags & SET_DATA_BOOL else 4 if flags & SET_DATA_EVENTFD else 0
            if size == 0 or argsz - 20 < size:
                raise _err(errno.EINVAL)
            data = bytes(arg[20:20 + size])
        irq = self.irqs[index]
        action = flags & (SET_ACTION_MASK | SET_ACTION_UNMASK | SET_ACTION_TRIGGER)
        if action == SET_ACTION_TRIGGER:
            return self._trigger(irq, flags, start, count, data)
        if action not in (SET_ACTION_MASK, SET_ACTION_UNMASK):
            raise _err(errno.ENOTTY)
        if start != 0 or count != 1 or not irq.flags & IRQ_MASKABLE or flags & SET_DATA_EVENTFD:
            raise _err(errno.EINVAL)
        if data is not None and not data[0]:
            return 0  # DATA_BOOL false: nothing to do
        if action == SET_ACTION_MASK:
            irq.masked = True
        elif irq.masked:
            irq.masked = False
            if irq.level:  # a still-asserted level line interrupts again at once
                self._fire(irq)
        return 0

    def _trigger(self, irq: FakeIrq, flags: int, start: int, count: int, data: bytes | None) -> int:
        if count == 0 and flags & SET_DATA_NONE:
            irq.trigger = None
            return 0
        if start != 0 or count != 1:
            raise _err(errno.EINVAL)
        if flags & SET_DATA_EVENTFD:
            assert data is not None
            (efd,) = struct.unpack("<i", data)
            irq.trigger = None
            if efd >= 0:
                os.fstat(efd)  # eventfd_ctx_fdget: a bad fd fails with EBADF
                irq.trigger = efd
            return 0
        self._fire(irq)  # DATA_NONE / DATA_BOOL true: loopback trigger
        return 0

    def _fire(self, irq: FakeIrq) -> None:
        if irq.trigger is None or irq.masked:
            return
        if irq.flags & IRQ_AUTOMASKED:
            irq.masked = True
        irq.fired += 1
        os.eventfd_write(irq.trigger, 1)

    # -- test controls ---------------------------------------------------------------------------

    def raise_irq(self, index: int) -> None:
        """The device asserts line ``index`` (level): delivered unless masked or unarmed."""
        self.irqs[index].level = True
        self._fire(self.irqs[index])

    def lower_irq(self, index: int) -> None:
        """The driver cleared the cause: the level drops."""
        self.irqs[index].level = False

    def region_read_u32(self, index: int, offset: int) -> int:
        with open(self.regions[index].path, "rb") as f:
            f.seek(offset)
            return int.from_bytes(f.read(4), sys.byteorder)

    def region_write_u32(self, index: int, offset: int, value: int) -> None:
        with open(self.regions[index].path, "r+b") as f:
            f.seek(offset)
            f.write(value.to_bytes(4, sys.byteorder))

    def open_fake_fds(self) -> list[str]:
        """Kinds of the container/group/device fds still open (empty after a clean close)."""
        return sorted(str(e["kind"]) for e in self.fds.values())
