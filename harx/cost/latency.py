"""Latency models: for each layer, count the events on the critical path of its kernel's loop structure.

A kernel model turns a layer, lowered to its kernel and geometry (``harx.cost.lowering``), into a count per
event name. The target YAML's ``coefficients`` give the instructions each event costs, so

    cycles = cycles_per_instruction * sum(coefficient[name] * count[name])

and fitting a target to measurements rewrites only its YAML coefficients (``instruction_terms`` exposes the
counts a fit regresses on). Two models exist:

- ``pulp_nn_cluster``: PULP-NN-mixed kernels (XpulpV2) on a multi-core cluster fed by DMA (gap8), with
  harx's reference conv on core 0 for the dilated convs pulp-nn-mixed lacks;
- ``portable_c``: the portable C kernels that ``harx deploy`` generates, on one core (rv32): harx's
  reference kernels (``instruction_terms``) and, for the ``opt`` kernel set, its optimized kernels
  (``opt_instruction_terms``, events prefixed ``opt_``, their own coefficients).

Adding a target with one of these kernel structures needs only a YAML file; a new structure needs one
function here and a ``KernelModel`` entry.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harx.cost.opt_kernels import LINEAR_CHUNK, PIXELS, layer_plan
from harx.cost.target import Target
from harx.models.genome import LayerSpec

if (
    TYPE_CHECKING
):  # lowering picks gap8's conv geometry with these counts and memory lowers, so both import this
    from harx.cost.lowering import Lowered
    from harx.cost.memory import LayerMemory

# The event names a conv's ``instruction_terms`` can produce. A target whose C runs harx's reference conv
# next to library kernels (gap8's dilated convs) prices them with these names prefixed by REF_PREFIX.
REF_CONV_TERMS = (
    "pixel",
    "tap",
    *(f"{p}{b}" for p in ("im2col_elem_b", "mac_w", "conv_out_b") for b in (8, 4, 2)),
    "layer",
)
REF_PREFIX = "ref_"
# The events of harx's optimized kernels (and their coefficients) carry this prefix.
OPT_PREFIX = "opt_"


def cycles(counts: dict[str, int], target: Target) -> float:
    """Cycles for a set of event counts on ``target``."""
    coef = target.coefficients
    return target.cycles_per_instruction * sum(coef[name] * n for name, n in counts.items())


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def maxpool_rows(rows: int, cores: int) -> int:
    """Rows the busiest core gets in pulp_nn_maxpool: ``(rows >> log2 n) + (rows % cores != 0)`` with
    n = min(rows, cores) and log2 the index of the leading one bit (``__builtin_pulp_fl1``). It differs
    from ceil(rows / cores) when rows < cores (5 rows: 2, 2, 1 on three cores)."""
    n = min(rows, cores)
    return min((rows >> (n.bit_length() - 1)) + (rows % cores != 0), rows)


# ---------------------------------------------------------------------------------------------------------
# pulp_nn_cluster: PULP-NN-mixed on an XpulpV2 cluster (loop structure of pulp-platform/pulp-nn-mixed,
# XpulpV2/32bit: pulp_nn_conv_*, pulp_nn_matmul_*, pulp_nn_maxpool_*, pulp_nn_linear_*_i32_*).
# ---------------------------------------------------------------------------------------------------------


def _dot_1x1(counts: Counter, n: int, kc: int, w_bits: int, target: Target) -> None:
    """``n`` (pixel, channel) dot products on the conv kernel's leftover path: one weight word unpacked and
    32/w_bits activations read as words of four 8-bit lanes per iteration, scalar tail."""
    per_word = target.word_bits // w_bits
    iters, tail = divmod(kc, per_word)
    lanes = per_word // target.simd_lanes
    counts["act_word"] += n * iters * lanes
    counts[f"unpack_word_b{w_bits}"] += n * iters
    counts["sdotp"] += n * iters * lanes
    counts["tail_mac"] += n * tail
    counts["block"] += n
    counts["requant"] += n


def _conv_pair(counts: Counter, pairs: int, kc: int, cout: int, w_bits: int, target: Target) -> None:
    """``pairs`` calls of pulp_nn_matmul: 4x2 (channels x pixels) blocks, then 1x2 for leftover channels."""
    per_word = target.word_bits // w_bits
    iters, tail = divmod(kc, per_word)
    lanes = per_word // target.simd_lanes
    channels = int(target.structure["matmul_channels"])
    blocks, left = divmod(cout, channels)
    for n_blocks, width in ((pairs * blocks, channels), (pairs * left, 1)):
        counts["act_word"] += n_blocks * iters * 2 * lanes
        counts[f"unpack_word_b{w_bits}"] += n_blocks * iters * width
        counts["sdotp"] += n_blocks * iters * width * 2 * lanes
        counts["tail_mac"] += n_blocks * tail * width * 2
        counts["block"] += n_blocks
    counts["requant"] += pairs * 2 * cout


def _im2col(counts: Counter, pixels: int, calls_per_pixel: int, kc: int, in_bits: int) -> None:
    counts["pixel"] += pixels
    counts["im2col_call"] += pixels * calls_per_pixel
    counts[f"im2col_byte_b{in_bits}"] += pixels * kc


def pulp_conv_time_on_h(layer: LayerSpec, target: Target) -> Counter:
    """The 1-D signal as H=L, W=1: output rows split over all cores; with one pixel per row every pixel
    takes the kernel's leftover path (one pixel, one channel at a time), one im2col call per kernel tap."""
    counts: Counter = Counter()
    kc = layer.kernel * layer.cin
    pixels = ceil_div(layer.lout, target.cores)
    _im2col(counts, pixels, layer.kernel, kc, layer.in_bits)
    _dot_1x1(counts, pixels * layer.cout, kc, layer.w_bits, target)
    return counts


