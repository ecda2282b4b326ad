"""Subject-disjoint splits: validation subjects are carved deterministically from the training subjects."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harx.errors import ConfigError

# Training subjects held out for early stopping where a command trains one model (quantize, adapt).
DEFAULT_VAL_SUBJECTS = 4


@dataclass(frozen=True)
class Split:
    """Window indices (sorted int64) of a subject-disjoint train / validation / test split."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    train_subjects: tuple[int, ...]
    val_subjects: tuple[int, ...]
    test_subjects: tuple[int, ...]


def _training_subjects(ds) -> np.ndarray:
    return np.setdiff1d(np.unique(ds.subject), np.asarray(ds.test_subjects, dtype=np.int64))


def _split(ds, val_subjects: np.ndarray) -> Split:
    test = np.asarray(ds.test_subjects, dtype=np.int64)
    in_test = np.isin(ds.subject, test)
    in_val = np.isin(ds.subject, val_subjects)
    train_subjects = np.setdiff1d(_training_subjects(ds), val_subjects)
    return Split(
        train=np.flatnonzero(~in_test & ~in_val),
        val=np.flatnonzero(in_val),
        test=np.flatnonzero(in_test),
        train_subjects=tuple(int(s) for s in train_subjects),
        val_subjects=tuple(int(s) for s in np.sort(val_subjects)),
        test_subjects=tuple(int(s) for s in np.intersect1d(np.unique(ds.subject), test)),
    )


def subject_split(ds, n_val_subjects: int = DEFAULT_VAL_SUBJECTS, seed: int = 0) -> Split:
    """Hold out `n_val_subjects` training subjects, drawn with `seed`, for validation.

    0 holds out none: every training subject is trained on (fixed epochs, no validation). The test
    windows are those of `ds.test_subjects`. `ds` is a Dataset (anything with `.subject` and
    `.test_subjects`).
    """
    subjects = _training_subjects(ds)
    if not 0 <= n_val_subjects < len(subjects):
        raise ConfigError(
            f"n_val_subjects={n_val_subjects}: dataset '{getattr(ds, 'name', '?')}' has {len(subjects)} "
            f"training subjects, so 0..{len(subjects) - 1} can be held out for validation"
        )
    val = np.random.default_rng(seed).choice(subjects, size=n_val_subjects, replace=False)
    return _split(ds, np.sort(val))


def subject_folds(ds, n_folds: int = 4, seed: int = 0) -> list[Split]:
    """Partition the training subjects (all non-test) into `n_folds` groups; fold i validates on group i."""
    subjects = _training_subjects(ds)
    if not 2 <= n_folds <= len(subjects):
        raise ConfigError(
            f"n_folds={n_folds}: dataset '{getattr(ds, 'name', '?')}' has {len(subjects)} training subjects, "
            f"so 2..{len(subjects)} folds are possible"
        )
    order = np.random.default_rng(seed).permutation(subjects)
    return [_split(ds, np.sort(group)) for group in np.array_split(order, n_folds)]


def channel_stats(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation of windows X (N, C, T), as float32 (C,).

    Compute it on the training windows only. A constant channel gets std 1, so normalising leaves it as is.
    """
    mean = X.mean(axis=(0, 2), dtype=np.float64)
    std = X.std(axis=(0, 2), dtype=np.float64)
    std[std == 0] = 1.0
    return mean.astype(np.float32), std.astype(np.float32)
