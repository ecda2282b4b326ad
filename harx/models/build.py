"""Genome -> trainable QuantNet (quant's layers, no knowledge of genomes on quant's side)."""

from __future__ import annotations

from harx.models.genome import Genome
from harx.quant.layers import ConvConfig, QuantNet


def build(
    genome: Genome, in_channels: int, in_len: int, n_classes: int, exits: dict[int, int] | None = None
) -> QuantNet:
    """The QAT network of ``genome``; ``exits`` maps a block index to the weight bits of an early-exit head."""
    genome.validate(in_channels, in_len)
    convs, cin = [], in_channels
    for b in genome.blocks:
        convs.append(ConvConfig(cin, b.channels, b.kernel, b.stride, b.dilation, b.pool, b.w_bits, b.a_bits))
        cin = b.channels
    return QuantNet(convs, genome.head, genome.head_w_bits, in_len, n_classes, exits)
