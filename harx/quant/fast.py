"""The integer model on many windows at once: torch's convolutions instead of numpy's im2col, bit-identical.

``IntegerModel.run`` (``harx.quant.integer``) is the golden model the C must reproduce; it gathers an
im2col copy of every window and multiplies in float64 chunks, which dominates scoring a search candidate's
held-out windows. ``run_fast`` computes the same accumulators with ``torch.nn.functional.conv1d`` in
float64 and requantizes them with the golden model's own integer code. float64 is exact here: every product
of an int8 weight code and an 8-bit activation code is below 2^15 and a layer sums at most 15 x 256 of
them, far below 2^53, so the order torch sums in cannot change a bit (tests/test_quant_integer.py checks it
against ``IntegerModel.run`` on every layer kind and bit width).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from harx.quant.integer import IntConv, IntegerModel, IntLinear, check_int32


def _conv_acc(layer: IntConv, h: torch.Tensor) -> torch.Tensor:
    """int32 accumulators (N, L, cout) as float64, for codes ``h`` (N, cin, L) float64."""
    w = torch.from_numpy(layer.weights.astype(np.float64)).permute(0, 2, 1)  # (cout, cin, k)
    x = F.pad(h, (layer.pad_left, layer.pad_right))
    return F.conv1d(x, w, stride=layer.stride, dilation=layer.dilation)


def run_fast(model: IntegerModel, x: np.ndarray) -> np.ndarray:
    """Logits of ``model`` for int8 codes ``x`` (N, T, C), equal to ``model.run(x)`` bit for bit."""
    if x.ndim != 3 or x.shape[1:] != (model.in_len, model.in_channels):
        raise ValueError(f"expected input (N, {model.in_len}, {model.in_channels}), got {x.shape}")
    with torch.no_grad():
        h = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 2, 1), dtype=np.float64))  # (N, C, L)
        for layer in model.layers:
            if isinstance(layer, IntConv):
                acc = _conv_acc(layer, h).round().to(torch.int64).numpy().transpose(0, 2, 1)
                check_int32(acc, "conv accumulator")
                h = torch.from_numpy(layer.requantize(acc).transpose(0, 2, 1).astype(np.float64))
            elif isinstance(layer, IntLinear):
                flat = h.permute(0, 2, 1).reshape(len(h), -1).numpy()  # HWC order, as the golden model
                return layer.run(flat.astype(np.int64).reshape(len(h), 1, -1))
            else:
                out = layer.run(h.numpy().astype(np.int64).transpose(0, 2, 1))
                h = torch.from_numpy(out.transpose(0, 2, 1).astype(np.float64))
    raise ValueError("an integer model ends with its classifier")
