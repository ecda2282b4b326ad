"""Fake-quantization backends: how a tensor is rounded to the integer grid during QAT.

Both backends round to nearest with ties to even: torch's `torch.round` and qtorch's
`fixed_point_quantize(..., rounding="nearest")` (measured on qtorch 0.3.0, CPU build: 0.5 -> 0, 1.5 -> 2,
2.5 -> 2, -2.5 -> -2). They therefore give identical codes; `tests/test_quant_backends.py` checks it on
random values and on exact ties. The integer requantization `(kappa*acc + lambda) >> shift` rounds ties up
instead; an activation that lands exactly on a tie is the only place the integer model can differ from the
fake-quantized graph by rounding rule (the other source is the fixed-point precision of kappa).
"""

from __future__ import annotations

import torch

from harx.errors import ConfigError

BACKENDS = ("torch", "qtorch")


class Backend:
    name = "base"

    def round(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class TorchBackend(Backend):
    """Plain torch rounding; no compile step, the fastest in training."""

    name = "torch"

    def round(self, x: torch.Tensor) -> torch.Tensor:
        return torch.round(x)


class QtorchBackend(Backend):
    """qtorch's fixed-point quantizer with zero fractional bits (a JIT-compiled C++ extension)."""

    name = "qtorch"
    _WORD_BITS = 24  # wide enough that clamp=False never saturates the codes harx uses (<= 8 bit)

    def __init__(self) -> None:
        try:
            from qtorch.quant import fixed_point_quantize
        except Exception as exc:  # ImportError, or the extension failing to build
            raise ConfigError(
                f"backend 'qtorch' is unavailable ({type(exc).__name__}: {exc}); install it with "
                "pip install 'harx[qtorch]' and make sure ninja and g++ are on PATH"
            ) from exc
        self._fpq = fixed_point_quantize

    def round(self, x: torch.Tensor) -> torch.Tensor:
        return self._fpq(x.contiguous(), self._WORD_BITS, 0, clamp=False, rounding="nearest")


_cache: dict[str, Backend] = {}


def get_backend(name: str) -> Backend:
    if name not in BACKENDS:
        raise ConfigError(f"unknown quantization backend '{name}'; choose one of {', '.join(BACKENDS)}")
    if name not in _cache:
        _cache[name] = TorchBackend() if name == "torch" else QtorchBackend()
    return _cache[name]


def ste_round(x: torch.Tensor, backend: Backend) -> torch.Tensor:
    """Round in the forward pass, identity in the backward pass (straight-through estimator)."""
    return x + (backend.round(x.detach()) - x).detach()
