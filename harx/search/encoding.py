"""Integer encoding of genomes for NSGA-II, with a repair that makes every vector a valid genome.

Layout of one vector (all genes are indices into the recipe's sorted lists):

    [n_blocks, head, head_bits] + max_blocks x [channels, kernel, stride, pool, dilation, w_bits, a_bits]

Blocks past ``n_blocks`` are inactive but kept, so crossover can bring them back.
"""

from __future__ import annotations

import numpy as np

from harx.models.genome import Block, Genome
from harx.search.recipe import BLOCK_GENES, Space

HEADER = 3


class Encoding:
    def __init__(self, space: Space, in_channels: int, in_len: int) -> None:
        self.space = space
        self.in_channels = in_channels
        self.in_len = in_len
        self.n_var = HEADER + len(BLOCK_GENES) * space.max_blocks
        upper = [space.max_blocks - space.min_blocks, len(space.heads) - 1, len(space.bits) - 1]
        upper += [len(getattr(space, g)) - 1 for g, _ in BLOCK_GENES] * space.max_blocks
        self.xl = np.zeros(self.n_var, dtype=int)
        self.xu = np.array(upper, dtype=int)

    def decode(self, x: np.ndarray) -> Genome:
        s = self.space
        x = np.clip(np.rint(x).astype(int), self.xl, self.xu)
        n = s.min_blocks + x[0]
        blocks = []
        for i in range(n):
            genes = x[HEADER + i * len(BLOCK_GENES) : HEADER + (i + 1) * len(BLOCK_GENES)]
            blocks.append(
                Block(**{attr: getattr(s, g)[j] for (g, attr), j in zip(BLOCK_GENES, genes, strict=True)})
            )
        return Genome(tuple(blocks), s.heads[x[1]], s.bits[x[2]])

    def encode(self, genome: Genome, like: np.ndarray | None = None) -> np.ndarray:
        """Vector of ``genome``; inactive blocks are copied from ``like`` when given."""
        s = self.space
        x = np.array(like, dtype=int) if like is not None else np.zeros(self.n_var, dtype=int)
        x[0] = len(genome.blocks) - s.min_blocks
        x[1] = s.heads.index(genome.head)
        x[2] = s.bits.index(genome.head_w_bits)
        for i, b in enumerate(genome.blocks):
            vals = [getattr(s, g).index(getattr(b, attr)) for g, attr in BLOCK_GENES]
            x[HEADER + i * len(BLOCK_GENES) : HEADER + (i + 1) * len(BLOCK_GENES)] = vals
        return x

    def repair(self, genome: Genome) -> Genome:
        """The nearest valid genome: 8-bit where PULP-NN packing forbids fewer bits, no stride/pool that
        would shrink the sequence below one sample. 8 bit and stride/pool 1 are always in the space."""
        blocks, cin, n = [], self.in_channels, self.in_len
        for b in genome.blocks:
            w = b.w_bits if cin % (8 // b.w_bits) == 0 else 8
            a = b.a_bits if b.channels % (8 // b.a_bits) == 0 else 8
            stride, pool = b.stride, b.pool
            if (n - 1) // stride + 1 < 1 or ((n - 1) // stride + 1) // pool < 1:
                stride, pool = 1, 1
            lout = (n - 1) // stride + 1
            if pool > lout:
                pool = 1
            n = lout // pool
            blocks.append(Block(b.channels, b.kernel, w, a, stride, b.dilation, pool))
            cin = b.channels
        feats = cin if genome.head == "gap" else cin * n
        hb = genome.head_w_bits if feats % (8 // genome.head_w_bits) == 0 else 8
        repaired = Genome(tuple(blocks), genome.head, hb)
        repaired.validate(self.in_channels, self.in_len)
        return repaired

    def repair_vector(self, x: np.ndarray) -> np.ndarray:
        return self.encode(self.repair(self.decode(x)), like=np.clip(np.rint(x), self.xl, self.xu))
