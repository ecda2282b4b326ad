"""One candidate end to end: float pre-training -> QAT -> integer export -> integer scoring.

`harx quantize` and `harx search` both go through here, so a number means the same thing everywhere:
the accuracy reported for a quantized model is the integer golden model's.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from harx.cost import DEFAULT_TARGET, Cost, estimate
from harx.data import load_dataset, subject_split
from harx.data.splits import subject_warnings, validation_warnings
from harx.models.build import build
from harx.models.genome import Genome
from harx.paths import artifacts_dir
from harx.quant.artifact import Artifact
from harx.quant.artifact import save as save_artifact
from harx.quant.backends import get_backend
from harx.quant.export import export_net, input_codes
from harx.quant.fast import run_fast
from harx.quant.integer import IntegerModel
from harx.quant.layers import QuantNet, normalize
from harx.train.budget import Budget
from harx.train.budget import plan as plan_budget
from harx.train.config import Execution, TrainConfig
from harx.train.loop import EpochLog, History, fit, predict, seed_everything, split_tensors
from harx.train.metrics import Scores, score

CALIBRATION_WINDOWS = 2048


@dataclass
class TrainedModel:
    genome: Genome
    net: QuantNet
    integer: IntegerModel
    mean: np.ndarray
    std: np.ndarray
    history: History
    float_val: Scores | None
    fq_val: Scores | None
    train_seconds: float
    seed: int
    float_state: dict  # weights after float pre-training, to score the float model on other splits
    budget: Budget  # the settings the training ran (harx.train.budget), from the configured ones

    def score_float(self, x: np.ndarray, y: np.ndarray) -> Scores:
        exits = {int(k): head.w_bits for k, head in self.net.exit_heads.items()}
        net = build(self.genome, self.integer.in_channels, self.integer.in_len, self.integer.n_classes, exits)
        net.load_state_dict(self.float_state)
        return score(
            y, predict(net, normalize(torch.from_numpy(x), self.mean, self.std)), self.integer.n_classes
        )

    def int_codes(self, x: np.ndarray) -> np.ndarray:
        """int8 (N, T, C) input codes of float windows (N, C, T) in dataset units."""
        return input_codes(self.net, normalize(torch.from_numpy(x), self.mean, self.std))

    def int_logits(self, x: np.ndarray) -> np.ndarray:
        """The integer model's logits (``run_fast``: bit-identical to the golden model, faster)."""
        return run_fast(self.integer, self.int_codes(x))

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
            {"training_effective": self.budget.as_dict(), **(extra or {})},
        )


# The QAT phase reseeds every generator from the run's seed plus this, so that it starts the same after a
# float stage trained here or one served from the cache.
QAT_SEED_OFFSET = 1_000_003
FLOAT_PROTOCOL = "float-v1"
# The settings the float stage depends on (QAT's learning rate, epochs and backend do not enter it).
_FLOAT_SETTINGS = (
    "epochs_float",
    "batch_size",
    "lr",
    "weight_decay",
    "patience",
    "label_smoothing",
    "augment_scale",
    "augment_noise",
    "schedule",
)


@dataclass
class FloatStage:
    """What float pre-training produced: the weights, its epochs and its validation scores.

    The float network does not depend on bit widths (quantizers are off, their scales unused), so every
    bit-width variant of one architecture trained on the same split with the same seed and float settings
    starts QAT from the same float stage: ``float_key`` names it, the store keeps it."""

    state: dict
    history: list[EpochLog]
    best_epoch: int
    val: Scores | None
    seconds: float

    def to_bytes(self) -> bytes:
        """Tensors, numbers and strings only: ``from_bytes`` loads it with ``weights_only`` (no pickle code)."""
        buf = io.BytesIO()
        val = (
            None
            if self.val is None
            else [self.val.accuracy, self.val.macro_f1, torch.from_numpy(self.val.confusion)]
        )
        torch.save(
            {
                "state": {k: v.detach().cpu() for k, v in self.state.items()},
                "history": [dataclasses.asdict(e) for e in self.history],
                "best_epoch": self.best_epoch,
                "val": val,
                "seconds": self.seconds,
            },
            buf,
        )
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> FloatStage:
        d = torch.load(io.BytesIO(data), weights_only=True)
        val = d["val"]
        scores = None if val is None else Scores(float(val[0]), float(val[1]), val[2].numpy())
        return cls(
            d["state"],
            [EpochLog(**e) for e in d["history"]],
            int(d["best_epoch"]),
            scores,
            float(d["seconds"]),
        )


def float_arch(genome: Genome) -> str:
    """The genome with every bit width at 8: the float network, shared by its bit-width variants."""
    blocks = tuple(dataclasses.replace(b, w_bits=8, a_bits=8) for b in genome.blocks)
    return Genome(blocks, genome.head, 8).text()


