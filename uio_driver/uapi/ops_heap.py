"""TILER_HEAP_CREATE / TILER_HEAP_DESTROY (placeholder until the scheduler lands)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from uio_driver.uapi.device import Device
    from uio_driver.uapi.objects import VmObject

HANDLERS: dict[int, Any] = {}


def release_vm_heaps(dev: Device, vmo: VmObject) -> None:
    return None
