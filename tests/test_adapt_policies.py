"""Confidence policies and mode rules against hand-computed logits, in numpy and in the generated C."""

import shutil
import subprocess

import numpy as np
import pytest

from harx.adapt import ALWAYS, NEVER, POLICIES, ModeRule, confidence
from harx.deploy.emit import template
from harx.errors import ConfigError
from harx.quant.adaptive import check_policy_range, logit_bound
from harx.quant.integer import IntLinear

# Rows: a clear winner, a tie at the top, all negative, all equal, the top at the last class, int32 extremes.
LOGITS = np.array(
    [
        [5, 3, 1, -1],
        [4, 4, 0, 2],
        [-2, -7, -3, -9],
        [6, 6, 6, 6],
        [0, 1, 2, 9],
        [1_000_000, -1_000_000, 999_999, 0],
    ],
    dtype=np.int64,
)
# By hand: top1; top1 - top2 (top2 = the best of the other classes, so a tie gives 0); sum of top1 - l.
HAND = {
    "max_score": [5, 4, -2, 6, 9, 1_000_000],
    "margin": [2, 0, 1, 0, 7, 1],
    "mean_gap": [
        0 + 2 + 4 + 6,
        0 + 0 + 4 + 2,
        0 + 5 + 1 + 7,
        0,
        9 + 8 + 7 + 0,
        0 + 2_000_000 + 1 + 1_000_000,
    ],
}


@pytest.mark.parametrize("policy", POLICIES)
def test_policies_match_hand_computed_values(policy):
    assert confidence(LOGITS, policy).tolist() == HAND[policy]


def test_argmax_ties_go_to_the_lowest_index():
    assert LOGITS.argmax(axis=1).tolist() == [0, 0, 0, 0, 3, 0]


def test_a_mode_stops_when_the_confidence_reaches_its_threshold():
    assert ModeRule("margin", 1).stops(LOGITS).tolist() == [True, False, True, False, True, True]
    assert ModeRule("margin", 2).stops(LOGITS).tolist() == [True, False, False, False, True, False]
    assert ModeRule("max_score", ALWAYS).stops(LOGITS).all()
    assert not ModeRule("mean_gap", NEVER).stops(LOGITS).any()


def test_bad_policies_and_thresholds_are_config_errors():
    with pytest.raises(ConfigError, match="policy 'entropy'"):
        confidence(LOGITS, "entropy")
    with pytest.raises(ConfigError, match="not one of"):
        ModeRule("entropy", 3)
    with pytest.raises(ConfigError, match="does not fit int32"):
        ModeRule("margin", 2**31)


def test_logit_bound_and_the_int32_proof():
    head = IntLinear(np.array([[1, -2], [3, 0], [-1, -1]], np.int8), np.array([10, -20, 5]), 8, 4)
    # |bias| + sum |w| * 15 per class: 10 + 45, 20 + 45, 5 + 30
    assert logit_bound(head) == 65
    assert check_policy_range(head, "head") == 65
    big = IntLinear(np.full((6, 256), 127, np.int8), np.full(6, 2**29), 8, 8)
    with pytest.raises(ConfigError, match="could overflow int32"):
        check_policy_range(big, "exit head")


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a host C compiler (cc)")
def test_the_c_policies_match_numpy_on_the_hand_cases(tmp_path):
    """The C that network.c embeds, fed the same logits: the same confidence and the same stop decisions."""
    rules = [(p, t) for p in range(3) for t in (ALWAYS, 0, 1, 2, 9, NEVER)]
    table = ", ".join(f"{p}, {t if t != ALWAYS else '(-2147483647 - 1)'}" for p, t in rules)
    rows = ",\n".join("{" + ", ".join(map(str, r)) + "}" for r in LOGITS)
    src = f"""#include <stdint.h>
#include <stdio.h>
#define HARX_N_CLASSES 4
static const int32_t harx_modes[] = {{{table}}};
static int harx_mode;
{template("adaptive_policy.c.in")}
static const int32_t logits[{len(LOGITS)}][4] = {{{rows}}};
int main(void)
{{
    int r, p;
    for (r = 0; r < {len(LOGITS)}; r++) {{
        for (p = 0; p < 3; p++)
            printf("%ld ", (long)harx_confidence(logits[r], p));
        for (harx_mode = 0; harx_mode < {len(rules)}; harx_mode++)
            printf("%d", harx_stop(logits[r]));
        printf("\\n");
    }}
    return 0;
}}
"""
    (tmp_path / "t.c").write_text(src)
    exe = tmp_path / "t"
    subprocess.run(
        ["cc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", str(tmp_path / "t.c"), "-o", str(exe)],
        check=True,
    )
    lines = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.splitlines()
    for r, line in enumerate(lines):
        *scores, stops = line.split()
        assert [int(s) for s in scores] == [HAND[p][r] for p in POLICIES]
        expected = "".join(str(int(ModeRule(POLICIES[p], t).stops(LOGITS[r : r + 1])[0])) for p, t in rules)
        assert stops == expected
    assert len(lines) == len(LOGITS)
