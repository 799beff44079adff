"""`mali-uio firmware SUBCOMMAND`: CSF firmware tools.

``firmware inspect PATH [--json]`` parses a ``mali_csffw.bin`` container and prints its header,
every entry, the IFACE sections with decoded flags, the build-info git sha and the interface
version.

``firmware boot [--firmware PATH] [--json]`` runs the whole bring-up (identify … MMU), loads the
firmware into the MCU VM, boots the MCU, discovers the CSF interface and sends the global
initialisation, printing per-step timings, panthor's interface line, the CSF interface facts
(``drm_panthor_csif_info`` and more) and the firmware's git sha. Each subcommand registers itself in
:func:`register` through its own ``_register_*`` helper.
"""

from __future__ import annotations

import argparse
import hashlib
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ...errors import FirmwareFormatError
from ...firmware.container import FirmwareImage, parse_firmware
from ...firmware.entries import FirmwareEntry, IfaceEntry
from ...firmware.locate import read_firmware_file
from ..common import add_common_options, add_json_option, emit


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("firmware", help="CSF firmware tools (inspect a mali_csffw.bin)")
    fsub = p.add_subparsers(dest="firmware_command", metavar="SUBCOMMAND")
    fsub.required = True
    _register_inspect(fsub)
    _register_boot(fsub)


def _register_inspect(fsub: argparse._SubParsersAction) -> None:
    p = fsub.add_parser("inspect", help="parse a firmware file and print its header, entries and sections")
    p.add_argument("path", metavar="PATH", help="firmware file (e.g. /lib/firmware/arm/mali/arch10.8/"
                                                "mali_csffw.bin)")
    p.add_argument("--kbase-strict", action="store_true",
                   help="also apply kbase's stricter checks (header minor 3, IFACE name areas)")
    add_json_option(p)
    p.set_defaults(func=run_inspect)


def load_image(path: str, *, kbase_strict: bool = False) -> tuple[bytes, FirmwareImage]:
    """Read and parse ``path``; a format error names the file.

    Raises:
        FirmwareNotFound, AccessDenied, MaliError: the file cannot be read.
        FirmwareFormatError: the file is malformed (``offset`` kept).
    """
    data = read_firmware_file(path)
    try:
        return data, parse_firmware(data, kbase_strict=kbase_strict)
    except FirmwareFormatError as err:
        raise FirmwareFormatError(f"{path}: {err.message}", offset=err.offset) from None


def run_inspect(args: argparse.Namespace) -> int:
    data, image = load_image(args.path, kbase_strict=args.kbase_strict)
    digest = hashlib.sha256(data).hexdigest()
    out: dict[str, Any] = {"path": args.path, "sha256": digest, **image.to_dict()}
    emit(args, out, lambda c: _render(c, args.path, digest, image))
    return 0


def table(title: str, columns: list[str], rows: list[tuple[Any, ...]]) -> Table:
    """A table whose long cells fold instead of being cut (shas, VA ranges must stay whole)."""
    t = Table(title=title, header_style="bold")
    for col in columns:
        t.add_column(col, overflow="fold")
    for row in rows:
        t.add_row(*(escape(str(cell)) for cell in row))
    return t


def _entry_details(entry: FirmwareEntry, sections: tuple[IfaceEntry, ...]) -> str:
    if isinstance(entry, IfaceEntry):
        return f"section #{sections.index(entry)} (table above)"
    return entry.summary()


