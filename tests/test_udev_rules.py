"""udev rules, modprobe/modules-load files and `mali-uio setup udev`.

The expected rule lines are copied from shared/reference/rk3588-platform-and-uio.md §8.1.
"""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from uio_driver import udev
from uio_driver.cli.main import main
from uio_driver.errors import AccessDenied, InvalidArgument

# §8.1, verbatim
REF_UIO = ('SUBSYSTEM=="uio", ATTR{name}=="mali-hil-*", GROUP="gpuhil", MODE="0660", '
           'SYMLINK+="mali-hil/%s{name}"')
REF_VFIO_GROUPS = 'SUBSYSTEM=="vfio", GROUP="gpuhil", MODE="0660"'
REF_VFIO_CONTAINER = 'KERNEL=="vfio", SUBSYSTEM=="misc", GROUP="gpuhil", MODE="0660"'
REF_PRIVATE = ('ACTION=="add", SUBSYSTEM=="platform", ENV{OF_COMPATIBLE_0}=="hil,mali-uio", \\',
               '    ATTR{driver_override}="uio_pdrv_genirq", RUN+="/sbin/modprobe uio_pdrv_genirq", \\')
# §8.1 note: also trigger a probe when the module was already loaded
PROBE = "    RUN+=\"/bin/sh -c 'echo %k > /sys/bus/platform/drivers_probe'\""

FILES = ("etc/udev/rules.d/60-mali-hil.rules", "etc/modprobe.d/mali-hil.conf",
         "etc/modules-load.d/mali-hil.conf")


def rules(text: str) -> list[str]:
    """Non-comment, non-empty lines."""
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_rules_are_the_reference_lines():
    assert rules(udev.udev_rules()) == [REF_UIO, *REF_PRIVATE, PROBE, REF_VFIO_GROUPS, REF_VFIO_CONTAINER]


def test_vfio_adds_the_driver_override_rule():
    lines = rules(udev.udev_rules(vfio=True))
    assert lines[-3:] == [
        'ACTION=="add", SUBSYSTEM=="platform", ENV{OF_COMPATIBLE_0}=="hil,mali-vfio", \\',
        '    ATTR{driver_override}="vfio-platform", RUN+="/sbin/modprobe vfio-platform", \\',
        PROBE,
    ]


def test_group_is_substituted_everywhere():
    text = udev.udev_rules("hil_lab")
    assert 'GROUP="gpuhil"' not in text
    assert text.count('GROUP="hil_lab", MODE="0660"') == 3


@pytest.mark.parametrize("group", ["Lab", "1lab", "a b", 'x"', "g" * 33, "", "lab$x"])
def test_invalid_group_names_are_refused(group):
    with pytest.raises(InvalidArgument) as info:
        udev.udev_rules(group)
    assert info.value.errno == errno.EINVAL and repr(group) in str(info.value)


def test_valid_group_names():
    for group in ("gpuhil", "_hil", "lab-2", "g" * 32, "samba$"):
        assert udev.check_group(group) == group


def test_module_files():
    assert rules(udev.modprobe_conf()) == ["options uio_pdrv_genirq of_id=generic-uio"]
    assert rules(udev.modprobe_conf(vfio=True)) == [
        "options uio_pdrv_genirq of_id=generic-uio",
        "options vfio enable_unsafe_noiommu_mode=1",
        "options vfio_platform reset_required=0",
    ]
    assert rules(udev.modules_load_conf()) == ["uio_pdrv_genirq"]
    assert rules(udev.modules_load_conf(vfio=True)) == ["uio_pdrv_genirq", "vfio_platform"]
    with pytest.raises(InvalidArgument):
        udev.modprobe_conf(of_id="generic uio")


def test_plan_lists_files_and_commands():
    plan = udev.plan_setup("lab")
    assert [f.path for f in plan.files] == ["/" + f for f in FILES]
    assert "udevadm control --reload && udevadm trigger -s uio -s vfio -s platform" in plan.commands
    assert "getent group lab || groupadd --system lab" in plan.commands
    assert plan.to_dict()["files"][0]["mode"] == "644"


def test_dry_run_writes_nothing(tmp_path):
    actions = udev.apply_setup(udev.plan_setup(), tmp_path, dry_run=True)
    assert [a.action for a in actions] == ["created"] * 3
    assert [a.path for a in actions] == [tmp_path / f for f in FILES]
    assert list(tmp_path.iterdir()) == []


def test_install_into_a_temp_root(tmp_path):
    plan = udev.plan_setup(vfio=True)
    assert [a.action for a in udev.apply_setup(plan, tmp_path)] == ["created"] * 3
    for spec, rel in zip(plan.files, FILES, strict=True):
        path = tmp_path / rel
        assert path.read_text() == spec.content
        assert oct(path.stat().st_mode & 0o777) == "0o644"
    assert [a.action for a in udev.apply_setup(plan, tmp_path)] == ["unchanged"] * 3
    (tmp_path / FILES[1]).write_text("options uio_pdrv_genirq of_id=other\n")
    assert [a.action for a in udev.apply_setup(plan, tmp_path)] == ["unchanged", "updated", "unchanged"]
    assert "of_id=generic-uio" in (tmp_path / FILES[1]).read_text()
    assert not [p for p in tmp_path.rglob(".*") if p.is_file()]  # no temporary files left


def test_a_refused_install_changes_nothing(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "modprobe.d").write_text("not a directory")
    with pytest.raises(AccessDenied) as info:
        udev.apply_setup(udev.plan_setup(), tmp_path)
    assert "cannot write" in str(info.value) and "run as root, or pass --root DIR" in str(info.value)
    # the rules file (written first) and the directories made for it were rolled back
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == ["etc", "etc/modprobe.d"]


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def test_cli_dry_run_prints_files_and_commands(tmp_path, capsys):
    assert main(["setup", "udev", "--dry-run", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"--- would create: {tmp_path / FILES[0]}" in out
    assert REF_UIO in out.splitlines()
    assert "options uio_pdrv_genirq of_id=generic-uio" in out.splitlines()
    assert "dry run: nothing was written; then run (as root):" in out
    assert "  udevadm control --reload && udevadm trigger -s uio -s vfio -s platform" in out.splitlines()
    assert '  usermod -aG gpuhil "$USER"    # then log out and back in' in out.splitlines()
    assert list(tmp_path.iterdir()) == []


def test_cli_install_and_json(tmp_path, capsys):
    assert main(["setup", "udev", "--root", str(tmp_path), "--group", "lab", "--vfio"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:3] == [f"created: {tmp_path / f}" for f in FILES]
    assert 'GROUP="lab"' in (tmp_path / FILES[0]).read_text()
    assert main(["setup", "udev", "--root", str(tmp_path), "--group", "lab", "--vfio", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [a["action"] for a in data["actions"]] == ["unchanged"] * 3
    assert data["vfio"] is True and data["dry_run"] is False


def test_cli_refuses_a_bad_group(tmp_path, capsys):
    assert main(["setup", "udev", "--root", str(tmp_path), "--group", "Bad Group"]) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line]
    assert err[0].startswith("mali-uio: error: invalid group name 'Bad Group'")
    assert err[1] == "MALI_UIO_FAIL kind=InvalidArgument errno=EINVAL"
    assert list(Path(tmp_path).iterdir()) == []
