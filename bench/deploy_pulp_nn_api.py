"""Check harx's kernel names and argument lists against a pulp-nn-mixed checkout (read, never copied).

For every kernel harx.deploy can generate (conv u2/u4/u8/i8 x u2/u4/u8 x i2/i4/i8, maxpool, avgpool and the
int32-output linear at each width), the prototype in the checkout's XpulpV2/32bit/include/pulp_nn_kernels.h
must exist with the same parameter types in the same order, and the library sources the GAP8 build compiles
(harx.deploy.kernel_c.library_sources) must exist. Parameter names are not compared (the header itself varies them).

    .venv/bin/python bench/deploy_pulp_nn_api.py PATH/TO/pulp-nn-mixed
"""

from __future__ import annotations

import itertools
import re
import sys
from pathlib import Path

from harx.cost import Kernel
from harx.deploy.kernel_c import library_sources, params
from harx.models.genome import BITS

_PROTO = re.compile(r"(?:void|uint8_t \*)\s+(pulp_nn_\w+)\s*\(([^)]*)\)\s*;")


def _types(params: str) -> list[str]:
    """Parameter types with whitespace normalised, names dropped: 'uint8_t * pIn' -> 'uint8_t*'."""
    out = []
    for p in params.split(","):
        p = re.sub(r"\s+", " ", p.strip())
        out.append(re.sub(r"\s*\*\s*", "*", re.sub(r"\s*\w+$", "", p)).strip())
    return out


def harx_kernels() -> list[Kernel]:
    ks = [Kernel("conv", i, o, w) for i, o, w in itertools.product(BITS, BITS, BITS)]
    ks += [Kernel("conv", 8, o, w, in_signed=True) for o, w in itertools.product(BITS, BITS)]
    ks += [Kernel("maxpool", b) for b in BITS] + [Kernel("avgpool", b, b) for b in BITS]
    ks += [Kernel("linear_i32", i, w_bits=w) for i, w in itertools.product(BITS, BITS)]
    return ks


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[-1].strip())
        return 2
    root = Path(sys.argv[1]) / "XpulpV2" / "32bit"
    header = root / "include" / "pulp_nn_kernels.h"
    protos: dict[str, list[str]] = {}
    for m in _PROTO.finditer(header.read_text()):
        protos.setdefault(m.group(1), _types(m.group(2)))
    problems = []
    kernels = harx_kernels()
    for k in kernels:
        mine = [re.sub(r"\s*\*", "*", t) for t, _ in params(k)]
        if protos.get(k.name) != mine:
            problems.append(f"{k.name}: harx {mine} vs header {protos.get(k.name)}")
        problems += [
            f"{k.name}: missing source {s}" for s in library_sources(k) if not (root / "src" / s).is_file()
        ]
    print(f"{len(kernels)} kernels checked against {header}: {len(problems)} problems")
    for p in problems:
        print("  " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
