"""The integer golden model against hand-computed cases and against the fake-quantized torch graph."""

import numpy as np
import pytest
import torch

from harx.quant.export import ExportError, acc_bounds, export_net, input_codes, requant_params
from harx.quant.integer import IntConv, IntegerOverflow, IntGap, IntLinear, IntMaxPool
from harx.quant.layers import gap_params
from tests.helpers import random_quant_net


def test_requantization_hand_computed():
    # Two output channels, kernel 1, two input channels: acc = [1*3 + -2*5, 2*3 + 1*5] = [-7, 11].
    conv = IntConv(
        weights=np.array([[[1, -2]], [[2, 1]]]),
        kappa=np.array([3, 5]),
        lam=np.array([40, 1]),
        shift=2,
        w_bits=8,
        in_bits=8,
        out_bits=2,
    )
    x = np.array([[[3, 5]]])
    assert conv.accumulate(x).tolist() == [[[-7, 11]]]
    # ch0: (3*-7 + 40) >> 2 = 19 >> 2 = 4 -> clipped to 3 (2-bit); ch1: (55 + 1) >> 2 = 14 -> 3.
    assert conv.run(x).tolist() == [[[3, 3]]]
    conv.kappa = np.array([-5, 5])
    # ch0: (-5*-7 + 40) >> 2 = 75 >> 2 = 18 -> 3; negative values floor and clip to 0:
    conv.lam = np.array([-80, -70])  # ch0: (35-80) >> 2 = -45 >> 2 = -12 -> 0; ch1: (55-70) >> 2 = -4 -> 0
    assert conv.run(x).tolist() == [[[0, 0]]]


def test_conv_padding_stride_dilation_hand_computed():
    conv = IntConv(
        weights=np.array([[[1], [2], [3]]]),
        kappa=np.array([1]),
        lam=np.array([0]),
        shift=0,
        w_bits=8,
        in_bits=8,
        out_bits=8,
        stride=2,
        pad_left=1,
        pad_right=1,
    )
    # padded input 0 1 2 3 0; windows at 0 and 2: 0*1+1*2+2*3 = 8, 2*1+3*2+0*3 = 8.
    assert conv.accumulate(np.array([[[1], [2], [3]]])).tolist() == [[[8], [8]]]
    dil = IntConv(
        weights=np.array([[[1], [1]]]),
        kappa=np.array([1]),
        lam=np.array([0]),
        shift=0,
        w_bits=8,
        in_bits=8,
        out_bits=8,
        dilation=2,
        pad_left=1,
        pad_right=1,
    )
    # padded 0 1 2 3 4 0, taps (i, i+2): 0+2, 1+3, 2+4, 3+0
    assert dil.accumulate(np.array([[[1], [2], [3], [4]]])).tolist() == [[[2], [4], [6], [3]]]


def test_pool_gap_linear_hand_computed():
    x = np.array([[[1, 7], [4, 2], [3, 3], [0, 9], [5, 5]]])
    assert IntMaxPool(2, 4).run(x).tolist() == [[[4, 7], [3, 9]]]
    m, shift = gap_params(5, 4)
    assert IntGap(m, shift, 4).run(x).tolist() == [[[2, 5]]]  # floor(13/5)=2, floor(26/5)=5
    lin = IntLinear(weights=np.array([[1, -1], [2, 0]]), bias=np.array([10, -3]), w_bits=8, in_bits=4)
    assert lin.run(np.array([[[2, 5]]])).tolist() == [[7, 1]]


