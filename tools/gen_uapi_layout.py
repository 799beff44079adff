#!/usr/bin/env python3
"""Measure the panthor/DRM uAPI byte layouts with a C compiler and write them as JSON.

Usage::

    python tools/gen_uapi_layout.py HEADER_DIR -o tests/data/uapi_layout.json \\
        --source panthor_drm.h="raspberrypi/linux@<commit>" --source drm.h="..."

``HEADER_DIR`` holds ``panthor_drm.h`` and ``drm.h`` (directly, in ``drm/`` or in
``include/uapi/drm/``). The script

1. parses the header text for every ``struct`` of ``panthor_drm.h`` (all of them) and the generic
   structs of ``drm.h`` listed in :data:`DRM_STRUCTS`, and for every enum member / numeric macro of
   ``panthor_drm.h`` plus the ``drm.h`` constants in :data:`DRM_CONSTANTS`;
2. writes a small C program that includes the headers and prints ``sizeof``/``_Alignof``/
   ``offsetof`` of every struct and field and the value of every constant;
3. compiles it with ``gcc`` (or ``--cc``), runs it and writes the JSON (sorted, stable).

The parser only finds names; every number in the output comes from the compiler, so the JSON is an
independent check of the hand-written ctypes classes in ``uio_driver/uapi`` (see
``tests/test_uapi_layout.py``). A ``drm_mode.h`` stand-in (empty) is supplied only when the header
directory has none: ``drm.h`` includes it, but nothing measured here depends on it.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import cast

#: Generic DRM structs a panthor client needs (cs-isa-and-uapi.md §4.2).
DRM_STRUCTS: tuple[str, ...] = (
    "drm_version",
    "drm_gem_close",
    "drm_get_cap",
    "drm_prime_handle",
    "drm_syncobj_create",
    "drm_syncobj_destroy",
    "drm_syncobj_handle",
    "drm_syncobj_transfer",
    "drm_syncobj_wait",
    "drm_syncobj_timeline_wait",
    "drm_syncobj_eventfd",
    "drm_syncobj_array",
    "drm_syncobj_timeline_array",
)

#: ``drm.h`` constants mirrored in ``uio_driver/uapi/drm.py`` and ``ioctls.py``.
DRM_CONSTANTS: tuple[str, ...] = (
    "DRM_IOCTL_BASE",
    "DRM_COMMAND_BASE",
    "DRM_COMMAND_END",
    "DRM_CAP_DUMB_BUFFER",
    "DRM_CAP_VBLANK_HIGH_CRTC",
    "DRM_CAP_DUMB_PREFERRED_DEPTH",
    "DRM_CAP_DUMB_PREFER_SHADOW",
    "DRM_CAP_PRIME",
    "DRM_PRIME_CAP_IMPORT",
    "DRM_PRIME_CAP_EXPORT",
    "DRM_CAP_TIMESTAMP_MONOTONIC",
    "DRM_CAP_ASYNC_PAGE_FLIP",
    "DRM_CAP_CURSOR_WIDTH",
    "DRM_CAP_CURSOR_HEIGHT",
    "DRM_CAP_ADDFB2_MODIFIERS",
    "DRM_CAP_PAGE_FLIP_TARGET",
    "DRM_CAP_CRTC_IN_VBLANK_EVENT",
    "DRM_CAP_SYNCOBJ",
    "DRM_CAP_SYNCOBJ_TIMELINE",
    "DRM_CAP_ATOMIC_ASYNC_PAGE_FLIP",
    "DRM_RDWR",
    "DRM_CLOEXEC",
    "DRM_SYNCOBJ_CREATE_SIGNALED",
    "DRM_SYNCOBJ_FD_TO_HANDLE_FLAGS_IMPORT_SYNC_FILE",
    "DRM_SYNCOBJ_FD_TO_HANDLE_FLAGS_TIMELINE",
    "DRM_SYNCOBJ_HANDLE_TO_FD_FLAGS_EXPORT_SYNC_FILE",
    "DRM_SYNCOBJ_HANDLE_TO_FD_FLAGS_TIMELINE",
    "DRM_SYNCOBJ_WAIT_FLAGS_WAIT_ALL",
    "DRM_SYNCOBJ_WAIT_FLAGS_WAIT_FOR_SUBMIT",
    "DRM_SYNCOBJ_WAIT_FLAGS_WAIT_AVAILABLE",
    "DRM_SYNCOBJ_WAIT_FLAGS_WAIT_DEADLINE",
    "DRM_SYNCOBJ_QUERY_FLAGS_LAST_SUBMITTED",
    "DRM_IOCTL_VERSION",
    "DRM_IOCTL_GEM_CLOSE",
    "DRM_IOCTL_GET_CAP",
    "DRM_IOCTL_PRIME_HANDLE_TO_FD",
    "DRM_IOCTL_PRIME_FD_TO_HANDLE",
    "DRM_IOCTL_SYNCOBJ_CREATE",
    "DRM_IOCTL_SYNCOBJ_DESTROY",
    "DRM_IOCTL_SYNCOBJ_HANDLE_TO_FD",
    "DRM_IOCTL_SYNCOBJ_FD_TO_HANDLE",
    "DRM_IOCTL_SYNCOBJ_WAIT",
    "DRM_IOCTL_SYNCOBJ_RESET",
    "DRM_IOCTL_SYNCOBJ_SIGNAL",
    "DRM_IOCTL_SYNCOBJ_TIMELINE_WAIT",
    "DRM_IOCTL_SYNCOBJ_QUERY",
    "DRM_IOCTL_SYNCOBJ_TRANSFER",
    "DRM_IOCTL_SYNCOBJ_TIMELINE_SIGNAL",
    "DRM_IOCTL_SYNCOBJ_EVENTFD",
)

_STRUCT_RE = re.compile(r"\bstruct\s+(\w+)\s*\{([^{}]*)\}\s*;")
_STRUCT_OPEN_RE = re.compile(r"\bstruct\s+(\w+)\s*\{")
_ENUM_RE = re.compile(r"\benum\s*(\w*)\s*\{([^{}]*)\}\s*;")
_DEFINE_RE = re.compile(r"^#define\s+([A-Z][A-Z0-9_]*)\s+(\S.*)$", re.MULTILINE)
_FIELD_NAME_RE = re.compile(r"(\w+)\s*(?:\[[^\]]*\])?\s*$")


class LayoutError(RuntimeError):
    """The headers could not be found, parsed or compiled."""


@dataclass(frozen=True)
class StructDecl:
    """A struct found in a header: its name and field names in declaration order."""

    name: str
    fields: tuple[str, ...]


def strip_comments(text: str) -> str:
    """Remove C block and line comments (header text has no comment markers inside strings)."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.DOTALL)
    return re.sub(r"//[^\n]*", " ", text)


