"""The parser against the five Arm firmware blobs, checked field by field against the reference.

Expected values are transcribed from shared/reference/csf-firmware-and-interfaces.md: the entry
tables of §2.2-§2.5 are embedded verbatim below (``REFERENCE_TABLES``) and each row is compared with
the parsed entry; §2.1/§2.7/§2.8 give the header facts, the interface versions and the shared
section's control blocks. The blobs themselves stay in the shared folder (never copied here).
"""

# The reference tables below are kept verbatim, so their rows are longer than the line limit.
# ruff: noqa: E501

from __future__ import annotations

import hashlib
import struct

import pytest
from blobs import shared_firmware_root

from uio_driver.firmware import (
    BuildInfoEntry,
    CacheMode,
    ConfigEntry,
    CoreDumpEntry,
    FirmwareEntry,
    FuncCallListEntry,
    PageFaultCountEntry,
    TimelineMetadataEntry,
    TraceBufferEntry,
    UnknownEntry,
    parse_firmware,
)

FIRMWARE_ROOT = shared_firmware_root()
pytestmark = pytest.mark.skipif(
    not FIRMWARE_ROOT.is_dir(),
    reason=f"the Arm firmware blobs are not available ({FIRMWARE_ROOT} missing; set MALI_UIO_SHARED_FIRMWARE)",
)

ARCHES = ("10.8", "11.8", "12.8", "13.8")
GIT_SHA = "95a25d71030715381f33105394285e1dcc860a65"

# §2.1-§2.5 summary rows and §2.7 interface versions:
# file size, sha256, version_hash, entry-table end, entries, IFACE sections, (major, minor, patch),
# GLB control word 0x20 (prfcnt_features, §2.8).
FACTS = {
    "10.8": (282624, "a27847ea11f8efb3136340c3ba8aab413ae25145eeb4a7f64ff5edd829a2405b", 0x01050000, 0x318,
             24, 8, (1, 5, 0), 1),
    "11.8": (299008, "98ef32f43f05d03711580fb78f44a5b24dcd1f8a2f3ab09a25410fb3d39d7e1d", 0x02080000, 0x318,
             24, 8, (2, 8, 0), 2),
    "12.8": (307200, "718f6224e7af2b7876cad22ef4b1e087a0479af81dc46befcea5d1aeca96412b", 0x030D0000, 0x338,
             25, 9, (3, 13, 0), 2),
    "13.8": (311296, "0aa6e8c796b85215e18d1fae12a891c65523847f5531fa877c59363b1be29e6a", 0x030D0000, 0x338,
             25, 9, (3, 13, 0), 2),
}

