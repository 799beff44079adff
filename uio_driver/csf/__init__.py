"""Command-stream frontend (CSF) support: the CS instruction set, stream builder, disassembler and
panthor's per-job ring sequence. Queues, groups and scheduling live in sibling modules, imported
explicitly so the instruction-set tools stay light: ``queue.py``, ``group.py``, ``csg_slots.py``,
``scheduler.py``, ``tick.py``, ``events.py``, ``recovery.py``, ``heap.py``, ``kmem.py`` and
``device.py`` (:class:`~uio_driver.csf.device.CsfDevice`, the whole driver in one object).

The most used names are re-exported here::

    from uio_driver.csf import CsBuilder, encode, decode, disassemble, panthor_job_instructions
"""

from __future__ import annotations

from .builder import CsBuilder, Label
from .disasm import DisasmLine, disassemble, disassemble_bytes, format_instruction, format_listing
from .isa import (
    G610_CS_REG_COUNT,
    G610_SB_SLOT_COUNT,
    INSTRUCTIONS,
    UNPRESERVED_CS_REG_COUNT,
    CsCondition,
    CsExceptionType,
    CsFlushMode,
    CsHeapOperation,
    CsOtherFlushMode,
    CsState,
    CsSyncScope,
    Instruction,
    TaskAxis,
    TileRenderOrder,
    decode,
    encode,
    words_from_bytes,
    words_to_bytes,
)
from .jobseq import JobProfiling, job_instruction_count, panthor_job_instructions

__all__ = [
    "G610_CS_REG_COUNT", "G610_SB_SLOT_COUNT", "INSTRUCTIONS", "UNPRESERVED_CS_REG_COUNT", "CsBuilder",
    "CsCondition", "CsExceptionType", "CsFlushMode", "CsHeapOperation", "CsOtherFlushMode", "CsState",
    "CsSyncScope", "DisasmLine", "Instruction", "JobProfiling", "Label", "TaskAxis", "TileRenderOrder",
    "decode", "disassemble", "disassemble_bytes", "encode", "format_instruction", "format_listing",
    "job_instruction_count", "panthor_job_instructions", "words_from_bytes", "words_to_bytes",
]
