"""`mali-uio setup udev`: install the udev rules and module configuration for the mali-hil devices.

Writes ``60-mali-hil.rules`` (group access and ``/dev/mali-hil/<name>`` symlinks for the UIO
nodes, vfio nodes), the ``uio_pdrv_genirq of_id=generic-uio`` modprobe option and the
modules-load entry under ``--root`` (default ``/``). ``--dry-run`` prints the files and commands
without writing anything. The follow-up commands (udevadm, groupadd, usermod, modprobe) are
printed, not run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ... import udev
from ..common import add_common_options, print_json

_DRY_VERBS = {"created": "would create", "updated": "would update", "unchanged": "unchanged"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("setup", help="install host configuration for the GPU devices")
    ssub = p.add_subparsers(dest="setup_command", metavar="WHAT")
    ssub.required = True
    rules = ssub.add_parser("udev", help="udev rules, modprobe options and modules-load entry")
    rules.add_argument("--group", default=udev.DEFAULT_GROUP,
                       help=f"group given read/write access to the devices (default {udev.DEFAULT_GROUP})")
    rules.add_argument("--vfio", action="store_true",
                       help="also configure vfio-platform (no-IOMMU, reset_required=0, driver_override rule)")
    rules.add_argument("--dry-run", action="store_true", help="print what would be written; write nothing")
    rules.add_argument("--root", type=Path, default=Path("/"), help="root of the target system (default /)")
    add_common_options(rules, backend=False)
    rules.set_defaults(func=run_udev)


def run_udev(args: argparse.Namespace) -> int:
    plan = udev.plan_setup(args.group, vfio=args.vfio)
    actions = udev.apply_setup(plan, args.root, dry_run=args.dry_run)
    if args.json:
        data = plan.to_dict()
        data.update(root=str(args.root), dry_run=args.dry_run,
                    actions=[{"path": str(a.path), "action": a.action} for a in actions])
        print_json(data)
        return 0
    for spec, action in zip(plan.files, actions, strict=True):
        if args.dry_run:
            verb = _DRY_VERBS[action.action]
            print(f"--- {verb}: {action.path}")
            print(spec.content, end="")
        else:
            print(f"{action.action}: {action.path}")
    print()
    print("dry run: nothing was written; then run (as root):" if args.dry_run else "now run (as root):")
    for command in plan.commands:
        print(f"  {command}")
    return 0
