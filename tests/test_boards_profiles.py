"""Board profiles: every shipped profile parses and obeys the carveout rules; bad profiles are refused.

Expectations come from shared/reference/rk3588-platform-and-uio.md (§2 board table, §1.6 memory
map, §7.5 carveout rules), written out here independently of uio_driver.boards' constants.
"""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

import pytest

from uio_driver import boards
from uio_driver.datafiles import data_dir
from uio_driver.errors import InvalidArgument

MiB = 1 << 20
GiB = 1 << 30

# §2 (mainline DT v7.1): board -> (board compatible, SoC). Every one of them uses vdd_gpu_s0.
EXPECTED_BOARDS = {
    "radxa-rock-5b": ("radxa,rock-5b", "rk3588"),
    "radxa-rock-5a": ("radxa,rock-5a", "rk3588s"),
    "xunlong-orangepi-5": ("xunlong,orangepi-5", "rk3588s"),
    "xunlong-orangepi-5-plus": ("xunlong,orangepi-5-plus", "rk3588"),
    "friendlyarm-nanopc-t6": ("friendlyarm,nanopc-t6", "rk3588"),
}


@pytest.fixture(scope="module")
def profiles() -> dict[str, boards.BoardProfile]:
    return boards.load_profiles()


def test_every_required_board_and_the_generic_default_is_shipped(profiles):
    assert set(EXPECTED_BOARDS) | {"generic-rk3588"} <= set(profiles)
    assert [p.key for p in profiles.values() if p.generic] == ["generic-rk3588"]


@pytest.mark.parametrize("key", sorted(EXPECTED_BOARDS))
def test_board_facts_match_the_reference(profiles, key):
    compatible, soc = EXPECTED_BOARDS[key]
    prof = profiles[key]
    assert compatible in prof.compatible
    assert prof.soc == soc
    assert prof.gpu_regulator_label == "vdd_gpu_s0"
    assert prof.regulator_always_on is False  # §2 "AO" column: only evb1/evb2/QuartzPro64/Sige7
    assert prof.ram_min_gib == 4  # smallest RAM variant in the §2 table
    # RAM sizes are vendor marketing data, the vendor kernel facts are not from primary sources
    assert prof.tags["ram_variants_gib"] == "unverified"
    assert prof.tags["kernels.vendor"] == "unverified"
    assert prof.kernels.mainline_pd_supply == "6.15" and prof.tags["kernels.mainline_pd_supply"] == "src"
    assert prof.dtb is not None and prof.dtb.startswith("rockchip/rk3588")


def test_generic_profile_covers_both_socs(profiles):
    generic = profiles["generic-rk3588"]
    assert set(generic.compatible) == {"rockchip,rk3588", "rockchip,rk3588s"}
    assert generic.tags["carveout"] == "inferred"


def _rules_hold(base: int, size: int, ram_min_gib: int) -> list[str]:
    """§1.6/§7.5 rules restated from the reference text (not from the module's constants)."""
    broken = []
    end = base + size
    bank_end = min(0xF000_0000, ram_min_gib * GiB)
    if base % (2 * MiB) or size % (2 * MiB) or size == 0:
        broken.append("2 MiB alignment")
    if base < 0x0020_0000 or end > bank_end:
        broken.append("first bank")
    if base < 0x1A00_0000 and end > 0x0200_0000:
        broken.append("U-Boot load area 0x02000000-0x1a000000")
    if end > bank_end - 256 * MiB:
        broken.append("top 256 MiB")
    return broken


@pytest.mark.parametrize("key", sorted(EXPECTED_BOARDS) + ["generic-rk3588"])
def test_carveout_obeys_the_placement_rules(profiles, key):
    prof = profiles[key]
    assert _rules_hold(prof.carveout.base, prof.carveout.size, prof.ram_min_gib) == []
    assert prof.carveout.size >= 64 * MiB  # §7.5 rule 5: 64 MiB is the bring-up minimum


