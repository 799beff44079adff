"""Where tests find the real Arm firmware blobs (never copied into this repository).

``$MALI_UIO_SHARED_FIRMWARE`` names the shared/firmware tree; by default it is the team's
``shared/firmware`` folder beside the repository (``<repo>/../shared/firmware``). Tests that need a
blob skip with that reason when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

SHARED_FIRMWARE_ENV = "MALI_UIO_SHARED_FIRMWARE"
REPO = Path(__file__).resolve().parents[1]


def shared_firmware_root() -> Path:
    env = os.environ.get(SHARED_FIRMWARE_ENV)
    return Path(env) if env else REPO.parent / "shared" / "firmware"
