"""Hardware-in-the-loop run on a labgrid-managed RK3588 board.

    pytest --lg-env lab/labgrid/rock5b.yaml lab/labgrid/test_mali_hil.py [--lg-log=logs]

Powers the board, boots it (default boot entry = the mali-hil overlay), logs in, copies this repository
(``git archive HEAD``) to it and runs lab/README.md's board commands over SSH: ``mali-uio doctor`` first,
then the test suite with ``--mali-backend=uio``; the JUnit XML lands in ``lab-results/``. A GPU bus hang
takes the whole SoC down, so the board is powered off at the end whatever happened.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("labgrid", reason="labgrid is not installed (pip install labgrid); see lab/README.md")

import malihil_labgrid as hil  # noqa: E402  (next to this file; also loaded by the env's imports:)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def board(target, strategy, env):  # type: ignore[no-untyped-def]  # labgrid's pytest fixtures
    strategy.transition("shell")
    try:
        yield target
    finally:
        strategy.transition("off")


def test_doctor_then_suite_on_the_board(board, env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ssh = board.get_driver("SSHDriver")
    workdir = env.config.get_option("mali_hil_workdir", hil.DEFAULT_WORKDIR)
    archive = hil.source_archive(REPO, tmp_path / "mali-uio.tar.gz")
    run = hil.run_hil(ssh, ssh, archive, REPO / "lab-results", workdir)
    for cmd, code, output in run.results:
        print(f"$ {cmd}  -> exit {code}")
        print("\n".join(output[-40:]))
    assert run.doctor_passed, "mali-uio doctor failed on the board, so the suite was not run (table above)"
    assert run.ok, f"the suite failed on the board; JUnit: {run.junit}"
