"""Latency and energy: event counts of tiny layers counted by hand from each kernel's loop structure."""

from types import SimpleNamespace

import pytest

from harx.cost import estimate, instruction_terms, load_target, lower, plan
from harx.cost.estimate import layer_counts
from harx.cost.latency import (
    OPT_TERMS,
    REF_CONV_TERMS,
    cycles,
    maxpool_rows,
    opt_instruction_terms,
    pulp_conv_time_on_h,
    pulp_conv_time_on_w,
)
from harx.models.genome import LayerSpec, parse_genome

GAP8 = load_target("gap8")
RV32 = load_target("rv32")

# c6k3w4a8-gapw8 on 4 channels x 10 samples, 2 classes. Its conv: cin 4, cout 6, k 3, 10 output pixels,
# 4-bit weights, int8 input, 8-bit output. One output needs k*cin = 12 MACs: one 32-bit word of eight
# 4-bit weights plus a 4-element scalar tail.
TINY = ("c6k3w4a8-gapw8", 4, 10, 2)


def pulp_nn_cluster_terms(layer, layer_mem, target):
    """The lowered kernel (label and geometry) and its event counts on gap8."""
    lowered, counts = layer_counts(layer, layer_mem, target)
    return SimpleNamespace(kernel=lowered.label, time_axis=lowered.time_axis, counts=counts)


def _layers(text, channels, length, classes):
    return parse_genome(text).layers(channels, length, classes)


def test_gap8_conv_time_on_h_counts_by_hand():
    conv = _layers(*TINY)[0]
    counts = pulp_conv_time_on_h(conv, GAP8)
    pixels = 2  # 10 output rows over 8 cores: (10 >> 3) + 1 rows for the busiest core
    dots = pixels * 6  # every pixel takes the 1-pixel x 1-channel path, once per output channel
    assert dict(counts) == {
        "pixel": pixels,
        "im2col_call": pixels * 3,  # one call per kernel tap (each tap row is cin = 4 bytes)
        "im2col_byte_b8": pixels * 12,
        "act_word": dots * 1 * 2,  # 1 weight word = 8 activations = 2 words of four 8-bit lanes
        "unpack_word_b4": dots * 1,
        "sdotp": dots * 1 * 2,
        "tail_mac": dots * 4,
        "block": dots,
        "requant": dots,
    }


def test_gap8_conv_time_on_w_counts_by_hand():
    conv = _layers(*TINY)[0]
    counts = pulp_conv_time_on_w(conv, GAP8)
    # One row: the kernel halves W between two cores; the busiest gets 5 pixels = 2 pairs + 1 single.
    # A pair runs one 4x2 block (channels 0-3) and two 1x2 leftovers (channels 4, 5); the single pixel
    # runs six 1x1 dot products.
    assert dict(counts) == {
        "pixel": 5,
        "im2col_call": 5,
        "im2col_byte_b8": 5 * 12,
        "act_word": 2 * (1 * 2 * 2)
        + 2 * 2 * (1 * 2 * 2)
        + 6 * 2,  # 4x2: 2 px x 2 words, 1x2 the same, 1x1: 2
        "unpack_word_b4": 2 * 4 + 2 * 2 * 1 + 6,  # a 4x2 block unpacks 4 channels' words, a 1x2 one
        "sdotp": 2 * (4 * 2 * 2) + 2 * 2 * (1 * 2 * 2) + 6 * 2,
        "tail_mac": 2 * (4 * 4 * 2) + 2 * 2 * (4 * 2) + 6 * 4,  # 4 tail elements x channels x pixels
        "block": 2 + 2 * 2 + 6,
        "requant": 2 * 2 * 6 + 6,
    }


def test_gap8_conv_cycles_by_hand_and_the_faster_geometry_is_chosen():
    cost = estimate(*TINY[:1], GAP8, in_channels=4, in_len=10, n_classes=2)
    conv = cost.layers[0]
    assert conv.kernel == "pulp_nn_conv_i8_u8_i4 (time on H)" and conv.time_axis == "H"
    compute = 15 * 2 + 12 * 6 + 0.5 * 24 + 1 * 24 + 17 * 12 + 1 * 24 + 3 * 48 + 10 * 12 + 10 * 12
    # harx_stage of weights (6 x 12 x 4 bit = 36 B), kappa (24 B), lambda (24 B): a DMA and a barrier each.
    staging = 3 * (100 + 20) + 0.125 * (36 + 24 + 24)
    barriers = 2 * 20  # the kernel's closing barrier and HARX_KERNEL's
    assert conv.latency_cycles == round(compute + staging + barriers) == 1160
    time_on_w = cycles(pulp_conv_time_on_w(_layers(*TINY)[0], GAP8), GAP8)
    assert time_on_w > compute
    # task offload + one fork of the whole layer sequence + argmax over 2 logits
    assert cost.overhead_cycles == 1000 + 150 + 5 * 2
    assert cost.latency_ms == pytest.approx(cost.latency_cycles / 87e3)  # 87 MHz
    assert cost.energy_uj == pytest.approx((16.1 + 2.0) * cost.latency_cycles / 87e3)  # cluster + FC, mW x ms


