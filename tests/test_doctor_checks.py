"""`mali-uio doctor` checks on fake board trees: one healthy board, then each failure it reports.

The healthy tree (tests/fakes FakeSysfs.add_board) is what the reference's bring-up checklist (§10) and
health checks (§6.6) describe; each test breaks one thing and expects that check's status and fix.
GPU_ID must be read only when the access is safe, so a spy records every register read.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes import FakeSysfs, FakeVfioKernel

from uio_driver.doctor import SAFETY_CHECKS, Doctor, DoctorReport, run_doctor
from uio_driver.regs import RegisterAccess

RK3588_GPU_ID = 0xA8670005  # reference §6.6


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Names of registers read through RegisterAccess during the test."""
    seen: list[str] = []
    real = RegisterAccess.read

    def spy(self: RegisterAccess, reg: object) -> int:
        seen.append(getattr(reg, "name", str(reg)))
        return real(self, reg)  # type: ignore[arg-type]

    monkeypatch.setattr(RegisterAccess, "read", spy)
    yield seen


@pytest.fixture
def board(tmp_path: Path) -> FakeSysfs:
    tree = FakeSysfs(tmp_path)
    tree.add_board()
    return tree


def doctor(tree: FakeSysfs, **kwargs: object) -> DoctorReport:
    kwargs.setdefault("env", {})
    return run_doctor(tree.root, **kwargs)  # type: ignore[arg-type]


def statuses(report: DoctorReport) -> dict[str, str]:
    return {c.name: c.status for c in report.checks}


DT = "sys/firmware/devicetree/base"


def test_healthy_board_passes_and_reads_gpu_id(board: FakeSysfs, reads: list[str]) -> None:
    report = doctor(board)
    assert statuses(report) == {name: "ok" for name in (
        "board", "kernel-driver", "overlay", "devices", "udev", "carveout", "power", "regulator", "firmware",
        "gpu-id")}
    assert report.exit_code == 0 and report.ok
    assert report.check("gpu-id").details["gpu_id"] == "0xa8670005" and reads == ["GPU_ID"]
    assert "Radxa ROCK 5B" in report.check("board").summary
    assert "0x30000000+0x100000" in report.check("carveout").summary


def test_no_device_tree_says_so_and_fails(tmp_path: Path, reads: list[str]) -> None:
    report = run_doctor(tmp_path, env={})
    board = report.check("board")
    assert board.status == "fail" and "no RK3588 board here: no device tree" in board.summary
    assert "--backend sim" in board.fix
    assert {c.status for c in report.checks[1:]} == {"skip"} and report.exit_code == 1 and reads == []


def test_foreign_soc(tmp_path: Path) -> None:
    tree = FakeSysfs(tmp_path)
    tree.add_board(compatible=("raspberrypi,4-model-b", "brcm,bcm2711"))
    report = doctor(tree)
    assert report.check("board").status == "fail" and "not an RK3588" in report.check("board").summary
    assert report.exit_code == 1


def test_unknown_rk3588_board_uses_the_generic_profile(tmp_path: Path, reads: list[str]) -> None:
    tree = FakeSysfs(tmp_path)
    tree.add_board(compatible=("acme,widget", "rockchip,rk3588"))
    report = doctor(tree)
    assert report.check("board").status == "warn" and "generic" in report.check("board").summary
    assert report.check("gpu-id").status == "ok" and report.exit_code == 0


# -- safety-relevant failures: GPU_ID is never read ------------------------------------------------


def _assert_not_read(report: DoctorReport, reads: list[str], culprit: str) -> None:
    gpu_id = report.check("gpu-id")
    assert gpu_id.status == "skip" and culprit in gpu_id.summary and "hangs the bus" in gpu_id.summary
    assert reads == []
    # a blocking failure fails the run; a blocking warning ("cannot confirm") only withholds the read
    assert report.check(culprit).status in ("fail", "warn")
    if report.check(culprit).status == "fail":
        assert report.exit_code == 1