# §2.2-§2.5, verbatim: IFACE rows have 10 columns, the other rows 7.
REFERENCE_TABLES = {
    "10.8": """
| 0 | 0x014 | 0x00000009 | RD CM=CACHED | 0x00400000 | 0x00410000 | 0x00131c | 0x001398 | 0x7c | `0000004000000000` |
| 1 | 0x034 | 0x00000009 | RD CM=CACHED | 0x00410000 | 0x00420000 | 0x0013a0 | 0x0026c4 | 0x1324 | `0000004100000000` |
| 2 | 0x054 | 0x00000009 | RD CM=CACHED | 0x00000000 | 0x00010000 | 0x00131c | 0x001398 | 0x7c | `0000000000000000` |
| 3 | 0x074 | 0x0000000d | RD EX CM=CACHED | 0x00800000 | 0x00820000 | 0x0026c4 | 0x016ac8 | 0x14404 | `0000008000000000` |
| 4 | 0x094 | 0x8000000b | RD WR CM=CACHED ZERO | 0x02000000 | 0x02040000 | 0x016ac8 | 0x0422a8 | 0x2b7e0 | `0000000002000000` |
| 5 | 0x0b4 | 0x80000009 | RD CM=CACHED ZERO | 0x01000000 | 0x01040000 | 0x016ac8 | 0x0422a8 | 0x2b7e0 | `0000000001000000` |
| 6 | 0x0d4 | 0x0000002b | RD WR CM=CACHED PROT | 0x03000000 | 0x03040000 | 0x000000 | 0x000000 | 0x0 | `0000000003000000` |
| 7 | 0x0f4 | 0xc000001b | RD WR CM=CACHED_COHERENT SHARED ZERO | 0x04000000 | 0x04010000 | 0x043000 | 0x045000 | 0x2000 | `0000000004000000` |
| 8 | 0x114 | 0xc0002001 | 1 | 32 | 1/1 | CONFIG "Log verbosity": addr 0x4112cc, min 0, max 0x3 |
| 9 | 0x134 | 0x80001801 | 1 | 24 | 1/0 | CONFIG "WA_CFG0": addr 0x410000, min 0, max 0xffffffff |
| 10 | 0x14c | 0x80002803 | 3 | 40 | 1/0 | TRACE_BUFFER "fwutf": kind 0, size@0x410004, insert@0x410008, extract@0x41000c, data@0x410010, enable@0x410014, enable_bits 0 |
| 11 | 0x174 | 0x80003003 | 3 | 48 | 1/0 | TRACE_BUFFER "firmware trace": kind 1, size@0x410014, insert@0x410018, extract@0x41001c, data@0x410020, enable@0x410024, enable_bits 4 |
| 12 | 0x1a4 | 0xc0002803 | 3 | 40 | 1/1 | TRACE_BUFFER "fwlog": kind 1, size@0x410028, insert@0x41002c, extract@0x410030, data@0x410034, enable@0x4112d0, enable_bits 17 |
| 13 | 0x1cc | 0x80002c03 | 3 | 44 | 1/0 | TRACE_BUFFER "benchmark": kind 0, size@0x410038, insert@0x41003c, extract@0x410040, data@0x410044, enable@0x410048, enable_bits 57 |
| 14 | 0x1f8 | 0xc0002c03 | 3 | 44 | 1/1 | TRACE_BUFFER "timeline": kind 0, size@0x410050, insert@0x410054, extract@0x410058, data@0x41005c, enable@0x4112d4, enable_bits 1 |
| 15 | 0x224 | 0xc0003403 | 3 | 52 | 1/1 | TRACE_BUFFER "debug monitor in": kind 1, size@0x410060, insert@0x410064, extract@0x410068, data@0x41006c, enable@0x4112d8, enable_bits 2 |
| 16 | 0x258 | 0xc0003403 | 3 | 52 | 1/1 | TRACE_BUFFER "debug monitor out": kind 1, size@0x410070, insert@0x410074, extract@0x410078, data@0x41007c, enable@0x4112dc, enable_bits 2 |
| 17 | 0x28c | 0xc0002c03 | 3 | 44 | 1/1 | TRACE_BUFFER "gpu_metrics": kind 0, size@0x410080, insert@0x410084, extract@0x410088, data@0x41008c, enable@0x4112e0, enable_bits 1 |
| 18 | 0x2b8 | 0x80001007 | 7 | 16 | 1/0 | FUNC_CALL_LIST "log": 0x410d84-0x4112cc |
| 19 | 0x2c8 | 0x80000c06 | 6 | 12 | 1/0 | BUILD_INFO_METADATA: meta_start 0x318, meta_size 51 |
| 20 | 0x2d4 | 0x80001405 | 5 | 20 | 1/0 | type 5 (undocumented): 0x34c, 0x28, 0x1, 0x100 |
| 21 | 0x2e8 | 0x80000c09 | 9 | 12 | 1/0 | CORE_DUMP: version 0x1, regs addr 0x0202de58 |
| 22 | 0x2f4 | 0x80001c04 | 4 | 28 | 1/0 | TIMELINE_METADATA "timeline_header": data 0x374, size 0xfa5 |
| 23 | 0x310 | 0x80000808 | 8 | 8 | 1/0 | PAGE_FAULT_CNT: addr 0x410408 |
""",
    "11.8": """
| 0 | 0x014 | 0x00000009 | RD CM=CACHED | 0x00400000 | 0x00410000 | 0x00131c | 0x00139c | 0x80 | `0000004000000000` |
| 1 | 0x034 | 0x00000009 | RD CM=CACHED | 0x00410000 | 0x00420000 | 0x0013a0 | 0x0028b4 | 0x1514 | `0000004100000000` |
| 2 | 0x054 | 0x00000009 | RD CM=CACHED | 0x00000000 | 0x00010000 | 0x00131c | 0x00139c | 0x80 | `0000000000000000` |
| 3 | 0x074 | 0x0000000d | RD EX CM=CACHED | 0x00800000 | 0x00820000 | 0x0028b4 | 0x019038 | 0x16784 | `0000008000000000` |
| 4 | 0x094 | 0x8000000b | RD WR CM=CACHED ZERO | 0x02000000 | 0x02040000 | 0x019038 | 0x0461b8 | 0x2d180 | `0000000002000000` |
| 5 | 0x0b4 | 0x80000009 | RD CM=CACHED ZERO | 0x01000000 | 0x01040000 | 0x019038 | 0x0461b8 | 0x2d180 | `0000000001000000` |
| 6 | 0x0d4 | 0x0000002b | RD WR CM=CACHED PROT | 0x03000000 | 0x03040000 | 0x000000 | 0x000000 | 0x0 | `0000000003000000` |
| 7 | 0x0f4 | 0xc000001b | RD WR CM=CACHED_COHERENT SHARED ZERO | 0x04000000 | 0x04010000 | 0x047000 | 0x049000 | 0x2000 | `0000000004000000` |
| 8 | 0x114 | 0xc0002001 | 1 | 32 | 1/1 | CONFIG "Log verbosity": addr 0x4114bc, min 0, max 0x3 |
| 9 | 0x134 | 0x80001801 | 1 | 24 | 1/0 | CONFIG "WA_CFG0": addr 0x410000, min 0, max 0xffffffff |
| 10 | 0x14c | 0x80002803 | 3 | 40 | 1/0 | TRACE_BUFFER "fwutf": kind 0, size@0x410004, insert@0x410008, extract@0x41000c, data@0x410010, enable@0x410014, enable_bits 0 |
| 11 | 0x174 | 0x80003003 | 3 | 48 | 1/0 | TRACE_BUFFER "firmware trace": kind 1, size@0x410014, insert@0x410018, extract@0x41001c, data@0x410020, enable@0x410024, enable_bits 4 |
| 12 | 0x1a4 | 0xc0002803 | 3 | 40 | 1/1 | TRACE_BUFFER "fwlog": kind 1, size@0x410028, insert@0x41002c, extract@0x410030, data@0x410034, enable@0x4114c0, enable_bits 17 |
| 13 | 0x1cc | 0x80002c03 | 3 | 44 | 1/0 | TRACE_BUFFER "benchmark": kind 0, size@0x410038, insert@0x41003c, extract@0x410040, data@0x410044, enable@0x410048, enable_bits 57 |
| 14 | 0x1f8 | 0xc0002c03 | 3 | 44 | 1/1 | TRACE_BUFFER "timeline": kind 0, size@0x410050, insert@0x410054, extract@0x410058, data@0x41005c, enable@0x4114c4, enable_bits 1 |
| 15 | 0x224 | 0xc0003403 | 3 | 52 | 1/1 | TRACE_BUFFER "debug monitor in": kind 1, size@0x410060, insert@0x410064, extract@0x410068, data@0x41006c, enable@0x4114c8, enable_bits 2 |
| 16 | 0x258 | 0xc0003403 | 3 | 52 | 1/1 | TRACE_BUFFER "debug monitor out": kind 1, size@0x410070, insert@0x410074, extract@0x410078, data@0x41007c, enable@0x4114cc, enable_bits 2 |
| 17 | 0x28c | 0xc0002c03 | 3 | 44 | 1/1 | TRACE_BUFFER "gpu_metrics": kind 0, size@0x410080, insert@0x410084, extract@0x410088, data@0x41008c, enable@0x4114d0, enable_bits 1 |
| 18 | 0x2b8 | 0x80001007 | 7 | 16 | 1/0 | FUNC_CALL_LIST "log": 0x410ee4-0x4114bc |
| 19 | 0x2c8 | 0x80000c06 | 6 | 12 | 1/0 | BUILD_INFO_METADATA: meta_start 0x318, meta_size 51 |
| 20 | 0x2d4 | 0x80001405 | 5 | 20 | 1/0 | type 5 (undocumented): 0x34c, 0x28, 0x1, 0x100 |
| 21 | 0x2e8 | 0x80000c09 | 9 | 12 | 1/0 | CORE_DUMP: version 0x1, regs addr 0x0202fe70 |
| 22 | 0x2f4 | 0x80001c04 | 4 | 28 | 1/0 | TIMELINE_METADATA "timeline_header": data 0x374, size 0xfa5 |
| 23 | 0x310 | 0x80000808 | 8 | 8 | 1/0 | PAGE_FAULT_CNT: addr 0x410408 |
""",
    "12.8": """
| 0 | 0x014 | 0x00000009 | RD CM=CACHED | 0x00400000 | 0x00410000 | 0x00133c | 0x0013bc | 0x80 | `0000004000000000` |
| 1 | 0x034 | 0x00000009 | RD CM=CACHED | 0x00410000 | 0x00420000 | 0x0013c0 | 0x002914 | 0x1554 | `0000004100000000` |
| 2 | 0x054 | 0x00000009 | RD CM=CACHED | 0x00000000 | 0x00010000 | 0x00133c | 0x0013bc | 0x80 | `0000000000000000` |
| 3 | 0x074 | 0x0000000d | RD EX CM=CACHED | 0x00800000 | 0x00820000 | 0x002914 | 0x0158dc | 0x12fc8 | `0000008000000000` |
| 4 | 0x094 | 0x8000000b | RD WR CM=CACHED ZERO | 0x02000000 | 0x02040000 | 0x0158e0 | 0x0450a0 | 0x2f7c0 | `0000000002000000` |
| 5 | 0x0b4 | 0x80000009 | RD CM=CACHED ZERO | 0x01000000 | 0x01040000 | 0x0158e0 | 0x0450a0 | 0x2f7c0 | `0000000001000000` |
| 6 | 0x0d4 | 0x0000002b | RD WR CM=CACHED PROT | 0x03000000 | 0x03040000 | 0x000000 | 0x000000 | 0x0 | `0000000003000000` |
| 7 | 0x0f4 | 0x00000009 | RD CM=CACHED | 0x00c00000 | 0x00c10000 | 0x0450a0 | 0x048e90 | 0x3df0 | `0000000000000000` |
| 8 | 0x114 | 0xc000001b | RD WR CM=CACHED_COHERENT SHARED ZERO | 0x04000000 | 0x04010000 | 0x049000 | 0x04b000 | 0x2000 | `0000000004000000` |
| 9 | 0x134 | 0xc0002001 | 1 | 32 | 1/1 | CONFIG "Log verbosity": addr 0x4114fc, min 0, max 0x3 |
| 10 | 0x154 | 0x80001801 | 1 | 24 | 1/0 | CONFIG "WA_CFG0": addr 0x410000, min 0, max 0xffffffff |
| 11 | 0x16c | 0x80002803 | 3 | 40 | 1/0 | TRACE_BUFFER "fwutf": kind 0, size@0x410004, insert@0x410008, extract@0x41000c, data@0x410010, enable@0x410014, enable_bits 0 |
| 12 | 0x194 | 0x80003003 | 3 | 48 | 1/0 | TRACE_BUFFER "firmware trace": kind 1, size@0x410014, insert@0x410018, extract@0x41001c, data@0x410020, enable@0x410024, enable_bits 4 |
| 13 | 0x1c4 | 0xc0002803 | 3 | 40 | 1/1 | TRACE_BUFFER "fwlog": kind 1, size@0x410028, insert@0x41002c, extract@0x410030, data@0x410034, enable@0x411500, enable_bits 17 |
| 14 | 0x1ec | 0x80002c03 | 3 | 44 | 1/0 | TRACE_BUFFER "benchmark": kind 0, size@0x410038, insert@0x41003c, extract@0x410040, data@0x410044, enable@0x410048, enable_bits 57 |
| 15 | 0x218 | 0xc0002c03 | 3 | 44 | 1/1 | TRACE_BUFFER "timeline": kind 0, size@0x410050, insert@0x410054, extract@0x410058, data@0x41005c, enable@0x411504, enable_bits 1 |
| 16 | 0x244 | 0xc0003403 | 3 | 52 | 1/1 | TRACE_BUFFER "debug monitor in": kind 1, size@0x410060, insert@0x410064, extract@0x410068, data@0x41006c, enable@0x411508, enable_bits 2 |
| 17 | 0x278 | 0xc0003403 | 3 | 52 | 1/1 | TRACE_BUFFER "debug monitor out": kind 1, size@0x410070, insert@0x410074, extract@0x410078, data@0x41007c, enable@0x41150c, enable_bits 2 |
| 18 | 0x2ac | 0xc0002c03 | 3 | 44 | 1/1 | TRACE_BUFFER "gpu_metrics": kind 0, size@0x410080, insert@0x410084, extract@0x410088, data@0x41008c, enable@0x411510, enable_bits 1 |
| 19 | 0x2d8 | 0x80001007 | 7 | 16 | 1/0 | FUNC_CALL_LIST "log": 0x410f14-0x4114fc |
| 20 | 0x2e8 | 0x80000c06 | 6 | 12 | 1/0 | BUILD_INFO_METADATA: meta_start 0x338, meta_size 51 |
| 21 | 0x2f4 | 0x80001405 | 5 | 20 | 1/0 | type 5 (undocumented): 0x36c, 0x28, 0x1, 0x100 |
| 22 | 0x308 | 0x80000c09 | 9 | 12 | 1/0 | CORE_DUMP: version 0x1, regs addr 0x020329b8 |
| 23 | 0x314 | 0x80001c04 | 4 | 28 | 1/0 | TIMELINE_METADATA "timeline_header": data 0x394, size 0xfa5 |
| 24 | 0x330 | 0x80000808 | 8 | 8 | 1/0 | PAGE_FAULT_CNT: addr 0x410408 |
""",
    "13.8": """
| 0 | 0x014 | 0x00000009 | RD CM=CACHED | 0x00400000 | 0x00410000 | 0x001344 | 0x0013e4 | 0xa0 | `0000004000000000` |
| 1 | 0x034 | 0x00000009 | RD CM=CACHED | 0x00410000 | 0x00420000 | 0x0013f0 | 0x0029e4 | 0x15f4 | `0000004100000000` |
| 2 | 0x054 | 0x00000009 | RD CM=CACHED | 0x00000000 | 0x00010000 | 0x001344 | 0x0013e4 | 0xa0 | `0000000000000000` |
| 3 | 0x074 | 0x0000000d | RD EX CM=CACHED | 0x00800000 | 0x00820000 | 0x0029e4 | 0x015d04 | 0x13320 | `0000008000000000` |
| 4 | 0x094 | 0x8000000b | RD WR CM=CACHED ZERO | 0x02000000 | 0x02040000 | 0x015d08 | 0x0460a8 | 0x303a0 | `0000000002000000` |
| 5 | 0x0b4 | 0x80000009 | RD CM=CACHED ZERO | 0x01000000 | 0x01040000 | 0x015d08 | 0x0460a8 | 0x303a0 | `0000000001000000` |
| 6 | 0x0d4 | 0x0000002b | RD WR CM=CACHED PROT | 0x03000000 | 0x03040000 | 0x000000 | 0x000000 | 0x0 | `0000000003000000` |
| 7 | 0x0f4 | 0x00000009 | RD CM=CACHED | 0x00c00000 | 0x00c10000 | 0x0460a8 | 0x049e8c | 0x3de4 | `0000000000000000` |
| 8 | 0x114 | 0xc000001b | RD WR CM=CACHED_COHERENT SHARED ZERO | 0x04000000 | 0x04010000 | 0x04a000 | 0x04c000 | 0x2000 | `0000000004000000` |
| 9 | 0x134 | 0xc0002001 | 1 | 32 | 1/1 | CONFIG "Log verbosity": addr 0x41159c, min 0, max 0x3 |
| 10 | 0x154 | 0x80001801 | 1 | 24 | 1/0 | CONFIG "WA_CFG0": addr 0x410000, min 0, max 0xffffffff |
| 11 | 0x16c | 0x80002803 | 3 | 40 | 1/0 | TRACE_BUFFER "fwutf": kind 0, size@0x410004, insert@0x410008, extract@0x41000c, data@0x410010, enable@0x410014, enable_bits 0 |
| 12 | 0x194 | 0x80003003 | 3 | 48 | 1/0 | TRACE_BUFFER "firmware trace": kind 1, size@0x410014, insert@0x410018, extract@0x41001c, data@0x410020, enable@0x410024, enable_bits 4 |
| 13 | 0x1c4 | 0xc0002803 | 3 | 40 | 1/1 | TRACE_BUFFER "fwlog": kind 1, size@0x410028, insert@0x41002c, extract@0x410030, data@0x410034, enable@0x4115a0, enable_bits 17 |
| 14 | 0x1ec | 0x80002c03 | 3 | 44 | 1/0 | TRACE_BUFFER "benchmark": kind 0, size@0x410038, insert@0x41003c, extract@0x410040, data@0x410044, enable@0x410048, enable_bits 57 |
| 15 | 0x218 | 0xc0002c03 | 3 | 44 | 1/1 | TRACE_BUFFER "timeline": kind 0, size@0x410050, insert@0x410054, extract@0x410058, data@0x41005c, enable@0x4115a4, enable_bits 1 |
| 16 | 0x244 | 0xc0003403 | 3 | 52 | 1/1 | TRACE_BUFFER "debug monitor in": kind 1, size@0x410060, insert@0x410064, extract@0x410068, data@0x41006c, enable@0x4115a8, enable_bits 2 |
| 17 | 0x278 | 0xc0003403 | 3 | 52 | 1/1 | TRACE_BUFFER "debug monitor out": kind 1, size@0x410070, insert@0x410074, extract@0x410078, data@0x41007c, enable@0x4115ac, enable_bits 2 |
| 18 | 0x2ac | 0xc0002c03 | 3 | 44 | 1/1 | TRACE_BUFFER "gpu_metrics": kind 0, size@0x410080, insert@0x410084, extract@0x410088, data@0x41008c, enable@0x4115b0, enable_bits 1 |
| 19 | 0x2d8 | 0x80001007 | 7 | 16 | 1/0 | FUNC_CALL_LIST "log": 0x410fb4-0x41159c |
| 20 | 0x2e8 | 0x80000c06 | 6 | 12 | 1/0 | BUILD_INFO_METADATA: meta_start 0x338, meta_size 51 |
| 21 | 0x2f4 | 0x80001405 | 5 | 20 | 1/0 | type 5 (undocumented): 0x36c, 0x30, 0x1, 0x200 |
| 22 | 0x308 | 0x80000c09 | 9 | 12 | 1/0 | CORE_DUMP: version 0x1, regs addr 0x02033e98 |
| 23 | 0x314 | 0x80001c04 | 4 | 28 | 1/0 | TIMELINE_METADATA "timeline_header": data 0x39c, size 0xfa5 |
| 24 | 0x330 | 0x80000808 | 8 | 8 | 1/0 | PAGE_FAULT_CNT: addr 0x410408 |
""",}