def test_maxpool_rows_follow_the_pulp_nn_split():
    # (rows >> log2(min(rows, 8))) + (rows % 8 != 0)
    assert [maxpool_rows(r, 8) for r in (1, 5, 8, 10, 128)] == [1, 2, 1, 2, 16]


def test_gap8_maxpool_gap_and_linear_counts_by_hand():
    layers = _layers("c8k1p2w8a8-gapw8", 8, 10, 2)
    p = plan(layers, GAP8)
    pool = pulp_nn_cluster_terms(layers[1], p.layers[1], GAP8)
    # 10 input rows -> busiest core 2 rows; 5 output rows -> 2 rows; one row = 8 channels = 8 bytes.
    assert (pool.kernel, pool.time_axis) == ("pulp_nn_maxpool_u8 (time on H)", "H")
    assert pool.counts == {
        "pool_copy_byte": (2 + 2) * 8,
        "pool_call": 2 * (2 - 1),
        "pool_byte_b8": 2 * (2 - 1) * 8,
        "barrier": 3,  # between the kernel's two passes, at its end, and HARX_KERNEL's
    }
    gap = pulp_nn_cluster_terms(layers[2], p.layers[2], GAP8)
    # One output pixel = one output row: pulp_nn_avgpool runs it on one core, all 8 channels x 5 samples.
    assert (gap.kernel, gap.time_axis) == ("pulp_nn_avgpool_u8_u8 (time on W)", "W")
    assert gap.counts == {"gap_elem_b8": 8 * 5, "gap_out": 8, "barrier": 2}
    linear = pulp_nn_cluster_terms(layers[3], p.layers[3], GAP8)
    # 2 neurons over 8 cores: one each, single-neuron path; 8 inputs = 2 iterations of 4 (8-bit x 8-bit).
    assert (linear.kernel, linear.time_axis) == ("pulp_nn_linear_u8_i32_i8", "")
    assert linear.counts == {
        "unpack_word_b8": 2 + 2,
        "sdotp": 2,
        "linear_neuron": 1,
        "barrier": 2 + 2,  # kernel + HARX_KERNEL, one per staged array
        "dma_transfer": 2,  # weights, bias
        "dma_byte": 16 + 8,
    }


def test_gap8_global_average_pool_runs_on_one_core():
    layers = _layers("c24k5w8a4-gapw8", 9, 32, 6)
    p = plan(layers, GAP8)
    gap = pulp_nn_cluster_terms(layers[1], p.layers[1], GAP8)
    # pulp_nn_avgpool splits output rows over cores; the single output row leaves 7 cores idle, so the
    # busiest core reads all 24 4-bit channels x 32 samples and requantizes all 24 channels.
    assert gap.kernel == "pulp_nn_avgpool_u4_u4 (time on W)"
    assert gap.counts == {"gap_elem_b4": 24 * 32, "gap_out": 24, "barrier": 2}
    assert cycles(gap.counts, GAP8) == 2.5 * 24 * 32 + 15 * 24 + 20 * 2


