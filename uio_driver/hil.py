"""pytest plugin for hardware-in-the-loop runs: one suite, simulator by default, a real board on demand.

Adds to pytest:

* ``--mali-backend=sim|uio|vfio|devmem`` (default ``sim``) and ``--mali-option KEY=VALUE`` (repeatable;
  passed to :func:`~uio_driver.platform.open_platform`, e.g. ``sysfs_root=/sys``, ``allow_writes=true``,
  ``carveout=0x30000000,0x10000000``);
* the fixture ``mali_platform``: a fresh platform of that backend per test (``sim``: a strict
  simulator), closed afterwards; ``mali_backend``: the backend name;
* markers ``@pytest.mark.sim_only`` (the test needs simulator hooks: skipped on hardware) and
  ``@pytest.mark.hardware_only`` (skipped on the simulator).

Loaded by ``pytest_plugins`` in the project's ``tests/conftest.py`` (works from a source tree and with
an installed wheel alike, since it only needs ``uio_driver`` importable); other projects enable it with
``pytest -p uio_driver.hil``. docs/hil.md describes the board-farm side.

This module imports only pytest and the standard library at load time, so enabling the plugin costs
nothing until a test asks for ``mali_platform``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

BACKENDS = ("sim", "uio", "vfio", "devmem")
HARDWARE_BACKENDS = ("uio", "vfio", "devmem")
DEFAULT_BACKEND = "sim"
HARDWARE_ONLY_REASON = "needs a real RK3588 board (--mali-backend=uio)"
SIM_ONLY_REASON = "uses simulator fault hooks"

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def parse_option(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` → (key, value); the value becomes a bool, an int (``0x`` allowed), a tuple of ints
    (``a,b``) or stays a string.

    Raises:
        ValueError: no ``=`` or an empty key (pytest reports it as a usage error).
    """
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ValueError(f"--mali-option expects KEY=VALUE, got {text!r}")
    value = raw.strip()
    if value.lower() in _TRUE:
        return key, True
    if value.lower() in _FALSE:
        return key, False
    try:
        if "," in value:
            return key, tuple(int(part, 0) for part in value.split(","))
        return key, int(value, 0)
    except ValueError:
        return key, value


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mali-uio", "mali-uio hardware-in-the-loop")
    group.addoption("--mali-backend", choices=BACKENDS, default=DEFAULT_BACKEND,
                    help="backend for the mali_platform fixture: sim (default; strict simulator), or a real "
                         "board through uio, vfio or devmem")
    group.addoption("--mali-option", action="append", default=[], metavar="KEY=VALUE",
                    help="backend option for open_platform (repeatable), e.g. sysfs_root=/sys, "
                         "allow_writes=true, carveout=0x30000000,0x10000000")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"sim_only: needs the simulator's hooks; skipped on hardware "
                                       f"({SIM_ONLY_REASON})")
    config.addinivalue_line("markers", f"hardware_only: needs a real board; skipped on the simulator "
                                       f"({HARDWARE_ONLY_REASON})")
    for text in config.getoption("--mali-option", default=[]) or []:
        try:
            parse_option(text)
        except ValueError as err:
            raise pytest.UsageError(str(err)) from None


def selected_backend(config: pytest.Config) -> str:
    """The ``--mali-backend`` of this run."""
    return str(config.getoption("--mali-backend", default=DEFAULT_BACKEND) or DEFAULT_BACKEND)


def backend_options(config: pytest.Config) -> dict[str, Any]:
    """The ``--mali-option`` values of this run, parsed."""
    return dict(parse_option(text) for text in config.getoption("--mali-option", default=[]) or [])


def pytest_report_header(config: pytest.Config) -> str:
    backend = selected_backend(config)
    where = "simulated GPU" if backend == "sim" else "real GPU"
    return f"mali-uio backend: {backend} ({where})"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    on_hardware = selected_backend(config) in HARDWARE_BACKENDS
    skip_sim_only = pytest.mark.skip(reason=SIM_ONLY_REASON)
    skip_hardware_only = pytest.mark.skip(reason=HARDWARE_ONLY_REASON)
    for item in items:
        if on_hardware and item.get_closest_marker("sim_only") is not None:
            item.add_marker(skip_sim_only)
        if not on_hardware and item.get_closest_marker("hardware_only") is not None:
            item.add_marker(skip_hardware_only)


@pytest.fixture
def mali_backend(request: pytest.FixtureRequest) -> str:
    """Name of the backend selected with ``--mali-backend``."""
    return selected_backend(request.config)


@pytest.fixture
def mali_platform(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A freshly opened :class:`~uio_driver.platform.Platform` of the selected backend, closed after the test.

    On the simulator it is a strict :class:`~uio_driver.sim.platform.SimPlatform`. A hardware backend
    that cannot be opened fails the test's setup with the backend's one-line error (no board, no
    permission, ...), never silently falls back to the simulator.
    """
    from .errors import MaliError
    from .platform import open_platform

    backend = selected_backend(request.config)
    options = backend_options(request.config)
    if backend == "sim":
        options.setdefault("strict", True)
    try:
        platform = open_platform(backend, **options)
    except MaliError as err:
        pytest.fail(f"--mali-backend={backend}: cannot open the platform: {err}", pytrace=False)
    known: tuple[str, ...] = getattr(type(platform), "OPTIONS", tuple(options))
    unknown = sorted(set(options) - set(known))
    if unknown:  # open_platform ignores unknown keys; a typo must not pass unnoticed
        platform.close()
        pytest.fail(f"--mali-option {', '.join(unknown)}: not an option of the {backend} backend "
                    f"(it takes {', '.join(known)})", pytrace=False)
    try:
        yield platform
    finally:
        platform.close()