def test_boards_use_the_reference_example_carveout(profiles):
    for key in EXPECTED_BOARDS:  # §7.4: 0x30000000, 256 MiB satisfies rules 1-2 on every board
        assert (profiles[key].carveout.base, profiles[key].carveout.size) == (0x3000_0000, 256 * MiB)


def test_unverified_and_inferred_facts_are_listed(profiles):
    prof = profiles["radxa-rock-5b"]
    assert "ram_variants_gib" in prof.tagged("unverified")
    assert prof.tagged("inferred") == ["carveout"]
    data = json.loads(json.dumps(prof.to_dict()))
    assert data["carveout"] == {"base": "0x30000000", "size": "0x10000000"}
    assert "ram_variants_gib" in data["unverified"]


@pytest.mark.parametrize("name", ["radxa-rock-5b", "rock5b", "ROCK-5B", "radxa,rock-5b"])
def test_lookup_by_key_alias_or_compatible(profiles, name):
    assert boards.profile(name, profiles).key == "radxa-rock-5b"


def test_unknown_board_lists_the_known_ones(profiles):
    with pytest.raises(InvalidArgument) as info:
        boards.profile("pine64,rockpro64", profiles)
    assert info.value.errno == errno.EINVAL
    assert "unknown board 'pine64,rockpro64'" in str(info.value)
    assert "radxa-rock-5b" in str(info.value)


# --------------------------------------------------------------------------------------------
# check_carveout boundaries (hand-computed)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("base,size,ram_gib", [
    (0x0020_0000, 10 * MiB, 4),       # below scriptaddr: first usable 2 MiB page, ends 0x00c00000
    (0x1A00_0000, 64 * MiB, 4),       # right after U-Boot's load area
    (0xDE00_0000, 32 * MiB, 4),       # ends exactly at 0xe0000000 (top 256 MiB of 0xf0000000)
    (0x5000_0000, 512 * MiB, 2),      # 2 GiB board: ends exactly at 0x70000000
])
def test_carveout_boundaries_accepted(base, size, ram_gib):
    boards.check_carveout(base, size, ram_min_bytes=ram_gib * GiB)


@pytest.mark.parametrize("base,size,ram_gib,needle", [
    (0x3000_0000, 0x10_0000, 4, "multiples of 2 MiB"),
    (0x3010_0000, 64 * MiB, 4, "multiples of 2 MiB"),
    (0x0000_0000, 2 * MiB, 4, "first DRAM bank"),
    (0xE000_0000, 512 * MiB, 4, "first DRAM bank"),
    (0x1000_0000, 256 * MiB, 4, "U-Boot's load area"),
    (0x0020_0000, 12 * MiB, 4, "U-Boot's load area"),     # reaches scriptaddr 0x00c00000
    (0xDE00_0000, 34 * MiB, 4, "top 256 MiB"),
    (0x7000_0000, 64 * MiB, 2, "top 256 MiB"),            # 2 GiB board: reserve 0x70000000-0x80000000
    (0x7000_0000, 512 * MiB, 2, "first DRAM bank"),
    (0x3000_0000, 256 * MiB, 1, "top 256 MiB"),           # 1 GiB board: reserve starts at 0x30000000
    (-2 * MiB, 2 * MiB, 4, "non-negative integer"),
])
def test_carveout_boundaries_refused(base, size, ram_gib, needle):
    with pytest.raises(InvalidArgument, match=needle) as info:
        boards.check_carveout(base, size, ram_min_bytes=ram_gib * GiB, where="x.toml: key 'carveout'")
    assert str(info.value).startswith("x.toml: key 'carveout'")


# --------------------------------------------------------------------------------------------
# Validation of bad profiles (copies of a shipped profile, edited)
# --------------------------------------------------------------------------------------------