def test_gap8_dilated_conv_runs_harx_reference_on_core_0():
    # c8k3d2w4a4 on 8 x 16: pulp-nn-mixed has no dilation, so the gap8 C calls harx_conv_dil_* on core 0.
    layers = _layers("c8k3w8a8-c8k3d2w4a4-gapw8", 3, 16, 5)
    p = plan(layers, GAP8)
    dil = pulp_nn_cluster_terms(layers[1], p.layers[1], GAP8)
    assert (dil.kernel, dil.time_axis) == ("harx_conv_dil_u8_u4_i4 (time on W, core 0)", "W")
    # The portable C loops counted by hand (16 output pixels, 3 taps of 8 channels, 8 output channels),
    # then one barrier after the core-0 call and a DMA + barrier for each of weights (96 B), kappa, lambda.
    assert dil.counts == {
        "ref_pixel": 16,
        "ref_tap": 16 * 3,
        "ref_im2col_elem_b8": 16 * 3 * 8,
        "ref_mac_w4": 16 * 8 * 3 * 8,
        "ref_conv_out_b4": 16 * 8,
        "ref_layer": 1,
        "barrier": 1 + 3,
        "dma_transfer": 3,
        "dma_byte": 96 + 32 + 32,
    }
    c = GAP8.coefficients
    by_hand = (
        c["ref_pixel"] * 16
        + c["ref_tap"] * 48
        + c["ref_im2col_elem_b8"] * 384
        + c["ref_mac_w4"] * 3072
        + c["ref_conv_out_b4"] * 128
        + c["ref_layer"]
        + 20 * 4
        + 100 * 3
        + 0.125 * 160
    )
    assert cycles(dil.counts, GAP8) == pytest.approx(by_hand)
    # Single-core reference loops cost far more than the same conv without dilation on 8 cores.
    plain = pulp_nn_cluster_terms(layers[0], p.layers[0], GAP8)
    assert plain.kernel.startswith("pulp_nn_conv_i8_u8_i8") and cycles(dil.counts, GAP8) > 5 * cycles(
        plain.counts, GAP8
    )


def test_gap8_ref_coefficients_are_the_rv32_fit():
    # bench/fit_rv32.py writes both from one fit of the same C loops (harx_ref.h).
    for name in REF_CONV_TERMS:
        assert GAP8.coefficients[f"ref_{name}"] == RV32.coefficients[name], name


@pytest.mark.parametrize("target", [GAP8, RV32])
def test_time_axis_is_the_geometry_named_in_the_kernel(target):
    cost = estimate("c16k5p2w8a8-c16k3d2w4a4-c24k5s2w4a4-gapw8", target)
    for lc in cost.layers:
        assert lc.time_axis in ("H", "W", "")
        assert (lc.time_axis == "") == (lc.kind == "linear")
        if target is GAP8 and lc.time_axis:
            assert f"time on {lc.time_axis}" in lc.kernel


def test_rv32_instruction_terms_and_cycles_by_hand():
    conv, gap, linear = _layers(*TINY)
    assert instruction_terms(conv) == {
        "pixel": 10,
        "tap": 10 * 3,
        "im2col_elem_b8": 10 * 3 * 4,
        "mac_w4": 10 * 6 * 12,
        "conv_out_b8": 10 * 6,
        "layer": 1,
    }
    assert instruction_terms(gap) == {"gap_elem_b8": 6 * 10, "gap_out": 6, "layer": 1}
    assert instruction_terms(linear) == {
        "linear_mac_w8": 6 * 2,
        "linear_act_b8": 6 * 2,
        "linear_out": 2,
        "layer": 1,
    }
    cost = estimate(*TINY[:1], RV32, in_channels=4, in_len=10, n_classes=2, kernels="ref")
    c = RV32.coefficients  # the fitted instructions per event (bench/results/rv32_fit.md)
    conv_cycles = (
        c["pixel"] * 10
        + c["tap"] * 30
        + c["im2col_elem_b8"] * 120
        + c["mac_w4"] * 720
        + c["conv_out_b8"] * 60
        + c["layer"]
    )
    gap_cycles = c["gap_elem_b8"] * 60 + c["gap_out"] * 6 + c["layer"]
    linear_cycles = c["linear_mac_w8"] * 12 + c["linear_act_b8"] * 12 + c["linear_out"] * 2 + c["layer"]
    overhead = c["inference"] + c["argmax_class"] * 2
    assert [lc.latency_cycles for lc in cost.layers] == [
        round(conv_cycles),
        round(gap_cycles),
        round(linear_cycles),
    ]
    assert cost.overhead_cycles == round(overhead)
    total = sum(lc.latency_cycles for lc in cost.layers) + cost.overhead_cycles
    assert cost.latency_cycles == total
    assert cost.latency_ms == pytest.approx(total / 100e3)  # 100 MHz
    assert cost.energy_uj == pytest.approx(4.683 * total / 100e3)  # mW x ms