def _join_continuations(text: str) -> str:
    return text.replace("\\\n", " ")


def parse_structs(text: str) -> list[StructDecl]:
    """Every ``struct name { ... };`` without nested braces, with its field names."""
    code = strip_comments(_join_continuations(text))
    code = "\n".join(line for line in code.splitlines() if not line.lstrip().startswith("#"))
    out: list[StructDecl] = []
    for match in _STRUCT_RE.finditer(code):
        fields: list[str] = []
        for decl in match.group(2).split(";"):
            decl = decl.strip()
            if not decl:
                continue
            name = _FIELD_NAME_RE.search(decl)
            if name is None:
                raise LayoutError(f"cannot parse field {decl!r} of struct {match.group(1)}")
            fields.append(name.group(1))
        out.append(StructDecl(match.group(1), tuple(fields)))
    return out


def _split_top_level(body: str) -> list[str]:
    """Split on commas that are not inside parentheses (enumerators may call macros)."""
    items, depth, start = [], 0, 0
    for i, ch in enumerate(body):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            items.append(body[start:i])
            start = i + 1
    items.append(body[start:])
    return [item.strip() for item in items if item.strip()]


def parse_enum_members(text: str) -> list[str]:
    """Names of every enumerator (named or anonymous enums)."""
    code = strip_comments(_join_continuations(text))
    names: list[str] = []
    for match in _ENUM_RE.finditer(code):
        names += [item.split("=")[0].strip() for item in _split_top_level(match.group(2))]
    return names


def parse_numeric_macros(text: str) -> list[str]:
    """Object-like macros whose body is an expression (not a string, not a type)."""
    code = strip_comments(_join_continuations(text))
    names = []
    for name, body in _DEFINE_RE.findall(code):
        if name.startswith("_") or '"' in body or "struct" in body:
            continue
        names.append(name)
    return names


def find_header(header_dir: Path, name: str) -> Path:
    """Locate ``name`` in ``header_dir`` or its ``drm/`` / ``include/uapi/drm/`` subfolders."""
    for sub in (".", "drm", "include/uapi/drm"):
        path = header_dir / sub / name
        if path.is_file():
            return path
    raise LayoutError(f"{name} not found under {header_dir}")


def _emit_struct(lines: list[str], decl: StructDecl) -> None:
    t = f"struct {decl.name}"
    lines.append(f'  printf("S\\t{decl.name}\\t%zu\\t%zu\\n", sizeof({t}), _Alignof({t}));')
    for field in decl.fields:
        lines.append(
            f'  printf("F\\t{decl.name}\\t{field}\\t%zu\\t%zu\\n", offsetof({t}, {field}), '
            f"sizeof((({t} *)0)->{field}));"
        )


