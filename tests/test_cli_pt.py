"""`mali-uio pt dump|walk` on the simulator (demo VM), and reading tables by physical address.

Expected values are hand-computed from the demo layout (uio_driver/cli/commands/pt.py DEMO_LAYOUT)
and the descriptor bits of mali-csf-registers-and-mmu.md §4.4-§4.5.
"""

from __future__ import annotations

import argparse
import json

import pytest

from uio_driver.cli.commands import pt as ptcmd
from uio_driver.cli.main import main
from uio_driver.mmu import Prot
from uio_driver.sim import SimPlatform


@pytest.fixture(autouse=True)
def _sim_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALI_UIO_BACKEND", "sim")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_dump_json_lists_the_demo_mappings(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "pt", "dump", "--json")
    assert code == 0 and "demo VM" in err
    data = json.loads(out)
    assert data["demo"] is True and data["as"] == 1 and data["transcfg"] == 0x420001C6
    got = [(r["va"], r["size"], r["prot"], r["block_size"]) for r in data["ranges"]]
    assert got == [
        (0x1000000, 0x4000, 0, 0x1000),
        (0x1200000, 0x200000, int(Prot.NOEXEC), 0x200000),
        (0x1600000, 0x2000, int(Prot.READONLY), 0x1000),
        (0x1700000, 0x3000, int(Prot.UNCACHED | Prot.NOEXEC), 0x1000),
    ]
    assert [r["prot_text"] for r in data["ranges"]] == ["rwx", "rw-", "r-x", "rw- uc"]
    # The 2 MiB block's PA is 2 MiB aligned inside the default carveout (0x30000000 + 256 MiB).
    block = data["ranges"][1]
    assert block["pa"] % 0x200000 == 0 and 0x30000000 <= block["pa"] < 0x40000000


def test_dump_table_output(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "pt", "dump")
    assert code == 0
    assert "0x000001200000" in out and "2 MiB" in out and "rw- uc" in out and "simulator demo VM" in out


