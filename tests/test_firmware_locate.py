"""Firmware locating: search order, fallbacks and error texts (temporary trees, injected env).

The path panthor requests is ``arm/mali/arch<GPU_ID[31:28]>.<GPU_ID[27:24]>/mali_csffw.bin``
(csf-firmware-and-interfaces.md §1.1); the RK3588's GPU_ID 0xA8670005 gives arch10.8.
"""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from uio_driver.errors import AccessDenied, FirmwareNotFound, InvalidArgument, MaliError
from uio_driver.firmware import SYNTHETIC_GIT_SHA, parse_firmware
from uio_driver.firmware import locate as locate_module
from uio_driver.firmware.locate import FIRMWARE_DIR_ENV, firmware_relpath, gpu_arch, locate_firmware

ARCH10_8 = "arm/mali/arch10.8/mali_csffw.bin"


def put(root: Path, relpath: str, content: bytes) -> str:
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return str(path)


def env_of(directory: Path | str) -> dict[str, str]:
    return {FIRMWARE_DIR_ENV: str(directory)}


@pytest.fixture
def system_root(tmp_path: Path) -> Path:
    root = tmp_path / "lib-firmware"
    root.mkdir()
    return root


def test_relpath_from_gpu_id() -> None:
    assert firmware_relpath(0xA8670005) == ARCH10_8
    assert gpu_arch(0xA8670005) == (10, 8)
    assert firmware_relpath(0xC8000000) == "arm/mali/arch12.8/mali_csffw.bin"
    assert firmware_relpath(0xB8000000) == "arm/mali/arch11.8/mali_csffw.bin"
    for bad in (-1, 1 << 32, "0xa8670005", True):
        with pytest.raises(InvalidArgument, match="not a 32-bit value"):
            firmware_relpath(bad)  # type: ignore[arg-type]


def test_explicit_file(tmp_path: Path, system_root: Path) -> None:
    path = put(tmp_path, "fw.bin", b"explicit")
    put(system_root, ARCH10_8, b"system")
    src = locate_firmware(path, simulated=False, env={}, firmware_root=str(system_root))
    assert (src.data, src.path, src.synthetic, src.tried) == (b"explicit", path, False, [path])
    assert path in src.description and "explicitly" in src.description


