"""Which firmware release the simulated MCU was given, identified without executing it.

The model never runs (or disassembles) firmware code — the licence forbids it, and only the
host-visible interface is simulated. It still has to answer like the release the driver loaded (the
interface version differs per release), so it identifies the image from what the MCU can read
through AS0: the SHA-256 of the executable section at MCU VA ``0x00800000`` with trailing zero bytes
removed (the section's file data; the rest of its VA range is the allocator's zero fill, §3.3).

The table holds only hashes and facts, computed at development time from the five Arm blobs in
``shared/firmware`` with the container layout of ``csf-firmware-and-interfaces.md`` §1-§2:

============================ ============ ======================= ==========================
release                      GLB_VERSION  shared section          source of the version
============================ ============ ======================= ==========================
arch10.8 (current, LTS)      0x01050000   0x04000000 + 0x10000    §2.7 [blob+dmesg] v1.5.0
arch10.8 2024-05             0x01010000   0x04000000 + 0xC000     §2.7 [blob+dmesg] v1.1.0
arch11.8                     0x02080000   0x04000000 + 0x10000    §2.7 [inferred] v2.8.0
arch12.8                     0x030D0000   0x04000000 + 0x10000    §2.7 [inferred] v3.13.0
arch13.8                     0x030D0000   0x04000000 + 0x10000    §2.7 [inferred] v3.13.0
============================ ============ ======================= ==========================

All five keep the executable section at 0x00800000-0x00820000 and the writable data section at
0x02000000-0x02040000 (§2.2-§2.6). The project's synthetic image fills its executable section with
the ASCII text ``SYNTHETIC NOCODE`` and reports v1.5.0, like the current G610 release. Anything else
is an *unknown* image: the model answers as v1.5.0 (what a G610 simulator should report, §2.7) and
records a note saying so.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

#: MCU VA range of the executable (RD EX) section in every known image (§2.6).
CODE_SECTION_VA = 0x00800000
CODE_SECTION_SIZE = 0x20000
#: MCU VA range of the writable data section (RD WR ZERO) in every known image (§2.6).
RW_SECTION = (0x02000000, 0x40000)
#: What the synthetic image's executable section is filled with (uio_driver/firmware/synthetic.py).
SYNTHETIC_CODE_MARK = b"SYNTHETIC NOCODE"
#: GLB_VERSION a G610 simulator reports when nothing better is known (§2.7).
DEFAULT_VERSION = 0x01050000


@dataclass(frozen=True)
class FirmwareRelease:
    """Facts about one firmware release the model can answer as.

    Attributes:
        name: short name (``"arm-arch10.8"``, ``"synthetic"``, ``"unknown"``).
        version: GLB_VERSION written at boot (major 31:24, minor 23:16, patch 15:0).
        shared_size: bytes of the shared section at 0x04000000.
        gpu_arch: ``(major, minor)`` of the GPU architecture the release is built for, or None.
        code_sha256: hash of the code section data, or None (synthetic/unknown).
        rw_section: ``(va, size)`` of the writable data section the model checks after a slow restart,
            or None when not known.
        version_verified: True when a published boot log shows the version (§2.7 [dmesg]).
    """

    name: str
    version: int
    shared_size: int
    gpu_arch: tuple[int, int] | None
    code_sha256: str | None
    rw_section: tuple[int, int] | None
    version_verified: bool

    @property
    def version_text(self) -> str:
        """As panthor logs it: ``"v1.5.0"``."""
        v = self.version
        return f"v{v >> 24 & 0xFF}.{v >> 16 & 0xFF}.{v & 0xFFFF}"


def _by_hash(*releases: FirmwareRelease) -> dict[str, FirmwareRelease]:
    return {r.code_sha256: r for r in releases if r.code_sha256 is not None}


#: Known Arm releases by the hash of their code section (computed from shared/firmware, see above).
KNOWN_RELEASES: dict[str, FirmwareRelease] = _by_hash(
    FirmwareRelease("arm-arch10.8", 0x01050000, 0x10000, (10, 8),
                    "d26030b62961cc183fc4b6de406824d2b5722d5bd57233ae140b1d98ae76b6ad", RW_SECTION, True),
    FirmwareRelease("arm-arch10.8-2024-05", 0x01010000, 0xC000, (10, 8),
                    "272bbaa01698585d22d0fa8157014b22ca9d4377a160bab4f11143d106ca3f52", RW_SECTION, True),
    FirmwareRelease("arm-arch11.8", 0x02080000, 0x10000, (11, 8),
                    "5a917bf558f502dd391e433ecc1cb7e69ba5df366dad301acb184e540ea19ab2", RW_SECTION, False),
    FirmwareRelease("arm-arch12.8", 0x030D0000, 0x10000, (12, 8),
                    "d5f938eabadf7afe6918369fc1381f1ccb2e2f1800fb9ccce6eabf222e4bb482", RW_SECTION, False),
    FirmwareRelease("arm-arch13.8", 0x030D0000, 0x10000, (13, 8),
                    "f8c7ace7f335e631d7cd7ac7b77063f4e6a33a6ab65a9239c44f1b824512358d", RW_SECTION, False),
)

SYNTHETIC_RELEASE = FirmwareRelease("synthetic", DEFAULT_VERSION, 0x10000, (10, 8), None, RW_SECTION, False)
UNKNOWN_RELEASE = FirmwareRelease("unknown", DEFAULT_VERSION, 0x10000, None, None, None, False)


def code_digest(code: bytes) -> str:
    """SHA-256 (hex) of a code section's contents with trailing zero bytes removed."""
    return hashlib.sha256(code.rstrip(b"\0")).hexdigest()


def identify(code: bytes) -> FirmwareRelease:
    """The release whose executable section holds ``code`` (the bytes read at 0x00800000).

    Returns:
        A known Arm release, :data:`SYNTHETIC_RELEASE`, or :data:`UNKNOWN_RELEASE`.
    """
    if code.startswith(SYNTHETIC_CODE_MARK):
        return SYNTHETIC_RELEASE
    return KNOWN_RELEASES.get(code_digest(code), UNKNOWN_RELEASE)
