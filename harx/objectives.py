"""Objectives and scores: one home for every axis a search optimises and a front is drawn over.

Each objective has a short name (``acc``, ``flash``, ...: ``harx pareto --objectives``), the names a recipe
may use for it (``accuracy``, ``flash_bytes``, ...: ``objectives:`` in a recipe, the stored cost fields),
a sense (maximised or minimised), a unit and where a stored candidate keeps it: a score in its metrics
(``STAGE_SCORES``: which metric each stage stores) or a cost field per target. ``harx.search`` (recipes,
NSGA-II, refine picks) and ``harx.pareto`` (fronts, tables, exports) both read them from here, and both
sort with the one non-dominated sort below (pymoo's).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from harx.errors import ConfigError
from harx.store import CandidateRecord


@dataclass(frozen=True)
class Score:
    """Where a stage keeps one score: the mean, its stored spread (None: computed from the repeats) and
    the per-repeat list (folds or seeds)."""

    mean: str
    std: str | None
    repeats: str


# The scores each stage stores: refine scores the test subjects over several seeds, proxy and select the
# subject-grouped validation folds of the training subjects (the spread is computed from the folds).
_FOLD_SCORES = {"acc": Score("val_acc", None, "val_acc_folds"), "f1": Score("val_f1", None, "val_f1_folds")}
STAGE_SCORES: dict[str, dict[str, Score]] = {
    "refine": {
        "acc": Score("test_acc_mean", "test_acc_std", "test_acc_seeds"),
        "f1": Score("test_f1_mean", "test_f1_std", "test_f1_seeds"),
    },
    "select": _FOLD_SCORES,
    "proxy": _FOLD_SCORES,
}
# The refine protocol of searches that choose their front on validation scores (the select stage) and only
# report test scores; a refined front of any other protocol was kept non-dominated on test scores.
VALIDATION_SELECTED_REFINE = "refine-seeds-v2"

SCORE_SOURCE = {
    "refine": "test subjects, mean over seeds",
    "select": "validation folds at the refine budget, mean over folds",
    "proxy": "validation folds, mean over folds",
}


def number(value: object) -> float | None:
    """A stored JSON number as float; None for null, booleans, text and lists."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


@dataclass(frozen=True)
class Objective:
    """One axis. ``key`` names the score (``acc``, ``f1``) or the per-target cost field (``flash_bytes``);
    ``recipe_names`` are the names a recipe may give it; ``display_scale`` turns the stored unit into
    ``display_unit`` for tables and plots."""

    name: str
    label: str
    maximize: bool
    key: str
    unit: str
    display_unit: str
    display_scale: float = 1.0
    per_target: bool = True
    recipe_names: tuple[str, ...] = ()

    @property
    def sense(self) -> str:
        return "max" if self.maximize else "min"

    def value(self, rec: CandidateRecord, target: str) -> float | None:
        """This objective of ``rec`` in its stored unit, or None when the candidate does not hold it."""
        if not self.per_target:
            return number(rec.metrics.get(STAGE_SCORES[rec.stage][self.key].mean))
        cost = rec.costs.get(target) or {}
        value = number(cost.get(self.key))
        if value is None and self.key == "macs":  # MACs do not depend on the target
            value = number(rec.metrics.get("macs"))
        return value

    def display(self, value: float) -> float:
        return value * self.display_scale


OBJECTIVES: dict[str, Objective] = {
    o.name: o
    for o in (
        Objective(
            "acc", "accuracy", True, "acc", "", "%", 100.0, per_target=False, recipe_names=("accuracy",)
        ),
        Objective("f1", "macro-F1", True, "f1", "", "%", 100.0, per_target=False, recipe_names=("macro_f1",)),
        Objective("flash", "flash", False, "flash_bytes", "B", "kB", 1e-3, recipe_names=("flash_bytes",)),
        Objective("ram", "RAM", False, "ram_bytes", "B", "kB", 1e-3, recipe_names=("ram_bytes",)),
        # Cycles rank exactly like milliseconds on one target (a fixed clock): one axis, two recipe names.
        Objective(
            "latency",
            "latency",
            False,
            "latency_ms",
            "ms",
            "ms",
            recipe_names=("latency_ms", "latency_cycles"),
        ),
        Objective("energy", "energy", False, "energy_uj", "µJ", "µJ", recipe_names=("energy_uj",)),
        Objective("macs", "MACs", False, "macs", "MACs", "MMAC", 1e-6, recipe_names=("macs",)),
    )
}
# A recipe's objective name -> its objective.
RECIPE_OBJECTIVES: dict[str, Objective] = {n: o for o in OBJECTIVES.values() for n in o.recipe_names}
# The stored cost fields of a target (what recipe constraints may bound).
COST_KEYS = ("flash_bytes", "ram_bytes", "latency_ms", "latency_cycles", "energy_uj", "macs")
COST_AXES = tuple(name for name, o in OBJECTIVES.items() if o.per_target)
DEFAULT_OBJECTIVES = ("acc", "flash", "latency")


