"""Two fronts on the same objectives: where the new one is above or below the baseline, and whether it
regressed (a CI gate: ``harx pareto compare``, docs/ci.md).

Both hypervolumes are computed at one shared reference point (a score at 0, a cost at 1.1 x the worst
point of either front, unless given), so they compare. Every baseline front point is then matched against
the new front: it is *below* (the new front regressed there) when no new point scores at least as well,
less ``acc_tolerance`` points, at no more of every cost, plus ``cost_tolerance`` (relative); *above* when a
new point dominates it; else *level*. The new front regresses when its hypervolume falls more than
``hv_tolerance`` (relative) under the baseline's, when a chosen baseline point (``points``) is below, or
when the best score within a chosen cost budget (``budgets``) falls more than ``acc_tolerance`` points.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from harx.errors import ConfigError
from harx.objectives import minimised
from harx.pareto.front import REF_COST_MARGIN, Front, FrontPoint, load_front, open_store, read_front
from harx.pareto.sorting import hypervolume

HV_TOLERANCE = 0.01  # relative
ACC_TOLERANCE_POINTS = 0.5  # accuracy points: under the ~0.7-point seed-to-seed spread of uci-har refines
COST_TOLERANCE = 0.0  # relative; costs are model estimates, exactly repeatable


@dataclass(frozen=True)
class PointMatch:
    """A baseline front point and the new front's answer to it: ``status`` above, level or below;
    ``match`` the new point that covers it (None when below); ``nearest`` the new point with the best
    score at no more of every cost (None when there is none); ``score_change_points`` its score minus the
    baseline's, in points."""

    baseline: FrontPoint
    status: str
    match: FrontPoint | None
    nearest: FrontPoint | None
    score_change_points: float | None


@dataclass(frozen=True)
class BudgetCheck:
    """The best score of each front within ``cost`` <= ``budget`` (stored units)."""

    cost: str
    budget: float
    baseline_best: float | None
    new_best: float | None
    regressed: bool


@dataclass
class Comparison:
    baseline: Front
    new: Front
    reference: tuple[float, ...]
    baseline_hypervolume: float
    new_hypervolume: float
    matches: list[PointMatch]
    new_above: list[FrontPoint]  # new front points that no baseline point covers
    budgets: list[BudgetCheck]
    checked_points: list[int]  # baseline candidate ids that must not be below
    hv_tolerance: float
    acc_tolerance: float
    cost_tolerance: float
    labels: tuple[str, str] = ("baseline", "new")  # where each front came from, for messages
    reasons: list[str] = field(default_factory=list)  # why the new front regressed; empty: it did not

    @property
    def regressed(self) -> bool:
        return bool(self.reasons)

    @property
    def hv_change(self) -> float:
        """New hypervolume over the baseline's, minus 1."""
        return self.new_hypervolume / self.baseline_hypervolume - 1 if self.baseline_hypervolume else 0.0

    def to_json(self) -> dict:
        score = self.baseline.objectives[0].name

        def pt(p: FrontPoint | None) -> dict | None:
            if p is None:
                return None
            return {
                "candidate_id": p.candidate_id,
                "run_id": p.run_id,
                "genome": p.genome,
                "objectives": {o.name: v for o, v in zip(self.baseline.objectives, p.values, strict=True)},
            }

        return {
            "regressed": self.regressed,
            "reasons": self.reasons,
            "objectives": [o.name for o in self.baseline.objectives],
            "score": score,
            "target": self.baseline.target,
            "stage": self.baseline.stage,
            "dataset": self.baseline.dataset,
            "baseline": {"run": self.baseline.run.id, "source": self.labels[0]},
            "new": {"run": self.new.run.id, "source": self.labels[1]},
            "reference": {o.name: r for o, r in zip(self.baseline.objectives, self.reference, strict=True)},
            "hypervolume": {
                "baseline": self.baseline_hypervolume,
                "new": self.new_hypervolume,
                "change": self.hv_change,
            },
            "tolerance": {
                "hypervolume_relative": self.hv_tolerance,
                "score_points": self.acc_tolerance,
                "cost_relative": self.cost_tolerance,
            },
            "points": [
                {
                    "baseline": pt(m.baseline),
                    "status": m.status,
                    "match": pt(m.match),
                    "nearest": pt(m.nearest),
                    "score_change_points": m.score_change_points,
                    "checked": m.baseline.candidate_id in self.checked_points,
                }
                for m in self.matches
            ],
            "new_above": [pt(p) for p in self.new_above],
            "budgets": [vars(b) for b in self.budgets],
        }


