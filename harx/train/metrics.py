"""Classification metrics on label arrays: accuracy, macro-F1 and the confusion matrix."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Scores:
    accuracy: float
    macro_f1: float
    confusion: np.ndarray  # (n_classes, n_classes), rows = true class, columns = predicted

    def as_dict(self, prefix: str = "") -> dict[str, float]:
        return {f"{prefix}acc": self.accuracy, f"{prefix}f1": self.macro_f1}


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    cm = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(cm, (np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)), 1)
    return cm


def score(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> Scores:
    """Accuracy and macro-F1 (classes absent from both truth and prediction are left out of the mean)."""
    cm = confusion_matrix(y_true, y_pred, n_classes)
    tp = np.diag(cm).astype(np.float64)
    support, predicted = cm.sum(axis=1), cm.sum(axis=0)
    denom = support + predicted
    present = denom > 0
    f1 = np.where(present, 2 * tp / np.maximum(denom, 1), 0.0)
    total = cm.sum()
    acc = float(tp.sum() / total) if total else 0.0
    return Scores(acc, float(f1[present].mean()) if present.any() else 0.0, cm)


def subject_correct(
    y_true: np.ndarray, y_pred: np.ndarray, subjects: np.ndarray
) -> dict[int, tuple[int, int]]:
    """Per subject: (correctly classified windows, windows)."""
    out = {}
    for s in np.unique(subjects):
        mask = subjects == s
        out[int(s)] = (int(np.sum(y_true[mask] == y_pred[mask])), int(mask.sum()))
    return out


def subject_bootstrap_draws(
    correct: np.ndarray, windows: np.ndarray, draws: int = 4000, seed: int = 0
) -> np.ndarray:
    """The accuracy of each bootstrap draw of the test subjects (``draws`` values).

    ``correct`` (models x subjects) counts each model's correctly classified windows per subject, ``windows``
    (subjects) the windows per subject. Each draw picks as many subjects as there are, with replacement,
    and scores the mean over models of their accuracy on the windows of the drawn subjects. Equal ``seed``
    and subject count give equal draws, so two sets of models can be compared draw by draw."""
    correct = np.atleast_2d(np.asarray(correct, dtype=np.float64))
    windows = np.asarray(windows, dtype=np.float64)
    n = windows.shape[0]
    picks = np.random.default_rng(seed).integers(0, n, size=(draws, n))
    counts = np.stack([np.bincount(p, minlength=n) for p in picks])  # draws x subjects
    return ((counts @ correct.T) / (counts @ windows)[:, None]).mean(axis=1)


def subject_bootstrap_ci(
    correct: np.ndarray, windows: np.ndarray, level: float = 0.95, draws: int = 4000, seed: int = 0
) -> tuple[float, float]:
    """A percentile interval of the accuracy over the subjects of a test set, resampled with replacement
    (``subject_bootstrap_draws``): the interval covers the spread that the choice of test people brings (9
    subjects on uci-har), not only the seeds'."""
    tail = (1 - level) / 2
    lo, hi = np.quantile(subject_bootstrap_draws(correct, windows, draws, seed), [tail, 1 - tail])
    return float(lo), float(hi)
