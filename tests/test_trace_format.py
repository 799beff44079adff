"""Trace file format: byte layout, writer, reader, corruption and truncation (docs/trace-format.md)."""

from __future__ import annotations

import ctypes
import errno
import io
import json
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from uio_driver.errors import InvalidArgument, MaliError
from uio_driver.trace import TraceFormatError, TraceReader, TraceWriter, read_trace
from uio_driver.trace.format import RECORD_DTYPE, TraceFileHeader, TraceRecord

R, W, T, E = ord("R"), ord("W"), ord("T"), ord("E")
GPU_SIZE = 0x200000


def writer(target: object, **kw: object) -> TraceWriter:
    args: dict = dict(backend="sim", clock_virtual=True, start_clock_ns=1000, simulated=True,
                      command="test", notes=("n1",), regdb="db", start_wall_ns=123)
    args.update(kw)
    w = TraceWriter(target, **args)  # type: ignore[arg-type]
    w.add_region("gpu", GPU_SIZE, 0xFB000000)
    w.attach()
    return w


def header_size(path: Path) -> int:
    return int.from_bytes(path.read_bytes()[16:20], "little")


def records(path: Path) -> list[tuple[int, ...]]:
    data = path.read_bytes()[header_size(path):]
    return [struct.unpack_from("<IBBHII", data, i) for i in range(0, len(data) - len(data) % 16, 16)]


# -- layout ----------------------------------------------------------------------------------------


def test_record_layout_is_16_bytes_with_documented_offsets() -> None:
    # docs/trace-format.md: dt u32 @0, op u8 @4, region u8 @5, errno u16 @6, offset u32 @8, value u32 @12
    assert ctypes.sizeof(TraceRecord) == 16 and RECORD_DTYPE.itemsize == 16
    expected = {"dt_ns": 0, "op": 4, "region": 5, "errno": 6, "offset": 8, "value": 12}
    assert {n: getattr(TraceRecord, n).offset for n in expected} == expected
    assert RECORD_DTYPE.fields is not None
    assert {n: RECORD_DTYPE.fields[n][1] for n in expected} == expected


def test_header_layout_is_48_bytes_with_documented_offsets() -> None:
    expected = {"magic": 0, "version": 8, "record_size": 10, "flags": 12, "header_size": 16, "meta_size": 20,
                "start_wall_ns": 24, "start_clock_ns": 32, "gpu_id": 40, "reserved": 44}
    assert ctypes.sizeof(TraceFileHeader) == 48
    assert {n: getattr(TraceFileHeader, n).offset for n in expected} == expected


