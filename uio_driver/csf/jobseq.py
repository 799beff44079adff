"""The per-job ring sequence panthor writes for every submitted job (``prepare_job_instrs``).

For each job the kernel does not copy the user's stream into the ring: it writes a short wrapper
that flushes caches, CALLs the user stream, then bumps the queue's 64-bit sync object so the host
sees the job complete. Source: shared/reference/cs-isa-and-uapi.md §2.3 (sequence and padding) and
§1.9 (the words on a 96-register CS); csf-firmware-and-interfaces.md §6.7; mainline
``drivers/gpu/drm/panthor/panthor_sched.c`` ``get_job_cs_params``/``prepare_job_instrs`` for the
profiling registers (cycles use d[addr_reg], timestamps d[val_reg]).

The registers are the ``unpreserved_cs_reg_count`` (4) at the top of the CS register file:
``addr_reg = cs_reg_count - 4`` (a 64-bit pair) and ``val_reg = addr_reg + 2``.
"""

from __future__ import annotations

from enum import IntFlag

from ..errors import InvalidArgument
from .builder import CsBuilder
from .isa import (
    G610_CS_REG_COUNT,
    G610_SB_SLOT_COUNT,
    UNPRESERVED_CS_REG_COUNT,
    CsFlushMode,
    CsOtherFlushMode,
    CsState,
    CsSyncScope,
)

#: panthor NUM_INSTRS_PER_CACHE_LINE: each job is padded with NOPs to a 64-byte cache line.
INSTRS_PER_CACHE_LINE = 8
#: panthor MAX_INSTRS_PER_JOB: 19 instructions with both profiling kinds, padded to 24.
MAX_INSTRS_PER_JOB = 24
#: Size of ``struct panthor_job_profiling_data`` (cycles.before/after, time.before/after, u64 each).
PROFILING_SLOT_SIZE = 32
_CYCLES_BEFORE, _CYCLES_AFTER, _TIME_BEFORE, _TIME_AFTER = 0, 8, 16, 24

_VA_LIMIT = 1 << 48  # MOVE48 immediates are 48 bits


class JobProfiling(IntFlag):
    """panthor ``enum panthor_device_profiling_flags`` (sysfs ``profiling``)."""

    DISABLED = 0
    CYCLES = 1 << 0
    TIMESTAMP = 1 << 1
    ALL = CYCLES | TIMESTAMP


