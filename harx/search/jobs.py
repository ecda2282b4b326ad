"""Search jobs: what one executor task does for one genome, as picklable inputs and plain outcomes.

A proxy job trains the genome once per subject-grouped validation fold (never on the test subjects) and
returns the integer model's fold scores. A refine job retrains at full budget with several seeds, each
with its own validation subjects, and scores the integer model on the test subjects.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harx.errors import DataError
from harx.train.config import Execution, TrainConfig

PROXY_PROTOCOL = "proxy-folds-v1"
REFINE_PROTOCOL = "refine-seeds-v1"

_datasets: dict = {}


def dataset_for(name: str, fingerprint: str):
    """The cached dataset, loaded once per process, checked against the coordinator's fingerprint."""
    from harx.data import load_dataset

    ds = _datasets.get(name)
    if ds is None:
        ds = _datasets[name] = load_dataset(name)
    if ds.fingerprint != fingerprint:
        raise DataError(
            f"dataset '{name}' in this worker's cache ({ds.cache_path}) has fingerprint {ds.fingerprint[:12]}, "
            f"the search expects {fingerprint[:12]}: fetch the same archive on every worker"
        )
    return ds


def _effective(effective: tuple[dict, ...]) -> dict:
    """The cache key's record of settings the data changed (harx.train.budget): absent where it changed
    none, so the keys of results stored before the rule existed still match."""
    return {"effective": list(effective)} if effective else {}


@dataclass(frozen=True)
class ProxyJob:
    genome: str
    dataset: str
    fingerprint: str
    folds: int
    seed: int
    training: dict
    effective: tuple[dict, ...] = ()  # per fold, where harx.train.budget changed the settings

    def config(self) -> dict:
        """What the result depends on besides genome and data: the store's cache key hashes this."""
        return {
            "protocol": PROXY_PROTOCOL,
            "folds": self.folds,
            "seed": self.seed,
            "training": self.training,
            **_effective(self.effective),
        }


@dataclass
class ProxyOutcome:
    genome: str
    val_acc_folds: list[float] = field(default_factory=list)
    val_f1_folds: list[float] = field(default_factory=list)
    weight_bytes: int = 0
    params: int = 0
    train_seconds: float = 0.0
    error: str = ""

    def metrics(self) -> dict:
        return {
            "val_acc": float(np.mean(self.val_acc_folds)),
            "val_f1": float(np.mean(self.val_f1_folds)),
            "val_acc_folds": self.val_acc_folds,
            "val_f1_folds": self.val_f1_folds,
            "weight_bytes": self.weight_bytes,
            "params": self.params,
        }


def run_proxy(
    job: ProxyJob, execution: Execution | None = None, on_epoch: Callable | None = None
) -> ProxyOutcome:
    from harx.data import subject_folds
    from harx.evaluate import train_model
    from harx.models import parse_genome
    from harx.train.metrics import score

    out = ProxyOutcome(job.genome)
    t0 = time.perf_counter()
    try:
        ds = dataset_for(job.dataset, job.fingerprint)
        genome = parse_genome(job.genome)
        cfg = TrainConfig(**job.training)
        for fold in subject_folds(ds, n_folds=job.folds, seed=job.seed):
            trained = train_model(
                genome, ds, fold, cfg, seed=job.seed, on_epoch=on_epoch, execution=execution
            )
            s = score(ds.y[fold.val], trained.int_logits(ds.X[fold.val]).argmax(axis=1), ds.n_classes)
            out.val_acc_folds.append(s.accuracy)
            out.val_f1_folds.append(s.macro_f1)
            out.weight_bytes, out.params = trained.integer.weight_bytes(), trained.net.n_params()
    except Exception as exc:  # a failed candidate is recorded and retried later, it must not end the search
        out.error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"
    out.train_seconds = time.perf_counter() - t0
    return out


@dataclass(frozen=True)
class RefineJob:
    genome: str
    dataset: str
    fingerprint: str
    seeds: int
    val_subjects: int
    training: dict
    artifact_root: str
    effective: tuple[dict, ...] = ()  # per seed, where harx.train.budget changed the settings

    def config(self) -> dict:
        return {
            "protocol": REFINE_PROTOCOL,
            "seeds": self.seeds,
            "val_subjects": self.val_subjects,
            "training": self.training,
            **_effective(self.effective),
        }


@dataclass
class RefineOutcome:
    genome: str
    metrics: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    artifact_path: str | None = None
    train_seconds: float = 0.0
    error: str = ""


def run_refine(
    job: RefineJob, execution: Execution | None = None, on_epoch: Callable | None = None
) -> RefineOutcome:
    """Seeds 0..S-1, each with its own validation subjects; the artifact kept is seed 0's (not the best
    seed's, so the deployed model is not a pick of the luckiest run)."""
    from harx.data import subject_split
    from harx.evaluate import evaluate, train_model
    from harx.models import parse_genome
    from harx.quant.artifact import save

    out = RefineOutcome(job.genome)
    t0 = time.perf_counter()
    try:
        ds = dataset_for(job.dataset, job.fingerprint)
        genome = parse_genome(job.genome)
        cfg = TrainConfig(**job.training)
        evals, confusion = [], None
        for seed in range(job.seeds):
            split = subject_split(ds, n_val_subjects=job.val_subjects, seed=seed)
            trained = train_model(genome, ds, split, cfg, seed=seed, on_epoch=on_epoch, execution=execution)
            ev = evaluate(trained, ds, split)
            evals.append(ev)
            confusion = ev.int_test.confusion if confusion is None else confusion + ev.int_test.confusion
            if seed == 0:
                extra = {"confusion_test": ev.int_test.confusion.tolist(), "history": ev.history}
                art = trained.artifact(ds, ev.metrics(), cfg, extra)
                out.artifact_path = str(save(art, Path(job.artifact_root) / f"{genome.text()}-refine-s0"))
        acc = [e.int_test.accuracy for e in evals]
        f1 = [e.int_test.macro_f1 for e in evals]
        out.metrics = {
            "test_acc_mean": float(np.mean(acc)),
            "test_acc_std": float(np.std(acc)),
            "test_f1_mean": float(np.mean(f1)),
            "test_f1_std": float(np.std(f1)),
            "test_acc_seeds": acc,
            "test_f1_seeds": f1,
            "fq_test_acc_mean": float(np.mean([e.fq_test.accuracy for e in evals])),
            "float_test_acc_mean": float(np.mean([e.float_test.accuracy for e in evals])),
            "weight_bytes": evals[0].weight_bytes,
            "params": evals[0].params,
            "macs": evals[0].macs,
        }
        if job.val_subjects:
            out.metrics["val_acc_mean"] = float(np.mean([e.int_val.accuracy for e in evals]))
        out.extra = {
            "confusion_test": confusion.tolist(),
            "history": evals[0].history,
            "input": {"channels": ds.n_channels, "length": ds.window, "classes": ds.n_classes},
            "class_names": list(ds.class_names),
        }
    except Exception as exc:
        out.error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"
    out.train_seconds = time.perf_counter() - t0
    return out
