"""`harx fetch` on bad input: one-line errors naming the file, non-zero exits, the cache left intact."""

import hashlib
import json
import os

import pytest

from harx.cli.app import main
from tests.fixtures.har_archives import write_uci_har_zip, write_unimib_zip, write_wisdm_tar


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tree(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def harx(capsys, *args):
    """Run the CLI in-process; returns (exit code, stdout, stderr)."""
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A fresh HARX_HOME with a good uci-har entry already cached, and no mirror."""
    home = tmp_path / "home"
    monkeypatch.setenv("HARX_HOME", str(home))
    monkeypatch.delenv("HARX_DATA_MIRROR", raising=False)
    good = tmp_path / "good.zip"
    write_uci_har_zip(good)
    return home, good


def _cache_with_entry(capsys, home, good):
    code, _, err = harx(capsys, "fetch", "uci-har", "--file", str(good), "--sha256", _sha(good))
    assert code == 0, err
    return _tree(home / "datasets")


def _one_line_error(err, *fragments):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def _corrupt(good, path):
    data = bytearray(good.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)
    path.write_bytes(bytes(data))


def _truncated(good, path):
    path.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])


def _garbage(good, path):
    path.write_bytes(b"this is not an archive at all\n" * 100)


def _missing_member(good, path):
    write_uci_har_zip(path, drop_member="y_test.txt")


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (_corrupt, "is corrupt"),
        (_truncated, "truncated or corrupt zip archive"),
        (_garbage, "not a readable zip or tar archive"),
        (_missing_member, "missing member 'UCI HAR Dataset/test/y_test.txt'"),
    ],
    ids=["corrupt-member", "truncated", "garbage", "missing-member"],
)
def test_bad_archive_fails_in_one_line_and_keeps_the_old_entry(capsys, tmp_path, env, make, fragment):
    home, good = env
    before = _cache_with_entry(capsys, home, good)
    bad = tmp_path / "bad.zip"
    make(good, bad)
    code, out, err = harx(capsys, "fetch", "uci-har", "--file", str(bad), "--sha256", _sha(bad))
    assert code == 3 and out == ""
    _one_line_error(err, str(bad), fragment)
    assert _tree(home / "datasets") == before


def test_wrong_checksum_fails_and_keeps_the_old_entry(capsys, tmp_path, env):
    home, good = env
    before = _cache_with_entry(capsys, home, good)
    code, _, err = harx(capsys, "fetch", "uci-har", "--file", str(good), "--sha256", "ab" * 32)
    assert code == 3
    _one_line_error(err, str(good), "wrong checksum", "ab" * 32)
    assert _tree(home / "datasets") == before


def test_mirror_archive_with_an_unknown_checksum_is_refused(capsys, tmp_path, env, monkeypatch):
    home, good = env
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "uci-har.zip").write_bytes(good.read_bytes())
    monkeypatch.setenv("HARX_DATA_MIRROR", str(mirror))
    code, _, err = harx(capsys, "fetch", "uci-har")
    assert code == 3
    _one_line_error(err, str(mirror / "uci-har.zip"), "wrong checksum", "expected one of c00b803081a5c797")
    assert not (home / "datasets" / "uci-har").exists()


def test_file_with_an_unknown_checksum_needs_sha256_or_trust(capsys, env):
    home, good = env
    code, _, err = harx(capsys, "fetch", "uci-har", "--file", str(good))
    assert code == 3
    _one_line_error(err, str(good), "not a known archive of uci-har", "--sha256", "--trust-archive")
    assert not (home / "datasets" / "uci-har").exists()
    code, _, err = harx(capsys, "fetch", "uci-har", "--file", str(good), "--trust-archive")
    assert code == 0 and "WARNING: UNVERIFIED archive" in err


def test_missing_archive_file(capsys, tmp_path, env):
    code, _, err = harx(capsys, "fetch", "uci-har", "--file", str(tmp_path / "nope.zip"))
    assert code == 3
    _one_line_error(err, str(tmp_path / "nope.zip"), "no such archive file")


def test_unknown_dataset_name(capsys, env):
    home, _ = env
    code, _, err = harx(capsys, "fetch", "uci-harr")
    assert code == 4
    _one_line_error(err, "unknown dataset 'uci-harr'", "uci-har, uci-hapt")
    assert not (home / "datasets").exists()


def test_unwritable_cache_directory(capsys, tmp_path, env, monkeypatch):
    _, good = env
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the cache should be")
    monkeypatch.setenv("HARX_HOME", str(blocker / "harx"))
    code, _, err = harx(capsys, "fetch", "uci-har", "--file", str(good), "--sha256", _sha(good))
    assert code == 3
    _one_line_error(err, "cannot write the cache directory", str(blocker / "harx" / "datasets"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_cache_directory(capsys, env):
    home, good = env
    before = _cache_with_entry(capsys, home, good)
    (home / "datasets").chmod(0o500)
    try:
        code, _, err = harx(capsys, "fetch", "uci-har", "--file", str(good), "--sha256", _sha(good))
    finally:
        (home / "datasets").chmod(0o700)
    assert code == 3
    _one_line_error(err, "cannot write the cache directory", str(home / "datasets"))
    assert _tree(home / "datasets") == before


def test_newer_cache_format_is_refused(capsys, env):
    home, good = env
    _cache_with_entry(capsys, home, good)
    meta_path = home / "datasets" / "uci-har" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["format_version"] = 99
    meta_path.write_text(json.dumps(meta))
    before = _tree(home / "datasets")
    code, _, err = harx(capsys, "fetch", "uci-har", "--file", str(good), "--sha256", _sha(good))
    assert code == 3
    _one_line_error(err, str(meta_path), "format version 99 is newer")
    assert _tree(home / "datasets") == before
    code, out, _ = harx(capsys, "fetch", "--list", "--json")
    assert code == 0
    assert {r["name"]: r["cached"] for r in json.loads(out)}["uci-har"] == "newer format"


def test_json_summary_and_list(capsys, env):
    home, good = env
    code, out, _ = harx(capsys, "fetch", "uci-har", "--file", str(good), "--sha256", _sha(good), "--json")
    assert code == 0
    summary = json.loads(out)
    assert summary["name"] == "uci-har" and summary["cache_path"] == str(home / "datasets" / "uci-har")
    assert summary["archive_sha256"] == _sha(good) and summary["split_sizes"] == {"train": 24, "test": 12}
    assert summary["n_channels"] == 9 and summary["window"] == 128 and len(summary["class_names"]) == 6
    code, out, _ = harx(capsys, "fetch", "--list", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["uci-har"]["cached"] == "yes" and rows["wisdm"]["cached"] == "no"
    assert rows["uci-hapt-6"]["fetch_command"] == "uci-hapt --classes 6"
    assert rows["unimib-shar-fall"]["n_classes"] == 8
    code, out, _ = harx(capsys, "fetch", "--list")
    assert code == 0 and "unimib-shar-adl = fetch unimib-shar --subset adl" in " ".join(out.split())


def test_variant_options(capsys, tmp_path, env):
    home, _ = env
    tar = tmp_path / "WISDM_ar_latest.tar.gz"
    write_wisdm_tar(tar)
    code, _, err = harx(capsys, "fetch", "wisdm", "--file", str(tar), "--classes", "6")
    assert code == 4
    _one_line_error(err, "--classes does not apply to dataset 'wisdm'")
    code, _, err = harx(capsys, "fetch", "uci-hapt", "--classes", "7")
    assert code == 4
    _one_line_error(err, "--classes 7 is not offered for 'uci-hapt' (choose 12 or 6)")
    unimib = tmp_path / "UniMiB-SHAR.zip"
    write_unimib_zip(unimib)
    code, out, err = harx(
        capsys, "fetch", "unimib-shar", "--subset", "fall", "--file", str(unimib), "--trust-archive", "--json"
    )
    assert code == 0, err
    assert json.loads(out)["name"] == "unimib-shar-fall" and (home / "datasets" / "unimib-shar-fall").is_dir()


def test_import_through_the_cli(capsys, tmp_path, env):
    home, _ = env
    assert not (home / "datasets").exists()
    csv = tmp_path / "mine.csv"
    rows = [f"{s},{lab},{i * 0.1:.2f}" for s in (1, 2, 3) for lab in ("a", "b") for i in range(40)]
    csv.write_text("subject,label,acc\n" + "\n".join(rows) + "\n")
    code, out, err = harx(
        capsys, "fetch", "--import", str(csv), "--name", "mine", "--fs-hz", "20", "--window", "16", "--step", "8",
        "--test-subjects", "3", "--json",
    )  # fmt: skip
    assert code == 0, err
    summary = json.loads(out)
    assert summary["split_subjects"] == {"train": [1, 2], "test": [3]}
    assert summary["n_windows"] == 3 * 2 * 4  # 40 samples -> 4 windows of 16 every 8
    code, _, err = harx(capsys, "fetch", "--import", str(csv))
    assert code == 4
    _one_line_error(err, "--import needs --name")