@pytest.mark.parametrize("length", [1, 3, 5, 7, 31, 64, 100, 128])
@pytest.mark.parametrize("bits", [2, 4, 8])
def test_gap_is_exact_floor_mean(length, bits):
    m, shift = gap_params(length, bits)
    sums = np.arange(0, length * (2**bits - 1) + 1)
    assert np.array_equal((sums * m) >> shift, sums // length)
    assert sums.max() * m < 2**31


def test_requant_params_fit_int32_and_reproduce_rounding():
    m = np.array([0.013, -0.5, 2.75])
    b = np.array([0.3, 7.2, -100.0])
    acc_lo, acc_hi = np.array([-30_000, -500, -4_000]), np.array([10_000, 20_000, 4_000])
    kappa, lam, shift = requant_params(m, b, acc_lo, acc_hi)
    for a in (acc_lo, acc_hi):
        assert np.abs(kappa * a).max() < 2**31 and np.abs(kappa * a + lam).max() < 2**31
    acc = np.arange(-4000, 4001)[:, None]
    got = (kappa * acc + lam) >> shift
    want = np.floor(m * acc + b + 0.5)
    assert np.abs(got - want).max() <= 1
    assert (got != want).mean() < 1e-3


def test_requant_params_reports_unrepresentable_layer():
    with pytest.raises(ExportError, match="does not fit int32"):
        requant_params(np.array([1e9]), np.array([0.0]), np.array([-1000]), np.array([1000]))


def test_acc_bounds_cover_extreme_inputs():
    codes = np.array([[[3, -2], [1, 0]]])  # one channel: weights 3, -2, 1, 0
    lo, hi = acc_bounds(codes, 8, in_signed=True)
    assert (lo[0], hi[0]) == (4 * -128 - 2 * 127, 4 * 127 + 2 * 128)
    lo, hi = acc_bounds(codes, 4, in_signed=False)
    assert (lo[0], hi[0]) == (-2 * 15, 4 * 15)


def test_overflow_is_detected_not_wrapped():
    conv = IntConv(
        weights=np.array([[[127]]]),
        kappa=np.array([2**30]),
        lam=np.array([0]),
        shift=0,
        w_bits=8,
        in_bits=8,
        out_bits=8,
    )
    with pytest.raises(IntegerOverflow, match="kappa\\*acc"):
        conv.run(np.array([[[100]]]))


GENOMES = [
    "c8k5p2w8a8-c16k3p2w8a8-gapw8",
    "c8k5w8a4-c16k3s2w4a4-gapw4",
    "c8k3p2w8a2-c16k5d2w2a2-c16k3w2a2-gapw2",
    "c12k7s2w8a8-c16k5p2w4a2-c8k3w2a4-flatw4",
    "c4k3w8a4-c8k3w4a8-c8k3p3w8a4-c16k1w4a4-c16k3s2w4a8-flatw8",
]


@pytest.mark.parametrize("in_len", [128, 51])
@pytest.mark.parametrize("text", GENOMES)
def test_integer_model_matches_fake_quant_graph(text, in_len):
    net, x = random_quant_net(text, in_len, seed=len(text) + in_len)
    model = export_net(net, 9, in_len)
    codes = input_codes(net, x)
    assert codes.dtype == np.int8

    # Layer by layer, each integer layer fed the fake-quant graph's own input codes: its output codes equal
    # the graph's almost everywhere (differences come only from kappa's fixed-point precision at rounding
    # boundaries, and are at most one code).
    h_fq = net.inp(x)
    in_codes = codes.astype(np.int64)
    layer_iter = iter(model.layers)
    with torch.no_grad():
        for blk in net.blocks:
            h_fq = blk(h_fq)
            h_int = next(layer_iter).run(in_codes)
            if blk.pool > 1:
                h_int = next(layer_iter).run(h_int)
            fq_codes = torch.round(h_fq / blk.out_scale()).numpy().transpose(0, 2, 1).astype(np.int64)
            assert fq_codes.shape == h_int.shape
            diff = np.abs(fq_codes - h_int)
            assert diff.max() <= 1 and (diff > 0).mean() < 0.01
            in_codes = fq_codes

        logits_fq, exits_fq = net(x, with_exits=True)
    logits_int, exits_int = model.run(codes, return_exits=True)
    s_acc = float(net.blocks[-1].out_scale().detach() * net.fc.w_scale.detach().abs())
    _assert_same_decisions(logits_int, s_acc, logits_fq.numpy())
    ((exit_layer, exit_int),) = exits_int.items()
    assert model.layers[exit_layer].kind in ("conv", "maxpool")
    s_exit = float(net.blocks[0].out_scale().detach() * net.exit_heads["0"].w_scale.detach().abs())
    _assert_same_decisions(exit_int, s_exit, exits_fq[0].numpy())


def _assert_same_decisions(logits_int, s_acc, logits_fq):
    """Scaled integer logits track the float ones; classes agree wherever the integer maximum is unique
    (random nets produce exact integer ties that float noise breaks either way)."""
    np.testing.assert_allclose(logits_int * s_acc, logits_fq, rtol=0.02, atol=0.05 * np.abs(logits_fq).max())
    top = np.sort(logits_int, axis=1)
    unique = top[:, -1] > top[:, -2]
    assert unique.mean() > 0.5
    agree = logits_fq.argmax(1)[unique] == logits_int.argmax(1)[unique]
    assert agree.mean() >= 0.99


def test_flatten_head_uses_hwc_feature_order():
    net, _ = random_quant_net("c4k3w8a8-flatw8", 8, seed=3)
    model = export_net(net, 9, 8)
    lin = model.layers[-1]
    w_torch = net.fc.weight_codes().detach().numpy()  # (classes, C*L) channel-major
    # HWC feature (l, c) sits at index l*C + c; torch's at c*L + l.
    assert lin.weights[2, 1 * 4 + 3] == w_torch[2, 3 * 8 + 1]


@pytest.mark.parametrize(
    "genome",
    [
        "c8k5w8a8-gapw8",
        "c16k5s3w8a4-c8k3d2w4a4-flatw4",
        "c12k3p2w8a2-c16k5d3w2a2-c8k3s2w2a2-gapw2",
        "c16k7s2w8a8-c24k5p3w4a4-c16k3d2w2a8-c8k3w8a2-flatw2",
        "c8k5p2w8a4-c16k3s2w4a8-c12k5d2w8a2-c16k3p2w2a4-c8k3w4a8-gapw4",
        "c9k1w8a8-c4k15s4d2p4w8a2-flatw8",
    ],
)
def test_fast_scoring_is_the_golden_model_bit_for_bit(genome):
    """run_fast (torch float64 convolutions) against IntegerModel.run on random weights and inputs, including
    the extreme codes: every logit equal."""
    from harx.deploy.synthetic import random_model
    from harx.quant.fast import run_fast

    model = random_model(genome, 9, 97, 6, seed=4)
    rng = np.random.default_rng(5)
    x = rng.integers(-128, 128, size=(300, 97, 9)).astype(np.int8)
    x[:5] = 127
    x[5:10] = -128
    assert np.array_equal(run_fast(model, x), model.run(x))
