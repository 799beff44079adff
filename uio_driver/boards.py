"""RK3588 board profiles (``boards/*.toml``) and board detection from the running device tree.

A profile records what the overlay generator and ``mali-uio doctor`` need to know about one board:
device-tree compatibles, SoC, the label of the GPU regulator, where the DMA carveout goes, known
kernels and how the board's boot flow applies overlays. Every profile is validated when it is
loaded; a bad profile raises :class:`~uio_driver.errors.InvalidArgument` naming the file and key.

Carveout rules (``shared/reference/rk3588-platform-and-uio.md`` §1.6 facts, §7.5 rules, which the
reference marks as inferred from U-Boot's RK3588 memory map):

1. inside the first DRAM bank (``0x0020_0000``-``0xf000_0000``, and inside the smallest RAM
   variant), 2 MiB aligned;
2. clear of U-Boot's boot-time load area and of the top 256 MiB of the first bank, where U-Boot
   relocates itself.

:func:`detect_board` never raises for a missing or foreign device tree: it returns a
:class:`Detection` whose ``message`` says what was found, so a doctor command can print it.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .datafiles import data_dir
from .errors import DeviceNotFound, InvalidArgument

#: SoCs a profile may name (RK3588S is the same GPU block in a smaller package, §1.1).
SOCS = ("rk3588", "rk3588s")
#: Board-level compatible strings that identify the SoC family (§2: every board list ends with one).
SOC_COMPATIBLES = {"rockchip,rk3588": "rk3588", "rockchip,rk3588s": "rk3588s"}
#: Boot flows the overlay instructions know (details in uio_driver.dts.BOOT_FLOWS).
BOOT_MECHANISMS = ("extlinux", "armbian", "orangepi", "radxa")
#: Provenance tags, as defined in the reference's conventions.
TAGS = ("src", "inferred", "unverified")
#: Name of the fallback profile used for RK3588 boards without a profile of their own.
GENERIC_PROFILE = "generic-rk3588"

MiB = 1 << 20
GiB = 1 << 30
#: §1.6: TF-A BL31 owns the first 2 MiB; the SCMI shared-memory page (0x10f000) lies inside it.
BL31_END = 0x0020_0000
#: §1.6: U-Boot's SDRAM_MAX_SIZE; MMIO (the GPU at 0xfb000000) follows the first bank.
FIRST_BANK_END = 0xF000_0000
#: §1.6/§7.5 rule 2: U-Boot scriptaddr (0x00c00000) up to kernel/initrd/FDT with a large initrd.
UBOOT_LOAD_AREA = (0x00C0_0000, 0x1A00_0000)
#: §7.5 rule 2: U-Boot relocates itself (and EFI may leave runtime memory) in the top of the bank.
UBOOT_TOP_RESERVE = 256 * MiB
#: §7.5 rule 1: at least 2 MiB alignment.
CARVEOUT_ALIGN = 2 * MiB

_LABEL_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_COMPATIBLE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+_-]*,[A-Za-z0-9][A-Za-z0-9.+_-]*$")

_REQUIRED = ("name", "compatible", "soc", "gpu_regulator_label", "carveout", "kernels", "boot", "notes")
_OPTIONAL = ("aliases", "generic", "dtb", "regulator_always_on", "ram_variants_gib", "ram_min_gib", "tags")
_KERNEL_KEYS = ("mainline_gpu", "mainline_pd_supply", "vendor")


@dataclass(frozen=True)
class Carveout:
    """A static ``no-map`` DMA carveout: physical ``base`` and ``size`` in bytes."""

    base: int
    size: int

    @property
    def end(self) -> int:
        """First byte after the carveout."""
        return self.base + self.size


@dataclass(frozen=True)
class KernelInfo:
    """Kernels known to drive the board's GPU node (version strings, free text for vendor)."""

    mainline_gpu: str
    mainline_pd_supply: str
    vendor: str


