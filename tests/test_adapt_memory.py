"""Memory plans of adaptive networks by hand (exit-head slots, mode table, cascade), and generated C that
holds exactly those bytes and runs bit-exact on synthetic weights (real windows: test_adapt_realdata.py)."""

import numpy as np
import pytest

from harx.cost import load_target, plan
from harx.cost.memory import cascade_plan, exit_head_layers
from harx.deploy.adaptive_c import generate_adaptive
from harx.deploy.synthetic import random_model, random_windows
from harx.deploy.toolchain import run_adaptive
from harx.errors import ConfigError, DataError
from harx.models.genome import parse_genome
from harx.quant.adaptive import (
    ALWAYS,
    NEVER,
    POLICIES,
    AdaptiveModel,
    InputRescale,
    ModeRule,
    confidence,
    load_adaptive,
    save_adaptive,
)
from harx.quant.artifact import Artifact
from harx.quant.export import requant_params
from harx.quant.integer import IntGap, IntLinear
from harx.quant.layers import gap_params
from tests.helpers import needs

RV32 = load_target("rv32")
# See test_cost_memory.py: ro 372 B, arena 192 B, RAM 356 B (284 B with the reference kernels' im2col).
MIXED = ("c8k3w8a8-c8k3p2w4a4-gapw8", 3, 16, 5)


def _layers(text, channels, length, classes):
    return parse_genome(text).layers(channels, length, classes)


def test_exit_head_after_the_first_conv_by_hand():
    layers = _layers(*MIXED)
    head = exit_head_layers(layers, 0, 8)
    assert [(h.kind, h.cin, h.cout, h.lin, h.in_bits) for h in head] == [
        ("gap", 8, 8, 16, 8),
        ("linear", 8, 5, 1, 8),
    ]
    p = plan(layers, RV32, exits={0: head}, modes=3)
    (e,) = p.exits
    gap, linear = e.layers
    # The head reads t1 (conv0's 128 B at the arena's bottom); its 8 pooled codes go to the free top end.
    assert (gap.input.buffer, gap.input.offset_bytes, gap.input.size_bytes) == ("arena", 0, 128)
    assert (gap.output.buffer, gap.output.offset_bytes, gap.output.size_bytes) == ("arena", 192 - 8, 8)
    assert (linear.input, linear.output.buffer, linear.output.size_bytes) == (gap.output, "logits", 20)
    assert (e.ro_bytes, e.buffer_bytes) == (2 * 4 + 5 * 8 + 5 * 4, 0)  # GAP m, s; weights; int32 bias
    assert (gap.index, linear.index) == (5, 6)  # after the 5 main layers
    assert p.mode_table_bytes == 3 * 2 * 4 and p.mode_state_bytes == 8
    assert (p.ro_bytes, p.ram_bytes) == (372 + 68 + 24, 356 + 8)
    assert p.layers == plan(layers, RV32).layers  # the main network is laid out as without the head


def test_exit_head_on_the_arena_top_pools_to_the_bottom():
    layers = _layers(*MIXED)
    p = plan(layers, RV32, exits={1: exit_head_layers(layers, 1, 2)}, modes=2)
    gap, linear = p.exits[0].layers
    assert (gap.input.offset_bytes, gap.input.size_bytes) == (192 - 64, 64)  # t2: 4-bit codes at the top
    assert (gap.output.buffer, gap.output.offset_bytes, gap.output.size_bytes) == ("arena", 0, 4)
    assert linear.weight_bytes == 5 * 8 * 2 // 8


def test_pooled_codes_that_do_not_fit_the_arena_get_their_own_buffer():
    # t1 = 64 ch x 4 samples (256 B) beside a 4 B t2: the arena's free end (4 B) cannot hold 64 pooled codes.
    layers = _layers("c64k3w8a8-c4k3s4w2a2-gapw8", 3, 4, 6)
    single = plan(layers, RV32)
    p = plan(layers, RV32, exits={0: exit_head_layers(layers, 0, 8)}, modes=4)
    assert single.arena_bytes == p.arena_bytes == 256 + 4
    gap = p.exits[0].layers[0]
    assert (gap.output.buffer, gap.output.offset_bytes, gap.output.size_bytes) == ("exit", 0, 64)
    assert p.exits[0].buffer_bytes == p.exit_buffer_bytes == 64
    assert p.ram_bytes == single.ram_bytes + 64 + 8


def test_exit_heads_only_on_intermediate_layers():
    layers = _layers(*MIXED)
    for after in (3, 4):  # the GAP and the classifier
        with pytest.raises(ValueError):
            exit_head_layers(layers, after, 8)