def _check_alike(baseline: Front, new: Front) -> None:
    for what, a, b in (
        ("objectives", [o.name for o in baseline.objectives], [o.name for o in new.objectives]),
        ("target", baseline.target, new.target),
        ("stage", baseline.stage, new.stage),
        ("dataset", baseline.dataset, new.dataset),
    ):
        if a != b:
            raise ConfigError(f"the fronts differ in {what} (baseline {a}, new {b}): compare like with like")
    if sum(o.maximize for o in baseline.objectives) != 1:
        raise ConfigError("compare needs exactly one score objective (acc or f1) beside the costs")


def _covers(n: np.ndarray, b: np.ndarray, score_col: int, acc_tol: float, cost_tol: float) -> bool:
    """Whether a new point (stored units) covers a baseline point within the tolerances."""
    for i in range(len(b)):
        if i == score_col:
            if n[i] < b[i] - acc_tol / 100:
                return False
        elif n[i] > b[i] * (1 + cost_tol):
            return False
    return True


def _dominates(n: np.ndarray, b: np.ndarray, score_col: int) -> bool:
    better = [n[i] > b[i] if i == score_col else n[i] < b[i] for i in range(len(b))]
    no_worse = [n[i] >= b[i] if i == score_col else n[i] <= b[i] for i in range(len(b))]
    return all(no_worse) and any(better)


