"""The simulated Mali-G610 MP4 (the ``sim`` backend).

Independent of the driver: it never imports ``uio_driver.regs``, ``mmu``, ``firmware``, ``csf`` or
``uapi``; its register tables and decoders are written from the reference so each side checks the
other. See docs/architecture.md ("The simulator").

Main entry points: :class:`~uio_driver.sim.platform.SimPlatform` (the Platform),
:class:`~uio_driver.sim.gpu.SimGpu` (the model, ``platform.sim``), :class:`SimConfig`,
:class:`SimFaults`. The simulated MCU is ``platform.sim.mcu`` (:class:`SimMcu`, attached by
default; ``SimPlatform(mcu=False)`` gives a GPU with no firmware model).
"""

from .config import SimConfig, SimFaults, SimViolation
from .cs_exec import CsExec
from .gpu import SimGpu
from .mcu import McuState, SimMcu
from .mcu_config import McuConfig, McuFaults
from .platform import SimMmioRegion, SimPlatform
from .walker import SimFault, SimGpuFault, SimTranslation

__all__ = ["CsExec", "McuConfig", "McuFaults", "McuState", "SimConfig", "SimFault", "SimFaults", "SimGpu",
           "SimGpuFault", "SimMcu", "SimMmioRegion", "SimPlatform", "SimTranslation", "SimViolation"]
