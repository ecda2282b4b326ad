"""Integer export: a QAT-trained QuantNet -> IntegerModel, BatchNorm folded into kappa/lambda.

For a conv block with input scale s_in, weight scales s_w[c], BatchNorm (gamma, beta, mu, var) and output
scale s_out = alpha / (2**bits - 1), the float output code before clipping is

    y/s_out = M[c] * acc + B[c],  M = gamma * s_in * s_w / (sigma * s_out),  B = (beta - gamma*mu/sigma) / s_out

and round-to-nearest is floor(y/s_out + 0.5). With kappa = round(M * 2**shift) and
lambda = round((B + 0.5) * 2**shift), ``(kappa*acc + lambda) >> shift`` computes it in int32.
The shift is the largest that keeps ``kappa*acc`` and ``kappa*acc + lambda`` inside int32 for every
accumulator value any input can produce (bounded from the weight codes and the input code range):
overflow is impossible by construction. The price is kappa's precision: a layer whose worst-case
accumulator is large gets a smaller shift, so a few outputs that sit within ~acc*2**-(shift+1) of a
rounding boundary come out one code lower or higher than the float graph's (measured in the tests).
"""

from __future__ import annotations

import numpy as np
import torch

from harx.errors import HarxError
from harx.quant.integer import INT32_MAX, IntConv, IntegerModel, IntGap, IntLinear, IntMaxPool
from harx.quant.layers import INPUT_CODE_MIN, QConvBlock, QLinear, QuantNet, act_qmax, gap_params

MAX_SHIFT = 31


class ExportError(HarxError):
    """A layer cannot be represented in int32 fixed point (e.g. a degenerate BatchNorm)."""


def _codes(t: torch.Tensor) -> np.ndarray:
    return t.detach().to(torch.float64).numpy().round().astype(np.int64)


def requant_params(
    m: np.ndarray, b: np.ndarray, acc_lo: np.ndarray, acc_hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int]:
    """kappa, lambda (int64 arrays holding int32 values) and shift for y = floor(m*acc + b + 0.5).

    ``acc_lo``/``acc_hi`` bound each channel's accumulator over every possible input. The shift is the
    largest for which kappa*acc and kappa*acc + lambda stay inside int32 over those whole ranges.
    """
    for shift in range(MAX_SHIFT, -1, -1):
        kappa = np.rint(m * 2.0**shift)  # float64 here: exact enough, and cannot wrap like int64
        lam = np.rint((b + 0.5) * 2.0**shift)
        prod = np.maximum(np.abs(kappa * acc_lo), np.abs(kappa * acc_hi))
        total = np.maximum(np.abs(kappa * acc_lo + lam), np.abs(kappa * acc_hi + lam))
        if max(prod.max(initial=0), total.max(initial=0), np.abs(lam).max(initial=0)) <= INT32_MAX:
            return kappa.astype(np.int64), lam.astype(np.int64), shift
    raise ExportError(
        f"requantization does not fit int32 even with shift 0 (max |M| = {np.abs(m).max():.3g}, "
        f"max |B| = {np.abs(b).max():.3g})"
    )


