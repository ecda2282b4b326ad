"""Issue 18's bad inputs, kept as regressions: each is refused by the CLI with one stderr line naming the file
and the field or member, the documented exit code (3 data, 4 config, 5 store), no traceback, no leaked
warning, nothing written; or, where the input is valid after all (a BOM, odd label text), it is read.

Bombs are built by hand (tests/fixtures/bombs.py): lying headers over tiny payloads, and honest members of
deflated zeros that inflate to megabytes against a lowered limit, or to 300 MiB against the default one.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import tracemalloc
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from harx.cli.app import main
from harx.data import import_dataset
from harx.data.archive import DEFAULT_MAX_UNPACKED_BYTES, Archive, read_capped
from harx.deploy.synthetic import random_model
from harx.errors import ConfigError, DataError, StoreError
from harx.quant.adaptive import (
    ALWAYS,
    AdaptiveModel,
    ModeRule,
    check_adaptive_dir,
    load_adaptive,
    save_adaptive,
)
from harx.quant.artifact import Artifact
from harx.quant.artifact import save as save_artifact
from harx.search import load_recipe, parse_recipe
from harx.search.recipe import MAX_POPULATION_ENV
from harx.store import Store
from tests.fixtures.bombs import deflated, npy, npy_header, npz_fields, stored, write_zip
from tests.test_adapt_memory import _early_exit
from tests.test_pareto import build_store

ROOT = Path(__file__).resolve().parents[1]
MiB = 1 << 20
LABELS = "UCI HAR Dataset/activity_labels.txt"  # the first member the uci-har parser reads
MARKER = "UCI HAR Dataset/train/y_train.txt"  # the member that tells the parser where the dataset starts


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("HARX_HOME", str(home))
    monkeypatch.delenv("HARX_MAX_UNPACKED_MIB", raising=False)
    monkeypatch.delenv("HARX_DATA_MIRROR", raising=False)
    return home


def harx(capsys, *args: str) -> tuple[int, str, str]:
    """Run the CLI in-process: (exit code, stdout, stderr); fails on any warning raised on the way."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = exc.code
    assert not caught, [str(w.message) for w in caught]
    out, err = capsys.readouterr()
    return code, out, err


def refused(capsys, code: int, *args: str) -> str:
    """The one stderr line of a CLI call that must exit with `code` (nothing else on stderr, not even a blank
    line)."""
    got, out, err = harx(capsys, *args)
    lines = err.splitlines()
    assert got == code and out == "" and len(lines) == 1 and lines[0].startswith("error: "), (got, out, err)
    return lines[0]


def no_entry(home: Path, name: str) -> bool:
    return not (home / "datasets" / name).exists()


def peak_traced_bytes(fn) -> tuple[BaseException | None, int]:
    """Run `fn`; return what it raised and the peak of Python's traced allocations (bytes) while it ran."""
    tracemalloc.start()
    raised = None
    try:
        fn()
    except Exception as exc:
        raised = exc
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return raised, peak


# ---- .npz imports: sizes from the headers --------------------------------------------------------------


def _npz(path: Path, x_member) -> Path:
    return write_zip(path, [x_member, *npz_fields()])


def test_npz_claiming_petabytes_is_refused_from_its_header(capsys, tmp_path, home):
    path = _npz(tmp_path / "pb.npz", stored("X.npy", npy_header((10**9, 9, 125_000)) + bytes(64)))
    line = refused(capsys, 3, "fetch", "--import", path, "--name", "pb")
    assert f"{path}: field 'X' (shape (1000000000, 9, 125000), float32) unpacks to 4.0 PiB" in line
    assert "over the 256 MiB limit" in line and "--max-unpacked-mib" in line
    assert no_entry(home, "pb")


def test_npz_claiming_gigabytes_is_refused_for_its_size_not_as_an_object_array(capsys, tmp_path, home):
    path = _npz(tmp_path / "gb.npz", stored("X.npy", npy_header((1_000_000, 9, 128)) + bytes(64)))
    line = refused(capsys, 3, "fetch", "--import", path, "--name", "gb")
    assert f"{path}: field 'X' (shape (1000000, 9, 128), float32) unpacks to 4.3 GiB" in line
    assert "object" not in line
    # With the limit raised, the header is still checked against the data its zip entry holds.
    line = refused(capsys, 3, "fetch", "--import", path, "--name", "gb", "--max-unpacked-mib", "8192")
    assert f"{path}: field 'X' is truncated or corrupt: its .npy header claims 4,608,000,000 bytes" in line
    assert "its zip entry holds 64" in line
    assert no_entry(home, "gb")


