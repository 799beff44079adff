"""mali-uio: a Python userspace driver for the Arm Mali-G610 (Valhall CSF, arch 10.8) on RK3588.

The driver reaches hardware only through a :class:`~uio_driver.platform.base.Platform` (UIO,
vfio-platform, /dev/mem, or the simulated GPU used in CI).
"""

__version__ = "0.1.0"
