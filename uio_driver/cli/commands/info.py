"""`mali-uio info`: identification registers, decoded."""

from __future__ import annotations

import argparse

from rich.console import Console

from ...gpu import Gpu, GpuInfo
from ..common import add_common_options, emit, open_backend, table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="identify the GPU (GPU_ID, features, present cores), decoded")
    add_common_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    with open_backend(args) as platform:
        info = Gpu(platform).probe()
        data = {"backend": platform.name, "simulated": platform.simulated, **info.to_dict()}
        emit(args, data, lambda c: _render(c, info, platform.name))
    return 0


def _render(c: Console, info: GpuInfo, backend: str) -> None:
    major, minor, rev = info.arch
    rows = [
        ("GPU", f"{info.name} (arch {major}.{minor} rev {rev}, product major {info.product_major})"),
        ("backend", backend),
        ("GPU_ID", f"{info.gpu_id:#010x}"),
        ("version", f"r{(info.gpu_id >> 12) & 0xF}p{(info.gpu_id >> 4) & 0xFF} status {info.gpu_id & 0xF}"),
        ("CSF_ID", f"{info.csf_id:#010x}"),
        ("GPU_REVID", f"{info.gpu_rev:#x}"),
        ("L2_FEATURES", f"{info.l2_features:#010x}"),
        ("TILER_FEATURES", f"{info.tiler_features:#x}"),
        ("MEM_FEATURES", f"{info.mem_features:#x}"),
        ("MMU_FEATURES", f"{info.mmu_features:#x} (VA {info.va_bits} bits, PA {info.pa_bits} bits)"),
        ("THREAD_FEATURES", f"{info.thread_features:#010x}"),
        ("max threads / workgroup / barrier",
         f"{info.max_threads} / {info.thread_max_workgroup_size} / {info.thread_max_barrier_size}"),
        ("COHERENCY_FEATURES", f"{info.coherency_features:#x}"),
        ("TEXTURE_FEATURES", " ".join(f"{t:#010x}" for t in info.texture_features)),
        ("AS_PRESENT", f"{info.as_present:#x} ({info.address_spaces} address spaces)"),
        ("SHADER_PRESENT", f"{info.shader_present:#x} ({info.shader_core_count} cores)"),
        ("L2_PRESENT / TILER_PRESENT", f"{info.l2_present:#x} / {info.tiler_present:#x}"),
        ("CORE_FEATURES", f"{info.core_features:#x}"),
        ("firmware", info.firmware_path),
    ]
    c.print(table("Mali GPU identification", ["item", "value"], rows))
    dec_rows = []
    for reg, fields in info.decoded.items():
        dec_rows.append((reg, ", ".join(f"{k}={v}" for k, v in fields.items())))
    c.print(table("decoded fields", ["register", "fields"], dec_rows))