def float_key(genome: Genome, ds, split, seed: int, cfg: TrainConfig) -> str:
    """Names a float stage: the architecture, the data, the exact training and validation windows, the seed
    and the settings float training reads."""
    h = hashlib.sha256()
    h.update(json.dumps([FLOAT_PROTOCOL, float_arch(genome), ds.fingerprint, seed]).encode())
    h.update(json.dumps({k: getattr(cfg, k) for k in _FLOAT_SETTINGS}, sort_keys=True).encode())
    for idx in (split.train, split.val):
        h.update(np.ascontiguousarray(idx, dtype=np.int64).tobytes())
        h.update(b"|")
    return h.hexdigest()[:32]


def train_float(
    genome: Genome,
    ds,
    split,
    cfg: TrainConfig,
    seed: int = 0,
    on_epoch: Callable[[EpochLog], None] | None = None,
    execution: Execution | None = None,
    start: dict | None = None,
) -> FloatStage:
    """Float pre-training of ``genome`` on ``split.train``, early-stopped on ``split.val`` (fixed epochs when
    it is empty), from fresh weights or from ``start`` (a state dict of the genome's float network, e.g.
    a parent's weights morphed to its shape). It runs ``harx.train.budget.plan``'s settings, as
    ``train_model`` does (a function of ``cfg`` and the split's size, so ``float_key`` names them too)."""
    t0 = time.perf_counter()
    cfg = plan_budget(cfg, len(split.train)).effective
    ex = execution or Execution()
    g = seed_everything(seed, ex.threads)
    t = split_tensors(ds, split, ex.torch_device)
    net = build(genome, ds.n_channels, ds.window, ds.n_classes)
    if start is not None:
        net.load_state_dict(start)
    net = net.to(ex.torch_device)
    history = History()
    val = fit(net, t, ds.n_classes, cfg, "float", cfg.epochs_float, cfg.lr, g, history, on_epoch)
    state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
    return FloatStage(state, history.epochs, history.best.get("float", -1), val, time.perf_counter() - t0)


def train_model(
    genome: Genome,
    ds,
    split,
    cfg: TrainConfig,
    seed: int = 0,
    exits: dict[int, int] | None = None,
    on_epoch: Callable[[EpochLog], None] | None = None,
    execution: Execution | None = None,
    float_stage: FloatStage | None = None,
) -> TrainedModel:
    """Float pre-training (or ``float_stage``, one trained before for this architecture, split, seed and
    float settings) then QAT of ``genome`` on ``split.train``, early-stopped on ``split.val`` (fixed epochs
    when ``split.val`` is empty), where ``execution`` says (default: 2 CPU threads). Networks with early
    exits train their float stage here (the heads change it). ``cfg`` is what was asked for; the training
    runs ``harx.train.budget.plan``'s settings for the training set's size."""
    t0 = time.perf_counter()
    budget = plan_budget(cfg, len(split.train))
    cfg = budget.effective
    ex = execution or Execution()
    cached = float_stage is not None and not exits
    g = seed_everything(seed, ex.threads)
    t = split_tensors(ds, split, ex.torch_device)
    net = build(genome, ds.n_channels, ds.window, ds.n_classes, exits).to(ex.torch_device)
    history = History()
    if cached:
        net.load_state_dict(float_stage.state)
        history.epochs.extend(float_stage.history)
        history.best["float"] = float_stage.best_epoch
        float_val = float_stage.val
    else:
        float_val = fit(net, t, ds.n_classes, cfg, "float", cfg.epochs_float, cfg.lr, g, history, on_epoch)
    g = seed_everything(seed + QAT_SEED_OFFSET, ex.threads)
    backend = get_backend(cfg.backend)
    float_state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
    calib = t.x_train[torch.randperm(len(t.x_train), generator=g)[:CALIBRATION_WINDOWS]]
    net.eval()
    net.calibrate(calib, backend)
    net.set_quantized(True, backend)
    fq_val = fit(net, t, ds.n_classes, cfg, "qat", cfg.epochs_qat, cfg.lr_qat, g, history, on_epoch)
    net.eval()
    net = net.cpu()
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
        float_state,
        budget,
    )


@dataclass
class Evaluation:
    """Scores of one trained candidate: float validation, fake-quant and integer on val and test."""

    genome: str
    seed: int
    float_val: Scores | None  # validation scores are None when every training subject was trained on
    fq_val: Scores | None
    int_val: Scores | None
    float_test: Scores
    fq_test: Scores
    int_test: Scores
    params: int
    macs: int
    weight_bytes: int
    peak_activation_bytes: int
    train_seconds: float
    history: list[dict] = field(default_factory=list)
    int_test_pred: np.ndarray | None = None  # the integer model's class per test window (int_test's source)

    def metrics(self) -> dict[str, float]:
        val = {}
        if self.int_val is not None:
            val = {
                "float_val_acc": self.float_val.accuracy,
                "fq_val_acc": self.fq_val.accuracy,
                **self.int_val.as_dict("val_"),
            }
        return {
            **val,
            **self.float_test.as_dict("float_test_"),
            **self.fq_test.as_dict("fq_test_"),
            **self.int_test.as_dict("test_"),
        }


