"""Run a command stream that stores a value, with the Python layer (simulated GPU by default).

python docs/examples/store_value.py [--backend sim|uio|auto]
"""

from __future__ import annotations

import argparse
import struct

import uio_driver
from uio_driver.api import Submit
from uio_driver.csf import CsBuilder

CODE_VA, RESULT_VA = 0x1000000, 0x2000000


def main(backend: str = "sim") -> int:
    with uio_driver.open(backend=backend) as dev:
        print(f"GPU {dev.gpu_info().gpu_id:#010x}, {dev.csif_info().csg_slot_count} CSG slots")
        vm = dev.vm_create()
        code, result = dev.bo_create(4096), dev.bo_create(4096)
        vm.map(code, CODE_VA)
        vm.map(result, RESULT_VA, flags="noexec")

        # MOVE48 d68 = RESULT_VA; MOVE32 r70 = value; STORE_MULTIPLE [d68] <- r70; make it visible
        stream = CsBuilder()
        stream.move48(68, RESULT_VA).move32(70, 0xDEADBEEF).store_multiple(68, 70, 0x1).wait(0xFF)
        stream.move32(70, 0).flush_cache2(70, signal_slot=1).wait(0xFF)
        text = stream.to_bytes()
        code.mmap()[: len(text)] = text

        done = dev.syncobj_create()
        group = dev.group_create(vm)
        group.submit([Submit(queue=0, stream_addr=CODE_VA, stream_size=len(text), signal=[done])])
        done.wait(timeout=1.0)

        value = struct.unpack("<I", result.mmap()[:4])[0]
        print(f"stored {value:#x}, group state {group.state()}")
        return 0 if value == 0xDEADBEEF else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", default="sim")
    raise SystemExit(main(parser.parse_args().backend))
