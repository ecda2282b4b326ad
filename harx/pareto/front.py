"""The Pareto front of a stored run: which candidates are on it, and the hypervolume they span.

A run's front is its refined one when the run holds ``ok`` refine candidates (test subjects, several
seeds), else its proxy one (validation folds); ``Front.stage`` says which. ``Front.selected_on`` says what
chose the points: a search since the ``select`` stage (refine protocol v2) chose them on validation folds
of the training subjects and retrained them for the test report, so every refined point it holds is on
its front whatever its test score (``validation``); older runs kept the refined points non-dominated on
their test scores (``test``); proxy and select fronts are non-dominated on validation scores. Infeasible
and failed candidates, and ``ok`` ones that do not fit the chosen target, are never on a front: they are
counted, not placed.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from harx.cost import TARGETS
from harx.errors import ConfigError, StoreError
from harx.objectives import (
    SCORE_SOURCE,
    STAGE_SCORES,
    VALIDATION_SELECTED_REFINE,
    Objective,
    Score,
    minimised,
    nondominated,
    number,
    parse_objectives,
    run_objectives,
)
from harx.pareto.objectives import parse_ref, run_target
from harx.pareto.sorting import hypervolume
from harx.paths import default_store_path
from harx.store import STAGES, CandidateRecord, RunRecord, Store

# The default reference point: a maximised score at 0, a cost at this multiple of the worst placed value,
# so that the extreme points of the front still add volume.
REF_COST_MARGIN = 1.1


@dataclass(frozen=True)
class TargetCost:
    """A candidate's stored cost on one target (see ``harx.cost.Cost``)."""

    flash_bytes: int | None
    ram_bytes: int | None
    macs: int | None
    latency_cycles: int | None
    latency_ms: float | None
    energy_uj: float | None
    feasible: bool
    infeasible_reason: str = ""


@dataclass(frozen=True)
class FrontPoint:
    """One placed candidate. ``acc``/``f1`` are the stage's scores (test mean for refine, validation-fold
    mean for proxy and select) as fractions; ``acc_std``/``f1_std`` their standard deviation (ddof=1) over
    ``n_repeats`` seeds or folds; ``acc_ci95`` a 95% subject-bootstrap interval of the test accuracy.
    ``values`` holds the front's objectives in stored units, in ``Front.objectives`` order."""

    candidate_id: int
    run_id: int
    genome: str
    stage: str
    acc: float | None
    acc_std: float | None
    f1: float | None
    f1_std: float | None
    n_repeats: int
    acc_ci95: tuple[float, float] | None
    weight_bytes: int | None
    costs: dict[str, TargetCost]
    values: tuple[float, ...]
    on_front: bool


@dataclass(frozen=True)
class Front:
    """The front of one run over 2 or 3 objectives on one target.

    ``points`` are the non-dominated candidates (sorted by the objectives as minimised), ``dominated`` the
    other placed ones. ``reference`` (stored units, ``objectives`` order) bounds the hypervolume, which is
    computed on the objectives as minimised (maximised ones negated), so its unit is the product of the
    objectives' units (accuracy as a fraction).
    """

    store_path: str
    run: RunRecord
    dataset: str
    stage: str
    selected_on: str
    objectives: tuple[Objective, ...]
    target: str
    points: tuple[FrontPoint, ...]
    dominated: tuple[FrontPoint, ...]
    reference: tuple[float, ...]
    reference_given: tuple[str, ...]
    hypervolume: float
    n_infeasible: int
    n_failed: int
    n_unplaced: int

    @property
    def run_id(self) -> int:
        return self.run.id

    @property
    def score_source(self) -> str:
        return SCORE_SOURCE[self.stage]

    @property
    def all_points(self) -> tuple[FrontPoint, ...]:
        return self.points + self.dominated

    def describe_reference(self) -> str:
        parts = []
        for o, r in zip(self.objectives, self.reference, strict=True):
            how = "given" if o.name in self.reference_given else _default_ref_rule(o)
            parts.append(f"{o.name}={r:.6g}{(' ' + o.unit) if o.unit else ''} ({how})")
        return ", ".join(parts)


def _default_ref_rule(o: Objective) -> str:
    return "default" if o.maximize else f"{REF_COST_MARGIN} x worst placed"


def open_store(path: str | os.PathLike[str] | None = None) -> Store:
    """Open an existing store read-only; unlike ``Store(path)``, never creates it or writes to it."""
    p = Path(path) if path is not None else default_store_path()
    if not p.exists():
        raise StoreError(f"{p}: no candidate store here (run `harx search` first, or pass --store PATH)")
    return Store(p, readonly=True)


def pick_run(store: Store, run_id: int | None) -> RunRecord:
    """The run ``run_id``, or the newest run when None."""
    if run_id is not None:
        return store.get_run(run_id)
    runs = store.runs()
    if not runs:
        raise StoreError(f"{store.path}: the store holds no runs")
    return runs[-1]


