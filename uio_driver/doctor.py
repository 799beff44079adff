"""``mali-uio doctor``: check, one requirement at a time, that this machine can drive the GPU.

Each check reports ``ok``, ``warn``, ``fail`` or ``skip`` with a fix. The order follows the bring-up
checklist of shared/reference/rk3588-platform-and-uio.md §10 and the health checks of §6.6:

1. board: an RK3588/RK3588S device tree (:func:`~uio_driver.boards.detect_board`);
2. kernel-driver: panthor/panfrost/kbase not bound to the GPU (§6.5);
3. overlay: the ``mali-hil`` node(s) and ``&gpu`` disabled in the live device tree (§7.4);
4. devices: the UIO nodes (or the vfio container/group/device) present and accessible (§3, §4, §8.1);
5. udev: the rule that gives the ``gpuhil`` group access (§8.1);
6. carveout: the ``no-map`` reserved-memory node, the device map that exposes it, ``/proc/iomem`` (§3.7);
7. power: with the device open (runtime PM resumed), the node's power domain and clocks (§3.5, §6.6);
8. regulator: the GPU rail on and ``regulator-always-on`` (§6.3);
9. firmware: :func:`~uio_driver.firmware.locate.locate_firmware` on hardware (no synthetic fallback);
10. gpu-id: ``GPU_ID`` = 0xa8670005, read only when every check that makes the access safe passed —
    an access to an unpowered GPU hangs the bus (§5, §6.6).

Every file is read under ``root`` (tests build fake trees); a missing board is a ``fail`` with a
message, never a traceback.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .boards import Detection, detect_board
from .errors import MaliError
from .firmware.locate import RK3588_GPU_ID, locate_firmware
from .platform.base import Platform
from .platform.uio_sysfs import DEFAULT_PREFIX, UioNodeInfo, find_gpu_uio_nodes

STATUSES = ("ok", "warn", "fail", "skip")
#: Checks after which a failure makes touching the GPU unsafe.
SAFETY_CHECKS = ("board", "kernel-driver", "overlay", "devices", "power", "regulator")
#: Platform drivers that would own the GPU (§6.5: panthor, panfrost; kbase registers "mali", some
#: vendor trees "bifrost" [unverified]).
GPU_KERNEL_DRIVERS = ("panthor", "panfrost", "mali", "bifrost")
#: Kernel modules of those drivers (kbase module names are [unverified] in §6.5).
GPU_KERNEL_MODULES = ("panthor", "panfrost", "mali_kbase", "bifrost_kbase")
GPU_PLATFORM_DEVICE = "fb000000.gpu"
#: Names of the GPU clocks in clk_summary ([inferred] naming, §3.5).
GPU_CLOCKS = ("clk_gpu", "clk_gpu_coregroup", "clk_gpu_stacks")
#: genpd name of RK3588_PD_GPU (pm-domains.c).
GPU_DOMAIN = "gpu"
UDEV_RULES = ("etc/udev/rules.d/60-mali-hil.rules", "lib/udev/rules.d/60-mali-hil.rules")
CAP_SYS_RAWIO = 17
OVERLAY_FIX = ("build and install the overlay: mali-uio dts build auto && sudo mali-uio dts install auto "
               "--boot <extlinux|armbian|...>, then reboot (keep a boot entry without it)")
SETUP_FIX = "sudo mali-uio setup udev (modprobe options, modules-load, udev rules), then reboot"
_IOMEM_RE = re.compile(r"^\s*([0-9a-fA-F]+)-([0-9a-fA-F]+) : (.+?)\s*$")


@dataclass
class CheckResult:
    """One requirement: ``status`` (ok/warn/fail/skip), what was found, and how to fix it.

    ``blocks_mmio`` is True when the result does not prove the GPU is safe to touch.
    """

    name: str
    status: str
    summary: str
    fix: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    blocks_mmio: bool | None = None

    @property
    def blocking(self) -> bool:
        return self.status in ("fail", "skip") if self.blocks_mmio is None else self.blocks_mmio

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "summary": self.summary, "fix": self.fix,
                "details": self.details}


@dataclass
class DoctorReport:
    """All results, in check order."""

    root: str
    checks: list[CheckResult]

    @property
    def ok(self) -> bool:
        return all(c.status != "fail" for c in self.checks)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def check(self, name: str) -> CheckResult:
        return next(c for c in self.checks if c.name == name)

    def to_dict(self) -> dict[str, Any]:
        counts = {s: sum(c.status == s for c in self.checks) for s in STATUSES}
        return {"root": self.root, "ok": self.ok, "counts": counts,
                "checks": [c.to_dict() for c in self.checks]}


def _ok(name: str, summary: str, fix: str = "", details: dict[str, Any] | None = None,
        blocks_mmio: bool | None = None) -> CheckResult:
    return CheckResult(name, "ok", summary, fix, details or {}, blocks_mmio)


def _warn(name: str, summary: str, fix: str = "", details: dict[str, Any] | None = None,
          blocks_mmio: bool | None = None) -> CheckResult:
    return CheckResult(name, "warn", summary, fix, details or {}, blocks_mmio)


def _fail(name: str, summary: str, fix: str = "", details: dict[str, Any] | None = None) -> CheckResult:
    return CheckResult(name, "fail", summary, fix, details or {})


def _skip(name: str, summary: str, fix: str = "") -> CheckResult:
    return CheckResult(name, "skip", summary, fix)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _text(path: Path) -> str | None:
    raw = _read(path)
    return None if raw is None else raw.decode(errors="replace").strip("\0").strip()


def _strings(path: Path) -> tuple[str, ...]:
    raw = _read(path) or b""
    return tuple(s.decode(errors="replace") for s in raw.split(b"\0") if s)


def _cells(raw: bytes) -> list[int]:
    return [int.from_bytes(raw[i:i + 4], "big") for i in range(0, len(raw) - len(raw) % 4, 4)]


def _link(path: Path) -> str | None:
    try:
        return os.path.basename(os.readlink(path))
    except OSError:
        return None


class Doctor:
    """Runs the checks against the system under ``root``.

    Args:
        root: system root ("/" on a board; a fake tree in tests).
        firmware: explicit firmware file or directory (``--firmware``).
        env: environment for ``MALI_UIO_FIRMWARE_DIR`` (default ``os.environ``).
        user: (effective uid, group ids) whose access is checked (default: this process).
        vfio_ops: syscall layer for the vfio variant (tests pass a fake kernel).
    """

    def __init__(self, root: Path | str = "/", *, firmware: str | None = None,
                 env: Mapping[str, str] | None = None, user: tuple[int, list[int]] | None = None,
                 vfio_ops: Any = None) -> None:
        self.root = Path(root)
        self.firmware = firmware
        self.env = env
        self.uid, self.gids = user if user is not None else (os.geteuid(), os.getgroups() + [os.getegid()])
        self.vfio_ops = vfio_ops
        self.detection: Detection | None = None
        self.dt = self.root / "proc" / "device-tree"
        self.variant: str | None = None
        self.hil_node: Path | None = None
        self.nodes: dict[str, UioNodeInfo] = {}
        self.carveout: tuple[int, int] | None = None
        self.platform: Platform | None = None
        self.results: list[CheckResult] = []

    def p(self, rel: str) -> Path:
        return self.root / rel

    @property
    def sysfs(self) -> str:
        return str(self.p("sys"))

    # -- driver ----------------------------------------------------------------------------------

    def run(self) -> DoctorReport:
        """Run every check in order; always closes what it opened."""
        steps: list[tuple[str, Callable[[], CheckResult]]] = [
            ("board", self.check_board), ("kernel-driver", self.check_kernel_driver),
            ("overlay", self.check_overlay), ("devices", self.check_devices), ("udev", self.check_udev),
            ("carveout", self.check_carveout), ("power", self.check_power),
            ("regulator", self.check_regulator), ("firmware", self.check_firmware),
            ("gpu-id", self.check_gpu_id)]
        try:
            for name, step in steps:
                if self.results and self.results[0].status == "fail":
                    self.results.append(_skip(name, "not checked: no RK3588 board"))
                    continue
                self.results.append(self._guarded(name, step))
        finally:
            if self.platform is not None:
                self.platform.close()
        return DoctorReport(str(self.root), self.results)

    @staticmethod
    def _guarded(name: str, step: Callable[[], CheckResult]) -> CheckResult:
        try:
            return step()
        except (MaliError, OSError, ValueError) as err:
            return _fail(name, f"check failed: {err}")

    # -- 1. board ----------------------------------------------------------------------------

    def check_board(self) -> CheckResult:
        found = detect_board(self.root)
        self.detection = found
        if not self.dt.is_dir() and (self.p("sys/firmware/devicetree/base")).is_dir():
            self.dt = self.p("sys/firmware/devicetree/base")
        if found.status == "board":
            return _ok("board", found.message, details=found.to_dict())
        if found.status == "generic":
            return _warn("board", found.message, "add a boards/*.toml profile for this board",
                         found.to_dict(), blocks_mmio=False)
        return _fail("board", f"no RK3588 board here: {found.message}",
                     "mali-uio drives the Mali-G610 of RK3588/RK3588S boards; elsewhere use the "
                     "simulator (--backend sim)", found.to_dict())

    # -- 2. kernel GPU driver ------------------------------------------------------------------

    def check_kernel_driver(self) -> CheckResult:
        bound = {}
        dev_driver = _link(self.p(f"sys/bus/platform/devices/{GPU_PLATFORM_DEVICE}/driver"))
        if dev_driver is not None and dev_driver not in ("uio_pdrv_genirq", "vfio-platform"):
            bound[GPU_PLATFORM_DEVICE] = dev_driver
        for drv in GPU_KERNEL_DRIVERS:
            drv_dir = self.p(f"sys/bus/platform/drivers/{drv}")
            for entry in sorted(os.listdir(drv_dir)) if drv_dir.is_dir() else []:
                if entry.startswith("fb000000."):
                    bound[entry] = drv
        loaded = [m.split()[0] for m in (_text(self.p("proc/modules")) or "").splitlines() if m.strip()]
        modules = [m for m in GPU_KERNEL_MODULES if m in loaded]
        status = _text(self.dt / "gpu@fb000000" / "status")
        details = {"bound": bound, "modules": modules, "gpu_node_status": status}
        if bound:
            dev, drv = next(iter(bound.items()))
            return _fail("kernel-driver", f"{dev} is bound to the kernel driver {drv}",
                         f"apply the overlay (it disables &gpu), or now: echo {dev} > "
                         f"/sys/bus/platform/drivers/{drv}/unbind; and blacklist it: echo 'blacklist "
                         f"{drv}' > /etc/modprobe.d/no-{drv}.conf", details)
        if modules:
            return _warn("kernel-driver", f"GPU driver module(s) {', '.join(modules)} loaded but "
                         "not bound to the GPU", "blacklist them in /etc/modprobe.d/ (§6.5)", details,
                         blocks_mmio=False)
        return _ok("kernel-driver", "no kernel GPU driver is bound to the GPU"
                   + (f" (gpu@fb000000 status {status!r})" if status else ""), details=details)

    # -- 3. overlay ----------------------------------------------------------------------------

    def check_overlay(self) -> CheckResult:
        listing = os.listdir(self.dt) if self.dt.is_dir() else []
        nodes = sorted(d for d in listing if d.startswith("mali-hil@"))
        details: dict[str, Any] = {"device_tree": str(self.dt), "nodes": nodes}
        if not nodes:
            extra = "" if (self.dt / "__symbols__").is_dir() else (
                "; the base DTB has no __symbols__, so overlays cannot apply: use a DTB built with dtc -@")
            return _fail("overlay", f"the mali-hil overlay is not applied (no mali-hil@… node "
                         f"in {self.dt})", OVERLAY_FIX + extra, details)
        self.hil_node = self.dt / nodes[0]
        compatible = _strings(self.hil_node / "compatible")
        self.variant = "vfio" if "hil,mali-vfio" in compatible else "uio"
        details.update(variant=self.variant, compatible=list(compatible))
        gpu_status = _text(self.dt / "gpu@fb000000" / "status")
        problems = []
        if gpu_status not in (None, "disabled"):
            problems.append(f"gpu@fb000000 has status {gpu_status!r} (the overlay sets \"disabled\")")
        if self.variant == "uio":
            missing = [n for n in ("mali-hil-mmu-irq", "mali-hil-gpu-irq") if not (self.dt / n).is_dir()]
            if missing:
                problems.append(f"no {', '.join(missing)} node(s): only the job interrupt is delivered")
        if problems:
            return _warn("overlay", f"{self.variant} overlay applied, but " + "; ".join(problems),
                         OVERLAY_FIX, details, blocks_mmio=gpu_status not in (None, "disabled"))
        first = compatible[0] if compatible else "?"
        return _ok("overlay", f"{self.variant} overlay applied ({nodes[0]}, {first}; gpu@fb000000 disabled)",
                   details=details)

    # -- 4. device nodes -----------------------------------------------------------------------

    def _access(self, path: Path) -> bool:
        try:
            st = path.stat()
        except OSError:
            return False
        if self.uid == 0:
            return True
        mode = st.st_mode
        if st.st_uid == self.uid:
            bits = stat.S_IRUSR | stat.S_IWUSR
        elif st.st_gid in self.gids:
            bits = stat.S_IRGRP | stat.S_IWGRP
        else:
            bits = stat.S_IROTH | stat.S_IWOTH
        return mode & bits == bits

    def check_devices(self) -> CheckResult:
        if self.variant == "vfio":
            return self._check_vfio_devices()
        self.nodes = find_gpu_uio_nodes(self.sysfs, DEFAULT_PREFIX)
        details: dict[str, Any] = {"nodes": {k: n.to_dict() for k, n in self.nodes.items()}}
        job = next((n for n in self.nodes.values() if n.gpu_map is not None), None)
        if job is None:
            return _fail("devices", f"no {DEFAULT_PREFIX}* UIO node with the GPU registers under "
                         f"{self.sysfs}/class/uio", "load uio_pdrv_genirq with of_id=generic-uio: "
                         + SETUP_FIX + " (built-in driver: boot with uio_pdrv_genirq.of_id=generic-uio)",
                         details)
        absent = [f"/dev/{n.uio} ({n.name})" for n in self.nodes.values()
                  if not self.p(f"dev/{n.uio}").exists()]
        if absent:
            return _fail("devices", f"sysfs lists the UIO nodes but {', '.join(absent)} do(es) not exist",
                         "is udev running? udevadm trigger -s uio (reference §8.1)", details)
        denied = [f"/dev/{n.uio} ({n.name})" for n in self.nodes.values()
                  if not self._access(self.p(f"dev/{n.uio}"))]
        if denied:
            return _fail("devices", f"no read/write access to {', '.join(denied)} for uid "
                         f"{self.uid}", "install the udev rule (sudo mali-uio setup udev), add yourself "
                         "to group gpuhil (sudo usermod -aG gpuhil $USER; log in again), or run as root",
                         details)
        missing = [f"{DEFAULT_PREFIX}{k}" for k in ("job", "mmu", "gpu")
                   if not any(n.irq == k for n in self.nodes.values())]
        names = ", ".join(f"{n.name}={n.uio}" for n in self.nodes.values())
        if missing:
            return _warn("devices", f"UIO nodes {names}; no interrupt from {', '.join(missing)}",
                         "check the overlay's mali-hil-*-irq nodes", details, blocks_mmio=False)
        return _ok("devices", f"UIO nodes {names}, all accessible", details=details)

    def _rawio(self) -> bool:
        for line in (_text(self.p("proc/self/status")) or "").splitlines():
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> CAP_SYS_RAWIO & 1)
        return self.uid == 0

    def _check_vfio_devices(self) -> CheckResult:
        from .platform.vfio import find_vfio_device, noiommu_hint

        container = self.p("dev/vfio/vfio")
        if not container.exists():
            return _fail("devices", f"no {container}", "modprobe vfio enable_unsafe_noiommu_mode=1 "
                         "(kernel needs CONFIG_VFIO_NOIOMMU); " + SETUP_FIX + " --vfio")
        try:
            dev = find_vfio_device(self.sysfs)
        except MaliError as err:
            return _fail("devices", str(err), SETUP_FIX.replace("udev", "udev --vfio"))
        group = self.p(f"dev/vfio/noiommu-{dev.group}")
        details = {"device": dev.name, "group": str(group)}
        if dev.group is None or not group.exists():
            return _fail("devices", f"{dev.name} has no no-IOMMU group node ({group})",
                         noiommu_hint(self.sysfs), details)
        if not self._rawio():
            return _fail("devices", f"vfio device {dev.name} ready, but this process lacks "
                         "CAP_SYS_RAWIO", "no-IOMMU vfio needs root (CAP_SYS_RAWIO, §4.1): run as root, "
                         "or use the uio overlay", details)
        return _ok("devices", f"vfio device {dev.name} in {group}", details=details)

    # -- 5. udev -------------------------------------------------------------------------------

    def check_udev(self) -> CheckResult:
        for rel in UDEV_RULES:
            text = _text(self.p(rel))
            if text is not None:
                if DEFAULT_PREFIX in text:
                    return _ok("udev", f"/{rel} installed")
                return _warn("udev", f"/{rel} has no {DEFAULT_PREFIX}* rule", SETUP_FIX)
        status = "ok" if self.uid == 0 else "warn"
        return CheckResult("udev", status, "no 60-mali-hil.rules: device nodes are root-only"
                           + (" (running as root)" if self.uid == 0 else ""), SETUP_FIX)

    # -- 6. carveout ---------------------------------------------------------------------------

    def _reserved(self) -> list[tuple[str, int, int, bool]]:
        rm = self.dt / "reserved-memory"
        acells = (_cells(_read(rm / "#address-cells") or b"\0\0\0\2") or [2])[0]
        scells = (_cells(_read(rm / "#size-cells") or b"\0\0\0\2") or [2])[0]
        out = []
        for name in sorted(os.listdir(rm)) if rm.is_dir() else []:
            cells = _cells(_read(rm / name / "reg") or b"")
            if len(cells) < acells + scells:
                continue
            base = int("".join(f"{c:08x}" for c in cells[:acells]), 16)
            size = int("".join(f"{c:08x}" for c in cells[acells:acells + scells]), 16)
            out.append((name, base, size, (rm / name / "no-map").exists()))
        return out

    def _device_carveout(self) -> tuple[int, int] | None:
        for node in self.nodes.values():
            m = node.map("dma") or next((x for x in node.maps if x is not node.gpu_map), None)
            if m is not None:
                return m.phys, m.length
        if self.hil_node is not None:
            cells = _cells(_read(self.hil_node / "reg") or b"")
            if len(cells) >= 8:
                return (cells[4] << 32 | cells[5]), (cells[6] << 32 | cells[7])
        return None

    def _iomem_reserved(self, base: int, size: int) -> bool | None:
        entries = [(int(a, 16), int(b, 16), what) for a, b, what in
                   (m.groups() for m in map(_IOMEM_RE.match, (_text(self.p("proc/iomem")) or "").splitlines())
                    if m)]
        if not entries or all(a == 0 and b == 0 for a, b, _ in entries):
            return None  # unreadable, or addresses hidden from non-root readers
        return any(what == "reserved" and a <= base and base + size - 1 <= b for a, b, what in entries)

    def check_carveout(self) -> CheckResult:
        mapped = self._device_carveout()
        reserved = self._reserved()
        hil = [r for r in reserved if r[0].startswith("mali-hil-dma")]
        same = [r for r in reserved if mapped and (r[1], r[2]) == mapped]
        match = (same or hil)[0] if same or hil else None
        details: dict[str, Any] = {"reserved_memory": [r[:3] for r in reserved], "device_map": mapped}
        if match is None:
            return _fail("carveout", "no mali-hil-dma reserved-memory node (no DMA carveout)",
                         OVERLAY_FIX, details)
        name, base, size, no_map = match
        self.carveout = (base, size)
        where = f"{name} at {base:#x}+{size:#x} ({size >> 20} MiB)"
        if not no_map:
            return _fail("carveout", f"{where} lacks no-map: the kernel may use that RAM",
                         "use the overlay's reserved-memory node (no-map)", details)
        if mapped is not None and mapped != (base, size):
            return _fail("carveout", f"{where}, but the device maps {mapped[0]:#x}+{mapped[1]:#x}",
                         "rebuild the overlay so the device's dma reg equals the reservation", details)
        listed = self._iomem_reserved(base, size)
        details["iomem_reserved"] = listed
        if listed is False:
            return _warn("carveout", f"{where}, but /proc/iomem lists no reserved range covering "
                         "it", "check dmesg | grep -i 'reserved mem': the reservation may have failed "
                         "(overlapping memory, §7.5)", details, blocks_mmio=False)
        note = "" if listed else "; /proc/iomem unreadable here (run as root to check)"
        return _ok("carveout", f"{where}, no-map" + (", in /proc/iomem" if listed else "") + note,
                   details=details)

    # -- 7. power and clocks ---------------------------------------------------------------------

    def _open_device(self) -> tuple[Path | None, Path | None]:
        """Open the backend (holding its fds resumes runtime PM); (platform device dir, of_node)."""
        if self.variant == "vfio":
            from .platform.vfio import VfioPlatform

            vp = VfioPlatform.discover(dev_root=str(self.p("dev")), sysfs_root=self.sysfs, ops=self.vfio_ops)
            self.platform = vp
            dev = Path(vp.sys_device.sys_path) if vp.sys_device else None
            return dev, (dev / "of_node" if dev else None)
        from .platform.uio import UioPlatform

        up = UioPlatform.discover(sysfs_root=self.sysfs, dev_root=str(self.p("dev")))
        self.platform = up
        job = next(n for n in up.nodes.values() if n.gpu_map is not None)
        dev = Path(job.sys_path) / "device"
        return dev, dev / "of_node"

    def _genpd(self) -> bool | None:
        for line in (_text(self.p("sys/kernel/debug/pm_genpd/pm_genpd_summary")) or "").splitlines():
            tokens = line.split()
            if len(tokens) >= 2 and tokens[0] == GPU_DOMAIN:
                return tokens[1].startswith("on")
        return None

    def _clocks(self) -> dict[str, int]:
        counts = {}
        for line in (_text(self.p("sys/kernel/debug/clk/clk_summary")) or "").splitlines():
            tokens = line.split()
            if len(tokens) >= 2 and tokens[0] in GPU_CLOCKS and tokens[1].isdigit():
                counts[tokens[0]] = int(tokens[1])
        return counts

    def check_power(self) -> CheckResult:
        if any(r.status == "fail" for r in self.results if r.name in ("devices", "overlay")):
            return _skip("power", "not checked: the device could not be opened safely")
        dev, of_node = self._open_device()
        runtime = _text(dev / "power" / "runtime_status") if dev else None
        pm_clk = of_node is not None and (of_node / "power-domains").exists() and \
            len(_read(of_node / "clocks") or b"") >= 3 * 8
        domain, clocks = self._genpd(), self._clocks()
        details = {"runtime_status": runtime, "node_has_power_domain_and_clocks": pm_clk,
                   "genpd_gpu_on": domain, "clock_enable_counts": clocks}
        off = [c for c, n in clocks.items() if n == 0]
        if domain is False or off or runtime == "suspended":
            what = ("power domain gpu is off" if domain is False
                    else f"clocks {', '.join(off)} are gated" if off
                    else "the device stayed runtime-suspended after open")
            return _fail("power", f"with the device open, {what}", "give the device node "
                         "power-domains = <&power 12> and the three GPU clocks (the overlay does), so "
                         "opening it powers the GPU (§3.5)", details)
        if domain and clocks and len(clocks) == len(GPU_CLOCKS):
            return _ok("power", f"power domain gpu on, clocks enabled {clocks}", details=details)
        if runtime == "active" and pm_clk:
            return _ok("power", "device runtime-active with power-domains and clocks on its node"
                       + ("" if domain else " (debugfs unreadable: genpd/clock state not shown)"),
                       details=details)
        return _warn("power", "cannot confirm the GPU is powered and clocked (runtime status "
                     f"{runtime!r}; genpd/clk_summary unreadable or without the GPU)",
                     "run as root with debugfs mounted, and use the overlay's node (power-domains + "
                     "clocks)", details, blocks_mmio=True)

    # -- 8. regulator --------------------------------------------------------------------------

    def check_regulator(self) -> CheckResult:
        profile = self.detection.profile if self.detection else None
        label = profile.gpu_regulator_label if profile else "vdd_gpu_s0"
        node_path = _text(self.dt / "__symbols__" / label)
        node = self.dt / node_path.lstrip("/") if node_path else None
        always_on = node is not None and (node / "regulator-always-on").exists()
        name = (_text(node / "regulator-name") if node else None) or label
        sysdir = self._regulator_sysfs(name)
        state = _text(sysdir / "state") if sysdir else None
        users = _text(sysdir / "num_users") if sysdir else None
        details = {"label": label, "dt_node": node_path, "always_on": always_on, "sysfs": str(sysdir)
                   if sysdir else None, "state": state, "num_users": users,
                   "microvolts": _text(sysdir / "microvolts") if sysdir else None}
        fix = f"apply the overlay's fragment &{label} {{ regulator-always-on; }} (§6.3)"
        if state == "disabled":
            return _fail("regulator", f"{name} is disabled: the GPU has no supply", fix, details)
        if always_on and state == "enabled":
            return _ok("regulator", f"{name} enabled and regulator-always-on", details=details)
        if state == "enabled" and users not in (None, "0"):
            return _warn("regulator", f"{name} enabled by {users} consumer(s) but not always-on",
                         fix, details, blocks_mmio=False)
        if state == "enabled":
            debug = "regulator_ignore_unused" in (_text(self.p("proc/cmdline")) or "")
            if debug:
                return _warn("regulator", f"{name} kept on only by regulator_ignore_unused "
                             "(debug setting)", fix, details, blocks_mmio=False)
            return _fail("regulator", f"{name} is on with no consumer and not always-on: the "
                         "regulator core switches it off ~30 s after boot", fix, details)
        return _warn("regulator", f"cannot find the state of {name} (no /sys/class/regulator "
                     "entry)", fix, details, blocks_mmio=True)

    def _regulator_sysfs(self, name: str) -> Path | None:
        base = self.p("sys/class/regulator")
        for entry in sorted(os.listdir(base)) if base.is_dir() else []:
            if _text(base / entry / "name") == name:
                return base / entry
        return None

    # -- 9. firmware ---------------------------------------------------------------------------

    def check_firmware(self) -> CheckResult:
        try:
            found = locate_firmware(self.firmware, simulated=False, env=self.env,
                                    firmware_root=str(self.p("lib/firmware")))
        except MaliError as err:
            tried = err.details.get("paths", [])
            return _fail("firmware", str(err), "install Arm's mali_csffw.bin (linux-firmware) as "
                         "/lib/firmware/arm/mali/arch10.8/mali_csffw.bin, or pass --firmware PATH",
                         {"tried": tried})
        return _ok("firmware", found.description, details={"path": found.path, "tried": found.tried})

    # -- 10. GPU_ID ----------------------------------------------------------------------------

    def check_gpu_id(self) -> CheckResult:
        unsafe = [r.name for r in self.results if r.name in SAFETY_CHECKS and r.blocking]
        if unsafe or self.platform is None:
            return _skip("gpu-id", f"GPU_ID not read: {', '.join(unsafe) or 'device'} not "
                         "confirmed; touching an unpowered GPU hangs the bus", "fix the checks above")
        from .regs import RegisterAccess
        from .regs import gpu_control as gc

        value = RegisterAccess(self.platform.mmio).read(gc.GPU_ID)
        backend = self.platform.name
        details = {"gpu_id": f"{value:#010x}", "expected": f"{RK3588_GPU_ID:#010x}", "backend": backend}
        if value == RK3588_GPU_ID:
            return _ok("gpu-id", f"GPU_ID = {value:#010x} (Mali-G610, arch 10.8) via the "
                       f"{backend} backend; next: mali-uio info, mali-uio bringup", details=details)
        hint = ("wrong mapping, or the GPU is unpowered" if value in (0, 0xFFFFFFFF)
                else "not the RK3588's Mali-G610")
        return _fail("gpu-id", f"GPU_ID = {value:#010x}, expected {RK3588_GPU_ID:#010x}: {hint}",
                     "check the overlay's reg (0xfb000000, 2 MiB) and the power checks", details)


def run_doctor(root: Path | str = "/", *, firmware: str | None = None, **kwargs: Any) -> DoctorReport:
    """Run every check against ``root`` (see :class:`Doctor`)."""
    return Doctor(root, firmware=firmware, **kwargs).run()


__all__ = ["SAFETY_CHECKS", "STATUSES", "CheckResult", "Doctor", "DoctorReport", "run_doctor"]
