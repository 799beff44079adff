"""Every overlay variant for every board profile: compile with dtc, read back with fdtget, apply
with fdtoverlay to minimal RK3588-like base trees (tests/data/dts) and check the merged tree.

Expected values are the reference's (shared/reference/rk3588-platform-and-uio.md): GPU window
0xfb000000 + 0x200000 (§1.2), SPI 92/93/94 level-high (§1.2), mainline CRU ids 262/263/264
(§1.3), RK3588_PD_GPU 12 (§1.4), 4 interrupt cells on the mainline GIC (§1.1); vendor CRU ids
276/277/278 and 3 interrupt cells from the vendor BSP sources (see dts/mali-hil-uio-vendor.dts).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from uio_driver import boards, dts
from uio_driver.errors import InvalidArgument

pytestmark = pytest.mark.skipif(
    any(shutil.which(t) is None for t in ("dtc", "fdtoverlay", "fdtget")),
    reason="dtc/fdtoverlay/fdtget not installed (Debian package device-tree-compiler)")

DATA = Path(__file__).parent / "data" / "dts"
PROFILES = boards.load_profiles()
CASES = [(key, v, k) for key in sorted(PROFILES) for v in ("uio", "vfio") for k in ("mainline", "vendor")]

GPU_REG = [0x0, 0xFB00_0000, 0x0, 0x20_0000]
SPI = {"job": 92, "mmu": 93, "gpu": 94}
LEVEL_HIGH = 4
CLOCK_IDS = {"mainline": [262, 263, 264], "vendor": [276, 277, 278]}
IRQ_CELLS = {"mainline": 4, "vendor": 3}
PD_GPU = 12
UNRESOLVED = 0xFFFF_FFFF  # dtc's placeholder for a phandle that __fixups__ resolves later


class Fdt:
    """Read a flattened tree with fdtget (independent of uio_driver's code)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _get(self, *args: str) -> str:
        proc = subprocess.run(["fdtget", *args], capture_output=True, text=True, check=False)
        if proc.returncode:
            raise LookupError(f"fdtget {' '.join(args)}: {proc.stderr.strip()}")
        return proc.stdout.strip()

    def cells(self, node: str, prop: str) -> list[int]:
        return [int(w, 16) for w in self._get("-t", "x", str(self.path), node, prop).split()]

    def strings(self, node: str, prop: str) -> list[str]:
        return self._get("-t", "s", str(self.path), node, prop).split()

    def props(self, node: str) -> list[str]:
        return self._get("-p", str(self.path), node).split()

    def children(self, node: str) -> list[str]:
        return self._get("-l", str(self.path), node).split()

    def phandle(self, label: str) -> int:
        return self.cells(self.strings("/__symbols__", label)[0], "phandle")[0]


def irq(name: str, kernel: str) -> list[int]:
    cells = [0, SPI[name], LEVEL_HIGH]  # GIC_SPI = 0
    return cells + [0] if IRQ_CELLS[kernel] == 4 else cells


def carveout_reg(prof: boards.BoardProfile) -> list[int]:
    return [0, prof.carveout.base, 0, prof.carveout.size]


@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("bases")
    built = {}
    for kernel, name in (("mainline", "rk3588-mini"), ("vendor", "rk3588-mini-vendor")):
        dtb = out / f"{name}.dtb"
        subprocess.run(["dtc", "-@", "-I", "dts", "-O", "dtb", "-o", str(dtb), str(DATA / f"{name}.dts")],
                       check=True, capture_output=True)
        built[kernel] = dtb
    return built


def build(tmp_path: Path, key: str, variant: str, kernel: str,
          params: dts.OverlayParams | None = None) -> tuple[Fdt, dts.RenderedOverlay]:
    rendered = dts.render_overlay(PROFILES[key], variant, kernel, params)
    compiled = dts.compile_overlay(rendered.source)
    assert compiled.warnings == (), compiled.warnings
    path = tmp_path / rendered.filename
    path.write_bytes(compiled.dtb)
    return Fdt(path), rendered


# --------------------------------------------------------------------------------------------
# The compiled overlay, read back
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key,variant,kernel", CASES)
def test_compiled_overlay_has_every_node_and_property(tmp_path, key, variant, kernel):
    prof = PROFILES[key]
    ovl, _ = build(tmp_path, key, variant, kernel)
    # A: the kernel GPU driver's node is disabled
    assert ovl.strings("/fragment@0/__overlay__", "status") == ["disabled"]
    assert ovl.strings("/__fixups__", "gpu") == ["/fragment@0:target:0"]
    # B: the board's GPU rail stays on
    assert "regulator-always-on" in ovl.props("/fragment@1/__overlay__")
    assert ovl.strings("/__fixups__", prof.gpu_regulator_label) == ["/fragment@1:target:0"]
    # C: carveout under /reserved-memory, no-map
    root = "/fragment@2/__overlay__"
    assert ovl.strings("/fragment@2", "target-path") == ["/"]
    dma = f"{root}/reserved-memory/mali-hil-dma@{prof.carveout.base:x}"
    assert ovl.cells(dma, "reg") == carveout_reg(prof)
    assert "no-map" in ovl.props(dma)
    assert ovl.cells(f"{root}/reserved-memory", "#size-cells") == [2]
    # the device(s)
    dev = f"{root}/mali-hil@fb000000"
    assert ovl.cells(dev, "reg") == GPU_REG + carveout_reg(prof)
    assert ovl.strings(dev, "reg-names") == ["gpu-regs", "dma"]
    assert ovl.cells(dev, "clocks") == [x for cid in CLOCK_IDS[kernel] for x in (UNRESOLVED, cid)]
    assert ovl.strings(dev, "clock-names") == ["core", "coregroup", "stacks"]
    assert ovl.cells(dev, "power-domains") == [UNRESOLVED, PD_GPU]
    assert ovl.strings(dev, "status") == ["okay"]
    assert len(ovl.strings("/__fixups__", "cru")) == 3
    assert ovl.strings("/__fixups__", "power") == [f"{dev}:power-domains:0"]
    if variant == "uio":
        check_uio_nodes(ovl, root, kernel)
    else:
        check_vfio_node(ovl, root, kernel)


def check_uio_nodes(ovl: Fdt, root: str, kernel: str) -> None:
    dev = f"{root}/mali-hil@fb000000"
    assert ovl.strings(dev, "compatible") == ["generic-uio"]
    assert ovl.strings(dev, "linux,uio-name") == ["mali-hil-job"]
    assert ovl.cells(dev, "interrupts") == irq("job", kernel)
    for name in ("mmu", "gpu"):
        node = f"{root}/mali-hil-{name}-irq"
        assert ovl.strings(node, "compatible") == ["generic-uio"]
        assert ovl.strings(node, "linux,uio-name") == [f"mali-hil-{name}"]
        assert ovl.cells(node, "interrupts") == irq(name, kernel)
        assert "reg" not in ovl.props(node)  # IRQ-only UIO devices have no maps (§3.2)
    assert len(ovl.strings("/__fixups__", "gic")) == 3


def check_vfio_node(ovl: Fdt, root: str, kernel: str) -> None:
    dev = f"{root}/mali-hil@fb000000"
    assert ovl.strings(dev, "compatible") == ["hil,mali-vfio"]
    assert "linux,uio-name" not in ovl.props(dev)
    assert ovl.cells(dev, "interrupts") == irq("job", kernel) + irq("mmu", kernel) + irq("gpu", kernel)
    assert ovl.strings(dev, "interrupt-names") == ["job", "mmu", "gpu"]
    assert ovl.children(root) == ["reserved-memory", "mali-hil@fb000000"]


# --------------------------------------------------------------------------------------------
# Applied to a base tree
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key,variant,kernel", CASES)
def test_overlay_applies_and_merged_tree_is_right(tmp_path, bases, key, variant, kernel):
    prof = PROFILES[key]
    ovl, rendered = build(tmp_path, key, variant, kernel)
    merged = Fdt(dts.apply_overlays(bases[kernel], [ovl.path], tmp_path / "merged.dtb"))
    assert merged.strings("/gpu@fb000000", "status") == ["disabled"]
    rail = merged.strings("/__symbols__", prof.gpu_regulator_label)[0]
    assert "regulator-always-on" in merged.props(rail)
    dma = f"/reserved-memory/mali-hil-dma@{prof.carveout.base:x}"
    assert merged.cells(dma, "reg") == carveout_reg(prof) and "no-map" in merged.props(dma)
    dev = "/mali-hil@fb000000"
    cru = merged.phandle("cru")
    assert merged.cells(dev, "clocks") == [x for cid in CLOCK_IDS[kernel] for x in (cru, cid)]
    assert merged.cells(dev, "power-domains") == [merged.phandle("power"), PD_GPU]
    gic = merged.phandle("gic")
    assert merged.cells(dev, "interrupt-parent") == [gic]
    gic_cells = merged.cells(merged.strings("/__symbols__", "gic")[0], "#interrupt-cells")[0]
    irq_nodes = {"job": dev}
    if variant == "uio":
        irq_nodes.update(mmu="/mali-hil-mmu-irq", gpu="/mali-hil-gpu-irq")
    for name, node in irq_nodes.items():
        cells = merged.cells(node, "interrupts")
        assert len(cells) % gic_cells == 0  # the kernel numbering matches the base's GIC
        assert cells[:gic_cells] == irq(name, kernel)
    assert merged.strings("/__symbols__", "mali_hil") == [dev]
    assert merged.cells("/", "#address-cells") == [2] and merged.cells("/", "#size-cells") == [2]


def test_existing_reserved_memory_is_kept(tmp_path, bases):
    ovl, _ = build(tmp_path, "radxa-rock-5b", "uio", "mainline")
    merged = Fdt(dts.apply_overlays(bases["mainline"], [ovl.path], tmp_path / "m.dtb"))
    assert merged.children("/reserved-memory") == ["mali-hil-dma@30000000", "shmem@10f000"]
    assert merged.cells("/reserved-memory/shmem@10f000", "reg") == [0, 0x10F000, 0, 0x100]


def test_reserved_memory_is_created_when_the_base_has_none(tmp_path, bases):
    assert "reserved-memory" not in Fdt(bases["vendor"]).children("/")
    ovl, _ = build(tmp_path, "radxa-rock-5a", "uio", "vendor")
    merged = Fdt(dts.apply_overlays(bases["vendor"], [ovl.path], tmp_path / "m.dtb"))
    assert merged.children("/reserved-memory") == ["mali-hil-dma@30000000"]
    assert merged.cells("/reserved-memory", "#address-cells") == [2]
    assert "ranges" in merged.props("/reserved-memory")


def test_another_regulator_label_resolves_to_its_node(tmp_path, bases):
    # the base labels BUCK1 both vdd_gpu_s0 and vdd_gpu_mem_s0, as the CM3588 DT does (§2)
    params = dts.OverlayParams("vdd_gpu_mem_s0", 0x4000_0000, 0x0800_0000)
    ovl, _ = build(tmp_path, "generic-rk3588", "uio", "mainline", params)
    merged = Fdt(dts.apply_overlays(bases["mainline"], [ovl.path], tmp_path / "m.dtb"))
    buck1 = "/spi@feb20000/pmic@0/regulators/dcdc-reg1"
    assert merged.strings("/__symbols__", "vdd_gpu_mem_s0") == [buck1]
    assert "regulator-always-on" in merged.props(buck1)
    assert merged.cells("/reserved-memory/mali-hil-dma@40000000", "reg") == [0, 0x4000_0000, 0, 0x0800_0000]


def test_missing_label_fails_like_uboot_would(tmp_path, bases):
    params = dts.OverlayParams("vdd_gpu_nope", 0x3000_0000, 0x1000_0000)
    ovl, _ = build(tmp_path, "radxa-rock-5b", "uio", "mainline", params)
    with pytest.raises(InvalidArgument) as info:
        dts.apply_overlays(bases["mainline"], [ovl.path], tmp_path / "m.dtb")
    assert "fdtoverlay mali-hil.dtbo onto rk3588-mini.dtb failed" in str(info.value)
    assert "FDT_ERR_NOTFOUND" in str(info.value)
    assert not (tmp_path / "m.dtb").exists()


def test_base_without_symbols_is_explained(tmp_path):
    base = tmp_path / "plain.dtb"
    subprocess.run(["dtc", "-I", "dts", "-O", "dtb", "-o", str(base), str(DATA / "rk3588-mini.dts")],
                   check=True, capture_output=True)
    ovl, _ = build(tmp_path, "radxa-rock-5b", "uio", "mainline")
    with pytest.raises(InvalidArgument, match="has no __symbols__ node: build the base DTB with dtc -@"):
        dts.apply_overlays(base, [ovl.path], tmp_path / "m.dtb")
