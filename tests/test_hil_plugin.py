"""The HIL pytest plugin (uio_driver.hil) in an inner pytest session: option, markers, fixture."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakes import FakeSysfs

CONFTEST = "pytest_plugins = ['uio_driver.hil']\n"

SAMPLE = '''
import pytest
from uio_driver.regs import RegisterAccess

def test_gpu_id(mali_platform):
    assert RegisterAccess(mali_platform.mmio).read("GPU_ID") == 0xA8670005

def test_backend_name(mali_platform, mali_backend):
    print("BACKEND", mali_backend, type(mali_platform).__name__)
    assert mali_platform.name == mali_backend

@pytest.mark.sim_only
def test_fault_hooks(mali_platform):
    assert mali_platform.sim is not None

@pytest.mark.hardware_only
def test_on_the_board(mali_platform):
    assert mali_platform.mmio.phys_base == 0xFB000000
'''


@pytest.fixture
def inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    # The inner sessions load only what their conftest names (the plugin under test): scanning every
    # installed entry point again per inner run would dominate this file's runtime.
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_sample=SAMPLE)
    return pytester


def test_markers_are_registered(inner: pytest.Pytester) -> None:
    result = inner.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.sim_only: *", "@pytest.mark.hardware_only: *"])
    # --strict-markers would reject unregistered markers: the sample must collect cleanly with it
    assert inner.runpytest("--strict-markers", "--collect-only", "-q").ret == 0


def test_other_projects_load_it_with_dash_p(pytester: pytest.Pytester,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makepyfile(test_sample=SAMPLE)
    without = pytester.runpytest("-k", "gpu_id")  # no conftest, no -p: the fixture does not exist
    without.assert_outcomes(errors=1, deselected=3)
    without.stdout.fnmatch_lines(["*fixture 'mali_platform' not found*"])
    result = pytester.runpytest("-p", "uio_driver.hil", "-k", "gpu_id")
    result.assert_outcomes(passed=1, deselected=3)


def test_default_backend_is_the_strict_simulator(inner: pytest.Pytester) -> None:
    result = inner.runpytest("-rs", "-s")
    result.assert_outcomes(passed=3, skipped=1)
    result.stdout.fnmatch_lines(["mali-uio backend: sim (simulated GPU)", "*BACKEND sim SimPlatform*",
                                 "SKIPPED * needs a real RK3588 board (--mali-backend=uio)"])


def test_uio_backend_on_a_fake_board(inner: pytest.Pytester, tmp_path: Path) -> None:
    tree = FakeSysfs(tmp_path / "board")
    tree.add_board()  # GPU_ID 0xa8670005 in map0 of mali-hil-job
    result = inner.runpytest("-rs", "-s", "--mali-backend=uio", f"--mali-option=sysfs_root={tree.sysfs_root}",
                             "--mali-option", f"dev_root={tree.dev_root}")
    result.assert_outcomes(passed=3, skipped=1)
    result.stdout.fnmatch_lines(["mali-uio backend: uio (real GPU)", "*BACKEND uio UioPlatform*",
                                 "SKIPPED * uses simulator fault hooks"])


def test_unopenable_hardware_backend_errors_instead_of_falling_back(inner: pytest.Pytester,
                                                                    tmp_path: Path) -> None:
    empty = tmp_path / "nothing"
    empty.mkdir()
    result = inner.runpytest("--mali-backend=uio", f"--mali-option=sysfs_root={empty}",
                             f"--mali-option=dev_root={empty}")
    result.assert_outcomes(errors=3, skipped=1)
    result.stdout.fnmatch_lines(["*--mali-backend=uio: cannot open the platform: no GPU UIO node*"])


def test_unknown_backend_option_is_reported(inner: pytest.Pytester) -> None:
    result = inner.runpytest("-k", "gpu_id", "--mali-option=sysfs_rot=/sys")
    result.assert_outcomes(errors=1, deselected=3)
    result.stdout.fnmatch_lines(["*--mali-option sysfs_rot: not an option of the sim backend*"])


@pytest.mark.parametrize("args,words", [
    (["--mali-backend=gpu"], "*invalid choice: 'gpu'*"),
    (["--mali-option=novalue"], "*--mali-option expects KEY=VALUE, got 'novalue'*"),
])
def test_usage_errors(inner: pytest.Pytester, args: list[str], words: str) -> None:
    result = inner.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([words])


@pytest.mark.parametrize("text,expected", [
    ("allow_writes=true", ("allow_writes", True)), ("strict=off", ("strict", False)),
    ("group=3", ("group", 3)), ("carveout=0x30000000,0x100000", ("carveout", (0x30000000, 0x100000))),
    ("dev_root=/dev", ("dev_root", "/dev")), (" prefix = mali-hil- ", ("prefix", "mali-hil-")),
])
def test_option_values(text: str, expected: tuple[str, object]) -> None:
    from uio_driver.hil import parse_option

    assert parse_option(text) == expected