def test_cascade_plan_by_hand():
    little, big = _layers("c4k3w8a8-gapw8", 3, 16, 5), _layers(*MIXED)
    p = cascade_plan(little, big, RV32, rescale=True, modes=2)
    # shared arena: the big one's 192 B holds its t1 (128 B) at the bottom and the 48 B rescaled window on top
    assert p.arena_bytes == p.little.arena_bytes == p.big.arena_bytes == 192
    assert (p.rescale.buffer, p.rescale.offset_bytes, p.rescale.size_bytes) == ("arena", 144, 48)
    assert p.big.layers[0].input == p.rescale and p.little.layers[0].input.buffer == "input"
    little_ro = (36 + 16 + 16 + 4) + 8 + (20 + 20)
    assert p.rescale_ro_bytes == 2 * 3 * 4 + 4  # int32 kappa[3], lambda[3], shift
    assert p.ro_bytes == little_ro + 372 + 28 + 16
    # window, arena, the larger im2col (the optimized kernels': 4 pixels x k3 x 8 channels), logits, mode state
    assert p.ram_bytes == 48 + 192 + 4 * 24 + 20 + 8
    assert (
        cascade_plan(little, big, RV32, rescale=True, modes=2, kernels="ref").ram_bytes
        == p.ram_bytes - 3 * 24
    )
    plain = cascade_plan(little, big, RV32, rescale=False, modes=2)
    assert (
        plain.rescale is None
        and plain.ro_bytes == p.ro_bytes - 28
        and plain.big.layers[0].input.buffer == "input"
    )
    with pytest.raises(ValueError, match="same window"):
        cascade_plan(_layers("c4k3w8a8-gapw8", 3, 8, 5), big, RV32, rescale=False)


# ---- generated C on synthetic weights ------------------------------------------------------------------


def _artifact(model, genome):
    c = model.in_channels
    return Artifact(
        model, genome, "synthetic", "", [0.0] * c, [1.0] * c, [str(i) for i in range(model.n_classes)]
    )


def _early_exit(genome, channels, length, classes, after, seed=0):
    model = random_model(genome, channels, length, classes, seed)
    spec = parse_genome(genome).layers(channels, length, classes)[after]
    rng = np.random.default_rng(seed)
    w = rng.integers(-127, 128, (classes, spec.cout)).astype(np.int8)
    model.exits = {
        after: [
            IntGap(*gap_params(spec.lout, spec.out_bits), spec.out_bits),
            IntLinear(w, rng.integers(-3000, 3000, classes), 8, spec.out_bits),
        ]
    }
    return _artifact(model, genome)


def _modes(first_logits):
    """always, each policy at its median, never: both paths taken in the middle modes."""
    mids = [ModeRule(p, int(np.median(confidence(first_logits, p)))) for p in POLICIES]
    return (ModeRule("margin", ALWAYS), *mids, ModeRule("margin", NEVER))


@pytest.mark.toolchain
@needs("host", "asan")
def test_exit_buffer_project_holds_the_plans_bytes_and_is_bit_exact(tmp_path):
    art = _early_exit("c64k3w8a8-c4k3s4w2a2-gapw8", 3, 4, 6, after=0)
    x = random_windows(40, 3, 4, seed=1)
    first = AdaptiveModel("early_exit", art, (ModeRule("margin", NEVER),)).stage_logits(x)[0]
    model = AdaptiveModel("early_exit", art, _modes(first))
    project = generate_adaptive(model, tmp_path / "p", "host", x)
    net = (tmp_path / "p" / "network.c").read_text()
    assert "harx_exit[64]" in net and "harx_set_mode" in (tmp_path / "p" / "network.h").read_text()
    assert project.plan.exit_buffer_bytes == 64
    exits = project.expected_exits.sum(axis=1)
    assert exits[0] == 40 and exits[-1] == 0 and all(0 < e < 40 for e in exits[1:-1])
    for build in ("host", "asan"):
        r = run_adaptive(project, build)
        assert (r.windows, r.mismatched_windows) == (40 * 5, 0)
        assert [m.exited for m in r.modes] == exits.tolist()


