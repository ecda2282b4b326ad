"""The on-disk artifact of one quantized model: integer tensors + what they were trained on and scored.

A directory with ``model.json`` (format version, genome text, dataset, normalization, scales, per-layer
scalars, metrics, training config) and ``tensors.npz`` (weights as unpacked signed codes, kappa, lambda,
biases). ``deploy`` and ``adapt`` load it; nothing in it needs torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harx import __version__
from harx.errors import DataError
from harx.paths import staged_dir
from harx.quant.integer import IntConv, IntegerModel, IntGap, IntLinear, IntMaxPool

FORMAT_VERSION = 1
_ARRAYS = {"conv": ("weights", "kappa", "lam"), "linear": ("weights", "bias")}


@dataclass
class Artifact:
    model: IntegerModel
    genome: str
    dataset: str
    dataset_fingerprint: str
    norm_mean: list[float]
    norm_std: list[float]
    class_names: list[str]
    metrics: dict[str, float] = field(default_factory=dict)
    train_config: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    def test_windows(self, count: int | None = None, home: Path | None = None) -> np.ndarray:
        """The first ``count`` (default: all) windows of the test subjects of the artifact's dataset, float
        (N, C, T) in dataset units. DataError if the cached dataset is not the one it was trained on."""
        from harx.data import load_dataset

        ds = load_dataset(self.dataset, home)
        if self.dataset_fingerprint and ds.fingerprint != self.dataset_fingerprint:
            raise DataError(
                f"dataset '{ds.name}' in the cache ({ds.cache_path}) has fingerprint {ds.fingerprint}, but the "
                f"artifact was trained on {self.dataset_fingerprint}; fetch the same dataset version"
            )
        idx = np.flatnonzero(np.isin(ds.subject, np.asarray(ds.test_subjects, dtype=np.int64)))[:count]
        if len(idx) == 0:
            raise DataError(f"dataset '{ds.name}' ({ds.cache_path}) has no windows of its test subjects")
        return ds.X[idx]

    def normalize_and_quantize(self, x: np.ndarray) -> np.ndarray:
        """Float windows (N, C, T) in dataset units -> int8 codes (N, T, C), as the deployed input."""
        import torch

        from harx.quant.layers import INPUT_CODE_MAX, INPUT_CODE_MIN, normalize

        xn = normalize(torch.from_numpy(np.ascontiguousarray(x, np.float32)), self.norm_mean, self.norm_std)
        scale = torch.tensor(self.model.input_scale, dtype=torch.float32)
        codes = torch.clamp(torch.round(xn / scale), INPUT_CODE_MIN, INPUT_CODE_MAX)
        return codes.to(torch.int8).numpy().transpose(0, 2, 1).copy()


def _layer_record(layer, prefix: str, arrays: dict) -> dict:
    rec = {"kind": layer.kind}
    for k, v in vars(layer).items():
        if k == "kind":
            continue
        if isinstance(v, np.ndarray):
            arrays[f"{prefix}.{k}"] = v
        else:
            rec[k] = v.item() if isinstance(v, np.generic) else v
    return rec


def _layer_from(rec: dict, prefix: str, arrays) -> object:
    kind = rec["kind"]
    kw = {k: v for k, v in rec.items() if k != "kind"}
    for name in _ARRAYS.get(kind, ()):
        kw[name] = arrays[f"{prefix}.{name}"]
    cls = {"conv": IntConv, "maxpool": IntMaxPool, "gap": IntGap, "linear": IntLinear}[kind]
    return cls(**kw)


def save(art: Artifact, path: str | Path) -> Path:
    """Write atomically: a temp directory beside ``path`` renamed into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {}
    m = art.model
    layers = [_layer_record(layer, f"L{i}", arrays) for i, layer in enumerate(m.layers)]
    exits = {
        str(i): [_layer_record(layer, f"E{i}.{j}", arrays) for j, layer in enumerate(head)]
        for i, head in m.exits.items()
    }
    meta = {
        "format_version": FORMAT_VERSION,
        "harx_version": __version__,
        "genome": art.genome,
        "dataset": art.dataset,
        "dataset_fingerprint": art.dataset_fingerprint,
        "in_channels": m.in_channels,
        "in_len": m.in_len,
        "n_classes": m.n_classes,
        "input_scale": m.input_scale,
        "norm_mean": list(map(float, art.norm_mean)),
        "norm_std": list(map(float, art.norm_std)),
        "class_names": list(art.class_names),
        "layers": layers,
        "exits": exits,
        "metrics": art.metrics,
        "train_config": art.train_config,
        "extra": art.extra,
    }
    with staged_dir(path) as tmp:
        np.savez(tmp / "tensors.npz", **arrays)
        (tmp / "model.json").write_text(json.dumps(meta, indent=1))
    return path


def read_meta(meta_file: Path, what: str, writer: str, max_version: int) -> dict:
    """The JSON metadata file of a directory ``writer`` wrote, refused with a one-line DataError when it
    is missing, not JSON, or of a ``format_version`` newer than ``max_version``."""
    try:
        meta = json.loads(meta_file.read_text())
    except FileNotFoundError:
        raise DataError(f"{meta_file}: no such {what} (expected a directory written by `{writer}`)") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{meta_file}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    version = meta.get("format_version")
    if not isinstance(version, int) or version > max_version:
        raise DataError(
            f"{meta_file}: format_version {version!r} is not supported by harx {__version__} "
            f"(reads up to {max_version})"
        )
    return meta


def load(path: str | Path) -> Artifact:
    path = Path(path)
    meta = read_meta(path / "model.json", "artifact", "harx quantize", FORMAT_VERSION)
    try:
        with np.load(path / "tensors.npz") as arrays:
            layers = [_layer_from(rec, f"L{i}", arrays) for i, rec in enumerate(meta["layers"])]
            exits = {
                int(i): [_layer_from(rec, f"E{i}.{j}", arrays) for j, rec in enumerate(head)]
                for i, head in meta.get("exits", {}).items()
            }
        model = IntegerModel(
            layers, meta["in_channels"], meta["in_len"], meta["n_classes"], meta["input_scale"], exits
        )
        return Artifact(
            model,
            meta["genome"],
            meta["dataset"],
            meta["dataset_fingerprint"],
            meta["norm_mean"],
            meta["norm_std"],
            meta["class_names"],
            meta.get("metrics", {}),
            meta.get("train_config", {}),
            meta.get("extra", {}),
        )
    except (KeyError, TypeError, ValueError, OSError) as exc:
        raise DataError(f"{path}: malformed artifact ({type(exc).__name__}: {exc})") from None
