"""Shared pytest fixtures (keep small; add fixtures per area as the suite grows)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from uio_driver.sim.platform import SimPlatform


@pytest.fixture
def sim_platform() -> Iterator[SimPlatform]:
    """A fresh strict simulated platform (G610 MP4 defaults), closed after the test."""
    platform = SimPlatform(strict=True)
    try:
        yield platform
    finally:
        platform.close()
