"""Users' own recordings: an `.npz` of windows or a `.csv` sample stream, validated field by field.

The formats are documented in docs/import-format.md. Every problem is a one-line DataError naming the
file and the field (and, for a CSV, the line).
"""

from __future__ import annotations

import csv
import math
import re
import zipfile
import zlib
from array import array
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harx.data.archive import check_zip_method, over_limit, reason, unpacked_limit
from harx.data.cache import WindowedData
from harx.data.windowing import cut_windows, runs, segment_window_starts
from harx.errors import DataError

MIN_SUBJECTS = 3  # one each for train, validation and test
CSV_RESERVED = ("subject", "label", "session", "timestamp", "split")
SPLITS = ("train", "test")  # the values of an official split, per window (npz) or per row (csv)
DEFAULT_TEST_RULE = "default: every 4th subject"
# A timestamp step longer than this many sample periods is a gap that ends a segment.
CSV_MAX_GAP_PERIODS = 1.5
# Windows are stored as float32: a larger magnitude would become infinity.
FLOAT32_MAX = float(np.finfo(np.float32).max)
_INTEGER = re.compile(r"[+-]?[0-9]+")  # int() also takes '1_0' and non-ASCII digits; a label or id may not
_CHUNK_BYTES = 1 << 20


def default_test_subjects(subjects: np.ndarray) -> tuple[int, ...]:
    """Every 4th subject in ascending id order (4th, 8th, ...); the last one when there are fewer than 4."""
    ordered = np.unique(subjects)
    chosen = ordered[3::4] if len(ordered) >= 4 else ordered[-1:]
    return tuple(int(s) for s in chosen)


def split_test_subjects(label: str, subject: np.ndarray, split: np.ndarray) -> tuple[int, ...]:
    """The test subjects of an official split given per window or row (``split`` holds 'train' or 'test'):
    harx holds out whole subjects, so each subject must be on one side."""
    bad = sorted(set(np.unique(split).tolist()) - set(SPLITS))
    if bad:
        raise DataError(f"{label}: field 'split' has {bad[0]!r}; each entry must be 'train' or 'test'")
    test = np.unique(subject[split == "test"])
    both = np.intersect1d(test, np.unique(subject[split == "train"]))
    if len(both):
        raise DataError(
            f"{label}: field 'split': subject {int(both[0])} has both 'train' and 'test' entries; "
            "harx splits by subject, so give each subject one side (docs/import-format.md#official-splits)"
        )
    if not len(test):
        raise DataError(f"{label}: field 'split' marks no entry 'test'")
    return tuple(int(s) for s in test)


def _choose_test_subjects(
    subject: np.ndarray,
    given: tuple[int, ...] | None,
    from_file: tuple[tuple[int, ...], str] | None,
) -> tuple[tuple[int, ...], str]:
    """The test subjects and where they come from: --test-subjects, else the file's split, else the
    default rule."""
    if given is not None:
        return tuple(sorted(given)), "--test-subjects"
    if from_file is not None:
        return tuple(sorted(from_file[0])), from_file[1]
    return default_test_subjects(subject), DEFAULT_TEST_RULE


def _check_subjects(label: str, subject: np.ndarray, test_subjects: tuple[int, ...]) -> None:
    present = np.unique(subject)
    if len(present) < MIN_SUBJECTS:
        raise DataError(
            f"{label}: field 'subject' has {len(present)} distinct subjects; a subject-disjoint "
            f"train/validation/test split needs at least {MIN_SUBJECTS}"
        )
    unknown = sorted(set(test_subjects) - set(present.tolist()))
    if unknown:
        raise DataError(f"{label}: field 'test_subjects' names subject {unknown[0]}, which has no window")
    if len(present) - len(set(test_subjects)) < 2:
        raise DataError(
            f"{label}: field 'test_subjects' leaves fewer than 2 subjects for training and validation"
        )