@dataclass(frozen=True)
class BootInfo:
    """How the board's images apply overlays; ``mechanisms`` are names from :data:`BOOT_MECHANISMS`."""

    mechanisms: tuple[str, ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class BoardProfile:
    """One board profile, validated.

    Attributes:
        key: profile name (the TOML file stem, e.g. ``radxa-rock-5b``).
        name: human-readable board name.
        compatible: board-level DT compatibles that select this profile.
        soc: ``rk3588`` or ``rk3588s``.
        gpu_regulator_label: DT label of the GPU rail (the overlay's ``regulator-always-on`` target).
        carveout: DMA carveout placement.
        ram_min_gib: smallest RAM variant in GiB (the carveout must fit it).
        tags: provenance per key (``src``/``inferred``/``unverified``); untagged keys are not facts.
    """

    key: str
    name: str
    compatible: tuple[str, ...]
    soc: str
    gpu_regulator_label: str
    carveout: Carveout
    ram_min_gib: int
    kernels: KernelInfo
    boot: BootInfo
    notes: tuple[str, ...]
    aliases: tuple[str, ...] = ()
    generic: bool = False
    dtb: str | None = None
    regulator_always_on: bool = False
    ram_variants_gib: tuple[int, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    source: Path | None = None

    def tagged(self, tag: str) -> list[str]:
        """Keys whose provenance is ``tag`` (e.g. every ``unverified`` fact), sorted."""
        return sorted(k for k, v in self.tags.items() if v == tag)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary (numbers in hex where they are addresses)."""
        return {
            "key": self.key,
            "name": self.name,
            "compatible": list(self.compatible),
            "soc": self.soc,
            "generic": self.generic,
            "dtb": self.dtb,
            "gpu_regulator_label": self.gpu_regulator_label,
            "carveout": {"base": f"{self.carveout.base:#x}", "size": f"{self.carveout.size:#x}"},
            "ram_min_gib": self.ram_min_gib,
            "kernels": vars(self.kernels).copy(),
            "boot": {"mechanisms": list(self.boot.mechanisms), "notes": list(self.boot.notes)},
            "notes": list(self.notes),
            "unverified": self.tagged("unverified"),
            "inferred": self.tagged("inferred"),
            "source": str(self.source) if self.source else None,
        }


# --------------------------------------------------------------------------------------------
# Carveout rules
# --------------------------------------------------------------------------------------------


def check_carveout(base: int, size: int, *, ram_min_bytes: int, where: str = "carveout") -> None:
    """Check a carveout against the §7.5 placement rules.

    Args:
        base: physical base address.
        size: size in bytes.
        ram_min_bytes: RAM of the smallest board variant (bounds the usable first bank).
        where: prefix for error messages (file and key).

    Raises:
        InvalidArgument: the carveout breaks a rule; the message names the rule and the range.
    """
    for value, what in ((base, "base"), (size, "size")):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidArgument(f"{where}: {what} must be a non-negative integer, got {value!r}")
    if size == 0 or size % CARVEOUT_ALIGN or base % CARVEOUT_ALIGN:
        raise InvalidArgument(
            f"{where}: base {base:#x} and size {size:#x} must be non-zero multiples of 2 MiB "
            "(reference §7.5 rule 1)", value=base)
    bank_end = min(FIRST_BANK_END, ram_min_bytes)
    if base < BL31_END or base + size > bank_end:
        raise InvalidArgument(
            f"{where}: {base:#x}-{base + size:#x} is not inside the first DRAM bank "
            f"{BL31_END:#x}-{bank_end:#x} of the smallest RAM variant (reference §1.6, §7.5 rule 1)",
            value=base)
    lo, hi = UBOOT_LOAD_AREA
    if base < hi and base + size > lo:
        raise InvalidArgument(
            f"{where}: {base:#x}-{base + size:#x} overlaps U-Boot's load area {lo:#x}-{hi:#x} "
            "(reference §1.6, §7.5 rule 2)", value=base)
    top = bank_end - UBOOT_TOP_RESERVE
    if base + size > top:
        raise InvalidArgument(
            f"{where}: {base:#x}-{base + size:#x} reaches into the top 256 MiB of the first bank "
            f"({top:#x}-{bank_end:#x}) where U-Boot relocates itself (reference §7.5 rule 2)", value=base)


# --------------------------------------------------------------------------------------------
# Parsing and validation
# --------------------------------------------------------------------------------------------


class _Reader:
    """Typed access to a TOML table that names the file and dotted key in every error."""

    def __init__(self, data: Mapping[str, Any], where: str, prefix: str = "") -> None:
        self.data, self.where, self.prefix = data, where, prefix

    def fail(self, key: str, problem: str) -> InvalidArgument:
        return InvalidArgument(f"{self.where}: key '{self.prefix}{key}' {problem}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        if key not in self.data:
            if default is ...:
                raise self.fail(key, "is missing")
            return default
        value = self.data[key]
        bad_bool = isinstance(value, bool) and kind is int
        if bad_bool or not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise self.fail(key, f"must be {names}, got {value!r}")
        return value

    def strings(self, key: str, default: Any = ...) -> tuple[str, ...]:
        value = self.get(key, list, default)
        if not all(isinstance(v, str) and v for v in value):
            raise self.fail(key, f"must be a list of non-empty strings, got {value!r}")
        return tuple(value)

    def table(self, key: str) -> _Reader:
        return _Reader(self.get(key, dict), self.where, f"{self.prefix}{key}.")

    def only(self, allowed: tuple[str, ...]) -> None:
        for key in self.data:
            if key not in allowed:
                raise self.fail(key, f"is not a known key (expected one of: {', '.join(allowed)})")


def parse_profile(path: Path) -> BoardProfile:
    """Read and validate one profile file.

    Raises:
        InvalidArgument: unreadable TOML, a missing/unknown/mistyped key, or a carveout that breaks
            the §7.5 rules; the message names the file and the key.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise InvalidArgument(f"{path}: cannot read board profile: {err.strerror or err}") from err
    except tomllib.TOMLDecodeError as err:
        raise InvalidArgument(f"{path}: not valid TOML: {err}") from err
    return profile_from_dict(data, key=path.stem, source=path)


def profile_from_dict(data: Mapping[str, Any], *, key: str, source: Path | None = None) -> BoardProfile:
    """Validate an already parsed profile table (see :func:`parse_profile`)."""
    where = str(source) if source else f"profile {key!r}"
    top = _Reader(data, where)
    top.only(_REQUIRED + _OPTIONAL)
    compatible = _compatibles(top)
    soc = top.get("soc", str)
    if soc not in SOCS:
        raise top.fail("soc", f"must be one of {', '.join(SOCS)}, got {soc!r}")
    label = top.get("gpu_regulator_label", str)
    if not _LABEL_RE.match(label):
        raise top.fail("gpu_regulator_label", f"is not a device-tree label: {label!r}")
    variants, ram_min = _ram(top)
    carveout = _carveout(top.table("carveout"), ram_min)
    return BoardProfile(
        key=key,
        name=top.get("name", str),
        compatible=compatible,
        soc=soc,
        gpu_regulator_label=label,
        carveout=carveout,
        ram_min_gib=ram_min,
        kernels=_kernels(top.table("kernels")),
        boot=_boot(top.table("boot")),
        notes=top.strings("notes"),
        aliases=top.strings("aliases", []),
        generic=top.get("generic", bool, False),
        dtb=top.get("dtb", str, None),
        regulator_always_on=top.get("regulator_always_on", bool, False),
        ram_variants_gib=variants,
        tags=_tags(top, data),
        source=source,
    )


def _compatibles(top: _Reader) -> tuple[str, ...]:
    compatible = top.strings("compatible")
    if not compatible:
        raise top.fail("compatible", "must list at least one board compatible")
    for item in compatible:
        if not _COMPATIBLE_RE.match(item):
            raise top.fail("compatible", f"entry {item!r} is not of the form 'vendor,device'")
    return compatible


def _ram(top: _Reader) -> tuple[tuple[int, ...], int]:
    variants = tuple(top.get("ram_variants_gib", list, []))
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in variants):
        raise top.fail("ram_variants_gib", f"must be a list of positive integers, got {list(variants)!r}")
    ram_min = top.get("ram_min_gib", int, min(variants) if variants else None)
    if ram_min is None:
        raise top.fail("ram_min_gib", "is missing (give ram_variants_gib or ram_min_gib)")
    if ram_min <= 0 or (variants and ram_min != min(variants)):
        raise top.fail("ram_min_gib", f"must be positive and equal the smallest variant, got {ram_min!r}")
    return variants, ram_min


def _carveout(table: _Reader, ram_min_gib: int) -> Carveout:
    table.only(("base", "size"))
    base = table.get("base", int)
    size = table.get("size", int)
    check_carveout(base, size, ram_min_bytes=ram_min_gib * GiB, where=f"{table.where}: key 'carveout'")
    return Carveout(base, size)


def _kernels(table: _Reader) -> KernelInfo:
    table.only(_KERNEL_KEYS)
    return KernelInfo(*(table.get(k, str) for k in _KERNEL_KEYS))


def _boot(table: _Reader) -> BootInfo:
    table.only(("mechanisms", "notes"))
    mechanisms = table.strings("mechanisms")
    if not mechanisms:
        raise table.fail("mechanisms", "must name at least one boot flow")
    for name in mechanisms:
        if name not in BOOT_MECHANISMS:
            raise table.fail("mechanisms", f"entry {name!r} is unknown (known: {', '.join(BOOT_MECHANISMS)})")
    return BootInfo(mechanisms, table.strings("notes", []))


def _tags(top: _Reader, data: Mapping[str, Any]) -> dict[str, str]:
    tags = top.get("tags", dict, {})
    for dotted, tag in tags.items():
        if tag not in TAGS:
            raise top.fail(f"tags.{dotted}", f"must be one of {', '.join(TAGS)}, got {tag!r}")
        node: Any = data
        for part in dotted.split("."):
            if not isinstance(node, Mapping) or part not in node:
                raise top.fail(f"tags.{dotted}", "tags a key that the profile does not have")
            node = node[part]
    return dict(tags)


# --------------------------------------------------------------------------------------------
# Loading and lookup
# --------------------------------------------------------------------------------------------


def load_profiles(directory: Path | str | None = None) -> dict[str, BoardProfile]:
    """Load and validate every ``*.toml`` profile in ``directory`` (default: the shipped ``boards/``).

    Returns:
        Profiles by key, sorted by key.

    Raises:
        InvalidArgument: a profile is invalid, two profiles claim the same compatible or alias,
            or the generic profile is missing.
    """
    folder = Path(directory) if directory is not None else data_dir("boards")
    profiles: dict[str, BoardProfile] = {}
    owners: dict[str, str] = {}
    for path in sorted(folder.glob("*.toml")):
        prof = parse_profile(path)
        for name in (prof.key, *prof.aliases, *(c.lower() for c in prof.compatible)):
            other = owners.setdefault(name.lower(), prof.key)
            if other != prof.key:
                raise InvalidArgument(
                    f"{path}: name or compatible {name!r} is already claimed by profile {other!r}")
        profiles[prof.key] = prof
    generic = [p.key for p in profiles.values() if p.generic]
    if generic != [GENERIC_PROFILE]:
        raise InvalidArgument(
            f"{folder}: expected exactly one generic profile {GENERIC_PROFILE}.toml, found {generic}")
    return profiles


def profile(name: str, profiles: Mapping[str, BoardProfile] | None = None) -> BoardProfile:
    """Look up a profile by key, alias or board compatible (case-insensitive).

    Raises:
        InvalidArgument: no profile has that name; the message lists the known keys.
    """
    table = profiles if profiles is not None else load_profiles()
    wanted = name.strip().lower()
    for prof in table.values():
        names = {prof.key, *prof.aliases, *prof.compatible}
        if wanted in {n.lower() for n in names}:
            return prof
    raise InvalidArgument(f"unknown board {name!r}; known boards: {', '.join(sorted(table))} (or 'auto')")


# --------------------------------------------------------------------------------------------
# Detection
# --------------------------------------------------------------------------------------------

#: Where the running kernel exposes the root node's ``compatible`` (tried in this order).
COMPATIBLE_PATHS = ("proc/device-tree/compatible", "sys/firmware/devicetree/base/compatible")


@dataclass(frozen=True)
class Detection:
    """Outcome of :func:`detect_board`.

    Attributes:
        status: ``"board"`` (a profile matched), ``"generic"`` (RK3588 family, board unknown: the
            generic profile), ``"not-rk3588"`` or ``"no-device-tree"``.
        message: one line for humans.
        profile: the selected profile, or None for the last two statuses.
        compatible: the root compatible list as read.
        model: the root ``model`` string, if readable.
        source: the file the compatible list was read from.
    """

    status: str
    message: str
    profile: BoardProfile | None = None
    compatible: tuple[str, ...] = ()
    model: str | None = None
    source: str | None = None

    @property
    def ok(self) -> bool:
        """True when a profile (board-specific or generic) was selected."""
        return self.profile is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "message": self.message,
            "profile": self.profile.key if self.profile else None,
            "compatible": list(self.compatible),
            "model": self.model,
            "source": self.source,
        }


