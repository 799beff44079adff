"""Fuzzing: whatever the bytes, parse_firmware returns an image or raises FirmwareFormatError.

10,000 deterministic mutations (fixed seed) of the synthetic image and of the real G610 blob:
truncations, bit flips, byte overwrites, and hostile values in the header size, entry header words,
IFACE fields and the offset/size pairs of BUILD_INFO and TIMELINE_METADATA. Hypothesis adds random
byte strings behind a valid header. Nothing but FirmwareFormatError may escape; errors carry an
offset inside the file and a one-line message; accepted images satisfy the parser's guarantees.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable

from blobs import shared_firmware_root
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from uio_driver.errors import FirmwareFormatError
from uio_driver.firmware import (
    BuildInfoEntry,
    FirmwareImage,
    IfaceEntry,
    TimelineMetadataEntry,
    build_synthetic_image,
    parse_firmware,
)

MUTATIONS = 10_000
SEED = 0x5EED_F00D


def _g610_blob() -> bytes | None:
    path = shared_firmware_root() / "arm" / "mali" / "arch10.8" / "mali_csffw.bin"
    return path.read_bytes() if path.is_file() else None


class Target:
    """A base image and where its parse-relevant fields are."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        image = parse_firmware(data)
        self.entry_end = image.header.entry_end
        self.entries = [e.offset for e in image.entries]
        self.ifaces = [e.offset for e in image.sections]
        referencing = (BuildInfoEntry, TimelineMetadataEntry)
        self.refs = [e.offset for e in image.entries if isinstance(e, referencing)]


def _hostile(rng: random.Random, length: int) -> int:
    value = rng.choice([0, 1, 3, 4, 0x13, 0x14, 0x15, 0xFFF, 0x1000, 0x04000000, 0x7FFFFFFF, 0xFFFFFFFF,
                        0xFFFFF000, length - 1, length, length + 1, length + 4, rng.getrandbits(32)])
    return value & 0xFFFFFFFF


def _truncate(rng: random.Random, t: Target, buf: bytearray) -> bytearray:
    cut = rng.randrange(t.entry_end + 64) if rng.random() < 0.6 else rng.randrange(len(buf))
    return buf[:cut]


def _bit_flips(rng: random.Random, t: Target, buf: bytearray) -> bytearray:
    span = t.entry_end if rng.random() < 0.85 else len(buf)
    for _ in range(rng.randint(1, 8)):
        pos = rng.randrange(span)
        buf[pos] ^= 1 << rng.randrange(8)
    return buf


def _overwrite(rng: random.Random, t: Target, buf: bytearray) -> bytearray:
    pos = rng.randrange(t.entry_end)
    run = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 16)))
    buf[pos:pos + len(run)] = run
    return buf


def _header_size(rng: random.Random, t: Target, buf: bytearray) -> bytearray:
    struct.pack_into("<I", buf, 0x10, _hostile(rng, len(buf)))
    return buf


def _entry_word(rng: random.Random, t: Target, buf: bytearray) -> bytearray:
    off = rng.choice(t.entries)
    choice = rng.randrange(4)
    if choice == 0:  # size field
        buf[off + 1] = rng.choice([0, 1, 2, 3, 4, 8, 0x1F, 0x20, 0xFC, 0xFF, rng.getrandbits(8)])
    elif choice == 1:  # type field
        buf[off] = rng.getrandbits(8)
    elif choice == 2:  # OPTIONAL / UPDATE / reserved bits
        buf[off + 3] ^= rng.choice([0x80, 0x40, 0x3F, 0xFF])
    else:
        struct.pack_into("<I", buf, off, rng.getrandbits(32))
    return buf


def _iface_field(rng: random.Random, t: Target, buf: bytearray) -> bytearray:
    off = rng.choice(t.ifaces)
    field = rng.randrange(6)
    if field == 5:  # name area
        buf[off + 24:off + 32] = bytes(rng.getrandbits(8) for _ in range(8))
    else:
        struct.pack_into("<I", buf, off + 4 + 4 * field, _hostile(rng, len(buf)))
    return buf