def test_panthor_bound_to_the_gpu(board: FakeSysfs, reads: list[str]) -> None:
    board.add_platform_device("fb000000.gpu", driver="panthor")
    report = doctor(board)
    check = report.check("kernel-driver")
    assert check.status == "fail" and "fb000000.gpu is bound to the kernel driver panthor" in check.summary
    assert "echo fb000000.gpu > /sys/bus/platform/drivers/panthor/unbind" in check.fix
    assert "blacklist panthor" in check.fix
    _assert_not_read(report, reads, "kernel-driver")


def test_driver_module_loaded_but_unbound_is_a_warning(board: FakeSysfs, reads: list[str]) -> None:
    modules = "panthor 98304 0 - Live 0x0\nuio_pdrv_genirq 16384 3 - Live 0x0\n"
    (board.root / "proc" / "modules").write_text(modules)
    report = doctor(board)
    check = report.check("kernel-driver")
    assert check.status == "warn" and "panthor" in check.summary
    assert report.check("gpu-id").status == "ok" and reads == ["GPU_ID"]


def test_overlay_not_applied(board: FakeSysfs, reads: list[str]) -> None:
    shutil.rmtree(board.root / DT / "mali-hil@fb000000")
    shutil.rmtree(board.root / DT / "__symbols__")
    report = doctor(board)
    check = report.check("overlay")
    assert check.status == "fail" and "not applied" in check.summary
    assert "mali-uio dts build auto" in check.fix and "dtc -@" in check.fix
    _assert_not_read(report, reads, "overlay")


def test_gpu_node_left_enabled_blocks_the_read(board: FakeSysfs, reads: list[str]) -> None:
    (board.root / DT / "gpu@fb000000" / "status").write_bytes(b"okay\0")
    report = doctor(board)
    assert report.check("overlay").status == "warn" and "'okay'" in report.check("overlay").summary
    assert report.check("gpu-id").status == "skip" and reads == []


def test_no_uio_nodes_names_of_id(board: FakeSysfs, reads: list[str]) -> None:
    for entry in (board.sys / "class" / "uio").iterdir():
        entry.unlink()
    report = doctor(board)
    check = report.check("devices")
    assert check.status == "fail" and "no mali-hil-* UIO node" in check.summary
    assert "of_id=generic-uio" in check.fix and "mali-uio setup udev" in check.fix
    assert report.check("power").status == "skip"
    _assert_not_read(report, reads, "devices")


def test_device_permissions_for_a_normal_user(board: FakeSysfs, reads: list[str]) -> None:
    for node in board.nodes:
        os.chmod(node.dev_path, 0o600)
    gid = os.stat(board.nodes[0].dev_path).st_gid
    report = doctor(board, user=(4242, [4242]))
    check = report.check("devices")
    assert check.status == "fail" and "no read/write access to /dev/uio0 (mali-hil-job)" in check.summary
    assert "usermod -aG gpuhil" in check.fix
    _assert_not_read(report, reads, "devices")
    for node in board.nodes:
        os.chmod(node.dev_path, 0o660)
    assert doctor(board, user=(4242, [gid])).check("devices").status == "ok"


def test_uio_node_without_device_file(board: FakeSysfs, reads: list[str]) -> None:
    board.nodes[1].dev_path.unlink()
    report = doctor(board)
    check = report.check("devices")
    assert check.status == "fail" and "/dev/uio1 (mali-hil-mmu) do(es) not exist" in check.summary
    assert "udevadm trigger" in check.fix
    _assert_not_read(report, reads, "devices")


def test_missing_udev_rule(board: FakeSysfs) -> None:
    (board.root / "etc" / "udev" / "rules.d" / "60-mali-hil.rules").unlink()
    check = doctor(board, user=(4242, [os.getegid()])).check("udev")
    assert check.status == "warn" and "mali-uio setup udev" in check.fix
    assert doctor(board, user=(0, [0])).check("udev").status == "ok"


# -- carveout -------------------------------------------------------------------------------------


def test_carveout_without_no_map(board: FakeSysfs) -> None:
    (board.root / DT / "reserved-memory" / "mali-hil-dma@30000000" / "no-map").unlink()
    check = doctor(board).check("carveout")
    assert check.status == "fail" and "lacks no-map" in check.summary


def test_carveout_missing(board: FakeSysfs) -> None:
    shutil.rmtree(board.root / DT / "reserved-memory" / "mali-hil-dma@30000000")
    report = doctor(board)
    assert report.check("carveout").status == "fail" and report.exit_code == 1
    assert report.check("gpu-id").status == "ok"  # not needed to read GPU_ID safely


