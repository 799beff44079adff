"""Overlay templates: marker parsing, rendering, parameter checks, tool errors."""

from __future__ import annotations

import errno
import re
import shutil
import subprocess

import pytest

from uio_driver import boards, dts
from uio_driver.errors import InvalidArgument, NotSupported

needs_dtc = pytest.mark.skipif(shutil.which("dtc") is None,
                               reason="dtc not installed (Debian package device-tree-compiler)")

ALL = [(v, k) for v in ("uio", "vfio") for k in ("mainline", "vendor")]
# §7.4 example overlay: regulator label, carveout base/size, node unit address.
REFERENCE_DEFAULTS = {"regulator": "vdd_gpu_s0", "carveout_base": "0x30000000",
                      "carveout_size": "0x10000000", "carveout_unit": "30000000"}


def strip_markers(text: str) -> str:
    return re.sub(r"/\*\$[a-z_]+\*/", "", text)


@pytest.mark.parametrize("variant,kernel", ALL)
def test_template_defaults_are_the_reference_example(variant, kernel):
    text = dts.template_file(variant, kernel).read_text()
    assert dts.template_defaults(text) == REFERENCE_DEFAULTS


@pytest.mark.parametrize("variant,kernel", ALL)
def test_rendering_with_the_defaults_only_drops_the_markers(variant, kernel):
    text = dts.template_file(variant, kernel).read_text()
    assert dts.render_template(text, REFERENCE_DEFAULTS) == strip_markers(text)


def test_file_names():
    assert [dts.template_file(v, k).name for v, k in ALL] == [
        "mali-hil-uio.dts", "mali-hil-uio-vendor.dts", "mali-hil-vfio.dts", "mali-hil-vfio-vendor.dts"]
    assert [dts.overlay_name(v, k) for v, k in ALL] == [
        "mali-hil", "mali-hil-vendor", "mali-hil-vfio", "mali-hil-vfio-vendor"]


@pytest.mark.parametrize("variant,kernel", ALL)
def test_board_values_replace_every_marked_value(variant, kernel):
    prof = boards.profile("radxa-rock-5b")
    params = dts.OverlayParams("vdd_gpu_mem_s0", 0x4000_0000, 0x0400_0000)
    out = dts.render_overlay(prof, variant, kernel, params)
    body = out.source
    assert "/*$" not in body
    assert "target = <&vdd_gpu_mem_s0>;" in body
    assert "mali_hil_dma: mali-hil-dma@40000000 {" in body
    expected_reg = "0x0 0x40000000 0x0 0x4000000>"
    assert body.count(expected_reg) == 2  # reserved-memory child and the device's second reg entry
    code = "\n".join(line for line in body.splitlines() if not line.startswith("//"))
    assert "0x30000000" not in code and "0x10000000" not in code  # no default value left in the nodes
    assert out.name == dts.overlay_name(variant, kernel) and out.filename == out.name + ".dtbo"


def test_rendered_header_names_board_variant_and_template():
    out = dts.render_overlay(boards.profile("xunlong-orangepi-5"), "vfio", "vendor")
    first = out.source.splitlines()[:3]
    assert "board profile xunlong-orangepi-5 (Xunlong Orange Pi 5)" in first[0]
    assert "variant vfio, vendor kernel numbering, template dts/mali-hil-vfio-vendor.dts" in first[1]
    assert "regulator vdd_gpu_s0, carveout 0x30000000 + 0x10000000 (256 MiB)" in first[2]


def test_generic_profile_renders_its_smaller_carveout():
    out = dts.render_overlay(boards.profile("generic"))
    assert "reg = <0x0 0x30000000 0x0 0x4000000>;" in out.source


@pytest.mark.parametrize("text,needle", [
    ("reg = <0x0 0x1000/*$carveout_bas*/>;", "unknown template parameter 'carveout_bas'"),
    ("a = <0x1/*$carveout_base*/>; b = <0x2/*$carveout_base*/>;", "has two defaults"),
    ("a = <0x1 /*$carveout_base*/>;", "not directly after a value"),
])
def test_malformed_templates_are_refused(text, needle):
    with pytest.raises(InvalidArgument, match=re.escape(needle)):
        dts.template_defaults(text, "t.dts")


def test_missing_value_is_refused():
    with pytest.raises(InvalidArgument, match="no value for template parameter.*regulator"):
        dts.render_template("target = <&x/*$regulator*/>;", {"carveout_base": "0x0"}, "t.dts")


@pytest.mark.parametrize("label,base,size,needle", [
    ("vdd-gpu", 0x3000_0000, 0x1000_0000, "not a device-tree label"),
    ("0vdd", 0x3000_0000, 0x1000_0000, "not a device-tree label"),
    ("vdd_gpu_s0", 0x3010_0000, 0x1000_0000, "2 MiB aligned"),
    ("vdd_gpu_s0", 0xF800_0000, 0x1000_0000, "below 4 GiB"),
    ("vdd_gpu_s0", 0x3000_0000, 0, "non-empty"),
    ("vdd_gpu_s0", "0x30000000", 0x1000_0000, "must be integers"),
    (None, 0x3000_0000, 0x1000_0000, "not a device-tree label"),
])
def test_overlay_params_are_checked(label, base, size, needle):
    with pytest.raises(InvalidArgument, match=needle):
        dts.OverlayParams(label, base, size)