def pulp_conv_time_on_w(layer: LayerSpec, target: Target) -> Counter:
    """The 1-D signal as H=1, W=L: one row cannot be split over cores, so the kernel splits W in two halves
    (two busy cores); pixel pairs go through the 4x2 matmul, an odd last pixel through the leftover path;
    interior pixels fill im2col in one call (border pixels' per-tap calls are not told apart)."""
    counts: Counter = Counter()
    kc = layer.kernel * layer.cin
    halves = 2 if target.cores > 1 and layer.lout > 1 else 1
    pixels = ceil_div(layer.lout, halves)
    pairs, single = divmod(pixels, int(target.structure["im2col_pixels_per_core"]))
    _im2col(counts, pixels, 1, kc, layer.in_bits)
    _conv_pair(counts, pairs, kc, layer.cout, layer.w_bits, target)
    _dot_1x1(counts, single * layer.cout, kc, layer.w_bits, target)
    return counts


def _pulp_maxpool(layer: LayerSpec, target: Target) -> Counter:
    """pulp_nn_maxpool with time on H (rows split over cores; on W a single core would do all the work):
    a W pass copying each input row onto itself, then per output row a copy and (pool-1) compare passes."""
    counts: Counter = Counter()
    row_bytes = layer.cin * layer.in_bits // 8
    rows_in = maxpool_rows(layer.lin, target.cores)
    rows_out = maxpool_rows(layer.lout, target.cores)
    counts["pool_copy_byte"] += (rows_in + rows_out) * row_bytes
    counts["pool_call"] += rows_out * (layer.kernel - 1)
    counts[f"pool_byte_b{layer.in_bits}"] += rows_out * (layer.kernel - 1) * row_bytes
    return counts


def _pulp_avgpool(layer: LayerSpec) -> Counter:
    """pulp_nn_avgpool_u<b>_u<b> as harx calls it for the global average pool (kernel = the whole length,
    one output pixel): the kernel splits output rows over cores, so its single row runs on one core, which
    reads every code of every channel and requantizes each channel."""
    counts: Counter = Counter()
    counts[f"gap_elem_b{layer.in_bits}"] += layer.in_elems
    counts["gap_out"] += layer.cin
    return counts


