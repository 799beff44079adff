"""Shared CLI plumbing: common options, output (rich tables or JSON), backend opening."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..platform import BACKEND_ENV, BACKENDS


def add_backend_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default=None,
        help=f"hardware backend (default: ${BACKEND_ENV} or 'auto': uio if a GPU node exists, else sim)",
    )


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")


def add_trace_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--trace",
        metavar="FILE",
        default=None,
        help="record every MMIO access to FILE (docs/trace-format.md; read it with 'mali-uio trace show')",
    )


def add_common_options(parser: argparse.ArgumentParser, *, backend: bool = True, json_out: bool = True,
                       trace: bool | None = None) -> None:
    """Options every subcommand accepts after its name.

    ``--trace FILE`` comes with ``--backend`` unless ``trace`` says otherwise: every command that
    opens a backend can record its MMIO accesses (:func:`open_backend` does the recording).
    """
    if backend:
        add_backend_option(parser)
    if json_out:
        add_json_option(parser)
    if backend if trace is None else trace:
        add_trace_option(parser)


def selected_backend(args: argparse.Namespace) -> str:
    return getattr(args, "backend", None) or os.environ.get(BACKEND_ENV) or "auto"


def console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    # Piped output (files, CI logs, tests) gets a wide fixed width so tables are not folded.
    width = None if stream.isatty() else 160
    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=width)


def print_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, indent=2, default=_json_default)
    sys.stdout.write("\n")


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if hasattr(obj, "__dataclass_fields__"):
        import dataclasses

        return dataclasses.asdict(obj)
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if isinstance(obj, bytes):
        return obj.hex()
    return str(obj)


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    t = Table(title=title, show_lines=False, header_style="bold")
    for col in columns:
        t.add_column(col, overflow="fold")
    for row in rows:
        t.add_row(*(escape(str(c)) for c in row))
    return t


def emit(args: argparse.Namespace, data: Any, render: Callable[[Console], None]) -> None:
    """Print ``data`` as JSON with --json, else call ``render`` with a rich console."""
    if getattr(args, "json", False):
        print_json(data)
    else:
        render(console())


def parse_int(text: str) -> int:
    """Parse a decimal or 0x-prefixed integer for argparse (``type=parse_int``)."""
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def describe_command(args: argparse.Namespace) -> str:
    """``mali-uio peek (target='GPU_ID', json=True, ...)``: the parsed command, for trace headers."""
    values = {k: v for k, v in vars(args).items() if not callable(v)}
    words = [str(values.pop(k)) for k in [k for k in values if k == "command" or k.endswith("_command")]
             if isinstance(values.get(k), str)]
    opts = ", ".join(f"{k}={v!r}" for k, v in sorted(values.items()) if v not in (None, False))
    return " ".join(["mali-uio", *words]) + (f" ({opts})" if opts else "")


def open_backend(args: argparse.Namespace, **options: Any) -> Any:
    """Open the platform selected by --backend / $MALI_UIO_BACKEND and report the choice on stderr.

    With ``--trace FILE`` every MMIO region is wrapped in a recorder (uio_driver.trace) before the
    platform is returned; without it the platform's regions are returned untouched (no cost).
    """
    from ..platform import open_platform

    platform = open_platform(selected_backend(args), **options)
    trace_path = getattr(args, "trace", None)
    if trace_path:
        from ..trace.recorder import start_tracing

        try:
            start_tracing(platform, trace_path, command=describe_command(args))
        except BaseException:
            platform.close()
            raise
    err = console(stderr=True)
    for note in platform.notes:
        err.print(f"[dim]{note}[/dim]")
    if not platform.notes:
        err.print(f"[dim]backend: {platform.name}{' (simulated GPU)' if platform.simulated else ''}[/dim]")
    return platform
