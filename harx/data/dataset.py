"""A cached dataset, as every other stage sees it: `load_dataset(name)` -> `Dataset`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harx.data import cache, registry
from harx.errors import DataError
from harx.paths import harx_home


@dataclass(frozen=True)
class Dataset:
    """Windows of one dataset: X float32 (N, C, T), y int64 in 0..n_classes-1, subject int64 per window."""

    name: str
    X: np.ndarray = field(repr=False)
    y: np.ndarray = field(repr=False)
    subject: np.ndarray = field(repr=False)
    class_names: tuple[str, ...]
    channel_names: tuple[str, ...]
    fs_hz: float
    test_subjects: tuple[int, ...]
    cache_path: Path
    source_sha256: str
    fingerprint: str
    preprocessing: dict = field(repr=False)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def n_channels(self) -> int:
        return int(self.X.shape[1])

    @property
    def window(self) -> int:
        """Samples per window (T)."""
        return int(self.X.shape[2])


def _fetch_hint(name: str) -> str:
    if registry.is_builtin(name):
        return f"run `harx fetch {name}`"
    return f"run `harx fetch {name}` for a built-in dataset or `harx fetch --import FILE --name {name}`"


def load_dataset(name: str, home: Path | None = None) -> Dataset:
    """Read dataset `name` from the cache under `home` (default $HARX_HOME); DataError if absent/damaged."""
    home = Path(home) if home is not None else harx_home()
    entry = cache.entry_dir(home, name)
    if not (entry / cache.META_FILE).exists():
        raise DataError(f"dataset '{name}' is not in the cache ({entry}); {_fetch_hint(name)}")
    meta = cache.read_meta(entry)
    arrays = cache.read_arrays(entry)
    meta_path = entry / cache.META_FILE
    try:
        data = cache.WindowedData(
            X=arrays["X"],
            y=arrays["y"],
            subject=arrays["subject"],
            class_names=tuple(str(c) for c in arrays["class_names"]),
            channel_names=tuple(str(c) for c in arrays["channel_names"]),
            fs_hz=float(meta["fs_hz"]),
            test_subjects=tuple(int(s) for s in meta["test_subjects"]),
            preprocessing=meta["preprocessing"],
        )
        recorded = meta["fingerprint"]
        source_sha256 = meta["source"]["sha256"]
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{meta_path}: field {exc} is missing or malformed") from exc
    if data.y.dtype != np.int64 or data.subject.dtype != np.int64:
        raise DataError(f"{entry / cache.DATA_FILE}: labels and subjects must be int64 (corrupt cache entry)")
    data.check(str(entry / cache.DATA_FILE))
    actual = cache.fingerprint(data)
    if actual != recorded:
        raise DataError(
            f"{entry / cache.DATA_FILE}: contents do not match the fingerprint in meta.json (corrupt cache "
            f"entry); {_fetch_hint(name)} again"
        )
    return Dataset(
        name=name,
        X=data.X,
        y=data.y,
        subject=data.subject,
        class_names=data.class_names,
        channel_names=data.channel_names,
        fs_hz=data.fs_hz,
        test_subjects=data.test_subjects,
        cache_path=entry,
        source_sha256=source_sha256,
        fingerprint=actual,
        preprocessing=data.preprocessing,
    )
