"""Quantization-aware layers and the sequential network they form.

Every activation travels as ``codes * scale``: during QAT the forward pass computes exactly the values
the integer model represents (up to the fixed-point kappa), so fake-quant and integer accuracy agree.
Quantization is switched on per network with ``QuantNet.set_quantized(True)`` after float pre-training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from harx.quant.backends import Backend, ste_round

INPUT_CODE_MIN, INPUT_CODE_MAX = -128, 127


def weight_qmax(bits: int) -> int:
    """Largest code of a symmetric signed weight grid: codes lie in [-qmax, qmax]."""
    return 2 ** (bits - 1) - 1


def act_qmax(bits: int) -> int:
    """Largest code of an unsigned activation."""
    return 2**bits - 1


def mse_scale(w: torch.Tensor, qmax: int, backend: Backend, steps: int = 40) -> torch.Tensor:
    """Per-row scale minimising the squared quantization error of ``w`` (rows = output channels).

    A max-based scale wastes most of a 2- or 4-bit grid on outliers; a small grid search over clip ratios
    is cheap (done once at QAT start) and gives markedly better low-bit starting points.
    """
    w = w.detach().reshape(w.shape[0], -1)
    wmax = w.abs().amax(dim=1).clamp_min(1e-8)
    best_err = torch.full_like(wmax, float("inf"))
    best = wmax / qmax
    for ratio in torch.linspace(0.2, 1.0, steps):
        s = (wmax * ratio / qmax).unsqueeze(1)
        q = torch.clamp(backend.round(w / s), -qmax, qmax) * s
        err = ((q - w) ** 2).sum(dim=1)
        better = err < best_err
        best_err = torch.where(better, err, best_err)
        best = torch.where(better, s.squeeze(1), best)
    return best


def normalize(x: torch.Tensor, mean, std) -> torch.Tensor:
    """Per-channel standardization of windows (N, C, T) with training-split statistics (float32)."""
    mean = torch.as_tensor(mean, dtype=torch.float32).view(1, -1, 1)
    std = torch.as_tensor(std, dtype=torch.float32).view(1, -1, 1)
    return (x.to(torch.float32) - mean) / std


class InputQuant(nn.Module):
    """Normalized float input -> int8 codes times a fixed per-tensor scale (set from training data)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("scale", torch.tensor(1.0))
        self.quantized = False
        self.backend: Backend | None = None

    def calibrate(self, x: torch.Tensor, percentile: float = 99.9) -> None:
        clip = float(np.percentile(x.abs().cpu().numpy(), percentile))
        self.scale.fill_(max(clip, 1e-6) / INPUT_CODE_MAX)

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """int8 input codes as a float tensor; the integer model's input is exactly this, cast to int8."""
        return torch.clamp(ste_round(x / self.scale, self.backend), INPUT_CODE_MIN, INPUT_CODE_MAX)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.codes(x) * self.scale if self.quantized else x


