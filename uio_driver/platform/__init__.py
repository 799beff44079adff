"""Platform backends and backend selection.

``open_platform("auto")`` picks the UIO backend when a matching GPU UIO node exists, else the
simulator, and records which in ``platform.notes``. The choice can be forced with ``backend=`` (CLI
``--backend``) or the ``MALI_UIO_BACKEND`` environment variable.
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import InvalidArgument
from .base import IRQ_NAMES, Clock, IrqLine, MappedMmioRegion, MmioRegion, Platform
from .dma import DmaAllocator, DmaBuffer

BACKEND_ENV = "MALI_UIO_BACKEND"
BACKENDS = ("auto", "sim", "uio", "vfio", "devmem")

__all__ = [
    "BACKENDS",
    "BACKEND_ENV",
    "IRQ_NAMES",
    "Clock",
    "DmaAllocator",
    "DmaBuffer",
    "IrqLine",
    "MappedMmioRegion",
    "MmioRegion",
    "Platform",
    "open_platform",
]


def open_platform(backend: str | None = None, **options: Any) -> Platform:
    """Open a backend by name ("auto", "sim", "uio", "vfio", "devmem").

    Keyword options are passed to the backend that knows them (e.g. ``strict=`` for the simulator,
    ``sysfs_root=``/``dev_root=`` for UIO, ``allow_writes=`` for /dev/mem); each backend lists its
    options in ``OPTIONS`` and options it does not take are dropped, so one option set (as the CLI
    builds it) works for every backend.
    """
    name = backend or os.environ.get(BACKEND_ENV) or "auto"
    if name not in BACKENDS:
        raise InvalidArgument(f"unknown backend {name!r}; expected one of {', '.join(BACKENDS)}")
    if name == "auto":
        return _open_auto(**options)
    return _open_named(name, **options)


def _open_named(name: str, **options: Any) -> Platform:
    if name == "sim":
        from ..sim.platform import SimPlatform

        return SimPlatform(**_pick(options, SimPlatform.OPTIONS))
    if name == "uio":
        from .uio import UioPlatform

        return UioPlatform.discover(**_pick(options, UioPlatform.OPTIONS))
    if name == "devmem":
        from .devmem import DevMemPlatform

        return DevMemPlatform(**_pick(options, DevMemPlatform.OPTIONS))
    from .vfio import VfioPlatform

    return VfioPlatform.discover(**_pick(options, VfioPlatform.OPTIONS))


def _open_auto(**options: Any) -> Platform:
    from .uio import UioPlatform, find_gpu_uio_nodes

    uio_opts = _pick(options, UioPlatform.OPTIONS)
    nodes = find_gpu_uio_nodes(**_pick(uio_opts, ("sysfs_root", "prefix")))
    # IRQ-only nodes (a /dev/mem setup) are not enough: the uio backend needs the register map.
    if any(node.gpu_map is not None for node in nodes.values()):
        platform: Platform = UioPlatform.discover(**uio_opts)
        platform.notes.insert(0, "backend auto: GPU UIO node found, using the uio backend")
        return platform
    platform = _open_named("sim", **options)
    platform.notes.insert(0, "backend auto: no GPU found (no matching UIO node), using the simulated backend")
    return platform


def _pick(options: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in options.items() if k in names}
