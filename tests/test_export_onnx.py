"""harx export: ONNX files of integer models, checked by onnx.checker and onnxruntime against the golden model.

Fast tests use random-weight integer models (every layer kind, 2/4/8-bit weights and activations, stride,
dilation, pools, GAP and flatten heads) and random windows; the real-data proof on the five genomes of
bench/deploy_realdata.py is the slow test at the end (bench/export_onnx.py gives the reported numbers).
"""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from harx.deploy.synthetic import random_model
from harx.errors import ConfigError, DataError, HarxError, ToolchainError
from harx.export import ExportError, export_onnx
from harx.export.graph import build_graph, fit_channel
from harx.export.onnx import input_codes, normalize
from harx.quant.artifact import Artifact, save

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
# Every layer kind and bit width: 8-bit only; stride + dilation + flatten at 4 bit; pool + 2-bit + GAP;
# a mixed flatten model with a 2-bit-weight conv feeding 8-bit activations.
GENOMES = (
    "c8k5w8a8-gapw8",
    "c16k5s3w8a4-c8k3d2w4a4-flatw4",
    "c12k3p2w8a2-c16k5d3w2a2-c8k3s2w2a2-gapw2",
    "c16k7s2w8a8-c24k5p3w4a4-c16k3d2w2a8-c8k3w8a2-flatw2",
)
WINDOWS = 48


def artifact_of(genome, seed=0, dataset="synthetic", input_scale=0.03):
    model = dataclasses.replace(random_model(genome, 9, 128, 6, seed), input_scale=input_scale)
    return Artifact(model, genome, dataset, "", [0.0] * 9, [1.0] * 9, [f"class{i}" for i in range(6)])


def windows(n=WINDOWS, seed=1):
    """Normalised float windows (N, C, L) whose input codes spread over the int8 range (scale 0.03)."""
    return np.random.default_rng(seed).normal(0, 1.5, size=(n, 9, 128)).astype(np.float32)


def layer_codes(art, proto, x, optimized):
    """Each layer's output codes from onnxruntime (N, L, C), and the integer layer run on onnxruntime's own
    codes of the layer before it: the error each layer adds, isolated."""
    names = ["input_codes"] + [f"L{i}_{layer.kind}_codes" for i, layer in enumerate(art.model.layers[:-1])]
    p = onnx.ModelProto()
    p.CopyFrom(proto)
    p.graph.output.extend(onnx.helper.make_empty_tensor_value_info(n) for n in names)
    so = ort.SessionOptions()
    if not optimized:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    outs = ort.InferenceSession(p.SerializeToString(), so, providers=["CPUExecutionProvider"]).run(
        names, {"window": x}
    )
    got = [o.astype(np.int64).transpose(0, 2, 1) for o in outs]
    want = [layer.run(prev) for layer, prev in zip(art.model.layers[:-1], got[:-1], strict=True)]
    return got, want


# ---- the requantisation fit --------------------------------------------------------------------------------


@pytest.mark.parametrize("top", [3, 15, 255])
@pytest.mark.parametrize("r", [1, 16])
def test_fitted_requantisation_equals_harx_on_every_reachable_accumulator(top, r):
    rng = np.random.default_rng(top + r)
    fitted = 0
    for _ in range(40):
        # Multipliers from 1e-4 to 2 codes per accumulator unit, biases across the code range.
        shift = int(rng.integers(12, 24))
        kappa = max(1, round(10 ** rng.uniform(-4, 0.3) * 2**shift))
        lam = round(rng.uniform(-top, top) * 2**shift)
        a_lo, a_hi = sorted(int(v) for v in rng.integers(-3000, 3000, 2))
        fit = fit_channel(kappa, lam, shift, top, a_lo, a_hi, r)
        if fit is None:
            continue
        fitted += 1
        u, j = fit
        a = np.arange(a_lo, a_hi + 1)
        harx = np.clip((kappa * a + lam) >> shift, 0, top)
        onnx_codes = np.clip(np.rint((r * a + j) / u), 0, top)  # QuantizeLinear: round half to even
        assert np.array_equal(onnx_codes, harx), (kappa, lam, shift, a_lo, a_hi)
    # Enough fits to make the check mean something (an integer bias is not always possible, docs/export.md).
    assert fitted >= 20


# ---- QDQ graphs of random models -------------------------------------------------------------------------


