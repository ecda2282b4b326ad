"""The ONNX graph of a static harx model: QDQ nodes that reproduce the integer golden model, or its float
graph (see ``harx.export.onnx`` for the arithmetic and ``docs/export.md``)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from harx import __version__
from harx.errors import ConfigError, HarxError, ToolchainError
from harx.quant.artifact import Artifact
from harx.quant.export import acc_bounds
from harx.quant.integer import INT32_MAX, IntConv, IntegerModel, IntGap, IntLinear, IntMaxPool

FORMATS = ("onnx", "onnx-float")
# How 2- and 4-bit codes travel: in int8/uint8 tensors (opset 13, what converters read today; a Clip keeps
# the activation range) or in ONNX's INT4/UINT4 (opset 21) and INT2/UINT2 (opset 25) types.
CARRIERS = ("int8", "native")
INPUT_NAME, OUTPUT_NAME = "window", "logits"


class ExportError(HarxError):
    """The model cannot be expressed in ONNX, or the exported graph fails its own check."""


def onnx_modules():
    try:
        import onnx
        import onnxruntime
    except ImportError as exc:
        raise ToolchainError(
            f"ONNX export needs the optional packages onnx and onnxruntime ({exc.name} is missing): "
            "pip install 'harx[onnx]'"
        ) from None
    return onnx, onnxruntime


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


def fit_channel(
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
    bias (``_Requant``, ``fit_channel``), over every accumulator any input can produce (``acc_bounds``),
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
        fit = fit_channel(kappa, lam, layer.shift, top, a_lo, a_hi, r)
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
    onnx, _ = onnx_modules()
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
