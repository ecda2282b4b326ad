"""The real archives in ../shared/datasets (official layouts, rebuilt from the HAPT raw recordings).

Expected counts come from shared/datasets/MANIFEST.md (uci-har) and, independently of the zip and of
harx's parser, from the per-sample labels in uci_hapt_raw.npz (uci-hapt).
"""

import contextlib
import io
import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from harx.cli.app import main
from harx.data import fetch, load_dataset, subject_folds, subject_split

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(
        not (SHARED / "uci-har.zip").is_file() or not (SHARED / "uci-hapt.zip").is_file(),
        reason=f"the shared datasets folder {SHARED} (uci-har.zip, uci-hapt.zip) is absent",
    ),
]
TEST_SUBJECTS = (2, 4, 9, 10, 12, 13, 18, 20, 24)
# MANIFEST.md section 4: rebuilt window counts per class (WALKING .. LAYING).
HAR_TRAIN = [1226, 1073, 987, 1293, 1423, 1413]
HAR_TEST = [496, 471, 420, 508, 556, 545]
REBUILD = "HAPT raw recordings, pinned by this sha256"  # what the archive is, not where it was


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("harx-home")


@pytest.fixture(scope="module")
def har_summary(home):
    """`harx fetch uci-har --file ../shared/datasets/uci-har.zip --json`, through the CLI."""
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out):
        mp.setenv("HARX_HOME", str(home))
        main(["fetch", "uci-har", "--file", str(SHARED / "uci-har.zip"), "--json", "--no-progress"])
    return json.loads(out.getvalue())


@pytest.fixture(scope="module")
def hapt_summary(home):
    """`harx fetch uci-hapt` with the shared folder as HARX_DATA_MIRROR (what `make demo` does offline)."""
    return fetch("uci-hapt", home=home, mirror=str(SHARED))


def _per_class(ds, mask):
    return np.bincount(ds.y[mask], minlength=ds.n_classes).tolist()


def test_uci_har_layout_split_and_counts(har_summary, home):
    assert har_summary["split_sizes"] == {"train": 7415, "test": 2996}
    assert har_summary["verified"] is True and REBUILD in har_summary["matched_archive"]
    ds = load_dataset("uci-har", home=home)
    assert ds.X.shape == (10411, 9, 128) and ds.X.dtype == np.float32
    assert ds.fingerprint == har_summary["fingerprint"]
    assert ds.test_subjects == TEST_SUBJECTS
    test = np.isin(ds.subject, TEST_SUBJECTS)
    assert _per_class(ds, ~test) == HAR_TRAIN and _per_class(ds, test) == HAR_TEST
    assert len(np.unique(ds.subject[~test])) == 21
    # total_acc is in g: its magnitude averages about 1 g (gravity) over all windows.
    magnitude = np.linalg.norm(ds.X[:, 6:9, :], axis=1)
    assert 0.95 < float(magnitude.mean()) < 1.1
    # body_acc is total_acc minus gravity: close to zero mean.
    assert abs(float(ds.X[:, 0:3].mean())) < 0.01


def test_uci_har_splits_are_subject_disjoint(har_summary, home):
    ds = load_dataset("uci-har", home=home)
    split = subject_split(ds, n_val_subjects=4, seed=0)
    sets = [set(np.unique(ds.subject[i]).tolist()) for i in (split.train, split.val, split.test)]
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    assert len(split.train) + len(split.val) == 7415 and len(split.test) == 2996
    folds = subject_folds(ds, n_folds=4, seed=0)
    assert sorted(s for f in folds for s in f.val_subjects) == sorted(
        split.train_subjects + split.val_subjects
    )


def _raw_window_counts():
    """Windows per (split, class) from the per-sample labels of uci_hapt_raw.npz: 128 every 64 per run."""
    raw = np.load(SHARED / "uci_hapt_raw.npz")
    counts = {"train": np.zeros(12, int), "test": np.zeros(12, int)}
    offsets = raw["rec_offsets"]
    for r, user in enumerate(raw["rec_user"]):
        label = raw["label"][offsets[r] : offsets[r + 1]].astype(int)
        edges = np.r_[0, np.flatnonzero(np.diff(label)) + 1, len(label)]
        for start, end in itertools.pairwise(edges):
            if label[start] >= 1 and end - start >= 128:
                counts["test" if int(user) in TEST_SUBJECTS else "train"][label[start] - 1] += (
                    end - start - 128
                ) // 64 + 1
    return counts, raw


@pytest.mark.skipif(not (SHARED / "uci_hapt_raw.npz").is_file(), reason="uci_hapt_raw.npz is absent")
def test_uci_hapt_windows_match_the_raw_labels(hapt_summary, home):
    assert hapt_summary.source_kind == "mirror" and hapt_summary.verified is True
    assert REBUILD in hapt_summary.matched_archive
    ds = load_dataset("uci-hapt", home=home)
    assert ds.n_classes == 12 and ds.X.shape[1:] == (6, 128) and ds.test_subjects == TEST_SUBJECTS
    counts, raw = _raw_window_counts()
    test = np.isin(ds.subject, TEST_SUBJECTS)
    assert _per_class(ds, ~test) == counts["train"].tolist()
    assert _per_class(ds, test) == counts["test"].tolist()
    # The six basic activities give exactly the uci-har rebuild's windows (same segments, same cutting).
    assert _per_class(ds, ~test)[:6] == HAR_TRAIN and _per_class(ds, test)[:6] == HAR_TEST
    # First window: experiment 1, user 1, the STANDING segment starting at sample 250 (acc g, gyro rad/s).
    first = np.concatenate([raw["acc"][250:378], raw["gyro"][250:378]], axis=1).T
    np.testing.assert_array_equal(ds.X[0], first)
    assert ds.class_names[ds.y[0]] == "STANDING" and ds.subject[0] == 1


@pytest.mark.slow
def test_uci_hapt_6_is_the_basic_activities_of_uci_hapt(hapt_summary, home):
    six = fetch("uci-hapt", home=home, mirror=str(SHARED), classes=6)
    assert six.name == "uci-hapt-6" and six.split_sizes == {"train": 7415, "test": 2996}
    ds6, ds12 = load_dataset("uci-hapt-6", home=home), load_dataset("uci-hapt", home=home)
    basic = ds12.y < 6
    np.testing.assert_array_equal(ds6.X, ds12.X[basic])
    np.testing.assert_array_equal(ds6.y, ds12.y[basic])
    assert ds6.class_names == ds12.class_names[:6] and ds6.fingerprint != ds12.fingerprint
