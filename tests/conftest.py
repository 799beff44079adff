"""Shared pytest fixtures (keep small; add fixtures per area as the suite grows).

``uio_driver.hil`` adds ``--mali-backend``, the ``mali_platform`` fixture and the ``sim_only`` /
``hardware_only`` markers (docs/hil.md). It is loaded here rather than through a ``pytest11`` entry point
so that it works from a plain source checkout as well as with an installed wheel; ``pytester`` runs the
plugin's own tests.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from uio_driver.sim.platform import SimPlatform

pytest_plugins = ("uio_driver.hil", "pytester")


@pytest.fixture
def sim_platform() -> Iterator[SimPlatform]:
    """A fresh strict simulated platform (G610 MP4 defaults), closed after the test."""
    platform = SimPlatform(strict=True)
    try:
        yield platform
    finally:
        platform.close()
