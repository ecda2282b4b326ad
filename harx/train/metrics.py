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
