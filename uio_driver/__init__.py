"""mali-uio: a Python userspace driver for the Arm Mali-G610 (Valhall CSF, arch 10.8) on RK3588.

The driver reaches hardware only through a :class:`~uio_driver.platform.base.Platform` (UIO,
vfio-platform, /dev/mem, or the simulated GPU used in CI). :func:`open` returns a
:class:`~uio_driver.uapi.device.Device` that speaks Linux panthor's uAPI (``Device.ioctl`` with the
kernel's ioctl numbers and struct bytes) and carries the friendly Python layer of
:mod:`uio_driver.api` (``dev.bo_create(...)``, ``vm.map(...)``, ``group.submit(...)``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from uio_driver.api import GpuDevice


def open(backend: str = "auto", firmware: str | None = None, **options: Any) -> GpuDevice:  # noqa: A001
    """Open the GPU: platform, bring-up, firmware, scheduler; returns a context-managed device.

    Args:
        backend: ``"auto"`` (UIO if a GPU UIO node exists, else the simulator), ``"sim"``, ``"uio"``,
            ``"vfio"`` or ``"devmem"``.
        firmware: firmware file or directory (None: search; the synthetic image on the simulator).
        options: ``privileged=True`` (HIGH/REALTIME groups), ``max_wait=`` (syncobj wait bound, seconds),
            and backend options such as ``strict=`` for the simulator.

    Closing it (or leaving its ``with`` block) destroys the groups, unbinds the VMs, stops the firmware
    and closes the platform.
    """
    from uio_driver.api import GpuDevice

    return GpuDevice.open(backend, firmware, **options)