def check_target(target: str) -> str:
    if target not in TARGETS:
        raise ConfigError(f"--target: unknown target '{target}' (choose from {', '.join(TARGETS)})")
    return target


def _score(metrics: dict, keys: Score) -> tuple[float | None, float | None, int]:
    """(mean, std, repeats) of one score: the sample standard deviation (ddof=1) of the per-seed or per-fold
    list, else the stored one."""
    mean = number(metrics.get(keys.mean))
    reps = metrics.get(keys.repeats)
    xs = [v for v in map(number, reps) if v is not None] if isinstance(reps, list) else []
    std = float(np.std(xs, ddof=1)) if len(xs) >= 2 else (number(metrics.get(keys.std)) if keys.std else None)
    return mean, std, len(xs)


def _interval(metrics: dict) -> tuple[float, float] | None:
    ci = metrics.get("test_acc_ci95")
    if isinstance(ci, list) and len(ci) == 2 and all(number(v) is not None for v in ci):
        return float(ci[0]), float(ci[1])
    return None


def selected_on(stage: str, recs: list[CandidateRecord]) -> str:
    """What chose a front's points: ``test`` for the refined front of a run before the select stage (kept
    non-dominated on test scores), else ``validation``."""
    if stage != "refine":
        return "validation"
    new = recs and all(r.train_config.get("protocol") == VALIDATION_SELECTED_REFINE for r in recs)
    return "validation" if new else "test"


def _target_cost(raw: dict) -> TargetCost:
    def num(key: str, kind: type) -> int | float | None:
        v = number(raw.get(key))
        return kind(v) if v is not None else None

    return TargetCost(
        flash_bytes=num("flash_bytes", int),
        ram_bytes=num("ram_bytes", int),
        macs=num("macs", int),
        latency_cycles=num("latency_cycles", int),
        latency_ms=num("latency_ms", float),
        energy_uj=num("energy_uj", float),
        feasible=bool(raw.get("feasible", True)),
        infeasible_reason=str(raw.get("infeasible_reason") or ""),
    )


def _point(rec: CandidateRecord, run_id: int, values: tuple[float, ...]) -> FrontPoint:
    keys = STAGE_SCORES[rec.stage]
    acc, acc_std, n = _score(rec.metrics, keys["acc"])
    f1, f1_std, _ = _score(rec.metrics, keys["f1"])
    wb = number(rec.metrics.get("weight_bytes"))
    return FrontPoint(
        candidate_id=int(rec.id),
        run_id=run_id,
        genome=rec.genome,
        stage=rec.stage,
        acc=acc,
        acc_std=acc_std,
        f1=f1,
        f1_std=f1_std,
        n_repeats=n,
        acc_ci95=_interval(rec.metrics),
        weight_bytes=int(wb) if wb is not None else None,
        costs={t: _target_cost(c) for t, c in sorted(rec.costs.items()) if isinstance(c, dict)},
        values=values,
        on_front=False,
    )


@dataclass(frozen=True)
class _Placed:
    """A run's candidates sorted into placed points and counts, before the front is known."""

    run: RunRecord
    dataset: str
    stage: str
    selected_on: str
    points: list[FrontPoint]
    n_infeasible: int
    n_failed: int
    n_unplaced: int


def _choose_stage(store: Store, run_id: int, stage: str | None) -> str:
    if stage is not None:
        if stage not in STAGES:
            raise ConfigError(f"--stage: unknown stage '{stage}' (choose from {', '.join(STAGES)})")
        return stage
    return "refine" if store.candidates(run_id=run_id, stage="refine", status="ok") else "proxy"


def _place(
    store: Store, run: RunRecord, objectives: tuple[Objective, ...], target: str, stage: str | None
) -> _Placed:
    chosen = _choose_stage(store, run.id, stage)
    recs = store.candidates(run_id=run.id, stage=chosen)
    if not recs:
        raise StoreError(f"{store.path}: run {run.id} has no {chosen} candidates")
    points, n_inf, n_failed, n_unplaced = [], 0, 0, 0
    for rec in recs:
        if rec.status == "failed":
            n_failed += 1
            continue
        if rec.status == "infeasible" or not (rec.costs.get(target) or {}).get("feasible", True):
            n_inf += 1
            continue
        values = tuple(o.value(rec, target) for o in objectives)
        if any(v is None or not math.isfinite(v) for v in values):
            n_unplaced += 1
            continue
        points.append(_point(rec, run.id, values))
    datasets = sorted({r.dataset for r in recs})
    how = selected_on(chosen, recs)
    return _Placed(run, ", ".join(datasets), chosen, how, points, n_inf, n_failed, n_unplaced)


def _default_reference(placed: list[_Placed], objectives: tuple[Objective, ...]) -> list[float]:
    ref = []
    for i, o in enumerate(objectives):
        if o.maximize:
            ref.append(0.0)
        else:
            ref.append(REF_COST_MARGIN * max(p.values[i] for pl in placed for p in pl.points))
    return ref


