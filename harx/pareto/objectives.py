"""What a front is drawn over when the command line does not say: the runs' own search target, and a
hypervolume reference point given as ``NAME=VALUE`` pairs. The objectives themselves live in
``harx.objectives``."""

from __future__ import annotations

from harx.cost import DEFAULT_TARGET
from harx.errors import ConfigError
from harx.objectives import Objective


def run_target(*recipes: dict) -> str:
    """The target the runs of these stored recipes were searched on; DEFAULT_TARGET when they differ."""
    targets = {str(recipe.get("target", DEFAULT_TARGET)) for recipe in recipes}
    return targets.pop() if len(targets) == 1 else DEFAULT_TARGET


def parse_ref(spec: str | None, objectives: tuple[Objective, ...], flag: str = "--ref") -> dict[str, float]:
    """``"acc=0.8,flash=20000"`` -> values in stored units for some of ``objectives`` (a reference point, or
    the budgets of ``harx pareto compare --at``); errors name the option ``flag``."""
    if not spec:
        return {}
    names = {o.name for o in objectives}
    ref: dict[str, float] = {}
    for item in spec.split(","):
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or name not in names:
            raise ConfigError(
                f"{flag}: '{item.strip()}' is not NAME=VALUE with NAME one of the objectives "
                f"({', '.join(o.name for o in objectives)})"
            )
        try:
            ref[name] = float(text)
        except ValueError:
            raise ConfigError(f"{flag}: value of '{name}' is not a number: '{text.strip()}'") from None
    return ref