def test_rv32_optimized_kernel_terms_by_hand():
    """harx_opt.h's loops on TINY: the conv runs 3 groups of 4 pixels (the last two past the end), one S
    block of 4 channels and 2 single channels; the 6-channel 8-bit GAP input is not whole words per pixel
    (the reference loop); the classifier's 2 classes are left-over rows."""
    conv, gap, linear = _layers(*TINY)
    assert opt_instruction_terms(conv) == {
        "opt_layer": 1,
        "opt_col_pixel": 12,
        # pixel 0 and 9: one padded tap (4 zeros) and 8 codes; pixels 1-8: 12 codes; 10, 11: 12 zeros each
        "opt_col_zero": 4 + 4 + 2 * 12,
        "opt_col_w8": 2 + 8 * 3 + 2,
        "opt_tap_s_w4": 1 * 3 * 12,
        "opt_block_s": 3,
        "opt_tap_s1_w4": 2 * 3 * 12,
        "opt_out_b8": 2 * 6,  # two full groups of 4 pixels x 6 channels
        "opt_out_tail": 2 * 6,  # the last group's 2 pixels, one code at a time
    }
    assert opt_instruction_terms(gap) == {"opt_layer": 1, "gap_elem_b8": 60, "gap_out": 6}
    assert opt_instruction_terms(linear) == {
        "opt_layer": 1,
        "opt_lin_out": 2,
        "opt_lin_code_b8": 6,
        "opt_lin_tap_s1_w8": 2 * 6,
        "opt_lin_row": 2,
    }
    cost = estimate(*TINY[:1], RV32, in_channels=4, in_len=10, n_classes=2)
    c = RV32.coefficients
    assert cost.kernels == "opt" and all("(harx_opt.h" in lc.kernel for lc in cost.layers)
    for lc, layer in zip(cost.layers, (conv, gap, linear), strict=True):
        assert lc.latency_cycles == round(sum(c[k] * n for k, n in opt_instruction_terms(layer).items()))
    assert cost.overhead_cycles == round(c["opt_inference"] + c["opt_argmax_class"] * 2)


def test_optimized_terms_are_the_declared_events_of_every_kind():
    seen = set()
    for text in ("c16k5p2w8a8-c24k5s2w4a4-c12k3d2w2a2-gapw8", "c8k3w8a2-c20k5p3w2a2-c8k3w4a2-flatw2"):
        for layer in _layers(text, 9, 128, 17):
            seen |= set(opt_instruction_terms(layer))
    assert seen <= {f"opt_{t}" for t in OPT_TERMS} | {f"gap_elem_b{b}" for b in (8, 4, 2)} | {"gap_out"}
    assert {"opt_tap_l8", "opt_tap_l16_w2", "opt_drain_l16", "opt_pool_tap", "opt_lin_tap_l8"} <= seen


def test_a_layer_the_optimized_kernels_cannot_run_falls_back_to_the_reference():
    # 6 features of 2-bit weights are not whole bytes per class row (an exit head after a 6-channel layer).
    head = LayerSpec("linear", 6, 5, 1, 1, 8, 32, 2)
    low = lower(head, RV32, "opt")
    assert (low.implementation, low.function) == ("harx_ref", "pulp_nn_linear_u8_i32_i2_ref")
    assert "6 input features cannot be packed at 2 bits" in low.fallback and "(harx_ref.h)" in low.label
    mem = plan([head], RV32).layers[0]
    assert layer_counts(head, mem, RV32, "opt")[1] == instruction_terms(head)  # priced as what runs
    ok = LayerSpec("linear", 8, 5, 1, 1, 8, 32, 2)
    assert lower(ok, RV32, "opt").implementation == "harx_opt"
    ref = lower(head, RV32, "ref")
    assert (ref.implementation, ref.fallback, ref.function) == ("harx_ref", "", "pulp_nn_linear_u8_i32_i2")


def test_cost_totals_add_up_on_both_targets():
    for target in (GAP8, RV32):
        cost = estimate("c16k5p2w8a8-c24k5s2w4a4-gapw8", target)
        assert cost.latency_cycles == cost.overhead_cycles + sum(lc.latency_cycles for lc in cost.layers)
        assert cost.macs == 9 * 5 * 16 * 128 + 16 * 5 * 24 * 32 + 24 * 6
        assert cost.flash_bytes == cost.plan.ro_bytes == sum(lc.ro_bytes for lc in cost.layers)
        assert cost.energy_uj == pytest.approx(target.active_power_mw * cost.latency_ms)
        assert sum(lc.energy_uj for lc in cost.layers) < cost.energy_uj


def test_lower_weight_precision_is_slower_on_gap8_but_smaller():
    w8 = estimate("c32k5w8a8-c32k5w8a8-gapw8", "gap8")
    w2 = estimate("c32k5w8a8-c32k5w2a8-gapw8", "gap8")
    assert w2.flash_bytes < w8.flash_bytes
    assert w2.layers[1].latency_cycles > w8.layers[1].latency_cycles  # unpacking 2-bit weights costs cycles
