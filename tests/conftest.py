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
    from harx.data import fetch, import_dataset
    from tests.helpers import write_har_mini

    home = tmp_path_factory.mktemp("har-home")
    fetch("uci-har", file=SHARED / "uci-har.zip", home=home)
    mini = write_har_mini(home, home / "har-mini.npz")
    import_dataset(mini, "har-mini", home=home)
    return home


@pytest.fixture
def in_har_home(har_home, monkeypatch):
    monkeypatch.setenv("HARX_HOME", str(har_home))
    return har_home


# The tiny recording set of issue 21, cut from uci-hapt: 4 classes, 6 subjects, 3 windows per class and
# subject (72 windows), an official split of 2 test subjects; 4 training subjects hold 48 windows.
TINY_CLASSES = ("WALKING", "WALKING_UPSTAIRS", "SITTING", "LAYING")
TINY_SUBJECTS = (1, 3, 5, 6, 7, 8)
TINY_TEST_SUBJECTS = (7, 8)
TINY_PER_CLASS = 3


def write_tiny_npz(hapt, path: Path) -> Path:
    """The tiny set from the uci-hapt Dataset ``hapt``: per subject and class, windows spread evenly over
    that subject's recording of the class."""
    keep = []
    for s in TINY_SUBJECTS:
        for c in TINY_CLASSES:
            idx = np.flatnonzero((hapt.subject == s) & (hapt.y == hapt.class_names.index(c)))
            keep += idx[np.linspace(0, len(idx) - 1, TINY_PER_CLASS).round().astype(int)].tolist()
    keep = np.array(keep)
    np.savez(
        path,
        X=hapt.X[keep],
        y=np.array([TINY_CLASSES.index(hapt.class_names[i]) for i in hapt.y[keep]]),
        subject=hapt.subject[keep],
        fs_hz=hapt.fs_hz,
        class_names=np.array(TINY_CLASSES),
        channel_names=np.array(hapt.channel_names),
        test_subjects=np.array(TINY_TEST_SUBJECTS),
    )
    return path


@pytest.fixture(scope="session")
def tiny_home(tmp_path_factory):
    """A HARX_HOME holding uci-hapt and 'tiny' (see ``write_tiny_npz``), imported with
    `harx fetch --import`."""
    if not (SHARED / "uci-hapt.zip").is_file():
        pytest.skip(f"{SHARED / 'uci-hapt.zip'} is absent")
    from harx.cli.app import main
    from harx.data import fetch, load_dataset

    home = tmp_path_factory.mktemp("tiny-home")
    fetch("uci-hapt", file=SHARED / "uci-hapt.zip", home=home)
    npz = write_tiny_npz(load_dataset("uci-hapt", home=home), home / "tiny.npz")
    mp = pytest.MonkeyPatch()
    mp.setenv("HARX_HOME", str(home))
    try:
        main(["fetch", "--import", str(npz), "--name", "tiny", "--json"])
    finally:
        mp.undo()
    return home