@pytest.mark.parametrize("genome", GENOMES)
def test_qdq_export_is_checked_and_reproduces_the_integer_model(genome, tmp_path):
    art = artifact_of(genome)
    x = windows()
    r = export_onnx(art, tmp_path / "m.onnx", windows=x)
    model = onnx.load(tmp_path / "m.onnx")
    onnx.checker.check_model(model, full_check=True)
    assert (r.opset, model.opset_import[0].version, r.file_bytes) == (
        13,
        13,
        (tmp_path / "m.onnx").stat().st_size,
    )
    ops = {n.op_type for n in model.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv", "Gemm"} <= ops
    written, default = r.checks
    assert (written.optimization, written.windows, written.error) == ("disabled", WINDOWS, None)
    # As written the graph is the integer model: every window's logits, not just the argmax.
    assert written.argmax_agreement == 1.0 and written.exact_windows == WINDOWS
    assert written.max_logit_diff < 0.5
    assert default.error is None and default.argmax_agreement >= 0.9
    # Layer by layer, each on onnxruntime's own input codes: conv channels fitted with an int32 bias are
    # exact in both runs (the default run uses onnxruntime's integer kernels), pools too; the other conv
    # channels are one code off at most, and as written only where float32 rounding meets a code boundary.
    graph = build_graph(art)
    assert graph.exact_channels == r.exact_channels
    for optimized in (False, True):
        got, want = layer_codes(art, graph.proto, x, optimized)
        assert np.array_equal(got[0], input_codes(art.model, x))
        for i, (g, w) in enumerate(zip(got[1:], want, strict=True)):
            fitted = graph.exact.get(i, np.ones(g.shape[2], bool))
            assert np.array_equal(g[..., fitted], w[..., fitted])
            assert np.abs(g - w).max() <= 1
            assert np.mean(g != w) <= (0.05 if optimized else 1e-4)


def test_channels_fitted_with_an_int32_bias_are_exact_under_integer_kernels(tmp_path):
    # 2-bit outputs: every channel fits, so even onnxruntime's fused integer kernels give harx's logits.
    art = artifact_of("c12k3p2w8a2-c16k5d3w2a2-c8k3s2w2a2-gapw2", seed=3)
    r = export_onnx(art, tmp_path / "m.onnx", windows=windows(seed=4))
    assert r.exact_channels == r.conv_channels == 36
    for check in r.checks:
        assert (check.argmax_agreement, check.exact_windows, check.max_logit_diff) == (1.0, WINDOWS, 0.0)


def test_native_carriers_use_int4_and_int2_types(tmp_path):
    art = artifact_of(GENOMES[3])
    x = windows()
    r = export_onnx(art, tmp_path / "m.onnx", carrier="native", windows=x)
    model = onnx.load(tmp_path / "m.onnx")
    assert r.opset == 25 == model.opset_import[0].version  # INT2/UINT2 need opset 25
    tp = onnx.TensorProto
    types = {i.name: i.data_type for i in model.graph.initializer}
    assert types["L0_conv_wcodes"] == tp.INT8 and types["L1_conv_wcodes"] == tp.INT4
    assert types["L3_conv_wcodes"] == tp.INT2 and types["L1_conv_zp"] == tp.UINT4
    assert types["L4_conv_zp"] == tp.UINT2 and types["L5_linear_wcodes"] == tp.INT2
    assert "Clip" not in {n.op_type for n in model.graph.node}  # the types saturate to the code range
    assert r.check.argmax_agreement == 1.0 and r.check.exact_windows == WINDOWS
    # 4-bit-only models need opset 21 only.
    assert export_onnx(artifact_of(GENOMES[1]), tmp_path / "m4.onnx", carrier="native", windows=x).opset == 21


def test_int8_carriers_keep_sub_byte_ranges(tmp_path):
    art = artifact_of(GENOMES[2])
    export_onnx(art, tmp_path / "m.onnx", windows=windows(8))
    model = onnx.load(tmp_path / "m.onnx")
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    # 2-bit weight codes q are stored as q * 64 (same dequantized value), the activations clipped to 0..3.
    stored = inits["L2_conv_wcodes"]
    assert stored.dtype == np.int8 and np.all(stored % 64 == 0)
    assert set(np.unique(stored // 64)) <= {-2, -1, 0, 1}
    assert inits["L2_conv_hi"] == pytest.approx(3 * inits["L2_conv_scale"])
    assert inits["L5_linear_wcodes"].min() >= -2 and inits["L5_linear_wcodes"].max() <= 1


def test_metadata_lets_a_user_feed_raw_windows(tmp_path):
    # Normalisation with the file's own metadata, onnxruntime on raw windows == harx's torch input path.
    art = dataclasses.replace(
        artifact_of(GENOMES[0]),
        norm_mean=[0.5 * c for c in range(9)],
        norm_std=[0.2 + 0.1 * c for c in range(9)],
    )
    raw = (
        windows(16) * np.asarray(art.norm_std, np.float32)[:, None]
        + np.asarray(art.norm_mean, np.float32)[:, None]
    )
    export_onnx(art, tmp_path / "m.onnx", windows=normalize(art, raw))
    model = onnx.load(tmp_path / "m.onnx")
    meta = {p.key: p.value for p in model.metadata_props}
    mean = np.asarray(json.loads(meta["harx.norm_mean"]), np.float32)[:, None]
    std = np.asarray(json.loads(meta["harx.norm_std"]), np.float32)[:, None]
    assert json.loads(meta["harx.class_names"]) == art.class_names and meta["harx.genome"] == art.genome
    logits = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(
        None, {"window": (raw - mean) / std}
    )[0]
    expected = art.model.run(art.normalize_and_quantize(raw))
    assert np.array_equal(np.rint(logits / float(meta["harx.logit_scale"])), expected)


# ---- the float graph -------------------------------------------------------------------------------------


def float_reference(model, x):
    """The integer model's real-valued function in numpy: requantisation unrounded, PACT clip, float pools."""
    h = x.transpose(0, 2, 1).astype(np.float64) / model.input_scale  # in input-code units
    for layer in model.layers:
        if layer.kind == "conv":
            t = _float_conv(layer, h) * layer.kappa * 2.0**-layer.shift + layer.lam * 2.0**-layer.shift - 0.5
            h = np.clip(t, 0, 2**layer.out_bits - 1)
        elif layer.kind == "maxpool":
            n, length, c = h.shape
            h = h[:, : length // layer.size * layer.size].reshape(n, -1, layer.size, c).max(axis=2)
        elif layer.kind == "gap":
            h = h.mean(axis=1, keepdims=True)
        else:
            h = h.reshape(len(h), -1) @ layer.weights.T.astype(np.float64) + layer.bias
    return h


def _float_conv(layer, h):
    hp = np.pad(h, ((0, 0), (layer.pad_left, layer.pad_right), (0, 0)))
    idx = (
        np.arange(layer.out_len(h.shape[1]))[:, None] * layer.stride
        + np.arange(layer.kernel) * layer.dilation
    )
    return np.einsum("nlkc,okc->nlo", hp[:, idx, :], layer.weights.astype(np.float64))


@pytest.mark.parametrize("genome", GENOMES[1:3])
def test_float_export_is_the_integer_model_without_rounding(genome, tmp_path):
    art = artifact_of(genome)
    x = windows(16)
    r = export_onnx(art, tmp_path / "f.onnx", fmt="onnx-float", windows=x)
    model = onnx.load(tmp_path / "f.onnx")
    assert not {"QuantizeLinear", "DequantizeLinear"} & {n.op_type for n in model.graph.node}
    assert r.exact_channels == r.conv_channels == 0
    logits = ort.InferenceSession(str(tmp_path / "f.onnx"), providers=["CPUExecutionProvider"]).run(
        None, {"window": x}
    )[0]
    ref = float_reference(art.model, x)
    assert np.allclose(logits / r.logit_scale, ref, rtol=1e-4, atol=1e-2 * np.abs(ref).max())
    assert 0 <= r.check.argmax_agreement <= 1 and r.check.windows == 16


# ---- errors and the command ------------------------------------------------------------------------------


def test_bad_inputs_are_one_line_errors_and_write_nothing(tmp_path):
    art = artifact_of(GENOMES[0])
    out = tmp_path / "m.onnx"
    out.write_bytes(b"previous")
    cases = [
        (dict(fmt="tflite"), ConfigError, "tflite"),
        (dict(carrier="int3"), ConfigError, "int3"),
        (dict(windows=np.zeros((2, 3, 128), np.float32)), ConfigError, "(2, 3, 128)"),
        (dict(windows=0), ConfigError, "--windows"),
    ]
    for kwargs, error, text in cases:
        with pytest.raises(error, match=text.replace("(", r"\(").replace(")", r"\)")):
            export_onnx(art, out, **{"windows": windows(2), **kwargs})
    assert out.read_bytes() == b"previous" and sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]
    with pytest.raises(ConfigError, match="is a directory"):
        export_onnx(art, tmp_path, windows=windows(2))
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match="file is a regular file, not a directory"):
        export_onnx(art, tmp_path / "file" / "m.onnx", windows=windows(2))
    with pytest.raises(DataError, match="no such artifact"):
        export_onnx(tmp_path / "nowhere", out, windows=windows(2))
    adaptive = tmp_path / "adaptive"
    adaptive.mkdir()
    (adaptive / "adaptive.json").write_text("{}")
    with pytest.raises(ConfigError, match="adaptive model"):
        export_onnx(adaptive, out, windows=windows(2))
    with pytest.raises(DataError, match="not in the cache"):  # real windows of a dataset harx does not have
        export_onnx(art, out, home=tmp_path / "home")
    assert out.read_bytes() == b"previous"


def test_missing_onnx_packages_name_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "onnxruntime", None)
    with pytest.raises(ToolchainError, match=r"harx\[onnx\]"):
        export_onnx(artifact_of(GENOMES[0]), tmp_path / "m.onnx", windows=windows(2))


def broken(monkeypatch, initializer, array):
    """Make build_graph put ``array`` in place of its initializer named ``initializer``."""
    import harx.export.onnx as export_module

    real = export_module.build_graph

    def build(*args, **kwargs):
        g = real(*args, **kwargs)
        init = next(i for i in g.proto.graph.initializer if i.name == initializer)
        init.CopyFrom(onnx.numpy_helper.from_array(array, initializer))
        return g

    monkeypatch.setattr(export_module, "build_graph", build)


def test_a_graph_that_fails_its_check_is_not_written(tmp_path, monkeypatch):
    art, out = artifact_of(GENOMES[0]), tmp_path / "m.onnx"
    # Classifier weights that do not match its input: shape inference (onnx.checker's full check) refuses.
    broken(monkeypatch, "L2_linear_wcodes", np.zeros((6, 5), np.int8))
    with pytest.raises(ExportError, match=r"fails onnx\.checker"):
        export_onnx(art, out, windows=windows(2))
    # One weight scale too many for the conv's 8 channels: only onnxruntime notices.
    monkeypatch.undo()
    broken(monkeypatch, "L0_conv_wscale", np.ones(9, np.float32))
    with pytest.raises(ExportError, match="onnxruntime cannot run"):
        export_onnx(art, out, windows=windows(2))
    assert list(tmp_path.iterdir()) == []


def cli(args):
    """`harx export` on a fresh Typer app (the command module alone), with main's error handling."""
    from harx.cli import export

    app = typer.Typer()
    app.callback()(lambda: None)
    export.register(app)
    result = CliRunner().invoke(app, args)
    if isinstance(result.exception, HarxError):
        return type(result.exception).exit_code, str(result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout


def test_cli_exports_an_artifact_checked_on_real_test_windows(in_har_home, tmp_path):
    art = artifact_of(GENOMES[1], dataset="har-mini", input_scale=0.01)
    path = save(art, tmp_path / "art")
    code, text = cli(["export", "--artifact", str(path), "-o", str(tmp_path / "m.onnx"), "--json"])
    assert code == 0, text
    report = json.loads(text)
    assert report["window_source"] == "test subjects of har-mini" and report["windows"] > 100
    assert report["argmax_agreement"] == 1.0 and report["max_logit_diff"] < 0.5
    assert report["input"] == {"name": "window", "shape": ["N", 9, 128], "dtype": "float32"}
    assert [c["optimization"] for c in report["checks"]] == ["disabled", "default"]
    assert report["onnx_checker"] == "passed" and (tmp_path / "m.onnx").is_file()
    code, text = cli(
        [
            "export",
            "--artifact",
            str(path),
            "-o",
            str(tmp_path / "f.onnx"),
            "-f",
            "onnx-float",
            "--windows",
            "20",
        ]
    )
    assert code == 0 and "as written" in text and "onnx-float" in text
    assert cli(["export", "--artifact", str(path), "-o", str(tmp_path / "x.onnx"), "-f", "nope"])[0] == 4
    assert cli(["export", "-o", str(tmp_path / "x.onnx")])[0] == 4
    assert (
        cli(["export", "7", "--store", str(tmp_path / "none.sqlite"), "-o", str(tmp_path / "x.onnx")])[0] == 5
    )


# ---- real data: the five genomes of bench/deploy_realdata.py ------------------------------------------------

BENCH_GENOMES = (*GENOMES, "c8k5p2w8a4-c16k3s2w4a8-c12k5d2w8a2-c16k3p2w2a4-c8k3w4a8-gapw4")


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.skipif(not (SHARED / "uci-har.zip").is_file(), reason=f"{SHARED / 'uci-har.zip'} is absent")
@pytest.mark.parametrize("genome", BENCH_GENOMES)
def test_trained_models_agree_with_the_integer_model_on_all_2996_test_windows(genome, har_home, tmp_path):
    from harx.data import load_dataset, subject_split
    from harx.evaluate import train_model
    from harx.models.genome import parse_genome
    from harx.train.config import TrainConfig

    ds = load_dataset("uci-har", har_home)
    split = subject_split(ds, n_val_subjects=4, seed=0)
    split = dataclasses.replace(split, train=split.train[::8])
    cfg = TrainConfig(epochs_float=1, epochs_qat=1, batch_size=128)
    art = train_model(parse_genome(genome), ds, split, cfg, seed=0).artifact(ds, {}, cfg)
    r = export_onnx(art, tmp_path / "m.onnx", home=har_home)
    assert r.check.windows == 2996
    assert r.check.argmax_agreement >= 0.995
    assert r.checks[1].argmax_agreement >= 0.99
