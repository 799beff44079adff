"""Device-tree overlays that hand the RK3588 Mali-G610 to userspace: render, compile, check, install.

The committed ``dts/*.dts`` files are both the readable defaults and the templates. A board
parameter is written in a template as its default value directly followed by a marker comment,
e.g. ``0x30000000/*$carveout_base*/``; :func:`render_overlay` replaces each marked value with the
board profile's value and drops the marker, so the template itself still builds with plain
``dtc -@``. Parameters: ``regulator`` (GPU rail label), ``carveout_base``, ``carveout_size`` and
``carveout_unit`` (the base as a node unit address).

Compilation and checks shell out to the device-tree compiler tools (Debian/Ubuntu package
``device-tree-compiler``): ``dtc -@ -I dts -O dtb`` builds an overlay and ``fdtoverlay`` applies
overlays to a base DTB offline, failing exactly where U-Boot would
(``shared/reference/rk3588-platform-and-uio.md`` §7.2).
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import __version__
from .boards import BoardProfile
from .datafiles import data_dir
from .errors import AccessDenied, InvalidArgument, NotSupported

VARIANTS = ("uio", "vfio")
KERNELS = ("mainline", "vendor")

#: (variant, kernel) -> (template file in dts/, output overlay name without .dtbo).
_TEMPLATES = {
    ("uio", "mainline"): ("mali-hil-uio.dts", "mali-hil"),
    ("uio", "vendor"): ("mali-hil-uio-vendor.dts", "mali-hil-vendor"),
    ("vfio", "mainline"): ("mali-hil-vfio.dts", "mali-hil-vfio"),
    ("vfio", "vendor"): ("mali-hil-vfio-vendor.dts", "mali-hil-vfio-vendor"),
}

#: Template parameters (see the module docstring).
PARAMETERS = ("regulator", "carveout_base", "carveout_size", "carveout_unit")
#: A marked value: the value token, then ``/*$name*/`` with no space in between.
MARKER_RE = re.compile(r"(?P<value>[A-Za-z0-9_]+)/\*\$(?P<name>[A-Za-z0-9_]+)\*/")
_STRAY_MARKER_RE = re.compile(r"/\*\$")
_LABEL_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

#: The platform device the overlay's node becomes (§3.1 naming: <unit-address>.<node-name>).
PLATFORM_DEVICE = "fb000000.mali-hil"
#: uio_pdrv_genirq matches only the compatible given by its of_id parameter (§3.1).
UIO_OF_ID = "generic-uio"
#: Debian/Ubuntu package providing dtc, fdtoverlay, fdtget.
DTC_PACKAGE = "device-tree-compiler"


# --------------------------------------------------------------------------------------------
# Parameters and templates
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OverlayParams:
    """Board values substituted into a template.

    The templates write the carveout's high address/size cells as 0x0, so the carveout must end
    at or below 4 GiB (the §7.5 rules keep it in the first bank anyway).
    """

    regulator: str
    carveout_base: int
    carveout_size: int

    def __post_init__(self) -> None:
        if not isinstance(self.regulator, str) or not _LABEL_RE.match(self.regulator):
            raise InvalidArgument(f"regulator label {self.regulator!r} is not a device-tree label")
        base, size = self.carveout_base, self.carveout_size
        if any(isinstance(v, bool) or not isinstance(v, int) for v in (base, size)):
            raise InvalidArgument(f"carveout base/size must be integers, got {base!r}/{size!r}")
        if base < 0 or size <= 0 or base % (2 << 20) or size % (2 << 20) or base + size > 1 << 32:
            raise InvalidArgument(
                f"carveout {base:#x}+{size:#x} must be 2 MiB aligned, non-empty and below 4 GiB", value=base)

    @classmethod
    def from_profile(cls, profile: BoardProfile) -> OverlayParams:
        return cls(profile.gpu_regulator_label, profile.carveout.base, profile.carveout.size)

    def values(self) -> dict[str, str]:
        """Marker name -> replacement text."""
        return {
            "regulator": self.regulator,
            "carveout_base": f"{self.carveout_base:#x}",
            "carveout_size": f"{self.carveout_size:#x}",
            "carveout_unit": f"{self.carveout_base:x}",
        }


def template_file(variant: str = "uio", kernel: str = "mainline") -> Path:
    """Path of the template for ``variant`` (uio/vfio) and ``kernel`` (mainline/vendor)."""
    return data_dir("dts") / _template_entry(variant, kernel)[0]


def overlay_name(variant: str = "uio", kernel: str = "mainline") -> str:
    """File stem of the built overlay (``mali-hil``, ``mali-hil-vfio``, ``mali-hil-vendor`` ...)."""
    return _template_entry(variant, kernel)[1]


def _template_entry(variant: str, kernel: str) -> tuple[str, str]:
    _check_variant(variant)
    if kernel not in KERNELS:
        raise InvalidArgument(f"unknown kernel numbering {kernel!r}; expected one of {', '.join(KERNELS)}")
    return _TEMPLATES[(variant, kernel)]


def template_defaults(text: str, source: str = "template") -> dict[str, str]:
    """The default value of every parameter marked in ``text``.

    Raises:
        InvalidArgument: unknown parameter, a marker not attached to a value, or one parameter
            marked with two different defaults (a template typo).
    """
    defaults: dict[str, str] = {}
    for match in MARKER_RE.finditer(text):
        name, value = match["name"], match["value"]
        if name not in PARAMETERS:
            line = text.count("\n", 0, match.start()) + 1
            raise InvalidArgument(f"{source}:{line}: unknown template parameter {name!r} "
                                  f"(known: {', '.join(PARAMETERS)})")
        if defaults.setdefault(name, value) != value:
            raise InvalidArgument(f"{source}: parameter {name!r} has two defaults: "
                                  f"{defaults[name]!r} and {value!r}")
    stray = len(_STRAY_MARKER_RE.findall(text)) - len(MARKER_RE.findall(text))
    if stray:
        raise InvalidArgument(f"{source}: {stray} parameter marker(s) not directly after a value")
    return defaults


def render_template(text: str, values: Mapping[str, str], source: str = "template") -> str:
    """Replace every marked value in ``text`` by ``values[name]`` and drop the markers.

    Raises:
        InvalidArgument: the template is malformed (see :func:`template_defaults`) or uses a
            parameter that ``values`` lacks.
    """
    used = template_defaults(text, source)
    missing = sorted(set(used) - set(values))
    if missing:
        raise InvalidArgument(f"{source}: no value for template parameter(s) {', '.join(missing)}")
    return MARKER_RE.sub(lambda m: values[m["name"]], text)


@dataclass(frozen=True)
class RenderedOverlay:
    """An overlay source rendered for one board."""

    name: str
    variant: str
    kernel: str
    board: str
    params: OverlayParams
    template: Path
    source: str

    @property
    def filename(self) -> str:
        return f"{self.name}.dtbo"


def render_overlay(profile: BoardProfile, variant: str = "uio", kernel: str = "mainline",
                   params: OverlayParams | None = None) -> RenderedOverlay:
    """Render the overlay source for a board.

    Args:
        profile: the board profile (supplies the regulator label and carveout).
        variant: ``uio`` (three generic-uio nodes) or ``vfio`` (one vfio-platform device).
        kernel: ``mainline`` or ``vendor`` numbering.
        params: override the profile's values (tests, experiments).

    Returns:
        The rendered overlay; ``source`` starts with a comment naming board, variant and template.
    """
    path = template_file(variant, kernel)
    values = params or OverlayParams.from_profile(profile)
    body = render_template(path.read_text(encoding="utf-8"), values.values(), str(path))
    header = (
        f"// Generated by mali-uio {__version__} for board profile {profile.key} ({profile.name}):\n"
        f"// variant {variant}, {kernel} kernel numbering, template dts/{path.name}.\n"
        f"// Board values: regulator {values.regulator}, carveout {values.carveout_base:#x} + "
        f"{values.carveout_size:#x} ({values.carveout_size >> 20} MiB).\n"
        "// The template comments below describe the defaults; the values in the nodes are the board's.\n"
        "//\n"
    )
    return RenderedOverlay(overlay_name(variant, kernel), variant, kernel, profile.key, values, path,
                           header + body)


# --------------------------------------------------------------------------------------------
# dtc / fdtoverlay
# --------------------------------------------------------------------------------------------


def require_tool(name: str) -> str:
    """Absolute path of a device-tree tool (dtc, fdtoverlay, fdtget) on PATH.

    Raises:
        NotSupported: (errno ENOENT) the tool is missing; the message names the Debian package.
    """
    found = shutil.which(name)
    if found is None:
        raise NotSupported(f"{name} not found on PATH: install the Debian/Ubuntu package {DTC_PACKAGE} "
                           f"(apt install {DTC_PACKAGE})", errno=errno.ENOENT)
    return found


def _run(argv: list[str], what: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    try:
        proc = subprocess.run(argv, input=stdin, capture_output=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise InvalidArgument(f"{what}: could not run {argv[0]}: {err}") from err
    if proc.returncode != 0:
        detail = " | ".join(proc.stderr.decode(errors="replace").strip().splitlines()[-3:])
        raise InvalidArgument(f"{what} failed (exit {proc.returncode}): {detail or 'no message'}")
    return proc


@dataclass(frozen=True)
class CompiledOverlay:
    """``dtc`` output: the flattened overlay and any warnings dtc printed."""

    dtb: bytes
    warnings: tuple[str, ...]


def compile_overlay(source: str, *, what: str = "dtc") -> CompiledOverlay:
    """Compile overlay source with ``dtc -@ -I dts -O dtb`` (as in §7.2).

    Raises:
        NotSupported: dtc is not installed.
        InvalidArgument: dtc rejected the source (its message is included).
    """
    dtc = require_tool("dtc")
    proc = _run([dtc, "-@", "-I", "dts", "-O", "dtb", "-"], what, source.encode())
    warnings = tuple(line for line in proc.stderr.decode(errors="replace").splitlines() if line.strip())
    return CompiledOverlay(proc.stdout, warnings)


def decompile(dtb: bytes) -> str:
    """Decompile a DTB/DTBO to source text (``dtc -q -I dtb -O dts``)."""
    dtc = require_tool("dtc")
    return _run([dtc, "-q", "-I", "dtb", "-O", "dts", "-"], "dtc (decompile)", dtb).stdout.decode()


def apply_overlays(base: Path | str, overlays: Sequence[Path | str], out: Path | str) -> Path:
    """Apply overlays to a base DTB with ``fdtoverlay``, writing the merged tree to ``out``.

    Raises:
        NotSupported: fdtoverlay is not installed.
        InvalidArgument: an overlay does not apply (e.g. ``FDT_ERR_NOTFOUND`` for a label the base
            lacks, or a base built without ``-@``); the message names the files.
    """
    tool = require_tool("fdtoverlay")
    base_path = Path(base)
    for path in (base_path, *map(Path, overlays)):
        if not path.is_file():
            raise InvalidArgument(f"fdtoverlay: input {path} not found")
    argv = [tool, "-i", str(base_path), "-o", str(out), *map(str, overlays)]
    try:
        _run(argv, f"fdtoverlay {' '.join(Path(o).name for o in overlays)} onto {base_path.name}")
    except InvalidArgument as err:
        hint = ""
        if b"__symbols__" not in base_path.read_bytes():
            hint = f"; {base_path.name} has no __symbols__ node: build the base DTB with dtc -@"
        raise InvalidArgument(f"{err}{hint}") from err
    return Path(out)


# --------------------------------------------------------------------------------------------
# Boot flows: where the .dtbo goes and how it is enabled
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BootFlow:
    """One way of applying an overlay at boot (§7.3)."""

    name: str
    title: str
    overlay_dir: str
    config: str


BOOT_FLOWS = {
    "extlinux": BootFlow("extlinux", "U-Boot extlinux/PXE (mainline distributions)",
                         "/boot/dtbs/rockchip/overlay", "/boot/extlinux/extlinux.conf"),
    "armbian": BootFlow("armbian", "Armbian", "/boot/overlay-user", "/boot/armbianEnv.txt"),
    "orangepi": BootFlow("orangepi", "Orange Pi OS [unverified]",
                         "/boot/overlay-user", "/boot/orangepiEnv.txt"),
    "radxa": BootFlow("radxa", "Radxa images (rsetup) [unverified]",
                      "/boot/dtbo", "/boot/extlinux/extlinux.conf"),
}


def boot_flow(name: str) -> BootFlow:
    """Look up a boot flow by name.

    Raises:
        InvalidArgument: unknown flow.
    """
    try:
        return BOOT_FLOWS[name]
    except KeyError:
        known = ", ".join(BOOT_FLOWS)
        raise InvalidArgument(f"unknown boot flow {name!r}; expected one of {known}") from None


def enable_lines(flow: BootFlow, filename: str, overlay_dir: str | None = None,
                 variant: str = "uio") -> list[str]:
    """Exact lines that enable ``filename`` (a .dtbo in ``overlay_dir``) in ``flow``."""
    folder = (overlay_dir or flow.overlay_dir).rstrip("/")
    stem = filename.removesuffix(".dtbo")
    args = kernel_args(variant)
    if flow.name in ("armbian", "orangepi"):
        lines = [
            f"# {flow.title}: {folder}/{filename} is a user overlay; in {flow.config} add",
            f"user_overlays={stem}",
            "# (append to an existing user_overlays= line, space-separated; overlays= is only for the",
            "#  image's shipped overlays, named without overlay_prefix and extension)",
            f"extraargs={args}    # only if the modules are built in",
        ]
        if flow.name == "armbian":
            lines += [f"# or let Armbian compile and register the source: armbian-add-overlay {stem}.dts",
                      "#  (write it with: mali-uio dts build BOARD --source)"]
        return lines
    lines = [
        f"# {flow.title}: in {flow.config}, inside your boot label (keep a fallback label",
        "# without overlays; the label needs an fdt or fdtdir line):",
        f"    fdtoverlays {folder}/{filename}",
        f"    append <existing arguments> {args}   # only if the modules are built in",
        "# paths are relative to the partition U-Boot reads:",
        "# drop the /boot prefix if /boot is its own partition",
    ]
    if flow.name == "radxa":
        lines.insert(0, "# Radxa: `rsetup` (Overlays menu) rewrites fdtoverlays for files in /boot/dtbo")
    return lines


def kernel_args(variant: str) -> str:
    """Kernel command-line equivalent of the module options, for built-in drivers (§3.1, §4.1, §4.6)."""
    _check_variant(variant)
    if variant == "uio":
        return f"uio_pdrv_genirq.of_id={UIO_OF_ID}"
    return "vfio.enable_unsafe_noiommu_mode=1 vfio_platform.reset_required=0"


def _check_variant(variant: str) -> None:
    if variant not in VARIANTS:
        raise InvalidArgument(f"unknown overlay variant {variant!r}; expected one of {', '.join(VARIANTS)}")


def uboot_lines(filename: str, overlay_dir: str) -> list[str]:
    """Manual U-Boot commands to apply the overlay once (§7.3)."""
    return [
        "# U-Boot prompt, to try the overlay once (adjust mmc 0:1 to the boot device:partition):",
        "fdt addr ${fdt_addr_r}; fdt resize 0x2000",
        f"load mmc 0:1 ${{fdtoverlay_addr_r}} {overlay_dir.rstrip('/')}/{filename}",
        "fdt apply ${fdtoverlay_addr_r}",
    ]


def module_lines(variant: str) -> list[str]:
    """Kernel-module configuration the variant needs (§3.1 for UIO, §4.1/§4.2/§4.6 for vfio)."""
    _check_variant(variant)
    if variant == "uio":
        return [
            "# uio_pdrv_genirq binds only the compatible named by of_id; udev cannot autoload it (ref §3.1):",
            f"echo 'options uio_pdrv_genirq of_id={UIO_OF_ID}' > /etc/modprobe.d/mali-hil.conf",
            "echo uio_pdrv_genirq > /etc/modules-load.d/mali-hil.conf",
            f"# built-in (=y) instead: kernel command line {kernel_args('uio')}",
            "# `mali-uio setup udev` writes these files plus the udev rules for /dev/mali-hil/*",
        ]
    return [
        "# vfio-platform in no-IOMMU mode (the GPU has no IOMMU; taints the kernel) (ref §4.1, §4.6):",
        "modprobe vfio enable_unsafe_noiommu_mode=1",
        "modprobe vfio-platform reset_required=0",
        f"echo vfio-platform > /sys/bus/platform/devices/{PLATFORM_DEVICE}/driver_override",
        f"echo {PLATFORM_DEVICE} > /sys/bus/platform/drivers_probe",
        "# `mali-uio setup udev --vfio` writes the module options and a udev rule that does this at boot",
    ]


# --------------------------------------------------------------------------------------------
# Installing
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InstallResult:
    """What :func:`install_overlay` did (or would do, with ``dry_run``)."""

    destination: Path
    overlay_dir: str
    flow: BootFlow
    dry_run: bool
    replaced: bool
    size: int


def install_overlay(dtb: bytes, filename: str, *, flow: BootFlow, root: Path | str = "/",
                    overlay_dir: str | None = None, dry_run: bool = False) -> InstallResult:
    """Copy a compiled overlay to ``<root>/<overlay_dir>/<filename>``.

    The file is written to a temporary name and renamed, so a failed install leaves no partial
    file. Nothing is written with ``dry_run``.

    Raises:
        InvalidArgument: ``filename`` is not a plain ``*.dtbo`` name or ``overlay_dir`` is relative.
        AccessDenied: the destination is not writable (run as root, or use ``--root``).
    """
    if Path(filename).name != filename or not filename.endswith(".dtbo"):
        raise InvalidArgument(f"overlay file name {filename!r} must be a plain *.dtbo name")
    folder = overlay_dir or flow.overlay_dir
    if not folder.startswith("/"):
        raise InvalidArgument(f"overlay directory {folder!r} must be absolute (it is joined to --root)")
    dest = Path(root) / folder.lstrip("/") / filename
    replaced = dest.exists()
    if not dry_run:
        _write_atomic(dest, dtb)
    return InstallResult(dest, folder, flow, dry_run, replaced, len(dtb))


def _write_atomic(dest: Path, data: bytes) -> None:
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    except OSError as err:
        raise _write_error(dest, err) from err
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise _write_error(dest, err) from err


def _write_error(dest: Path, err: OSError) -> AccessDenied:
    return AccessDenied(f"cannot write {dest}: {err.strerror or err} (run as root, or pass --root DIR)",
                        errno=err.errno or errno.EACCES)


__all__ = [
    "BOOT_FLOWS",
    "KERNELS",
    "PARAMETERS",
    "VARIANTS",
    "BootFlow",
    "CompiledOverlay",
    "InstallResult",
    "OverlayParams",
    "RenderedOverlay",
    "apply_overlays",
    "boot_flow",
    "compile_overlay",
    "decompile",
    "enable_lines",
    "install_overlay",
    "kernel_args",
    "module_lines",
    "overlay_name",
    "render_overlay",
    "render_template",
    "require_tool",
    "template_defaults",
    "template_file",
    "uboot_lines",
]
