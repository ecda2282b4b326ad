"""The training loop: seeded, full-tensor batching (no DataLoader), early stopping on validation macro-F1."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from harx.quant.layers import normalize
from harx.train.budget import steps_per_pass
from harx.train.config import TrainConfig
from harx.train.metrics import Scores, score


@dataclass
class SplitTensors:
    """Normalized tensors of one subject split, with the training-split statistics used."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: np.ndarray
    mean: np.ndarray
    std: np.ndarray


def norm_stats(x_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel float32 mean and standard deviation of training windows (N, C, T): what a trained
    model's input normalization holds."""
    mean = x_train.mean(axis=(0, 2)).astype(np.float32)
    std = np.maximum(x_train.std(axis=(0, 2)), 1e-6).astype(np.float32)
    return mean, std


def split_tensors(ds, split, device: torch.device | str = "cpu") -> SplitTensors:
    """Normalization statistics come from the training windows of ``split`` only; tensors on ``device``."""
    xtr = ds.X[split.train]
    mean, std = norm_stats(xtr)
    return SplitTensors(
        normalize(torch.from_numpy(xtr), mean, std).to(device),
        torch.from_numpy(ds.y[split.train].astype(np.int64)).to(device),
        normalize(torch.from_numpy(ds.X[split.val]), mean, std).to(device),
        ds.y[split.val].astype(np.int64),
        mean,
        std,
    )


@dataclass
class EpochLog:
    phase: str
    epoch: int
    loss: float
    val_acc: float | None  # None when training without validation subjects
    val_f1: float | None
    seconds: float

    def scores_text(self) -> str:
        if self.val_acc is None:
            return f"loss {self.loss:.3f}  no validation"
        return f"loss {self.loss:.3f}  val acc {self.val_acc:.3f}  f1 {self.val_f1:.3f}"


@dataclass
class History:
    epochs: list[EpochLog] = field(default_factory=list)
    best: dict[str, int] = field(default_factory=dict)  # phase -> best epoch

    def as_list(self) -> list[dict]:
        return [vars(e) for e in self.epochs]


def seed_everything(seed: int, threads: int) -> torch.Generator:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    torch.set_num_threads(threads)
    g = torch.Generator()
    g.manual_seed(seed)
    return g


@torch.no_grad()
def logits_of(model: nn.Module, x: torch.Tensor, batch: int = 1024) -> torch.Tensor:
    was_training = model.training
    model.eval()
    out = torch.cat([model(x[i : i + batch]) for i in range(0, len(x), batch)])
    model.train(was_training)
    return out


def predict(model: nn.Module, x: torch.Tensor, batch: int = 1024) -> np.ndarray:
    device = next(model.parameters()).device
    return logits_of(model, x.to(device), batch).argmax(dim=1).cpu().numpy()


def _augment(x: torch.Tensor, cfg: TrainConfig, g: torch.Generator) -> torch.Tensor:
    """Random draws on the CPU generator (the same numbers on every device)."""
    if cfg.augment_scale > 0:
        jitter = 2 * torch.rand(x.shape[0], x.shape[1], 1, generator=g) - 1
        x = x * (1 + cfg.augment_scale * jitter.to(x.device))
    if cfg.augment_noise > 0:
        x = x + cfg.augment_noise * torch.randn(x.shape, generator=g).to(x.device)
    return x


def _loss(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor, cfg: TrainConfig) -> torch.Tensor:
    """Cross-entropy of the final head, plus ``exit_loss_weight`` times each early-exit head's."""
    if not getattr(model, "exit_heads", None):
        return F.cross_entropy(model(xb), yb, label_smoothing=cfg.label_smoothing)
    logits, exits = model(xb, with_exits=True)
    loss = F.cross_entropy(logits, yb, label_smoothing=cfg.label_smoothing)
    for e in exits.values():
        loss = loss + cfg.exit_loss_weight * F.cross_entropy(e, yb, label_smoothing=cfg.label_smoothing)
    return loss


def fit(
    model: nn.Module,
    data: SplitTensors,
    n_classes: int,
    cfg: TrainConfig,
    phase: str,
    epochs: int,
    lr: float,
    g: torch.Generator,
    history: History,
    on_epoch: Callable[[EpochLog], None] | None = None,
) -> Scores:
    """Train ``model`` in place for up to ``epochs``; restore the weights of the best validation macro-F1.

    With no validation windows it trains all ``epochs`` and keeps the last weights (the cosine schedule
    has brought the learning rate to zero by then); the returned scores are then None.
    """
    x_train, y_train, x_val, y_val = data.x_train, data.y_train, data.x_val, data.y_val
    validate = len(x_val) > 0
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=cfg.weight_decay)
    n = len(x_train)
    steps = steps_per_pass(n, cfg.batch_size)
    if cfg.schedule == "onecycle" and epochs and steps:
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps)
    else:
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(epochs, 1))
    per_step = isinstance(sched, torch.optim.lr_scheduler.OneCycleLR)
    best_key, best_state, best_epoch, best_scores = (-1.0, 0.0), None, -1, None
    for epoch in range(epochs):
        t0 = time.perf_counter()
        model.train()
        perm = torch.randperm(n, generator=g)
        total = 0.0
        for i in range(0, n, cfg.batch_size):
            idx = perm[i : i + cfg.batch_size]
            if len(idx) < 2:  # BatchNorm needs more than one sample
                continue
            xb = _augment(x_train[idx], cfg, g)
            loss = _loss(model, xb, y_train[idx], cfg)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if per_step:
                sched.step()
            total += float(loss.detach()) * len(idx)
        if not per_step:
            sched.step()
        scores = None
        if validate:
            val_logits = logits_of(model, x_val).cpu()
            scores = score(y_val, val_logits.argmax(dim=1).numpy(), n_classes)
            val_loss = float(F.cross_entropy(val_logits, torch.from_numpy(y_val)))
        acc, f1 = (None, None) if scores is None else (scores.accuracy, scores.macro_f1)
        log = EpochLog(phase, epoch, total / n, acc, f1, time.perf_counter() - t0)
        history.epochs.append(log)
        if on_epoch:
            on_epoch(log)
        if scores is None:
            best_epoch = epoch
            continue
        # Small validation sets saturate (macro-F1 of 1.0 after one epoch is common on uci-har): equal
        # F1 is decided by the lower validation loss, so the selection keeps improving past saturation.
        key = (scores.macro_f1, -val_loss)
        if key > best_key:
            best_key, best_epoch, best_scores = key, epoch, scores
            best_state = copy.deepcopy(model.state_dict())
        elif epoch - best_epoch >= cfg.patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    history.best[phase] = best_epoch
    return best_scores