def _pulp_linear(layer: LayerSpec, target: Target) -> Counter:
    """pulp_nn_linear_<in>_i32_<w>: output neurons split over cores, two neurons per iteration; each
    iteration unpacks one word of the narrower operand's width for activations and both neurons' weights."""
    counts: Counter = Counter()
    neurons = ceil_div(layer.cout, target.cores)
    pairs, single = divmod(neurons, 2)
    word = target.word_bits
    step = word // min(layer.in_bits, layer.w_bits)
    iters, tail = divmod(layer.cin, step)
    for n, width in ((pairs, 2), (single, 1)):
        counts[f"unpack_word_b{layer.in_bits}"] += n * iters * step * layer.in_bits // word
        counts[f"unpack_word_b{layer.w_bits}"] += n * iters * width * step * layer.w_bits // word
        counts["sdotp"] += n * iters * width * step // target.simd_lanes
        counts["tail_mac"] += n * tail * width
    counts["linear_neuron"] += neurons
    return counts


def _dma(counts: Counter, layer_mem: LayerMemory) -> None:
    """harx_stage per read-only array of the layer (weights, kappa, lambda, bias): core 0 programs a cluster
    DMA L2 -> L1 and waits, the other cores wait at a barrier (no double buffering)."""
    transfers = sum(
        1
        for b in (layer_mem.weight_bytes, layer_mem.kappa_bytes, layer_mem.lambda_bytes, layer_mem.bias_bytes)
        if b
    )
    if transfers:
        counts["dma_transfer"] += transfers
        counts["dma_byte"] += layer_mem.staged_bytes
        counts["barrier"] += transfers


# Barriers per kernel call in the generated C: every pulp-nn-mixed kernel ends with one (max-pool also has
# one between its two passes) and harx's HARX_KERNEL macro adds one after the call; a harx-only kernel runs
# on core 0 under HARX_REF_KERNEL, whose one barrier holds the other cores.
_LIBRARY_BARRIERS = {"conv": 2, "maxpool": 3, "gap": 2, "linear": 2}
_CORE0_BARRIERS = 1


def pulp_nn_cluster_terms(
    layer: LayerSpec, lowered: Lowered, layer_mem: LayerMemory, target: Target
) -> Counter:
    """The event counts on the busiest core of the kernel gap8's C calls for ``layer`` (built with
    PULP_NN_MIXED=1) in its lowered geometry, including the staging of its read-only arrays."""
    if lowered.core0:
        counts = Counter({f"{REF_PREFIX}{name}": n for name, n in instruction_terms(layer).items()})
    elif layer.kind == "conv":
        on_axis = pulp_conv_time_on_h if lowered.time_axis == "H" else pulp_conv_time_on_w
        counts = on_axis(layer, target)
    elif layer.kind == "maxpool":
        counts = _pulp_maxpool(layer, target)
    elif layer.kind == "gap":
        counts = _pulp_avgpool(layer)
    else:
        counts = _pulp_linear(layer, target)
    counts["barrier"] += _CORE0_BARRIERS if lowered.core0 else _LIBRARY_BARRIERS[layer.kind]
    if target.stages_weights:
        _dma(counts, layer_mem)
    return counts


# ---------------------------------------------------------------------------------------------------------
# portable_c: harx's reference C kernels on one in-order core (instruction counts by term).
# ---------------------------------------------------------------------------------------------------------


def instruction_terms(layer: LayerSpec) -> dict[str, int]:
    """Event counts of the portable C kernel of ``layer`` (what ``bench/fit_rv32.py`` regresses on).

    conv: per output pixel fill im2col (per kernel tap a bounds test and an unpack or zero-fill call, then
    k*cin values unpacked to 8 bit, zeros for padding), then per output channel a dot product with
    on-the-fly weight unpacking, requant, clip and pack.
    maxpool/gap: loops over codes. linear: dot products over packed codes and packed weights.
    """
    if layer.kind == "conv":
        return {
            "pixel": layer.lout,
            "tap": layer.lout * layer.kernel,
            f"im2col_elem_b{layer.in_bits}": layer.lout * layer.kernel * layer.cin,
            f"mac_w{layer.w_bits}": layer.macs,
            f"conv_out_b{layer.out_bits}": layer.out_elems,
            "layer": 1,
        }
    if layer.kind == "maxpool":
        return {
            f"pool_elem_b{layer.in_bits}": layer.out_elems * layer.kernel,
            f"pool_out_b{layer.in_bits}": layer.out_elems,
            "layer": 1,
        }
    if layer.kind == "gap":
        return {f"gap_elem_b{layer.in_bits}": layer.in_elems, "gap_out": layer.cout, "layer": 1}
    return {
        f"linear_mac_w{layer.w_bits}": layer.macs,
        f"linear_act_b{layer.in_bits}": layer.macs,
        "linear_out": layer.cout,
        "layer": 1,
    }