def test_written_bytes_match_the_documented_format(tmp_path: Path) -> None:
    path = tmp_path / "t.bin"
    w = writer(path)
    w.record(1000, R, 0, 0x0, 0xA8670005)           # GPU_ID at the start time
    w.record(1250, W, 0, 0x28, 0x20103)             # GPU_IRQ_MASK 250 ns later
    w.close()
    data = path.read_bytes()
    assert data[:8] == b"MALITRAC"
    version, record_size, flags, hsize, msize = struct.unpack_from("<HHIII", data, 8)
    assert (version, record_size, flags) == (1, 16, 1)  # flag bit 0: virtual clock
    assert hsize % 16 == 0 and hsize == -(-(48 + msize) // 16) * 16
    wall, start, gpu_id, reserved = struct.unpack_from("<QQII", data, 24)
    assert (wall, start, gpu_id, reserved) == (123, 1000, 0xA8670005, 0)
    meta = json.loads(data[48:48 + msize])
    assert meta["regions"] == [{"name": "gpu", "size": GPU_SIZE, "phys_base": 0xFB000000}]
    assert meta["backend"] == "sim" and meta["command"] == "test" and meta["notes"] == ["n1"]
    assert data[48 + msize:hsize] == bytes(hsize - 48 - msize)
    body = data[hsize:]
    assert body == (bytes([0, 0, 0, 0, R, 0, 0, 0, 0, 0, 0, 0, 0x05, 0x00, 0x67, 0xA8])
                    + bytes([250, 0, 0, 0, W, 0, 0, 0, 0x28, 0, 0, 0, 0x03, 0x01, 0x02, 0x00])
                    + bytes([0, 0, 0, 0, E, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]))


def test_round_trip_times_values_and_end(tmp_path: Path) -> None:
    path = tmp_path / "t.bin"
    w = writer(path)
    w.record(1000, R, 0, 0x20, 0)
    w.record(21000, R, 0, 0x20, 0x100)
    w.record(21000, W, 0, 0x24, 0x100, errno.EPROTO)
    w.close()
    t = read_trace(path)
    assert t.complete and len(t) == 3 and t.duration_ns == 20000
    got = [(a.time_ns, a.op, a.offset, a.value, a.errno) for a in t.accesses]
    assert got == [(0, "R", 0x20, 0, 0), (20000, "R", 0x20, 0x100, 0),
                   (20000, "W", 0x24, 0x100, errno.EPROTO)]
    assert t.header.gpu_id is None and t.header.clock_virtual and t.header.start_clock_ns == 1000
    assert [a.byte_offset for a in t.accesses] == [t.header.header_size + 16 * i for i in range(3)]


def test_gaps_over_32_bits_use_a_time_extension_record(tmp_path: Path) -> None:
    path = tmp_path / "t.bin"
    w = writer(path)
    w.record(1000 + 5_000_000_000, R, 0, 0x98, 7)   # 5 s > 2**32 - 1 ns
    w.record(1000 + 5_000_000_010, R, 0, 0x98, 8)
    w.close()
    recs = records(path)
    gap = 5_000_000_000
    assert recs[0] == (0, T, 0, 0, gap & 0xFFFFFFFF, gap >> 32)
    assert recs[1][:2] == (0, R) and recs[2][:2] == (10, R)
    assert [a.time_ns for a in read_trace(path).accesses] == [gap, gap + 10]


def test_gpu_id_is_patched_into_the_header_once_seen(tmp_path: Path) -> None:
    path = tmp_path / "t.bin"
    w = writer(path, flush_records=1)
    w.record(1000, R, 0, 0x4, 0x07120306)   # not GPU_ID
    assert TraceReader(path).header.gpu_id is None
    w.record(1000, R, 0, 0x0, 0xA8670005)
    assert TraceReader(path).header.gpu_id == 0xA8670005  # on disk before close
    w.record(1000, R, 0, 0x0, 0x12345678)  # only the first value counts
    w.close()
    assert read_trace(path).header.gpu_id == 0xA8670005


def test_writer_buffers_whole_records_and_a_killed_run_leaves_a_readable_prefix(tmp_path: Path) -> None:
    path = tmp_path / "t.bin"
    w = writer(path, flush_records=2)
    for i in range(5):
        w.record(1000 + i, R, 0, 0x20, i)
    # 5 records with a 2-record buffer: 4 on disk, 1 buffered; no END yet (as after a crash).
    size = path.stat().st_size
    assert (size - header_size(path)) == 4 * 16
    reader = TraceReader(path)
    assert [a.value for a in reader] == [0, 1, 2, 3]
    assert reader.complete is False and reader.count == 4
    w.close()
    assert read_trace(path).complete


def test_failed_access_is_flushed_at_once(tmp_path: Path) -> None:
    path = tmp_path / "t.bin"
    w = writer(path)  # 4096-record buffer
    w.record(1000, R, 0, 0x0, 0xA8670005)
    assert path.stat().st_size == header_size(path)  # still buffered
    w.record(1000, W, 0, 0x0, 1, errno.EPROTO)
    assert path.stat().st_size == header_size(path) + 32
    w.close()


def test_writer_accepts_a_binary_stream(tmp_path: Path) -> None:
    stream = io.BytesIO()
    w = writer(stream)
    w.record(1000, W, 0, 0x28, 1)
    w.close()
    path = tmp_path / "s.bin"
    path.write_bytes(stream.getvalue())
    assert [(a.op, a.value) for a in read_trace(path).accesses] == [("W", 1)]


def test_writer_refuses_bad_input_and_keeps_the_file_valid(tmp_path: Path) -> None:
    path = tmp_path / "t.bin"
    w = writer(path)
    w.record(5000, R, 0, 0x0, 1)
    with pytest.raises(InvalidArgument, match="backwards"):
        w.record(4000, R, 0, 0x0, 1)
    with pytest.raises(InvalidArgument, match="region id 3"):
        w.record(6000, R, 3, 0x0, 1)
    with pytest.raises(InvalidArgument, match="not a read or write"):
        w.record(6000, T, 0, 0x0, 1)
    with pytest.raises(InvalidArgument, match="after recording started"):
        w.add_region("other", 0x1000)
    with pytest.raises(InvalidArgument, match="do not fit"):
        w.record(6000, W, 0, 0x0, 1 << 32)
    with pytest.raises(InvalidArgument, match="failed read carries no value"):
        w.record(6000, R, 0, 0x0, 5, errno.EPROTO)
    w.close()
    t = read_trace(path)
    assert t.complete and [(a.time_ns, a.value) for a in t.accesses] == [(4000, 1)]
    with pytest.raises(InvalidArgument, match="after close"):
        w.record(7000, R, 0, 0x0, 1)


@pytest.mark.parametrize("kw", [{"flush_records": 0}, {"flush_records": True}, {"start_clock_ns": -1}])
def test_writer_refuses_bad_options(tmp_path: Path, kw: dict) -> None:
    with pytest.raises(InvalidArgument):
        writer(tmp_path / "t.bin", **kw)
    assert not (tmp_path / "t.bin").exists()


def test_writer_reports_an_unwritable_path_with_its_errno(tmp_path: Path) -> None:
    with pytest.raises(MaliError) as exc:
        writer(tmp_path / "missing-dir" / "t.bin")
    assert exc.value.errno == errno.ENOENT and "missing-dir" in str(exc.value)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1 << 34), st.sampled_from("RW"), st.integers(0, GPU_SIZE // 4 - 1),
                          st.integers(0, 0xFFFFFFFF), st.sampled_from([0, errno.EPROTO, errno.EFAULT])),
                max_size=40))
