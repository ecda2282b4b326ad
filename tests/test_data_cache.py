"""fetch() into the cache and load_dataset() back: checksums, atomic replacement, versions, corruption."""

import hashlib
import json

import numpy as np
import pytest

from harx.data import cache, fetch, fetcher, load_dataset
from harx.errors import ConfigError, DataError
from tests.fixtures.har_archives import write_uci_har_zip, write_wisdm_tar


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tree(root):
    """Every file under root with its bytes, to prove nothing changed."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def har_zip(tmp_path):
    path = tmp_path / "har.zip"
    expected = write_uci_har_zip(path)
    return path, expected


def test_fetch_file_with_pinned_sha256_round_trips_through_load_dataset(tmp_path, har_zip):
    path, expected = har_zip
    home = tmp_path / "home"
    result = fetch("uci-har", file=path, home=home, sha256=_sha(path))
    assert result.verified is True and result.matched_archive == "pinned with --sha256"
    assert result.split_sizes == {"train": 24, "test": 12}
    assert result.split_subjects == {"train": [1, 3, 5, 6], "test": [2, 4]}
    ds = load_dataset("uci-har", home=home)
    np.testing.assert_array_equal(ds.X, expected.X)
    np.testing.assert_array_equal(ds.y, expected.y)
    np.testing.assert_array_equal(ds.subject, expected.subject)
    assert (ds.n_classes, ds.n_channels, ds.window, ds.fs_hz) == (6, 9, 128, 50.0)
    assert ds.test_subjects == (2, 4)
    assert ds.source_sha256 == _sha(path) and ds.fingerprint == result.fingerprint
    assert ds.cache_path == home / "datasets" / "uci-har"
    meta = json.loads((ds.cache_path / "meta.json").read_text())
    assert meta["format_version"] == cache.FORMAT_VERSION
    assert meta["source"]["verified"] is True and meta["source"]["kind"] == "file"
    assert meta["counts"]["windows"] == 36
    assert not [p for p in (home / "datasets").iterdir() if p.name.startswith(".")], "staging left behind"


def test_fingerprint_is_stable_and_tracks_preprocessing(tmp_path):
    path = tmp_path / "w.tar.gz"
    write_wisdm_tar(path)
    pin = _sha(path)
    a = fetch("wisdm", file=path, home=tmp_path / "a", sha256=pin)
    b = fetch("wisdm", file=path, home=tmp_path / "b", sha256=pin)
    c = fetch("wisdm", file=path, home=tmp_path / "c", sha256=pin, step=32)
    assert a.fingerprint == b.fingerprint
    assert c.fingerprint != a.fingerprint and c.n_windows > a.n_windows


def test_unknown_archive_from_file_is_refused_unless_trusted(tmp_path, har_zip):
    path, _ = har_zip
    home = tmp_path / "home"
    with pytest.raises(DataError, match=r"har\.zip: sha256 [0-9a-f]{64} is not a known archive of uci-har"):
        fetch("uci-har", file=path, home=home)
    assert not (home / "datasets" / "uci-har").exists()
    result = fetch("uci-har", file=path, home=home, trust_archive=True)
    assert result.verified is False and "UNVERIFIED" in result.warnings[0]
    meta = json.loads((home / "datasets" / "uci-har" / "meta.json").read_text())
    assert meta["source"]["verified"] is False and meta["source"]["sha256"] == _sha(path)


def test_wrong_pinned_checksum_creates_nothing(tmp_path, har_zip):
    path, _ = har_zip
    home = tmp_path / "home"
    with pytest.raises(
        DataError, match=r"har\.zip: wrong checksum: sha256 is [0-9a-f]{64}, --sha256 pinned 0{64}"
    ):
        fetch("uci-har", file=path, home=home, sha256="0" * 64)
    assert list((home / "datasets").iterdir()) == []


def test_failed_refetch_leaves_the_previous_entry_byte_identical(tmp_path, har_zip, monkeypatch):
    path, _ = har_zip
    home = tmp_path / "home"
    fetch("uci-har", file=path, home=home, sha256=_sha(path))
    before = _tree(home / "datasets")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setitem(fetcher.PARSERS, "uci-har", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fetch("uci-har", file=path, home=home, sha256=_sha(path))
    assert _tree(home / "datasets") == before


def test_interrupted_first_fetch_leaves_no_entry(tmp_path, har_zip, monkeypatch):
    path, _ = har_zip
    home = tmp_path / "home"

    def fail_while_writing(staging, data, meta):
        (staging / "entry").mkdir()
        (staging / "entry" / "data.npz").write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(cache, "write_entry", fail_while_writing)
    with pytest.raises(OSError, match="disk full"):
        fetch("uci-har", file=path, home=home, sha256=_sha(path))
    assert list((home / "datasets").iterdir()) == []


def test_refetch_replaces_the_entry(tmp_path):
    path = tmp_path / "w.tar.gz"
    write_wisdm_tar(path)
    home = tmp_path / "home"
    first = fetch("wisdm", file=path, home=home, sha256=_sha(path))
    second = fetch("wisdm", file=path, home=home, sha256=_sha(path), step=32)
    assert load_dataset("wisdm", home=home).fingerprint == second.fingerprint != first.fingerprint
    assert sorted(p.name for p in (home / "datasets").iterdir()) == ["wisdm"]


def test_newer_cache_format_is_refused_and_left_untouched(tmp_path, har_zip):
    path, _ = har_zip
    home = tmp_path / "home"
    fetch("uci-har", file=path, home=home, sha256=_sha(path))
    meta_path = home / "datasets" / "uci-har" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["format_version"] = cache.FORMAT_VERSION + 1
    meta_path.write_text(json.dumps(meta))
    before = _tree(home / "datasets")
    with pytest.raises(
        DataError, match=rf"meta\.json: cache format version {cache.FORMAT_VERSION + 1} is newer"
    ):
        load_dataset("uci-har", home=home)
    with pytest.raises(DataError, match=r"meta\.json: cache format version .* is newer"):
        fetch("uci-har", file=path, home=home, sha256=_sha(path))
    assert _tree(home / "datasets") == before


def test_damaged_data_is_detected_by_the_fingerprint(tmp_path, har_zip):
    path, _ = har_zip
    home = tmp_path / "home"
    fetch("uci-har", file=path, home=home, sha256=_sha(path))
    entry = home / "datasets" / "uci-har"
    with np.load(entry / "data.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["X"][0, 0, 0] += 1.0
    np.savez(entry / "data.npz", **arrays)
    with pytest.raises(DataError, match=r"data\.npz: contents do not match the fingerprint"):
        load_dataset("uci-har", home=home)
    (entry / "data.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match=r"data\.npz: unreadable cache data"):
        load_dataset("uci-har", home=home)


def test_load_of_a_missing_dataset_says_how_to_fetch_it(tmp_path):
    with pytest.raises(
        DataError, match=r"dataset 'uci-har' is not in the cache \(.*\); run `harx fetch uci-har`"
    ):
        load_dataset("uci-har", home=tmp_path)


def test_unwritable_cache_is_a_data_error_before_any_work(tmp_path, har_zip):
    path, _ = har_zip
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(DataError, match=r"cannot write the cache directory .*file/datasets"):
        fetch("uci-har", file=path, home=blocker, sha256=_sha(path))
    assert blocker.read_text() == "not a directory"


def test_window_options_do_not_apply_to_prewindowed_datasets(tmp_path, har_zip):
    path, _ = har_zip
    with pytest.raises(ConfigError, match="uci-har comes cut into 128-sample windows"):
        fetch("uci-har", file=path, home=tmp_path, window=64)
