"""The driver and the simulated command-stream executor check each other.

* The driver's instruction table (``uio_driver.csf.isa``) and the simulator's decoder
  (``uio_driver.sim.cs_decode``) are independent transcriptions of cs-isa-and-uapi.md §1.2/§1.3: every
  field the driver encodes must come back with the same value from the simulator's field at the same
  bit range.
* Jobs submitted through the driver's scheduler (``uio_driver.csf``: panthor's ring sequence, doorbells,
  CSG/CS requests, event handling) run on the simulated MCU: hand-encoded user streams store what the
  test expects, the job completes (seqno), a faulting stream fails its job with EINVAL (§2.5) and the
  group stays usable.
"""

from __future__ import annotations

import errno
import struct

import pytest
from test_sim_cs_rig import dump, move32, move48, store_multiple

from uio_driver.csf import isa as drv
from uio_driver.csf.device import CsfDevice
from uio_driver.csf.group import QueueSpec
from uio_driver.sim import cs_decode as sim
from uio_driver.sim.platform import SimPlatform

STREAM_VA, OUT_VA = 0x0100_0000, 0x0110_0000


def _sample(f: drv.Field) -> int:
    """A legal value for driver field ``f`` that sets its top bit where possible."""
    if f.kind is drv.FieldKind.ENUM:
        return max(f.accepted_values())
    if f.kind is drv.FieldKind.FLAG:
        return 1
    if f.kind is drv.FieldKind.SINT:
        return -(1 << (f.width - 1)) + 3
    if f.kind in (drv.FieldKind.REG, drv.FieldKind.REG64):
        return 0x5A
    return (1 << f.width) - 1 - 4 if f.width > 3 else 1


@pytest.mark.parametrize("defn", [d for d in drv.INSTRUCTIONS if d.mnemonic != "NOP"],
                         ids=lambda d: d.mnemonic)
def test_driver_encodings_decode_to_the_same_fields(defn):
    layout = sim.LAYOUTS[defn.opcode]
    assert layout.name == defn.mnemonic
    by_bits = {(f.hi, f.lo): i for i, f in enumerate(layout.fields)}
    for f in defn.fields:
        value = _sample(f)
        word = drv.encode(defn.mnemonic, **{f.name: value})
        got = sim.decode(word)
        assert got.opcode == defn.opcode
        if (f.hi, f.lo) in by_bits:
            assert got.args[by_bits[(f.hi, f.lo)]] == int(value), f.name
        else:  # REQ_RESOURCE: the driver names each bit, the simulator reads the 4-bit mask
            (i,) = [i for i, s in enumerate(layout.fields) if s.lo <= f.lo and f.hi <= s.hi]
            assert (got.args[i] >> (f.lo - layout.fields[i].lo)) & 1 == value


def test_both_sides_know_the_same_opcodes():
    assert {d.opcode for d in drv.INSTRUCTIONS} == set(sim.LAYOUTS)


# -- jobs through the driver's scheduler --------------------------------------------------------------------


@pytest.fixture
def dev():
    device = CsfDevice(SimPlatform(strict=True), own_platform=True)
    device.start()
    yield device
    device.close()


def test_a_job_submitted_by_the_driver_runs_on_the_simulated_mcu(dev):
    vm = dev.create_vm()
    streams, out = dev.alloc(0x1000, name="streams"), dev.alloc(0x1000, name="out")
    dev.map(vm, streams, STREAM_VA)
    dev.map(vm, out, OUT_VA)
    words = [move32(1, 0xC0FFEE), move32(2, 0xF00D), move48(90, OUT_VA), store_multiple(1, 90, 0b11)]
    streams.write(0, struct.pack(f"<{len(words)}Q", *words))
    group = dev.create_group(vm, [QueueSpec(0, 4096)])
    jobs = [dev.submit(group, 0, STREAM_VA, 8 * len(words)) for _ in range(3)]
    dev.wait(jobs, 1.0)
    assert [job.seqno for job in jobs] == [1, 2, 3]
    assert all(job.done and job.error is None for job in jobs)
    assert struct.unpack("<2I", out.read(0, 8)) == (0xC0FFEE, 0xF00D)
    assert dev.platform.sim.violations == []


def test_a_recoverable_cs_fault_fails_its_job_and_the_group_stays_usable(dev):
    vm = dev.create_vm()
    streams, out = dev.alloc(0x1000, name="streams"), dev.alloc(0x1000, name="out")
    dev.map(vm, streams, STREAM_VA)
    dev.map(vm, out, OUT_VA)
    words = [move32(1, 7), *dump(1, 1)]
    words[1] = move48(90, OUT_VA)
    streams.write(0, struct.pack(f"<{len(words)}Q", *words))
    group = dev.create_group(vm, [QueueSpec(0, 4096)])
    mcu = dev.platform.sim.mcu
    mcu.faults.instruction_fault_at = 7  # the 7th instruction of the job: inside the user stream
    failed = dev.submit(group, 0, STREAM_VA, 8 * len(words))
    dev.wait(failed, 1.0)
    assert mcu.executor.events[-1][1:5] == ("fault", 0, 0, 0x51)
    assert failed.error == errno.EINVAL  # §2.5: the job whose ring range holds extract gets -EINVAL
    ok = dev.submit(group, 0, STREAM_VA, 8 * len(words))
    dev.wait(ok, 1.0)
    assert ok.error is None and ok.seqno == 2
    assert struct.unpack("<I", out.read(0, 4)) == (7,)


def test_a_stream_stalls_behind_a_driver_lock_and_finishes_after_unlock(dev):
    """§3.3: GPU accesses to a locked region stall until UNLOCK/FLUSH — for the firmware's command
    streams that is a wait, not a protocol error (a job may run while the driver updates tables)."""
    from uio_driver.regs.mmu import AsCommand

    vm = dev.create_vm()
    streams, out = dev.alloc(0x1000, name="streams"), dev.alloc(0x1000, name="out")
    dev.map(vm, streams, STREAM_VA)
    dev.map(vm, out, OUT_VA)
    words = [move32(1, 0xC0FFEE), move48(90, OUT_VA), store_multiple(1, 90, 0b1)]
    streams.write(0, struct.pack(f"<{len(words)}Q", *words))
    group = dev.create_group(vm, [QueueSpec(0, 4096)])
    dev.wait(dev.submit(group, 0, STREAM_VA, 8 * len(words)), 1.0)  # resident, VM bound
    space = dev.mmu.spaces[vm.as_nr]
    space.lock(STREAM_VA, 0x200000)  # covers the stream and the output buffer
    job = dev.submit(group, 0, STREAM_VA, 8 * len(words))
    dev.platform.clock.sleep(200e-6)
    mcu = dev.platform.sim.mcu
    assert not job.done and mcu.executor.stalls > 0
    assert struct.unpack("<I", out.read(0, 4))[0] == 0xC0FFEE  # from the first job only
    out.write(0, b"\0\0\0\0")
    space.command(AsCommand.UNLOCK)
    dev.wait(job, 1.0)
    assert job.done and job.error is None
    assert struct.unpack("<I", out.read(0, 4))[0] == 0xC0FFEE
    assert dev.platform.sim.violations == []
