"""The objectives a front can be drawn over, where each one is read from a stored candidate, and its units."""

from __future__ import annotations

from dataclasses import dataclass

from harx.errors import ConfigError
from harx.store import CandidateRecord

# Where a stage keeps its scores (mean, stored std or None, per-repeat list): refine scores the test subjects
# over several seeds, proxy the subject-grouped validation folds (no stored std: it is computed from the folds).
SCORE_KEYS: dict[str, dict[str, tuple[str, str | None, str]]] = {
    "refine": {
        "acc": ("test_acc_mean", "test_acc_std", "test_acc_seeds"),
        "f1": ("test_f1_mean", "test_f1_std", "test_f1_seeds"),
    },
    "proxy": {"acc": ("val_acc", None, "val_acc_folds"), "f1": ("val_f1", None, "val_f1_folds")},
}
SCORE_SOURCE = {"refine": "test subjects, mean over seeds", "proxy": "validation folds, mean over folds"}


@dataclass(frozen=True)
class Objective:
    """One axis of a front. ``key`` names the metric (``acc``, ``f1``) or the per-target cost field
    (``flash_bytes``); ``display_scale`` turns the stored unit into ``display_unit`` for tables and plots."""

    name: str
    label: str
    maximize: bool
    key: str
    unit: str
    display_unit: str
    display_scale: float = 1.0
    per_target: bool = True

    @property
    def sense(self) -> str:
        return "max" if self.maximize else "min"

    def value(self, rec: CandidateRecord, target: str) -> float | None:
        """This objective of ``rec`` in its stored unit, or None when the candidate does not hold it."""
        if not self.per_target:
            mean_key = SCORE_KEYS[rec.stage][self.name][0]
            return number(rec.metrics.get(mean_key))
        cost = rec.costs.get(target) or {}
        value = number(cost.get(self.key))
        if value is None and self.key == "macs":  # MACs do not depend on the target
            value = number(rec.metrics.get("macs"))
        return value

    def display(self, value: float) -> float:
        return value * self.display_scale


def number(value: object) -> float | None:
    """A stored JSON number as float; None for null, booleans, text and lists."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


OBJECTIVES: dict[str, Objective] = {
    o.name: o
    for o in (
        Objective("acc", "accuracy", True, "acc", "", "%", 100.0, per_target=False),
        Objective("f1", "macro-F1", True, "f1", "", "%", 100.0, per_target=False),
        Objective("flash", "flash", False, "flash_bytes", "B", "kB", 1e-3),
        Objective("ram", "RAM", False, "ram_bytes", "B", "kB", 1e-3),
        Objective("latency", "latency", False, "latency_ms", "ms", "ms"),
        Objective("energy", "energy", False, "energy_uj", "µJ", "µJ"),
        Objective("macs", "MACs", False, "macs", "MACs", "MMAC", 1e-6),
    )
}
COST_AXES = tuple(name for name, o in OBJECTIVES.items() if o.per_target)
DEFAULT_OBJECTIVES = ("acc", "flash", "latency")
DEFAULT_TARGET = "gap8"
# A recipe's objective names (harx.search.recipe) -> the names here; cycles rank like milliseconds.
RECIPE_OBJECTIVES = {
    "accuracy": "acc",
    "macro_f1": "f1",
    "latency_cycles": "latency",
    **{o.key: name for name, o in OBJECTIVES.items() if o.per_target},
}


def run_objectives(*recipes: dict) -> tuple[str, ...]:
    """The objectives the runs of these stored recipes were searched over, so that a run's front here is
    the one ``harx search`` reported; DEFAULT_OBJECTIVES when the runs differ or their objectives cannot
    be drawn (not 2 or 3 of them)."""
    searched = {
        tuple(dict.fromkeys(RECIPE_OBJECTIVES.get(str(n)) for n in recipe.get("objectives") or ()))
        for recipe in recipes
    }
    names = searched.pop() if len(searched) == 1 else ()
    if None in names or not 2 <= len(names) <= 3:
        return DEFAULT_OBJECTIVES
    return names


def run_target(*recipes: dict) -> str:
    """The target the runs of these stored recipes were searched on; DEFAULT_TARGET when they differ."""
    targets = {str(recipe.get("target", DEFAULT_TARGET)) for recipe in recipes}
    return targets.pop() if len(targets) == 1 else DEFAULT_TARGET


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


def parse_ref(spec: str | None, objectives: tuple[Objective, ...]) -> dict[str, float]:
    """``"acc=0.8,flash=20000"`` -> reference values in stored units for some of ``objectives``."""
    if not spec:
        return {}
    names = {o.name for o in objectives}
    ref: dict[str, float] = {}
    for item in spec.split(","):
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or name not in names:
            raise ConfigError(
                f"--ref: '{item.strip()}' is not NAME=VALUE with NAME one of the objectives "
                f"({', '.join(o.name for o in objectives)})"
            )
        try:
            ref[name] = float(text)
        except ValueError:
            raise ConfigError(f"--ref: value of '{name}' is not a number: '{text.strip()}'") from None
    return ref