def acc_bounds(codes: np.ndarray, in_bits: int, in_signed: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per-output-channel range of the int32 accumulator over every possible input code."""
    w = codes.reshape(codes.shape[0], -1)
    pos, neg = np.where(w > 0, w, 0).sum(axis=1), np.where(w < 0, w, 0).sum(axis=1)
    if in_signed:  # int8 input in [-128, 127]
        lo, hi = INPUT_CODE_MIN, -INPUT_CODE_MIN - 1
        return pos * lo + neg * hi, pos * hi + neg * lo
    top = act_qmax(in_bits)
    return neg * top, pos * top


@torch.no_grad()
def export_conv(blk: QConvBlock, s_in: float, in_bits: int, in_signed: bool) -> IntConv:
    codes = _codes(blk.weight_codes())  # (cout, cin, k)
    s_w = blk.w_scale.detach().abs().clamp_min(1e-8).double().numpy()
    bn = blk.bn
    sigma = np.sqrt(bn.running_var.double().numpy() + bn.eps)
    gamma, beta, mu = (t.detach().double().numpy() for t in (bn.weight, bn.bias, bn.running_mean))
    s_out = float(blk.out_scale())
    m = gamma * s_in * s_w / (sigma * s_out)
    b = (beta - gamma * mu / sigma) / s_out
    kappa, lam, shift = requant_params(m, b, *acc_bounds(codes, in_bits, in_signed))
    span = blk.conv.dilation[0] * (blk.conv.kernel_size[0] - 1)
    return IntConv(
        weights=codes.transpose(0, 2, 1).astype(np.int8).copy(),
        kappa=kappa,
        lam=lam,
        shift=shift,
        w_bits=blk.w_bits,
        in_bits=in_bits,
        out_bits=blk.a_bits,
        stride=blk.conv.stride[0],
        dilation=blk.conv.dilation[0],
        pad_left=span // 2,
        pad_right=span - span // 2,
        in_signed=in_signed,
    )


@torch.no_grad()
def export_linear(lin: QLinear, s_in: float, in_bits: int, in_len: int = 1) -> IntLinear:
    """``in_len`` > 1 for a flatten head: torch flattens (C, L) channel-major, the C code reads HWC."""
    codes = _codes(lin.weight_codes())
    if in_len > 1:
        codes = codes.reshape(codes.shape[0], -1, in_len).transpose(0, 2, 1).reshape(codes.shape[0], -1)
    s_acc = torch.tensor(s_in, dtype=torch.float32) * lin.w_scale.detach().abs().clamp_min(1e-8)
    bias = _codes(lin.backend.round(lin.fc.bias.detach() / s_acc))
    if np.abs(bias).max(initial=0) > INT32_MAX // 2:
        raise ExportError(f"classifier bias {np.abs(bias).max()} does not fit int32 with headroom")
    return IntLinear(weights=codes.astype(np.int8), bias=bias, w_bits=lin.w_bits, in_bits=in_bits)


@torch.no_grad()
def export_net(net: QuantNet, in_channels: int, in_len: int) -> IntegerModel:
    """The integer model of a quantized QuantNet (in eval mode: BatchNorm running statistics)."""
    if not net.quantized:
        raise ExportError("the network is not quantized; run QAT (set_quantized) before exporting")
    layers: list = []
    exits: dict[int, list] = {}
    s_in, bits, signed = float(net.inp.scale), 8, True
    for i, blk in enumerate(net.blocks):
        layers.append(export_conv(blk, s_in, bits, signed))
        s_in, bits, signed = float(blk.out_scale()), blk.a_bits, False
        if blk.pool > 1:
            layers.append(IntMaxPool(blk.pool, bits))
        if str(i) in net.exit_heads:
            length = _length_after(net, i, in_len)
            exits[len(layers) - 1] = [
                IntGap(*gap_params(length, bits), bits),
                export_linear(net.exit_heads[str(i)], s_in, bits),
            ]
    if net.head == "gap":
        layers.append(IntGap(*gap_params(net.out_len, bits), bits))
        layers.append(export_linear(net.fc, s_in, bits))
    else:
        layers.append(export_linear(net.fc, s_in, bits, in_len=net.out_len))
    return IntegerModel(layers, in_channels, in_len, net.fc.fc.out_features, float(net.inp.scale), exits)


def _length_after(net: QuantNet, block: int, in_len: int) -> int:
    n = in_len
    for blk in list(net.blocks)[: block + 1]:
        n = ((n - 1) // blk.conv.stride[0] + 1) // blk.pool
    return n


@torch.no_grad()
def input_codes(net: QuantNet, x_norm: torch.Tensor) -> np.ndarray:
    """int8 (N, T, C) codes of normalized windows (N, C, T), exactly as the QAT graph quantizes them."""
    return net.inp.codes(x_norm).to(torch.int8).numpy().transpose(0, 2, 1).copy()
