"""tools/gen_uapi_layout.py: header parsing and a compile run on a tiny hand-written header pair."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

TOOL = Path(__file__).resolve().parents[1] / "tools" / "gen_uapi_layout.py"


@pytest.fixture(scope="module")
def tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_uapi_layout", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


HEADER = """
/* comment with struct fake { int x; }; inside */
#include "drm.h"
enum drm_fake_ids { DRM_FAKE_A = 0, DRM_FAKE_B, };
#define DRM_FAKE_OFFSET (1ull << 43)
#define DRM_FAKE_FN(x) ((x) + 1)
struct drm_fake_inner {
	__u32 stride;
	__u32 count;
	__u64 array;
};
struct drm_fake_outer {
	__u8 prio;
	__u8 pad[3];          // trailing comment
#define DRM_FAKE_INSIDE 7
	__u32 size;
	struct drm_fake_inner ops;
};
enum {
	DRM_IOCTL_FAKE = DRM_IOWR(DRM_COMMAND_BASE + DRM_FAKE_B, struct drm_fake_outer),
};
"""


def test_parsers(tool: ModuleType) -> None:
    decls = tool.parse_structs(HEADER)
    assert [(d.name, d.fields) for d in decls] == [
        ("drm_fake_inner", ("stride", "count", "array")),
        ("drm_fake_outer", ("prio", "pad", "size", "ops")),
    ]
    assert tool.parse_enum_members(HEADER) == ["DRM_FAKE_A", "DRM_FAKE_B", "DRM_IOCTL_FAKE"]
    assert tool.parse_numeric_macros(HEADER) == ["DRM_FAKE_OFFSET", "DRM_FAKE_INSIDE"]


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed (the generator compiles C)")
def test_generator_end_to_end(tool: ModuleType, tmp_path: Path) -> None:
    hdr = tmp_path / "hdr"
    hdr.mkdir()
    (hdr / "panthor_drm.h").write_text(HEADER)
    drm_structs = "\n".join(f"struct {name} {{ __u32 handle; __u32 pad; }};" for name in tool.DRM_STRUCTS)
    values = {name: i for i, name in enumerate(tool.DRM_CONSTANTS)} | {"DRM_COMMAND_BASE": 0x40}
    drm_consts = "\n".join(f"#define {name} {value}" for name, value in values.items())
    (hdr / "drm.h").write_text(
        "#include <linux/types.h>\n#include <asm/ioctl.h>\n" + drm_structs + "\n" + drm_consts
        + "\n#define DRM_IOWR(nr,type) _IOWR('d',nr,type)\n"
    )
    out = tmp_path / "layout.json"
    assert tool.main([str(hdr), "-o", str(out), "--source", "panthor_drm.h=test@0"]) == 0
    doc = json.loads(out.read_text())
    outer = doc["structs"]["drm_fake_outer"]
    # Hand-computed: prio@0, pad[3]@1, size@4, ops (u64-aligned) @8, total 24, align 8.
    assert (outer["size"], outer["align"]) == (24, 8)
    assert [(f["name"], f["offset"], f["size"]) for f in outer["fields"]] == [
        ("prio", 0, 1), ("pad", 1, 3), ("size", 4, 4), ("ops", 8, 16)]
    assert doc["constants"]["DRM_FAKE_OFFSET"] == 1 << 43
    assert doc["constants"]["DRM_FAKE_B"] == 1
    assert doc["constants"]["DRM_IOCTL_FAKE"] == 0xC0186441
    assert doc["structs"]["drm_gem_close"]["size"] == 8
    assert doc["sources"] == {"panthor_drm.h": "test@0"}


def test_missing_header_is_reported(tool: ModuleType, tmp_path: Path) -> None:
    assert tool.main([str(tmp_path), "-o", str(tmp_path / "x.json")]) == 1
