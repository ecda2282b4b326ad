"""ONNX export of a static harx model: a QDQ graph that reproduces the integer golden model, or a float graph.

The graph is built with ``onnx.helper`` from the IntegerModel, the model harx scores and deploys. Its input is
the normalised window, float32 N x C x L (the artifact's mean and std, kept in the file's metadata, already
applied); its output is float logits, the integer model's int32 logits times ``logit_scale``.

QDQ (``onnx``): ``QuantizeLinear`` turns the input into harx's int8 codes (the artifact's input scale, round
half to even, saturation: ``harx.quant.layers.InputQuant``). Each conv is ``DequantizeLinear`` of the
activation and of the weight codes (one scale per output channel) into a float ``Conv``, then
``QuantizeLinear`` to the layer's unsigned codes (``L<i>_conv_codes``). Activation scales are ours,
``2**-bits`` (the artifact does not keep the trained ones): powers of two, so dequantized codes and their
sums are exact in float32.

harx requantises ``clip((kappa*acc + lambda) >> shift, 0, 2**bits - 1)``; QuantizeLinear computes
``round_half_even((acc + j) / u)`` per channel, ``1/u`` carried by the weight scale and ``j`` by the bias.
Where an integer ``j`` (accumulator units) and a ``u`` put every code threshold where harx's floor puts it,
for every accumulator any input can produce, the bias is that int32 ``j``: the standard QDQ form, exact in
float arithmetic and in every runtime or converter that keeps conv biases as int32 in accumulator units
(``_fit_channel``). Where none exists (most 8-bit outputs: their 255 thresholds leave no room), the weight
scale is harx's own multiplier and the bias the float ``lambda/2**shift - 1/2 + 2**-(shift+1)``: rounding
``t - 1/2 + 2**-(shift+1)`` to nearest is ``floor(t)`` for every ``t`` on the ``2**-shift`` grid of
``(kappa*acc + lambda) / 2**shift``, without ties, so the graph is exact up to float32 rounding; a runtime
that re-quantizes that bias to int32 (onnxruntime's default optimizations, converters) moves some of those
outputs by one code. Max pooling runs on dequantized codes (exact); the global average pool is
``GlobalAveragePool`` plus the offset that makes the rounding harx's floor (exact); the classifier is a
``Gemm`` over dequantized codes with weight scale ``2**-(bits-1)`` and the int32 bias (exact while its
sums stay below 2**24).

Float (``onnx-float``): the same network without quantization — float weights (the dequantized codes,
BatchNorm folded in), the real-valued bias ``lambda/2**shift - 1/2``, ReLU and the PACT clip as ``Clip``,
float pools and classifier. The artifact holds no float weights, so this is the float graph the integer
model defines, not the float model harx trained.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harx import __version__
from harx.data import load_dataset
from harx.errors import ConfigError, DataError, HarxError, ToolchainError
from harx.quant.artifact import Artifact, load
from harx.quant.export import acc_bounds
from harx.quant.integer import INT32_MAX, IntConv, IntegerModel, IntGap, IntLinear, IntMaxPool
from harx.quant.layers import INPUT_CODE_MAX, INPUT_CODE_MIN

FORMATS = ("onnx", "onnx-float")
# How 2- and 4-bit codes travel: in int8/uint8 tensors (opset 13, what converters read today; a Clip keeps
# the activation range) or in ONNX's INT4/UINT4 (opset 21) and INT2/UINT2 (opset 25) types.
CARRIERS = ("int8", "native")
INPUT_NAME, OUTPUT_NAME = "window", "logits"
# `harx adapt` writes this file (harx.deploy.adaptive.ADAPTIVE_FILE); deploy sits above this floor.
_ADAPTIVE_FILE = "adaptive.json"


class ExportError(HarxError):
    """The model cannot be expressed in ONNX, or the exported graph fails its own check."""


@dataclass(frozen=True)
class RuntimeCheck:
    """One onnxruntime run of the exported graph on the check windows, against the integer golden model.

    ``optimization`` "disabled" runs the graph's operators as written (the file's meaning); "default" is
    what ``onnxruntime.InferenceSession(path)`` does, whose graph optimizations hold float conv biases as
    int32 in accumulator units and fuse QDQ into integer kernels. Logit differences are in integer-logit
    units (ONNX logits / logit_scale); a window is exact when every rescaled logit rounds to harx's.
    ``error`` is set (and the numbers are not) when onnxruntime could not run the graph this way."""

    optimization: str
    windows: int
    argmax_agreement: float | None = None
    disagreeing_windows: int | None = None
    exact_windows: int | None = None
    max_logit_diff: float | None = None
    error: str | None = None

    def to_json(self) -> dict:
        return dict(vars(self))


@dataclass(frozen=True)
class ExportResult:
    """The file written, what it is, and how it ran (``checks[0]``: the graph as written, which the
    command requires to run; ``checks[1]``: onnxruntime's default optimizations)."""

    path: Path
    format: str
    carrier: str
    opset: int
    ir_version: int
    genome: str
    dataset: str
    n_classes: int
    input_shape: tuple[str | int, ...]
    input_scale: float
    logit_scale: float
    file_bytes: int
    exact_channels: int
    conv_channels: int
    window_source: str
    onnx_version: str
    ort_version: str
    checks: tuple[RuntimeCheck, ...]

    @property
    def check(self) -> RuntimeCheck:
        return self.checks[0]

    def to_json(self) -> dict:
        c = self.check
        return {
            "path": str(self.path),
            "format": self.format,
            "carrier": self.carrier,
            "opset": self.opset,
            "ir_version": self.ir_version,
            "genome": self.genome,
            "dataset": self.dataset,
            "input": {"name": INPUT_NAME, "shape": list(self.input_shape), "dtype": "float32"},
            "output": {"name": OUTPUT_NAME, "shape": ["N", self.n_classes], "dtype": "float32"},
            "input_scale": self.input_scale,
            "logit_scale": self.logit_scale,
            "file_bytes": self.file_bytes,
            "exact_channels": self.exact_channels,
            "conv_channels": self.conv_channels,
            "onnx_checker": "passed",
            "onnx_version": self.onnx_version,
            "onnxruntime_version": self.ort_version,
            "window_source": self.window_source,
            "windows": c.windows,
            "argmax_agreement": c.argmax_agreement,
            "max_logit_diff": c.max_logit_diff,
            "checks": [ch.to_json() for ch in self.checks],
        }


def _onnx():
    try:
        import onnx
        import onnxruntime
    except ImportError as exc:
        raise ToolchainError(
            f"ONNX export needs the optional packages onnx and onnxruntime ({exc.name} is missing): "
            "pip install 'harx[onnx]'"
        ) from None
    return onnx, onnxruntime


def load_static(path: str | Path) -> Artifact:
    """The artifact in ``path``; a one-line ConfigError for an adaptive model's directory."""
    path = Path(path)
    if (path / _ADAPTIVE_FILE).is_file():
        raise ConfigError(
            f"{path}: is an adaptive model (written by `harx adapt`); harx export takes a static model: give "
            "the artifact of one of its stages (its model/, little/ or big/ directory) or a candidate id"
        )
    return load(path)


# ---- graph construction ------------------------------------------------------------------------------------


class _Builder:
    """The nodes and initializers of one graph; ``node`` returns its output's name, ``const`` its own."""

    def __init__(self, onnx) -> None:
        self.h, self.tp = onnx.helper, onnx.TensorProto
        self.nodes: list = []
        self.inits: list = []

    def const(self, name: str, values, dtype: int, dims=None) -> str:
        values = np.asarray(values)
        dims = list(values.shape) if dims is None else dims
        flat = values.astype(np.float32 if dtype == self.tp.FLOAT else np.int64).ravel().tolist()
        self.inits.append(self.h.make_tensor(name, dtype, dims, flat))
        return name

    def node(self, op: str, inputs: list[str], output: str, **attrs) -> str:
        self.nodes.append(self.h.make_node(op, inputs, [output], name=f"{output}/{op}", **attrs))
        return output


@dataclass(frozen=True)
class _Types:
    """ONNX element types of weight and activation codes of each bit width, and the opset they need."""

    carrier: str

    def weight(self, tp, bits: int) -> int:
        return {8: tp.INT8, 4: tp.INT4, 2: tp.INT2}[bits] if self.carrier == "native" else tp.INT8

    def activation(self, tp, bits: int) -> int:
        return {8: tp.UINT8, 4: tp.UINT4, 2: tp.UINT2}[bits] if self.carrier == "native" else tp.UINT8

    def weight_factor(self, bits: int) -> int:
        """Conv weight codes are stored times this: in int8 carriers a b-bit code q as q * 2**(8-b), the
        same dequantized value with the scale divided alike, so that an int32 bias in accumulator units
        (what runtimes and converters hold) is 2**(8-b) times finer."""
        return 2 ** (8 - bits) if self.carrier == "int8" else 1

    def needs_clip(self, bits: int) -> bool:
        """Whether QuantizeLinear's saturation is wider than the layer's [0, 2**bits - 1] codes."""
        return self.carrier == "int8" and bits < 8

    def opset(self, model: IntegerModel) -> int:
        if self.carrier == "int8":
            return 13  # per-axis DequantizeLinear
        bits = {
            getattr(layer, k)
            for layer in model.layers
            for k in ("w_bits", "out_bits", "bits")
            if hasattr(layer, k)
        }
        return 25 if 2 in bits else 21


def _act_scale(bits: int) -> float:
    """Our activation scale: a power of two, so dequantized codes and their sums are exact in float32."""
    return 2.0**-bits


@dataclass(frozen=True)
class _Requant:
    """One conv's requantisation in QDQ terms: output code = round_half_even((conv + bias) / s_out),
    saturated, where the conv of dequantized codes is ``acc * s_x * w_scale`` per channel.

    Channels where ``exact``: ``bias = acc_bias * s_x * w_scale`` with an integer ``acc_bias`` (accumulator
    units, as int32-bias runtimes and converters hold it), and the result is harx's code for every reachable
    accumulator. The others: ``w_scale`` is harx's own multiplier and ``bias`` the real-valued one plus
    the tie-free floor offset (module doc), exact in float arithmetic only."""

    codes: np.ndarray  # (cout, cin, k), signs flipped where the multiplier is negative
    w_scale: np.ndarray
    bias: np.ndarray
    acc_bias: np.ndarray
    exact: np.ndarray


# Integer biases tried on each side of the one harx's own multiplier implies, in steps of the unscaled
# accumulator (times the weight factor r).
_BIAS_SEARCH = 3


def _thresholds(kappa: int, lam: int, shift: int, top: int) -> np.ndarray:
    """T_k, k = 1..top: the smallest accumulator with ``(kappa*acc + lam) >> shift >= k`` (kappa > 0)."""
    k = np.arange(1, top + 1, dtype=np.int64)
    return (-((lam - k * 2**shift) // kappa)).astype(np.float64)


def _fit_channel(
    kappa: int, lam: int, shift: int, top: int, a_lo: int, a_hi: int, r: int = 1
) -> tuple[float, int] | None:
    """``(u, j)`` such that ``round_half_even((r*a + j) / u)`` clipped to [0, top] equals
    ``clip((kappa*a + lam) >> shift, 0, top)`` for every integer ``a`` in [a_lo, a_hi], or None. ``r`` is
    the factor the weight codes are stored with (``_Types.weight_factor``): accumulators come in steps of r.

    Code k is reached where ``r*a > v_k = (k - 1/2) u - j``, harx's at ``a >= T_k``: each ``v_k`` must lie
    strictly inside (r (T_k - 1), r T_k) (strictly: no ties), or below/above the whole reachable range when
    T_k is outside it. For a fixed integer j that is an interval of u; the j with the widest margin wins,
    u at the middle of its interval. There is often none when many codes are in reach (8-bit outputs):
    the thresholds' fractional positions leave no room for shifting them all to an integer j."""
    t = _thresholds(kappa, lam, shift, top)
    half = np.arange(1, top + 1) - 0.5
    lo = r * np.where(t <= a_lo, -np.inf, np.where(t > a_hi, a_hi, t - 1))
    hi = r * np.where(t <= a_lo, a_lo, np.where(t > a_hi, np.inf, t))
    u0 = r * 2.0**shift / kappa
    j0 = round(r * (lam - 2.0 ** (shift - 1)) / kappa)
    j = np.arange(j0 - _BIAS_SEARCH * r, j0 + _BIAS_SEARCH * r + 1, dtype=np.float64)[:, None]
    u_lo = np.maximum(np.max((lo + j) / half, axis=1), 0.0)
    u_hi = np.min((hi + j) / half, axis=1)
    u = np.where(
        np.isinf(u_hi),
        np.where(u_lo > 0, np.maximum(u0, 2 * u_lo), u0),
        np.where((u_lo == 0) & (u0 < u_hi), u0, (u_lo + u_hi) / 2),
    )
    v = half * u[:, None] - j
    # A threshold closer to an accumulator than float32 can resolve would not survive the graph's float
    # multiplier: demand a margin of 2**-20 of the largest threshold (16 times float32's resolution).
    tol = 2.0**-20 * np.maximum(np.max(np.abs(v), axis=1), 1.0)
    margin = np.min(np.minimum(v - lo, hi - v), axis=1)
    margin = np.where((u_lo < u_hi) & (margin > tol), margin, -np.inf)
    best = int(np.argmax(margin))
    return None if margin[best] == -np.inf else (float(u[best]), int(j[best, 0]))


def _requant(layer: IntConv, s_x: float, s_out: float, r: int) -> _Requant:
    """Express ``clip((kappa*acc + lambda) >> shift, 0, 2**bits - 1)`` per channel as a weight scale and a
    bias (``_Requant``, ``_fit_channel``), over every accumulator any input can produce (``acc_bounds``),
    with the weight codes stored times ``r``. A negative kappa flips the channel's codes when they are
    symmetric, so that scales are positive as converters expect; a zero kappa zeroes them (the channel is
    its bias)."""
    codes = layer.weights.transpose(0, 2, 1).astype(np.int64)
    acc_lo, acc_hi = acc_bounds(codes, layer.in_bits, layer.in_signed)
    lowest = -(2 ** (layer.w_bits - 1))
    top = 2**layer.out_bits - 1
    n = layer.cout
    scale, bias, acc_bias, exact = np.empty(n), np.empty(n), np.zeros(n, np.int64), np.zeros(n, bool)
    for c in range(n):
        kappa, lam = int(layer.kappa[c]), int(layer.lam[c])
        sign = -1 if kappa < 0 else 1
        if kappa == 0:
            codes[c] = 0
            kappa, a_lo, a_hi = 1, 0, 0
        elif sign < 0 and codes[c].min() > lowest:
            codes[c] *= -1
            kappa, sign, a_lo, a_hi = -kappa, 1, -int(acc_hi[c]), -int(acc_lo[c])
        elif sign < 0:  # asymmetric codes cannot flip: a negative scale, acc seen as -acc
            kappa, a_lo, a_hi = -kappa, -int(acc_hi[c]), -int(acc_lo[c])
        else:
            a_lo, a_hi = int(acc_lo[c]), int(acc_hi[c])
        fit = _fit_channel(kappa, lam, layer.shift, top, a_lo, a_hi, r)
        if fit is not None and abs(fit[1]) <= INT32_MAX:
            u, j = fit
            scale[c] = sign * s_out / (u * s_x)
            acc_bias[c], exact[c] = sign * j, True
            bias[c] = acc_bias[c] * s_x * scale[c]
        else:
            scale[c] = sign * kappa * 2.0**-layer.shift * s_out / (s_x * r)
            bias[c] = (lam * 2.0**-layer.shift - 0.5 + 2.0 ** -(layer.shift + 1)) * s_out
    return _Requant(codes * r, scale, bias, acc_bias, exact)


def _gap_exact_floor(layer: IntGap, length: int) -> bool:
    """Whether ``(sum * m) >> shift`` is ``floor(sum / length)`` for every sum of ``length`` codes."""
    sums = np.arange(length * (2**layer.bits - 1) + 1, dtype=np.int64)
    return bool(np.array_equal((sums * layer.m) >> layer.shift, sums // length))


def _linear_weights(layer: IntLinear, length: int, channels: int) -> np.ndarray:
    """Classifier codes reordered from harx's HWC flattening (l * C + c) to ONNX's N x C x L (c * L + l)."""
    w = layer.weights.astype(np.int64)
    return w.reshape(layer.cout, length, channels).transpose(0, 2, 1).reshape(layer.cout, -1)


@dataclass(frozen=True)
class Graph:
    """An exported ModelProto; its logits are the integer logits times ``logit_scale``. In the QDQ format
    ``exact[i]`` marks the output channels of conv layer i whose requantisation holds an int32 bias
    (``_Requant``); the float format has none."""

    proto: object
    logit_scale: float
    exact: dict[int, np.ndarray]

    @property
    def exact_channels(self) -> int:
        return sum(int(m.sum()) for m in self.exact.values())

    @property
    def conv_channels(self) -> int:
        return sum(len(m) for m in self.exact.values())


def build_graph(art: Artifact, fmt: str = "onnx", carrier: str = "int8") -> Graph:
    """The ONNX graph of ``art``'s main network (early-exit heads are not exported)."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format '{fmt}' (known: {', '.join(FORMATS)})")
    if carrier not in CARRIERS:
        raise ConfigError(f"unknown carrier '{carrier}' (known: {', '.join(CARRIERS)})")
    onnx, _ = _onnx()
    b, tp = _Builder(onnx), onnx.TensorProto
    if carrier == "native" and not hasattr(tp, "INT2"):
        raise ToolchainError(
            f"onnx {onnx.__version__} has no INT2/UINT2 types: --carrier native needs a newer onnx"
        )
    model = art.model
    types = _Types(carrier)
    quant = fmt == "onnx"
    s_in = float(np.float32(model.input_scale))
    s_x, act = s_in, INPUT_NAME
    if quant:
        b.const("input_scale", s_in, tp.FLOAT, [])
        b.const("input_zp", 0, tp.INT8, [])
        codes = b.node("QuantizeLinear", [INPUT_NAME, "input_scale", "input_zp"], "input_codes")
        act = b.node("DequantizeLinear", [codes, "input_scale", "input_zp"], "input_dq")
    length, channels = model.in_len, model.in_channels
    logit_scale = None
    exact: dict[int, np.ndarray] = {}

    def requantize(y: str, name: str, bits: int, scale: float) -> str:
        """QuantizeLinear to unsigned ``bits``-bit codes of ``scale`` (a Clip first where the carrier is
        wider), then DequantizeLinear: the QDQ pair that ends each layer."""
        zp_type = types.activation(tp, bits)
        b.const(f"{name}_scale", scale, tp.FLOAT, [])
        b.const(f"{name}_zp", 0, zp_type, [])
        if types.needs_clip(bits):
            b.const(f"{name}_lo", 0.0, tp.FLOAT, [])
            b.const(f"{name}_hi", (2**bits - 1) * scale, tp.FLOAT, [])
            y = b.node("Clip", [y, f"{name}_lo", f"{name}_hi"], f"{name}_clip")
        q = b.node("QuantizeLinear", [y, f"{name}_scale", f"{name}_zp"], f"{name}_codes")
        return b.node("DequantizeLinear", [q, f"{name}_scale", f"{name}_zp"], f"{name}_dq")

    for i, layer in enumerate(model.layers):
        name = f"L{i}_{layer.kind}"
        if isinstance(layer, IntConv):
            s_out = _act_scale(layer.out_bits)
            conv = dict(
                kernel_shape=[layer.kernel],
                strides=[layer.stride],
                dilations=[layer.dilation],
                pads=[layer.pad_left, layer.pad_right],
            )
            if quant:
                rq = _requant(layer, s_x, s_out, types.weight_factor(layer.w_bits))
                exact[i] = rq.exact
                wt = types.weight(tp, layer.w_bits)
                b.const(f"{name}_wcodes", rq.codes, wt)
                b.const(f"{name}_wscale", rq.w_scale, tp.FLOAT)
                b.const(f"{name}_wzp", np.zeros(layer.cout), wt)
                w = b.node(
                    "DequantizeLinear",
                    [f"{name}_wcodes", f"{name}_wscale", f"{name}_wzp"],
                    f"{name}_w",
                    axis=0,
                )
                if rq.exact.all():  # the standard QDQ form: int32 bias in accumulator units
                    b.const(f"{name}_bcodes", rq.acc_bias, tp.INT32)
                    b.const(f"{name}_bscale", s_x * rq.w_scale, tp.FLOAT)
                    b.const(f"{name}_bzp", np.zeros(layer.cout), tp.INT32)
                    bias = b.node(
                        "DequantizeLinear",
                        [f"{name}_bcodes", f"{name}_bscale", f"{name}_bzp"],
                        f"{name}_b",
                        axis=0,
                    )
                else:
                    bias = b.const(f"{name}_b", rq.bias, tp.FLOAT)
                y = b.node("Conv", [act, w, bias], f"{name}_out", **conv)
                act = requantize(y, name, layer.out_bits, s_out)
            else:  # the real-valued requantisation, (kappa*acc + lambda) / 2**shift - 1/2, unrounded
                m = layer.kappa * 2.0**-layer.shift
                w = b.const(
                    f"{name}_w", layer.weights.transpose(0, 2, 1) * (m * s_out / s_x)[:, None, None], tp.FLOAT
                )
                bias = b.const(f"{name}_b", (layer.lam * 2.0**-layer.shift - 0.5) * s_out, tp.FLOAT)
                y = b.node("Conv", [act, w, bias], f"{name}_out", **conv)
                b.const(f"{name}_lo", 0.0, tp.FLOAT, [])
                b.const(f"{name}_hi", (2**layer.out_bits - 1) * s_out, tp.FLOAT, [])
                act = b.node("Clip", [y, f"{name}_lo", f"{name}_hi"], f"{name}_clip")
            s_x, channels, length = s_out, layer.cout, layer.out_len(length)
        elif isinstance(layer, IntMaxPool):
            y = b.node("MaxPool", [act], f"{name}_out", kernel_shape=[layer.size], strides=[layer.size])
            act = requantize(y, name, layer.bits, s_x) if quant else y
            length = layer.out_len(length)
        elif isinstance(layer, IntGap):
            y = b.node("GlobalAveragePool", [act], f"{name}_out")
            if quant:
                if _gap_exact_floor(layer, length):
                    # floor(sum / L): the mean's fraction is a multiple of 1/L, so this offset leaves no ties.
                    offset = -0.5 + 1 / (2 * length)
                else:  # (sum * m) >> shift is not floor(sum / L) here: scale to it (float-rounded)
                    b.const(f"{name}_mul", length * layer.m * 2.0**-layer.shift, tp.FLOAT, [])
                    y = b.node("Mul", [y, f"{name}_mul"], f"{name}_scaled")
                    offset = -0.5 + 2.0 ** -(layer.shift + 1)
                b.const(f"{name}_offset", offset * s_x, tp.FLOAT, [])
                y = b.node("Add", [y, f"{name}_offset"], f"{name}_floor")
                act = requantize(y, name, layer.bits, s_x)
            else:
                act = y
            length = 1
        elif isinstance(layer, IntLinear):
            flat = b.node("Flatten", [act], f"{name}_in", axis=1)
            w_scale = 2.0 ** -(layer.w_bits - 1)
            logit_scale = s_x * w_scale
            codes = _linear_weights(layer, length, channels)
            if quant:
                wt = types.weight(tp, layer.w_bits)
                b.const(f"{name}_wcodes", codes, wt)
                b.const(f"{name}_wscale", w_scale, tp.FLOAT, [])
                b.const(f"{name}_wzp", 0, wt, [])
                w = b.node(
                    "DequantizeLinear", [f"{name}_wcodes", f"{name}_wscale", f"{name}_wzp"], f"{name}_w"
                )
                b.const(f"{name}_bcodes", layer.bias, tp.INT32)
                b.const(f"{name}_bscale", logit_scale, tp.FLOAT, [])
                b.const(f"{name}_bzp", 0, tp.INT32, [])
                bias = b.node(
                    "DequantizeLinear", [f"{name}_bcodes", f"{name}_bscale", f"{name}_bzp"], f"{name}_b"
                )
            else:
                w = b.const(f"{name}_w", codes * w_scale, tp.FLOAT)
                bias = b.const(f"{name}_b", layer.bias * logit_scale, tp.FLOAT)
            b.node("Gemm", [flat, w, bias], OUTPUT_NAME, transB=1)
        else:  # pragma: no cover - IntegerModel holds only these kinds
            raise ExportError(f"layer {i}: kind '{layer.kind}' has no ONNX form")
    if logit_scale is None or not isinstance(model.layers[-1], IntLinear):
        raise ExportError("the model does not end with a linear classifier")
    h = onnx.helper
    graph = h.make_graph(
        b.nodes,
        f"harx {art.genome}",
        [h.make_tensor_value_info(INPUT_NAME, tp.FLOAT, ["N", model.in_channels, model.in_len])],
        [h.make_tensor_value_info(OUTPUT_NAME, tp.FLOAT, ["N", model.n_classes])],
        b.inits,
    )
    opset = types.opset(model) if quant else 13
    opsets = [h.make_opsetid("", opset)]
    proto = h.make_model(
        graph,
        opset_imports=opsets,
        ir_version=h.find_min_ir_version_for(opsets),
        producer_name="harx",
        producer_version=__version__,
        doc_string=(
            f"harx {art.genome} ({fmt}, {carrier} carriers) trained on {art.dataset}. Input: the window "
            "normalised with metadata norm_mean/norm_std, float32 N x C x L. Output: logits = integer logits "
            "* logit_scale; the class is the argmax."
        ),
    )
    meta = {
        "genome": art.genome,
        "dataset": art.dataset,
        "dataset_fingerprint": art.dataset_fingerprint,
        "norm_mean": json.dumps(list(map(float, art.norm_mean))),
        "norm_std": json.dumps(list(map(float, art.norm_std))),
        "class_names": json.dumps(list(art.class_names)),
        "layout": "N x C x L, float32, normalised",
        "input_scale": repr(s_in),
        "logit_scale": repr(logit_scale),
        "format": fmt,
        "carrier": carrier,
    }
    h.set_model_props(proto, {f"harx.{k}": v for k, v in meta.items()})
    return Graph(proto, logit_scale, exact)


# ---- windows, check, file ----------------------------------------------------------------------------------


def normalized_test_windows(art: Artifact, count: int | None = None, home: Path | None = None) -> np.ndarray:
    """The first ``count`` (default: all) windows of the test subjects of the artifact's dataset, normalised
    with the artifact's mean and std: float32 (N, C, L), the exported graph's input. DataError if the cached
    dataset is not the one the artifact was trained on."""
    ds = load_dataset(art.dataset, home)
    if art.dataset_fingerprint and ds.fingerprint != art.dataset_fingerprint:
        raise DataError(
            f"dataset '{ds.name}' in the cache ({ds.cache_path}) has fingerprint {ds.fingerprint}, but the "
            f"artifact was trained on {art.dataset_fingerprint}; fetch the same dataset version"
        )
    idx = np.flatnonzero(np.isin(ds.subject, np.asarray(ds.test_subjects, dtype=np.int64)))[:count]
    if len(idx) == 0:
        raise DataError(f"dataset '{ds.name}' ({ds.cache_path}) has no windows of its test subjects")
    return normalize(art, ds.X[idx])


def normalize(art: Artifact, x: np.ndarray) -> np.ndarray:
    """Windows (N, C, L) in dataset units -> the graph's input, float32 ``(x - mean) / std`` per channel (the
    same float32 operations as ``harx.quant.layers.normalize``)."""
    mean = np.asarray(art.norm_mean, np.float32).reshape(1, -1, 1)
    std = np.asarray(art.norm_std, np.float32).reshape(1, -1, 1)
    return (np.asarray(x, np.float32) - mean) / std


def input_codes(model: IntegerModel, x_norm: np.ndarray) -> np.ndarray:
    """int8 codes (N, L, C) of normalised windows (N, C, L), exactly as harx quantizes its input: float32
    ``x / scale`` rounded half to even, clipped to int8."""
    q = np.rint(np.asarray(x_norm, np.float32) / np.float32(model.input_scale))
    return np.clip(q, INPUT_CODE_MIN, INPUT_CODE_MAX).astype(np.int8).transpose(0, 2, 1).copy()


def _run_check(ort, model_bytes: bytes, x: np.ndarray, ref: np.ndarray, logit_scale: float, level: str):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.log_severity_level = 3  # warnings about the optimized graph are not the user's concern here
    if level == "disabled":
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        sess = ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])
        out = sess.run([OUTPUT_NAME], {INPUT_NAME: x})[0]
    except Exception as exc:  # onnxruntime raises its own exception types, not exported stably
        if level == "disabled":
            raise ExportError(
                f"onnxruntime cannot run the exported graph: {str(exc).splitlines()[0]}"
            ) from None
        return RuntimeCheck(level, len(x), error=str(exc).splitlines()[0])
    rescaled = out.astype(np.float64) / logit_scale
    return RuntimeCheck(
        level,
        len(x),
        argmax_agreement=float(np.mean(out.argmax(axis=1) == ref.argmax(axis=1))),
        disagreeing_windows=int(np.sum(out.argmax(axis=1) != ref.argmax(axis=1))),
        exact_windows=int(np.all(np.rint(rescaled) == ref, axis=1).sum()),
        max_logit_diff=float(np.abs(rescaled - ref).max()),
    )


def _check_windows(art: Artifact, windows, home: Path | None) -> tuple[np.ndarray, str]:
    model = art.model
    if isinstance(windows, np.ndarray):
        if windows.ndim != 3 or windows.shape[1:] != (model.in_channels, model.in_len) or not len(windows):
            raise ConfigError(
                f"check windows: expected float32 (N, {model.in_channels}, {model.in_len}) normalised windows, "
                f"got shape {windows.shape}"
            )
        return np.ascontiguousarray(windows, np.float32), "given"
    if windows is not None and windows < 1:
        raise ConfigError(f"--windows must be at least 1, got {windows}")
    x = normalized_test_windows(art, windows, home)
    return x, f"test subjects of {art.dataset}"


def _write_staged(path: Path) -> Path:
    """A temporary file beside ``path`` (ConfigError naming ``path`` when it cannot be written there)."""
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory; give the ONNX file to write with -o")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write here ({exc.strerror})") from None
    return Path(tmp)


def export_onnx(
    artifact: Artifact | str | Path,
    path: str | Path,
    fmt: str = "onnx",
    carrier: str = "int8",
    windows: int | np.ndarray | None = None,
    home: Path | None = None,
) -> ExportResult:
    """Write ``artifact`` (an Artifact or its directory) as an ONNX file at ``path`` and check it.

    The graph must pass ``onnx.checker`` (full check) and run under onnxruntime as written; both runs
    (``RuntimeCheck``) are compared with the integer golden model on ``windows``: normalised float windows
    (N, C, L), a count of the artifact dataset's test-subject windows, or None for all of them. The file
    appears only when all of that succeeded (written beside it and renamed into place)."""
    onnx, ort = _onnx()
    art = artifact if isinstance(artifact, Artifact) else load_static(artifact)
    graph = build_graph(art, fmt, carrier)
    x, source = _check_windows(art, windows, home)
    ref = art.model.run(input_codes(art.model, x))
    path = Path(path)
    tmp = _write_staged(path)
    try:
        try:
            onnx.checker.check_model(graph.proto, full_check=True)
        except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
            raise ExportError(f"the exported graph fails onnx.checker: {str(exc).splitlines()[0]}") from None
        data = graph.proto.SerializeToString()
        try:
            tmp.write_bytes(data)
        except OSError as exc:
            raise ConfigError(f"{path}: cannot write ({exc.strerror})") from None
        checks = tuple(_run_check(ort, data, x, ref, graph.logit_scale, lv) for lv in ("disabled", "default"))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    m = art.model
    return ExportResult(
        path=path,
        format=fmt,
        carrier=carrier,
        opset=graph.proto.opset_import[0].version,
        ir_version=graph.proto.ir_version,
        genome=art.genome,
        dataset=art.dataset,
        n_classes=m.n_classes,
        input_shape=("N", m.in_channels, m.in_len),
        input_scale=float(np.float32(m.input_scale)),
        logit_scale=graph.logit_scale,
        file_bytes=len(data),
        exact_channels=graph.exact_channels,
        conv_channels=graph.conv_channels,
        window_source=source,
        onnx_version=onnx.__version__,
        ort_version=ort.__version__,
        checks=checks,
    )