@pytest.mark.toolchain
@needs("host", "asan", "rv32")
def test_cascade_with_rescale_is_bit_exact_and_its_elf_holds_the_plan(tmp_path):
    little = _artifact(random_model("c8k5p4w8a4-gapw4", 9, 32, 6, seed=2), "c8k5p4w8a4-gapw4")
    big = _artifact(
        random_model("c16k5p2w8a8-c24k5s2w4a4-flatw4", 9, 32, 6, seed=5), "c16k5p2w8a8-c24k5s2w4a4-flatw4"
    )
    kappa, lam, shift = requant_params(
        np.linspace(0.8, 1.2, 9), np.linspace(-3, 3, 9), np.full(9, -128), np.full(9, 127)
    )
    x = random_windows(30, 9, 32, seed=3)
    model = AdaptiveModel(
        "cascade", little, _modes(little.model.run(x)), big, InputRescale(kappa, lam, shift)
    )
    final = model.stage_logits(x)[1]
    assert not np.array_equal(final, big.model.run(x))  # the big network really reads requantized codes
    project = generate_adaptive(model, tmp_path / "p", "rv32", x, check_modes=(0, 2, 4))
    assert "harx_rescale(io->window" in (tmp_path / "p" / "network.c").read_text()
    for build in ("host", "asan", "rv32"):
        r = run_adaptive(project, build)
        assert (r.windows, r.mismatched_windows) == (30 * 3, 0)
    rv = r
    assert (rv.sizes.weights_bytes, rv.sizes.buffers_bytes) == (project.plan.ro_bytes, project.plan.ram_bytes)
    assert rv.sizes.data_bytes + rv.sizes.bss_bytes == project.plan.ram_bytes  # nothing else in RAM
    always, middle, never = rv.modes
    assert always.mean_instructions(False) is None and never.mean_instructions(True) is None
    assert always.mean_instructions() < 0.5 * never.mean_instructions()
    assert middle.mean_instructions(True) == pytest.approx(always.mean_instructions(), rel=0.01)
    assert middle.mean_instructions(False) == pytest.approx(never.mean_instructions(), rel=0.01)


@pytest.mark.toolchain
@needs("host")
def test_gap8_early_exit_project_stages_the_head_and_runs_bit_exact_on_the_host(tmp_path):
    art = _early_exit("c16k5p2w8a8-c24k5p2w4a4-gapw4", 9, 64, 6, after=1)
    x = random_windows(25, 9, 64, seed=4)
    first = AdaptiveModel("early_exit", art, (ModeRule("margin", NEVER),)).stage_logits(x)[0]
    project = generate_adaptive(AdaptiveModel("early_exit", art, _modes(first)), tmp_path / "p", "gap8", x)
    linear = project.plan.exits[0].layers[1]
    assert linear.staged_bytes == 6 * 16 + 6 * 4  # the exit classifier's weights and bias go through DMA
    assert project.plan.weight_buffer_bytes >= linear.staged_bytes
    net = (tmp_path / "p" / "network.c").read_text()
    assert f"harx_stage(harx_weight_buffer + 0, l{linear.index}_weights" in net
    r = run_adaptive(project, "host")
    assert r.bit_exact and r.windows == 25 * 5


def test_adaptive_model_round_trips_and_bad_input_is_refused(tmp_path):
    art = _early_exit("c8k3w8a8-c8k3p2w4a4-gapw8", 3, 16, 5, after=0)
    x = random_windows(10, 3, 16)
    model = AdaptiveModel("early_exit", art, (ModeRule("margin", ALWAYS), ModeRule("max_score", 7)))
    path = save_adaptive(model, tmp_path / "a", {"note": "x"})
    back, report = load_adaptive(path)
    assert report == {"note": "x"} and back.modes == model.modes and back.default_mode == 1
    for a, b in zip(back.stage_logits(x), model.stage_logits(x), strict=True):
        assert np.array_equal(a, b)
    logits, stop = model.run(x, 0)
    assert stop.all() and np.array_equal(logits, model.stage_logits(x)[0])
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "f.txt").write_text("keep")
    with pytest.raises(ConfigError, match="not an adaptive model"):
        save_adaptive(model, tmp_path / "foreign")
    assert (tmp_path / "foreign" / "f.txt").read_text() == "keep"
    (path / "adaptive.json").write_text("{")
    with pytest.raises(DataError, match=r"adaptive\.json: not valid JSON"):
        load_adaptive(path)
    with pytest.raises(ConfigError, match="exactly one exit head"):
        AdaptiveModel(
            "early_exit", _artifact(random_model("c8k3w8a8-gapw8", 3, 16, 5), "c8k3w8a8-gapw8"), model.modes
        )
    with pytest.raises(ConfigError, match="modes to check"):
        generate_adaptive(model, tmp_path / "p", "host", x, check_modes=(5,))
    assert not (tmp_path / "p").exists()