def test_walk_of_a_block_shows_every_level(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "pt", "walk", "0x1201234", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["mapped"] is True and data["level"] == 2 and data["block_size"] == 0x200000
    assert [s["index"] for s in data["steps"]] == [0, 0, 9]  # VA[29:21] of 0x1201234 = 9
    assert [s["kind"] for s in data["steps"]] == ["table", "table", "block"]
    # RW cached no-exec block (§4.5): 0x0060000000000F45 | PA.
    block = data["steps"][-1]["descriptor"]
    assert block & ~0xFFFFFFFFF000 == 0x0060000000000F45
    assert data["pa"] == (block & 0xFFFFFFFFF000) + 0x1234
    assert data["steps"][1]["table_pa"] == data["steps"][0]["descriptor"] & ~0xFFF


def test_walk_of_a_page_and_uncached_bits(capsys: pytest.CaptureFixture[str]) -> None:
    # VA 0x1702000: L2 index 0x1702000 >> 21 = 11, L3 index (0x1702000 >> 12) & 0x1FF = 0x102.
    code, out, _ = run(capsys, "pt", "walk", str(0x1702000), "--json")
    data = json.loads(out)
    assert code == 0 and data["level"] == 3 and [s["index"] for s in data["steps"]] == [0, 0, 11, 0x102]
    assert data["descriptor"] & 0xFFF == 0xE43 and data["descriptor"] >> 53 == 3  # §4.5 uncached + XN


def test_walk_not_mapped_is_a_clean_answer(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "pt", "walk", "0x5000000")
    assert code == 0
    assert "VA 0x5000000 is not mapped (invalid descriptor 0x0 at level 2, index 40)" in out
    code, out, _ = run(capsys, "pt", "walk", "0x7f0000000000", "--json")
    data = json.loads(out)
    assert code == 0 and data["mapped"] is False and data["steps"][-1]["level"] == 0


def test_walk_in_another_as_and_by_vm(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "pt", "walk", "0x1000000", "--as", "3", "--json")
    assert code == 0 and "AS3" in err and json.loads(out)["as"] == 3
    code, out, _ = run(capsys, "pt", "dump", "--vm", "1", "--json")
    assert code == 0 and json.loads(out)["vm"] == 1


@pytest.mark.parametrize("argv", [["pt", "dump", "--vm", "7"], ["pt", "walk", "0x1000000000000"],
                                  ["pt", "dump", "--as", "9"]])
def test_errors_exit_1_with_one_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 1 and "mali-uio: error:" in err and "MALI_UIO_FAIL" in err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["pt", "dump", "--as", "1", "--vm", "1"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit):
        main(["pt", "walk", "banana"])


def test_reading_an_as_configured_by_someone_else() -> None:
    """The board path: tables found from TRANSTAB and read by PA, not through a driver object."""
    platform = SimPlatform()
    try:
        vm = ptcmd.build_demo(platform, 2)
        source = ptcmd._find_source(platform, argparse.Namespace(vm_id=None, as_nr=None))
        assert (source.as_nr, source.root_pa, source.demo) == (2, vm.pt.root_pa, False)
        assert source.read is not None
        from uio_driver.mmu import walk as ptwalk

        assert ptwalk.dump(source.read, source.root_pa) == vm.dump()
        assert ptwalk.translate(source.read, source.root_pa, 0x1600000).prot == Prot.READONLY
    finally:
        platform.close()


def test_a_table_outside_the_carveout_is_reported() -> None:
    platform = SimPlatform()
    try:
        ptcmd.build_demo(platform, 1)
        mmio = platform.mmio
        mmio.write32(0x2400 + 4 * 0x40, 0x1000)  # AS4 TRANSTAB_LO: not carveout memory
        mmio.write32(0x2400 + 4 * 0x40 + 0x30, 0x420001C6)  # AS4 TRANSCFG_LO
        source = ptcmd._find_source(platform, argparse.Namespace(vm_id=None, as_nr=4))
        assert source.read is not None
        from uio_driver.errors import BadAddress
        from uio_driver.mmu import walk as ptwalk

        with pytest.raises(BadAddress, match="outside the carveout"):
            ptwalk.dump(source.read, source.root_pa)
    finally:
        platform.close()


@pytest.fixture
def board_like(monkeypatch: pytest.MonkeyPatch):
    """A platform that says it is not simulated: the commands must not build a demo VM."""
    platform = SimPlatform()
    platform.simulated = False

    class KeepOpen:  # each CLI run closes its platform; this one outlives several runs
        def __enter__(self) -> SimPlatform:
            return platform

        def __exit__(self, *exc: object) -> None:
            pass

    monkeypatch.setattr(ptcmd, "open_backend", lambda args: KeepOpen())
    yield platform
    platform.close()


def test_unconfigured_as_on_a_board_is_nothing_mapped(board_like: SimPlatform,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "pt", "dump", "--as", "3", "--json")
    data = json.loads(out)
    assert code == 0 and data["configured"] is False and data["ranges"] == [] and not data["demo"]
    assert "AS3 is not translating" in data["notes"][0] and "nothing is mapped" in data["notes"][0]
    code, out, _ = run(capsys, "pt", "walk", "0x1000")
    assert code == 0 and "is not mapped" in out and "no address space is translating" in out


def test_vm_ids_do_not_cross_processes_on_a_board(board_like: SimPlatform,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "pt", "dump", "--vm", "1")
    assert code == 1 and "use --as" in err


def test_board_path_reads_tables_another_process_wrote(board_like: SimPlatform,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    vm = ptcmd.build_demo(board_like, 5)
    code, out, _ = run(capsys, "pt", "walk", "0x1600000", "--json")
    data = json.loads(out)
    assert code == 0 and data["as"] == 5 and data["transtab"] == vm.pt.root_pa and not data["demo"]
    assert data["prot_text"] == "r-x" and data["descriptor"] & 0xFFF == 0xFC7  # §4.5 read-only page