def build_program(structs: list[StructDecl], constants: list[str]) -> str:
    """C source printing one tab-separated record per struct (S), field (F) and constant (C)."""
    lines = [
        "#define _GNU_SOURCE",  # O_CLOEXEC (DRM_CLOEXEC) under -std=c11
        "#define __user",  # headers_install strips __user; the raw uapi text still has it
        "#include <stdio.h>",
        "#include <stddef.h>",
        "#include <fcntl.h>",
        '#include "panthor_drm.h"',
        "int main(void)",
        "{",
    ]
    for decl in structs:
        _emit_struct(lines, decl)
    for name in constants:
        lines.append(f'  printf("C\\t{name}\\t%lld\\n", (long long)({name}));')
    lines += ["  return 0;", "}", ""]
    return "\n".join(lines)


def _run(cmd: list[str], cwd: Path) -> str:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise LayoutError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc.stdout


def compile_and_run(program: str, include_dir: Path, cc: str) -> str:
    """Compile ``program`` against ``include_dir`` and return its output."""
    with tempfile.TemporaryDirectory(prefix="uapi_layout_") as tmp:
        work = Path(tmp)
        fallback = work / "fallback"
        fallback.mkdir()
        (fallback / "drm_mode.h").write_text("/* stand-in: nothing measured needs drm_mode.h */\n")
        (work / "layout.c").write_text(program)
        _run(
            [cc, "-std=c11", "-Wall", "-Werror", f"-I{include_dir}", f"-idirafter{fallback}",
             "-o", "layout", "layout.c"],
            work,
        )
        return _run([str(work / "layout")], work)


def parse_output(output: str) -> tuple[dict[str, dict[str, object]], dict[str, int]]:
    """Turn the program's records into the ``structs`` and ``constants`` JSON objects."""
    structs: dict[str, dict[str, object]] = {}
    constants: dict[str, int] = {}
    for line in output.splitlines():
        kind, *rest = line.split("\t")
        if kind == "S":
            structs[rest[0]] = {"size": int(rest[1]), "align": int(rest[2]), "fields": []}
        elif kind == "F":
            fields = cast(list[dict[str, object]], structs[rest[0]]["fields"])
            fields.append({"name": rest[1], "offset": int(rest[2]), "size": int(rest[3])})
        elif kind == "C":
            constants[rest[0]] = int(rest[1])
    return structs, constants


def collect(header_dir: Path) -> tuple[Path, list[StructDecl], list[str]]:
    """Find the headers and list what to measure."""
    panthor = find_header(header_dir, "panthor_drm.h")
    drm = find_header(header_dir, "drm.h")
    if panthor.parent != drm.parent:
        raise LayoutError(f"panthor_drm.h ({panthor}) and drm.h ({drm}) must be in one folder")
    ptext = panthor.read_text()
    panthor_structs = parse_structs(ptext)
    opened = _STRUCT_OPEN_RE.findall(strip_comments(ptext))
    if len(opened) != len(panthor_structs):
        raise LayoutError(f"parsed {len(panthor_structs)} of {len(opened)} structs in {panthor}")
    drm_all = {s.name: s for s in parse_structs(drm.read_text())}
    missing = [n for n in DRM_STRUCTS if n not in drm_all]
    if missing:
        raise LayoutError(f"drm.h lacks {missing}")
    structs = panthor_structs + [drm_all[n] for n in DRM_STRUCTS]
    constants = parse_enum_members(ptext) + parse_numeric_macros(ptext) + list(DRM_CONSTANTS)
    return panthor.parent, structs, list(dict.fromkeys(constants))


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("header_dir", type=Path)
    ap.add_argument("-o", "--output", type=Path, required=True)
    ap.add_argument("--cc", default="gcc")
    ap.add_argument("--source", action="append", default=[], metavar="FILE=ORIGIN",
                    help="record where a header came from (repeatable)")
    args = ap.parse_args(argv)
    if shutil.which(args.cc) is None:
        print(f"gen_uapi_layout: compiler {args.cc!r} not found", file=sys.stderr)
        return 1
    try:
        include_dir, decls, constants = collect(args.header_dir)
        output = compile_and_run(build_program(decls, constants), include_dir, args.cc)
    except LayoutError as err:
        print(f"gen_uapi_layout: {err}", file=sys.stderr)
        return 1
    structs, values = parse_output(output)
    doc = {
        "generator": "tools/gen_uapi_layout.py",
        "compiler": _run([args.cc, "--version"], Path.cwd()).splitlines()[0],
        "target": _run([args.cc, "-dumpmachine"], Path.cwd()).strip(),
        "sources": dict(s.split("=", 1) for s in args.source),
        "structs": structs,
        "constants": values,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(structs)} structs, {len(values)} constants to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
