"""labgrid glue for the mali-uio hardware-in-the-loop suite (loaded through ``imports:`` in rock5b.yaml).

* :class:`MaliHilStrategy` moves the board between ``off`` and ``shell``: power off, power on with the
  serial console attached, log in on the console, then switch command execution to SSH. The board's
  default boot entry carries the mali-hil overlay (docs/bringup.md), so "shell" means "booted with the
  overlay".
* :func:`run_hil` copies a source tree to the board and runs :data:`DUT_COMMANDS` there, in order:
  the suite runs only when ``mali-uio doctor`` passed, because an access to an unpowered GPU hangs the
  whole SoC (shared/reference/rk3588-platform-and-uio.md §5, §6.6). The JUnit XML comes back to the
  host.

labgrid itself is imported lazily: without it this module still imports (the project's tests read
:data:`DUT_COMMANDS`), it just registers no strategy. Facts about labgrid's API: reference §9.1.
"""

from __future__ import annotations

import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Commands run on the board, in the repository checkout, in order (lab/README.md documents the same
#: list and the LAVA test definition runs it too; tests/test_hil_lab.py keeps the three in sync).
DUT_COMMANDS = (
    "python3 -m venv .venv-hil",
    ".venv-hil/bin/pip install '.[test]'",
    ".venv-hil/bin/mali-uio doctor",
    ".venv-hil/bin/python -m pytest --mali-backend=uio --junitxml=mali-hil-junit.xml",
)
#: Index of the doctor in :data:`DUT_COMMANDS`: nothing after it runs unless it exits 0.
DOCTOR_STEP = 2
JUNIT_FILE = "mali-hil-junit.xml"
DEFAULT_WORKDIR = "/home/hil/mali-uio"
#: Seconds per command (installing numpy on the board is the slow one).
TIMEOUTS = (120, 1800, 120, 3600)


@dataclass
class HilRun:
    """Outcome of :func:`run_hil`: exit code and output of every command that ran."""

    results: list[tuple[str, int, list[str]]] = field(default_factory=list)
    junit: Path | None = None

    @property
    def ok(self) -> bool:
        return len(self.results) == len(DUT_COMMANDS) and all(code == 0 for _, code, _ in self.results)

    @property
    def doctor_passed(self) -> bool:
        return len(self.results) > DOCTOR_STEP and self.results[DOCTOR_STEP][1] == 0


def source_archive(repo: Path, out: Path) -> Path:
    """``git archive`` of ``HEAD`` (tracked files only) as a .tar.gz to copy to the board."""
    subprocess.run(["git", "-C", str(repo), "archive", "--format=tar.gz", "-o", str(out), "HEAD"], check=True)
    return out


def run_hil(command: Any, files: Any, archive: Path, results_dir: Path,
            workdir: str = DEFAULT_WORKDIR) -> HilRun:
    """Unpack ``archive`` into ``workdir`` on the board, run :data:`DUT_COMMANDS`, fetch the JUnit XML.

    Args:
        command: a labgrid CommandProtocol driver (the SSHDriver): ``run(cmd, timeout=)`` returns
            ``(stdout, stderr, exitcode)``.
        files: a FileTransferProtocol driver (the SSHDriver): ``put(local, remote)``, ``get(remote, local)``.
        archive: source tarball from :func:`source_archive`.
        results_dir: host directory for the JUnit XML.
        workdir: checkout directory on the board (removed and recreated).
    """
    remote_tar = f"{workdir}.tar.gz"
    files.put(str(archive), remote_tar)
    quoted = shlex.quote(workdir)
    _, _, code = command.run(f"rm -rf {quoted} && mkdir -p {quoted} && tar -xzf {shlex.quote(remote_tar)} "
                             f"-C {quoted}", timeout=120)
    if code != 0:
        raise RuntimeError(f"could not unpack {remote_tar} into {workdir} on the board (exit {code})")
    run = HilRun()
    for index, (cmd, timeout) in enumerate(zip(DUT_COMMANDS, TIMEOUTS, strict=True)):
        stdout, stderr, code = command.run(f"cd {quoted} && {cmd}", timeout=timeout)
        run.results.append((cmd, code, list(stdout) + list(stderr)))
        if code != 0 and index <= DOCTOR_STEP:
            break  # never touch the GPU after a failed setup step or doctor check
    if len(run.results) == len(DUT_COMMANDS):
        results_dir.mkdir(parents=True, exist_ok=True)
        files.get(f"{workdir}/{JUNIT_FILE}", str(results_dir))
        run.junit = results_dir / JUNIT_FILE
    return run


def _register() -> None:
    """Define and register :class:`MaliHilStrategy` with labgrid (only when labgrid is installed)."""
    import enum

    import attr
    from labgrid.factory import target_factory
    from labgrid.step import step
    from labgrid.strategy.common import Strategy, StrategyError

    class Status(enum.Enum):
        unknown = 0
        off = 1
        shell = 2

    @target_factory.reg_driver
    @attr.s(eq=False)
    class MaliHilStrategy(Strategy):
        """off <-> shell for an RK3588 board booting the mali-hil overlay; SSH for commands."""

        bindings = {"power": "PowerProtocol", "console": "ConsoleProtocol", "shell": "ShellDriver",
                    "ssh": "SSHDriver"}
        status = attr.ib(default=Status.unknown)

        @step(args=["status"])
        def transition(self, status: Any, *, step: Any) -> None:
            status = status if isinstance(status, Status) else Status[status]
            if status == Status.unknown:
                raise StrategyError(f"can not transition to {status}")
            if status == self.status:
                step.skip("nothing to do")
                return
            if status == Status.off:
                self.target.deactivate(self.ssh)
                self.target.deactivate(self.shell)
                self.target.activate(self.power)
                self.power.off()
            else:
                self.transition(Status.off)
                self.target.activate(self.console)
                self.power.on()
                self.target.activate(self.shell)  # waits for the login prompt and logs in
                self.target.activate(self.ssh)
            self.status = status

        @step(args=["status"])
        def force(self, status: Any, *, step: Any) -> None:
            status = status if isinstance(status, Status) else Status[status]
            self.target.activate(self.power)
            if status == Status.shell:
                self.target.activate(self.shell)
                self.target.activate(self.ssh)
            self.status = status

    globals()["MaliHilStrategy"] = MaliHilStrategy


try:
    import labgrid  # noqa: F401
except ImportError:  # labgrid not installed: DUT_COMMANDS and run_hil still usable
    pass
else:
    _register()
