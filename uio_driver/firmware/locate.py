"""Find the CSF firmware file for a GPU, or fall back to the synthetic image on the simulator.

Search order (first hit wins):

1. an explicit path (a file, or a directory laid out like 2.); if it does not exist that is an
   error on every backend — never a silent fallback;
2. ``$MALI_UIO_FIRMWARE_DIR``: ``<dir>/arm/mali/arch<MAJOR>.<MINOR>/mali_csffw.bin``, then
   ``<dir>/mali_csffw.bin`` (the variable may also name the file itself);
3. ``/lib/firmware/arm/mali/arch<MAJOR>.<MINOR>/mali_csffw.bin``, the path panthor requests, with
   MAJOR = GPU_ID[31:28] and MINOR = GPU_ID[27:24] (reference csf-firmware-and-interfaces.md §1.1).

If nothing is found the simulator gets :func:`~uio_driver.firmware.synthetic.build_synthetic_image`
(and the description says so); real hardware gets :class:`~uio_driver.errors.FirmwareNotFound`
naming every path tried.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..errors import AccessDenied, FirmwareNotFound, InvalidArgument, MaliError

#: Environment variable naming a firmware directory (or file).
FIRMWARE_DIR_ENV = "MALI_UIO_FIRMWARE_DIR"
#: File name used by panthor and kbase (§1.1).
FIRMWARE_NAME = "mali_csffw.bin"
#: Root of the system firmware tree the kernel loader searches.
SYSTEM_FIRMWARE_ROOT = "/lib/firmware"
#: GPU_ID of the RK3588's Mali-G610 MP4: arch 10.8 (§1.1, from dmesg).
RK3588_GPU_ID = 0xA8670005


@dataclass(frozen=True)
class FirmwareSource:
    """Where the firmware came from.

    Attributes:
        data: the image bytes.
        path: the file read, or None for the synthetic image.
        synthetic: True when the synthetic image was substituted.
        description: one line for logs and CLI output.
        tried: every path looked at, in order (the hit last).
    """

    data: bytes = field(repr=False)
    path: str | None
    synthetic: bool
    description: str
    tried: list[str]


def gpu_arch(gpu_id: int) -> tuple[int, int]:
    """(ARCH_MAJOR, ARCH_MINOR) = (GPU_ID[31:28], GPU_ID[27:24]) (§1.1, panthor_regs.h).

    Raises:
        InvalidArgument: ``gpu_id`` is not a 32-bit value.
    """
    if not isinstance(gpu_id, int) or isinstance(gpu_id, bool) or not 0 <= gpu_id <= 0xFFFFFFFF:
        raise InvalidArgument(f"GPU_ID {gpu_id!r} is not a 32-bit value")
    return (gpu_id >> 28) & 0xF, (gpu_id >> 24) & 0xF


def firmware_relpath(gpu_id: int) -> str:
    """``arm/mali/arch<MAJOR>.<MINOR>/mali_csffw.bin`` as panthor requests it (§1.1)."""
    major, minor = gpu_arch(gpu_id)
    return f"arm/mali/arch{major}.{minor}/{FIRMWARE_NAME}"


def read_firmware_file(path: str) -> bytes:
    """Read a firmware file, turning OS errors into one-line :class:`MaliError` s.

    Raises:
        FirmwareNotFound: the path does not exist or is a directory.
        AccessDenied: the file is not readable.
        MaliError: any other I/O error (with its errno).
    """
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        raise FirmwareNotFound(f"firmware file {path} does not exist", paths=[path]) from None
    except IsADirectoryError:
        raise FirmwareNotFound(f"firmware path {path} is a directory, not a file", paths=[path]) from None
    except PermissionError:
        raise AccessDenied(f"firmware file {path} is not readable (permission denied)") from None
    except OSError as err:
        raise MaliError(f"cannot read firmware file {path}: {err.strerror or err}", errno=err.errno) from None


def _dir_candidates(directory: str, relpath: str) -> list[str]:
    return [os.path.join(directory, relpath), os.path.join(directory, FIRMWARE_NAME)]


def _first_file(candidates: list[str], tried: list[str]) -> str | None:
    for candidate in candidates:
        tried.append(candidate)
        if os.path.isfile(candidate):
            return candidate
    return None


def _explicit(path: str, relpath: str, tried: list[str]) -> FirmwareSource:
    """An explicit path must work: a file, or a directory holding the firmware."""
    if os.path.isdir(path):
        hit = _first_file(_dir_candidates(path, relpath), tried)
        if hit is None:
            raise FirmwareNotFound(f"no {FIRMWARE_NAME} in directory {path}: tried {', '.join(tried)}",
                                   paths=list(tried))
        return FirmwareSource(read_firmware_file(hit), hit, False, f"{hit} (given explicitly)", tried)
    tried.append(path)
    if not os.path.exists(path):
        raise FirmwareNotFound(f"firmware file {path} does not exist", paths=list(tried))
    return FirmwareSource(read_firmware_file(path), path, False, f"{path} (given explicitly)", tried)


def locate_firmware(
    path: str | None = None,
    *,
    gpu_id: int = RK3588_GPU_ID,
    simulated: bool,
    env: Mapping[str, str] | None = None,
    firmware_root: str = SYSTEM_FIRMWARE_ROOT,
) -> FirmwareSource:
    """Find the firmware image for ``gpu_id`` (order in the module docstring).

    Args:
        path: explicit file or directory (e.g. ``--firmware``); must exist.
        gpu_id: GPU_ID register value; selects ``arch<MAJOR>.<MINOR>``.
        simulated: on the simulator a missing file means "use the synthetic image".
        env: environment to read ``MALI_UIO_FIRMWARE_DIR`` from (default ``os.environ``).
        firmware_root: system firmware tree (tests point it at a temporary directory).

    Returns:
        The bytes and where they came from. The image is not parsed here.

    Raises:
        FirmwareNotFound: an explicit path does not exist, or nothing was found on hardware; the
            message names every path tried (also in ``err.details["paths"]``).
        AccessDenied: a firmware file exists but is not readable.
        InvalidArgument: ``gpu_id`` is not a 32-bit value.
    """
    relpath = firmware_relpath(gpu_id)
    major, minor = gpu_arch(gpu_id)
    tried: list[str] = []
    if path is not None:
        return _explicit(os.fspath(path), relpath, tried)
    environ = os.environ if env is None else env
    env_dir = environ.get(FIRMWARE_DIR_ENV) or ""
    if env_dir:
        candidates = [env_dir] if os.path.isfile(env_dir) else _dir_candidates(env_dir, relpath)
        hit = _first_file(candidates, tried)
        if hit is not None:
            return FirmwareSource(read_firmware_file(hit), hit, False, f"{hit} (from ${FIRMWARE_DIR_ENV})",
                                  tried)
    hit = _first_file([os.path.join(firmware_root, relpath)], tried)
    if hit is not None:
        return FirmwareSource(read_firmware_file(hit), hit, False,
                              f"{hit} (system firmware for GPU arch {major}.{minor})", tried)
    if simulated:
        from .synthetic import build_synthetic_image

        return FirmwareSource(build_synthetic_image(), None, True,
                              f"synthetic image (simulator; no {FIRMWARE_NAME} for arch {major}.{minor} "
                              f"in {', '.join(tried)})", tried)
    raise FirmwareNotFound(f"no firmware for GPU arch {major}.{minor} (GPU_ID {gpu_id:#010x}): tried "
                           f"{', '.join(tried)}; pass a path or set ${FIRMWARE_DIR_ENV}", paths=list(tried))
