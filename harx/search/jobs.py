"""Search jobs: what one executor task does, as picklable inputs and plain outcomes.

A job evaluates the genomes of one architecture (they differ in bit widths only), so they share each float
pre-training (``harx.evaluate.FloatStage``): the coordinator ships the float stages the store already holds
and keeps the new ones the job returns.

- ``FoldsJob`` (stages ``proxy`` and ``select``): each genome trained once per subject-grouped fold of the
  training subjects and scored on the held-out fold with the integer model. Never the test subjects.
- ``RefineJob`` (stage ``refine``): each genome retrained on every training subject with several seeds and
  scored once on the test subjects, for the report (the genomes were chosen on ``select`` scores).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harx.errors import DataError
from harx.objectives import VALIDATION_SELECTED_REFINE
from harx.train.config import Execution, TrainConfig

# v2: the QAT phase reseeds after the float stage, so a shared float stage gives the same model; a v2
# refine retrains genomes chosen on select scores.
PROTOCOLS = {"proxy": "proxy-folds-v2", "select": "select-folds-v1", "refine": VALIDATION_SELECTED_REFINE}

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


@dataclass
class GenomeOutcome:
    """One genome of a job: its metrics (and, for refine, artifact and extra), or the error."""

    genome: str
    metrics: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    artifact_path: str | None = None
    train_seconds: float = 0.0
    error: str = ""


@dataclass
class NewFloatStage:
    """A float stage a job trained, for the coordinator to keep."""

    key: str
    arch: str
    data: bytes
    train_seconds: float


@dataclass
class JobOutcome:
    """A job's genomes, the float stages it trained, and how many float trainings it did not do (served
    from the store or shared between the job's genomes)."""

    outcomes: list[GenomeOutcome]
    float_stages: list[NewFloatStage] = field(default_factory=list)
    float_hits: int = 0


