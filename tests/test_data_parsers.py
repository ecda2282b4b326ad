"""The four archive parsers on small fixtures written in the official formats."""

import numpy as np
import pytest

from harx.data.registry import get_spec
from harx.data.uci import parse_uci_hapt, parse_uci_har
from harx.data.unimib import parse_unimib
from harx.data.windowing import runs, segment_window_starts
from harx.data.wisdm import parse_wisdm
from harx.errors import DataError
from tests.fixtures.har_archives import (
    UNIMIB_CLASSES,
    hapt_expected,
    write_uci_hapt_zip,
    write_uci_har_zip,
    write_unimib_zip,
    write_wisdm_tar,
)


def _assert_matches(data, expected):
    np.testing.assert_array_equal(data.X, expected.X)
    np.testing.assert_array_equal(data.y, expected.y)
    np.testing.assert_array_equal(data.subject, expected.subject)
    assert data.class_names == expected.class_names
    assert data.test_subjects == expected.test_subjects
    assert data.X.dtype == np.float32 and data.y.dtype == np.int64 and data.subject.dtype == np.int64


@pytest.mark.parametrize("nested", [False, True], ids=["plain-zip", "static-outer-zip"])
def test_uci_har_reads_inertial_signals_in_channel_order(tmp_path, nested):
    path = tmp_path / "har.zip"
    expected = write_uci_har_zip(path, nested=nested)
    data = parse_uci_har(path, get_spec("uci-har"), 128, None)
    _assert_matches(data, expected)
    assert data.channel_names[:3] == ("body_acc_x", "body_acc_y", "body_acc_z")
    assert data.channel_names[6:] == ("total_acc_x", "total_acc_y", "total_acc_z")
    data.check("fixture")


def test_uci_har_missing_signal_file_names_the_member(tmp_path):
    path = tmp_path / "har.zip"
    write_uci_har_zip(path, drop_member="body_gyro_y_test.txt")
    with pytest.raises(DataError, match=r"har\.zip: missing member '.*body_gyro_y_test\.txt'"):
        parse_uci_har(path, get_spec("uci-har"), 128, None)


@pytest.mark.parametrize("classes", [12, 6])
def test_uci_hapt_windows_stay_inside_labelled_segments(tmp_path, classes):
    path = tmp_path / "hapt.zip"
    fixture = write_uci_hapt_zip(path)
    data = parse_uci_hapt(path, get_spec("uci-hapt", classes=classes), 128, 64)
    expected = hapt_expected(fixture, classes)
    _assert_matches(data, expected)
    # The fixture has windows of transitions only in the 12-class variant, and short segments yield none.
    assert (data.y >= 6).any() == (classes == 12)
    data.check("fixture")


def test_uci_hapt_window_and_step_are_parameters(tmp_path):
    path = tmp_path / "hapt.zip"
    fixture = write_uci_hapt_zip(path)
    data = parse_uci_hapt(path, get_spec("uci-hapt"), 100, 50)
    _assert_matches(data, hapt_expected(fixture, 12, window=100, step=50))
    assert data.preprocessing == {"parser": "uci-hapt", "classes": 12, "window": 100, "step": 50}


def test_wisdm_skips_malformed_records_and_splits_at_gaps(tmp_path):
    path = tmp_path / "WISDM_ar_latest.tar.gz"
    expected = write_wisdm_tar(path)
    data = parse_wisdm(path, get_spec("wisdm"), 128, 64)
    _assert_matches(data, expected)
    skipped = data.report["skipped_records"]
    # Per user and activity run: empty value, missing field, extra field -> 3 malformed; 1 zero timestamp;
    # 1 duplicated line. 4 users x 2 runs.
    assert skipped == {"malformed": 24, "zero_timestamp": 8, "duplicate_timestamp": 8}
    assert data.report["segments"] == 4 * 3  # Walking, Jogging before and after the 5 s gap


def test_wisdm_unknown_activity_is_an_error_naming_the_line(tmp_path):
    import io
    import tarfile

    raw = b"1,Walking,100,1.0,2.0,3.0;\n1,Swimming,150,1.0,2.0,3.0;\n"
    path = tmp_path / "w.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("WISDM_ar_v1.1/WISDM_ar_v1.1_raw.txt")
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
    with pytest.raises(DataError, match=r"line 2: unknown activity 'Swimming'"):
        parse_wisdm(path, get_spec("wisdm"), 128, 64)


@pytest.mark.parametrize(
    ("name", "label_ids"),
    [("unimib-shar", range(1, 18)), ("unimib-shar-adl", range(1, 10)), ("unimib-shar-fall", range(10, 18))],
)
def test_unimib_reads_mat_windows_x_then_y_then_z(tmp_path, name, label_ids):
    path = tmp_path / "UniMiB-SHAR.zip"
    fixture = write_unimib_zip(path)
    spec = get_spec(name)
    data = parse_unimib(path, spec, 151, None)
    keep = np.isin(fixture["labels"][:, 0], list(label_ids))
    np.testing.assert_array_equal(data.X, fixture["windows"][keep].astype(np.float32))
    np.testing.assert_array_equal(data.y, fixture["labels"][keep, 0] - min(label_ids))
    np.testing.assert_array_equal(data.subject, fixture["labels"][keep, 1])
    assert data.class_names == UNIMIB_CLASSES[min(label_ids) - 1 : max(label_ids)]
    assert data.test_subjects == (2, 3)  # of the published test subjects, the fixture has 2 and 3
    data.check("fixture")


def test_unimib_missing_labels_file_names_the_member(tmp_path):
    import zipfile

    full = tmp_path / "full.zip"
    write_unimib_zip(full)
    path = tmp_path / "UniMiB-SHAR.zip"
    with zipfile.ZipFile(full) as src, zipfile.ZipFile(path, "w") as dst:
        for name in src.namelist():
            if not name.endswith("acc_labels.mat"):
                dst.writestr(name, src.read(name))
    with pytest.raises(DataError, match=r"UniMiB-SHAR\.zip: missing member 'data/acc_labels\.mat'"):
        parse_unimib(path, get_spec("unimib-shar"), 151, None)


def test_window_starts_never_cross_a_segment():
    starts = segment_window_starts(np.array([0, 300, 1000]), np.array([299, 427, 1100]), 128, 64)
    # 300 samples -> 3 windows; exactly 128 -> 1; 101 -> none.
    assert starts.tolist() == [[0, 0], [64, 0], [128, 0], [300, 1]]


def test_runs_split_on_key_changes_and_breaks():
    a = np.array([1, 1, 1, 2, 2, 2])
    b = np.array([0, 0, 1, 1, 1, 1])
    breaks = np.array([False, False, False, False, True, False])
    start, end = runs([a, b], breaks=breaks)
    assert start.tolist() == [0, 2, 3, 4] and end.tolist() == [1, 2, 3, 5]
