"""The search space: a Genome describes one 1-D CNN; `build` turns it into a trainable torch module."""

from harx.models.genome import BITS, Block, Genome, LayerSpec, parse_genome

__all__ = ["BITS", "Block", "Genome", "LayerSpec", "parse_genome"]