def test_any_access_sequence_round_trips(tmp_path_factory: pytest.TempPathFactory, seq: list) -> None:
    path = tmp_path_factory.mktemp("rt") / "t.bin"
    w = writer(path, flush_records=3)
    now, expected = 1000, []
    for gap, op, word, value, err in seq:
        now += gap
        v = 0 if op == "R" and err else value
        w.record(now, ord(op), 0, word * 4, v, err)
        expected.append((now - 1000, op, word * 4, v, err))
    w.close()
    t = read_trace(path)
    assert t.complete and [(a.time_ns, a.op, a.offset, a.value, a.errno) for a in t.accesses] == expected


# -- corruption -------------------------------------------------------------------------------------


@pytest.fixture
def good(tmp_path: Path) -> Path:
    path = tmp_path / "good.bin"
    w = writer(path)
    for i in range(3):
        w.record(1000 + i, R, 0, 4 * i, i)
    w.close()
    return path


def corrupt(path: Path, offset: int, data: bytes) -> Path:
    raw = bytearray(path.read_bytes())
    raw[offset:offset + len(data)] = data
    out = path.with_name("bad.bin")
    out.write_bytes(bytes(raw))
    return out


def expect_error(path: Path, offset: int, text: str) -> None:
    with pytest.raises(TraceFormatError) as exc:
        read_trace(path)
    assert exc.value.offset == offset and exc.value.errno == errno.EINVAL
    assert text in str(exc.value) and f"byte {offset:#x}" in str(exc.value) and str(path) in str(exc.value)


def test_bad_magic(good: Path) -> None:
    expect_error(corrupt(good, 0, b"NOTATRAC"), 0, "not a mali-uio trace")


