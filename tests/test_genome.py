import pytest

from harx.errors import ConfigError
from harx.models import Block, Genome, parse_genome

CANONICAL = [
    "c8k5w8a8-gapw8",
    "c16k5p2w8a8-c24k5s2w4a4-gapw8",
    "c8k3d2p2w8a4-c16k7s2d3p3w4a2-c32k1w2a8-flatw4",
    "c4k1w8a2-c8k15s4p4w2a2-flatw2",
]


@pytest.mark.parametrize("text", CANONICAL)
def test_text_round_trip(text):
    g = parse_genome(text)
    assert g.text() == text
    assert parse_genome(g.text()) == g


def test_fields_from_text():
    g = parse_genome("c8k3d2p2w8a4-c16k7s2d3p3w4a2-flatw4")
    assert g.blocks[1] == Block(channels=16, kernel=7, w_bits=4, a_bits=2, stride=2, dilation=3, pool=3)
    assert (g.head, g.head_w_bits) == ("flat", 4)


def test_layers_shapes_and_costs():
    g = parse_genome("c16k5p2w8a8-c24k5s2w4a4-gapw8")
    layers = g.layers(9, 128, 6)
    assert [spec.kind for spec in layers] == ["conv", "maxpool", "conv", "gap", "linear"]
    conv1, pool, conv2, gap, lin = layers
    assert (conv1.lin, conv1.lout, conv1.pad_left, conv1.pad_right) == (128, 128, 2, 2)
    assert conv1.macs == 128 * 16 * 5 * 9 and conv1.n_weights == 16 * 5 * 9
    assert (pool.lin, pool.lout) == (128, 64)
    assert (conv2.lin, conv2.lout, conv2.in_bits, conv2.out_bits) == (64, 32, 8, 4)  # ceil(64 / 2)
    assert (gap.lin, gap.cin) == (32, 24)
    assert (lin.cin, lin.cout, lin.n_weights, lin.in_bits) == (24, 6, 144, 4)


def test_odd_length_and_dilation_padding():
    layers = parse_genome("c8k3s2d3p2w8a8-flatw8").layers(3, 51, 4)
    conv, pool, lin = layers
    assert (conv.pad_left, conv.pad_right) == (3, 3)
    assert conv.lout == 26  # ceil(51 / 2)
    assert pool.lout == 13
    assert lin.cin == 8 * 13


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("c9k5w8a4-gapw8", "9 output channels; PULP-NN packing needs a multiple of 2"),
        ("c6k5w8a2-gapw8", "6 output channels; PULP-NN packing needs a multiple of 4"),
        ("c8k5w4a8-gapw8", "9 input channels; PULP-NN packing needs a multiple of 2"),
        ("c8k5w8a8-c8k3w3a8-gapw8", "block 2 w_bits=3 is not one of (2, 4, 8)"),
        ("c8k5p4w8a8-c8k5p4w8a8-c8k5p4w8a8-c8k5p4w8a8-gapw8", "max-pool 4 is longer than its 2-sample input"),
        ("c8k5w8a8-c300k3w8a8-gapw8", "block 2 channels=300 is outside 1..256"),
        ("c8k5w8a8-c6k3w8a8-gapw2", "head has 2-bit weights but 6 input features"),
    ],
)
def test_invalid_genomes_are_rejected(text, message):
    with pytest.raises(ConfigError) as exc:
        parse_genome(text).validate(9, 128)
    assert message in str(exc.value)
    assert text in str(exc.value)


@pytest.mark.parametrize(
    "text", ["", "c8k5w8a8", "c8k5w8a8-gap", "c8x5w8a8-gapw8", "c8k5w8a8-avgw8", "C8K5W8A8-gapw8"]
)
def test_malformed_text_is_rejected(text):
    with pytest.raises(ConfigError, match="genome"):
        parse_genome(text)


def test_empty_blocks_rejected():
    with pytest.raises(ConfigError, match="needs 1 to 8 conv blocks"):
        Genome(()).validate(9, 128)
