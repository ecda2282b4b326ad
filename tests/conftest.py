"""Shared fixtures: the real archives in ../shared/datasets, fetched once per session."""

from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
HAVE_SHARED = (SHARED / "uci-har.zip").is_file()
needs_shared = pytest.mark.skipif(not HAVE_SHARED, reason=f"the shared datasets folder {SHARED} is absent")


@pytest.fixture(scope="session")
def har_home(tmp_path_factory):
    """A HARX_HOME holding the real uci-har, plus 'har-mini': every 10th window of it (all 30 subjects,
    the official test subjects), small enough to train searches in seconds."""
    if not HAVE_SHARED:
        pytest.skip(f"the shared datasets folder {SHARED} is absent")
    from harx.data import fetch, import_dataset, load_dataset

    home = tmp_path_factory.mktemp("har-home")
    fetch("uci-har", file=SHARED / "uci-har.zip", home=home)
    ds = load_dataset("uci-har", home=home)
    keep = np.arange(0, len(ds.y), 10)
    mini = home / "har-mini.npz"
    np.savez(
        mini,
        X=ds.X[keep],
        y=ds.y[keep],
        subject=ds.subject[keep],
        fs_hz=ds.fs_hz,
        class_names=np.array(ds.class_names),
        channel_names=np.array(ds.channel_names),
        test_subjects=np.array(ds.test_subjects),
    )
    import_dataset(mini, "har-mini", home=home)
    return home


@pytest.fixture
def in_har_home(har_home, monkeypatch):
    monkeypatch.setenv("HARX_HOME", str(har_home))
    return har_home
