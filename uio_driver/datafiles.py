"""Locate the project's data folders (``boards/``, ``dts/``) in a source tree or an installed wheel.

The wheel ships them as ``uio_driver/_data/<name>`` (pyproject ``force-include``); an editable or
source-tree run finds them at the repository root.
"""

from __future__ import annotations

from pathlib import Path

from .errors import DeviceNotFound

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """Directory of the data folder ``name`` ("boards", "dts").

    Raises:
        DeviceNotFound: neither the packaged copy nor the source-tree folder exists.
    """
    candidates = [_PACKAGE / "_data" / name, _PACKAGE.parent / name]
    for path in candidates:
        if path.is_dir():
            return path
    raise DeviceNotFound(f"data folder {name!r} not found (looked in {', '.join(map(str, candidates))})")
