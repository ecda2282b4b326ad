"""Parser for UniMiB SHAR (`UniMiB-SHAR.zip`, MATLAB v5 files under `UniMiB-SHAR/data/`).

`acc_data.mat` holds `acc_data` (N, 453): each row one 151-sample window at 50 Hz, the x samples, then y,
then z (m/s^2). `acc_labels.mat` holds `acc_labels` (N, 3): class id 1..17, subject 1..30, trial.
`acc_names.mat` holds the 17 class names. The ADL and fall subsets are the rows of classes 1..9 and
10..17 of these files (the archive's adl_*/fall_* files hold the same rows again).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from harx.data.archive import Archive, reason
from harx.data.cache import WindowedData
from harx.data.registry import DatasetSpec
from harx.errors import DataError

_DATA, _LABELS, _NAMES = "data/acc_data.mat", "data/acc_labels.mat", "data/acc_names.mat"
_N_CLASSES = 17


def _variable(archive: Archive, suffix: str, key: str) -> np.ndarray:
    import scipy.io  # deferred: it takes ~0.6 s to import and only this parser needs it

    member = archive.find(suffix)
    try:
        mat = scipy.io.loadmat(io.BytesIO(archive.read(member)))
    except (ValueError, TypeError, NotImplementedError, OSError) as exc:
        raise DataError(
            f"{archive.label}: member '{member}' is not a readable MATLAB v5 file ({reason(exc)})"
        ) from exc
    if key not in mat:
        raise DataError(f"{archive.label}: member '{member}' has no variable '{key}'")
    return mat[key]


def _name_count(names: np.ndarray) -> int:
    """Class names in a (2, K) or (K, 2) cell array (description and short name per class), or a (K,) list."""
    shape = [d for d in names.shape if d != 1]
    if len(shape) == 2 and 2 in shape:
        return shape[1] if shape[0] == 2 else shape[0]
    return int(np.prod(shape)) if shape else 1


def parse_unimib(
    path: Path, spec: DatasetSpec, window: int, step: int | None, *, max_unpacked_bytes: int | None = None
) -> WindowedData:
    """The archive's 151-sample windows of the classes `spec.label_ids`, relabelled 0..n-1 in that order."""
    archive = Archive.open(path, _DATA, max_unpacked_bytes=max_unpacked_bytes)
    data = _variable(archive, _DATA, "acc_data")
    labels = _variable(archive, _LABELS, "acc_labels")
    names = _variable(archive, _NAMES, "acc_names")
    if _name_count(names) != _N_CLASSES:
        raise DataError(
            f"{archive.label}: member '{_NAMES}' names {_name_count(names)} classes, expected {_N_CLASSES}"
        )
    if data.ndim != 2 or data.shape[1] != 3 * window or not np.issubdtype(data.dtype, np.number):
        raise DataError(
            f"{archive.label}: member '{_DATA}' is {data.dtype} {data.shape}, expected (N, {3 * window})"
        )
    if labels.ndim != 2 or labels.shape[0] != len(data) or labels.shape[1] < 2:
        raise DataError(f"{archive.label}: member '{_LABELS}' is {labels.shape}, expected ({len(data)}, 3)")
    class_id = labels[:, 0].astype(np.int64)
    subject = labels[:, 1].astype(np.int64)
    if class_id.min() < 1 or class_id.max() > _N_CLASSES:
        raise DataError(f"{archive.label}: member '{_LABELS}' has class ids outside 1..{_N_CLASSES}")
    relabel = np.full(_N_CLASSES + 1, -1, dtype=np.int64)
    relabel[list(spec.label_ids)] = np.arange(len(spec.label_ids))
    keep = relabel[class_id] >= 0
    present = set(np.unique(subject[keep]).tolist())
    return WindowedData(
        X=np.ascontiguousarray(data[keep].reshape(-1, 3, window), dtype=np.float32),
        y=relabel[class_id[keep]],
        subject=subject[keep],
        class_names=spec.class_names,
        channel_names=spec.channel_names,
        fs_hz=spec.fs_hz,
        test_subjects=tuple(s for s in spec.test_subjects if s in present),
        preprocessing={"parser": "unimib-shar", "subset": spec.options["subset"], "window": window},
        report={"archive_windows": len(data)},
    )