def _finish(
    store: Store,
    pl: _Placed,
    objectives: tuple[Objective, ...],
    target: str,
    ref: list[float],
    given: tuple[str, ...],
) -> Front:
    F = minimised(np.array([p.values for p in pl.points]), objectives)
    # A front chosen on validation and retrained for the report is every point: a test score may not
    # re-choose it.
    chosen_on_validation = pl.stage == "refine" and pl.selected_on == "validation"
    mask = np.ones(len(F), dtype=bool) if chosen_on_validation else nondominated(F)
    order = np.lexsort(F.T[::-1])  # by the first objective as minimised, ties by the next
    front = tuple(replace(pl.points[i], on_front=True) for i in order if mask[i])
    dominated = tuple(pl.points[i] for i in order if not mask[i])
    hv = hypervolume(F[mask], minimised(np.asarray(ref), objectives)[0])
    return Front(
        store_path=str(store.path),
        run=pl.run,
        dataset=pl.dataset,
        stage=pl.stage,
        selected_on=pl.selected_on,
        objectives=objectives,
        target=target,
        points=front,
        dominated=dominated,
        reference=tuple(float(r) for r in ref),
        reference_given=given,
        hypervolume=hv,
        n_infeasible=pl.n_infeasible,
        n_failed=pl.n_failed,
        n_unplaced=pl.n_unplaced,
    )


def load_fronts(
    store: Store,
    run_ids: list[int] | tuple[int, ...] | None = None,
    objectives: str | tuple[str, ...] | tuple[Objective, ...] | None = None,
    target: str | None = None,
    stage: str | None = None,
    ref: dict[str, float] | None = None,
) -> list[Front]:
    """The fronts of several runs (the newest run when ``run_ids`` is empty) under one shared reference
    point, so that their hypervolumes compare. With ``stage`` None, one run shows its refined front when
    it has one; several runs all show refine fronts only when all have them, else all show proxy fronts.
    ``ref`` overrides the reference of some objectives (stored units: accuracy as a fraction, flash in
    bytes, latency in ms, energy in µJ). With ``objectives`` None, the runs' own search objectives when
    they share them, else DEFAULT_OBJECTIVES; likewise with ``target`` None, their search target."""
    objs = None if objectives is None else _objectives(objectives)
    runs = [pick_run(store, r) for r in (run_ids or [None])]
    target = target or run_target(*(run.recipe for run in runs))
    check_target(target)
    if objs is None:
        objs = _objectives(run_objectives(*(run.recipe for run in runs)))
    if stage is None and len(runs) > 1:
        # Compare like with like: test scores only when every run has them, else every run's proxy scores.
        stages = {_choose_stage(store, run.id, None) for run in runs}
        stage = "refine" if stages == {"refine"} else "proxy"
    placed = [_place(store, run, objs, target, stage) for run in runs]
    for pl in placed:
        if not pl.points:
            raise StoreError(
                f"{store.path}: run {pl.run.id} has no placeable {pl.stage} candidates on {target} "
                f"({pl.n_infeasible} infeasible, {pl.n_failed} failed, {pl.n_unplaced} missing "
                f"{'/'.join(o.name for o in objs)})"
            )
    ref = ref or {}
    for name, value in ref.items():
        if name not in {o.name for o in objs}:
            raise ConfigError(f"--ref: '{name}' is not one of the objectives")
        if not math.isfinite(value):
            raise ConfigError(f"--ref: value of '{name}' is not finite")
    point = _default_reference(placed, objs)
    point = [ref.get(o.name, v) for o, v in zip(objs, point, strict=True)]
    given = tuple(o.name for o in objs if o.name in ref)
    return [_finish(store, pl, objs, target, point, given) for pl in placed]


def load_front(
    store: Store,
    run_id: int | None = None,
    objectives: str | tuple[str, ...] | tuple[Objective, ...] | None = None,
    target: str | None = None,
    stage: str | None = None,
    ref: dict[str, float] | None = None,
) -> Front:
    """The front of one run (the newest when ``run_id`` is None); see ``load_fronts``."""
    return load_fronts(store, [run_id] if run_id is not None else None, objectives, target, stage, ref)[0]


def _objectives(spec: str | tuple) -> tuple[Objective, ...]:
    if isinstance(spec, tuple) and spec and all(isinstance(o, Objective) for o in spec):
        return parse_objectives([o.name for o in spec])
    return parse_objectives(spec)


def read_front(
    store_path: str | os.PathLike[str] | None = None,
    run_id: int | None = None,
    objectives: str | None = None,
    target: str | None = None,
    stage: str | None = None,
    ref: str | None = None,
) -> Front:
    """The front ``harx pareto list/export`` show: the store at ``store_path`` (default: $HARX_HOME's), the
    objectives as text (``"acc,flash"``; default: the run's search objectives) and the reference as text
    (``"acc=0.5,flash=30000"``, stored units)."""
    with open_store(store_path) as s:
        objs = parse_objectives(objectives or run_objectives(pick_run(s, run_id).recipe))
        return load_front(s, run_id, objs, target, stage, parse_ref(ref, objs))