def _reference_field(rng: random.Random, t: Target, buf: bytearray) -> bytearray:
    off = rng.choice(t.refs)
    struct.pack_into("<I", buf, off + 4 + 4 * rng.randrange(2), _hostile(rng, len(buf)))
    return buf


Mutator = Callable[[random.Random, Target, bytearray], bytearray]
MUTATORS: list[Mutator] = [_truncate, _bit_flips, _overwrite, _header_size, _entry_word, _iface_field,
                           _reference_field]


def _check_accepted(image: FirmwareImage, data: bytes) -> None:
    """What an accepted image guarantees (csf-firmware-and-interfaces.md §1.11-§1.12)."""
    assert image.header.entry_end <= len(data)
    shared = image.shared_section
    assert shared.va_start == 0x04000000 and shared.shared and not shared.prot
    assert shared.va_end > shared.va_start
    spans = sorted((s.va_start, s.va_end) for s in image.sections if s.va_end > s.va_start)
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert end <= start
    for s in image.sections:
        assert isinstance(s, IfaceEntry)
        assert s.data_start <= s.data_end <= len(data) and s.data_size <= s.va_size
        assert s.va_start % 0x1000 == 0 and s.va_end % 0x1000 == 0
    offsets = [e.offset for e in image.entries]
    assert offsets == sorted(offsets)
    assert all(e.offset + e.size <= image.header.entry_end for e in image.entries)


def _parse_one(data: bytes) -> str:
    try:
        image = parse_firmware(data)
    except FirmwareFormatError as err:
        assert isinstance(err.offset, int) and 0 <= err.offset <= len(data), (err.offset, len(data))
        assert "\n" not in str(err) and str(err)
        return "rejected"
    _check_accepted(image, data)
    return "accepted"


def test_ten_thousand_mutations() -> None:
    rng = random.Random(SEED)
    targets = [Target(build_synthetic_image())]
    blob = _g610_blob()
    if blob is not None:
        targets.append(Target(blob))
    outcomes = {"accepted": 0, "rejected": 0}
    for i in range(MUTATIONS):
        target = targets[i % len(targets)]
        buf = bytearray(target.data)
        steps = [rng.choice(MUTATORS) for _ in range(1 if rng.random() < 0.8 else rng.randint(2, 3))]
        # Field writers need the full-length buffer, so a truncation always comes last.
        for mutate in sorted(steps, key=lambda m: m is _truncate):
            buf = mutate(rng, target, buf)
        outcomes[_parse_one(bytes(buf))] += 1
    # Both outcomes occur, so the mutations neither always break nor never touch the parse.
    assert outcomes["accepted"] > 500 and outcomes["rejected"] > 2000, outcomes


@settings(max_examples=400, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_arbitrary_bytes(data: bytes) -> None:
    _parse_one(data)


@settings(max_examples=400, derandomize=True, deadline=None)
@given(size=st.integers(0, 0xFFFFFFFF), table=st.binary(max_size=256), tail=st.binary(max_size=64))
def test_valid_header_random_table(size: int, table: bytes, tail: bytes) -> None:
    header = struct.pack("<IBBHIII", 0xC3F13A6E, 3, 0, 0, 0x01050000, 0, min(size, 0x14 + len(table)))
    _parse_one(header + table + tail)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(words=st.lists(st.integers(0, 0xFFFFFFFF), min_size=1, max_size=24))
def test_random_entry_words_after_synthetic_table(words: list[int]) -> None:
    base = bytearray(build_synthetic_image())
    end = struct.unpack_from("<I", base, 0x10)[0]
    patch = struct.pack(f"<{len(words)}I", *words)
    at = 0x14 + 4 * (len(words) % 8)
    base[at:at + len(patch)] = patch[:max(0, end - at)]
    _parse_one(bytes(base))
