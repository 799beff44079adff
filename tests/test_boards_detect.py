"""Board detection from fake device trees written into a temporary root directory."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from uio_driver import boards
from uio_driver.errors import DeviceNotFound, InvalidArgument

# Root compatible lists as the mainline board DTs write them (§2: board entry, then the SoC).
BOARD_TREES = {
    "radxa-rock-5b": ["radxa,rock-5b", "rockchip,rk3588"],
    "radxa-rock-5a": ["radxa,rock-5a", "rockchip,rk3588s"],
    "xunlong-orangepi-5": ["xunlong,orangepi-5", "rockchip,rk3588s"],
    "xunlong-orangepi-5-plus": ["xunlong,orangepi-5-plus", "rockchip,rk3588"],
    "friendlyarm-nanopc-t6": ["friendlyarm,nanopc-t6", "rockchip,rk3588"],
}


def write_tree(root: Path, compatible: list[str], *, model: str | None = None,
               where: str = "proc/device-tree") -> Path:
    node = root / where
    node.mkdir(parents=True, exist_ok=True)
    (node / "compatible").write_bytes(b"".join(c.encode() + b"\0" for c in compatible))
    if model is not None:
        (node / "model").write_bytes(model.encode() + b"\0")
    return node


@pytest.fixture(scope="module")
def profiles() -> dict[str, boards.BoardProfile]:
    return boards.load_profiles()


@pytest.mark.parametrize("key", sorted(BOARD_TREES))
def test_each_profiled_board_is_detected(tmp_path, profiles, key):
    write_tree(tmp_path, BOARD_TREES[key], model="Some Board")
    found = boards.detect_board(tmp_path, profiles)
    assert found.status == "board"
    assert found.ok and found.profile is not None and found.profile.key == key
    assert found.compatible == tuple(BOARD_TREES[key])
    assert found.model == "Some Board"
    assert found.source == str(tmp_path / "proc/device-tree/compatible")
    assert found.profile.name in found.message and "note:" not in found.message


def test_sysfs_copy_is_used_when_proc_is_absent(tmp_path, profiles):
    write_tree(tmp_path, BOARD_TREES["radxa-rock-5b"], where="sys/firmware/devicetree/base")
    found = boards.detect_board(tmp_path, profiles)
    assert found.status == "board" and found.profile.key == "radxa-rock-5b"
    assert found.source == str(tmp_path / "sys/firmware/devicetree/base/compatible")


def test_most_specific_compatible_wins(tmp_path, profiles):
    # the LTS board lists its own compatible first; both map to the NanoPC-T6 profile
    write_tree(tmp_path, ["friendlyarm,nanopc-t6-lts", "friendlyarm,nanopc-t6", "rockchip,rk3588"])
    assert boards.detect_board(tmp_path, profiles).profile.key == "friendlyarm-nanopc-t6"


def test_unknown_rk3588_board_gets_the_generic_profile(tmp_path, profiles):
    write_tree(tmp_path, ["turing,rk1", "rockchip,rk3588"])
    found = boards.detect_board(tmp_path, profiles)
    assert found.status == "generic"
    assert found.profile.key == "generic-rk3588"
    assert "unknown RK3588 board (turing,rk1, rockchip,rk3588)" in found.message
    assert "generic profile generic-rk3588" in found.message
    assert "0x30000000+64 MiB" in found.message


def test_unknown_rk3588s_board_names_the_soc(tmp_path, profiles):
    write_tree(tmp_path, ["khadas,edge2", "rockchip,rk3588s"])
    found = boards.detect_board(tmp_path, profiles)
    assert found.status == "generic" and "unknown RK3588S board" in found.message


def test_rk3582_gets_a_warning(tmp_path, profiles):
    write_tree(tmp_path, ["radxa,e52c", "rockchip,rk3582", "rockchip,rk3588s"])
    found = boards.detect_board(tmp_path, profiles)
    assert found.status == "generic" and "RK3582" in found.message and "without a usable GPU" in found.message


def test_profile_soc_mismatch_is_reported(tmp_path, profiles):
    write_tree(tmp_path, ["radxa,rock-5b", "rockchip,rk3588s"])
    found = boards.detect_board(tmp_path, profiles)
    assert found.status == "board" and "the tree says rk3588s, the profile says rk3588" in found.message


def test_non_rk3588_is_a_result_not_an_exception(tmp_path, profiles):
    write_tree(tmp_path, ["raspberrypi,4-model-b", "brcm,bcm2711"])
    found = boards.detect_board(tmp_path, profiles)
    assert found.status == "not-rk3588"
    assert not found.ok and found.profile is None
    assert found.message.startswith("not an RK3588: root compatible is raspberrypi,4-model-b, brcm,bcm2711")


def test_missing_device_tree_is_a_result(tmp_path, profiles):
    found = boards.detect_board(tmp_path, profiles)
    assert found.status == "no-device-tree" and found.profile is None
    assert "no device tree" in found.message
    assert str(tmp_path / "proc/device-tree/compatible") in found.message
    assert found.to_dict()["profile"] is None


def test_empty_compatible_counts_as_no_device_tree(tmp_path, profiles):
    write_tree(tmp_path, [])
    found = boards.detect_board(tmp_path, profiles)
    assert found.status == "no-device-tree" and "empty" in found.message


def test_unreadable_compatible_is_reported(tmp_path, profiles):
    (tmp_path / "proc/device-tree/compatible").mkdir(parents=True)  # a directory: read fails
    found = boards.detect_board(tmp_path, profiles)
    assert found.status == "no-device-tree"
    assert "Is a directory" in found.message


def test_read_dt_strings_splits_on_nul(tmp_path):
    path = tmp_path / "compatible"
    path.write_bytes(b"a,b\0c,d\0")
    assert boards.read_dt_strings(path) == ("a,b", "c,d")


def test_resolve_board_auto_and_by_name(tmp_path, profiles):
    write_tree(tmp_path, BOARD_TREES["xunlong-orangepi-5"])
    prof, message = boards.resolve_board("auto", root=tmp_path, profiles=profiles)
    assert prof.key == "xunlong-orangepi-5" and "detected" in message
    prof, message = boards.resolve_board("opi5plus", root=tmp_path, profiles=profiles)
    assert prof.key == "xunlong-orangepi-5-plus" and message is None


def test_resolve_board_auto_refuses_non_rk3588(tmp_path, profiles):
    write_tree(tmp_path, ["raspberrypi,4-model-b", "brcm,bcm2711"])
    with pytest.raises(DeviceNotFound) as info:
        boards.resolve_board("auto", root=tmp_path, profiles=profiles)
    assert info.value.errno == errno.ENODEV
    assert "board auto-detection failed: not an RK3588" in str(info.value)
    with pytest.raises(InvalidArgument):
        boards.resolve_board("rock6z", root=tmp_path, profiles=profiles)
