"""Memory plan: every byte of small genomes computed by hand, arena placement, infeasible plans."""

import pytest

from harx.cost import estimate, load_target, plan
from harx.errors import ConfigError
from harx.models.genome import parse_genome

GAP8 = load_target("gap8")
RV32 = load_target("rv32")


def _layers(text, channels, length, classes):
    return parse_genome(text).layers(channels, length, classes)


# c8k3w8a8-c8k3p2w4a4-gapw8 on 3 channels x 16 samples, 5 classes:
#   0 conv 3->8 k3, 8-bit weights, 8-bit out   1 conv 8->8 k3, 4-bit weights, 4-bit out
#   2 maxpool 2 (16 -> 8 samples)               3 gap                4 linear 8 -> 5, 8-bit weights
MIXED = ("c8k3w8a8-c8k3p2w4a4-gapw8", 3, 16, 5)


def test_read_only_bytes_by_hand():
    p = plan(_layers(*MIXED), RV32)
    conv0 = 8 * 3 * 3 * 8 // 8 + 8 * 4 + 8 * 4 + 4  # weights + kappa + lambda + shift = 72 + 32 + 32 + 4
    conv1 = 8 * 3 * 8 * 4 // 8 + 8 * 4 + 8 * 4 + 4  # 96 + 32 + 32 + 4
    gap = 2 * 4  # m and s as int32
    linear = 5 * 8 * 8 // 8 + 5 * 4  # weights + int32 bias = 40 + 20
    assert [m.ro_bytes for m in p.layers] == [140, 164, 0, 8, 60]
    assert p.ro_bytes == conv0 + conv1 + gap + linear == 372
    first = p.layers[0]
    assert (
        first.weight_bytes,
        first.kappa_bytes,
        first.lambda_bytes,
        first.bias_bytes,
        first.const_bytes,
    ) == (
        72,
        32,
        32,
        0,
        4,
    )
    assert p.layers[4].bias_bytes == 20


def test_arena_two_ended_placement_by_hand():
    p = plan(_layers(*MIXED), RV32)
    t1 = 8 * 16  # conv0 out: 8 ch x 16 samples x 8 bit = 128 B
    t2 = 8 * 16 * 4 // 8  # conv1 out: 4-bit codes = 64 B
    t3 = 8 * 8 * 4 // 8  # maxpool out = 32 B
    t4 = 8 * 4 // 8  # gap out: 8 codes of 4 bit = 4 B
    arena = max(t1 + t2, t2 + t3, t3 + t4)  # 192: conv1 reads t1 at the bottom and writes t2 at the top
    assert p.arena_bytes == arena == 192
    slots = [(m.input.buffer, m.input.offset_bytes, m.input.size_bytes) for m in p.layers]
    assert slots == [
        ("input", 0, 48),
        ("arena", 0, t1),
        ("arena", arena - t2, t2),
        ("arena", 0, t3),
        ("arena", arena - t4, t4),
    ]
    assert (p.layers[-1].output.buffer, p.layers[-1].output.size_bytes) == ("logits", 5 * 4)


def test_ram_bytes_rv32_and_gap8_by_hand():
    rv = plan(_layers(*MIXED), RV32, kernels="ref")
    window, arena, logits = 3 * 16, 192, 5 * 4
    im2col_rv32 = 3 * 8  # one pixel of the widest conv: k=3 x cin=8
    assert (rv.input_bytes, rv.im2col_bytes, rv.weight_buffer_bytes, rv.logits_bytes) == (48, 24, 0, 20)
    assert rv.ram_bytes == window + arena + im2col_rv32 + logits == 284
    # The optimized kernels (rv32's default set) compute 4 output pixels at once: 4 x k x cin of im2col.
    opt = plan(_layers(*MIXED), RV32)
    assert (opt.kernels, opt.im2col_bytes, opt.ro_bytes) == ("opt", 4 * 3 * 8, rv.ro_bytes)
    assert opt.ram_bytes == window + arena + 4 * im2col_rv32 + logits == 356

    g8 = plan(_layers(*MIXED), GAP8)
    im2col_gap8 = 2 * 8 * (3 * 8)  # 2 pixels per core x 8 cores x k*cin
    staging = max(72 + 32 + 32, 96 + 32 + 32, 40 + 20)  # largest layer's weights+kappa+lambda (+bias)
    assert (g8.im2col_bytes, g8.weight_buffer_bytes) == (384, 160)
    assert g8.ram_bytes == window + arena + im2col_gap8 + staging + logits == 804
    assert g8.ro_bytes == rv.ro_bytes == 372


