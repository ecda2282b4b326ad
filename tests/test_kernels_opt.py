"""harx_opt.h against harx_ref.h, byte for byte, and both against the numpy integer model.

Random layers (fixed seeds) of every (input, output, weight) bit combination harx emits, with odd channel
counts, channel counts that leave remainder blocks, strides, dilations, kernels 1-7, padding, lengths from 1,
unaligned inputs, 2-D geometries, linear layers across the unpack chunk, max and average pools. Each case is
compiled into tests/csrc/opt_vs_ref.c, which runs both kernels and compares their outputs; the checksum it
prints of the reference output is compared here with the numpy integer model's where the model has the layer.
Weights reach the optimized kernel through harx.deploy.opt_layout and the reference through pack().
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from harx.deploy import opt_layout
from harx.quant.export import acc_bounds, requant_params
from harx.quant.integer import IntConv, IntGap, IntLinear, IntMaxPool
from harx.quant.layers import gap_params
from harx.quant.packing import pack

ROOT = Path(__file__).resolve().parents[1]
CSRC = ROOT / "harx" / "deploy" / "csrc"
HARNESS = ROOT / "tests" / "csrc" / "opt_vs_ref.c"
BITS = (2, 4, 8)
KINDS = {"conv": "OPT_CONV", "linear": "OPT_LINEAR", "maxpool": "OPT_MAXPOOL", "avgpool": "OPT_AVGPOOL"}
WARN = ["-std=c99", "-Wall", "-Wextra", "-Werror"]
RV32 = [
    "riscv64-unknown-elf-gcc",
    *WARN,
    "-O2",
    "-march=rv32imc",
    "-mabi=ilp32",
    "-ffreestanding",
    "-fno-builtin",
    "-fno-tree-loop-distribute-patterns",
    "-msmall-data-limit=0",
    "-nostdlib",
    "-static",
    "-Wl,--no-relax",
]
HAVE_CC = shutil.which(os.environ.get("CC", "cc")) is not None
HAVE_RV32 = all(shutil.which(t) for t in ("riscv64-unknown-elf-gcc", "qemu-riscv32"))
needs_cc = pytest.mark.skipif(not HAVE_CC, reason="needs a host C compiler")
needs_rv32 = pytest.mark.skipif(not HAVE_RV32, reason="needs riscv64-unknown-elf-gcc and qemu-riscv32")


@dataclass
class Case:
    """One kernel call: its integer arguments, arrays, and (where numpy has the layer) the expected output."""

    kind: str
    ints: list[int]
    inp: np.ndarray
    out_bytes: int
    w_ref: np.ndarray | None = None
    w_opt: np.ndarray | None = None
    kappa: np.ndarray | None = None
    lam: np.ndarray | None = None
    col_ref: int = 0
    col_opt: int = 0
    in_offset: int = 0
    expected: bytes | None = None
    label: str = ""
    extra: dict = field(default_factory=dict)


def _pack_hwc(codes: np.ndarray, bits: int) -> np.ndarray:
    """Pack (pixels, channels) codes per pixel along channels (each pixel starts on a byte)."""
    return np.concatenate([pack(row, bits) for row in codes]) if len(codes) else np.zeros(0, np.uint8)


def _acts(rng, shape, bits, signed):
    if signed:
        return rng.integers(-128, 128, size=shape)
    return rng.integers(0, 1 << bits, size=shape)


def conv_case(
    rng,
    in_bits,
    signed,
    out_bits,
    w_bits,
    cin,
    cout,
    k,
    stride=1,
    dil=1,
    length=16,
    *,
    axis="x",
    pads=None,
    k_y=1,
    in_y=1,
    in_offset=0,
):
    """A conv. 1-D ('same' padding by default, time along x or y) gets the numpy model's output; ``pads``
    (top, left) or ``k_y > 1`` make a geometry only the two C kernels are compared on."""
    span, span_y = dil * (k - 1), dil * (k_y - 1)
    in_x, in_rows = length, in_y
    if pads is None:  # harx's 'same' padding
        pad_t, pad_l = span_y // 2, span // 2
        out_x, out_y = (in_x - 1) // stride + 1, (in_rows - 1) // stride + 1
    else:  # the same padding on both sides
        pad_t, pad_l = pads
        out_x = max(1, (in_x + 2 * pad_l - span - 1) // stride + 1)
        out_y = max(1, (in_rows + 2 * pad_t - span_y - 1) // stride + 1)
    x = _acts(rng, (in_rows * in_x, cin), in_bits, signed)
    w = rng.integers(-(1 << (w_bits - 1)), 1 << (w_bits - 1), size=(cout, k_y * k, cin))
    lo, hi = acc_bounds(w, in_bits, signed)
    top = (1 << out_bits) - 1
    spread = np.sqrt(k * k_y * cin) * max(w.std(), 0.5) * (40.0 if signed else (2**in_bits - 1) / 3)
    m = rng.uniform(0.5, 1.5, cout) * top / (4 * spread)
    kappa, lam, shift = requant_params(m, rng.uniform(0, top / 2, cout), lo, hi)
    expected = None
    if pads is None and k_y == 1 and in_rows == 1:
        layer = IntConv(
            w, kappa, lam, shift, w_bits, in_bits, out_bits, stride, dil, pad_l, span - pad_l, signed
        )
        expected = _pack_hwc(layer.run(x[None])[0], out_bits).tobytes()
    dims = (in_x, in_rows, out_x, out_y, k, k_y, pad_t, pad_l, stride, stride, dil, dil)
    if axis == "y":  # time along H: swap x and y
        dims = (in_rows, in_x, out_y, out_x, k_y, k, pad_l, pad_t, stride, stride, dil, dil)
    ix, iy, ox, oy, kx, ky, pt, pl, sx, sy, dx, dy = dims
    ints = [
        ix,
        iy,
        cin,
        ox,
        oy,
        cout,
        kx,
        ky,
        pt,
        pl,
        sx,
        sy,
        dx,
        dy,
        in_bits,
        int(signed),
        out_bits,
        w_bits,
        shift,
    ]
    w4 = w.reshape(cout, k_y, k, cin)
    if axis == "y":
        w4 = w4.transpose(0, 2, 1, 3)
    return Case(
        "conv",
        ints,
        _pack_hwc(x, in_bits),
        ox * oy * cout * out_bits // 8,
        w_ref=pack(w4, w_bits),
        w_opt=opt_layout.conv_weights(w4, w_bits, in_bits, signed),
        kappa=kappa,
        lam=lam,
        col_ref=kx * ky * cin,
        col_opt=opt_layout.im2col_bytes(cin, kx * ky),
        in_offset=in_offset,
        expected=expected,
        label=f"conv {'i' if signed else 'u'}{in_bits}->u{out_bits} w{w_bits} {cin}->{cout} k{k}x{k_y} s{stride} "
        f"d{dil} L{length} {axis}",
    )


def linear_case(rng, in_bits, w_bits, dim, n_out, in_offset=0):
    x = _acts(rng, (1, dim), in_bits, False)
    w = rng.integers(-(1 << (w_bits - 1)), 1 << (w_bits - 1), size=(n_out, dim))
    bias = rng.integers(-(2**20), 2**20, size=n_out)
    layer = IntLinear(w, bias, w_bits, in_bits)
    expected = layer.run(x).astype("<i4").tobytes()
    return Case(
        "linear",
        [dim, n_out, in_bits, w_bits],
        pack(x[0], in_bits),
        4 * n_out,
        w_ref=pack(w, w_bits),
        w_opt=opt_layout.linear_weights(w, w_bits, in_bits),
        kappa=bias,
        in_offset=in_offset,
        expected=expected,
        label=f"linear u{in_bits} w{w_bits} {dim}->{n_out}",
    )


def maxpool_case(rng, bits, ch, length, pool, *, pads=0, in_offset=0):
    x = _acts(rng, (length, ch), bits, False)
    out_len = length // pool if pads == 0 else (length + 2 * pads - pool) // pool + 1
    expected = _pack_hwc(IntMaxPool(pool, bits).run(x[None])[0], bits).tobytes() if pads == 0 else None
    ints = [length, 1, ch, out_len, 1, pool, 1, 0, pads, pool, 1, bits]
    return Case(
        "maxpool",
        ints,
        _pack_hwc(x, bits),
        out_len * ch * bits // 8,
        in_offset=in_offset,
        expected=expected,
        label=f"maxpool u{bits} {ch}ch L{length} p{pool} pad{pads}",
    )


def avgpool_case(rng, bits, ch, length, *, window=None, in_offset=0):
    x = _acts(rng, (length, ch), bits, False)
    m, shift = gap_params(length, bits)
    k = length if window is None else window
    out_len = length // k
    expected = _pack_hwc(IntGap(m, shift, bits).run(x[None])[0], bits).tobytes() if window is None else None
    ints = [m * k, shift, 0, length, 1, ch, out_len, 1, k, 1, 0, 0, k, 1, bits]
    return Case(
        "avgpool",
        ints,
        _pack_hwc(x, bits),
        out_len * ch * bits // 8,
        in_offset=in_offset,
        expected=expected,
        label=f"avgpool u{bits} {ch}ch L{length} k{k}",
    )


def _channels(rng, bits_list, lo, hi, odd_ok):
    step = max(8 // b for b in bits_list)
    c = int(rng.integers(lo, hi + 1))
    c = max(step, c - c % step)
    return c + 1 if odd_ok and c % 2 == 0 and rng.random() < 0.5 else c


def every_combination_cases(seed=1):
    """One or two random convs per (input, output, weight) combination, and the geometry corners."""
    rng = np.random.default_rng(seed)
    cases = []
    inputs = [(8, True)] + [(b, False) for b in BITS]
    for in_bits, signed in inputs:
        for out_bits in BITS:
            for w_bits in BITS:
                for _ in range(2):
                    cin = _channels(rng, [w_bits, in_bits], 1, 40, in_bits == 8 and w_bits == 8)
                    cout = _channels(rng, [out_bits], 1, 40, out_bits == 8)
                    k = int(rng.choice([1, 3, 5, 7]))
                    cases.append(
                        conv_case(
                            rng,
                            in_bits,
                            signed,
                            out_bits,
                            w_bits,
                            cin,
                            cout,
                            k,
                            int(rng.integers(1, 3)),
                            int(rng.integers(1, 3)),
                            int(rng.choice([1, 2, 5, 13, 31, 64])),
                        )
                    )
    # The networks' layers, a remainder block of every family, odd and tiny lengths.
    cases += [
        conv_case(rng, 8, True, 8, 8, 9, 32, 5, length=128),
        conv_case(rng, 4, False, 4, 4, 32, 32, 5, length=128),
        conv_case(rng, 2, False, 2, 2, 32, 32, 5, length=37),
        conv_case(rng, 2, False, 8, 2, 32, 21, 3, length=9),  # L8 block + S block + 1 single
        conv_case(rng, 4, False, 8, 4, 6, 15, 3, length=7),  # cin % 4 == 2: runs start mid-group
        conv_case(rng, 8, False, 4, 4, 2, 14, 3, length=3),  # taps % 4 == 2 with the L16 tail
        conv_case(rng, 8, False, 8, 8, 3, 7, 1, length=1),
        conv_case(rng, 8, True, 2, 8, 5, 4, 7, 2, 2, length=6),
        conv_case(rng, 8, False, 8, 2, 4, 9, 5, 1, 3, length=11),
    ]
    return cases


def geometry_cases(seed=2):
    """Time along H, true 2-D, unusual padding and unaligned inputs (reference vs optimized only)."""
    rng = np.random.default_rng(seed)
    return [
        conv_case(rng, 4, False, 4, 4, 8, 16, 5, 2, 1, 23, axis="y"),
        conv_case(rng, 2, False, 2, 2, 16, 16, 3, 1, 2, 19, axis="y"),
        conv_case(rng, 8, True, 8, 8, 3, 5, 3, 1, 1, 9, k_y=3, in_y=5),
        conv_case(rng, 2, False, 4, 2, 4, 8, 3, 2, 1, 10, k_y=2, in_y=4, pads=(1, 1)),
        conv_case(rng, 4, False, 8, 8, 6, 8, 3, 1, 1, 12, pads=(0, 0)),  # 'valid': no padding
        conv_case(rng, 8, False, 8, 4, 12, 8, 5, 1, 1, 8, pads=(0, 4)),  # pad larger than the kernel reach
        conv_case(rng, 8, False, 2, 8, 9, 12, 3, length=10, in_offset=1),
        conv_case(rng, 4, False, 8, 4, 8, 8, 3, length=10, in_offset=1),
        conv_case(rng, 2, False, 2, 2, 16, 16, 3, length=10, in_offset=2),
        conv_case(rng, 2, False, 8, 4, 16, 8, 5, length=10, in_offset=3),
    ]


def linear_cases(seed=3):
    rng = np.random.default_rng(seed)
    cases = [linear_case(rng, i, w, d, n) for i in BITS for w in BITS for d, n in ((32, 6), (48, 21))]
    cases += [
        linear_case(rng, 8, 8, 301, 5),  # across the unpack chunk, odd
        linear_case(rng, 2, 2, 600, 40),
        linear_case(rng, 4, 4, 520, 16, in_offset=1),
        linear_case(rng, 8, 4, 1030, 9),  # L16 with 16-tap drains over several chunks
        linear_case(rng, 2, 2, 8000, 16),  # beyond L8's 16-bit middle level: L16
        linear_case(rng, 4, 8, 4, 1),
    ]
    return cases


def pool_cases(seed=4):
    rng = np.random.default_rng(seed)
    cases = [maxpool_case(rng, b, c, n, p) for b in BITS for c, n, p in ((16, 64, 2), (32, 33, 3), (8, 9, 4))]
    cases += [
        maxpool_case(rng, 8, 5, 17, 2),
        maxpool_case(rng, 4, 6, 12, 3, pads=1),
        maxpool_case(rng, 2, 16, 20, 2, in_offset=1),
    ]
    cases += [avgpool_case(rng, b, c, n) for b in BITS for c, n in ((32, 128), (16, 5), (12, 300))]
    cases += [
        avgpool_case(rng, 8, 7, 16),
        avgpool_case(rng, 4, 8, 12, window=4),
        avgpool_case(rng, 2, 32, 64, in_offset=1),
        avgpool_case(rng, 8, 4, 1000),
    ]
    return cases


def big_sweep_cases(seed=5, n=400):
    """Many random convs: every combination, wide channel and kernel ranges (slow)."""
    rng = np.random.default_rng(seed)
    inputs = [(8, True)] + [(b, False) for b in BITS]
    cases = []
    for _ in range(n):
        in_bits, signed = inputs[int(rng.integers(0, 4))]
        out_bits, w_bits = int(rng.choice(BITS)), int(rng.choice(BITS))
        cin = _channels(rng, [w_bits, in_bits], 1, 96, in_bits == 8 and w_bits == 8)
        cout = _channels(rng, [out_bits], 1, 72, out_bits == 8)
        cases.append(
            conv_case(
                rng,
                in_bits,
                signed,
                out_bits,
                w_bits,
                cin,
                cout,
                int(rng.integers(1, 10)),
                int(rng.integers(1, 5)),
                int(rng.integers(1, 4)),
                int(rng.integers(1, 70)),
                in_offset=int(rng.integers(0, 4)) if rng.random() < 0.2 else 0,
            )
        )
    return cases


# ---- the C program -----------------------------------------------------------------------------------------


def _c_bytes(name: str, data: np.ndarray, const: bool = True) -> str:
    body = ",".join(str(int(v)) for v in np.asarray(data, dtype=np.uint8)) or "0"
    q = "const " if const else ""
    return f"static {q}uint8_t {name}[{max(len(data), 1)}] __attribute__((aligned(4))) = {{{body}}};"


def _c_int32(name: str, data: np.ndarray) -> str:
    body = ",".join(f"(int32_t){int(v)}" for v in data)
    return f"static const int32_t {name}[{len(data)}] = {{{body}}};"


def cases_header(cases: list[Case]) -> str:
    lines, entries = [], []
    for i, c in enumerate(cases):
        p = f"c{i}_"
        lines.append(_c_bytes(p + "in", np.concatenate([np.zeros(c.in_offset, np.uint8), c.inp])))
        ptr = {"in": f"{p}in + {c.in_offset}"}
        for name in ("w_ref", "w_opt"):
            arr = getattr(c, name)
            ptr[name] = "NULL"
            if arr is not None:
                lines.append(_c_bytes(p + name, arr))
                ptr[name] = p + name
        for name in ("kappa", "lam"):
            arr = getattr(c, name)
            ptr[name] = "NULL"
            if arr is not None:
                lines.append(_c_int32(p + name, arr))
                ptr[name] = p + name
        for name, size in (("col_ref", c.col_ref), ("col_opt", c.col_opt)):
            ptr[name] = "NULL"
            if size:
                lines.append(f"static uint8_t {p}{name}[{size}] __attribute__((aligned(4)));")
                ptr[name] = p + name
        for name in ("out_ref", "out_opt"):
            lines.append(f"static uint8_t {p}{name}[{c.out_bytes}] __attribute__((aligned(4)));")
        ints = ",".join(str(v) for v in c.ints)
        entries.append(
            f"    {{{KINDS[c.kind]}, {{{ints}}}, {ptr['in']}, {ptr['w_ref']}, {ptr['w_opt']}, {ptr['kappa']}, "
            f"{ptr['lam']}, {ptr['col_ref']}, {ptr['col_opt']}, {p}out_ref, {p}out_opt, {c.out_bytes}u}},"
        )
    return (
        "/* opt_cases.h: generated by tests/test_kernels_opt.py */\n"
        + "\n".join(lines)
        + f"\n#define OPT_N_CASES {len(cases)}u\nstatic const struct opt_case opt_cases[] = {{\n"
        + "\n".join(entries)
        + "\n};\n"
    )


def run_harness(cases: list[Case], build: str, tmp: Path) -> list[str]:
    """Build the harness with ``cases`` for host, asan or rv32, run it, return its output lines."""
    (tmp / "opt_cases.h").write_text(cases_header(cases))
    includes = [f"-I{tmp}", f"-I{CSRC}"]
    sources = [str(HARNESS), str(CSRC / "harx_io.c")]
    exe = tmp / f"opt_vs_ref_{build}"
    if build == "rv32":
        cmd = [*RV32, *includes, *sources, str(CSRC / "platform_rv32.c"), "-lgcc", "-o", str(exe)]
        runner = ["qemu-riscv32", str(exe)]
    else:
        flags = (
            ["-O2"]
            if build == "host"
            else [
                "-O1",
                "-g",
                "-fsanitize=address,undefined",
                "-fno-sanitize-recover=all",
                "-fno-omit-frame-pointer",
            ]
        )
        cmd = [
            os.environ.get("CC", "cc"),
            *WARN,
            *flags,
            *includes,
            *sources,
            str(CSRC / "platform_host.c"),
            "-o",
            str(exe),
        ]
        runner = [str(exe)]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    done = subprocess.run(runner, capture_output=True, text=True, timeout=600)
    lines = done.stdout.splitlines()
    assert lines and lines[-1].startswith("mismatches"), (
        f"harness stopped early:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
    )
    return lines


def fnv1a(data: bytes) -> int:
    h = 2166136261
    for b in data:
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


def check(cases: list[Case], build: str, tmp: Path) -> None:
    lines = run_harness(cases, build, tmp)
    verdicts = [m for m in map(re.compile(r"case (\d+) (ok (\d+)|MISMATCH.*)").fullmatch, lines) if m]
    assert len(verdicts) == len(cases)
    bad = [f"{cases[int(m.group(1))].label}: {m.group(2)}" for m in verdicts if m.group(3) is None]
    assert not bad, "optimized kernel differs from the reference:\n" + "\n".join(bad)
    golden = [
        cases[int(m.group(1))].label
        for m in verdicts
        if cases[int(m.group(1))].expected is not None
        and int(m.group(3)) != fnv1a(cases[int(m.group(1))].expected)
    ]
    assert not golden, "reference output differs from the numpy integer model:\n" + "\n".join(golden)
    assert lines[-1] == "mismatches 0"


def default_cases() -> list[Case]:
    return every_combination_cases() + geometry_cases() + linear_cases() + pool_cases()


# ---- tests -------------------------------------------------------------------------------------------------


@needs_cc
def test_opt_matches_ref_on_the_host(tmp_path):
    check(default_cases(), "host", tmp_path)


@needs_cc
def test_opt_matches_ref_under_sanitizers(tmp_path):
    check(default_cases(), "asan", tmp_path)


@pytest.mark.toolchain
@needs_rv32
def test_opt_matches_ref_on_rv32(tmp_path):
    check(default_cases(), "rv32", tmp_path)


@pytest.mark.slow
@needs_cc
def test_opt_matches_ref_on_a_big_sweep_under_sanitizers(tmp_path):
    check(big_sweep_cases(), "asan", tmp_path)


@pytest.mark.slow
@pytest.mark.toolchain
@needs_rv32
def test_opt_matches_ref_on_a_big_sweep_on_rv32(tmp_path):
    check(big_sweep_cases(seed=6, n=200), "rv32", tmp_path)


@needs_cc
def test_a_wrong_weight_layout_is_caught(tmp_path):
    """The harness can fail: the reference packing fed to the optimized kernel of a lane layer differs."""
    case = conv_case(np.random.default_rng(7), 4, False, 8, 4, 8, 8, 3, length=8)
    case.w_opt = case.w_ref
    with pytest.raises(AssertionError, match="differs from the reference"):
        check([case], "host", tmp_path)


def test_layout_keeps_the_reference_byte_count():
    rng = np.random.default_rng(8)
    for in_bits, signed in [(8, True), (8, False), (4, False), (2, False)]:
        for w_bits in BITS:
            cin = 8 if in_bits != 8 or w_bits != 8 else 9
            for cout in (1, 4, 7, 8, 13, 16, 21, 33):
                w = rng.integers(-(1 << (w_bits - 1)), 1 << (w_bits - 1), size=(cout, 3, cin))
                got = opt_layout.conv_weights(w, w_bits, in_bits, signed)
                assert got.dtype == np.uint8 and len(got) == len(pack(w, w_bits))


def test_run_order_is_a_permutation_matching_the_swar_unpack():
    for bits in BITS:
        for n in (4, 8, 12, 16, 20, 36, 64, 100):
            if n % (8 // bits):
                continue
            order = opt_layout.run_order(n, bits)
            assert sorted(order.tolist()) == list(range(n))
    assert opt_layout.run_order(8, 4).tolist() == [0, 2, 4, 6, 1, 3, 5, 7]
    assert opt_layout.run_order(16, 2)[:8].tolist() == [0, 4, 8, 12, 1, 5, 9, 13]
    assert opt_layout.run_order(12, 4).tolist() == [0, 2, 4, 6, 1, 3, 5, 7, 8, 9, 10, 11]  # a tail byte pair


def test_lane_bound_is_proved_for_every_family():
    """No lane can carry: drain_taps products of the largest codes fit the lane, one more group may not."""
    for in_bits, signed in [(8, True), (8, False), (4, False), (2, False)]:
        for w_bits in BITS:
            plan = opt_layout.lane_plan(in_bits, signed, w_bits, 160)
            if plan.family == "S":
                assert plan.drain_taps == 0 and (signed or in_bits == w_bits == 8)
                continue
            lane_max = (1 << plan.lane_bits) - 1
            assert opt_layout.max_lane_sum(plan) <= lane_max
            assert (plan.drain_taps + 4) * opt_layout.product_max(in_bits, w_bits) > lane_max
            assert plan.drain_taps % 4 == 0 and plan.drain_taps >= 4
    assert opt_layout.lane_plan(2, False, 2, 160).family == "L8"
    assert opt_layout.lane_plan(2, False, 2, 8000).family == "L16"  # 16-bit middle level would overflow
    assert opt_layout.lane_plan(4, False, 4, 160).drain_taps == 288
    assert opt_layout.lane_plan(8, False, 4, 160).drain_taps == 16


def test_layout_refuses_what_it_cannot_run_exactly():
    with pytest.raises(ValueError, match=r"conv 6->4 channels, k=3, w2.*multiple of 4"):
        opt_layout.conv_weights(np.zeros((4, 3, 6), int), 2, 8, False)
    with pytest.raises(ValueError, match="signed 4-bit range"):
        opt_layout.conv_weights(np.full((4, 3, 8), 9), 4, 8, False)
    with pytest.raises(ValueError, match="signed input must be 8-bit"):
        opt_layout.lane_plan(4, True, 4, 16)
    with pytest.raises(ValueError, match="overflow int32"):
        opt_layout.lane_plan(8, True, 8, 200_000, "conv x")


@needs_cc
def test_c_and_python_lane_plans_agree(tmp_path):
    """harx_opt_family, harx_opt_drain_taps, harx_opt_block_channels and HARX_OPT_IM2COL_BYTES in C give
    opt_layout's family, drain interval, block and im2col size."""
    grid = [
        (i, s, w, t) for i, s in [(8, 1), (8, 0), (4, 0), (2, 0)] for w in BITS for t in (1, 160, 7281, 7282)
    ]
    lines = [
        f'    f = harx_opt_family({i}, {s}, {w}, {t}u);\n    printf("%d %u %u\\n", f, harx_opt_drain_taps(f, {i}, {w}), '
        f"harx_opt_block_channels(f));"
        for i, s, w, t in grid
    ]
    shapes = [(9, 5, 1), (32, 5, 1), (6, 3, 2), (1, 1, 1)]
    lines += [f'    printf("%u\\n", HARX_OPT_IM2COL_BYTES({c}, {kx}, {ky}));' for c, kx, ky in shapes]
    src = tmp_path / "plans.c"
    src.write_text(
        '#include <stdio.h>\n#include "harx_opt.h"\nint main(void)\n{\n    int f;\n'
        + "\n".join(lines)
        + "\n    return 0;\n}\n"
    )
    exe = tmp_path / "plans"
    subprocess.run(
        [os.environ.get("CC", "cc"), *WARN, "-O2", f"-I{CSRC}", str(src), "-o", str(exe)], check=True
    )
    got = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.splitlines()
    families = {"S": 0, "L16": 1, "L8": 2}
    want = [
        f"{families[p.family]} {p.drain_taps} {p.block_channels}"
        for p in (opt_layout.lane_plan(i, bool(s), w, t) for i, s, w, t in grid)
    ]
    want += [str(opt_layout.im2col_bytes(c, kx * ky)) for c, kx, ky in shapes]
    assert got == want