def compare(
    baseline: Front,
    new: Front,
    *,
    hv_tolerance: float = HV_TOLERANCE,
    acc_tolerance: float = ACC_TOLERANCE_POINTS,
    cost_tolerance: float = COST_TOLERANCE,
    points: tuple[int, ...] = (),
    budgets: dict[str, float] | None = None,
    ref: dict[str, float] | None = None,
    labels: tuple[str, str] = ("baseline", "new"),
) -> Comparison:
    """Compare ``new`` with ``baseline`` (same objectives, target, stage and dataset): see the module
    docstring. ``points`` are baseline candidate ids that must not be below; ``budgets`` cost caps (stored
    units, e.g. ``{"flash": 8192}``) whose best score must not fall; ``ref`` overrides the shared reference
    of some objectives."""
    _check_alike(baseline, new)
    if min(hv_tolerance, acc_tolerance, cost_tolerance) < 0:
        raise ConfigError("tolerances must be 0 or more")
    objs = baseline.objectives
    names = [o.name for o in objs]
    s = next(i for i, o in enumerate(objs) if o.maximize)
    ids = {p.candidate_id for p in baseline.points}
    missing = [i for i in points if i not in ids]
    if missing:
        raise ConfigError(f"--point {missing[0]} is not on the baseline front (its points: {sorted(ids)})")
    for name in list(budgets or {}) + list(ref or {}):
        if name not in names:
            raise ConfigError(f"'{name}' is not one of the fronts' objectives ({', '.join(names)})")
    if budgets and names[s] in budgets:
        raise ConfigError(f"a budget caps a cost, not the score '{names[s]}'")
    B = np.array([p.values for p in baseline.points], dtype=float)
    N = np.array([p.values for p in new.points], dtype=float)
    both = np.vstack([B, N])
    reference = [0.0 if o.maximize else REF_COST_MARGIN * both[:, i].max() for i, o in enumerate(objs)]
    reference = [float((ref or {}).get(n, r)) for n, r in zip(names, reference, strict=True)]
    r_min = minimised(np.asarray(reference), objs)[0]
    hv_b = hypervolume(minimised(B, objs), r_min)
    hv_n = hypervolume(minimised(N, objs), r_min)
    matches = []
    for p, b in zip(baseline.points, B, strict=True):
        covering = [k for k, n in enumerate(N) if _covers(n, b, s, acc_tolerance, cost_tolerance)]
        cheaper = [k for k, n in enumerate(N) if all(n[i] <= b[i] for i in range(len(b)) if i != s)]
        nearest = max(cheaper, key=lambda k: N[k, s]) if cheaper else None
        above = [k for k in covering if _dominates(N[k], b, s)]
        match = (above or covering or [None])[0]
        status = "above" if above else "level" if covering else "below"
        change = None if nearest is None else 100 * (N[nearest, s] - b[s])
        matches.append(
            PointMatch(
                p,
                status,
                None if match is None else new.points[match],
                None if nearest is None else new.points[nearest],
                change,
            )
        )
    new_above = [
        q for q, n in zip(new.points, N, strict=True) if not any(_covers(b, n, s, 0.0, 0.0) for b in B)
    ]
    checks = []
    for name, cap in (budgets or {}).items():
        c = names.index(name)
        best_b = max((b[s] for b in B if b[c] <= cap), default=None)
        best_n = max((n[s] for n in N if n[c] <= cap), default=None)
        regressed = best_b is not None and (best_n is None or best_n < best_b - acc_tolerance / 100)
        checks.append(BudgetCheck(name, float(cap), best_b, best_n, regressed))
    cmp = Comparison(
        baseline,
        new,
        tuple(reference),
        hv_b,
        hv_n,
        matches,
        new_above,
        checks,
        list(points),
        hv_tolerance,
        acc_tolerance,
        cost_tolerance,
        labels,
    )
    if hv_n < hv_b * (1 - hv_tolerance):
        cmp.reasons.append(
            f"hypervolume {hv_n:.6g} is {100 * -cmp.hv_change:.2f}% under the baseline's {hv_b:.6g} "
            f"(tolerance {100 * hv_tolerance:g}%)"
        )
    for m in matches:
        if m.baseline.candidate_id in points and m.status == "below":
            cmp.reasons.append(
                f"baseline point #{m.baseline.candidate_id} ({m.baseline.genome}) is not matched within "
                f"{acc_tolerance:g} points and {100 * cost_tolerance:g}% of its costs"
            )
    for c in checks:
        if c.regressed:
            new_text = "none" if c.new_best is None else f"{100 * c.new_best:.2f}%"
            cmp.reasons.append(
                f"best {names[s]} at {c.cost} <= {c.budget:g}: {new_text} against the baseline's "
                f"{100 * c.baseline_best:.2f}% (tolerance {acc_tolerance:g} points)"
            )
    return cmp


def load_side(
    source: str | None,
    store_path,
    like: Front | None = None,
    objectives: str | None = None,
    target: str | None = None,
    stage: str | None = None,
) -> tuple[Front, str]:
    """One side of a comparison and a label for it: a saved front file (``harx pareto export -f json``), or
    a run id of the store at ``store_path`` (None: its newest run) on ``like``'s objectives, target and
    stage (else ``objectives``/``target``/``stage``, else the run's own)."""
    from pathlib import Path

    from harx.pareto.export import read_front_file

    if source is not None and not source.strip().isdigit():
        if not Path(source).is_file():
            raise ConfigError(f"{source}: neither a run id nor a saved front file")
        return read_front_file(source), source
    run_id = None if source is None else int(source)
    if like is None:
        front = read_front(store_path, run_id, objectives, target, stage)
    else:
        with open_store(store_path) as s:
            front = load_front(s, run_id, like.objectives, like.target, like.stage)
    return front, f"run {front.run.id} of {front.store_path}"