def test_npz_array_over_a_lowered_limit_is_refused_before_it_is_read(capsys, tmp_path, home, monkeypatch):
    x = deflated("X.npy", npy_header((1024, 8, 128)), zeros=4 * MiB)  # 4 MiB of float32 zeros, honestly
    path = _npz(tmp_path / "big.npz", x)
    expected = f"{path}: field 'X' (shape (1024, 8, 128), float32) unpacks to 4 MiB, over the 1 MiB limit"
    assert expected in refused(
        capsys, 3, "fetch", "--import", path, "--name", "big", "--max-unpacked-mib", "1"
    )
    monkeypatch.setenv("HARX_MAX_UNPACKED_MIB", "1")
    assert expected in refused(capsys, 3, "fetch", "--import", path, "--name", "big")
    raised, peak = peak_traced_bytes(lambda: import_dataset(path, "big", home, max_unpacked_bytes=MiB))
    assert isinstance(raised, DataError) and peak < MiB // 2
    assert no_entry(home, "big")
    # The limit itself is checked: a bad value is a config error (exit 4).
    monkeypatch.setenv("HARX_MAX_UNPACKED_MIB", "lots")
    line = refused(capsys, 4, "fetch", "--import", path, "--name", "big")
    assert "$HARX_MAX_UNPACKED_MIB 'lots': expected a positive whole number of MiB" in line
    line = refused(capsys, 4, "fetch", "--import", path, "--name", "big", "--max-unpacked-mib", "0")
    assert "--max-unpacked-mib 0" in line


def test_npz_array_over_the_default_limit_is_refused_without_inflating(tmp_path, home):
    x = deflated("X.npy", npy_header((300, 1024, 256)), zeros=300 * MiB)  # honest: 300 MiB of zeros
    path = _npz(tmp_path / "huge.npz", x)
    assert path.stat().st_size < 2 * MiB and 300 * MiB > DEFAULT_MAX_UNPACKED_BYTES
    raised, peak = peak_traced_bytes(lambda: import_dataset(path, "huge", home))
    assert isinstance(raised, DataError) and "unpacks to 300 MiB, over the 256 MiB limit" in str(raised)
    assert peak < MiB // 2  # nothing was inflated: the .npy header alone decided
    assert no_entry(home, "huge")


def test_npz_entry_that_inflates_past_its_header_stops_at_the_header(capsys, tmp_path, home):
    # Zip and .npy headers agree on 64 KiB; the deflate data holds 64 MiB.
    x = deflated("X.npy", npy_header((16, 8, 128)), zeros=64 * MiB, claimed_size=128 + 64 * 1024)
    path = _npz(tmp_path / "liar.npz", x)
    line = refused(capsys, 3, "fetch", "--import", path, "--name", "liar")
    assert f"{path}: field 'X' is corrupt (Bad CRC-32" in line
    raised, peak = peak_traced_bytes(lambda: import_dataset(path, "liar", home))
    assert isinstance(raised, DataError) and peak < 4 * MiB  # one read chunk, not the 64 MiB
    assert no_entry(home, "liar")


def test_npz_entry_compressed_with_bzip2_is_refused_by_name(capsys, tmp_path, home):
    path = tmp_path / "bz.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_BZIP2) as zf:
        buffer = io.BytesIO()
        np.save(buffer, np.zeros((24, 3, 32), np.float32))
        zf.writestr("X.npy", buffer.getvalue())
    line = refused(capsys, 3, "fetch", "--import", path, "--name", "bz")
    assert (
        f"{path}: field 'X' is compressed with bzip2; harx reads stored or deflated zip members only" in line
    )


def test_npz_object_array_is_still_named_as_one(capsys, tmp_path, home):
    path = _npz(tmp_path / "obj.npz", stored("X.npy", npy_header((24, 3, 32), "|O") + bytes(64)))
    line = refused(capsys, 3, "fetch", "--import", path, "--name", "obj")
    assert f"{path}: field 'X' is an object array; store numbers or strings" in line


def test_npz_fortran_order_and_big_endian_arrays_read_back(tmp_path, home):
    rng = np.random.default_rng(0)
    X = np.asfortranarray(rng.normal(0, 1, (24, 3, 32)).astype(">f8"))
    path = write_zip(tmp_path / "f.npz", [npy("X", X), *npz_fields()])
    import_dataset(path, "f", home)
    with np.load(home / "datasets" / "f" / "data.npz") as cached:
        np.testing.assert_array_equal(cached["X"], X.astype(np.float32))


