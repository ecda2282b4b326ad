"""Refine: which proxy candidates to retrain at the full budget, and the jobs that retrain them.

The proxy front is noisy (short training on folds), so refine retrains first the front of the score
against the first cost, then the candidates the proxy cannot tell from it (``near_front``), then the rest
of the front spread along the first cost, up to ``refine.max_points``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from harx.objectives import nondominated, recipe_objective
from harx.search.jobs import RefineJob
from harx.search.recipe import Recipe
from harx.store import CandidateRecord


def objective_matrix(records: list[CandidateRecord], objectives: Sequence[str], target: str) -> np.ndarray:
    """Rows of the records' objectives (recipe names, each record scored by its own stage) as minimised:
    1 - score, then costs."""
    rows = [
        [
            1 - _value(r, name, target) if recipe_objective(name).maximize else _value(r, name, target)
            for name in objectives
        ]
        for r in records
    ]
    return np.array(rows, dtype=float).reshape(len(records), len(objectives))


def _value(rec: CandidateRecord, name: str, target: str) -> float:
    o = recipe_objective(name)
    return o.value(rec, target) if o.maximize else rec.costs[target][name]


def front_of(records: list[CandidateRecord], objectives: Sequence[str], target: str) -> list[CandidateRecord]:
    """The non-dominated ``records`` over ``objectives`` (recipe names), by their own stage's score, sorted
    by the second objective (the first cost)."""
    if not records:
        return []
    mask = nondominated(objective_matrix(records, objectives, target))
    return sorted(
        (r for r, keep in zip(records, mask, strict=True) if keep),
        key=lambda r: _value(r, objectives[1], target),
    )


def primary_objectives(objectives: Sequence[str]) -> tuple[str, str]:
    """The score objective and the first cost: the trade-off that refine retrains first."""
    return (
        next(o for o in objectives if recipe_objective(o).maximize),
        next(o for o in objectives if not recipe_objective(o).maximize),
    )


def near_front(
    records: list[CandidateRecord], objectives: Sequence[str], target: str, band_points: float
) -> list[CandidateRecord]:
    """Dominated candidates that no other candidate beats by more than ``band_points`` accuracy points at
    no higher cost: the proxy cannot tell them from the front. Closest to the front first.
    """
    if not records or band_points <= 0:
        return []
    F = objective_matrix(records, objectives, target)
    m = next(i for i, o in enumerate(objectives) if recipe_objective(o).maximize)
    costs = [i for i in range(len(objectives)) if i != m]
    band = band_points / 100
    near = []
    for i in range(len(records)):
        no_costlier = np.all(F[:, costs] <= F[i, costs], axis=1)
        no_costlier[i] = False
        if np.any(no_costlier):
            margin = F[i, m] - F[no_costlier, m].min()  # accuracy lost to the best of those (fraction)
            if 0 < margin <= band:
                near.append((margin, i))
    return [records[i] for _, i in sorted(near)]


def _spread(records: list, k: int) -> list:
    """``k`` of ``records`` evenly by position (all of them when there are no more than ``k``)."""
    if len(records) <= k:
        return list(records)
    if k == 0:
        return []
    return [records[i] for i in np.unique(np.round(np.linspace(0, len(records) - 1, k)).astype(int))]


def refine_picks(
    front: list[CandidateRecord],
    objectives: Sequence[str],
    target: str,
    max_points: int,
    near: Sequence[CandidateRecord] = (),
) -> list[CandidateRecord]:
    """The candidates to retrain, at most ``max_points``, in order of the first cost.

    First the front of the accuracy objective against the first cost (the trade-off read first; with more
    than two objectives a spread along the whole front skipped most of it on uci-har), then ``near``
    (candidates just under that front, inside the proxy's noise: ``near_front``) in its order, then
    candidates spread evenly along the first cost among the rest of the front.
    """
    metric, cost = primary_objectives(objectives)
    primary = front_of(front, (metric, cost), target)
    picks = _spread(primary, max_points)
    chosen = {c.id for c in picks}
    picks += [c for c in near if c.id not in chosen][: max(max_points - len(picks), 0)]
    chosen = {c.id for c in picks}
    rest = [c for c in front if c.id not in chosen]
    picks += _spread(rest, max(max_points - len(picks), 0))
    return sorted(picks, key=lambda r: _value(r, cost, target))


def picks_for(
    recipe: Recipe, front: list[CandidateRecord], feasible: list[CandidateRecord]
) -> list[CandidateRecord]:
    """What refine retrains: ``front`` (the proxy front of ``feasible``, the run's feasible proxy
    candidates) and the near misses of ``feasible`` that ``refine.band_points`` admits."""
    r = recipe.refine
    near = near_front(feasible, primary_objectives(recipe.objectives), recipe.target, r.band_points)
    return refine_picks(front, recipe.objectives, recipe.target, r.max_points, near)


def refine_job(
    recipe: Recipe,
    genome: str,
    dataset: str,
    fingerprint: str,
    artifact_root: str,
    effective: tuple[dict, ...] = (),
) -> RefineJob:
    """The job that retrains ``genome`` with the recipe's refine settings (``effective``: per seed, the
    settings ``harx.train.budget`` ran where the data changed them)."""
    r = recipe.refine
    return RefineJob(
        genome, dataset, fingerprint, r.seeds, r.val_subjects, r.training.as_dict(), artifact_root, effective
    )