def _render(c: Console, path: str, digest: str, image: FirmwareImage) -> None:
    h = image.header
    version = image.interface_version
    c.print(table(f"firmware {path}", ["field", "value"], [
        ("file size", f"{image.file_size} bytes ({image.file_size:#x})"),
        ("sha256", digest),
        ("magic", f"{h.magic:#010x}"),
        ("header version", f"{h.major}.{h.minor}"),
        ("version_hash", f"{h.version_hash:#010x} (interface {version.text})"),
        ("entry table end", f"{h.entry_end:#x}"),
        ("padding1 / padding2", f"{h.padding1:#x} / {h.padding2:#x}"),
        ("entries", f"{len(image.entries)} ({len(image.sections)} IFACE sections, "
                    f"{len(image.unknown_entries)} of undefined types)"),
    ]))
    columns = ["#", "offset", "flags", "decoded", "VA range", "data range", "data len"]
    c.print(table("IFACE sections", columns, [
        (i, f"{s.offset:#x}", f"{s.flags:#010x}", s.flags_text, f"{s.va_start:#010x}-{s.va_end:#010x}",
         f"{s.data_start:#x}-{s.data_end:#x}", f"{s.data_size:#x}")
        for i, s in enumerate(image.sections)
    ]))
    c.print(table("entries", ["#", "offset", "ehdr", "type", "size", "opt/upd", "details"], [
        (i, f"{e.offset:#x}", f"{e.header:#010x}", e.type_name, e.size,
         f"{int(e.optional)}/{int(e.updatable)}", _entry_details(e, image.sections))
        for i, e in enumerate(image.entries)
    ]))
    info = image.build_info
    dirty = "" if info is None or info.dirty is None else (" (dirty)" if info.dirty else " (clean)")
    c.print(f"git sha: {image.git_sha or '-'}{dirty}")
    c.print(f"interface version: {version.text} (version_hash {version.raw:#010x})")
    c.print(f"shared section: entry at {image.shared_section.offset:#x}, "
            f"VA {image.shared_section.va_start:#010x}-{image.shared_section.va_end:#010x}")
    for warning in image.warnings:
        c.print(f"warning: {warning}", markup=False)


# -- boot -------------------------------------------------------------------------------------------------


def _register_boot(fsub: argparse._SubParsersAction) -> None:
    p = fsub.add_parser("boot", help="bring the GPU up, boot the CSF firmware and print its interface")
    p.add_argument("--firmware", metavar="PATH", default=None,
                   help="firmware file or directory (default: $MALI_UIO_FIRMWARE_DIR, /lib/firmware; the "
                        "simulator falls back to the synthetic image and says so)")
    add_common_options(p)
    p.set_defaults(func=run_boot)


def run_boot(args: argparse.Namespace) -> int:
    import time

    from ...bringup import Bringup
    from ..common import open_backend

    t0 = time.perf_counter()
    with open_backend(args) as platform:
        bringup = Bringup(platform, firmware_path=args.firmware)
        results = bringup.run(until="glb_init")
        total = time.perf_counter() - t0
        fw = bringup.objects["firmware"]
        steps = [{"step": r.name, "detail": r.detail, "host_s": r.host_seconds, "device_s": r.device_seconds}
                 for r in results]
        steps += [{"step": f"firmware.{name}", "detail": "", **t.to_dict()} for name, t in fw.timings.items()]
        out: dict[str, Any] = {"backend": platform.name, "simulated": platform.simulated, "steps": steps,
                               "total_host_s": total, "firmware": fw.to_dict()}
        emit(args, out, lambda c: _render_boot(c, platform.name, fw, steps, total))
    return 0


def _render_boot(c: Console, backend: str, fw: Any, steps: list[dict[str, Any]], total: float) -> None:
    from ...bench import format_time

    info = fw.info
    c.print(table(f"firmware boot on {backend}", ["step", "result", "host time", "device time"],
                  [(s["step"], s["detail"], format_time(s["host_s"]), format_time(s["device_s"]))
                   for s in steps]))
    for line in fw.log:
        c.print(line, markup=False)
    c.print(table("CSF interface", ["field", "value"], [
        ("interface", f"{info.version.text} (GLB_VERSION {info.version.raw:#010x})"),
        ("features / instr_features", f"{info.features:#x} / "
                                      f"{'-' if info.instr_features is None else hex(info.instr_features)}"),
        ("csg_slot_count", f"{info.csg_slot_count} (group_num {info.group_num}, "
                           f"stride {info.group_stride:#x})"),
        ("cs_slot_count", f"{info.cs_slot_count} (stream stride {info.stream_stride:#x})"),
        ("cs_reg_count", info.cs_reg_count),
        ("scoreboard_slot_count", info.scoreboard_slot_count),
        ("unpreserved_cs_reg_count", info.unpreserved_cs_reg_count),
        ("suspend_size / protm_suspend_size", f"{info.suspend_size:#x} / {info.protm_suspend_size:#x}"),
        ("CS features", f"{info.cs_features:#x}"),
        ("shared section", f"{info.shared_va:#010x}-{info.shared_va + info.shared_size:#010x}"),
    ]))
    c.print(f"git sha: {fw.image.git_sha or '-'}")
    c.print(f"firmware ready in {format_time(total)} (host time from platform open)")