def read_dt_strings(path: Path) -> tuple[str, ...]:
    """Split a NUL-separated device-tree string list (``compatible``) into its entries."""
    raw = path.read_bytes()
    return tuple(part.decode("ascii", errors="replace") for part in raw.split(b"\0") if part)


def detect_board(root: Path | str = "/", profiles: Mapping[str, BoardProfile] | None = None) -> Detection:
    """Identify the board from ``<root>/proc/device-tree/compatible`` (or the sysfs copy).

    Never raises for what it finds on the system: a missing device tree or a non-RK3588 SoC is a
    :class:`Detection` with a message. Invalid shipped profiles still raise
    :class:`InvalidArgument` (that is a packaging bug, not a property of the board).
    """
    table = profiles if profiles is not None else load_profiles()
    base = Path(root)
    found = _read_compatible(base)
    if isinstance(found, str):
        return Detection("no-device-tree", found)
    source, compatible = found
    model = _read_model(source.parent)
    return _classify(table, compatible, model, str(source))


def _read_compatible(base: Path) -> tuple[Path, tuple[str, ...]] | str:
    problems = []
    for rel in COMPATIBLE_PATHS:
        path = base / rel
        try:
            strings = read_dt_strings(path)
        except FileNotFoundError:
            continue
        except OSError as err:
            problems.append(f"{path}: {err.strerror or err}")
            continue
        if strings:
            return path, strings
        problems.append(f"{path}: empty")
    tried = ", ".join(str(base / rel) for rel in COMPATIBLE_PATHS)
    detail = f" ({'; '.join(problems)})" if problems else ""
    return f"no device tree: no readable root compatible at {tried}{detail}; not a device-tree system"


