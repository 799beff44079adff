#!/usr/bin/env python3
"""Write the synthetic CSF firmware image (mali-uio's stand-in for mali_csffw.bin) to a file.

Usage: python firmware/build_synthetic.py OUT [--version-hash 0x01050000]

The image is built by uio_driver.firmware.synthetic.build_synthetic_image and checked with the
project's parser before it is written. See firmware/README.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from uio_driver.errors import MaliError  # noqa: E402
from uio_driver.firmware.container import parse_firmware  # noqa: E402
from uio_driver.firmware.synthetic import SYNTHETIC_VERSION_HASH, build_synthetic_image  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="write the synthetic CSF firmware image")
    parser.add_argument("out", metavar="OUT", help="output file (e.g. out/mali_csffw.bin)")
    parser.add_argument("--version-hash", type=lambda t: int(t, 0), default=SYNTHETIC_VERSION_HASH,
                        help="header version_hash = interface version (default 0x01050000, v1.5.0)")
    args = parser.parse_args(argv)
    try:
        data = build_synthetic_image(version_hash=args.version_hash)
        image = parse_firmware(data)
        Path(args.out).write_bytes(data)
    except MaliError as err:
        print(f"build_synthetic: error: {err}", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"build_synthetic: error: cannot write {args.out}: {err.strerror or err}", file=sys.stderr)
        return 1
    print(f"wrote {args.out}: {len(data)} bytes, interface {image.interface_version}, "
          f"{len(image.sections)} sections, git sha {image.git_sha}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
