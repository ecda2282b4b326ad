"""Training budgets that follow the data: the batch size and epoch counts one training actually runs.

Epoch counts are passes over the training windows. With uci-har's 7,415 windows a pass at batch 64 is 116
optimizer steps; with a user's 40 windows it is one, and 40+25 epochs leave a network untrained (50% test
accuracy on a 4-class set, with nothing said). So a training set that holds fewer than ``MIN_BATCHES``
batches of the configured size is *small*, and for it:

- the batch size is a quarter of the training set, rounded up (at least 2: BatchNorm needs two windows),
  so that a pass is ``MIN_BATCHES`` optimizer steps;
- each phase (float, QAT) that trains at all runs at least ``MIN_STEPS`` optimizer steps: its epoch count
  is raised to ``ceil(MIN_STEPS / steps per pass)`` when it is below that;
- the early-stopping patience grows by the same factor as the larger raised phase, so it still spans the
  same share of the training.

A training set of ``MIN_BATCHES`` batches or more runs exactly the configured settings (the identity:
every shipped recipe on uci-har and uci-hapt, whose smallest training set, a proxy fold of
recipes/quick.yaml, holds 3,548 windows). The rule reads only the number of training windows (never the
validation or test subjects), so a result stays a function of its cache key: genome, dataset fingerprint
and training config.

``MIN_STEPS`` was chosen on the training subjects only of a 72-window, 4-class uci-hapt subset (36
training windows; each of its 4 training subjects held out in turn, 2 seeds;
docs/quantize.md#training-budget):
mean held-out accuracy 0.73 / 0.83 / 0.89 / 0.92 / 0.93 / 0.93 / 0.96 / 0.92 / 0.91 at 50 / 100 / 150 /
200 / 250 / 300 / 400 / 600 / 1000 steps per phase, against 0.71 for the unadjusted 40+25 epochs at batch
64 (one seed); 300 is near the top at 60% of 400's training time.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from harx.train.config import TrainConfig

MIN_BATCHES = 4  # a training set of fewer batches than this is small
MIN_STEPS = 300  # optimizer steps each phase of a small training set runs at least
FEW_STEPS = 50  # a phase with fewer optimizer steps than this is warned about


def steps_per_pass(n_train: int, batch_size: int) -> int:
    """Optimizer steps of one pass over ``n_train`` windows: the training loop skips a last batch of one
    window (BatchNorm needs two)."""
    full, rest = divmod(n_train, batch_size)
    return full + (1 if rest >= 2 else 0)


@dataclass(frozen=True)
class Budget:
    """The settings one training runs (``effective``) for ``n_train`` windows under ``configured``."""

    n_train: int
    configured: TrainConfig
    effective: TrainConfig

    @property
    def changed(self) -> bool:
        return self.effective != self.configured

    @property
    def steps_per_pass(self) -> int:
        return steps_per_pass(self.n_train, self.effective.batch_size)

    @property
    def steps_float(self) -> int:
        """Optimizer steps of the float phase at most (early stopping may end it sooner)."""
        return self.effective.epochs_float * self.steps_per_pass

    @property
    def steps_qat(self) -> int:
        return self.effective.epochs_qat * self.steps_per_pass

    def as_dict(self) -> dict:
        """What an artifact or a stored candidate records: the effective settings and their steps."""
        e = self.effective
        return {
            "train_windows": self.n_train,
            "batch_size": e.batch_size,
            "epochs_float": e.epochs_float,
            "epochs_qat": e.epochs_qat,
            "patience": e.patience,
            "steps_float": self.steps_float,
            "steps_qat": self.steps_qat,
            "adjusted": self.changed,
        }

    def warnings(self, what: str) -> list[str]:
        """One-line warnings about ``what`` (e.g. "dataset 'my-lab'") trained under this budget."""
        c, e = self.configured, self.effective
        if self.n_train < 2:
            return [f"{what}: {self.n_train} training window(s); training needs at least 2"]
        if self.changed:
            return [
                f"{what}: {self.n_train} training windows are fewer than {MIN_BATCHES} batches of "
                f"{c.batch_size} ({c.epochs_float}+{c.epochs_qat} epochs would be "
                f"{c.epochs_float * steps_per_pass(self.n_train, c.batch_size)}+"
                f"{c.epochs_qat * steps_per_pass(self.n_train, c.batch_size)} optimizer steps); trained with "
                f"batch size {e.batch_size}, {e.epochs_float}+{e.epochs_qat} epochs ({self.steps_float}+"
                f"{self.steps_qat} steps) and patience {e.patience} instead "
                "(docs/quantize.md#training-budget)"
            ]
        few = [
            f"{phase} {steps}"
            for phase, epochs, steps in (
                ("float", e.epochs_float, self.steps_float),
                ("QAT", e.epochs_qat, self.steps_qat),
            )
            if epochs and steps < FEW_STEPS
        ]
        if few:
            return [
                f"{what}: {self.n_train} training windows at batch size {e.batch_size} give "
                f"{' and '.join(few)} optimizer steps (fewer than {FEW_STEPS}); raise the epochs"
            ]
        return []


def plan(cfg: TrainConfig, n_train: int) -> Budget:
    """The budget of one training of ``n_train`` windows under ``cfg`` (the module docstring's rule)."""
    if n_train < 2 or n_train >= MIN_BATCHES * cfg.batch_size:
        return Budget(n_train, cfg, cfg)
    batch = max(2, math.ceil(n_train / MIN_BATCHES))
    per_pass = steps_per_pass(n_train, batch)
    least = math.ceil(MIN_STEPS / per_pass)

    def raised(epochs: int) -> int:
        return max(epochs, least) if epochs else 0  # a phase set to 0 epochs stays off

    epochs_float, epochs_qat = raised(cfg.epochs_float), raised(cfg.epochs_qat)
    factor = max(
        epochs_float / cfg.epochs_float if cfg.epochs_float else 1.0,
        epochs_qat / cfg.epochs_qat if cfg.epochs_qat else 1.0,
    )
    effective = dataclasses.replace(
        cfg,
        batch_size=batch,
        epochs_float=epochs_float,
        epochs_qat=epochs_qat,
        patience=math.ceil(cfg.patience * factor),
    )
    return Budget(n_train, cfg, effective)