class QConvBlock(nn.Module):
    """Conv1d ('same' zero padding, no bias) -> BatchNorm -> PACT clip + a_bits quantization -> max-pool.

    Weights: per-output-channel symmetric ``w_bits`` grid with a learned scale (LSQ-style gradient through
    the straight-through estimator). Activations: learned clip ``alpha`` (PACT), unsigned ``a_bits`` codes.
    """

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel: int,
        stride: int,
        dilation: int,
        pool: int,
        w_bits: int,
        a_bits: int,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv1d(cin, cout, kernel, stride=stride, dilation=dilation, bias=False)
        self.bn = nn.BatchNorm1d(cout)
        span = dilation * (kernel - 1)
        self.pad = (span // 2, span - span // 2)
        self.pool = pool
        self.w_bits, self.a_bits = w_bits, a_bits
        self.w_scale = nn.Parameter(torch.ones(cout))
        self.alpha = nn.Parameter(torch.tensor(6.0))
        self.quantized = False
        self.backend: Backend | None = None

    def weight_codes(self) -> torch.Tensor:
        """Integer weight codes (float tensor, STE gradient), shape (cout, cin, kernel)."""
        q = weight_qmax(self.w_bits)
        s = self.w_scale.abs().clamp_min(1e-8).view(-1, 1, 1)
        return torch.clamp(ste_round(self.conv.weight / s, self.backend), -q, q)

    def quant_weight(self) -> torch.Tensor:
        return self.weight_codes() * self.w_scale.abs().clamp_min(1e-8).view(-1, 1, 1)

    def out_scale(self) -> torch.Tensor:
        return self.alpha.abs() / act_qmax(self.a_bits)

    def preactivation(self, x: torch.Tensor) -> torch.Tensor:
        w = self.quant_weight() if self.quantized else self.conv.weight
        z = F.conv1d(F.pad(x, self.pad), w, stride=self.conv.stride, dilation=self.conv.dilation)
        return self.bn(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.preactivation(x)
        if self.quantized:
            alpha = self.alpha.abs()
            y = torch.minimum(F.relu(y), alpha)
            s = alpha / act_qmax(self.a_bits)
            y = ste_round(y / s, self.backend) * s
        else:
            y = F.relu(y)
        if self.pool > 1:
            y = F.max_pool1d(y, self.pool)
        return y


def gap_params(length: int, bits: int) -> tuple[int, int]:
    """Multiplier m and shift of the integer global average pool ``(sum * m) >> shift`` over ``length`` codes.

    m = ceil(2**shift / length) makes the result exactly floor(sum / length) whenever
    length**2 * (2**bits - 1) < 2**shift (every 8-bit pool up to 128 samples, longer ones at fewer bits),
    and sum * m stays below 2**30 for any length the genomes allow.
    """
    shift = 30 - bits
    return -(-(1 << shift) // length), shift


class QGlobalAvgPool(nn.Module):
    """Global average pool; quantized, it computes the integer model's ``(sum * m) >> shift`` exactly."""

    def __init__(self) -> None:
        super().__init__()
        self.quantized = False

    def forward(self, x: torch.Tensor, scale: torch.Tensor | None = None, bits: int = 8) -> torch.Tensor:
        mean = x.mean(dim=2)
        if not self.quantized:
            return mean
        m, shift = gap_params(x.shape[2], bits)
        codes = torch.round(x.detach() / scale).to(torch.int64)
        exact = ((codes.sum(dim=2) * m) >> shift).to(x.dtype) * scale
        return mean + (exact - mean).detach()


class QLinear(nn.Module):
    """Classifier: per-tensor symmetric weights (so all int32 logits share one scale), int32 bias."""

    def __init__(self, cin: int, cout: int, w_bits: int) -> None:
        super().__init__()
        self.fc = nn.Linear(cin, cout)
        self.w_bits = w_bits
        self.w_scale = nn.Parameter(torch.tensor(1.0))
        self.quantized = False
        self.backend: Backend | None = None

    def weight_codes(self) -> torch.Tensor:
        q = weight_qmax(self.w_bits)
        return torch.clamp(
            ste_round(self.fc.weight / self.w_scale.abs().clamp_min(1e-8), self.backend), -q, q
        )

    def forward(self, x: torch.Tensor, in_scale: torch.Tensor | None = None) -> torch.Tensor:
        if not self.quantized:
            return self.fc(x)
        s_acc = in_scale * self.w_scale.abs().clamp_min(1e-8)
        bias = ste_round(self.fc.bias / s_acc, self.backend) * s_acc
        return F.linear(x, self.weight_codes() * self.w_scale.abs().clamp_min(1e-8)) + bias


@dataclass(frozen=True)
class ConvConfig:
    """Plain description of one conv block, so quant never needs to know the Genome type."""

    cin: int
    cout: int
    kernel: int
    stride: int
    dilation: int
    pool: int
    w_bits: int
    a_bits: int


class QuantNet(nn.Module):
    """Input quantizer -> conv blocks -> head (global average pool or flatten) -> linear classifier.

    ``exits`` optionally adds early-exit heads after given blocks (block index -> QLinear over the
    global average pool of that block's output), used by adaptive inference.
    """

    def __init__(
        self,
        convs: list[ConvConfig],
        head: str,
        head_w_bits: int,
        in_len: int,
        n_classes: int,
        exits: dict[int, int] | None = None,
    ) -> None:
        super().__init__()
        self.inp = InputQuant()
        self.blocks = nn.ModuleList(
            QConvBlock(c.cin, c.cout, c.kernel, c.stride, c.dilation, c.pool, c.w_bits, c.a_bits)
            for c in convs
        )
        self.head = head
        n = in_len
        for c in convs:
            n = ((n - 1) // c.stride + 1) // c.pool
        self.out_len = n
        feats = convs[-1].cout * (1 if head == "gap" else n)
        self.gap = QGlobalAvgPool()
        self.fc = QLinear(feats, n_classes, head_w_bits)
        self.exit_heads = nn.ModuleDict(
            {str(k): QLinear(convs[k].cout, n_classes, bits) for k, bits in (exits or {}).items()}
        )
        self.quantized = False

    def quant_modules(self):
        return [m for m in self.modules() if hasattr(m, "quantized") and m is not self]

    def set_quantized(self, on: bool, backend: Backend | None = None) -> None:
        self.quantized = on
        for m in self.quant_modules():
            m.quantized = on
            if hasattr(m, "backend"):
                m.backend = backend

    def forward(self, x: torch.Tensor, with_exits: bool = False):
        x = self.inp(x)
        exit_logits = {}
        for i, blk in enumerate(self.blocks):
            x = blk(x)
            if str(i) in self.exit_heads:
                pooled = self.gap(x, blk.out_scale(), blk.a_bits)
                exit_logits[i] = self.exit_heads[str(i)](pooled, blk.out_scale())
        s = self.blocks[-1].out_scale()
        feats = self.gap(x, s, self.blocks[-1].a_bits) if self.head == "gap" else x.flatten(1)
        logits = self.fc(feats, s)
        return (logits, exit_logits) if with_exits else logits

    @torch.no_grad()
    def calibrate(self, x: torch.Tensor, backend: Backend, act_percentile: float = 99.9) -> None:
        """Initialise quantizer scales from a float-trained net on a batch of training windows.

        Weight scales: per-channel MSE-optimal grid. PACT clips: a high percentile of each block's
        post-BN positive pre-activation (8-bit keeps almost the whole range, fewer bits clip harder).
        """
        self.inp.calibrate(x)
        self.set_quantized(False)
        h = x
        for blk in self.blocks:
            blk.w_scale.copy_(mse_scale(blk.conv.weight, weight_qmax(blk.w_bits), backend))
            pre = F.relu(blk.preactivation(h)).flatten()
            pct = {8: act_percentile, 4: 99.5, 2: 98.0}[blk.a_bits]
            pos = pre[pre > 0]
            blk.alpha.fill_(
                max(float(torch.quantile(pos[:1_000_000], pct / 100)) if pos.numel() else 1.0, 1e-3)
            )
            h = blk(h)
        for lin in [self.fc, *self.exit_heads.values()]:
            lin.w_scale.fill_(
                float(mse_scale(lin.fc.weight.reshape(1, -1), weight_qmax(lin.w_bits), backend)[0])
            )

    def n_params(self) -> int:
        return sum(p.numel() for n, p in self.named_parameters() if not n.endswith(("w_scale", "alpha")))