def test_carveout_not_reserved_in_iomem(board: FakeSysfs) -> None:
    (board.root / "proc" / "iomem").write_text("00200000-efffffff : System RAM\n")
    check = doctor(board).check("carveout")
    assert check.status == "warn" and "reserved mem" in check.fix


def test_iomem_hidden_from_non_root(board: FakeSysfs) -> None:
    hidden = "00000000-00000000 : System RAM\n00000000-00000000 : reserved\n"  # what non-root readers see
    (board.root / "proc" / "iomem").write_text(hidden)
    check = doctor(board).check("carveout")
    assert check.status == "ok" and "unreadable" in check.summary


def test_uio_map_differs_from_the_reservation(board: FakeSysfs) -> None:
    reg = (0x30000000).to_bytes(8, "big") + (0x200000).to_bytes(8, "big")
    (board.root / DT / "reserved-memory" / "mali-hil-dma@30000000" / "reg").write_bytes(reg)
    check = doctor(board).check("carveout")
    assert check.status == "fail" and "the device maps 0x30000000+0x100000" in check.summary


# -- power, clocks, regulator ----------------------------------------------------------------------


def test_device_stays_suspended(tmp_path: Path, reads: list[str]) -> None:
    tree = FakeSysfs(tmp_path)
    tree.add_board(runtime_status="suspended", debugfs=False)
    report = doctor(tree)
    check = report.check("power")
    assert check.status == "fail" and "runtime-suspended" in check.summary and "power-domains" in check.fix
    _assert_not_read(report, reads, "power")


def test_gpu_domain_off(board: FakeSysfs, reads: list[str]) -> None:
    board.set_debugfs(gpu_domain="off-0", clocks={"clk_gpu": 1, "clk_gpu_coregroup": 1, "clk_gpu_stacks": 1})
    report = doctor(board)
    check = report.check("power")
    assert check.status == "fail" and "power domain gpu is off" in check.summary
    _assert_not_read(report, reads, "power")


def test_gated_clock(board: FakeSysfs, reads: list[str]) -> None:
    board.set_debugfs(gpu_domain="on", clocks={"clk_gpu": 1, "clk_gpu_coregroup": 0, "clk_gpu_stacks": 1})
    report = doctor(board)
    assert "clk_gpu_coregroup are gated" in report.check("power").summary
    _assert_not_read(report, reads, "power")


def test_without_debugfs_runtime_pm_is_enough(tmp_path: Path, reads: list[str]) -> None:
    tree = FakeSysfs(tmp_path)
    tree.add_board(debugfs=False)
    report = doctor(tree)
    assert report.check("power").status == "ok" and "debugfs unreadable" in report.check("power").summary
    assert reads == ["GPU_ID"]


def test_unverifiable_power_blocks_the_read(tmp_path: Path, reads: list[str]) -> None:
    tree = FakeSysfs(tmp_path)
    job = tree.add_board(debugfs=False)
    assert job is not None
    (job.sys_dir / "device" / "power" / "runtime_status").unlink()
    report = doctor(tree)
    assert report.check("power").status == "warn" and "cannot confirm" in report.check("power").summary
    _assert_not_read(report, reads, "power")


def test_regulator_disabled(tmp_path: Path, reads: list[str]) -> None:
    tree = FakeSysfs(tmp_path)
    tree.add_board(regulator_state="disabled")
    report = doctor(tree)
    assert report.check("regulator").status == "fail" and "no supply" in report.check("regulator").summary
    _assert_not_read(report, reads, "regulator")


def _users(tree: FakeSysfs, n: int) -> None:
    (tree.sys / "class" / "regulator" / "regulator.7" / "num_users").write_text(f"{n}\n")


def test_regulator_without_always_on_and_consumers(tmp_path: Path, reads: list[str]) -> None:
    tree = FakeSysfs(tmp_path)
    tree.add_board(always_on=False)
    _users(tree, 0)
    report = doctor(tree)
    check = report.check("regulator")
    assert check.status == "fail" and "30 s" in check.summary and "regulator-always-on" in check.fix
    _assert_not_read(report, reads, "regulator")
    (tree.root / "proc" / "cmdline").write_text("root=/dev/mmcblk0p2 regulator_ignore_unused\n")
    assert doctor(tree).check("regulator").status == "warn"


