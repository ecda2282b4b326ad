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
(``fit_channel``). Where none exists (most 8-bit outputs: their 255 thresholds leave no room), the weight
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

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harx.errors import ConfigError
from harx.export.graph import (
    INPUT_NAME,
    OUTPUT_NAME,
    ExportError,
    build_graph,
    onnx_modules,
)
from harx.paths import check_output
from harx.quant.adaptive import is_adaptive
from harx.quant.artifact import Artifact, load
from harx.quant.integer import IntegerModel
from harx.quant.layers import INPUT_CODE_MAX, INPUT_CODE_MIN


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


def load_static(path: str | Path) -> Artifact:
    """The artifact in ``path``; a one-line ConfigError for an adaptive model's directory."""
    path = Path(path)
    if is_adaptive(path):
        raise ConfigError(
            f"{path}: is an adaptive model (written by `harx adapt`); harx export takes a static model: give "
            "the artifact of one of its stages (its model/, little/ or big/ directory) or a candidate id"
        )
    return load(path)


# ---- windows, check, file ----------------------------------------------------------------------------------


def normalized_test_windows(art: Artifact, count: int | None = None, home: Path | None = None) -> np.ndarray:
    """The first ``count`` (default: all) windows of the test subjects of the artifact's dataset, normalised
    with the artifact's mean and std: float32 (N, C, L), the exported graph's input. DataError if the cached
    dataset is not the one the artifact was trained on."""
    return normalize(art, art.test_windows(count, home))


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
    path = check_output(path, flag="--out")  # before any work
    onnx, ort = onnx_modules()
    art = artifact if isinstance(artifact, Artifact) else load_static(artifact)
    graph = build_graph(art, fmt, carrier)
    x, source = _check_windows(art, windows, home)
    ref = art.model.run(input_codes(art.model, x))
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