def _error(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"


class _Floats:
    """The float stages of one job: the served ones, and those trained here (each once)."""

    def __init__(self, served: dict[str, bytes], ds, cfg: TrainConfig, execution, on_epoch) -> None:
        from harx.evaluate import FloatStage

        self.stages = {k: FloatStage.from_bytes(v) for k, v in served.items()}
        self.ds, self.cfg, self.execution, self.on_epoch = ds, cfg, execution, on_epoch
        self.new: list[NewFloatStage] = []
        self.hits = 0

    def get(self, genome, split, seed: int):
        """(the float stage, seconds spent training it here: 0 when served or shared)."""
        from harx.evaluate import float_arch, float_key, train_float

        key = float_key(genome, self.ds, split, seed, self.cfg)
        if key in self.stages:
            self.hits += 1
            return self.stages[key], 0.0
        fs = train_float(genome, self.ds, split, self.cfg, seed, self.on_epoch, self.execution)
        self.stages[key] = fs
        self.new.append(NewFloatStage(key, float_arch(genome), fs.to_bytes(), fs.seconds))
        return fs, fs.seconds


def _prepare(job, execution, on_epoch):
    """(dataset, training settings, float stages, genomes by text) of a job, on a worker."""
    from harx.models import parse_genome

    ds = dataset_for(job.dataset, job.fingerprint)
    cfg = TrainConfig(**job.training)
    return (
        ds,
        cfg,
        _Floats(job.float_stages, ds, cfg, execution, on_epoch),
        {g: parse_genome(g) for g in job.genomes},
    )


def _float_keys(genome: str, ds, seeded_splits: list, training: dict) -> list[str]:
    from harx.evaluate import float_key
    from harx.models import parse_genome

    g, cfg = parse_genome(genome), TrainConfig(**training)
    return [float_key(g, ds, split, seed, cfg) for seed, split in seeded_splits]


@dataclass(frozen=True)
class FoldsJob:
    """``genomes`` (one architecture) on ``folds`` subject-grouped folds (``subject_folds(seed=seed)``),
    trained with ``training``; ``float_stages`` are the stored float stages (``float_key`` -> bytes)."""

    stage: str
    genomes: tuple[str, ...]
    dataset: str
    fingerprint: str
    folds: int
    seed: int
    training: dict
    float_stages: dict = field(default_factory=dict, compare=False)
    only_folds: tuple[int, ...] = ()  # a subset of the folds (a rung of the proxy); () is every fold
    effective: tuple[dict, ...] = ()  # per fold, where harx.train.budget changed the settings

    def config(self) -> dict:
        """What a result depends on besides genome and data: the store's cache key hashes this."""
        cfg = {
            "protocol": PROTOCOLS[self.stage],
            "folds": self.folds,
            "seed": self.seed,
            "training": self.training,
            **_effective(self.effective),
        }
        return {**cfg, "only_folds": list(self.only_folds)} if self.only_folds else cfg

    def splits(self, ds) -> list:
        from harx.data import subject_folds

        folds = subject_folds(ds, n_folds=self.folds, seed=self.seed)
        return [folds[i] for i in self.only_folds] if self.only_folds else folds

    def float_keys(self, ds) -> list[str]:
        """The float stages this job needs (one per fold), for the coordinator to look up."""
        return _float_keys(self.genomes[0], ds, [(self.seed, f) for f in self.splits(ds)], self.training)


def run_folds(
    job: FoldsJob, execution: Execution | None = None, on_epoch: Callable | None = None
) -> JobOutcome:
    from harx.evaluate import train_model
    from harx.train.metrics import score

    outs = {g: GenomeOutcome(g) for g in job.genomes}
    scores: dict[str, list] = {g: [] for g in job.genomes}
    floats = None
    try:
        ds, cfg, floats, genomes = _prepare(job, execution, on_epoch)
        for fold in job.splits(ds):
            fs, float_s = floats.get(genomes[job.genomes[0]], fold, job.seed)
            floats.hits += len(genomes) - 1  # the other bit-width variants start from the same stage
            outs[job.genomes[0]].train_seconds += float_s
            for text, genome in genomes.items():
                if outs[text].error:
                    continue
                try:
                    tm = train_model(
                        genome,
                        ds,
                        fold,
                        cfg,
                        job.seed,
                        on_epoch=on_epoch,
                        execution=execution,
                        float_stage=fs,
                    )
                except Exception as exc:  # a failed candidate is recorded and retried later
                    outs[text].error = _error(exc)
                    continue
                outs[text].train_seconds += tm.train_seconds
                s = score(ds.y[fold.val], tm.int_logits(ds.X[fold.val]).argmax(axis=1), ds.n_classes)
                scores[text].append((s.accuracy, s.macro_f1, tm.integer.weight_bytes(), tm.net.n_params()))
    except Exception as exc:  # the data or a float stage failed: every genome of the job fails with it
        for o in outs.values():
            o.error = o.error or _error(exc)
    for text, o in outs.items():
        if not o.error:
            acc, f1 = [v[0] for v in scores[text]], [v[1] for v in scores[text]]
            o.metrics = {
                **fold_metrics(acc, f1),
                "weight_bytes": scores[text][-1][2],
                "params": scores[text][-1][3],
            }
    return JobOutcome(list(outs.values()), floats.new if floats else [], floats.hits if floats else 0)


def fold_metrics(acc: list[float], f1: list[float]) -> dict:
    """A folds job's scores: the integer model's accuracy and macro-F1 per held-out fold and their means."""
    return {
        "val_acc": float(np.mean(acc)),
        "val_f1": float(np.mean(f1)),
        "val_acc_folds": acc,
        "val_f1_folds": f1,
    }


@dataclass(frozen=True)
class RefineJob:
    """``genomes`` (one architecture) retrained on every training subject (``val_subjects`` > 0 holds some
    out for early stopping) with seeds 0..seeds-1 and scored on the test subjects."""

    genomes: tuple[str, ...]
    dataset: str
    fingerprint: str
    seeds: int
    val_subjects: int
    training: dict
    artifact_root: str
    float_stages: dict = field(default_factory=dict, compare=False)
    effective: tuple[dict, ...] = ()  # per seed, where harx.train.budget changed the settings

    def config(self) -> dict:
        return {
            "protocol": PROTOCOLS["refine"],
            "seeds": self.seeds,
            "val_subjects": self.val_subjects,
            "training": self.training,
            **_effective(self.effective),
        }

    def splits(self, ds) -> list:
        from harx.data import subject_split

        return [subject_split(ds, n_val_subjects=self.val_subjects, seed=s) for s in range(self.seeds)]

    def float_keys(self, ds) -> list[str]:
        """The float stages this job needs (one per seed), for the coordinator to look up."""
        return _float_keys(self.genomes[0], ds, list(enumerate(self.splits(ds))), self.training)


def test_metrics(evals: list, ds, split) -> dict:
    """The report of one genome over its seeds: test accuracy and macro-F1, mean and standard deviation
    over seeds (ddof=1), a 95% subject-bootstrap interval of the accuracy, and per-subject counts."""
    from harx.train.metrics import subject_bootstrap_ci, subject_correct

    acc = [e.int_test.accuracy for e in evals]
    f1 = [e.int_test.macro_f1 for e in evals]
    subjects = ds.subject[split.test]
    per_seed = [subject_correct(ds.y[split.test], e.int_test_pred, subjects) for e in evals]
    ids = sorted(per_seed[0])
    correct = np.array([[c[s][0] for s in ids] for c in per_seed])
    windows = np.array([per_seed[0][s][1] for s in ids])
    lo, hi = subject_bootstrap_ci(correct, windows)
    ddof = 1 if len(acc) > 1 else 0
    return {
        "test_acc_mean": float(np.mean(acc)),
        "test_acc_std": float(np.std(acc, ddof=ddof)),
        "test_f1_mean": float(np.mean(f1)),
        "test_f1_std": float(np.std(f1, ddof=ddof)),
        "test_acc_seeds": acc,
        "test_f1_seeds": f1,
        "test_acc_ci95": [lo, hi],
        "test_subjects": ids,
        "test_subject_windows": windows.tolist(),
        "test_subject_correct": correct.tolist(),
        "fq_test_acc_mean": float(np.mean([e.fq_test.accuracy for e in evals])),
        "float_test_acc_mean": float(np.mean([e.float_test.accuracy for e in evals])),
    }


def run_refine(
    job: RefineJob, execution: Execution | None = None, on_epoch: Callable | None = None
) -> JobOutcome:
    """Seeds 0..S-1 of every genome; the artifact kept is seed 0's (not the best seed's, so the deployed
    model is not a pick of the luckiest run)."""
    from harx.evaluate import evaluate, train_model
    from harx.quant.artifact import save

    outs = {g: GenomeOutcome(g) for g in job.genomes}
    floats = None
    try:
        ds, cfg, floats, genomes = _prepare(job, execution, on_epoch)
        runs: dict[str, list] = {g: [] for g in job.genomes}
        splits = job.splits(ds)
        for seed, split in enumerate(splits):
            fs, float_s = floats.get(genomes[job.genomes[0]], split, seed)
            floats.hits += len(genomes) - 1
            outs[job.genomes[0]].train_seconds += float_s
            for text, genome in genomes.items():
                o = outs[text]
                if o.error:
                    continue
                try:
                    tm = train_model(
                        genome, ds, split, cfg, seed, on_epoch=on_epoch, execution=execution, float_stage=fs
                    )
                    ev = evaluate(tm, ds, split)
                except Exception as exc:
                    o.error = _error(exc)
                    continue
                o.train_seconds += tm.train_seconds
                runs[text].append(ev)
                if seed == 0:
                    extra = {"confusion_test": ev.int_test.confusion.tolist(), "history": ev.history}
                    art = tm.artifact(ds, ev.metrics(), cfg, extra)
                    o.artifact_path = str(save(art, Path(job.artifact_root) / f"{text}-refine-s0"))
        for text, o in outs.items():
            if o.error:
                continue
            evals = runs[text]
            confusion = sum(ev.int_test.confusion for ev in evals)
            o.metrics = {
                **test_metrics(evals, ds, splits[0]),
                "weight_bytes": evals[0].weight_bytes,
                "params": evals[0].params,
                "macs": evals[0].macs,
            }
            if job.val_subjects:
                o.metrics["val_acc_mean"] = float(np.mean([e.int_val.accuracy for e in evals]))
            o.extra = {
                "confusion_test": confusion.tolist(),
                "confusion_seeds": len(evals),
                "history": evals[0].history,
                "input": {"channels": ds.n_channels, "length": ds.window, "classes": ds.n_classes},
                "class_names": list(ds.class_names),
            }
    except Exception as exc:
        for o in outs.values():
            o.error = o.error or _error(exc)
    return JobOutcome(list(outs.values()), floats.new if floats else [], floats.hits if floats else 0)
