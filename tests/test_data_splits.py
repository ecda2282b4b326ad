"""Subject-disjoint splits and folds, and per-channel statistics."""

from types import SimpleNamespace

import numpy as np
import pytest

from harx.data import channel_stats, subject_folds, subject_split
from harx.errors import ConfigError


def _dataset(n_subjects=12, test=(3, 7, 11)):
    subject = np.repeat(np.arange(1, n_subjects + 1), 5)
    return SimpleNamespace(name="toy", subject=subject, test_subjects=test)


def _subjects(ds, idx):
    return set(np.unique(ds.subject[idx]).tolist())


def test_split_is_subject_disjoint_covers_everything_and_keeps_the_test_set():
    ds = _dataset()
    split = subject_split(ds, n_val_subjects=3, seed=0)
    train, val, test = (_subjects(ds, i) for i in (split.train, split.val, split.test))
    assert test == {3, 7, 11} and len(val) == 3
    assert not (train & val) and not (train & test) and not (val & test)
    assert sorted(np.concatenate([split.train, split.val, split.test]).tolist()) == list(
        range(len(ds.subject))
    )
    assert split.val_subjects == tuple(sorted(val)) and split.train_subjects == tuple(sorted(train))


def test_split_is_deterministic_per_seed():
    ds = _dataset()
    assert subject_split(ds, 3, seed=5).val_subjects == subject_split(ds, 3, seed=5).val_subjects
    assert len({subject_split(ds, 3, seed=s).val_subjects for s in range(6)}) > 1


def test_folds_partition_the_training_subjects():
    ds = _dataset()
    folds = subject_folds(ds, n_folds=4, seed=0)
    vals = [set(f.val_subjects) for f in folds]
    assert set().union(*vals) == set(range(1, 13)) - {3, 7, 11}
    assert sum(len(v) for v in vals) == 9
    for fold in folds:
        assert not set(fold.train_subjects) & set(fold.val_subjects)
        np.testing.assert_array_equal(fold.test, folds[0].test)
    assert [f.val_subjects for f in folds] == [f.val_subjects for f in subject_folds(ds, 4, seed=0)]


def test_zero_validation_subjects_trains_on_every_training_subject():
    ds = _dataset()
    split = subject_split(ds, n_val_subjects=0, seed=3)
    assert split.val.size == 0 and split.val_subjects == ()
    assert _subjects(ds, split.train) == set(range(1, 13)) - {3, 7, 11}


@pytest.mark.parametrize(("n_val", "n_folds"), [(-1, 1), (9, 10)])
def test_impossible_split_sizes_are_config_errors(n_val, n_folds):
    ds = _dataset()
    with pytest.raises(ConfigError, match="9 training subjects"):
        subject_split(ds, n_val_subjects=n_val)
    with pytest.raises(ConfigError, match="9 training subjects"):
        subject_folds(ds, n_folds=n_folds)


def test_channel_stats_are_per_channel_and_guard_constant_channels():
    rng = np.random.default_rng(0)
    X = np.stack([rng.normal(2.0, 3.0, (50, 64)), np.full((50, 64), 4.0)], axis=1).astype(np.float32)
    mean, std = channel_stats(X)
    assert mean.dtype == np.float32 and mean.shape == (2,)
    np.testing.assert_allclose(mean, [X[:, 0].mean(), 4.0], rtol=1e-5)
    np.testing.assert_allclose(std, [X[:, 0].std(), 1.0], rtol=1e-5)
