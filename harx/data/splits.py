"""Subject-disjoint splits: validation subjects are carved deterministically from the training subjects."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harx.errors import ConfigError

# Training subjects held out for early stopping where a command trains one model (quantize, adapt): a
# fifth of the training subjects, at least 1 and at most this many (4 of uci-har's 21).
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


def default_val_subjects(ds) -> int:
    """How many training subjects a single training holds out by default: a fifth of them, at least 1 and
    at most DEFAULT_VAL_SUBJECTS, so a small recording keeps most of its subjects for training."""
    return max(1, min(DEFAULT_VAL_SUBJECTS, len(_training_subjects(ds)) // 5))


def subject_split(ds, n_val_subjects: int | None = None, seed: int = 0) -> Split:
    """Hold out `n_val_subjects` training subjects (None: `default_val_subjects`), drawn with `seed`, for
    validation.

    0 holds out none: every training subject is trained on (fixed epochs, no validation). The test
    windows are those of `ds.test_subjects`. `ds` is a Dataset (anything with `.subject` and
    `.test_subjects`).
    """
    subjects = _training_subjects(ds)
    if n_val_subjects is None:
        n_val_subjects = default_val_subjects(ds)
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


# Fewer validation windows of a class than this make early stopping, fold scores and adapt's thresholds
# on that class a matter of a window or two.
MIN_VAL_PER_CLASS = 5


def _name(ds) -> str:
    return f"dataset '{getattr(ds, 'name', '?')}'"


def subject_warnings(ds, name: str | None = None) -> list[str]:
    """One-line warnings about the subject ids of ``ds`` (a Dataset, or windows being imported as
    ``name``): a single window per training subject makes validation subjects and subject-grouped folds
    random windows."""
    subjects = _training_subjects(ds)
    in_train = np.isin(ds.subject, subjects)
    if len(subjects) > 1 and len(subjects) == int(in_train.sum()):
        what = f"dataset '{name}'" if name else _name(ds)
        return [
            f"{what}: every training subject has a single window, so validation subjects and "
            "subject-grouped folds are random windows (overlapping windows of one recording can land on both "
            "sides); give all windows of one person or recording the same subject id "
            "(docs/import-format.md#recordings-without-subject-ids)"
        ]
    return []


def validation_warnings(ds, splits: list[Split], what: str) -> list[str]:
    """A one-line warning when the validation windows of ``splits`` (one split, or a search's folds) hold
    fewer than MIN_VAL_PER_CLASS windows of some class; ``what`` says what they are used for."""
    worst = None
    for i, split in enumerate(splits):
        if not len(split.val):
            continue
        counts = np.bincount(ds.y[split.val], minlength=len(ds.class_names))
        c = int(np.argmin(counts))
        if worst is None or counts[c] < worst[0]:
            worst = (int(counts[c]), c, i, split)
    if worst is None or worst[0] >= MIN_VAL_PER_CLASS:
        return []
    count, c, i, split = worst
    where = f"fold {i + 1} of {len(splits)}" if len(splits) > 1 else "the validation set"
    subjects = ", ".join(map(str, split.val_subjects))
    return [
        f"{_name(ds)}: {where} (subjects {subjects}) holds {count} window(s) of class "
        f"'{ds.class_names[c]}', fewer than {MIN_VAL_PER_CLASS} per class: {what} on it is noisy; hold "
        "out more subjects or record more windows"
    ]
