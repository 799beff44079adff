"""Benchmarks: each module in this package defines ``NAME``, ``DESCRIPTION`` and
``run(args) -> list[BenchCase]`` (plus optional ``add_arguments(parser)``).

They run as ``mali-uio bench NAME [--json]`` and as scripts under ``benchmarks/``. Every case
reports our time beside a baseline measured in the same process (lower is better).
JSON schema (DEVELOPERS.md)::

    {"benchmark": NAME, "unit": "s",
     "results": [{"case": ..., "ours": t, "baseline": t0, "baseline_name": ..., "speedup": t0 / t}]}
"""

from __future__ import annotations

import importlib
import pkgutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from ..errors import InvalidArgument


@dataclass
class BenchCase:
    """One measured case. Times are seconds per operation (lower is better)."""

    case: str
    ours: float
    baseline: float | None = None
    baseline_name: str | None = None
    goal: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def speedup(self) -> float | None:
        if self.baseline is None or self.ours <= 0:
            return None
        return self.baseline / self.ours

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "case": self.case,
            "ours": self.ours,
            "baseline": self.baseline,
            "baseline_name": self.baseline_name,
            "speedup": self.speedup,
        }
        if self.goal:
            d["goal"] = self.goal
        if self.extra:
            d.update(self.extra)
        return d


def best_of(fn: Callable[[], object], repeat: int = 5, number: int = 1) -> float:
    """Best (minimum) time of ``repeat`` runs of ``number`` calls, in seconds per call."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best


def available() -> dict[str, ModuleType]:
    mods: dict[str, ModuleType] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        name = getattr(module, "NAME", None)
        if name:
            mods[name] = module
    return mods


def get(name: str) -> ModuleType:
    mods = available()
    if name not in mods:
        raise InvalidArgument(f"unknown benchmark {name!r}; available: {', '.join(sorted(mods))}")
    return mods[name]


def to_json(name: str, cases: list[BenchCase]) -> dict[str, Any]:
    return {"benchmark": name, "unit": "s", "results": [c.to_dict() for c in cases]}


def format_time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"
