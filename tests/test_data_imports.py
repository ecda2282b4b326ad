"""Users' own recordings: .npz windows and .csv streams, validated field by field."""

import numpy as np
import pytest

from harx.data import import_dataset, list_datasets, load_dataset, subject_split
from harx.errors import ConfigError, DataError


def _npz_fields(n=24, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "X": rng.normal(0, 1, (n, 3, 32)).astype(np.float32),
        "y": np.arange(n) % 3,
        "subject": np.repeat(np.arange(1, 7), n // 6),
        "fs_hz": np.float64(25.0),
        "class_names": np.array(["rest", "walk", "run"]),
    }


def _write_npz(path, **changes):
    fields = _npz_fields()
    for key, value in changes.items():
        if value is None:
            del fields[key]
        else:
            fields[key] = value
    np.savez(path, **fields)
    return path


def test_npz_import_behaves_like_a_builtin_dataset(tmp_path):
    path = _write_npz(tmp_path / "mine.npz", channel_names=np.array(["ax", "ay", "az"]))
    home = tmp_path / "home"
    result = import_dataset(path, "my-lab", home=home)
    assert result.verified is None and result.source_kind == "import"
    ds = load_dataset("my-lab", home=home)
    fields = _npz_fields()
    np.testing.assert_array_equal(ds.X, fields["X"])
    np.testing.assert_array_equal(ds.y, fields["y"])
    assert ds.class_names == ("rest", "walk", "run") and ds.channel_names == ("ax", "ay", "az")
    assert ds.fs_hz == 25.0 and ds.window == 32
    assert ds.test_subjects == (4,)  # every 4th subject by default
    split = subject_split(ds, n_val_subjects=2, seed=0)
    assert len(split.val_subjects) == 2 and 4 not in split.train_subjects + split.val_subjects
    listed = {d.name: d for d in list_datasets(home)}
    assert listed["my-lab"].cached == "yes" and listed["my-lab"].n_classes == 3


def test_npz_string_labels_and_stored_test_subjects(tmp_path):
    fields = _npz_fields()
    path = _write_npz(
        tmp_path / "s.npz",
        y=fields["class_names"][fields["y"]],
        test_subjects=np.array([1, 2]),
    )
    result = import_dataset(path, "strs", home=tmp_path / "home")
    assert result.split_subjects["test"] == [1, 2]
    np.testing.assert_array_equal(load_dataset("strs", home=tmp_path / "home").y, fields["y"])


BAD_NPZ = [
    ({"X": None}, "missing field 'X'"),
    ({"X": np.zeros((24, 32), np.float32)}, "field 'X' must be a non-empty \\(N, C, T\\) array"),
    ({"X": np.full((24, 3, 32), np.nan, np.float32)}, "field 'X' contains NaN"),
    ({"y": np.arange(24) % 4}, "field 'y' has label 3, outside 0..2"),
    ({"y": np.array(["rest"] * 23 + ["swim"])}, "field 'y' has label 'swim', which is not in 'class_names'"),
    ({"y": np.zeros(23, np.int64)}, "field 'y' must have shape \\(24,\\)"),
    ({"subject": np.linspace(1, 6, 24)}, "field 'subject' must be \\(24,\\) integers"),
    ({"subject": np.repeat([1, 2], 12)}, "field 'subject' has 2 distinct subjects"),
    ({"fs_hz": np.float64(-5.0)}, "field 'fs_hz' must be one positive number"),
    ({"fs_hz": None}, "missing field 'fs_hz'"),
    ({"class_names": np.array(["a", "a", "b"])}, "field 'class_names' must hold unique"),
    ({"channel_names": np.array(["ax", "ay"])}, "field 'channel_names' has 2 names for 3 entries"),
    ({"test_subjects": np.array([9])}, "field 'test_subjects' names subject 9, which has no window"),
    ({"test_subjects": np.array([1, 2, 3, 4, 5])}, "field 'test_subjects' leaves fewer than 2 subjects"),
    (
        {"class_names": np.array([{"a": 1}, {"b": 2}, {"c": 3}], dtype=object)},
        "field 'class_names' is an object",
    ),
]


@pytest.mark.parametrize(("changes", "message"), BAD_NPZ)
def test_bad_npz_field_is_a_one_line_error_naming_file_and_field(tmp_path, changes, message):
    path = _write_npz(tmp_path / "bad.npz", **changes)
    home = tmp_path / "home"
    with pytest.raises(DataError, match=message) as info:
        import_dataset(path, "bad", home=home)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)
    assert not (home / "datasets" / "bad").exists()