def read_import(
    path: Path,
    *,
    fs_hz: float | None = None,
    window: int = 128,
    step: int = 64,
    test_subjects: tuple[int, ...] | None = None,
    max_unpacked_bytes: int | None = None,
) -> WindowedData:
    """Read and validate a user dataset: `.npz` windows or a `.csv` stream (windowed here).

    No `.npz` array may unpack to more than `max_unpacked_bytes` (see `harx.data.archive.unpacked_limit`).
    """
    path = Path(path)
    limit = unpacked_limit(max_unpacked_bytes)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if path.suffix.lower() == ".npz":
        if fs_hz is not None:
            raise DataError(f"{path}: an .npz import carries its own 'fs_hz'; drop --fs-hz")
        data = _read_npz(path, test_subjects, limit)
    elif path.suffix.lower() == ".csv":
        data = _read_csv(path, fs_hz, window, step, test_subjects)
    else:
        raise DataError(
            f"{path}: unsupported import format '{path.suffix}' (use .npz windows or a .csv stream)"
        )
    data.check(str(path))
    return data


class _Npz:
    """The `.npy` arrays of an `.npz` file, read without np.load: each array's zip entry and `.npy` header
    (shape and dtype) are checked against the limit and against each other before any data is read."""

    def __init__(self, path: Path, limit_bytes: int):
        self.label = str(path)
        self.limit_bytes = limit_bytes
        try:
            self._zip = zipfile.ZipFile(path)
        except (OSError, zipfile.BadZipFile) as exc:
            raise DataError(f"{self.label}: not a readable .npz file ({reason(exc)})") from exc
        self._infos = {i.filename[:-4]: i for i in self._zip.infolist() if i.filename.endswith(".npy")}

    def __enter__(self) -> _Npz:
        return self

    def __exit__(self, *exc: object) -> None:
        self._zip.close()

    def __contains__(self, key: str) -> bool:
        return key in self._infos

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self._infos:
            raise DataError(f"{self.label}: missing field '{key}'")
        info = self._infos[key]
        what = f"{self.label}: field '{key}'"
        check_zip_method(info, what)
        try:
            with self._zip.open(info) as fp:
                return self._read(fp, info.file_size, what)
        except (
            zipfile.BadZipFile,
            zlib.error,
            EOFError,
            OSError,
            RuntimeError,
        ) as exc:  # RuntimeError: encrypted
            raise DataError(f"{what} is corrupt ({reason(exc)})") from exc

    def _read(self, fp, member_bytes: int, what: str) -> np.ndarray:
        try:
            version = np.lib.format.read_magic(fp)
            if version == (1, 0):
                shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(fp)
            elif version == (2, 0):
                shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(fp)
            else:  # 3.0 only differs for structured dtypes with non-Latin-1 field names, refused anyway
                raise ValueError(f"format version {version[0]}.{version[1]} is not supported")
        except ValueError as exc:
            raise DataError(f"{what} is not a readable .npy array ({reason(exc)})") from exc
        if dtype.hasobject:
            raise DataError(f"{what} is an object array; store numbers or strings")
        count = math.prod(shape)
        data_bytes = count * dtype.itemsize
        if data_bytes > self.limit_bytes:
            raise over_limit(f"{what} (shape {shape}, {dtype})", data_bytes, self.limit_bytes)
        held = member_bytes - fp.tell()
        if held != data_bytes:
            raise DataError(
                f"{what} is truncated or corrupt: its .npy header claims {data_bytes:,} bytes of data "
                f"(shape {shape}, {dtype}), its zip entry holds {held:,}"
            )
        array = np.empty(count, dtype)
        view = memoryview(array.view(np.uint8)) if data_bytes else memoryview(b"")
        filled = 0
        while filled < data_bytes:
            got = fp.readinto(view[filled : filled + _CHUNK_BYTES])
            if not got:
                raise DataError(f"{what} is truncated: {filled:,} of {data_bytes:,} bytes of data")
            filled += got
        if fp.read(1):  # zipfile stops at the entry's size; this guards the bound, not zipfile
            raise DataError(f"{what} holds more data than its .npy header claims ({data_bytes:,} bytes)")
        return array.reshape(shape[::-1]).T if fortran_order else array.reshape(shape)