def _read_model(node: Path) -> str | None:
    try:
        strings = read_dt_strings(node / "model")
    except OSError:
        return None
    return strings[0] if strings else None


def _classify(table: Mapping[str, BoardProfile], compatible: tuple[str, ...], model: str | None,
              source: str) -> Detection:
    shown = ", ".join(compatible)
    socs = [SOC_COMPATIBLES[c] for c in compatible if c in SOC_COMPATIBLES]
    for entry in compatible:  # most specific first, as the DT lists them
        for prof in table.values():
            if not prof.generic and entry in prof.compatible:
                note = ""
                if socs and prof.soc not in socs:
                    note = f" (note: the tree says {socs[0]}, the profile says {prof.soc})"
                return Detection("board", f"detected {prof.name} (profile {prof.key}) from {entry!r}{note}",
                                 prof, compatible, model, source)
    if not socs:
        return Detection("not-rk3588", f"not an RK3588: root compatible is {shown}; "
                         "mali-uio's overlays and profiles are for RK3588/RK3588S boards",
                         None, compatible, model, source)
    generic = table[GENERIC_PROFILE]
    message = (f"unknown {socs[0].upper()} board ({shown}); using the generic profile {generic.key} "
               f"(regulator {generic.gpu_regulator_label}, carveout {generic.carveout.base:#x}+"
               f"{generic.carveout.size // MiB} MiB) - add a boards/*.toml profile to tune it")
    if "rockchip,rk3582" in compatible:
        message += "; warning: RK3582 parts are sold without a usable GPU [unverified]"
    return Detection("generic", message, generic, compatible, model, source)


def resolve_board(name: str, *, root: Path | str = "/",
                  profiles: Mapping[str, BoardProfile] | None = None) -> tuple[BoardProfile, str | None]:
    """Profile for a CLI ``BOARD`` argument: a name, or ``auto`` to detect from ``root``.

    Returns:
        The profile and, for ``auto``, the detection message (None otherwise).

    Raises:
        InvalidArgument: unknown board name.
        DeviceNotFound: ``auto`` found no device tree or a non-RK3588 SoC.
    """
    table = profiles if profiles is not None else load_profiles()
    if name.strip().lower() != "auto":
        return profile(name, table), None
    found = detect_board(root, table)
    if found.profile is None:
        raise DeviceNotFound(f"board auto-detection failed: {found.message}")
    return found.profile, found.message


__all__ = [
    "BOOT_MECHANISMS",
    "GENERIC_PROFILE",
    "SOCS",
    "BoardProfile",
    "BootInfo",
    "Carveout",
    "Detection",
    "KernelInfo",
    "check_carveout",
    "detect_board",
    "load_profiles",
    "parse_profile",
    "profile",
    "profile_from_dict",
    "read_dt_strings",
    "resolve_board",
]