def evaluate(trained: TrainedModel, ds, split) -> Evaluation:
    x_val, y_val = ds.X[split.val], ds.y[split.val]
    x_test, y_test = ds.X[split.test], ds.y[split.test]
    layers = trained.genome.layers(ds.n_channels, ds.window, ds.n_classes)
    int_test_pred = trained.int_logits(x_test).argmax(axis=1)
    return Evaluation(
        genome=trained.genome.text(),
        seed=trained.seed,
        float_val=trained.float_val,
        fq_val=trained.fq_val,
        int_val=trained.score_int(x_val, y_val) if len(split.val) else None,
        float_test=trained.score_float(x_test, y_test),
        fq_test=trained.score_fake_quant(x_test, y_test),
        int_test=score(y_test, int_test_pred, trained.integer.n_classes),
        params=trained.net.n_params(),
        macs=sum(layer.macs for layer in layers),
        weight_bytes=trained.integer.weight_bytes(),
        peak_activation_bytes=trained.integer.peak_activation_bytes(),
        train_seconds=trained.train_seconds,
        history=trained.history.as_list(),
        int_test_pred=int_test_pred,
    )


@dataclass
class QuantizeResult:
    """`harx quantize`: one genome trained, quantized, exported, scored on the test subjects and costed."""

    genome: str
    dataset: str
    evaluation: Evaluation
    costs: dict[str, Cost]
    artifact_path: Path
    budget: Budget  # the training settings asked for and those that ran
    warnings: list[str] = field(default_factory=list)  # one line each: the data is small for the settings

    def to_json(self) -> dict:
        ev = self.evaluation
        return {
            "genome": self.genome,
            "dataset": self.dataset,
            "seed": ev.seed,
            "training": {**self.budget.configured.as_dict(), "effective": self.budget.as_dict()},
            "float_acc": ev.float_test.accuracy,
            "float_f1": ev.float_test.macro_f1,
            "fq_acc": ev.fq_test.accuracy,
            "fq_f1": ev.fq_test.macro_f1,
            "int_acc": ev.int_test.accuracy,
            "int_f1": ev.int_test.macro_f1,
            "val_acc": ev.int_val.accuracy if ev.int_val else None,
            "val_f1": ev.int_val.macro_f1 if ev.int_val else None,
            "params": ev.params,
            "macs": ev.macs,
            "weight_bytes": ev.weight_bytes,
            "peak_activation_bytes": ev.peak_activation_bytes,
            "train_seconds": round(ev.train_seconds, 2),
            "artifact": str(self.artifact_path),
            "costs": {t: c.summary() for t, c in self.costs.items()},
            "warnings": self.warnings,
        }


def training_warnings(ds, split, budget: Budget, what: str = "early stopping") -> list[str]:
    """One-line warnings when ``ds`` is small for one training on ``split`` under ``budget``."""
    name = f"dataset '{ds.name}'"
    return budget.warnings(name) + subject_warnings(ds) + validation_warnings(ds, [split], what)


def genome_costs(genome: Genome, ds, targets: tuple[str, ...]) -> dict[str, Cost]:
    return {
        t: estimate(genome, t, in_channels=ds.n_channels, in_len=ds.window, n_classes=ds.n_classes)
        for t in targets
    }


def quantize(
    genome: Genome,
    dataset: str,
    cfg: TrainConfig,
    seed: int = 0,
    n_val_subjects: int | None = None,
    targets: tuple[str, ...] = (DEFAULT_TARGET,),
    out: Path | None = None,
    on_epoch: Callable[[EpochLog], None] | None = None,
    execution: Execution | None = None,
) -> QuantizeResult:
    """Train ``genome`` on ``dataset`` (``n_val_subjects`` validation subjects carved from the training
    subjects, default ``harx.data.splits.default_val_subjects``), export the integer model, score it on the
    test subjects and write the artifact to ``out`` (default
    ``$HARX_HOME/artifacts/<dataset>/<genome>-s<seed>``)."""
    ds = load_dataset(dataset)
    genome.validate(ds.n_channels, ds.window)
    costs = genome_costs(genome, ds, targets)  # before training: a bad target fails fast
    split = subject_split(ds, n_val_subjects=n_val_subjects, seed=seed)
    trained = train_model(genome, ds, split, cfg, seed, on_epoch=on_epoch, execution=execution)
    ev = evaluate(trained, ds, split)
    extra = {"confusion_test": ev.int_test.confusion.tolist(), "history": ev.history}
    art = trained.artifact(ds, ev.metrics(), cfg, extra)
    path = out or artifacts_dir() / ds.name / f"{genome.text()}-s{seed}"
    save_artifact(art, path)
    warnings = training_warnings(ds, split, trained.budget)
    return QuantizeResult(genome.text(), ds.name, ev, costs, Path(path), trained.budget, warnings)
