"""Early exit: one CNN trained with an extra classifier after an intermediate block.

Artifacts hold integer weights only (no float state), so an exit head cannot be fine-tuned onto a finished
artifact: "fine-tuned" here means the genome is trained again, from scratch, with the exit head and the
joint loss ``CE(final) + exit_loss_weight * CE(exit)`` (``harx.train.loop``) through float pre-training and
QAT, so that both heads are good. Early stopping watches the final head's validation macro-F1.
"""

from __future__ import annotations

from collections.abc import Callable

from harx.errors import ConfigError
from harx.evaluate import TrainedModel, train_model
from harx.models.genome import Genome
from harx.train.config import Execution, TrainConfig


def exit_block_index(genome: Genome, exit_after: int) -> int:
    """The 0-based block index of an exit after the first ``exit_after`` conv blocks (1-based count)."""
    n = len(genome.blocks)
    if not 1 <= exit_after < n:
        raise ConfigError(
            f"--exit-after {exit_after}: genome '{genome.text()}' has {n} conv blocks, so an exit can follow "
            f"blocks 1..{n - 1}"
            if n > 1
            else f"genome '{genome.text()}' has one conv block: no room for an exit"
        )
    return exit_after - 1


def train_early_exit(
    genome: Genome,
    ds,
    split,
    cfg: TrainConfig,
    exit_after: int,
    *,
    exit_w_bits: int | None = None,
    seed: int = 0,
    on_epoch: Callable | None = None,
    execution: Execution | None = None,
) -> TrainedModel:
    """Train ``genome`` on ``split`` with an exit head after its first ``exit_after`` blocks
    (``exit_w_bits``-bit weights, default the genome's classifier bits); the integer model's ``exits``
    holds the head."""
    block = exit_block_index(genome, exit_after)
    bits = genome.head_w_bits if exit_w_bits is None else exit_w_bits
    if bits not in (2, 4, 8):
        raise ConfigError(f"--exit-bits {bits}: must be 2, 4 or 8")
    return train_model(
        genome, ds, split, cfg, seed, exits={block: bits}, on_epoch=on_epoch, execution=execution
    )