def test_every_array_and_buffer_is_word_aligned():
    # c6k3w8a8-gapw8 on 3 x 15, 5 classes: sizes that are not multiples of 4.
    p = plan(_layers("c6k3w8a8-gapw8", 3, 15, 5), RV32, kernels="ref")
    conv = 56 + 6 * 4 + 6 * 4 + 4  # 54 B of weights padded to 56
    linear = 32 + 5 * 4  # 30 B of weights padded to 32
    assert p.ro_bytes == conv + 2 * 4 + linear == 168
    assert p.layers[0].weight_bytes == 6 * 3 * 3 == 54  # the exact size is kept per layer
    window_slot, t1_slot, t2_slot = 48, 92, 8  # 45, 90 and 6 bytes rounded up to words
    assert p.arena_bytes == t1_slot + t2_slot == 100
    assert p.layers[1].output.offset_bytes == 100 - t2_slot
    assert p.ram_bytes == window_slot + 100 + 12 + 5 * 4  # im2col 9 B -> 12
    assert plan(_layers("c6k3w8a8-gapw8", 3, 15, 5), RV32).im2col_bytes == 36  # opt: 4 x 9 B


@pytest.mark.parametrize(
    "text",
    [
        "c16k5p2w8a8-c24k5s2w4a4-gapw8",
        "c32k7s2w4a4-c32k5p2w2a2-c64k3w8a8-flatw4",
        "c8k3w8a2-c8k3p4w2a4-gapw2",
    ],
)
def test_no_layer_reads_and_writes_overlapping_arena_bytes(text):
    p = plan(_layers(text, 8, 128, 6), GAP8)
    for m in p.layers:
        for slot in (m.input, m.output):
            if slot.buffer == "arena":
                assert slot.offset_bytes >= 0 and slot.offset_bytes + slot.size_bytes <= p.arena_bytes
                assert slot.offset_bytes % 4 == 0
        if m.input.buffer == m.output.buffer == "arena":
            lo, hi = sorted((m.input, m.output), key=lambda s: s.offset_bytes)
            assert lo.offset_bytes + lo.size_bytes <= hi.offset_bytes


def test_gap8_plan_too_big_for_l1_is_infeasible_with_reason():
    text = "c256k3w8a8-c256k3w8a8-gapw8"
    p = plan(_layers(text, 9, 128, 6), GAP8)
    window = 9 * 128
    arena = 256 * 128 + 256 * 128  # conv0 out + conv1 out, 8-bit codes
    im2col = 2 * 8 * 3 * 256
    staging = 256 * 3 * 256 + 256 * 4 * 2  # conv1 weights + kappa + lambda
    ram = window + arena + im2col + staging + 6 * 4
    assert ram == 277_656
    assert not p.feasible
    assert p.infeasible_reason == "ram 277,656 B > L1 65,536 B"
    cost = estimate(text, GAP8)
    assert (cost.feasible, cost.infeasible_reason, cost.ram_bytes) == (False, p.infeasible_reason, ram)


def test_rv32_plan_over_l2_counts_ro_and_ram_against_the_reserved_stack():
    text = "c256k15w8a8-c256k15w8a8-c256k15w8a8-gapw8"
    p = plan(_layers(text, 9, 128, 6), RV32, kernels="ref")
    ro = (256 * 15 * 9 + 2048 + 4) + 2 * (256 * 15 * 256 + 2048 + 4) + 8 + (256 * 6 + 24)
    ram = 9 * 128 + 2 * 256 * 128 + 15 * 256 + 6 * 4
    assert (p.ro_bytes, p.ram_bytes) == (ro, ram) == (2_008_364, 70_552)
    assert p.infeasible_reason == (
        "ro 2,008,364 B + ram 70,552 B = 2,078,916 B > L2 507,904 B (524,288 B less 16,384 B reserved)"
    )
    # gap8 fails twice: activations overflow L1 and weights overflow L2.
    g8 = plan(_layers(text, 9, 128, 6), GAP8)
    assert g8.infeasible_reason.count(";") == 1 and "> L1 65,536 B" in g8.infeasible_reason
    assert "ro 2,008,364 B > L2 524,288 B" in g8.infeasible_reason


def test_small_genome_fits_and_reports_usage():
    p = plan(_layers(*MIXED), RV32)
    assert p.feasible and p.infeasible_reason == ""
    (l2,) = p.usage
    assert (l2.name, l2.used_bytes, l2.available_bytes) == ("L2", 372 + 356, 524_288 - 16_384)


def test_a_kernel_set_the_target_does_not_price_is_refused():
    with pytest.raises(ConfigError, match="target gap8 has no 'opt' kernel set"):
        plan(_layers(*MIXED), GAP8, kernels="opt")
    with pytest.raises(ConfigError, match=r"no 'fast' kernel set \(it prices: opt, ref\)"):
        estimate(MIXED[0], RV32, in_channels=3, in_len=16, n_classes=5, kernels="fast")