def test_explicit_directory_layouts(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    put(tree, ARCH10_8, b"tree")
    src = locate_firmware(str(tree), simulated=False, env={})
    assert src.data == b"tree" and src.path == str(tree / ARCH10_8)
    flat = tmp_path / "flat"
    put(flat, "mali_csffw.bin", b"flat")
    src = locate_firmware(str(flat), simulated=True, env={})
    assert src.data == b"flat" and src.tried == [str(flat / ARCH10_8), str(flat / "mali_csffw.bin")]


@pytest.mark.parametrize("simulated", [True, False])
def test_explicit_path_missing_is_an_error_everywhere(tmp_path: Path, system_root: Path,
                                                      simulated: bool) -> None:
    put(system_root, ARCH10_8, b"system")  # would be found if the code fell back
    missing = str(tmp_path / "nope.bin")
    with pytest.raises(FirmwareNotFound) as info:
        locate_firmware(missing, simulated=simulated, env={}, firmware_root=str(system_root))
    assert str(info.value) == f"firmware file {missing} does not exist"
    assert info.value.errno == errno.ENOENT and info.value.details["paths"] == [missing]


def test_explicit_directory_without_firmware(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FirmwareNotFound) as info:
        locate_firmware(str(empty), simulated=True, env={})
    expected = [str(empty / ARCH10_8), str(empty / "mali_csffw.bin")]
    assert info.value.details["paths"] == expected
    assert str(info.value) == f"no mali_csffw.bin in directory {empty}: tried {expected[0]}, {expected[1]}"


def test_env_dir_beats_system_firmware(tmp_path: Path, system_root: Path) -> None:
    env_dir = tmp_path / "env"
    path = put(env_dir, ARCH10_8, b"from env")
    put(system_root, ARCH10_8, b"system")
    src = locate_firmware(simulated=False, env=env_of(env_dir), firmware_root=str(system_root))
    assert (src.data, src.path, src.tried) == (b"from env", path, [path])
    assert "$MALI_UIO_FIRMWARE_DIR" in src.description


def test_env_dir_flat_and_file(tmp_path: Path, system_root: Path) -> None:
    flat = tmp_path / "flat"
    path = put(flat, "mali_csffw.bin", b"flat")
    src = locate_firmware(simulated=False, env=env_of(flat), firmware_root=str(system_root))
    assert src.data == b"flat" and src.tried == [str(flat / ARCH10_8), path]
    src = locate_firmware(simulated=False, env=env_of(path), firmware_root=str(system_root))
    assert src.data == b"flat" and src.tried == [path]


def test_env_dir_without_firmware_falls_through_to_system(tmp_path: Path, system_root: Path) -> None:
    env_dir = tmp_path / "env"
    env_dir.mkdir()
    path = put(system_root, ARCH10_8, b"system")
    src = locate_firmware(simulated=False, env=env_of(env_dir), firmware_root=str(system_root))
    assert (src.data, src.path) == (b"system", path)
    assert src.tried == [str(env_dir / ARCH10_8), str(env_dir / "mali_csffw.bin"), path]
    assert "system firmware for GPU arch 10.8" in src.description


def test_system_path_follows_gpu_id(system_root: Path) -> None:
    put(system_root, ARCH10_8, b"g610")
    path = put(system_root, "arm/mali/arch12.8/mali_csffw.bin", b"arch12")
    src = locate_firmware(gpu_id=0xC8000000, simulated=False, env={}, firmware_root=str(system_root))
    assert (src.data, src.path) == (b"arch12", path)


def test_simulator_falls_back_to_synthetic(tmp_path: Path, system_root: Path) -> None:
    env_dir = tmp_path / "env"
    src = locate_firmware(simulated=True, env=env_of(env_dir), firmware_root=str(system_root))
    assert src.synthetic and src.path is None
    image = parse_firmware(src.data)
    assert image.git_sha == SYNTHETIC_GIT_SHA and image.header.version_hash == 0x01050000
    tried = [str(env_dir / ARCH10_8), str(env_dir / "mali_csffw.bin"), str(system_root / ARCH10_8)]
    assert src.tried == tried
    assert src.description.startswith("synthetic image (simulator; no mali_csffw.bin for arch 10.8 in ")
    assert all(p in src.description for p in tried)


def test_hardware_without_firmware_names_every_path(tmp_path: Path, system_root: Path) -> None:
    env_dir = tmp_path / "env"
    with pytest.raises(FirmwareNotFound) as info:
        locate_firmware(simulated=False, env=env_of(env_dir), firmware_root=str(system_root))
    tried = [str(env_dir / ARCH10_8), str(env_dir / "mali_csffw.bin"), str(system_root / ARCH10_8)]
    assert info.value.details["paths"] == tried
    assert info.value.errno == errno.ENOENT
    assert str(info.value) == ("no firmware for GPU arch 10.8 (GPU_ID 0xa8670005): tried "
                               f"{', '.join(tried)}; pass a path or set $MALI_UIO_FIRMWARE_DIR")


def test_env_defaults_to_process_environment(tmp_path: Path, system_root: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    path = put(tmp_path / "env", ARCH10_8, b"os.environ")
    monkeypatch.setenv(FIRMWARE_DIR_ENV, str(tmp_path / "env"))
    src = locate_firmware(simulated=False, firmware_root=str(system_root))
    assert (src.data, src.path) == (b"os.environ", path)
    monkeypatch.setenv(FIRMWARE_DIR_ENV, "")
    src = locate_firmware(simulated=True, firmware_root=str(system_root))
    assert src.tried == [str(system_root / ARCH10_8)]


@pytest.mark.parametrize(
    ("raised", "kind", "text", "code"),
    [(PermissionError(errno.EACCES, "Permission denied"), AccessDenied, "is not readable (permission denied)",
      errno.EACCES),
     (OSError(errno.EIO, "Input/output error"), MaliError, "cannot read firmware file", errno.EIO)],
)
def test_read_errors_become_mali_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, raised: OSError,
                                        kind: type[MaliError], text: str, code: int) -> None:
    """OS errors while reading are reported as one-line MaliErrors (injected: tests may run as root)."""
    path = put(tmp_path, "fw.bin", b"data")

    def failing_open(*args: object, **kwargs: object) -> None:
        raise raised

    monkeypatch.setattr(locate_module, "open", failing_open, raising=False)
    with pytest.raises(kind) as info:
        locate_firmware(path, simulated=True, env={})
    assert text in str(info.value) and path in str(info.value) and info.value.errno == code