# ---------------------------------------------------------------------------------------------------------
# portable_c, kernel set opt: harx's optimized kernels (csrc/harx_opt.h), their loops followed event by
# event. The events are those whose costs differ; everything a loop does once per event is its coefficient.
# ---------------------------------------------------------------------------------------------------------

# The events opt_instruction_terms can produce (without OPT_PREFIX).
OPT_TERMS = (
    "layer",
    # conv: 4-pixel groups, their im2col, channel blocks, drains, requant and store
    "col_pixel",
    "col_kx",
    "col_zero",
    "col_w8",
    "col_w8s",
    "col_t8",
    *(f"col_{kind}{b}" for kind in ("c", "uc", "tb") for b in (4, 2)),
    *(f"tap_{fam}_w{w}" for fam in ("s", "l16", "s1") for w in (8, 4, 2)),
    "tap_l8",
    "block_s",
    "drain_l16",
    "drain_l8",
    "l8_values",
    *(f"out_b{b}" for b in (8, 4, 2)),
    "out_tail",
    # linear: input chunks, blocks of classes, remainder rows
    "lin_out",
    *(f"lin_code_b{b}" for b in (8, 4, 2)),
    *(f"lin_tap_{fam}_w{w}" for fam in ("s", "l16", "s1") for w in (8, 4, 2)),
    "lin_tap_l8",
    "lin_drain",
    "lin_block",
    "lin_row",
    # max pool: per output pixel, per word (or byte) of its codes, per tap
    "pool_px",
    "pool_unit",
    "pool_tap",
    # global average pool of whole-word pixels: words of codes in 16-bit lanes (else the reference's terms)
    *(f"gap_px_b{b}" for b in (8, 4, 2)),
    "gap_ch",
)


def _opt_unpack(c: Counter, n: int, bits: int, aligned: bool, want_sum: bool) -> None:
    """harx_opt_unpack_run of ``n`` codes into the conv's im2col: 8-bit codes 4 at a time (a word, or 4
    bytes when unaligned) and the rest one by one; sub-byte codes a 4-byte chunk at a time (a word when
    aligned, else byte by byte) and the bytes after the last chunk one by one."""
    if bits == 8:
        c["col_w8s" if want_sum else "col_w8"] += n // 4
        c["col_t8"] += n % 4
        return
    n_bytes = n * bits // 8
    c[f"col_{'c' if aligned else 'uc'}{bits}"] += n_bytes // 4
    c[f"col_tb{bits}"] += n_bytes % 4


def _opt_im2col(c: Counter, layer: LayerSpec, want_sum: bool) -> None:
    """harx_opt_build for every 4-pixel group: per pixel the in-range taps of the row in one run (dilation 1
    and whole words per pixel, or 8-bit codes) or one run per kernel tap, zeros for padding and for the
    pixels past the end. Tensors start 4-byte aligned (memory plan), so a run is aligned when its first
    pixel's byte offset is."""
    k, cin, bits = layer.kernel, layer.cin, layer.in_bits
    px_bytes = cin * bits // 8
    merge = layer.dilation == 1 and (bits == 8 or px_bytes % 4 == 0)
    for n in range(ceil_div(layer.lout, PIXELS) * PIXELS):
        c["col_pixel"] += 1
        if n >= layer.lout:
            c["col_zero"] += k * cin
            continue
        ix0 = n * layer.stride - layer.pad_left
        if merge:
            lo = min(max(-ix0, 0), k)
            hi = min(max(layer.lin - ix0, lo), k)
            c["col_zero"] += (lo + k - hi) * cin
            if hi > lo:
                _opt_unpack(c, (hi - lo) * cin, bits, (ix0 + lo) * px_bytes % 4 == 0, want_sum)
            continue
        for kx in range(k):
            c["col_kx"] += 1
            ix = ix0 + kx * layer.dilation
            if 0 <= ix < layer.lin:
                _opt_unpack(c, cin, bits, ix * px_bytes % 4 == 0, want_sum)
            else:
                c["col_zero"] += cin


