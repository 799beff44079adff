"""The friendly Python layer (uio_driver.open / uio_driver.api) and the runnable docs examples.

The layer goes through Device.ioctl, so its errors are the uAPI's (OSError with panthor's errno)."""

from __future__ import annotations

import errno
import importlib.util
import struct
import time
from pathlib import Path
from types import ModuleType

import pytest

import uio_driver
from uio_driver.api import GpuDevice as ApiDevice
from uio_driver.api import Submit, deadline_ns, map_flags
from uio_driver.csf import CsBuilder
from uio_driver.errors import InvalidArgument

pytestmark = pytest.mark.sim_only

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["store_value", "raw_ioctl"])
def test_docs_examples_run(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert _load(name).main("sim") == 0
    out = capsys.readouterr().out
    assert "0xa8670005" in out


def test_open_returns_a_context_managed_device() -> None:
    with uio_driver.open(backend="sim") as dev:
        assert isinstance(dev, ApiDevice)
        assert dev.csif_info().cs_reg_count == 96
    with pytest.raises(OSError) as info:
        dev.vm_create()
    assert info.value.errno == errno.ENODEV
    assert uio_driver.__version__


def test_map_flags() -> None:
    assert map_flags("readonly,noexec") == 3
    assert map_flags(["uncached"]) == 4
    assert map_flags(5) == 5
    with pytest.raises(InvalidArgument):
        map_flags("writable")


def test_deadlines() -> None:
    assert deadline_ns(None) == (1 << 63) - 1
    assert deadline_ns(0) == 0
    assert abs(deadline_ns(1.0) - time.monotonic_ns() - 1_000_000_000) < 50_000_000


def test_layer_errors_are_the_uapi_errnos() -> None:
    with uio_driver.open(backend="sim") as dev:
        vm = dev.vm_create()
        bo = dev.bo_create(4096, no_mmap=True)
        with pytest.raises(OSError) as info:
            bo.mmap()
        assert info.value.errno == errno.EPERM
        with pytest.raises(OSError) as info:
            vm.map(bo, 0x1001)
        assert info.value.errno == errno.EINVAL
        with pytest.raises(OSError) as info:
            dev.group_create(vm, priority="realtime")
        assert info.value.errno == errno.EACCES
        so = dev.syncobj_create()
        with pytest.raises(OSError) as info:
            so.wait(timeout=0.01, wait_for_submit=True)
        assert info.value.errno == errno.ETIME


def test_layer_round_trip() -> None:
    with uio_driver.open(backend="sim") as dev:
        vm = dev.vm_create()
        code, out = dev.bo_create(4096), dev.bo_create(4096)
        vm.map(code, 0x400000)
        vm.map(out, 0x500000, flags="noexec,uncached")
        words = []
        for i in range(3):
            b = (
                CsBuilder()
                .move48(68, 0x500000 + 4 * i)
                .move32(70, 10 + i)
                .store_multiple(68, 70, 1)
                .wait(0xFF)
            )
            text = b.move32(70, 0).flush_cache2(70, signal_slot=1).wait(0xFF).to_bytes()
            code.mmap()[256 * i : 256 * i + len(text)] = text
            words.append((0x400000 + 256 * i, len(text)))
        timeline = dev.syncobj_create()
        group = dev.group_create(vm, [(0, 4096), (3, 8192)])
        group.submit([Submit(i % 2, *w, signal=[(timeline, i + 1)]) for i, w in enumerate(words)])
        timeline.wait(point=3, timeout=1.0)
        assert timeline.query() == 3 and timeline.query(last_submitted=True) == 3
        assert struct.unpack("<3I", out.mmap()[:12]) == (10, 11, 12)
        assert not group.state().fatal_fault and vm.usable
        heap = dev.heap_create(vm, chunk_size=128 << 10, initial_chunks=2, max_chunks=4)
        assert heap.handle >> 16 == vm.id and heap.first_chunk_va >= vm.user_va_range
        heap.destroy()
        group.destroy()
        timeline.destroy()
        vm.unmap(0x400000, 4096)
        vm.destroy()
        code.close()
        out.close()


def test_readme_python_api_example_runs() -> None:
    readme = (EXAMPLES.parent.parent / "README.md").read_text()
    section = readme.split("## Python API / panthor uAPI", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(code, "README.md", "exec"), {})  # noqa: S102 - the README's own example
