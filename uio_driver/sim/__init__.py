"""The simulated Mali-G610 MP4 (the ``sim`` backend).

Independent of the driver: it never imports ``uio_driver.regs``, ``mmu``, ``firmware``, ``csf`` or
``uapi``; its register tables and decoders are written from the reference so each side checks the
other. See docs/architecture.md ("The simulator").

Main entry points: :class:`~uio_driver.sim.platform.SimPlatform` (the Platform),
:class:`~uio_driver.sim.gpu.SimGpu` (the model, ``platform.sim``), :class:`SimConfig`,
:class:`SimFaults`.
"""

from .config import SimConfig, SimFaults, SimViolation
from .gpu import SimGpu
from .platform import SimMmioRegion, SimPlatform
from .walker import SimFault, SimGpuFault, SimTranslation

__all__ = ["SimConfig", "SimFault", "SimFaults", "SimGpu", "SimGpuFault", "SimMmioRegion", "SimPlatform",
           "SimTranslation", "SimViolation"]