# ---- values that float32 cannot hold -------------------------------------------------------------------


def test_float64_beyond_float32_in_an_npz_names_the_field(capsys, tmp_path, home):
    X = np.zeros((24, 3, 32))
    X[5, 1, 7] = 1e300
    path = write_zip(tmp_path / "wide.npz", [npy("X", X), *npz_fields()])
    line = refused(capsys, 3, "fetch", "--import", path, "--name", "wide")
    assert f"{path}: field 'X' holds 1e+300 in magnitude, beyond float32's range" in line
    assert no_entry(home, "wide")


def _csv_rows(labels=("walk", "sit"), subjects=(1, 2, 3, 4), n=8) -> list[str]:
    return [f"{s},{lab},{i * 0.5}" for s in subjects for lab in labels for i in range(n)]


def test_float64_beyond_float32_in_a_csv_names_the_line_and_field(capsys, tmp_path, home):
    rows = _csv_rows()
    rows[3] = "1,walk,1e300"
    path = tmp_path / "wide.csv"
    path.write_text("subject,label,ax\n" + "\n".join(rows) + "\n")
    line = refused(capsys, 3, "fetch", "--import", path, "--name", "wide", "--fs-hz", "10")
    assert f"{path} line 5: field 'ax' '1e300' is beyond float32's range" in line


def test_no_traceback_or_warning_reaches_stderr_of_a_real_process(tmp_path):
    """The two inputs that once leaked a traceback and a numpy warning, through a fresh interpreter."""
    wide = np.zeros((24, 3, 32))
    wide[0, 0, 0] = -1e300
    cases = {
        "pb.npz": [stored("X.npy", npy_header((10**9, 9, 125_000)) + bytes(64)), *npz_fields()],
        "wide.npz": [npy("X", wide), *npz_fields()],
    }
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HARX_HOME": str(tmp_path / "home")}
    env.pop("HARX_MAX_UNPACKED_MIB", None)
    for name, members in cases.items():
        path = write_zip(tmp_path / name, members)
        cmd = [sys.executable, "-W", "always", "-m", "harx", "fetch", "--import", str(path), "--name", "x"]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == 3 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert str(path) in proc.stderr and "field 'X'" in proc.stderr


# ---- CSV text ------------------------------------------------------------------------------------------


