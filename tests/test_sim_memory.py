"""Simulated physical RAM: access by physical address, bus errors outside RAM, and the DMA
carveout shared between the driver's DmaBuffer views and the GPU side."""

from __future__ import annotations

import numpy as np
import pytest

from uio_driver.errors import BadAddress, InvalidArgument, OutOfMemory
from uio_driver.sim import SimPlatform
from uio_driver.sim.memory import SimBusError, SimMemory


def test_scalar_and_bulk_access_little_endian():
    mem = SimMemory()
    mem.add_ram(0x1000_0000, 0x10000)
    mem.write32(0x1000_0010, 0x11223344)
    assert mem.read(0x1000_0010, 4) == bytes([0x44, 0x33, 0x22, 0x11])
    mem.write64(0x1000_0018, 0x0102030405060708)
    assert mem.read32(0x1000_0018) == 0x05060708 and mem.read32(0x1000_001C) == 0x01020304
    mem.write(0x1000_1000, b"\xaa" * 16)
    assert mem.read64(0x1000_1008) == 0xAAAAAAAAAAAAAAAA
    table = mem.array(0x1000_1000, 2)
    assert table.dtype == np.dtype("<u8") and list(table) == [0xAAAAAAAAAAAAAAAA] * 2
    mem.close()


@pytest.mark.parametrize(("pa", "size"), [(0x0, 4), (0x1001_0000, 4), (0x1000_FFFC, 8), (0xFFFF_FFFC, 4)])
def test_access_outside_ram_is_a_bus_error(pa, size):
    mem = SimMemory()
    mem.add_ram(0x1000_0000, 0x10000)
    with pytest.raises(SimBusError) as info:
        mem.read(pa, size)
    assert info.value.offset == pa
    assert isinstance(info.value, BadAddress)  # callers may catch the generic EFAULT class
    assert not mem.contains(pa, size)
    with pytest.raises(SimBusError):
        mem.write(pa, b"\0" * size)


def test_bus_error_on_write_spanning_the_end_writes_nothing():
    mem = SimMemory()
    mem.add_ram(0x2000, 0x1000)
    with pytest.raises(SimBusError):
        mem.write(0x2FFC, b"\x01" * 8)
    assert mem.read(0x2FFC, 4) == b"\0\0\0\0"


def test_misaligned_and_out_of_range_values_refused():
    mem = SimMemory()
    mem.add_ram(0x2000, 0x1000)
    with pytest.raises(BadAddress):
        mem.read32(0x2002)
    with pytest.raises(BadAddress):
        mem.write64(0x2004, 0)
    with pytest.raises(InvalidArgument):
        mem.write32(0x2000, 1 << 32)
    assert mem.read64(0x2000) == 0


@pytest.mark.parametrize(("base", "size"), [(0x1001, 0x1000), (0x1000, 0), (0x1000, 0x800), (1 << 40, 0x1000),
                                            (0x3000, 0x1000)])
def test_add_ram_rejects_bad_ranges(base, size):
    mem = SimMemory()
    mem.add_ram(0x2000, 0x2000)
    with pytest.raises(InvalidArgument):
        mem.add_ram(base, size)
    assert len(mem.ranges) == 1


def test_dma_buffers_are_visible_to_the_gpu_side_by_physical_address(sim_platform):
    dma, mem = sim_platform.dma_allocator(), sim_platform.sim.memory
    assert (dma.phys_base, dma.size) == (0x30000000, 256 << 20)
    buf = dma.alloc(0x2000, name="pt")
    assert 0x30000000 <= buf.phys < 0x40000000 and buf.phys % 0x1000 == 0
    buf.u64[3] = 0x0000_0000_3000_0003  # a table descriptor written by the CPU side
    assert mem.read64(buf.phys + 24) == 0x30000003
    mem.write32(buf.phys + 0x1000, 0xCAFEF00D)  # the GPU side writes back
    assert int(buf.array(np.uint32)[0x400]) == 0xCAFEF00D


def test_carveout_is_lazy_and_configurable():
    with SimPlatform(carveout_base=0x1_0000_0000, carveout_size=0x100000) as p:
        dma = p.dma_allocator()
        assert (dma.phys_base, dma.size) == (0x1_0000_0000, 0x100000)
        dma.alloc(0x100000)
        with pytest.raises(OutOfMemory):
            dma.alloc(0x1000)
        assert p.sim.memory.read32(0x1_0000_0000) == 0
        with pytest.raises(SimBusError):
            p.sim.memory.read32(0x30000000)


@pytest.mark.parametrize(("base", "size"), [(0x30000800, 0x100000), (0x30000000, 0x1234),
                                            (0xFAF00000, 0x200000), (1 << 40, 0x1000), ("0", 0x1000)])
def test_bad_carveout_options_are_refused(base, size):
    with pytest.raises(InvalidArgument):
        SimPlatform(carveout_base=base, carveout_size=size)
