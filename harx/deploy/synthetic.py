"""Integer models with random weights, through the export's own requantization (no training).

For measuring what does not depend on trained values: instruction counts (the kernels' loops depend only on
shapes and bit widths; the only data-dependent branches are the requant clip and the max-pool compare, a
few instructions per output value) and memory sizes. Bit-exactness is shown on trained models.
"""

from __future__ import annotations

import numpy as np

from harx.models.genome import Genome, parse_genome
from harx.quant.export import acc_bounds, requant_params
from harx.quant.integer import IntConv, IntegerModel, IntGap, IntLinear, IntMaxPool
from harx.quant.layers import gap_params


def _codes(rng: np.random.Generator, shape: tuple[int, ...], bits: int) -> np.ndarray:
    return rng.integers(-(2 ** (bits - 1)), 2 ** (bits - 1), size=shape).astype(np.int8)


def random_model(
    genome: Genome | str, in_channels: int, in_len: int, n_classes: int, seed: int = 0
) -> IntegerModel:
    """An IntegerModel of ``genome`` with random weights and requant parameters that spread each conv's
    outputs over its code range (kappa, lambda and shift from ``harx.quant.export.requant_params``)."""
    g = parse_genome(genome) if isinstance(genome, str) else genome
    rng = np.random.default_rng(seed)
    layers: list = []
    for spec in g.layers(in_channels, in_len, n_classes):
        if spec.kind == "conv":
            w = _codes(rng, (spec.cout, spec.kernel, spec.cin), spec.w_bits)
            signed = spec.in_signed
            # A rough accumulator spread: sqrt(taps) * weight std * typical input code.
            typical_in = 40.0 if signed else (2**spec.in_bits - 1) / 3
            spread = np.sqrt(spec.kernel * spec.cin) * max(w.std(), 0.5) * typical_in
            top = 2**spec.out_bits - 1
            m = rng.uniform(0.5, 1.5, spec.cout) * top / (4 * spread)
            b = rng.uniform(0, top / 2, spec.cout)
            kappa, lam, shift = requant_params(m, b, *acc_bounds(w, spec.in_bits, signed))
            layers.append(
                IntConv(
                    w,
                    kappa,
                    lam,
                    shift,
                    spec.w_bits,
                    spec.in_bits,
                    spec.out_bits,
                    spec.stride,
                    spec.dilation,
                    spec.pad_left,
                    spec.pad_right,
                    signed,
                )
            )
        elif spec.kind == "maxpool":
            layers.append(IntMaxPool(spec.kernel, spec.in_bits))
        elif spec.kind == "gap":
            layers.append(IntGap(*gap_params(spec.lin, spec.in_bits), spec.in_bits))
        else:
            w = _codes(rng, (spec.cout, spec.cin), spec.w_bits)
            layers.append(IntLinear(w, rng.integers(-1000, 1000, spec.cout), spec.w_bits, spec.in_bits))
    return IntegerModel(layers, in_channels, in_len, n_classes, 1.0)


def random_windows(n: int, in_channels: int, in_len: int, seed: int = 0) -> np.ndarray:
    """int8 input codes (n, in_len, in_channels), roughly as normalized sensor windows quantize."""
    rng = np.random.default_rng(seed)
    return np.clip(np.rint(rng.normal(0, 40, size=(n, in_len, in_channels))), -128, 127).astype(np.int8)
