"""Users' own recordings: an `.npz` of windows or a `.csv` sample stream, validated field by field.

The formats are documented in docs/import-format.md. Every problem is a one-line DataError naming the
file and the field (and, for a CSV, the line).
"""

from __future__ import annotations

import csv
import math
import zipfile
from pathlib import Path

import numpy as np

from harx.data.archive import reason
from harx.data.cache import WindowedData
from harx.data.windowing import cut_windows, runs, segment_window_starts
from harx.errors import DataError

MIN_SUBJECTS = 3  # one each for train, validation and test
CSV_RESERVED = ("subject", "label", "session", "timestamp")
# A timestamp step longer than this many sample periods is a gap that ends a segment.
CSV_MAX_GAP_PERIODS = 1.5


def default_test_subjects(subjects: np.ndarray) -> tuple[int, ...]:
    """Every 4th subject in ascending id order (4th, 8th, ...); the last one when there are fewer than 4."""
    ordered = np.unique(subjects)
    chosen = ordered[3::4] if len(ordered) >= 4 else ordered[-1:]
    return tuple(int(s) for s in chosen)


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
) -> WindowedData:
    """Read and validate a user dataset: `.npz` windows or a `.csv` stream (windowed here)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if path.suffix.lower() == ".npz":
        if fs_hz is not None:
            raise DataError(f"{path}: an .npz import carries its own 'fs_hz'; drop --fs-hz")
        data = _read_npz(path, test_subjects)
    elif path.suffix.lower() == ".csv":
        data = _read_csv(path, fs_hz, window, step, test_subjects)
    else:
        raise DataError(
            f"{path}: unsupported import format '{path.suffix}' (use .npz windows or a .csv stream)"
        )
    data.check(str(path))
    return data


def _field(npz, label: str, key: str) -> np.ndarray:
    if key not in npz.files:
        raise DataError(f"{label}: missing field '{key}'")
    try:
        return npz[key]
    except ValueError as exc:
        raise DataError(f"{label}: field '{key}' is an object array; store numbers or strings") from exc


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


def _read_npz(path: Path, test_subjects: tuple[int, ...] | None) -> WindowedData:
    label = str(path)
    try:
        npz = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{label}: not a readable .npz file ({reason(exc)})") from exc
    with npz:
        X = _field(npz, label, "X")
        if X.ndim != 3 or 0 in X.shape:
            raise DataError(f"{label}: field 'X' must be a non-empty (N, C, T) array, got shape {X.shape}")
        if X.dtype.kind not in "fiu":
            raise DataError(f"{label}: field 'X' must be numeric, got {X.dtype}")
        if not np.isfinite(X).all():
            raise DataError(f"{label}: field 'X' contains NaN or infinite values")
        n, n_channels = X.shape[0], X.shape[1]
        class_names = _strings(label, "class_names", _field(npz, label, "class_names"))
        if len(class_names) < 2:
            raise DataError(f"{label}: field 'class_names' must name at least 2 classes")
        y_raw = _field(npz, label, "y")
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
        subject = _field(npz, label, "subject")
        if subject.shape != (n,) or subject.dtype.kind not in "iu":
            raise DataError(
                f"{label}: field 'subject' must be ({n},) integers, got {subject.dtype} {subject.shape}"
            )
        fs = _field(npz, label, "fs_hz")
        if (
            fs.shape not in ((), (1,))
            or fs.dtype.kind not in "fiu"
            or not math.isfinite(float(fs.item()))
            or fs.item() <= 0
        ):
            raise DataError(f"{label}: field 'fs_hz' must be one positive number (the sampling rate in Hz)")
        channel_names = (
            _strings(label, "channel_names", npz["channel_names"], n_channels)
            if "channel_names" in npz.files
            else tuple(f"ch{i}" for i in range(n_channels))
        )
        if "test_subjects" in npz.files:
            stored = npz["test_subjects"]
            if stored.ndim != 1 or stored.dtype.kind not in "iu":
                raise DataError(f"{label}: field 'test_subjects' must be a 1-D array of subject ids")
            if test_subjects is None:
                test_subjects = tuple(int(s) for s in stored)
    subject = subject.astype(np.int64)
    chosen = tuple(sorted(test_subjects)) if test_subjects is not None else default_test_subjects(subject)
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
    )


def _read_csv(
    path: Path, fs_hz: float | None, window: int, step: int, test_subjects: tuple[int, ...] | None
) -> WindowedData:
    label = str(path)
    if fs_hz is None or not math.isfinite(fs_hz) or fs_hz <= 0:
        raise DataError(f"{label}: a CSV stream needs its sampling rate: pass --fs-hz (a positive number)")
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{label}: not a readable UTF-8 CSV file ({reason(exc)})") from exc
    if not rows:
        raise DataError(f"{label}: empty file (expected a header line)")
    header = [h.strip() for h in rows[0]]
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
    body = rows[1:]
    if not body:
        raise DataError(f"{label}: no sample rows after the header")
    subject = np.empty(len(body), dtype=np.int64)
    labels: list[str] = []
    sessions: list[str] = []
    stamps = np.empty(len(body), dtype=np.float64)
    values = np.empty((len(body), len(channels)), dtype=np.float64)
    for i, row in enumerate(body):
        line = i + 2
        if len(row) != len(header):
            raise DataError(f"{label} line {line}: {len(row)} fields, the header has {len(header)}")
        try:
            subject[i] = int(row[col["subject"]])
        except ValueError as exc:
            raise DataError(
                f"{label} line {line}: field 'subject' {row[col['subject']]!r} is not an integer"
            ) from exc
        text = row[col["label"]].strip()
        if not text:
            raise DataError(f"{label} line {line}: field 'label' is empty")
        labels.append(text)
        sessions.append(row[col["session"]].strip() if "session" in col else "")
        for j, name in enumerate(channels + (["timestamp"] if "timestamp" in col else [])):
            try:
                value = float(row[col[name]])
            except ValueError as exc:
                raise DataError(
                    f"{label} line {line}: field '{name}' {row[col[name]]!r} is not a number"
                ) from exc
            if not math.isfinite(value):
                raise DataError(f"{label} line {line}: field '{name}' is not finite")
            if name == "timestamp":
                stamps[i] = value
            else:
                values[i, j] = value
    class_names = tuple(
        sorted(set(labels), key=lambda s: (0, int(s), s) if s.lstrip("-").isdigit() else (1, 0, s))
    )
    if len(class_names) < 2:
        raise DataError(f"{label}: field 'label' holds a single class; at least 2 are needed")
    class_index = {c: i for i, c in enumerate(class_names)}
    y_rows = np.array([class_index[v] for v in labels], dtype=np.int64)
    session_ids = np.unique(np.array(sessions), return_inverse=True)[1]
    gap = None
    if "timestamp" in col:
        gap = np.zeros(len(body), dtype=bool)
        period_s = np.diff(stamps)
        gap[1:] = (period_s <= 0) | (period_s > CSV_MAX_GAP_PERIODS / fs_hz)
    seg_start, seg_end = runs([subject, session_ids, y_rows], breaks=gap)
    starts = segment_window_starts(seg_start, seg_end, window, step)
    if not len(starts):
        raise DataError(f"{label}: no segment (one subject, session and label) is {window} samples long")
    win_subject = subject[starts[:, 0]]
    chosen = tuple(sorted(test_subjects)) if test_subjects is not None else default_test_subjects(win_subject)
    _check_subjects(label, win_subject, chosen)
    return WindowedData(
        X=cut_windows(values, starts[:, 0], window),
        y=y_rows[starts[:, 0]],
        subject=win_subject,
        class_names=class_names,
        channel_names=tuple(channels),
        fs_hz=float(fs_hz),
        test_subjects=chosen,
        preprocessing={"parser": "import-csv", "window": window, "step": step},
        report={"samples": len(body), "segments": len(seg_start)},
    )
