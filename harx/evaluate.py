"""One candidate end to end: float pre-training -> QAT -> integer export -> integer scoring.

`harx quantize` and `harx search` both go through here, so a number means the same thing everywhere:
the accuracy reported for a quantized model is the integer golden model's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from harx.models.build import build
from harx.models.genome import Genome
from harx.quant.artifact import Artifact
from harx.quant.backends import get_backend
from harx.quant.export import export_net, input_codes
from harx.quant.integer import IntegerModel
from harx.quant.layers import QuantNet, normalize
from harx.train.config import TrainConfig
from harx.train.loop import EpochLog, History, fit, predict, seed_everything
from harx.train.metrics import Scores, score

CALIBRATION_WINDOWS = 2048


@dataclass
class SplitTensors:
    """Normalized tensors of one subject split, with the training-split statistics used."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: np.ndarray
    mean: np.ndarray
    std: np.ndarray


def split_tensors(ds, split) -> SplitTensors:
    """Normalization statistics come from the training windows of ``split`` only."""
    xtr = ds.X[split.train]
    mean = xtr.mean(axis=(0, 2)).astype(np.float32)
    std = np.maximum(xtr.std(axis=(0, 2)), 1e-6).astype(np.float32)
    return SplitTensors(
        normalize(torch.from_numpy(xtr), mean, std),
        torch.from_numpy(ds.y[split.train].astype(np.int64)),
        normalize(torch.from_numpy(ds.X[split.val]), mean, std),
        ds.y[split.val].astype(np.int64),
        mean,
        std,
    )


@dataclass
class TrainedModel:
    genome: Genome
    net: QuantNet
    integer: IntegerModel
    mean: np.ndarray
    std: np.ndarray
    history: History
    float_val: Scores
    fq_val: Scores
    train_seconds: float
    seed: int

    def int_codes(self, x: np.ndarray) -> np.ndarray:
        """int8 (N, T, C) input codes of float windows (N, C, T) in dataset units."""
        return input_codes(self.net, normalize(torch.from_numpy(x), self.mean, self.std))

    def int_logits(self, x: np.ndarray) -> np.ndarray:
        return self.integer.run(self.int_codes(x))

    def score_int(self, x: np.ndarray, y: np.ndarray) -> Scores:
        return score(y, self.int_logits(x).argmax(axis=1), self.integer.n_classes)

    def score_fake_quant(self, x: np.ndarray, y: np.ndarray) -> Scores:
        return score(
            y, predict(self.net, normalize(torch.from_numpy(x), self.mean, self.std)), self.integer.n_classes
        )

    def artifact(
        self, ds, metrics: dict[str, float], cfg: TrainConfig, extra: dict | None = None
    ) -> Artifact:
        return Artifact(
            self.integer,
            self.genome.text(),
            ds.name,
            ds.fingerprint,
            self.mean.tolist(),
            self.std.tolist(),
            list(ds.class_names),
            metrics,
            {**cfg.as_dict(), "seed": self.seed},
            extra or {},
        )


def train_model(
    genome: Genome,
    ds,
    split,
    cfg: TrainConfig,
    seed: int = 0,
    exits: dict[int, int] | None = None,
    on_epoch: Callable[[EpochLog], None] | None = None,
) -> TrainedModel:
    """Float pre-training then QAT of ``genome`` on ``split.train``, early-stopped on ``split.val``."""
    t0 = time.perf_counter()
    g = seed_everything(seed, cfg.threads)
    backend = get_backend(cfg.backend)
    t = split_tensors(ds, split)
    net = build(genome, ds.n_channels, ds.window, ds.n_classes, exits)
    history = History()
    float_val = fit(
        net,
        t.x_train,
        t.y_train,
        t.x_val,
        t.y_val,
        ds.n_classes,
        cfg,
        "float",
        cfg.epochs_float,
        cfg.lr,
        g,
        history,
        on_epoch,
    )
    calib = t.x_train[torch.randperm(len(t.x_train), generator=g)[:CALIBRATION_WINDOWS]]
    net.eval()
    net.calibrate(calib, backend)
    net.set_quantized(True, backend)
    fq_val = fit(
        net,
        t.x_train,
        t.y_train,
        t.x_val,
        t.y_val,
        ds.n_classes,
        cfg,
        "qat",
        cfg.epochs_qat,
        cfg.lr_qat,
        g,
        history,
        on_epoch,
    )
    net.eval()
    integer = export_net(net, ds.n_channels, ds.window)
    return TrainedModel(
        genome,
        net,
        integer,
        t.mean,
        t.std,
        history,
        float_val or fq_val,
        fq_val,
        time.perf_counter() - t0,
        seed,
    )


@dataclass
class Evaluation:
    """Scores of one trained candidate: float validation, fake-quant and integer on val and test."""

    genome: str
    seed: int
    float_val: Scores
    fq_val: Scores
    int_val: Scores
    fq_test: Scores
    int_test: Scores
    params: int
    macs: int
    weight_bytes: int
    peak_activation_bytes: int
    train_seconds: float
    history: list[dict] = field(default_factory=list)

    def metrics(self) -> dict[str, float]:
        return {
            "float_val_acc": self.float_val.accuracy,
            "fq_val_acc": self.fq_val.accuracy,
            **self.int_val.as_dict("val_"),
            **self.fq_test.as_dict("fq_test_"),
            **self.int_test.as_dict("test_"),
        }


def evaluate(trained: TrainedModel, ds, split) -> Evaluation:
    x_val, y_val = ds.X[split.val], ds.y[split.val]
    x_test, y_test = ds.X[split.test], ds.y[split.test]
    layers = trained.genome.layers(ds.n_channels, ds.window, ds.n_classes)
    return Evaluation(
        genome=trained.genome.text(),
        seed=trained.seed,
        float_val=trained.float_val,
        fq_val=trained.fq_val,
        int_val=trained.score_int(x_val, y_val),
        fq_test=trained.score_fake_quant(x_test, y_test),
        int_test=trained.score_int(x_test, y_test),
        params=trained.net.n_params(),
        macs=sum(layer.macs for layer in layers),
        weight_bytes=trained.integer.weight_bytes(),
        peak_activation_bytes=trained.integer.peak_activation_bytes(),
        train_seconds=trained.train_seconds,
        history=trained.history.as_list(),
    )
