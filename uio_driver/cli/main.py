"""`mali-uio` command line: subcommands are discovered from ``uio_driver.cli.commands``.

Each module in that package defines ``register(subparsers)``, which adds its parser(s) and sets
``func`` (called with the parsed namespace, returning an exit code). A :class:`MaliError` becomes a
one-line message on stderr (plus a greppable ``MALI_UIO_FAIL`` line) and exit code 1, never a
traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from .. import __version__
from ..errors import MaliError
from . import commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mali-uio",
        description="Userspace driver for the Arm Mali-G610 (CSF) on RK3588, with a simulated GPU.",
    )
    parser.add_argument("--version", action="version", version=f"mali-uio {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        try:
            module = importlib.import_module(f"{commands.__name__}.{info.name}")
        except Exception as err:  # one broken command must not take the others down
            print(f"mali-uio: warning: command module {info.name} failed to load: {err}", file=sys.stderr)
            continue
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.func(args)
    except MaliError as err:
        print(f"mali-uio: error: {err}", file=sys.stderr)
        print(err.fail_line(), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("mali-uio: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