def recipe_objective(name: str) -> Objective:
    """The objective a recipe names (``accuracy``, ``flash_bytes``, ``latency_cycles``, ...)."""
    return RECIPE_OBJECTIVES[name]


def check_recipe_objectives(names: Sequence[str]) -> str:
    """Why a recipe's ``objectives`` list is unusable ('' when it is fine)."""
    for n in names:
        if n not in RECIPE_OBJECTIVES:
            return f"'{n}' is not one of {', '.join(RECIPE_OBJECTIVES)}"
    if sum(RECIPE_OBJECTIVES[n].maximize for n in names) != 1 or len(names) < 2:
        return "need exactly one of accuracy/macro_f1 and at least one cost"
    return ""


def run_objectives(*recipes: dict) -> tuple[str, ...]:
    """The objectives the runs of these stored recipes were searched over, so that a run's front here is
    the one ``harx search`` reported; DEFAULT_OBJECTIVES when the runs differ or their objectives cannot
    be drawn (not 2 or 3 of them)."""
    searched = set()
    for recipe in recipes:
        objs = [RECIPE_OBJECTIVES.get(str(n)) for n in recipe.get("objectives") or ()]
        searched.add(tuple(dict.fromkeys(o.name if o else None for o in objs)))
    names = searched.pop() if len(searched) == 1 else ()
    if None in names or not 2 <= len(names) <= 3:
        return DEFAULT_OBJECTIVES
    return names


def parse_objectives(spec: str | tuple[str, ...] | list[str]) -> tuple[Objective, ...]:
    """``"acc,flash,latency"`` (or a sequence of names) -> 2 or 3 distinct objectives."""
    names = [n.strip() for n in spec.split(",")] if isinstance(spec, str) else [n.strip() for n in spec]
    for name in names:
        if name not in OBJECTIVES:
            raise ConfigError(
                f"--objectives: unknown objective '{name}' (choose from {', '.join(OBJECTIVES)})"
            )
    if len(set(names)) != len(names):
        raise ConfigError(f"--objectives: '{','.join(names)}' names an objective twice")
    if not 2 <= len(names) <= 3:
        raise ConfigError(f"--objectives: give 2 or 3 objectives, not {len(names)} ('{','.join(names)}')")
    return tuple(OBJECTIVES[n] for n in names)


def minimised(values: np.ndarray, objectives: Sequence[Objective]) -> np.ndarray:
    """Rows of objective values (stored units) as minimised: maximised columns negated."""
    signs = np.array([-1.0 if o.maximize else 1.0 for o in objectives])
    return np.asarray(values, dtype=float).reshape(-1, len(objectives)) * signs


def nondominated(F: np.ndarray) -> np.ndarray:
    """Boolean mask of the rows of ``F`` (points x minimised objectives) that no other row dominates
    (pymoo's non-dominated sort; identical rows do not dominate each other, so duplicates stay)."""
    from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

    F = np.asarray(F, dtype=float)
    if F.ndim != 2:
        raise ValueError(f"objective matrix must be 2-D (points x objectives), got shape {F.shape}")
    if not np.all(np.isfinite(F)):
        raise ValueError("objective matrix holds NaN or infinite values")
    mask = np.zeros(len(F), dtype=bool)
    if len(F):
        mask[NonDominatedSorting().do(F, only_non_dominated_front=True)] = True
    return mask