@pytest.mark.parametrize("variant,kernel,needle", [
    ("pci", "mainline", "unknown overlay variant 'pci'"),
    ("uio", "android", "unknown kernel numbering 'android'"),
])
def test_unknown_variant_or_kernel(variant, kernel, needle):
    with pytest.raises(InvalidArgument, match=needle):
        dts.template_file(variant, kernel)


@needs_dtc
@pytest.mark.parametrize("variant,kernel", ALL)
def test_committed_templates_build_with_plain_dtc_and_no_warnings(tmp_path, variant, kernel):
    # the reference build command (§7.2), run directly rather than through uio_driver.dts
    src = dts.template_file(variant, kernel)
    proc = subprocess.run(["dtc", "-@", "-I", "dts", "-O", "dtb", "-o", str(tmp_path / "o.dtbo"), str(src)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert (tmp_path / "o.dtbo").read_bytes()[:4] == b"\xd0\x0d\xfe\xed"  # FDT magic


@needs_dtc
def test_compile_error_carries_dtc_message():
    with pytest.raises(InvalidArgument) as info:
        dts.compile_overlay("/dts-v1/;\n/ { broken", what="dtc (test)")
    assert str(info.value).startswith("dtc (test) failed (exit 1):")
    assert "syntax error" in str(info.value)


@needs_dtc
def test_decompile_round_trip():
    compiled = dts.compile_overlay("/dts-v1/;\n/plugin/;\n/ { fragment@0 { target-path = \"/\"; "
                                   "__overlay__ { hello = \"world\"; }; }; };\n")
    assert compiled.warnings == ()
    assert 'hello = "world";' in dts.decompile(compiled.dtb)


def test_missing_tool_names_the_debian_package(monkeypatch):
    monkeypatch.setenv("PATH", "")
    with pytest.raises(NotSupported) as info:
        dts.compile_overlay("/dts-v1/;")
    assert info.value.errno == errno.ENOENT
    assert str(info.value) == ("dtc not found on PATH: install the Debian/Ubuntu package "
                               "device-tree-compiler (apt install device-tree-compiler)")
    with pytest.raises(NotSupported, match="fdtoverlay not found"):
        dts.apply_overlays("base.dtb", ["x.dtbo"], "out.dtb")


@pytest.mark.skipif(shutil.which("fdtoverlay") is None,
                    reason="fdtoverlay not installed (Debian package device-tree-compiler)")
def test_apply_overlays_names_a_missing_input(tmp_path):
    with pytest.raises(InvalidArgument, match=f"fdtoverlay: input {tmp_path / 'no.dtb'} not found"):
        dts.apply_overlays(tmp_path / "no.dtb", [tmp_path / "x.dtbo"], tmp_path / "out.dtb")


def test_boot_flows_match_the_profile_mechanisms():
    assert set(dts.BOOT_FLOWS) == set(boards.BOOT_MECHANISMS)
    with pytest.raises(InvalidArgument, match="unknown boot flow 'grub'"):
        dts.boot_flow("grub")


def test_enable_lines_for_each_flow():
    ext = dts.enable_lines(dts.boot_flow("extlinux"), "mali-hil.dtbo")
    assert "    fdtoverlays /boot/dtbs/rockchip/overlay/mali-hil.dtbo" in ext
    arm = dts.enable_lines(dts.boot_flow("armbian"), "mali-hil.dtbo")
    assert "user_overlays=mali-hil" in arm
    assert any(line.startswith("extraargs=uio_pdrv_genirq.of_id=generic-uio") for line in arm)
    assert any("armbian-add-overlay mali-hil.dts" in line for line in arm)
    opi = dts.enable_lines(dts.boot_flow("orangepi"), "mali-hil.dtbo")
    assert "user_overlays=mali-hil" in opi and not any("armbian-add-overlay" in line for line in opi)
    vfio = dts.enable_lines(dts.boot_flow("extlinux"), "mali-hil-vfio.dtbo", "/boot/ovl/", variant="vfio")
    assert "    fdtoverlays /boot/ovl/mali-hil-vfio.dtbo" in vfio
    assert any("vfio.enable_unsafe_noiommu_mode=1 vfio_platform.reset_required=0" in line for line in vfio)
    assert dts.uboot_lines("x.dtbo", "/boot/o")[1:] == [
        "fdt addr ${fdt_addr_r}; fdt resize 0x2000",
        "load mmc 0:1 ${fdtoverlay_addr_r} /boot/o/x.dtbo",
        "fdt apply ${fdtoverlay_addr_r}",
    ]


def test_module_lines():
    uio = dts.module_lines("uio")
    assert "echo 'options uio_pdrv_genirq of_id=generic-uio' > /etc/modprobe.d/mali-hil.conf" in uio
    vfio = dts.module_lines("vfio")
    assert "modprobe vfio enable_unsafe_noiommu_mode=1" in vfio
    assert "modprobe vfio-platform reset_required=0" in vfio
    assert "echo vfio-platform > /sys/bus/platform/devices/fb000000.mali-hil/driver_override" in vfio
    with pytest.raises(InvalidArgument):
        dts.module_lines("pci")
