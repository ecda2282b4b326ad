"""Cascade (big/little): a small network runs first; the big one runs only when the small one is unsure.

Both networks take the window the little one's input quantization makes. When the big network was trained
with another normalization or input scale, its input is the little one's int8 codes requantized per
channel in integers (``InputRescale``): x_big = (x_little * s_l * std_l + mean_l - mean_big) / (std_big *
s_big), rounded, in fixed point (kappa, lambda, shift). That double rounding is part of the deployed model:
the cascade's full mode is scored with it, exactly as the C computes it.
"""

from __future__ import annotations

import numpy as np

from harx.errors import ConfigError
from harx.quant.adaptive import INT8_MAX, INT8_MIN, InputRescale
from harx.quant.artifact import Artifact
from harx.quant.export import requant_params


def input_rescale(little: Artifact, big: Artifact) -> InputRescale | None:
    """The integer requantization of the little network's input codes into the big network's, or None
    when both quantize the window alike (same normalization and input scale)."""
    for name in ("dataset", "class_names"):
        if getattr(little, name) != getattr(big, name):
            raise ConfigError(
                f"cascade: the little network's {name} ({getattr(little, name)}) differs from the big one's "
                f"({getattr(big, name)})"
            )
    s_l, s_b = little.model.input_scale, big.model.input_scale
    std_l, std_b = np.asarray(little.norm_std, np.float64), np.asarray(big.norm_std, np.float64)
    mean_l, mean_b = np.asarray(little.norm_mean, np.float64), np.asarray(big.norm_mean, np.float64)
    m = s_l * std_l / (std_b * s_b)
    b = (mean_l - mean_b) / (std_b * s_b)
    if np.all(m == 1.0) and np.all(b == 0.0):
        return None
    lo, hi = np.full(len(m), INT8_MIN), np.full(len(m), INT8_MAX)
    kappa, lam, shift = requant_params(m, b, lo, hi)
    return InputRescale(kappa, lam, shift)