def _strings(label: str, key: str, values: np.ndarray, count: int | None = None) -> tuple[str, ...]:
    if values.ndim != 1 or values.dtype.kind != "U":
        raise DataError(
            f"{label}: field '{key}' must be a 1-D array of strings, got {values.dtype} {values.shape}"
        )
    names = tuple(str(v) for v in values)
    if count is not None and len(names) != count:
        raise DataError(f"{label}: field '{key}' has {len(names)} names for {count} entries")
    if any(not n.strip() for n in names) or len(set(names)) != len(names):
        raise DataError(f"{label}: field '{key}' must hold unique, non-empty names")
    return names


def _read_npz(path: Path, test_subjects: tuple[int, ...] | None, limit_bytes: int) -> WindowedData:
    label = str(path)
    with _Npz(path, limit_bytes) as npz:
        X = npz["X"]
        if X.ndim != 3 or 0 in X.shape:
            raise DataError(f"{label}: field 'X' must be a non-empty (N, C, T) array, got shape {X.shape}")
        if X.dtype.kind not in "fiu":
            raise DataError(f"{label}: field 'X' must be numeric, got {X.dtype}")
        if not np.isfinite(X).all():
            raise DataError(f"{label}: field 'X' contains NaN or infinite values")
        extreme = max(float(X.max()), -float(X.min()))
        if extreme > FLOAT32_MAX:
            raise DataError(
                f"{label}: field 'X' holds {extreme:.6g} in magnitude, beyond float32's range "
                f"(±{FLOAT32_MAX:.6g}) that windows are stored in"
            )
        n, n_channels = X.shape[0], X.shape[1]
        class_names = _strings(label, "class_names", npz["class_names"])
        if len(class_names) < 2:
            raise DataError(f"{label}: field 'class_names' must name at least 2 classes")
        y_raw = npz["y"]
        if y_raw.shape != (n,):
            raise DataError(f"{label}: field 'y' must have shape ({n},), got {y_raw.shape}")
        if y_raw.dtype.kind == "U":
            index = {c: i for i, c in enumerate(class_names)}
            unknown = sorted(set(y_raw.tolist()) - set(index))
            if unknown:
                raise DataError(f"{label}: field 'y' has label {unknown[0]!r}, which is not in 'class_names'")
            y = np.array([index[v] for v in y_raw.tolist()], dtype=np.int64)
        elif y_raw.dtype.kind in "iu":
            y = y_raw.astype(np.int64)
            if y.min() < 0 or y.max() >= len(class_names):
                raise DataError(
                    f"{label}: field 'y' has label {int(y.min() if y.min() < 0 else y.max())}, outside "
                    f"0..{len(class_names) - 1} (one per 'class_names' entry)"
                )
        else:
            raise DataError(
                f"{label}: field 'y' must hold integer class indices or class-name strings, got {y_raw.dtype}"
            )
        subject = npz["subject"]
        if subject.shape != (n,) or subject.dtype.kind not in "iu":
            raise DataError(
                f"{label}: field 'subject' must be ({n},) integers, got {subject.dtype} {subject.shape}"
            )
        subject = subject.astype(np.int64)
        fs = npz["fs_hz"]
        if (
            fs.shape not in ((), (1,))
            or fs.dtype.kind not in "fiu"
            or not math.isfinite(float(fs.item()))
            or fs.item() <= 0
        ):
            raise DataError(f"{label}: field 'fs_hz' must be one positive number (the sampling rate in Hz)")
        channel_names = (
            _strings(label, "channel_names", npz["channel_names"], n_channels)
            if "channel_names" in npz
            else tuple(f"ch{i}" for i in range(n_channels))
        )
        from_file = None
        if "test_subjects" in npz and "split" in npz:
            raise DataError(f"{label}: fields 'test_subjects' and 'split' both give the test set; keep one")
        if "test_subjects" in npz:
            stored = npz["test_subjects"]
            if stored.ndim != 1 or stored.dtype.kind not in "iu":
                raise DataError(f"{label}: field 'test_subjects' must be a 1-D array of subject ids")
            from_file = (tuple(int(s) for s in stored), "field 'test_subjects'")
        if "split" in npz:
            split = npz["split"]
            if split.shape != (n,) or split.dtype.kind != "U":
                raise DataError(f"{label}: field 'split' must be ({n},) strings 'train' or 'test'")
            from_file = (split_test_subjects(label, subject, split), "field 'split'")
    chosen, chosen_by = _choose_test_subjects(subject, test_subjects, from_file)
    _check_subjects(label, subject, chosen)
    return WindowedData(
        X=np.ascontiguousarray(X, dtype=np.float32),
        y=y,
        subject=subject,
        class_names=class_names,
        channel_names=channel_names,
        fs_hz=float(fs.item()),
        test_subjects=chosen,
        preprocessing={"parser": "import-npz", "window": int(X.shape[2])},
        report={"test_subjects_from": chosen_by},
    )


