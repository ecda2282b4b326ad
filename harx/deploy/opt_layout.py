"""Export-time weight layout of harx's optimized kernels (``csrc/harx_opt.h``).

The optimized conv and linear kernels read the same number of weight bytes as the reference
(``harx.quant.packing.pack`` of ``[ch_out][k][ch_in]``), in another order. This module turns a layer's
integer weight codes into those bytes; how the kernel accumulates a layer exactly (its family and lane
bound) and whether it can run it at all are decided in ``harx.cost.opt_kernels``, which the lowering
reads too (``harx deploy`` writes this layout for every layer lowered to ``harx_opt``).

**Taps.** A conv has ``taps = k * ch_in`` per output channel (``k = k_y * k_x``), a linear ``dim_vec``.
The kernel unpacks activation codes to one byte each in *run order*: for each kernel position (a run of
``ch_in`` codes; the linear input is one run of ``dim_vec`` codes) 8-bit codes keep channel order; 4- and
2-bit codes go by 4-byte chunks counted from the run start, a chunk's word ``x`` becoming the bytes of
``(x >> j*bits) & 0x0F0F0F0F`` (4 bit: chunk channels 0,2,4,6,1,3,5,7) or ``& 0x03030303``
(2 bit: 0,4,8,12,1,5,9,13,2,6,10,14,3,7,11,15); bytes after the last whole chunk keep channel order
(:func:`run_order`). The weights follow the same tap order (:func:`tap_order`).

**Families** (``harx.cost.opt_kernels.lane_plan``), by input and weight bits:

- ``S`` (signed int8 input, or 8-bit input with 8-bit weights): blocks of 4 output channels, one product
  per multiplication, int32 accumulators. Block bytes: per tap the 4 channels' signed codes, packed.
- ``L16`` (other unsigned inputs): blocks of 8 channels. A 32-bit weight word carries the offset codes
  ``w + 2^(b-1)`` (in ``0 .. 2^b - 1``) of channels ``g`` and ``g + 4`` in 16-bit lanes, so one
  multiplication by an activation code does two MACs with no borrow between the lanes. Per tap: 4-bit weights
  one word, 2-bit one halfword (the 8 channels' offset codes in channel order; the kernel spreads a halfword
  ``h`` as ``h | h << 8``); 8-bit two words, bytes of channels ``0,1,4,5`` and ``2,3,6,7``.
- ``L8`` (2-bit input, 2-bit weights): blocks of 16 channels, a word per tap with the 16 offset codes in
  channel order; channel ``g + 4l`` lands in 8-bit lane ``l``: four MACs per multiplication.

Channels after the last whole block run the ``S`` kernel: blocks of 4 with the S layout, then single rows
``[tap]`` packed as the reference packs them. The conv writes blocks in channel order: main blocks, S
blocks, single rows. Every block is a whole number of bytes, so the total is the reference's byte count.

**Lane bound.** An unsigned activation code is at most ``2^in_bits - 1`` and an offset weight at most
``2^w_bits - 1``, so a lane of ``L`` bits takes ``floor((2^L - 1) / ((2^in_bits - 1)(2^w_bits - 1)))``
products without a carry into its neighbour. The kernel adds the lanes to int32 sums every ``drain_taps``
taps (that count rounded down to a multiple of 4), so the lane sums are exact for any tap count; the true
accumulator is the lane sum minus ``2^(w_bits-1) * sum(activation codes of the pixel's taps)``. L8's 8-bit
lanes are drained into 16-bit lanes, which must hold the whole tap count: ``taps * 9 <= 65535`` (else the
layer runs L16). Every partial sum stays inside int32: ``taps * max|a*w| < 2^31``, checked by ``lane_plan``.

**Buffers.** The conv im2col holds 4 output pixels, ``[tap][pixel]``: :func:`im2col_bytes` ``= 4 * k * ch_in``
(the reference needs ``k * ch_in``). The linear kernel unpacks ``LINEAR_CHUNK`` codes at a time on the stack.
"""

from __future__ import annotations

import numpy as np

from harx.cost.opt_kernels import (
    BITS,
    LINEAR_CHUNK,
    PIXELS,
    LanePlan,
    conv_plan,
    conv_where,
    im2col_bytes,
    lane_plan,
    linear_plan,
    linear_where,
    max_lane_sum,
    product_max,
)
from harx.quant.packing import pack

__all__ = [
    "BITS",
    "LINEAR_CHUNK",
    "PIXELS",
    "LanePlan",
    "conv_weights",
    "im2col_bytes",
    "lane_plan",
    "linear_weights",
    "max_lane_sum",
    "product_max",
    "run_order",
    "tap_order",
]


