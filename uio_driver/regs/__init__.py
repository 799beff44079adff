"""The Mali-G610 register database: every host-visible register declared once, as data.

Names, offsets, access modes, reset values and fields come from
``shared/reference/mali-csf-registers-and-mmu.md`` (§0-§3, §6); every register and field carries a
provenance note naming the source files the reference cites. Driver code refers to registers by
object or name, never by magic offset::

    from uio_driver.regs import RegisterAccess, gpu_control as gc, mmu
    regs = RegisterAccess(platform.mmio)
    regs.write(gc.GPU_COMMAND, gc.GpuCommand.soft_reset())
    regs.write64(mmu.AS0_TRANSCFG_LO, mmu.AS_TRANSCFG_RK3588)

Blocks (``Register.block`` values): ``GPU_CONTROL``, ``JOB_CONTROL``, ``MMU`` (IRQ registers),
``AS0``..``AS7``, ``USER``, ``DOORBELL``. 64-bit ``_LO``/``_HI`` pairs also have a 64-bit view ``<X>``
(in :data:`VIEWS`, found by :func:`lookup`, not in :data:`REGISTERS`).
"""

from __future__ import annotations

from . import doorbell, gpu_control, job_control, mmu, user
from .access import RegisterAccess
from .doorbell import doorbell_register
from .exceptions import EXCEPTION_TYPES, exception_name, is_fault
from .mmu import as_register
from .model import Access, DecodedRegister, Field, FieldValue, Register, RegisterBlock
from .registry import (
    BLOCKS,
    REGISTERS,
    VIEWS,
    block,
    block_of,
    decode,
    describe_offset,
    is_known,
    lookup,
    lookup_name,
    lookup_offset,
)

__all__ = [
    "BLOCKS",
    "EXCEPTION_TYPES",
    "REGISTERS",
    "VIEWS",
    "Access",
    "DecodedRegister",
    "Field",
    "FieldValue",
    "Register",
    "RegisterAccess",
    "RegisterBlock",
    "as_register",
    "block",
    "block_of",
    "decode",
    "describe_offset",
    "doorbell",
    "doorbell_register",
    "exception_name",
    "gpu_control",
    "is_fault",
    "is_known",
    "job_control",
    "lookup",
    "lookup_name",
    "lookup_offset",
    "mmu",
    "user",
]
