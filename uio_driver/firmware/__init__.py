"""CSF firmware: container parser, image builder, synthetic image and firmware locating.

* :func:`parse_firmware` → :class:`FirmwareImage` (``container.py``, ``entries.py``, ``format.py``);
* :func:`build_image` / :func:`rebuild` and the entry specs (``builder.py``);
* :func:`build_synthetic_image` — the image the simulator boots without an Arm blob (``synthetic.py``);
* :func:`locate_firmware` → :class:`FirmwareSource` (``locate.py``);
* loading and booting: :func:`load_firmware` (``loader.py``), :class:`Mcu` (``mcu.py``), interface
  discovery :func:`discover_interface` → :class:`CsfInterface`/:class:`CsfInfo` (``interface.py``,
  layouts in ``blocks.py``), GLB requests :class:`GlobalInterface` (``glb.py``) and the whole thing as
  :class:`CsfFirmware` (``device.py``).

Facts come from shared/reference/csf-firmware-and-interfaces.md §1-§2. Only the container and the
shared section's control-block image are ever interpreted; firmware code is never decoded.
"""

from .builder import (
    Blob,
    BuildInfoSpec,
    ConfigSpec,
    CoreDumpSpec,
    EntrySpec,
    FuncCallListSpec,
    HeaderSpec,
    IfaceSpec,
    PageFaultCountSpec,
    RawEntrySpec,
    TimelineMetadataSpec,
    TraceBufferSpec,
    assemble,
    build_image,
    build_info_blob,
    rebuild,
)
from .container import FirmwareHeader, FirmwareImage, InterfaceVersion, parse_firmware
from .device import CsfFirmware
from .entries import (
    BuildInfoEntry,
    ConfigEntry,
    CoreDumpEntry,
    FirmwareEntry,
    FuncCallListEntry,
    FutfEntry,
    IfaceEntry,
    PageFaultCountEntry,
    TimelineMetadataEntry,
    TraceBufferEntry,
    UnknownEntry,
)
from .format import FIRMWARE_MAGIC, SHARED_SECTION_VA, CacheMode, EntryType, IfaceFlag
from .glb import GlobalInterface, conv_timeout
from .interface import CsfInfo, CsfInterface, discover_interface
from .loader import LoadedFirmware, load_firmware
from .locate import FIRMWARE_DIR_ENV, FirmwareSource, firmware_relpath, locate_firmware
from .mcu import Mcu
from .synthetic import SYNTHETIC_GIT_SHA, SYNTHETIC_VERSION_HASH, build_synthetic_image

__all__ = [
    "FIRMWARE_DIR_ENV",
    "FIRMWARE_MAGIC",
    "SHARED_SECTION_VA",
    "SYNTHETIC_GIT_SHA",
    "SYNTHETIC_VERSION_HASH",
    "Blob",
    "BuildInfoEntry",
    "BuildInfoSpec",
    "CacheMode",
    "ConfigEntry",
    "ConfigSpec",
    "CsfFirmware",
    "CsfInfo",
    "CsfInterface",
    "GlobalInterface",
    "LoadedFirmware",
    "Mcu",
    "conv_timeout",
    "discover_interface",
    "load_firmware",
    "CoreDumpEntry",
    "CoreDumpSpec",
    "EntrySpec",
    "EntryType",
    "FirmwareEntry",
    "FirmwareHeader",
    "FirmwareImage",
    "FirmwareSource",
    "FuncCallListEntry",
    "FuncCallListSpec",
    "FutfEntry",
    "HeaderSpec",
    "IfaceEntry",
    "IfaceFlag",
    "IfaceSpec",
    "InterfaceVersion",
    "PageFaultCountEntry",
    "PageFaultCountSpec",
    "RawEntrySpec",
    "TimelineMetadataEntry",
    "TimelineMetadataSpec",
    "TraceBufferEntry",
    "TraceBufferSpec",
    "UnknownEntry",
    "assemble",
    "build_image",
    "build_info_blob",
    "build_synthetic_image",
    "firmware_relpath",
    "locate_firmware",
    "parse_firmware",
    "rebuild",
]