def run_order(run_len: int, in_bits: int) -> np.ndarray:
    """Channel index of each position of one unpacked run of ``run_len`` codes (see the module docstring)."""
    if in_bits == 8:
        return np.arange(run_len)
    per_chunk = 32 // in_bits
    chunks = run_len // per_chunk
    words = 8 // in_bits  # a chunk unpacks to this many words of 4 codes; word j, byte l is field words*l + j
    one = np.array([words * lane + j for j in range(words) for lane in range(4)])
    order = [c * per_chunk + one for c in range(chunks)]
    order.append(np.arange(chunks * per_chunk, run_len))
    return np.concatenate(order).astype(np.int64)


def tap_order(kernel: int, cin: int, in_bits: int) -> np.ndarray:
    """Index into the flattened ``[k][cin]`` taps of each im2col tap, in the kernel's order."""
    run = run_order(cin, in_bits)
    return (np.arange(kernel)[:, None] * cin + run[None, :]).reshape(-1)


def _block_bytes(w: np.ndarray, plan: LanePlan) -> np.ndarray:
    """One main block ``w`` (block_channels, taps) of signed codes, in tap order, as the kernel reads it."""
    b = plan.w_bits
    if plan.family == "S":
        return pack(w.T, b)
    off = w.astype(np.int64) + plan.weight_offset  # 0 .. 2^b - 1
    t = off.T  # (taps, channels)
    if b == 8:
        return pack(t[:, [0, 1, 4, 5, 2, 3, 6, 7]], b)
    return pack(t, b)


def _weights(w: np.ndarray, plan: LanePlan) -> np.ndarray:
    """All blocks of a (cout, taps) matrix already in tap order."""
    cout = w.shape[0]
    block = plan.block_channels
    n_main = cout // block
    parts = [_block_bytes(w[i * block : (i + 1) * block], plan) for i in range(n_main)]
    s_plan = LanePlan("S", plan.taps, plan.in_bits, plan.w_bits, 0)
    rest = cout - n_main * block
    start = n_main * block
    for i in range(rest // 4):
        parts.append(_block_bytes(w[start + 4 * i : start + 4 * i + 4], s_plan))
    for c in range(start + rest // 4 * 4, cout):
        parts.append(pack(w[c], plan.w_bits))
    out = np.concatenate(parts) if parts else np.zeros(0, np.uint8)
    if len(out) != cout * plan.taps * plan.w_bits // 8:
        raise AssertionError("optimized layout changed the byte count")  # a bug in this module
    return out


def conv_weights(codes: np.ndarray, w_bits: int, in_bits: int, in_signed: bool) -> np.ndarray:
    """The bytes ``harx_opt_conv`` reads for signed weight codes ``(cout, k, cin)`` (or ``(cout, k_y, k_x,
    cin)``), as many as ``pack(codes, w_bits)``. Raises ValueError naming the geometry when the layer
    cannot run exactly or its channels cannot be packed."""
    w = np.asarray(codes)
    if w.ndim not in (3, 4):
        raise ValueError(f"conv weights must be shaped (cout, k, cin), got {w.shape}")
    cout, cin = w.shape[0], w.shape[-1]
    w = w.reshape(cout, -1, cin)
    kernel = w.shape[1]
    _check_range(w, w_bits, conv_where(cin, cout, kernel, w_bits, in_bits, in_signed))
    plan = conv_plan(cin, cout, kernel, w_bits, in_bits, in_signed)
    flat = w.reshape(cout, -1)[:, tap_order(kernel, cin, in_bits)]
    return _weights(flat, plan)


def linear_weights(codes: np.ndarray, w_bits: int, in_bits: int) -> np.ndarray:
    """The bytes ``harx_opt_linear_i32`` reads for signed weight codes ``(cout, dim_vec)``."""
    w = np.asarray(codes)
    if w.ndim != 2:
        raise ValueError(f"linear weights must be shaped (cout, dim_vec), got {w.shape}")
    cout, dim = w.shape
    _check_range(w, w_bits, linear_where(dim, cout, w_bits, in_bits))
    plan = linear_plan(dim, cout, w_bits, in_bits)
    return _weights(w[:, run_order(dim, in_bits)], plan)


def _check_range(w: np.ndarray, w_bits: int, where: str) -> None:
    if w_bits not in BITS:
        raise ValueError(f"{where}: weight bits must be among {BITS}")
    lo, hi = -(1 << (w_bits - 1)), (1 << (w_bits - 1)) - 1
    if w.size and (w.min() < lo or w.max() > hi):
        raise ValueError(f"{where}: weight codes outside the signed {w_bits}-bit range {lo}..{hi}")
