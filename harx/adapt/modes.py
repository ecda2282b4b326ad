"""Operating modes: thresholds of a confidence policy swept on the validation subjects, every mode scored
on the validation and the test subjects (accuracy, macro-F1, fraction of early stops, average work).

A mode stops a window after the first stage iff the policy's confidence reaches its threshold, so within
one policy a higher threshold never stops more windows and never costs less on average. The thresholds of
a sweep are ``ALWAYS`` (every window stops: the cheapest mode), the confidence at evenly spaced quantiles
of the validation windows, and ``NEVER`` (the full network on every window), in increasing order: mode 0
is the cheapest, the last the most accurate on average.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harx.adapt.work import StageCosts
from harx.errors import ConfigError
from harx.objectives import nondominated
from harx.quant.adaptive import ALWAYS, NEVER, ModeRule, confidence
from harx.train.metrics import score

MIN_MODES = 2


@dataclass(frozen=True)
class StageOutputs:
    """The first-stage and final int32 logits (N, n_classes) of one split's windows, and their labels."""

    first: np.ndarray
    final: np.ndarray
    y: np.ndarray


@dataclass(frozen=True)
class ModeScores:
    """One mode on one split: accuracy and macro-F1 (fractions), the fraction of windows that stop after the
    first stage, and the average work per inference: MACs, and per target latency (ms) and energy (µJ)."""

    accuracy: float
    macro_f1: float
    exit_fraction: float
    avg_macs: float
    avg_latency_ms: dict[str, float]
    avg_energy_uj: dict[str, float]


@dataclass(frozen=True)
class Mode:
    """A runtime mode (policy, threshold) and its scores on the validation and the test subjects."""

    rule: ModeRule
    val: ModeScores
    test: ModeScores

    def scores(self, split: str) -> ModeScores:
        if split not in ("val", "test"):
            raise ValueError(f"split must be 'val' or 'test', not {split!r}")
        return self.val if split == "val" else self.test


def candidate_thresholds(val_scores: np.ndarray, n_modes: int) -> list[int]:
    """At most ``n_modes`` thresholds, increasing: ``ALWAYS``, the validation confidence at quantiles
    1/(n-1) .. (n-2)/(n-1), ``NEVER``. Thresholds that would stop the same validation windows as a lower one
    (ties in the scores, or the lowest score, which stops every window like ALWAYS) are dropped."""
    if n_modes < MIN_MODES:
        raise ConfigError(f"--modes {n_modes}: needs at least {MIN_MODES} (always stop, never stop)")
    s = np.sort(np.asarray(val_scores, dtype=np.int64))
    if len(s) == 0:
        raise ConfigError("no validation windows to sweep the thresholds on")
    inner = n_modes - 2
    picks = {int(s[int(j * len(s) // (inner + 1))]) for j in range(1, inner + 1)}
    return [ALWAYS, *sorted(t for t in picks if t > s[0]), NEVER]


def score_mode(rule: ModeRule, out: StageOutputs, costs: dict[str, StageCosts], n_classes: int) -> ModeScores:
    """``rule`` on the windows of ``out``; the average work weighs each target's early and full costs."""
    stop = rule.stops(out.first)
    logits = np.where(stop[:, None], out.first, out.final)
    s = score(out.y, logits.argmax(axis=1), n_classes)
    frac = float(stop.mean()) if len(stop) else 0.0
    avg = {t: c.average(frac) for t, c in costs.items()}
    some = next(iter(costs.values()))
    return ModeScores(
        accuracy=s.accuracy,
        macro_f1=s.macro_f1,
        exit_fraction=frac,
        avg_macs=frac * some.early.macs + (1 - frac) * some.full.macs,
        avg_latency_ms={t: a.latency_ms for t, a in avg.items()},
        avg_energy_uj={t: a.energy_uj for t, a in avg.items()},
    )


def sweep(
    policy: str,
    val: StageOutputs,
    test: StageOutputs,
    costs: dict[str, StageCosts],
    n_classes: int,
    n_modes: int,
) -> tuple[Mode, ...]:
    """The modes of ``policy``: thresholds from the validation windows (``candidate_thresholds``), each
    scored on both splits; in increasing threshold order."""
    thresholds = candidate_thresholds(confidence(val.first, policy), n_modes)
    return tuple(
        Mode(rule, score_mode(rule, val, costs, n_classes), score_mode(rule, test, costs, n_classes))
        for rule in (ModeRule(policy, t) for t in thresholds)
    )


def front(modes: tuple[Mode, ...], split: str, target: str) -> np.ndarray:
    """Boolean mask of the modes no other mode beats on both accuracy and average energy on ``target``
    (on ``split``'s windows)."""
    F = np.array([[-m.scores(split).accuracy, m.scores(split).avg_energy_uj[target]] for m in modes])
    return nondominated(F)


def distinct(modes: tuple[Mode, ...], split: str) -> int:
    """The number of distinct fractions of early stops among ``modes`` on ``split``'s windows."""
    return len({m.scores(split).exit_fraction for m in modes})


@dataclass(frozen=True)
class Pick:
    """The cheapest mode (least average MACs on ``chosen_on``'s windows) whose accuracy there is within
    ``points`` percentage points of the full network's (the ``NEVER`` mode); scored on the test subjects."""

    index: int
    chosen_on: str
    points: float
    mode: Mode


def pick_within(modes: tuple[Mode, ...], points: float, chosen_on: str) -> Pick:
    full = next(m for m in modes if m.rule.threshold == NEVER).scores(chosen_on).accuracy
    ok = [i for i, m in enumerate(modes) if m.scores(chosen_on).accuracy >= full - points / 100 - 1e-12]
    best = min(ok, key=lambda i: (modes[i].scores(chosen_on).avg_macs, i))
    return Pick(best, chosen_on, points, modes[best])