def _blob(relpath: str) -> bytes:
    return (FIRMWARE_ROOT / relpath).read_bytes()


def _rows(arch: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip().strip("|").split("|")]
            for line in REFERENCE_TABLES[arch].strip().splitlines()]


def _h(value: int) -> str:
    """Numbers as the reference tables print them: 0, else hex."""
    return "0" if value == 0 else f"{value:#x}"


def _reference_text(e: FirmwareEntry) -> str:
    """The payload column of §2.2-§2.5, formatted here from the parsed fields."""
    if isinstance(e, ConfigEntry):
        return f'CONFIG "{e.name}": addr {e.address:#x}, min {_h(e.min)}, max {_h(e.max)}'
    if isinstance(e, TraceBufferEntry):
        return (f'TRACE_BUFFER "{e.name}": kind {e.kind}, size@{e.size_address:#x}, '
                f"insert@{e.insert_address:#x}, extract@{e.extract_address:#x}, data@{e.data_address:#x}, "
                f"enable@{e.trace_enable_address:#x}, enable_bits {e.trace_enable_bits}")
    if isinstance(e, FuncCallListEntry):
        return f'FUNC_CALL_LIST "{e.name}": {e.start_address:#x}-{e.end_address:#x}'
    if isinstance(e, BuildInfoEntry):
        return f"BUILD_INFO_METADATA: meta_start {e.meta_start:#x}, meta_size {e.meta_size}"
    if isinstance(e, UnknownEntry):
        return f"type {e.type} (undocumented): " + ", ".join(f"{w:#x}" for w in e.words)
    if isinstance(e, CoreDumpEntry):
        return f"CORE_DUMP: version {e.version:#x}, regs addr {e.regs_address:#010x}"
    if isinstance(e, TimelineMetadataEntry):
        return f'TIMELINE_METADATA "{e.name}": data {e.data_start:#x}, size {e.data_size:#x}'
    if isinstance(e, PageFaultCountEntry):
        return f"PAGE_FAULT_CNT: addr {e.address:#x}"
    raise AssertionError(f"unexpected entry {e!r}")