def _opt_conv(c: Counter, layer: LayerSpec) -> None:
    """harx_opt_conv: per group of 4 output pixels its im2col, then each block of B channels (the family's
    taps, drained every drain_taps taps), the S blocks of 4 and the single channels left over, each block
    requantized and stored (the last, partial group pixel by pixel)."""
    plan = layer_plan(layer)
    taps, w, block = layer.kernel * layer.cin, layer.w_bits, plan.block_channels
    groups = ceil_div(layer.lout, PIXELS)
    n_blocks, rest = divmod(layer.cout, block)
    n_s4, n_s1 = divmod(rest, 4)
    _opt_im2col(c, layer, plan.family != "S")
    s_blocks = n_s4 + (n_blocks if plan.family == "S" else 0)
    c[f"tap_s_w{w}"] += s_blocks * groups * taps
    c["block_s"] += s_blocks * groups
    if plan.family != "S":
        lane = "l8" if plan.family == "L8" else "l16"
        c["tap_l8" if lane == "l8" else f"tap_l16_w{w}"] += n_blocks * groups * taps
        c[f"drain_{lane}"] += n_blocks * groups * ceil_div(taps, plan.drain_taps)
        if lane == "l8":
            c["l8_values"] += n_blocks * groups
    c[f"tap_s1_w{w}"] += n_s1 * groups * taps
    full, tail = divmod(layer.lout, PIXELS)
    c[f"out_b{layer.out_bits}"] += full * layer.cout
    c["out_tail"] += tail * layer.cout


def _opt_linear(c: Counter, layer: LayerSpec) -> None:
    """harx_opt_linear_i32: the bias copied to the outputs, then per chunk of LINEAR_CHUNK input codes
    their unpacking and every block of B classes (drained every drain_taps taps), the S blocks of 4 and
    the remainder rows (one code at a time)."""
    plan = layer_plan(layer)
    w, block = layer.w_bits, plan.block_channels
    n_blocks, rest = divmod(layer.cout, block)
    n_s4, n_s1 = divmod(rest, 4)
    c["lin_out"] += layer.cout
    for t0 in range(0, layer.cin, LINEAR_CHUNK):
        n = min(LINEAR_CHUNK, layer.cin - t0)
        c[f"lin_code_b{layer.in_bits}"] += n
        if plan.family == "S":
            c[f"lin_tap_s_w{w}"] += n_blocks * n
        else:
            c["lin_tap_l8" if plan.family == "L8" else f"lin_tap_l16_w{w}"] += n_blocks * n
            c["lin_drain"] += n_blocks * ceil_div(n, plan.drain_taps)
        c[f"lin_tap_s_w{w}"] += n_s4 * n
        c["lin_block"] += n_blocks + n_s4
        c[f"lin_tap_s1_w{w}"] += n_s1 * n
        c["lin_row"] += n_s1


def _opt_maxpool(c: Counter, layer: LayerSpec) -> None:
    """harx_opt_maxpool: per output pixel and word of its codes (bytes when a pixel is not whole words),
    a SWAR maximum per tap."""
    px_bytes = layer.cin * layer.in_bits // 8
    units = px_bytes // 4 if px_bytes % 4 == 0 else px_bytes
    c["pool_px"] += layer.lout
    c["pool_unit"] += layer.lout * units
    c["pool_tap"] += layer.lout * units * layer.kernel


def _opt_gap(c: Counter, layer: LayerSpec) -> None:
    """harx_opt_avgpool as harx calls it (the global pool) on pixels of whole words: words of codes summed
    in 16-bit lanes."""
    px_bytes = layer.cin * layer.in_bits // 8
    c[f"gap_px_b{layer.in_bits}"] += layer.lin * px_bytes // 4
    c["gap_ch"] += layer.cin