def _read_csv(
    path: Path, fs_hz: float | None, window: int, step: int, test_subjects: tuple[int, ...] | None
) -> WindowedData:
    label = str(path)
    if fs_hz is None or not math.isfinite(fs_hz) or fs_hz <= 0:
        raise DataError(f"{label}: a CSV stream needs its sampling rate: pass --fs-hz (a positive number)")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: drop a byte order mark
            stream = _read_csv_rows(label, csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{label}: not a readable UTF-8 CSV file ({reason(exc)})") from exc
    subject = stream.subject
    class_names = tuple(
        sorted(stream.label_names, key=lambda s: (0, int(s), s) if _INTEGER.fullmatch(s) else (1, 0, s))
    )
    if len(class_names) < 2:
        raise DataError(f"{label}: field 'label' holds a single class; at least 2 are needed")
    class_of_code = np.array([class_names.index(n) for n in stream.label_names], dtype=np.int64)
    y_rows = class_of_code[stream.label_code]
    gap = None
    if stream.timestamp_s is not None:
        gap = np.zeros(len(subject), dtype=bool)
        period_s = np.diff(stream.timestamp_s)
        gap[1:] = (period_s <= 0) | (period_s > CSV_MAX_GAP_PERIODS / fs_hz)
    seg_start, seg_end = runs([subject, stream.session_code, y_rows], breaks=gap)
    starts = segment_window_starts(seg_start, seg_end, window, step)
    if not len(starts):
        raise DataError(f"{label}: no segment (one subject, session and label) is {window} samples long")
    win_subject = subject[starts[:, 0]]
    from_file = None
    if stream.split is not None:
        from_file = (split_test_subjects(label, subject, stream.split), "column 'split'")
    chosen, chosen_by = _choose_test_subjects(win_subject, test_subjects, from_file)
    _check_subjects(label, win_subject, chosen)
    return WindowedData(
        X=cut_windows(stream.values, starts[:, 0], window),
        y=y_rows[starts[:, 0]],
        subject=win_subject,
        class_names=class_names,
        channel_names=stream.channel_names,
        fs_hz=float(fs_hz),
        test_subjects=chosen,
        preprocessing={"parser": "import-csv", "window": window, "step": step},
        report={"samples": len(subject), "segments": len(seg_start), "test_subjects_from": chosen_by},
    )


@dataclass(frozen=True)
class _CsvStream:
    """A CSV's columns, one entry per sample row."""

    subject: np.ndarray  # int64
    label_code: np.ndarray  # int64, index into label_names
    label_names: tuple[str, ...]  # in order of first appearance
    session_code: np.ndarray  # int64, equal for rows of one session
    timestamp_s: np.ndarray | None  # float64; None without a timestamp column
    split: np.ndarray | None  # 'train' or 'test' per row; None without a split column
    values: np.ndarray  # float64 (rows, channels)
    channel_names: tuple[str, ...]


def _read_csv_rows(label: str, reader) -> _CsvStream:
    """Read the rows one by one into compact arrays (8 bytes per value, not a Python object per field)."""
    header = [h.strip() for h in next(reader, [])]
    if not header:
        raise DataError(f"{label}: empty file (expected a header line)")
    for required in ("subject", "label"):
        if required not in header:
            raise DataError(f"{label}: header lacks the required column '{required}'")
    if len(set(header)) != len(header) or "" in header:
        raise DataError(f"{label}: header has an empty or repeated column name")
    channels = [h for h in header if h not in CSV_RESERVED]
    if not channels:
        raise DataError(
            f"{label}: header has no channel column (every column besides {', '.join(CSV_RESERVED)})"
        )
    col = {h: i for i, h in enumerate(header)}
    numeric = [(name, col[name]) for name in channels]
    subject, label_codes, session_codes, split_codes = array("q"), array("q"), array("q"), array("q")
    stamps, values = array("d"), array("d")
    label_index: dict[str, int] = {}
    session_index: dict[str, int] = {}
    for line, row in enumerate(reader, start=2):
        if len(row) != len(header):
            raise DataError(f"{label} line {line}: {len(row)} fields, the header has {len(header)}")
        text = row[col["subject"]].strip()
        if not _INTEGER.fullmatch(text) or abs(int(text)) >= 2**63:
            raise DataError(f"{label} line {line}: field 'subject' {text!r} is not an integer (64-bit)")
        subject.append(int(text))
        text = row[col["label"]].strip()
        if not text:
            raise DataError(f"{label} line {line}: field 'label' is empty")
        label_codes.append(label_index.setdefault(text, len(label_index)))
        text = row[col["session"]].strip() if "session" in col else ""
        session_codes.append(session_index.setdefault(text, len(session_index)))
        if "split" in col:
            text = row[col["split"]].strip()
            if text not in SPLITS:
                raise DataError(f"{label} line {line}: field 'split' {text!r} is not 'train' or 'test'")
            split_codes.append(SPLITS.index(text))
        for name, i in numeric:
            values.append(_csv_number(label, line, name, row[i], FLOAT32_MAX))
        if "timestamp" in col:
            stamps.append(_csv_number(label, line, "timestamp", row[col["timestamp"]], math.inf))
    if not subject:
        raise DataError(f"{label}: no sample rows after the header")
    return _CsvStream(
        subject=np.frombuffer(subject, dtype=np.int64),
        label_code=np.frombuffer(label_codes, dtype=np.int64),
        label_names=tuple(label_index),
        session_code=np.frombuffer(session_codes, dtype=np.int64),
        timestamp_s=np.frombuffer(stamps, dtype=np.float64) if "timestamp" in col else None,
        split=np.array(SPLITS)[np.frombuffer(split_codes, dtype=np.int64)] if "split" in col else None,
        values=np.frombuffer(values, dtype=np.float64).reshape(len(subject), len(channels)),
        channel_names=tuple(channels),
    )


def _csv_number(label: str, line: int, name: str, text: str, max_magnitude: float) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise DataError(f"{label} line {line}: field '{name}' {text!r} is not a number") from exc
    if not math.isfinite(value):
        raise DataError(f"{label} line {line}: field '{name}' is not finite")
    if abs(value) > max_magnitude:
        raise DataError(
            f"{label} line {line}: field '{name}' {text!r} is beyond float32's range "
            f"(±{max_magnitude:.6g}) that windows are stored in"
        )
    return value