def test_unsupported_version(good: Path) -> None:
    expect_error(corrupt(good, 8, (2).to_bytes(2, "little")), 8, "version 2")


def test_bad_record_size_and_unknown_flags(good: Path) -> None:
    expect_error(corrupt(good, 10, (32).to_bytes(2, "little")), 10, "record size 32")
    expect_error(corrupt(good, 12, (0x80).to_bytes(4, "little")), 12, "unknown header flags 0x80")


def test_inconsistent_header_size(good: Path) -> None:
    expect_error(corrupt(good, 16, (header_size(good) + 16).to_bytes(4, "little")), 16, "header size")


def test_metadata_not_json(good: Path) -> None:
    expect_error(corrupt(good, 48, b"}"), 48, "not UTF-8 JSON")


def test_short_file_and_file_ending_inside_the_header(good: Path, tmp_path: Path) -> None:
    short = tmp_path / "short.bin"
    short.write_bytes(good.read_bytes()[:20])
    expect_error(short, 0, "too short")
    cut = tmp_path / "cut.bin"
    cut.write_bytes(good.read_bytes()[:60])
    with pytest.raises(TraceFormatError, match="ends inside the header"):
        read_trace(cut)


def test_unknown_record_op_reports_the_record_offset(good: Path) -> None:
    second = header_size(good) + 16
    expect_error(corrupt(good, second + 4, b"Z"), second, "unknown record op 0x5a")


def test_misaligned_or_out_of_range_offset(good: Path) -> None:
    first = header_size(good)
    expect_error(corrupt(good, first + 8, (2).to_bytes(4, "little")), first, "not 4-byte aligned")
    expect_error(corrupt(good, first + 8, GPU_SIZE.to_bytes(4, "little")), first, "outside region 'gpu'")


def test_unknown_region(good: Path) -> None:
    first = header_size(good)
    expect_error(corrupt(good, first + 5, b"\x01"), first, "names region 1")


def test_failed_read_with_a_value(good: Path) -> None:
    third = header_size(good) + 32  # R of value 2
    expect_error(corrupt(good, third + 6, (5).to_bytes(2, "little")), third,
                 "failed read record carries value")


def test_end_count_mismatch(good: Path) -> None:
    end = header_size(good) + 48
    expect_error(corrupt(good, end + 8, (7).to_bytes(4, "little")), end,
                 "END record counts 7 accesses but the file holds 3")


def test_end_record_with_a_time_delta(good: Path) -> None:
    end = header_size(good) + 48
    expect_error(corrupt(good, end, (1).to_bytes(4, "little")), end, "E record with non-zero region/errno/dt")


def test_data_after_end(good: Path) -> None:
    extra = good.with_name("extra.bin")
    extra.write_bytes(good.read_bytes() + struct.pack("<IBBHII", 0, R, 0, 0, 0, 0))
    expect_error(extra, header_size(good) + 64, "data after the END record")


def test_truncated_record_is_an_error_unless_allowed(good: Path) -> None:
    cut = good.with_name("cut.bin")
    first = header_size(good)
    cut.write_bytes(good.read_bytes()[:first + 16 + 7])  # one whole record, 7 bytes of the next
    expect_error(cut, first + 16, "truncated record")
    reader = TraceReader(cut, allow_truncated=True)
    assert [a.value for a in reader] == [0]
    assert reader.truncated_at == first + 16 and reader.complete is False


def test_validation_works_across_chunks(good: Path) -> None:
    third = header_size(good) + 32
    bad = corrupt(good, third + 4, b"?")
    with pytest.raises(TraceFormatError) as exc:
        list(TraceReader(bad, chunk_records=1))
    assert exc.value.offset == third
    assert [a.value for a in TraceReader(good, chunk_records=2)] == [0, 1, 2]


def test_missing_file_has_its_errno(tmp_path: Path) -> None:
    with pytest.raises(MaliError) as exc:
        read_trace(tmp_path / "nope.bin")
    assert exc.value.errno == errno.ENOENT
