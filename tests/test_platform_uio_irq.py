"""UioIrqLine protocol (reference §3.4) on a socketpair: the peer end plays the kernel.

A socketpair gives what a regular file cannot: poll() that blocks until the "kernel" writes, reads
that return exactly what was sent, and a separate channel for the line's control writes.
"""

from __future__ import annotations

import errno
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from uio_driver.errors import DeviceNotFound, HardwareFault, InvalidArgument
from uio_driver.platform.uio import UioIrqLine


def s32(value: int) -> bytes:
    return value.to_bytes(4, sys.byteorder, signed=True)


@pytest.fixture
def pair() -> Iterator[tuple[UioIrqLine, socket.socket]]:
    ours, kernel = socket.socketpair()
    line = UioIrqLine("job", ours.fileno(), "/dev/uio0", node="mali-hil-job", initial_count=4)
    kernel.settimeout(1.0)
    yield line, kernel
    line.close()
    ours.close()
    kernel.close()


def test_enable_disable_acknowledge_write_one_native_s32(pair: tuple[UioIrqLine, socket.socket]) -> None:
    line, kernel = pair
    line.enable()
    line.disable()
    line.acknowledge()
    assert kernel.recv(64) == s32(1) + s32(0) + s32(1)


def test_wait_reads_the_four_byte_event_count(pair: tuple[UioIrqLine, socket.socket]) -> None:
    line, kernel = pair
    kernel.send(s32(7))
    assert line.wait(1.0) is True
    assert (line.last_count, line.last_delta) == (7, 3)  # 4 at discovery -> 7: three interrupts
    kernel.send(s32(8))
    assert line.wait(1.0) is True and (line.last_count, line.last_delta) == (8, 1)


def test_wait_times_out_without_an_event_and_never_early(pair: tuple[UioIrqLine, socket.socket]) -> None:
    line, _ = pair
    assert line.wait(0) is False
    start = time.monotonic()
    assert line.wait(0.02) is False
    assert time.monotonic() - start >= 0.02
    assert line.last_count == 4


def test_wait_wakes_when_the_interrupt_arrives(pair: tuple[UioIrqLine, socket.socket]) -> None:
    line, kernel = pair
    timer = threading.Timer(0.02, kernel.send, args=(s32(5),))
    timer.start()
    start = time.monotonic()
    try:
        assert line.wait(5.0) is True
    finally:
        timer.join()
    assert time.monotonic() - start < 4.0 and line.last_count == 5


@pytest.mark.parametrize("timeout", [-0.001, float("nan"), float("inf")])
def test_bad_timeouts_are_refused(pair: tuple[UioIrqLine, socket.socket], timeout: float) -> None:
    line, kernel = pair
    kernel.send(s32(9))
    with pytest.raises(InvalidArgument):
        line.wait(timeout)
    assert line.last_count == 4  # the pending event was not consumed
    assert line.wait(1.0) and line.last_count == 9


def test_a_short_read_is_a_hardware_fault(pair: tuple[UioIrqLine, socket.socket]) -> None:
    line, kernel = pair
    kernel.send(b"\x01\x00")
    with pytest.raises(HardwareFault, match="returned 2 bytes"):
        line.wait(1.0)


def test_write_errors_name_the_node() -> None:
    rd, wr = os.pipe()
    try:
        line = UioIrqLine("mmu", rd, "/dev/uio1", node="mali-hil-mmu")  # read end: writes fail EBADF
        with pytest.raises(HardwareFault, match="mali-hil-mmu") as exc:
            line.enable()
        assert exc.value.errno == errno.EBADF
    finally:
        os.close(rd)
        os.close(wr)


def test_closed_line_is_refused(pair: tuple[UioIrqLine, socket.socket]) -> None:
    line, _ = pair
    line.close()
    with pytest.raises(DeviceNotFound, match="after close"):
        line.wait(0)
    with pytest.raises(DeviceNotFound):
        line.enable()


def test_owned_fd_is_closed_with_the_line() -> None:
    ours, kernel = socket.socketpair()
    fd = os.dup(ours.fileno())
    line = UioIrqLine("gpu", fd, "/dev/uio2", owns_fd=True)
    line.close()
    with pytest.raises(OSError) as exc:
        os.fstat(fd)
    assert exc.value.errno == errno.EBADF
    ours.close()
    kernel.close()
