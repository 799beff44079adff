"""udev rules and module configuration for the mali-hil UIO / vfio-platform devices.

What ``mali-uio setup udev`` installs (``shared/reference/rk3588-platform-and-uio.md`` §8.1, §3.1,
§4.1, §4.6):

* ``/etc/udev/rules.d/60-mali-hil.rules``: group access to the UIO nodes by *name* (never by
  ``uioN`` number, which is allocation order) with stable symlinks ``/dev/mali-hil/<name>``;
  group access to the vfio group nodes and container; the optional private-compatible binding;
  with ``vfio=True`` a rule that hands the overlay's vfio node to vfio-platform.
* ``/etc/modprobe.d/mali-hil.conf``: ``options uio_pdrv_genirq of_id=generic-uio`` (the driver's
  match table is empty at build time, so this option is the only way it matches the overlay's
  nodes), plus vfio's no-IOMMU and no-reset options with ``vfio=True``.
* ``/etc/modules-load.d/mali-hil.conf``: ``uio_pdrv_genirq`` (udev cannot autoload it for
  ``generic-uio`` nodes, §3.1).

:func:`plan_setup` builds the file contents and the follow-up commands without touching the
system; :func:`apply_setup` writes them under a root directory (all files or none).
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__
from .errors import AccessDenied, InvalidArgument

RULES_PATH = "/etc/udev/rules.d/60-mali-hil.rules"
MODPROBE_PATH = "/etc/modprobe.d/mali-hil.conf"
MODULES_LOAD_PATH = "/etc/modules-load.d/mali-hil.conf"

DEFAULT_GROUP = "gpuhil"
#: Prefix of the overlay's linux,uio-name values (mali-hil-job, mali-hil-mmu, mali-hil-gpu).
UIO_NAME_PREFIX = "mali-hil-"
#: Compatible uio_pdrv_genirq is told to match (the overlay's UIO nodes use it), §3.1.
UIO_OF_ID = "generic-uio"
#: Optional private compatible for UIO nodes bound by driver_override instead of of_id (§7.4 notes).
UIO_PRIVATE_COMPATIBLE = "hil,mali-uio"
#: Compatible of the vfio overlay's device (dts/mali-hil-vfio.dts).
VFIO_COMPATIBLE = "hil,mali-vfio"

# shadow-utils' default NAME_REGEX for group names, 32 characters at most.
_GROUP_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,30}[a-z0-9_$-]?$")


def check_group(group: str) -> str:
    """Return ``group`` if it is a valid Linux group name.

    Raises:
        InvalidArgument: not a valid group name (it would end up inside a udev rule).
    """
    if not _GROUP_RE.match(group):
        raise InvalidArgument(f"invalid group name {group!r}: expected lower-case letters, digits, "
                              "'_' or '-', starting with a letter or '_', at most 32 characters")
    return group


def udev_rules(group: str = DEFAULT_GROUP, *, vfio: bool = False) -> str:
    """Text of ``60-mali-hil.rules`` (§8.1), for members of ``group``.

    Args:
        group: group that gets read/write access (mode 0660) to the device nodes.
        vfio: also bind the vfio overlay's device to vfio-platform via ``driver_override``.
    """
    check_group(group)
    probe = "RUN+=\"/bin/sh -c 'echo %k > /sys/bus/platform/drivers_probe'\""
    lines = [
        f"# {RULES_PATH} - written by `mali-uio setup udev` (mali-uio {__version__}).",
        "# Reference: shared/reference/rk3588-platform-and-uio.md section 8.1. After editing run:",
        "#   udevadm control --reload && udevadm trigger -s uio -s vfio -s platform",
        "",
        "# UIO nodes created from the overlay: group access + stable names /dev/mali-hil/<name>",
        f'SUBSYSTEM=="uio", ATTR{{name}}=="{UIO_NAME_PREFIX}*", GROUP="{group}", MODE="0660", '
        f'SYMLINK+="mali-hil/%s{{name}}"',
        "",
        f"# optional: bind nodes that use the private compatible {UIO_PRIVATE_COMPATIBLE} to uio_pdrv_genirq",
        "# (the probe RUN covers a module that was loaded before the override was written)",
        f'ACTION=="add", SUBSYSTEM=="platform", ENV{{OF_COMPATIBLE_0}}=="{UIO_PRIVATE_COMPATIBLE}", \\',
        '    ATTR{driver_override}="uio_pdrv_genirq", RUN+="/sbin/modprobe uio_pdrv_genirq", \\',
        f"    {probe}",
        "",
        "# vfio: group nodes (/dev/vfio/N, /dev/vfio/noiommu-N) and the container",
        "# (no-IOMMU groups additionally need CAP_SYS_RAWIO, whatever the file mode)",
        f'SUBSYSTEM=="vfio", GROUP="{group}", MODE="0660"',
        f'KERNEL=="vfio", SUBSYSTEM=="misc", GROUP="{group}", MODE="0660"',
    ]
    if vfio:
        lines += [
            "",
            f"# give the overlay's {VFIO_COMPATIBLE} device (fb000000.mali-hil) to vfio-platform",
            f'ACTION=="add", SUBSYSTEM=="platform", ENV{{OF_COMPATIBLE_0}}=="{VFIO_COMPATIBLE}", \\',
            '    ATTR{driver_override}="vfio-platform", RUN+="/sbin/modprobe vfio-platform", \\',
            f"    {probe}",
        ]
    return "\n".join(lines) + "\n"


def modprobe_conf(*, vfio: bool = False, of_id: str = UIO_OF_ID) -> str:
    """Text of ``/etc/modprobe.d/mali-hil.conf`` (§3.1; vfio options §4.1, §4.6)."""
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9,._+-]*$", of_id):
        raise InvalidArgument(f"invalid of_id compatible {of_id!r}")
    lines = [
        f"# {MODPROBE_PATH} - written by `mali-uio setup udev` (mali-uio {__version__}).",
        "# uio_pdrv_genirq's match table is empty at build time: it binds only the compatible named by",
        f"# of_id; the mali-hil overlay's UIO nodes use \"{UIO_OF_ID}\" (reference section 3.1).",
        f"options uio_pdrv_genirq of_id={of_id}",
    ]
    if vfio:
        lines += [
            "# vfio-platform for the GPU: it has no IOMMU, so vfio runs in the unsafe no-IOMMU mode",
            "# (taints the kernel), and vfio-platform has no reset handler for it (sections 4.1, 4.6).",
            "options vfio enable_unsafe_noiommu_mode=1",
            "options vfio_platform reset_required=0",
        ]
    return "\n".join(lines) + "\n"


def modules_load_conf(*, vfio: bool = False) -> str:
    """Text of ``/etc/modules-load.d/mali-hil.conf``."""
    lines = [
        f"# {MODULES_LOAD_PATH} - written by `mali-uio setup udev` (mali-uio {__version__}).",
        "# udev cannot autoload uio_pdrv_genirq for generic-uio nodes (reference section 3.1).",
        "uio_pdrv_genirq",
    ]
    if vfio:
        lines.append("vfio_platform")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# Plans
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SetupFile:
    """One file to install: absolute ``path`` on the target system, its text and mode."""

    path: str
    content: str
    mode: int = 0o644


@dataclass(frozen=True)
class SetupPlan:
    """Files to write and the commands the administrator runs afterwards."""

    files: tuple[SetupFile, ...]
    commands: tuple[str, ...]
    group: str
    vfio: bool = False

    def to_dict(self) -> dict[str, object]:
        return {
            "group": self.group,
            "vfio": self.vfio,
            "files": [{"path": f.path, "mode": f"{f.mode:o}", "content": f.content} for f in self.files],
            "commands": list(self.commands),
        }


def plan_setup(group: str = DEFAULT_GROUP, *, vfio: bool = False) -> SetupPlan:
    """Build the files and follow-up commands for ``mali-uio setup udev`` (writes nothing)."""
    check_group(group)
    files = (
        SetupFile(RULES_PATH, udev_rules(group, vfio=vfio)),
        SetupFile(MODPROBE_PATH, modprobe_conf(vfio=vfio)),
        SetupFile(MODULES_LOAD_PATH, modules_load_conf(vfio=vfio)),
    )
    commands = [
        f"getent group {group} || groupadd --system {group}",
        f"usermod -aG {group} \"$USER\"    # then log out and back in",
        "udevadm control --reload && udevadm trigger -s uio -s vfio -s platform",
        "modprobe -r uio_pdrv_genirq; modprobe uio_pdrv_genirq    # reload so of_id applies (or reboot)",
        f"# if uio_pdrv_genirq is built in: add uio_pdrv_genirq.of_id={UIO_OF_ID} to the kernel command line",
    ]
    if vfio:
        commands.append("# vfio needs CONFIG_VFIO_NOIOMMU; /dev/vfio/noiommu-N needs CAP_SYS_RAWIO (root)")
    return SetupPlan(files, tuple(commands), group, vfio)


@dataclass(frozen=True)
class FileAction:
    """What :func:`apply_setup` did to one file: ``created``, ``updated`` or ``unchanged``."""

    path: Path
    action: str


@dataclass
class _Pending:
    target: Path
    temp: str | None = None
    action: str = "unchanged"
    mode: int = 0o644
    data: bytes = field(default=b"", repr=False)


def apply_setup(plan: SetupPlan, root: Path | str = "/", *, dry_run: bool = False) -> list[FileAction]:
    """Write the plan's files under ``root``; with ``dry_run`` only report what would change.

    All files are written to temporary names first and renamed only when every write succeeded;
    on failure the temporary files and any directories created for them are removed, so a
    refused setup leaves the target unchanged.

    Raises:
        AccessDenied: a target directory is not writable (run as root, or use ``root=``).
    """
    base = Path(root)
    pending = [_pending(base, f) for f in plan.files]
    if dry_run:
        return [FileAction(item.target, item.action) for item in pending]
    made: list[Path] = []
    try:
        for item in pending:
            if item.action != "unchanged":
                made += _make_parents(item.target.parent)
                item.temp = _write_temp(item)
    except OSError as err:
        for item in pending:
            if item.temp is not None:
                Path(item.temp).unlink(missing_ok=True)
        for directory in reversed(made):
            directory.rmdir()
        where = getattr(err, "filename", None) or base
        raise AccessDenied(f"cannot write {where}: {err.strerror or err} (run as root, or pass --root DIR)",
                           errno=err.errno) from err
    for item in pending:
        if item.temp is not None:
            os.replace(item.temp, item.target)
    return [FileAction(item.target, item.action) for item in pending]


def _make_parents(directory: Path) -> list[Path]:
    """Create ``directory`` and missing ancestors; return the created ones, outermost first."""
    missing = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for path in reversed(missing):
        path.mkdir()
    return list(reversed(missing))


def _pending(base: Path, spec: SetupFile) -> _Pending:
    target = base / spec.path.lstrip("/")
    data = spec.content.encode()
    try:
        current = target.read_bytes()
    except FileNotFoundError:
        return _Pending(target, action="created", mode=spec.mode, data=data)
    except OSError:
        current = None
    action = "unchanged" if current == data else "updated"
    return _Pending(target, action=action, mode=spec.mode, data=data)


def _write_temp(item: _Pending) -> str:
    fd, temp = tempfile.mkstemp(prefix=f".{item.target.name}.", dir=item.target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(item.data)
        os.chmod(temp, item.mode)
    except OSError:
        Path(temp).unlink(missing_ok=True)
        raise
    return temp


__all__ = [
    "DEFAULT_GROUP",
    "MODPROBE_PATH",
    "MODULES_LOAD_PATH",
    "RULES_PATH",
    "FileAction",
    "SetupFile",
    "SetupPlan",
    "apply_setup",
    "check_group",
    "modprobe_conf",
    "modules_load_conf",
    "plan_setup",
    "udev_rules",
]