@functools.cache
def _opt_terms(layer: LayerSpec) -> tuple[tuple[str, int], ...]:
    if layer.kind == "gap" and layer.cin * layer.in_bits // 8 % 4:
        # Pixels of part words: harx_opt_avgpool calls harx_avgpool, priced with the reference's terms.
        ref = instruction_terms(layer)
        return ((f"{OPT_PREFIX}layer", 1), *((k, n) for k, n in ref.items() if k != "layer"))
    c: Counter = Counter({"layer": 1})
    {"conv": _opt_conv, "linear": _opt_linear, "maxpool": _opt_maxpool, "gap": _opt_gap}[layer.kind](c, layer)
    return tuple((f"{OPT_PREFIX}{name}", n) for name, n in c.items() if n)


def opt_instruction_terms(layer: LayerSpec) -> dict[str, int]:
    """Event counts of harx's optimized kernel of ``layer`` (``OPT_TERMS``, prefixed ``opt_``; a global
    average pool of part-word pixels runs the reference's loop and counts its terms); raises ValueError
    when the optimized kernels cannot run it (``harx.cost.opt_kernels.layer_plan``)."""
    return dict(_opt_terms(layer))


def portable_c_terms(layer: LayerSpec, lowered: Lowered, layer_mem: LayerMemory, target: Target) -> Counter:
    """harx's reference or optimized kernels, as lowered, as the rv32 and host builds call them (every layer
    with H = 1)."""
    if lowered.implementation == "harx_opt":
        return Counter(opt_instruction_terms(layer))
    return Counter(instruction_terms(layer))


def _inference_terms(layers: list[LayerSpec], kernels: str) -> dict[str, int]:
    """Once per inference: the call and the argmax over the logits (priced per kernel set: the ``opt`` set's
    coefficients are fitted on their own)."""
    prefix = OPT_PREFIX if kernels == "opt" else ""
    return {f"{prefix}inference": 1, f"{prefix}argmax_class": layers[-1].cout}


def _cluster_inference_terms(layers: list[LayerSpec], kernels: str) -> dict[str, int]:
    """Once per inference on the cluster: the FC -> cluster task offload, one fork of the whole layer
    sequence on every core (harx_run_layers) and the argmax over the logits on the FC."""
    return {"inference": 1, "fork": 1, "argmax_class": layers[-1].cout}


@dataclass(frozen=True)
class KernelModel:
    """A loop-structure model: which YAML keys it needs, the counts it produces and, when it prices harx's
    optimized kernels, the coefficients a target listing the ``opt`` kernel set needs besides."""

    required: tuple[tuple[str, ...], tuple[str, ...]]
    layer_terms: Callable[[LayerSpec, Lowered, LayerMemory, Target], Counter]
    inference_terms: Callable[[list[LayerSpec], str], dict[str, int]] = _inference_terms
    opt_required: tuple[str, ...] = ()


def _per_bits(*prefixes: str) -> tuple[str, ...]:
    return tuple(f"{p}{b}" for p in prefixes for b in (8, 4, 2))


KERNEL_MODELS: dict[str, KernelModel] = {
    "pulp_nn_cluster": KernelModel(
        required=(
            ("matmul_channels",),
            (
                *_per_bits("im2col_byte_b", "unpack_word_b", "pool_byte_b", "gap_elem_b"),
                "im2col_call",
                "pixel",
                "act_word",
                "sdotp",
                "tail_mac",
                "block",
                "requant",
                "pool_copy_byte",
                "pool_call",
                "gap_out",
                "linear_neuron",
                "fork",
                "barrier",
                "dma_transfer",
                "dma_byte",
                "inference",
                "argmax_class",
                *(f"{REF_PREFIX}{name}" for name in REF_CONV_TERMS),
            ),
        ),
        layer_terms=pulp_nn_cluster_terms,
        inference_terms=_cluster_inference_terms,
    ),
    "portable_c": KernelModel(
        required=(
            (),
            (
                *_per_bits(
                    "im2col_elem_b",
                    "mac_w",
                    "conv_out_b",
                    "pool_elem_b",
                    "pool_out_b",
                    "gap_elem_b",
                    "linear_mac_w",
                    "linear_act_b",
                ),
                "pixel",
                "tap",
                "gap_out",
                "linear_out",
                "layer",
                "inference",
                "argmax_class",
            ),
        ),
        layer_terms=portable_c_terms,
        opt_required=tuple(f"{OPT_PREFIX}{name}" for name in (*OPT_TERMS, "inference", "argmax_class")),
    ),
}