def test_regulator_with_consumer_but_not_always_on_warns(tmp_path: Path, reads: list[str]) -> None:
    tree = FakeSysfs(tmp_path)
    tree.add_board(always_on=False)
    report = doctor(tree)
    assert report.check("regulator").status == "warn" and "1 consumer" in report.check("regulator").summary
    assert report.check("gpu-id").status == "ok" and report.exit_code == 0


def test_regulator_not_found_blocks_the_read(board: FakeSysfs, reads: list[str]) -> None:
    shutil.rmtree(board.sys / "class" / "regulator")
    report = doctor(board)
    assert report.check("regulator").status == "warn"
    _assert_not_read(report, reads, "regulator")


# -- firmware and GPU_ID ----------------------------------------------------------------------------


def test_firmware_missing_lists_paths(board: FakeSysfs) -> None:
    shutil.rmtree(board.root / "lib" / "firmware")
    check = doctor(board).check("firmware")
    expected = str(board.root / "lib" / "firmware" / "arm" / "mali" / "arch10.8" / "mali_csffw.bin")
    assert check.status == "fail" and check.details["tried"] == [expected] and "--firmware" in check.fix


def test_explicit_firmware_path(board: FakeSysfs, tmp_path: Path) -> None:
    fw = tmp_path / "elsewhere.bin"
    fw.write_bytes(b"x")
    check = doctor(board, firmware=str(fw)).check("firmware")
    assert check.status == "ok" and check.details["path"] == str(fw)
    assert doctor(board, firmware=str(tmp_path / "nope.bin")).check("firmware").status == "fail"


@pytest.mark.parametrize("value,words", [(0, "wrong mapping"), (0xFFFFFFFF, "wrong mapping"),
                                         (0x12345678, "not the RK3588")])
def test_unexpected_gpu_id(tmp_path: Path, value: int, words: str) -> None:
    tree = FakeSysfs(tmp_path)
    tree.add_board(gpu_id=value)
    check = doctor(tree).check("gpu-id")
    assert check.status == "fail" and words in check.summary and f"{RK3588_GPU_ID:#010x}" in check.summary


def test_safety_checks_are_the_documented_ones() -> None:
    assert SAFETY_CHECKS == ("board", "kernel-driver", "overlay", "devices", "power", "regulator")


# -- vfio variant ------------------------------------------------------------------------------------


def test_vfio_variant_reads_gpu_id_through_vfio(tmp_path: Path, reads: list[str]) -> None:
    tree = FakeSysfs(tmp_path)
    tree.add_board(variant="vfio")
    kernel = FakeVfioKernel(tree)
    kernel.region_write_u32(0, 0, RK3588_GPU_ID)
    (tree.root / "proc" / "self").mkdir(parents=True)
    (tree.root / "proc" / "self" / "status").write_text("Name:\tpython\nCapEff:\t000001ffffffffff\n")
    report = Doctor(tree.root, env={}, user=(1000, [1000]), vfio_ops=kernel).run()
    assert report.check("overlay").details["variant"] == "vfio"
    assert report.check("devices").status == "ok" and report.check("gpu-id").status == "ok"
    assert report.check("gpu-id").details["backend"] == "vfio" and reads == ["GPU_ID"]
    assert kernel.open_fake_fds() == []  # the doctor closed the device


def test_vfio_variant_without_cap_sys_rawio(tmp_path: Path, reads: list[str]) -> None:
    tree = FakeSysfs(tmp_path)
    tree.add_board(variant="vfio")
    (tree.root / "proc" / "self").mkdir(parents=True)
    (tree.root / "proc" / "self" / "status").write_text("CapEff:\t0000000000000000\n")
    report = Doctor(tree.root, env={}, user=(1000, [1000]), vfio_ops=FakeVfioKernel(tree)).run()
    assert report.check("devices").status == "fail" and "CAP_SYS_RAWIO" in report.check("devices").summary
    _assert_not_read(report, reads, "devices")
