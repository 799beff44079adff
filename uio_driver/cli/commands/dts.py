"""`mali-uio dts ...`: render, build, check and install the device-tree overlay for a board.

* ``dts build BOARD [-o OUT] [--variant uio|vfio] [--kernel mainline|vendor] [--source] [--check BASE]``
* ``dts install BOARD [--boot FLOW] [--overlay-dir DIR] [--root DIR] [--dry-run]``
* ``dts show BOARD`` prints the rendered source; ``dts boards`` lists profiles and detection.

``BOARD`` is a profile name, alias or board compatible, or ``auto`` (detect from ``--root``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from ... import boards, dts
from ...errors import AccessDenied, InvalidArgument
from ..common import add_common_options, console, print_json, table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dts", help="device-tree overlay for a board: build, install, show")
    dsub = p.add_subparsers(dest="dts_command", metavar="ACTION")
    dsub.required = True

    build = dsub.add_parser("build", help="render and compile the overlay (.dtbo) for a board")
    _board_options(build)
    build.add_argument("-o", "--output", metavar="OUT",
                       help="output file or directory (default: ./<overlay name>.dtbo, .dts with --source)")
    build.add_argument("--source", action="store_true",
                       help="write the rendered .dts source instead of a .dtbo")
    build.add_argument("--check", metavar="BASE_DTB", type=Path,
                       help="also apply the overlay to this board DTB with fdtoverlay (offline check)")
    add_common_options(build, backend=False)
    build.set_defaults(func=run_build)

    install = dsub.add_parser("install", help="build the overlay and copy it where the boot flow loads it")
    _board_options(install)
    install.add_argument("--boot", choices=sorted(dts.BOOT_FLOWS), default="extlinux",
                         help="boot flow (default extlinux: /boot/dtbs/rockchip/overlay)")
    install.add_argument("--overlay-dir", metavar="DIR",
                         help="absolute directory on the target (overrides --boot's)")
    install.add_argument("--dry-run", action="store_true",
                         help="print what would be installed; write nothing")
    add_common_options(install, backend=False)
    install.set_defaults(func=run_install)

    show = dsub.add_parser("show", help="print the rendered overlay source for a board")
    _board_options(show)
    show.set_defaults(func=run_show)

    listing = dsub.add_parser("boards", help="list board profiles and the detected board")
    listing.add_argument("--root", type=Path, default=Path("/"), help="system root for detection (default /)")
    add_common_options(listing, backend=False)
    listing.set_defaults(func=run_boards)


def _board_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("board", metavar="BOARD", help="board profile name, alias or compatible, or 'auto'")
    p.add_argument("--variant", choices=dts.VARIANTS, default="uio",
                   help="uio: three generic-uio nodes (default); vfio: one vfio-platform device")
    p.add_argument("--kernel", choices=dts.KERNELS, default="mainline",
                   help="clock/interrupt numbering of the kernel the board boots (default mainline)")
    p.add_argument("--root", type=Path, default=Path("/"),
                   help="root of the target system: where BOARD=auto looks for the device tree "
                        "and where install writes (default /)")


def _render(args: argparse.Namespace) -> tuple[dts.RenderedOverlay, boards.BoardProfile]:
    profile, detected = boards.resolve_board(args.board, root=args.root)
    if detected and not getattr(args, "json", False):
        print(f"mali-uio: {detected}", file=sys.stderr)
    return dts.render_overlay(profile, args.variant, args.kernel), profile


# --------------------------------------------------------------------------------------------
# build
# --------------------------------------------------------------------------------------------


def run_build(args: argparse.Namespace) -> int:
    rendered, profile = _render(args)
    if args.check is not None and not args.check.is_file():
        raise InvalidArgument(f"--check: base DTB {args.check} not found")
    compiled = dts.compile_overlay(rendered.source, what=f"dtc ({rendered.template.name})")
    # check before writing, so a refused build leaves no output file behind
    checked = _check(args.check, compiled.dtb, rendered) if args.check is not None else None
    out = _output_path(args.output, rendered, args.source)
    data = rendered.source.encode() if args.source else compiled.dtb
    _write(out, data)
    summary = _summary(rendered, profile, out, len(data), compiled.warnings, checked)
    if args.json:
        print_json(summary)
        return 0
    kind = "overlay source" if args.source else "overlay"
    print(f"wrote {kind} {out} ({len(data)} bytes) for {profile.name} [{profile.key}]: "
          f"{rendered.variant} variant, {rendered.kernel} numbering, template dts/{rendered.template.name}")
    print(_describe(rendered))
    for warning in compiled.warnings:
        print(f"dtc: {warning}")
    if checked:
        print(f"checked: the overlay applies to {args.check} (fdtoverlay)")
    print()
    for flow_name in profile.boot.mechanisms:
        flow = dts.boot_flow(flow_name)
        print("\n".join(dts.enable_lines(flow, rendered.filename, variant=rendered.variant)))
        print()
    print("\n".join(dts.uboot_lines(rendered.filename, dts.BOOT_FLOWS["extlinux"].overlay_dir)))
    print()
    print("\n".join(dts.module_lines(rendered.variant)))
    return 0


def _output_path(output: str | None, rendered: dts.RenderedOverlay, source: bool) -> Path:
    name = f"{rendered.name}.dts" if source else rendered.filename
    if output is None:
        return Path(name)
    path = Path(output)
    return path / name if path.is_dir() else path


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as err:
        raise AccessDenied(f"cannot write {path}: {err.strerror or err}", errno=err.errno) from err


def _check(base: Path, dtb: bytes, rendered: dts.RenderedOverlay) -> bool:
    with tempfile.TemporaryDirectory(prefix="mali-uio-dts-") as tmp:
        overlay = Path(tmp) / rendered.filename
        overlay.write_bytes(dtb)
        dts.apply_overlays(base, [overlay], Path(tmp) / "merged.dtb")
    return True


def _describe(rendered: dts.RenderedOverlay) -> str:
    p = rendered.params
    nodes = ("UIO devices mali-hil-job (map0 GPU registers, map1 carveout), mali-hil-mmu, mali-hil-gpu"
             if rendered.variant == "uio" else
             f"vfio-platform device {dts.PLATFORM_DEVICE} (compatible hil,mali-vfio, IRQs job/mmu/gpu)")
    return (f"  &gpu disabled; {p.regulator} regulator-always-on; no-map carveout {p.carveout_base:#x} + "
            f"{p.carveout_size >> 20} MiB; {nodes}")


def _summary(rendered: dts.RenderedOverlay, profile: boards.BoardProfile, out: Path | None, size: int,
             warnings: tuple[str, ...], checked: bool | None) -> dict[str, Any]:
    return {
        "board": profile.key,
        "variant": rendered.variant,
        "kernel": rendered.kernel,
        "template": rendered.template.name,
        "output": str(out) if out else None,
        "size": size,
        "regulator": rendered.params.regulator,
        "carveout": {"base": f"{rendered.params.carveout_base:#x}",
                     "size": f"{rendered.params.carveout_size:#x}"},
        "dtc_warnings": list(warnings),
        "checked": checked,
        "enable": {name: dts.enable_lines(dts.boot_flow(name), rendered.filename, variant=rendered.variant)
                   for name in profile.boot.mechanisms},
        "modules": dts.module_lines(rendered.variant),
    }


# --------------------------------------------------------------------------------------------
# install / show / boards
# --------------------------------------------------------------------------------------------


def run_install(args: argparse.Namespace) -> int:
    rendered, profile = _render(args)
    flow = dts.boot_flow(args.boot)
    compiled = dts.compile_overlay(rendered.source, what=f"dtc ({rendered.template.name})")
    result = dts.install_overlay(compiled.dtb, rendered.filename, flow=flow, root=args.root,
                                 overlay_dir=args.overlay_dir, dry_run=args.dry_run)
    lines = dts.enable_lines(flow, rendered.filename, result.overlay_dir, variant=rendered.variant)
    if args.json:
        print_json({"board": profile.key, "variant": rendered.variant, "kernel": rendered.kernel,
                    "boot": flow.name, "destination": str(result.destination), "dry_run": result.dry_run,
                    "replaced": result.replaced, "size": result.size, "enable": lines,
                    "modules": dts.module_lines(rendered.variant)})
        return 0
    verb = "would install" if args.dry_run else ("replaced" if result.replaced else "installed")
    print(f"{verb} {result.destination} ({result.size} bytes) for {profile.name} [{profile.key}], "
          f"{rendered.variant} variant, {rendered.kernel} numbering")
    if args.dry_run:
        print("dry run: nothing was written")
    others = [m for m in profile.boot.mechanisms if m != flow.name]
    if others:
        print(f"note: this board's images may also use: {', '.join(others)} (--boot NAME)")
    print()
    print("\n".join(lines))
    print()
    print("\n".join(dts.module_lines(rendered.variant)))
    return 0


def run_show(args: argparse.Namespace) -> int:
    rendered, _ = _render(args)
    sys.stdout.write(rendered.source)
    return 0


def run_boards(args: argparse.Namespace) -> int:
    profiles = boards.load_profiles()
    found = boards.detect_board(args.root, profiles)
    if args.json:
        print_json({"profiles": [p.to_dict() for p in profiles.values()], "detection": found.to_dict()})
        return 0
    rows = [(p.key, p.name, p.soc, ", ".join(p.compatible), p.gpu_regulator_label,
             f"{p.carveout.base:#x}+{p.carveout.size >> 20}M", ", ".join(p.boot.mechanisms))
            for p in profiles.values()]
    con = console()
    con.print(table("board profiles", ["profile", "board", "soc", "compatible", "regulator", "carveout",
                                       "boot"], rows))
    con.print(f"detection ({args.root}): {found.status}: {found.message}", markup=False)
    return 0
