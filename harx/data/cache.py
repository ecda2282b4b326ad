"""The versioned dataset cache: `$HARX_HOME/datasets/<name>/{data.npz, meta.json}`, written atomically.

A new entry is built in a staging directory beside the cache (`.tmp-<name>-*`) and renamed into place only
when complete, so an interrupted or failed fetch leaves the previous entry, if any, untouched and no
partial one. Staging directories (dot-prefixed) are never read as entries.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harx.data.archive import reason
from harx.errors import DataError

FORMAT_VERSION = 1
DATA_FILE = "data.npz"
META_FILE = "meta.json"
ARRAY_KEYS = ("X", "y", "subject", "class_names", "channel_names")


class NewerFormatError(DataError):
    """A cache entry written by a newer harx, in a format this one cannot read."""


@dataclass
class WindowedData:
    """Windows ready for the cache: what every parser and import produces."""

    X: np.ndarray  # float32 (N, C, T)
    y: np.ndarray  # int64 (N,), 0..n_classes-1
    subject: np.ndarray  # int64 (N,)
    class_names: tuple[str, ...]
    channel_names: tuple[str, ...]
    fs_hz: float
    test_subjects: tuple[int, ...]
    preprocessing: dict  # every parameter that shaped the windows; part of the fingerprint
    report: dict = field(
        default_factory=dict
    )  # what the parser skipped or noticed; recorded, not fingerprinted

    def check(self, label: str) -> None:
        """DataError naming `label` when the arrays break the cache's invariants."""
        X, y, s = self.X, self.y, self.subject
        if X.dtype != np.float32 or X.ndim != 3 or 0 in X.shape:
            raise DataError(
                f"{label}: windows must be a non-empty float32 (N, C, T) array, got {X.dtype} {X.shape}"
            )
        if y.shape != (len(X),) or s.shape != (len(X),):
            raise DataError(
                f"{label}: labels {y.shape} and subjects {s.shape} must have one entry per window"
            )
        if not np.isfinite(X).all():
            raise DataError(f"{label}: windows contain NaN or infinite values")
        if y.min() < 0 or y.max() >= len(self.class_names):
            raise DataError(f"{label}: labels outside 0..{len(self.class_names) - 1}")
        if len(self.channel_names) != X.shape[1]:
            raise DataError(f"{label}: {len(self.channel_names)} channel names for {X.shape[1]} channels")
        present = set(np.unique(s).tolist())
        test = set(self.test_subjects)
        if not test or not test <= present or not present - test:
            raise DataError(
                f"{label}: test subjects {sorted(test)} must be some, not all, of {sorted(present)}"
            )


def fingerprint(data: WindowedData) -> str:
    """A stable hash of the arrays, the preprocessing parameters and the format version."""
    digest = hashlib.sha256(f"harx-dataset-format-{FORMAT_VERSION}\n".encode())
    described = {
        "preprocessing": data.preprocessing,
        "class_names": list(data.class_names),
        "channel_names": list(data.channel_names),
        "fs_hz": float(data.fs_hz),
        "test_subjects": list(data.test_subjects),
    }
    digest.update(json.dumps(described, sort_keys=True).encode())
    for array in (data.X, data.y, data.subject):
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.data)
    return digest.hexdigest()


def entry_dir(home: Path, name: str) -> Path:
    return home / "datasets" / name


def make_staging(home: Path, name: str) -> Path:
    """A fresh staging directory beside the cache entries; DataError when the cache is not writable."""
    root = home / "datasets"
    try:
        root.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=root))
    except OSError as exc:
        raise DataError(f"cannot write the cache directory {root}: {exc.strerror or exc}") from exc


def write_entry(staging: Path, data: WindowedData, meta: dict) -> Path:
    """Write data.npz and meta.json into `staging/entry`; returns that directory."""
    out = staging / "entry"
    try:
        out.mkdir()
        with open(out / DATA_FILE, "wb") as f:
            np.savez(
                f,
                X=data.X,
                y=data.y,
                subject=data.subject,
                class_names=np.array(data.class_names, dtype=str),
                channel_names=np.array(data.channel_names, dtype=str),
            )
            f.flush()
            os.fsync(f.fileno())
        (out / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise DataError(f"cannot write the cache entry {out}: {exc.strerror or exc}") from exc
    return out


def install_entry(staged: Path, final: Path) -> None:
    """Move a complete staged entry to `final`, replacing the old entry only once the new one is in place."""
    old = None
    try:
        if final.exists():
            old = staged.parent / "previous"
            os.rename(final, old)
        os.rename(staged, final)
    except OSError as exc:
        if old is not None and old.exists() and not final.exists():
            os.rename(old, final)
        raise DataError(f"cannot install the cache entry {final}: {exc.strerror or exc}") from exc


def remove_staging(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)


def read_meta(entry: Path) -> dict:
    """The entry's meta.json; DataError when missing, unreadable or written by a newer harx."""
    path = entry / META_FILE
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DataError(f"{path}: missing (incomplete cache entry); fetch the dataset again") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: unreadable cache metadata ({reason(exc)})") from exc
    version = meta.get("format_version") if isinstance(meta, dict) else None
    if not isinstance(version, int):
        raise DataError(f"{path}: field 'format_version' is missing or not an integer")
    if version > FORMAT_VERSION:
        raise NewerFormatError(
            f"{path}: cache format version {version} is newer than this harx reads ({FORMAT_VERSION}); "
            "upgrade harx or delete the entry"
        )
    if version < FORMAT_VERSION:
        raise DataError(f"{path}: cache format version {version} is outdated; fetch the dataset again")
    return meta


def read_arrays(entry: Path) -> dict[str, np.ndarray]:
    path = entry / DATA_FILE
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in ARRAY_KEYS if k not in npz.files]
            if missing:
                raise DataError(f"{path}: missing array '{missing[0]}' (corrupt cache entry)")
            return {k: npz[k] for k in ARRAY_KEYS}
    except FileNotFoundError as exc:
        raise DataError(f"{path}: missing (incomplete cache entry); fetch the dataset again") from exc
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: unreadable cache data ({reason(exc)})") from exc
