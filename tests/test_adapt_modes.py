"""Operating modes: threshold candidates, monotonicity of a sweep, non-dominated filtering, picks, average work."""

import itertools

import numpy as np
import pytest

from harx.adapt import (
    ALWAYS,
    NEVER,
    Mode,
    ModeRule,
    ModeScores,
    PathCost,
    StageCosts,
    StageOutputs,
    candidate_thresholds,
    cascade_costs,
    early_exit_costs,
    front,
    pick_within,
    sweep,
)
from harx.adapt.modes import distinct
from harx.cost import estimate
from harx.errors import ConfigError
from harx.models.genome import parse_genome

COSTS = {
    "gap8": StageCosts(
        "gap8", PathCost(100, 1000, 1.0, 10.0), PathCost(400, 4000, 4.0, 40.0), PathCost(390, 3900, 3.9, 39.0)
    )
}


def test_candidate_thresholds_by_hand():
    scores = np.array([5, 1, 8, 1, 3, 2])  # sorted: 1 1 2 3 5 8
    # 5 modes: 3 inner quantiles at j * 6 // 4 = 1, 3, 4 -> 1, 3, 5; 1 is the lowest score (stops all, like
    # ALWAYS) and is dropped.
    assert candidate_thresholds(scores, 5) == [ALWAYS, 3, 5, NEVER]
    assert candidate_thresholds(scores, 2) == [ALWAYS, NEVER]
    assert candidate_thresholds(np.full(10, 7), 25) == [ALWAYS, NEVER]
    with pytest.raises(ConfigError, match="at least 2"):
        candidate_thresholds(scores, 1)


def test_stage_costs_average_is_linear_in_the_exit_fraction():
    avg = COSTS["gap8"].average(0.25)
    assert (avg.macs, avg.latency_cycles) == (325, 3250)
    assert avg.latency_ms == pytest.approx(3.25) and avg.energy_uj == pytest.approx(32.5)


def _outputs(seed, n=400, classes=4):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    first = rng.integers(-50, 50, (n, classes))
    first[np.arange(n), y] += rng.integers(0, 80, n)  # a noisy first stage
    final = rng.integers(-50, 50, (n, classes))
    final[np.arange(n), y] += 120  # a better second stage
    return StageOutputs(first, final, y)


@pytest.mark.parametrize("policy", ["max_score", "margin", "mean_gap"])
def test_a_sweep_is_monotone_and_spans_always_to_never(policy):
    val, test = _outputs(0), _outputs(1)
    modes = sweep(policy, val, test, COSTS, 4, 12)
    thresholds = [m.rule.threshold for m in modes]
    assert thresholds == sorted(thresholds) and len(set(thresholds)) == len(modes) == 12
    for split in ("val", "test"):
        frac = [m.scores(split).exit_fraction for m in modes]
        macs = [m.scores(split).avg_macs for m in modes]
        assert frac[0] == 1.0 and frac[-1] == 0.0
        assert all(a >= b for a, b in itertools.pairwise(frac))  # a higher threshold stops no more
        assert all(a <= b for a, b in itertools.pairwise(macs))
        assert macs[0] == 100 and macs[-1] == 400
    # The validation fractions step down evenly (quantiles), each mode stopping a different set.
    assert distinct(modes, "val") == len(modes)
    # The full mode scores the final logits, the first one the first stage's.
    test_acc = (test.final.argmax(1) == test.y).mean(), (test.first.argmax(1) == test.y).mean()
    assert (modes[-1].test.accuracy, modes[0].test.accuracy) == pytest.approx(test_acc)


def _mode(acc, energy, macs=None):
    s = ModeScores(acc, acc, 0.0, energy if macs is None else macs, {"gap8": energy}, {"gap8": energy})
    return Mode(ModeRule("margin", 0), s, s)


def test_front_keeps_the_non_dominated_modes_by_hand():
    modes = (
        _mode(0.80, 1.0),
        _mode(0.85, 2.0),
        _mode(0.84, 3.0),
        _mode(0.90, 4.0),
        _mode(0.90, 5.0),
        _mode(0.85, 2.0),
    )
    # 0.84 @ 3 is beaten by 0.85 @ 2; 0.90 @ 5 by 0.90 @ 4; the two equal 0.85 @ 2 do not beat each other.
    assert front(modes, "test", "gap8").tolist() == [True, True, False, True, False, True]


def test_pick_within_takes_the_cheapest_mode_close_enough_to_the_full_one():
    modes = (_mode(0.80, 1.0), _mode(0.896, 2.0), _mode(0.898, 3.0), _mode(0.90, 4.0))
    modes = (*modes[:-1], Mode(ModeRule("margin", NEVER), modes[-1].val, modes[-1].test))
    assert pick_within(modes, 0.5, "val").index == 1  # 89.6% >= 90% - 0.5 points
    assert pick_within(modes, 0.5, "test").mode is modes[1]
    assert pick_within(modes, 0.3, "val").index == 2
    assert pick_within(modes, 0.0, "val").index == 3


def test_early_exit_work_by_hand():
    g = parse_genome("c8k3w8a8-c8k3p2w4a4-gapw8")  # 3 channels x 16 samples, 5 classes
    c = early_exit_costs(g, exit_layer=0, exit_w_bits=8, target="rv32", in_channels=3, in_len=16, n_classes=5)
    full = estimate(g, "rv32", in_channels=3, in_len=16, n_classes=5)
    conv0 = 16 * 8 * 3 * 3
    head = 8 * 5  # exit classifier: 8 pooled codes -> 5 classes
    assert (c.early.macs, c.full.macs, c.single.macs) == (conv0 + head, full.macs + head, full.macs)
    assert c.single.latency_cycles == full.latency_cycles
    assert c.early.latency_cycles < c.single.latency_cycles < c.full.latency_cycles
    # The full path is the single network plus exactly what the early path adds to its prefix.
    prefix = full.overhead_cycles + full.layers[0].latency_cycles
    assert c.full.latency_cycles - c.single.latency_cycles == c.early.latency_cycles - prefix
    assert c.early.energy_uj == pytest.approx(c.early.latency_ms * full.energy_uj / full.latency_ms)


def test_cascade_work_by_hand():
    little, big = parse_genome("c4k3w8a8-gapw8"), parse_genome("c8k3w8a8-c8k3p2w4a4-gapw8")
    c = cascade_costs(little, big, "gap8", 3, 16, 5)
    lc = estimate(little, "gap8", in_channels=3, in_len=16, n_classes=5)
    bc = estimate(big, "gap8", in_channels=3, in_len=16, n_classes=5)
    assert (c.early.macs, c.full.macs, c.single.macs) == (lc.macs, lc.macs + bc.macs, bc.macs)
    decision = c.early.latency_cycles - lc.latency_cycles
    assert decision > 0
    # one inference overhead (call, offload, argmax) for both networks together
    assert c.full.latency_cycles == lc.latency_cycles + decision + bc.latency_cycles - bc.overhead_cycles
