"""GROUP_CREATE / GROUP_DESTROY / GROUP_SUBMIT / GROUP_GET_STATE (placeholder until the scheduler lands)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from uio_driver.uapi.device import Device

HANDLERS: dict[int, Any] = {}


def release_all(dev: Device) -> None:
    return None


def pump(dev: Device) -> None:
    return None