def _csv(rows, header="subject,session,label,timestamp,ax,ay"):
    return header + "\n" + "\n".join(rows) + "\n"


def _stream(subject, session, label, n, t0=0.0, fs=10.0):
    return [
        f"{subject},{session},{label},{t0 + i / fs:.3f},{subject + i * 0.01:.4f},{-i * 0.5:.3f}"
        for i in range(n)
    ]


def test_csv_stream_is_windowed_inside_subject_session_label_runs(tmp_path):
    rows = []
    for s in (1, 2, 3, 4):
        rows += _stream(s, "a", "walk", 50)  # 50 samples -> windows at 0, 10, 20, 30 (window 20, step 10)
        rows += _stream(s, "a", "sit", 25, t0=5.0)  # 25 -> 1 window
        rows += _stream(s, "b", "sit", 15, t0=100.0)  # too short
    rows += _stream(1, "c", "walk", 30, t0=200.0)[:12] + _stream(1, "c", "walk", 30, t0=260.0)[12:]  # gap
    path = tmp_path / "stream.csv"
    path.write_text(_csv(rows))
    home = tmp_path / "home"
    result = import_dataset(path, "lab", home=home, fs_hz=10.0, window=20, step=10)
    assert result.class_names == ["sit", "walk"]
    assert result.n_windows == 4 * (4 + 1) + 0  # the gapped run gives 12 + 18 samples: no window of 20
    ds = load_dataset("lab", home=home)
    assert ds.channel_names == ("ax", "ay") and ds.window == 20 and ds.fs_hz == 10.0
    first = ds.X[0]
    np.testing.assert_allclose(first[0], [1 + i * 0.01 for i in range(20)], rtol=1e-6)
    np.testing.assert_allclose(ds.X[1][1], [-i * 0.5 for i in range(10, 30)], rtol=1e-6)
    assert ds.test_subjects == (4,)


BAD_CSV = [
    ("session,label,ax\na,walk,1.0\n", 10.0, "header lacks the required column 'subject'"),
    ("subject,label\n1,walk\n", 10.0, "header has no channel column"),
    ("subject,label,ax\n1,walk,1.0\n1,walk,oops\n", 10.0, "line 3: field 'ax' 'oops' is not a number"),
    ("subject,label,ax\n1,walk,1.0\nx,walk,1.0\n", 10.0, "line 3: field 'subject' 'x' is not an integer"),
    ("subject,label,ax\n1,walk,1.0\n1,,1.0\n", 10.0, "line 3: field 'label' is empty"),
    ("subject,label,ax\n1,walk,1.0,2.0\n", 10.0, "line 2: 4 fields, the header has 3"),
    ("subject,label,ax\n1,walk,inf\n", 10.0, "line 2: field 'ax' is not finite"),
    ("subject,label,ax\n1,walk,1.0\n", None, "a CSV stream needs its sampling rate: pass --fs-hz"),
    ("subject,label,ax\n1,walk,1.0\n2,walk,1.0\n", 10.0, "field 'label' holds a single class"),
    ("subject,label,ax\n1,walk,1.0\n2,run,1.0\n", 10.0, "no segment .* is 20 samples long"),
]


@pytest.mark.parametrize(("text", "fs_hz", "message"), BAD_CSV)
def test_bad_csv_is_a_one_line_error_naming_file_and_field(tmp_path, text, fs_hz, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    home = tmp_path / "home"
    with pytest.raises(DataError, match=message) as info:
        import_dataset(path, "bad", home=home, fs_hz=fs_hz, window=20, step=10)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)
    assert not (home / "datasets" / "bad").exists()


def test_import_names_are_checked(tmp_path):
    path = _write_npz(tmp_path / "m.npz")
    with pytest.raises(ConfigError, match="'uci-har' is a built-in dataset"):
        import_dataset(path, "uci-har", home=tmp_path)
    with pytest.raises(ConfigError, match="use 1-64 lowercase letters"):
        import_dataset(path, "My Lab", home=tmp_path)
    (tmp_path / "m.txt").write_text("1")
    with pytest.raises(DataError, match=r"m\.txt: unsupported import format '\.txt'"):
        import_dataset(tmp_path / "m.txt", "x", home=tmp_path)
    with pytest.raises(DataError, match=r"missing\.npz: no such file"):
        import_dataset(tmp_path / "missing.npz", "x", home=tmp_path)