@pytest.fixture(scope="module", params=ARCHES)
def arch(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_header_and_summary_match_reference(arch: str) -> None:
    size, sha256, version_hash, entry_end, n_entries, n_sections, version, _ = FACTS[arch]
    data = _blob(f"arm/mali/arch{arch}/mali_csffw.bin")
    assert len(data) == size
    assert hashlib.sha256(data).hexdigest() == sha256
    image = parse_firmware(data)
    h = image.header
    assert (h.magic, h.minor, h.major, h.padding1, h.padding2) == (0xC3F13A6E, 3, 0, 0, 0)
    assert h.version_hash == version_hash
    assert h.entry_end == entry_end
    assert len(image.entries) == n_entries
    assert len(image.sections) == n_sections
    assert image.interface_version.raw == version_hash
    assert image.interface_version.as_tuple == version
    assert str(image.interface_version) == "v{}.{}.{}".format(*version)
    assert image.file_size == size


def test_iface_sections_match_reference_table(arch: str) -> None:
    image = parse_firmware(_blob(f"arm/mali/arch{arch}/mali_csffw.bin"))
    rows = [r for r in _rows(arch) if len(r) == 10]
    assert len(rows) == len(image.sections)
    for row, sec in zip(rows, image.sections, strict=True):
        index, off, flags, decoded, va_start, va_end, d_start, d_end, d_len, tail = row
        assert image.entries[int(index)] is sec
        assert sec.offset == int(off, 16)
        assert sec.header == 0x00002000 and sec.size == 32 and not sec.optional and not sec.updatable
        assert sec.flags == int(flags, 16)
        tokens = decoded.split()
        assert (sec.rd, sec.wr, sec.ex) == ("RD" in tokens, "WR" in tokens, "EX" in tokens)
        assert (sec.prot, sec.shared, sec.zero) == ("PROT" in tokens, "SHARED" in tokens, "ZERO" in tokens)
        modes = [t.split("=", 1)[1] for t in tokens if t.startswith("CM=")]
        assert sec.cache_mode == (CacheMode[modes[0]] if modes else CacheMode.NONE)
        assert sec.flags_text == decoded
        assert (sec.va_start, sec.va_end) == (int(va_start, 16), int(va_end, 16))
        assert (sec.data_start, sec.data_end) == (int(d_start, 16), int(d_end, 16))
        assert sec.data_size == int(d_len, 16)
        assert sec.tail.hex() == tail.strip("`")
        # §1.5: empty name; kbase's virtual_exe_start (tail byte 1) is va.start except at 0x00C00000.
        assert sec.name == ""
        assert sec.virtual_exe_start == (0 if sec.va_start == 0x00C00000 else sec.va_start)


def test_other_entries_match_reference_table(arch: str) -> None:
    image = parse_firmware(_blob(f"arm/mali/arch{arch}/mali_csffw.bin"))
    rows = [r for r in _rows(arch) if len(r) == 7]
    assert len(rows) + len(image.sections) == len(image.entries)
    for index, off, ehdr, etype, length, opt_upd, payload in rows:
        entry = image.entries[int(index)]
        assert entry.offset == int(off, 16)
        assert entry.header == int(ehdr, 16)
        assert entry.type == int(etype)
        assert entry.size == int(length)
        assert f"{int(entry.optional)}/{int(entry.updatable)}" == opt_upd
        assert _reference_text(entry) == payload


def test_build_info_and_unknown_entries(arch: str) -> None:
    image = parse_firmware(_blob(f"arm/mali/arch{arch}/mali_csffw.bin"))
    entry_end = FACTS[arch][3]
    info = image.build_info
    assert info is not None
    # §2.2-§2.5: "git_sha: <sha>" + 0x20 + NUL, 51 bytes right at the entry-table end.
    assert (info.meta_start, info.meta_size) == (entry_end, 51)
    assert info.raw == b"git_sha: " + GIT_SHA.encode() + b" \0"
    assert info.git_sha == GIT_SHA and image.git_sha == GIT_SHA
    assert info.dirty is False and info.nul_terminated
    assert info.text == GIT_SHA + " "  # what panthor prints after "Firmware git sha: "
    # §1.10: one optional type-5 entry, kept and reported, 16-byte payload.
    (unknown,) = image.unknown_entries
    assert unknown.type == 5 and unknown.optional and len(unknown.payload) == 16
    assert unknown.words[2] == 1


def test_shared_section_control_blocks(arch: str) -> None:
    image = parse_firmware(_blob(f"arm/mali/arch{arch}/mali_csffw.bin"))
    shared = image.shared_section
    assert (shared.va_start, shared.va_end, shared.flags) == (0x04000000, 0x04010000, 0xC000001B)
    data = image.section_data(shared)
    assert len(data) == 0x2000
    # §2.8 GLB control block.
    assert struct.unpack_from("<9I", data, 0) == (0, 0, 0x04002000, 0x04006000, 8, 0xA0, 0, 0x71, FACTS[arch][7])
    for g in range(8):
        csg = 0x1000 + g * 0xA0
        assert struct.unpack_from("<7I", data, csg) == (0, 0x04003000 + g * 0x80, 0x04007000 + g * 0x40,
                                                        0, 0, 8, 0x0C)
        for s in range(8):
            assert struct.unpack_from("<3I", data, csg + 0x40 + s * 0x0C) == (
                0, 0x04003400 + (8 * g + s) * 0x80, 0x04007200 + (8 * g + s) * 0x100)


def test_warnings_and_loadable_sections(arch: str) -> None:
    image = parse_firmware(_blob(f"arm/mali/arch{arch}/mali_csffw.bin"))
    # §2.6: panthor drops the PROT section with a warning; everything else is mapped.
    assert len(image.warnings) == 1
    assert "0xd4" in image.warnings[0] and "protected" in image.warnings[0]
    assert len(image.loadable_sections) == FACTS[arch][5] - 1
    assert all(not s.prot for s in image.loadable_sections)
    assert [s.va_start for s in image.sections if s.prot] == [0x03000000]


def test_kbase_strict_accepts_the_blobs(arch: str) -> None:
    image = parse_firmware(_blob(f"arm/mali/arch{arch}/mali_csffw.bin"), kbase_strict=True)
    assert image.kbase_strict and len(image.entries) == FACTS[arch][4]


def test_section_lookup_by_va(arch: str) -> None:
    image = parse_firmware(_blob(f"arm/mali/arch{arch}/mali_csffw.bin"))
    found = image.section_for_va(0x00800123)
    assert found is not None and found.ex and found.va_start == 0x00800000
    assert image.section_for_va(0x04000000) is image.shared_section
    assert image.section_for_va(0x05000000) is None


def test_previous_g610_release() -> None:
    """§2.7: the May 2024 arch10.8 blob reports interface v1.1.0 and a 48 KiB shared section."""
    data = _blob("history/arch10.8-2024-05/mali_csffw.bin")
    assert len(data) == 274432
    assert hashlib.sha256(data).hexdigest() == "43c3c36b914c031d88ae152fd89019d8f99ad41d9879fb5ab7496ed13f7b378b"
    image = parse_firmware(data)
    assert image.header.version_hash == 0x01010000
    assert image.interface_version.as_tuple == (1, 1, 0) and image.interface_version.text == "v1.1.0"
    assert image.header.entry_end == 0x3C0
    assert image.git_sha == "814b47b551159067b67a37c4e9adda458ad9d852"
    shared = image.shared_section
    assert (shared.va_start, shared.va_end) == (0x04000000, 0x0400C000)
    assert len(image.unknown_entries) == 1 and image.unknown_entries[0].type == 5
    # Same control-block addresses as the current release (§2.8, last paragraph).
    data_shared = image.section_data(shared)
    assert struct.unpack_from("<6I", data_shared, 0)[2:] == (0x04002000, 0x04006000, 8, 0xA0)