def _check_int(name: str, value: object, limit: int, align: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < limit:
        raise InvalidArgument(f"{name} must be an integer in [0, {limit:#x}), got {value!r}")
    if value % align:
        raise InvalidArgument(f"{name} {value:#x} is not {align}-byte aligned", value=value)
    return value


def _check_regs(cs_reg_count: int, sb_slot_count: int) -> int:
    if isinstance(cs_reg_count, bool) or not isinstance(cs_reg_count, int) \
            or not UNPRESERVED_CS_REG_COUNT <= cs_reg_count <= 256 or cs_reg_count % 2:
        raise InvalidArgument(
            f"cs_reg_count must be an even integer in [{UNPRESERVED_CS_REG_COUNT}, 256] "
            f"(the sequence uses 64-bit pairs at cs_reg_count - {UNPRESERVED_CS_REG_COUNT}), "
            f"got {cs_reg_count!r}"
        )
    # WAIT's mask is 8 bits wide in v10.xml, so "wait all" cannot name more than 8 entries.
    if isinstance(sb_slot_count, bool) or not isinstance(sb_slot_count, int) or not 1 <= sb_slot_count <= 8:
        raise InvalidArgument(f"sb_slot_count must be an integer in [1, 8], got {sb_slot_count!r}")
    return cs_reg_count - UNPRESERVED_CS_REG_COUNT


def _check_profiling(profiling: object) -> JobProfiling:
    # Compare as plain ints: ~ on an IntFlag inverts within the defined members only.
    if isinstance(profiling, bool) or not isinstance(profiling, int) or not 0 <= int(profiling) <= 3:
        raise InvalidArgument(f"profiling must be a JobProfiling mask (0..3), got {profiling!r}")
    return JobProfiling(int(profiling))


def _check_job_args(stream_addr: int, stream_size: int, sync_addr: int, latest_flush: int,
                    profiling: object, profiling_slot_addr: int) -> JobProfiling:
    _check_int("stream_addr", stream_addr, _VA_LIMIT, 64)
    _check_int("stream_size", stream_size, 1 << 32, 8)
    _check_int("sync_addr", sync_addr, _VA_LIMIT, 8)
    _check_int("latest_flush", latest_flush, 1 << 32)
    mask = _check_profiling(profiling)
    if mask:
        _check_int("profiling_slot_addr", profiling_slot_addr, _VA_LIMIT - PROFILING_SLOT_SIZE, 8)
    if (stream_size == 0) != (stream_addr == 0):
        # panthor_job_create: a zero size goes with a zero address and vice versa (EINVAL).
        raise InvalidArgument(
            f"stream_addr {stream_addr:#x} and stream_size {stream_size} must both be zero or both non-zero"
        )
    return mask


def _profile(cs: CsBuilder, mask: JobProfiling, slot: int, addr_reg: int, val_reg: int, after: bool) -> None:
    # panthor_sched.c: cycle_reg = addr_reg, time_reg = val_reg; STORE_STATE with wait mask 0,
    # signal slot 0 and offset 0 writes the sample straight to the MOVE48'd address.
    if mask & JobProfiling.CYCLES:
        cs.move48(addr_reg, slot + (_CYCLES_AFTER if after else _CYCLES_BEFORE))
        cs.store_state(addr_reg, CsState.CYCLE_COUNT)
    if mask & JobProfiling.TIMESTAMP:
        cs.move48(val_reg, slot + (_TIME_AFTER if after else _TIME_BEFORE))
        cs.store_state(val_reg, CsState.TIMESTAMP)


def panthor_job_instructions(
    stream_addr: int,
    stream_size: int,
    sync_addr: int,
    latest_flush: int = 0,
    *,
    cs_reg_count: int = G610_CS_REG_COUNT,
    sb_slot_count: int = G610_SB_SLOT_COUNT,
    profiling: JobProfiling | int = JobProfiling.DISABLED,
    profiling_slot_addr: int = 0,
) -> list[int]:
    """The ring instructions panthor emits for one job, padded to a multiple of 8 (64 bytes).

    Sequence (cs-isa-and-uapi.md §2.3): MOVE32 r[val], latest_flush; FLUSH_CACHE2 (L2 and LSC clean
    + invalidate, other invalidate, flush-ID r[val], signal slot 0); [profiling "before"];
    MOVE48 d[addr], stream_addr; MOVE32 r[val], stream_size; WAIT 0x1; CALL d[addr], r[val];
    [profiling "after"]; MOVE48 d[addr], sync_addr; MOVE48 d[val], 1; WAIT all entries;
    SYNC_ADD64 [d[addr]] += d[val] (error propagate, system scope); ERROR_BARRIER; NOPs.

    Args:
        stream_addr: GPU VA of the user stream (64-byte aligned, < 2**48).
        stream_size: its length in bytes (multiple of 8, < 2**32). 0 (with ``stream_addr`` 0) is a
            pure synchronisation job for which panthor writes nothing: returns ``[]``.
        sync_addr: GPU VA of the queue's ``panthor_syncobj_64b`` (8-byte aligned, < 2**48).
        latest_flush: LATEST_FLUSH_ID sample from the submit (0 forces the flush).
        cs_reg_count: CS register file size; the sequence uses the top 4 registers.
        sb_slot_count: scoreboard entries ("wait all" = (1 << sb_slot_count) - 1).
        profiling: which samples to take (panthor's sysfs profiling mask).
        profiling_slot_addr: GPU VA of this job's ``panthor_job_profiling_data`` (32 bytes).

    Returns:
        The instruction words, ready for the ring (little-endian when written).

    Raises:
        InvalidArgument: any parameter out of range or misaligned (nothing is produced).
    """
    addr_reg = _check_regs(cs_reg_count, sb_slot_count)
    val_reg = addr_reg + 2
    mask = _check_job_args(stream_addr, stream_size, sync_addr, latest_flush, profiling, profiling_slot_addr)
    if stream_size == 0:
        return []

    cs = CsBuilder(reg_count=cs_reg_count, sb_slot_count=sb_slot_count)
    cs.move32(val_reg, latest_flush)
    cs.flush_cache2(val_reg, l2=CsFlushMode.CLEAN_AND_INVALIDATE, lsc=CsFlushMode.CLEAN_AND_INVALIDATE,
                    other=CsOtherFlushMode.INVALIDATE, wait_mask=0, signal_slot=0)
    _profile(cs, mask, profiling_slot_addr, addr_reg, val_reg, after=False)
    cs.move48(addr_reg, stream_addr)
    cs.move32(val_reg, stream_size)
    cs.wait(0x1)  # the FLUSH_CACHE2 above signalled scoreboard entry 0
    cs.call(addr_reg, val_reg)
    _profile(cs, mask, profiling_slot_addr, addr_reg, val_reg, after=True)
    cs.move48(addr_reg, sync_addr)
    cs.move48(val_reg, 1)
    cs.wait_all()
    cs.sync_add64(addr_reg, val_reg, error_propagate=True, scope=CsSyncScope.SYSTEM, wait_mask=0,
                  signal_slot=0)
    cs.error_barrier()  # so a faulting job does not poison the next one
    cs.pad(INSTRS_PER_CACHE_LINE)
    return cs.words()


def job_instruction_count(profiling: JobProfiling | int = JobProfiling.DISABLED) -> int:
    """Padded instruction count of one job (panthor ``calc_job_credits``): 16, 24 with profiling.

    Raises:
        InvalidArgument: ``profiling`` is not a JobProfiling mask.
    """
    mask = _check_profiling(profiling)
    count = 11 + 4 * bin(int(mask)).count("1")  # 11 fixed + (MOVE48 + STORE_STATE) x before/after
    return -(-count // INSTRS_PER_CACHE_LINE) * INSTRS_PER_CACHE_LINE


__all__ = [
    "INSTRS_PER_CACHE_LINE", "JobProfiling", "MAX_INSTRS_PER_JOB", "PROFILING_SLOT_SIZE",
    "job_instruction_count", "panthor_job_instructions",
]