def _copy_boards(tmp_path: Path) -> Path:
    folder = tmp_path / "boards"
    shutil.copytree(data_dir("boards"), folder)
    return folder


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize("old,new,needle", [
    ('soc = "rk3588"\n', "", "key 'soc' is missing"),
    ('soc = "rk3588"', 'soc = "rk3399"', "key 'soc' must be one of rk3588, rk3588s"),
    ("base = 0x30000000", "base = 0x30100000", "key 'carveout'"),
    ("base = 0x30000000", "base = 0x10000000", "U-Boot's load area"),
    ("base = 0x30000000", "base = 0xe8000000", "first DRAM bank"),
    ("base = 0x30000000", "base = 0xe0000000", "top 256 MiB of the first bank"),
    ("size = 0x10000000", 'size = "256M"', "key 'carveout.size' must be int"),
    ('gpu_regulator_label = "vdd_gpu_s0"', 'gpu_regulator_label = "vdd-gpu"', "is not a device-tree label"),
    ('compatible = ["radxa,rock-5b"]', 'compatible = ["rock-5b"]', "not of the form 'vendor,device'"),
    ('compatible = ["radxa,rock-5b"]', "compatible = []", "at least one board compatible"),
    ('mechanisms = ["extlinux", "armbian", "radxa"]', 'mechanisms = ["grub"]', "'grub' is unknown"),
    ('soc = "src"', 'soc = "rumour"', "key 'tags.soc' must be one of src, inferred, unverified"),
    ('dtb = "src"', 'dtb = "src"\nfirmware = "src"', "key 'tags.firmware' tags a key"),
    ('name = "Radxa ROCK 5B"', 'name = "Radxa ROCK 5B"\nrevision = 2', "key 'revision' is not a known key"),
    ("ram_variants_gib = [4, 8, 16, 32]", "ram_variants_gib = [4, 8]\nram_min_gib = 8", "key 'ram_min_gib'"),
    ('mainline_gpu = "6.10"\n', "", "key 'kernels.mainline_gpu' is missing"),
    ("[carveout]", "[carveout]\nalign = 2", "key 'carveout.align' is not a known key"),
    ('name = "Radxa ROCK 5B"', "name = ", "not valid TOML"),
])
def test_invalid_profile_is_refused_naming_file_and_key(tmp_path, old, new, needle):
    folder = _copy_boards(tmp_path)
    path = folder / "radxa-rock-5b.toml"
    _edit(path, old, new)
    with pytest.raises(InvalidArgument) as info:
        boards.load_profiles(folder)
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert needle in message
    assert info.value.errno == errno.EINVAL


def test_two_profiles_claiming_one_compatible_are_refused(tmp_path):
    folder = _copy_boards(tmp_path)
    _edit(folder / "radxa-rock-5a.toml", 'compatible = ["radxa,rock-5a"]', 'compatible = ["radxa,rock-5b"]')
    with pytest.raises(InvalidArgument, match="already claimed by profile"):
        boards.load_profiles(folder)


def test_missing_generic_profile_is_refused(tmp_path):
    folder = _copy_boards(tmp_path)
    (folder / "generic-rk3588.toml").unlink()
    with pytest.raises(InvalidArgument, match="expected exactly one generic profile"):
        boards.load_profiles(folder)


def test_a_new_board_profile_is_picked_up(tmp_path):
    folder = _copy_boards(tmp_path)
    text = (folder / "radxa-rock-5b.toml").read_text()
    text = text.replace('"radxa,rock-5b"', '"turing,rk1"')
    text = text.replace('aliases = ["rock-5b", "rock5b"]', "aliases = []")
    text = text.replace("size = 0x10000000", "size = 0x8000000")
    (folder / "turing-rk1.toml").write_text(text)
    loaded = boards.load_profiles(folder)
    assert loaded["turing-rk1"].carveout == boards.Carveout(0x3000_0000, 128 * MiB)
    assert boards.profile("turing,rk1", loaded).key == "turing-rk1"