def test_csv_with_a_byte_order_mark_is_read(capsys, tmp_path, home):
    path = tmp_path / "bom.csv"
    path.write_text("subject,label,ax\n" + "\n".join(_csv_rows()) + "\n", encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbfsubject")
    args = ("fetch", "--import", path, "--name", "bom", "--fs-hz", "10", "--window", "4", "--step", "4")
    code, out, err = harx(capsys, *args, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["channels"] == ["ax"] and result["class_names"] == ["sit", "walk"]


def test_csv_labels_that_only_look_like_integers_sort_as_text(capsys, tmp_path, home):
    labels = ("--2", "²", "10", "2", "-1")
    path = tmp_path / "labels.csv"
    path.write_text("subject,label,ax\n" + "\n".join(_csv_rows(labels)) + "\n")
    args = ("fetch", "--import", path, "--name", "labels", "--fs-hz", "10", "--window", "4", "--step", "4")
    code, out, err = harx(capsys, *args, "--json")
    assert code == 0, err
    assert json.loads(out)["class_names"] == ["-1", "2", "10", "--2", "²"]


@pytest.mark.parametrize("subject", ["²", "٣", "1_0", "99999999999999999999"])
def test_csv_subject_must_be_an_ascii_64_bit_integer(capsys, tmp_path, home, subject):
    rows = _csv_rows()
    rows[2] = f"{subject},walk,0.0"
    path = tmp_path / "subj.csv"
    path.write_text("subject,label,ax\n" + "\n".join(rows) + "\n")
    line = refused(capsys, 3, "fetch", "--import", path, "--name", "subj", "--fs-hz", "10")
    assert f"{path} line 4: field 'subject' {subject!r} is not an integer (64-bit)" in line


# ---- archives (harx fetch NAME --file) -----------------------------------------------------------------


def _archive(path: Path, labels_member) -> Path:
    return write_zip(path, [stored(MARKER, b"1\n"), labels_member])


def test_archive_member_over_a_lowered_limit_is_refused_from_the_central_directory(capsys, tmp_path, home):
    path = _archive(tmp_path / "bomb.zip", deflated(LABELS, zeros=4 * MiB))
    args = ("fetch", "uci-har", "--file", path, "--trust-archive", "--max-unpacked-mib", "1")
    line = refused(capsys, 3, *args)
    assert f"{path}: member '{LABELS}' unpacks to 4 MiB, over the 1 MiB limit" in line
    assert no_entry(home, "uci-har")


def test_archive_member_over_the_default_limit_is_refused_without_inflating(capsys, tmp_path, home):
    path = _archive(tmp_path / "bomb.zip", deflated(LABELS, zeros=300 * MiB))
    assert path.stat().st_size < 2 * MiB
    line = refused(capsys, 3, "fetch", "uci-har", "--file", path, "--trust-archive")
    assert f"{path}: member '{LABELS}' unpacks to 300 MiB, over the 256 MiB limit" in line
    archive = Archive.open(path, MARKER)
    raised, peak = peak_traced_bytes(lambda: archive.read(LABELS))
    assert isinstance(raised, DataError) and peak < MiB // 2
    assert no_entry(home, "uci-har")


def test_archive_member_that_inflates_past_its_central_directory_size_stops_there(capsys, tmp_path, home):
    path = _archive(tmp_path / "liar.zip", deflated(LABELS, zeros=64 * MiB, claimed_size=64 * 1024))
    line = refused(capsys, 3, "fetch", "uci-har", "--file", path, "--trust-archive")
    assert f"{path}: member '{LABELS}' is corrupt (Bad CRC-32" in line
    archive = Archive.open(path, MARKER)
    raised, peak = peak_traced_bytes(lambda: archive.read(LABELS))
    assert isinstance(raised, DataError) and peak < 4 * MiB  # one read chunk, not the 64 MiB


def test_reading_stops_as_soon_as_the_limit_is_passed():
    """Whatever a header claimed, no more than limit + 1 bytes are taken from the stream."""
    stream = io.BytesIO(bytes(5 * MiB))
    with pytest.raises(DataError, match="x: member 'm' unpacks to more than the 1 MiB limit"):
        read_capped(stream, MiB, "x: member 'm'")
    assert stream.tell() == MiB + 1
    assert read_capped(io.BytesIO(b"abc"), 3, "x") == b"abc"


def test_archive_member_compressed_with_bzip2_is_refused_by_name(capsys, tmp_path, home):
    path = tmp_path / "bz.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_BZIP2) as zf:
        zf.writestr(MARKER, "1\n")
        zf.writestr(LABELS, "1 WALKING\n")
    line = refused(capsys, 3, "fetch", "uci-har", "--file", path, "--trust-archive")
    assert f"{path}: member '{LABELS}' is compressed with bzip2" in line


def test_tar_member_over_the_limit_is_refused_while_listing(capsys, tmp_path, home):
    import tarfile

    path = tmp_path / "wisdm.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        for name, size in (
            ("WISDM_ar_v1.1/readme.txt", 10),
            ("WISDM_ar_v1.1/WISDM_ar_v1.1_raw.txt", 2 * MiB),
        ):
            info = tarfile.TarInfo(name)
            info.size = size
            tf.addfile(info, io.BytesIO(bytes(size)))
    args = ("fetch", "wisdm", "--file", path, "--trust-archive", "--max-unpacked-mib", "1")
    line = refused(capsys, 3, *args)
    assert (
        f"{path}: member 'WISDM_ar_v1.1/WISDM_ar_v1.1_raw.txt' unpacks to 2 MiB, over the 1 MiB limit" in line
    )


# ---- the candidate store -------------------------------------------------------------------------------


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _corrupt_middle_page(path: Path) -> None:
    """Random bytes over the b-tree header and cell pointers of the store's middle page."""
    data = bytearray(path.read_bytes())
    page_bytes = int.from_bytes(data[16:18], "big")
    page_bytes = 65536 if page_bytes == 1 else page_bytes
    offset = (len(data) // page_bytes // 2) * page_bytes
    data[offset : offset + 64] = np.random.default_rng(0).bytes(64)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("command", [["--dataset", "uci-har"], ["--resume", "1"]], ids=["new-run", "resume"])
def test_corrupt_store_is_refused_before_anything_is_written(capsys, tmp_path, home, command):
    store = tmp_path / "store" / "store.sqlite"
    store.parent.mkdir()
    build_store(store)
    _corrupt_middle_page(store)
    before = _files(store.parent)
    line = refused(capsys, 5, "search", *command, "--store", store)
    assert f"{store}: store is corrupt (SQLite quick_check: " in line and "refused untouched" in line
    assert _files(store.parent) == before  # the file's bytes, and no side file left behind
    with pytest.raises(StoreError, match="store is corrupt"):
        Store(store)
    assert _files(store.parent) == before


def test_read_only_store_is_read_and_never_written(capsys, tmp_path):
    store = tmp_path / "store.sqlite"
    ids = build_store(store)
    store.chmod(0o444)  # root ignores this; mode=ro is what keeps the file unwritten
    before = store.read_bytes()
    code, out, err = harx(capsys, "pareto", "list", "--store", store, "--run", ids["run1"], "--json")
    assert code == 0, err
    assert json.loads(out)["points"]
    with Store(store, readonly=True) as s:
        assert [r.id for r in s.runs()] == [ids["run1"], ids["run2"]]
        with pytest.raises(StoreError, match=f"{store}: the store was opened read-only"):
            s.create_run({"name": "x"}, seed=0)
        with pytest.raises(sqlite3.OperationalError, match="readonly"):  # SQLite itself refuses too
            s._conn.execute("DELETE FROM runs")
    assert store.read_bytes() == before


_AS_NOBODY = """
import json, sys
from harx.errors import StoreError
from harx.store import Store
path, found = sys.argv[1], {}
with Store(path, readonly=True) as s:
    found["runs"] = len(s.runs())
try:
    Store(path)
except StoreError as exc:
    found["write_error"] = str(exc)
print(json.dumps(found))
"""


def _can_run_as_nobody() -> bool:
    if os.geteuid() != 0 or not shutil.which("runuser") or not Path("/usr/bin/python3").exists():
        return False
    probe = ["runuser", "-u", "nobody", "--", "/usr/bin/python3", "-c", "import sqlite3, harx.store"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(probe, env=env, capture_output=True, timeout=60).returncode == 0


@pytest.mark.skipif(
    not _can_run_as_nobody(), reason="needs root, runuser, /usr/bin/python3 and a world-readable checkout"
)
def test_store_in_a_folder_nobody_may_write_is_read_but_not_opened_for_writing(tmp_path):
    """The real read-only case, which root cannot see: a 0444 WAL store in a 0555 folder, opened by 'nobody'.
    SQLite cannot create its -shm file there; harx reads the file as immutable and refuses to write."""
    folder = Path(tempfile.mkdtemp(prefix="harx-ro-", dir="/tmp"))
    try:
        store = folder / "store.sqlite"
        build_store(store)
        store.chmod(0o444)
        folder.chmod(0o555)
        before = _files(folder)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        cmd = ["runuser", "-u", "nobody", "--", "/usr/bin/python3", "-c", _AS_NOBODY, str(store)]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        found = json.loads(proc.stdout)
        assert found["runs"] == 2
        assert found["write_error"].startswith(f"{store}: the store is read-only to you")
        assert _files(folder) == before
    finally:
        folder.chmod(0o755)
        shutil.rmtree(folder)


def test_resume_with_a_missing_store_creates_nothing(capsys, tmp_path, home):
    missing = tmp_path / "missing.sqlite"
    line = refused(capsys, 5, "search", "--resume", "1", "--store", missing)
    assert line == f"error: {missing}: no candidate store here"
    assert list(tmp_path.glob("missing.sqlite*")) == []  # neither the store nor a -wal/-shm/-journal
    empty = tmp_path / "empty.sqlite"
    empty.touch()
    line = refused(capsys, 5, "search", "--resume", "1", "--store", empty)
    assert line == f"error: {empty}: no candidate store here (an empty file)"
    assert [p.name for p in tmp_path.glob("empty.sqlite*")] == ["empty.sqlite"] and empty.stat().st_size == 0
    with pytest.raises(StoreError, match="no candidate store here"):
        Store(missing, create=False)
    assert not missing.exists()


# ---- recipes: limits, key paths, and what only the dataset can tell ------------------------------------

TINY_RECIPE = {
    "name": "bad",
    "dataset": "har-mini",
    "space": {"max_blocks": 1, "channels": [4], "kernels": [3], "heads": ["gap"]},
    "search": {"population": 4, "offspring": 4, "generations": 1},
    "proxy": {"folds": 2, "training": {"epochs_float": 1, "epochs_qat": 1}},
}


def _recipe(tmp_path: Path, **patch) -> Path:
    data = {**TINY_RECIPE, **patch}
    path = tmp_path / "recipes" / "x.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(data))
    return path


def _runs(store: Path) -> list[tuple[int, str]]:
    with Store(store, readonly=True) as s:
        return [(r.id, r.status) for r in s.runs()]


@pytest.mark.parametrize("key", ["population", "offspring"])
def test_a_population_over_the_limit_is_refused_before_anything_is_allocated(
    capsys, tmp_path, home, monkeypatch, key
):
    monkeypatch.delenv(MAX_POPULATION_ENV, raising=False)
    recipe = _recipe(tmp_path, search={"population": 4, "offspring": 4, key: 100_000_000})
    store = tmp_path / "store.sqlite"
    line = refused(capsys, 4, "search", "--recipe", recipe, "--store", store)
    assert line == (
        f"error: {recipe}: search.{key}: 100,000,000 individuals is over the limit of 1,000 "
        "(set $HARX_MAX_POPULATION to raise it)"
    )
    assert not store.exists()
    raised, peak = peak_traced_bytes(lambda: load_recipe(recipe))
    assert isinstance(raised, ConfigError) and peak < MiB
    # The command line's --population is held to the same limit.
    ok = _recipe(tmp_path)
    line = refused(capsys, 4, "search", "--recipe", ok, "--population", 1001, "--store", store)
    assert "search.population: 1,001 individuals is over the limit of 1,000" in line
    # The limit is documented and configurable; a bad value of it is itself a config error.
    monkeypatch.setenv(MAX_POPULATION_ENV, "2000")
    assert (
        getattr(load_recipe(_recipe(tmp_path, search={"population": 1500, "offspring": 1500})).search, key)
        == 1500
    )
    monkeypatch.setenv(MAX_POPULATION_ENV, "lots")
    line = refused(capsys, 4, "search", "--recipe", ok, "--store", store)
    assert line == "error: $HARX_MAX_POPULATION 'lots': expected a whole number of at least 4"
    assert not store.exists()


@pytest.mark.parametrize(
    ("training", "key", "problem"),
    [
        ({"epochs_float": -3}, "proxy.training.epochs_float", "must be a non-negative number, got -3"),
        ({"lr": -0.1}, "proxy.training.lr", "must be a non-negative number, got -0.1"),
        ({"batch_size": 0}, "proxy.training.batch_size", "must be at least 1"),
        (
            {"epochs_float": 0, "epochs_qat": 0},
            "proxy.training",
            "training settings 'epochs_float' + 'epochs_qat' must be at least 1",
        ),
    ],
)
def test_a_bad_training_setting_names_the_recipe_file_and_key_path(
    capsys, tmp_path, home, training, key, problem
):
    recipe = _recipe(tmp_path, proxy={"folds": 2, "training": training})
    store = tmp_path / "store.sqlite"
    assert (
        refused(capsys, 4, "search", "--recipe", recipe, "--store", store)
        == f"error: {recipe}: {key}: {problem}"
    )
    assert not store.exists()
    refine = _recipe(tmp_path, refine={"training": training})
    line = refused(capsys, 4, "search", "--recipe", refine, "--store", store)
    assert line == f"error: {refine}: {key.replace('proxy', 'refine')}: {problem}"


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        (
            {"proxy": {"folds": 50}},
            "proxy.folds: 50 folds, but dataset 'har-mini' has 21 training subjects (2 to 21 folds)",
        ),
        (
            {"refine": {"val_subjects": 21}},
            "refine.val_subjects: 21 held out, but dataset 'har-mini' has 21 training subjects "
            "(0 to 20 can be held out)",
        ),
        (
            {"proxy": {"folds": 2, "training": {"backend": "fpga"}}},
            "proxy.training.backend: unknown quantization backend 'fpga'; choose one of torch, qtorch",
        ),
    ],
    ids=["folds", "val-subjects", "backend"],
)
def test_what_only_the_dataset_can_tell_is_refused_before_the_run_row(
    capsys, tmp_path, in_har_home, patch, message
):
    """These once failed every candidate (stored as failed with a traceback) and exited 0."""
    recipe = _recipe(tmp_path, **patch)
    store = tmp_path / "store.sqlite"
    build_store(store)
    before = _runs(store)
    assert refused(capsys, 4, "search", "--recipe", recipe, "--store", store) == f"error: {recipe}: {message}"
    assert _runs(store) == before


def test_an_unknown_dataset_leaves_no_run_row(capsys, tmp_path, home):
    recipe = _recipe(tmp_path, dataset="nope")
    store = tmp_path / "store.sqlite"
    build_store(store)
    before = _runs(store)
    line = refused(capsys, 3, "search", "--recipe", recipe, "--store", store)
    assert line.startswith("error: dataset 'nope' is not in the cache") and "harx fetch nope" in line
    assert _runs(store) == before
    # A resumed run whose dataset is gone is left as it was, not marked running or failed.
    with Store(store) as s:
        run = s.create_run(dict(parse_recipe(TINY_RECIPE | {"dataset": "nope"}, "x").to_dict()), seed=0)
        s.finish_run(run.id, "interrupted")
        attempts = s.get_run(run.id).attempts
    line = refused(capsys, 3, "search", "--resume", run.id, "--store", store)
    assert line.startswith("error: dataset 'nope' is not in the cache")
    with Store(store, readonly=True) as s:
        assert (s.get_run(run.id).status, s.get_run(run.id).attempts) == ("interrupted", attempts)


# ---- output paths: checked before any work -------------------------------------------------------------


GENOME = "c8k5p2w8a8-c8k3p2w4a4-gapw8"


def _artifact_dir(tmp_path: Path, dataset: str = "har-mini") -> Path:
    """A saved artifact of random integer weights for 9 x 128 windows, 6 classes (no training)."""
    model = random_model(GENOME, 9, 128, 6)
    art = Artifact(model, GENOME, dataset, "", [0.0] * 9, [1.0] * 9, [str(i) for i in range(6)])
    return save_artifact(art, tmp_path / "art")


@pytest.fixture
def afile(tmp_path, monkeypatch) -> Path:
    """A regular file in the working directory, so that 'afile/sub' is a path below a file."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("mine")
    return Path("afile")


def test_pareto_outputs_below_a_file_or_at_the_root_are_refused(capsys, tmp_path, afile):
    store = tmp_path / "store.sqlite"
    build_store(store)
    cases = [
        ("plot", "-o", "afile/sub.png", "--out afile/sub.png: afile is a regular file, not a directory"),
        ("plot", "-o", "afile/sub.html", "--out afile/sub.html: afile is a regular file, not a directory"),
        ("export", "-o", "afile/sub", "--out afile/sub: afile is a regular file, not a directory"),
        ("export", "-o", "/", "--out /: is a directory; give the path of a file to write"),
        (
            "export",
            "-o",
            str(tmp_path),
            f"--out {tmp_path}: is a directory; give the path of a file to write",
        ),
    ]
    for command, flag, path, message in cases:
        assert refused(capsys, 4, "pareto", command, "--store", store, flag, path) == f"error: {message}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "store.sqlite"]
    assert Path("afile").read_text() == "mine"
    # a folder that does not exist yet is made
    code, _, err = harx(capsys, "pareto", "export", "--store", store, "-o", "new/dir/front.md")
    assert code == 0 and Path("new/dir/front.md").read_text().startswith("|"), err


def test_deploy_and_export_below_a_file_are_refused(capsys, tmp_path, afile):
    art = _artifact_dir(tmp_path, "synthetic")  # not even its dataset is read
    line = refused(capsys, 4, "deploy", "--artifact", art, "--target", "host", "-o", "afile/sub")
    assert line == "error: --out afile/sub: afile is a regular file, not a directory"
    line = refused(capsys, 4, "deploy", "--artifact", art, "--target", "host", "-o", "afile")
    assert line == "error: --out afile: exists and is not a directory"
    line = refused(capsys, 4, "export", "--artifact", art, "-o", "afile/m.onnx")
    assert line == "error: --out afile/m.onnx: afile is a regular file, not a directory"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "art"]


@pytest.fixture
def no_training(monkeypatch):
    def trainer(*args, **kwargs):
        raise AssertionError("adapt trained before checking its outputs")

    monkeypatch.setattr("harx.adapt.pipeline.train_early_exit", trainer)


def test_adapt_outputs_are_checked_before_training(capsys, tmp_path, in_har_home, afile, no_training):
    adapt = ("adapt", "--genome", GENOME, "--dataset", "har-mini", "--exit-after", "1")
    line = refused(capsys, 4, *adapt, "-o", "afile/sub")
    assert line == "error: --out afile/sub: afile is a regular file, not a directory"
    line = refused(capsys, 4, *adapt, "--plot", "afile/modes.png")
    assert line == "error: --plot afile/modes.png: afile is a regular file, not a directory"
    line = refused(capsys, 4, *adapt, "--plot", ".")
    assert line == "error: --plot .: is a directory; give the path of a file to write"
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    line = refused(capsys, 4, *adapt, "-o", foreign)
    assert line == (
        f"error: --out {foreign}: exists and is not an adaptive model harx generated (notes.txt is in it, "
        "adaptive.json is not); choose another directory"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "mine"]


# ---- rewriting a folder harx generated: its manifest, and --force -----------------------------------------


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_redeploy_keeps_the_users_files_unless_forced(capsys, tmp_path, in_har_home):
    art = _artifact_dir(tmp_path)
    out = tmp_path / "c"
    deploy = ("deploy", "--artifact", art, "--target", "host", "-o", out, "--windows", "3", "--json")
    code, _, err = harx(capsys, *deploy)
    assert code == 0, err
    generated = _tree(out)
    manifest = json.loads(generated.pop("harx_project.json"))["files"]
    assert manifest == {name: hashlib.sha256(data).hexdigest() for name, data in generated.items()}
    # An untouched project with build outputs is replaced, build outputs and all.
    (out / "build" / "host").mkdir(parents=True)
    (out / "build" / "host" / "main.o").write_bytes(b"\x7fELF")
    code, _, err = harx(capsys, *deploy)
    assert code == 0 and not (out / "build").exists(), err
    # The user's own file, then an edited generated one: refused, naming the first, nothing touched.
    (out / "notes.txt").write_text("my notes")
    before = _tree(out)
    line = refused(capsys, 4, *deploy)
    assert line == (
        f"error: --out {out}: notes.txt is not a file harx generated; move it away, or give --force to "
        "overwrite harx's files and keep the rest"
    )
    assert _tree(out) == before
    (out / "main.c").write_text(generated["main.c"].decode() + "/* my edit */\n")
    before = _tree(out)
    line = refused(capsys, 4, *deploy)
    assert line.startswith(
        f"error: --out {out}: main.c was generated by harx and edited since (and 1 more); "
    )
    assert _tree(out) == before and sorted(p.name for p in tmp_path.iterdir()) == ["art", "c"]
    # --force: harx's files are written again (the edit overwritten), the user's file is kept.
    code, _, err = harx(capsys, *deploy, "--force")
    assert code == 0, err
    after = _tree(out)
    assert after["notes.txt"] == b"my notes" and after["main.c"] == generated["main.c"]
    assert json.loads(after.pop("harx_project.json"))["files"] == manifest  # the user's file is not harx's
    assert after == {**generated, "notes.txt": b"my notes"}
    # A project from before manifests cannot tell its files from the user's: refused unless forced.
    meta = json.loads((out / "harx_project.json").read_text())
    del meta["files"]
    (out / "harx_project.json").write_text(json.dumps(meta))
    line = refused(capsys, 4, *deploy)
    assert line.startswith(
        f"error: {out / 'harx_project.json'}: lists no generated files (written by an older harx)"
    )


def test_an_adaptive_model_directory_keeps_the_users_files_unless_forced(tmp_path):
    adaptive = AdaptiveModel(
        "early_exit", _early_exit(GENOME, 9, 128, 6, after=0), (ModeRule("margin", ALWAYS),)
    )
    path = save_adaptive(adaptive, tmp_path / "a")
    saved = _tree(path)
    assert set(json.loads(saved["adaptive.json"])["files"]) == set(saved) - {"adaptive.json"}
    save_adaptive(adaptive, path)  # its own, untouched: replaced
    (path / "notes.txt").write_text("mine")
    with pytest.raises(
        ConfigError, match=r"--out .*/a: notes\.txt is not a file harx generated; move it away"
    ):
        check_adaptive_dir(path)
    with pytest.raises(ConfigError, match=r"notes\.txt is not a file harx generated"):
        save_adaptive(adaptive, path)
    (path / "model" / "model.json").write_text("{}")
    with pytest.raises(
        ConfigError, match=r"model/model.json was generated by harx and edited since \(and 1 more\)"
    ):
        save_adaptive(adaptive, path)
    save_adaptive(adaptive, path, force=True)
    after = _tree(path)
    assert after["notes.txt"] == b"mine" and after["model/model.json"] == saved["model/model.json"]
    assert load_adaptive(path)[0].modes == adaptive.modes
