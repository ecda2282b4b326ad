"""Adaptive inference: many runtime operating modes from one deployed CNN.

Two schemes on top of quantized models: an early-exit head after an intermediate block of one CNN, or a
big/little cascade of two CNNs. A confidence policy on the first stage's integer logits (``max_score``,
``margin`` or ``mean_gap``, integer formulas identical in C: ``harx.quant.adaptive``) decides whether the
second stage runs; sweeping its threshold on the validation subjects gives the operating modes, each scored
on the test subjects for accuracy, macro-F1, early stops, average MACs, latency and energy.

    from harx.adapt import adapt_early_exit
    r = adapt_early_exit(genome, "uci-har", exit_after=1, cfg=TrainConfig(), execution=Execution(threads=1))
    r.modes, r.within, r.memory["gap8"], r.artifact_path     # then: harx deploy --artifact <artifact_path>

See docs/adapt.md.
"""

from harx.adapt.cascade import input_rescale
from harx.adapt.early_exit import train_early_exit
from harx.adapt.modes import (
    Mode,
    ModeScores,
    Pick,
    StageOutputs,
    candidate_thresholds,
    front,
    pick_within,
    sweep,
)
from harx.adapt.pipeline import (
    DEFAULT_MODES,
    DEFAULT_POLICY,
    AdaptResult,
    MemoryOverhead,
    adapt_cascade,
    adapt_early_exit,
    evaluate_adaptive,
)
from harx.adapt.work import PathCost, StageCosts, cascade_costs, early_exit_costs
from harx.quant.adaptive import ALWAYS, NEVER, POLICIES, ModeRule, confidence

__all__ = [
    "ALWAYS",
    "DEFAULT_MODES",
    "DEFAULT_POLICY",
    "NEVER",
    "POLICIES",
    "AdaptResult",
    "MemoryOverhead",
    "Mode",
    "ModeRule",
    "ModeScores",
    "PathCost",
    "Pick",
    "StageCosts",
    "StageOutputs",
    "adapt_cascade",
    "adapt_early_exit",
    "candidate_thresholds",
    "cascade_costs",
    "confidence",
    "early_exit_costs",
    "evaluate_adaptive",
    "front",
    "input_rescale",
    "pick_within",
    "sweep",
    "train_early_exit",
]
