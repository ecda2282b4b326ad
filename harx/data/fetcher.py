"""`fetch`: official archive (or mirror, or local copy) -> verified sha256 -> parser -> atomic cache entry.

Also `import_dataset` for users' own recordings and `list_datasets` for what is known and cached.
"""

from __future__ import annotations

import datetime
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from harx import __version__
from harx.data import cache, registry
from harx.data.archive import download, find_in_mirror, unpacked_limit
from harx.data.cache import WindowedData
from harx.data.imports import DEFAULT_TEST_RULE, read_import
from harx.data.registry import DatasetSpec
from harx.data.splits import subject_warnings
from harx.data.uci import parse_uci_hapt, parse_uci_har
from harx.data.unimib import parse_unimib
from harx.data.wisdm import parse_wisdm
from harx.errors import ConfigError, DataError
from harx.paths import harx_home, sha256_file

# parser(archive path, spec, window, step, *, max_unpacked_bytes) -> windows
Parser = Callable[..., WindowedData]
PARSERS: dict[str, Parser] = {
    "uci-har": parse_uci_har,
    "uci-hapt": parse_uci_hapt,
    "wisdm": parse_wisdm,
    "unimib-shar": parse_unimib,
}
_IMPORT_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class FetchResult:
    """What a fetch or import wrote: the `--json` summary."""

    name: str
    cache_path: str
    source_kind: str  # official | mirror | file | import
    source: str  # URL or path of the archive that was read
    archive_sha256: str
    verified: bool | None  # None for user imports (nothing to verify against)
    matched_archive: str | None  # provenance of the known archive the sha256 matched
    n_windows: int
    split_sizes: dict[str, int]  # windows: train (all non-test subjects) and test
    split_subjects: dict[str, list[int]]
    class_names: list[str]
    class_counts: dict[str, dict[str, int]]  # per split, per class name
    channels: list[str]
    n_channels: int
    window: int
    fs_hz: float
    fingerprint: str
    elapsed_s: float
    warnings: list[str]

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class _Verdict:
    verified: bool
    matched: str | None
    warning: str | None


def _verify(
    spec: DatasetSpec, label: str, kind: str, actual: str, pinned: str | None, trust: bool
) -> _Verdict:
    """Decide whether an archive with sha256 `actual` may be used; DataError (wrong checksum) when not."""
    known = spec.archive.match(actual)
    matched = known.provenance if known else None
    if pinned is not None:
        if actual != pinned:
            raise DataError(f"{label}: wrong checksum: sha256 is {actual}, --sha256 pinned {pinned}")
        return _Verdict(True, matched or "pinned with --sha256", None)
    if known is not None:
        return _Verdict(True, matched, None)
    if trust:
        return _Verdict(
            False, None, f"UNVERIFIED archive {label} (sha256 {actual}) used because of --trust-archive"
        )
    if kind == "file":
        raise DataError(
            f"{label}: sha256 {actual} is not a known archive of {spec.name}; pin it with --sha256 HEX or "
            "use it unverified with --trust-archive"
        )
    if spec.archive.known:
        expected = ", ".join(k.sha256[:16] + "…" for k in spec.archive.known)
        raise DataError(f"{label}: wrong checksum: sha256 is {actual}, expected one of {expected}")
    return _Verdict(
        False,
        None,
        f"NO CHECKSUM IS KNOWN for {spec.name}: the archive from {label} is UNVERIFIED; its sha256 {actual} "
        "is recorded in the cache metadata",
    )


def _window_params(spec: DatasetSpec, window: int | None, step: int | None) -> tuple[int, int | None]:
    if not spec.windowed_by_harx:
        if window is not None or step is not None:
            raise ConfigError(
                f"{spec.name} comes cut into {spec.window}-sample windows; --window/--step do not apply"
            )
        return spec.window, None
    window = spec.window if window is None else window
    step = spec.step if step is None else step
    if window < 1 or step < 1:
        raise ConfigError(f"--window {window} --step {step}: both must be positive sample counts")
    return window, step


def _check_existing(entry: Path) -> None:
    """Refuse to replace an entry that a newer harx wrote (it may hold what this one cannot read back)."""
    if not (entry / cache.META_FILE).exists():
        return
    try:
        cache.read_meta(entry)
    except cache.NewerFormatError:
        raise
    except DataError:
        return  # an unreadable or outdated entry is what a fresh fetch repairs


def _summary(
    data: WindowedData, name: str, entry: Path, meta: dict, elapsed_s: float, warnings: list[str]
) -> FetchResult:
    test = np.isin(data.subject, data.test_subjects)
    counts = {
        split: {c: int((data.y[mask] == i).sum()) for i, c in enumerate(data.class_names)}
        for split, mask in (("train", ~test), ("test", test))
    }
    source = meta["source"]
    return FetchResult(
        name=name,
        cache_path=str(entry),
        source_kind=source["kind"],
        source=source["location"],
        archive_sha256=source["sha256"],
        verified=source["verified"],
        matched_archive=source["matched"],
        n_windows=len(data.y),
        split_sizes={"train": int((~test).sum()), "test": int(test.sum())},
        split_subjects={
            "train": sorted(int(s) for s in np.unique(data.subject[~test])),
            "test": list(data.test_subjects),
        },
        class_names=list(data.class_names),
        class_counts=counts,
        channels=list(data.channel_names),
        n_channels=int(data.X.shape[1]),
        window=int(data.X.shape[2]),
        fs_hz=data.fs_hz,
        fingerprint=meta["fingerprint"],
        elapsed_s=round(elapsed_s, 3),
        warnings=warnings,
    )


def _write(
    home: Path, name: str, staging: Path, data: WindowedData, source: dict, title: str
) -> tuple[Path, dict]:
    meta = {
        "format_version": cache.FORMAT_VERSION,
        "name": name,
        "title": title,
        "source": source,
        "preprocessing": data.preprocessing,
        "parse_report": data.report,
        "class_names": list(data.class_names),
        "channel_names": list(data.channel_names),
        "fs_hz": data.fs_hz,
        "window": int(data.X.shape[2]),
        "test_subjects": list(data.test_subjects),
        "counts": {
            "windows": len(data.y),
            "subjects": len(np.unique(data.subject)),
            "per_class": {c: int((data.y == i).sum()) for i, c in enumerate(data.class_names)},
        },
        "fingerprint": cache.fingerprint(data),
        "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "harx_version": __version__,
    }
    entry = cache.entry_dir(home, name)
    cache.install_entry(cache.write_entry(staging, data, meta), entry)
    return entry, meta


def fetch(
    name: str,
    file: Path | str | None = None,
    home: Path | str | None = None,
    *,
    sha256: str | None = None,
    trust_archive: bool = False,
    classes: int | None = None,
    subset: str | None = None,
    window: int | None = None,
    step: int | None = None,
    mirror: str | None = None,
    progress: bool = False,
    max_unpacked_bytes: int | None = None,
) -> FetchResult:
    """Fetch dataset `name` into the cache under `home` (default $HARX_HOME) and return a summary.

    The archive comes from `file` when given, else from the mirror (`mirror`, default $HARX_DATA_MIRROR,
    a directory or URL prefix), else from the official URL. Its sha256 must be a known one for the
    dataset, or equal `sha256`; `trust_archive` accepts an unknown one, recorded as unverified. A
    download of a dataset with no known checksum is accepted with a warning and recorded as unverified.
    `classes` (uci-hapt: 6 or 12) and `subset` (unimib-shar: all, adl, fall) pick a variant; `window` and
    `step` (samples) override the windowing of stream datasets. No archive member may unpack to more than
    `max_unpacked_bytes` (default $HARX_MAX_UNPACKED_MIB, else 256 MiB; see docs/datasets.md).
    """
    started = time.perf_counter()
    spec = registry.get_spec(name, classes=classes, subset=subset)
    window, step = _window_params(spec, window, step)
    if sha256 is not None and not _SHA256.fullmatch(sha256.lower()):
        raise ConfigError(f"--sha256 {sha256!r}: expected 64 hexadecimal digits")
    pinned = sha256.lower() if sha256 else None
    limit = unpacked_limit(max_unpacked_bytes)
    home = Path(home) if home is not None else harx_home()
    entry = cache.entry_dir(home, spec.name)
    _check_existing(entry)
    staging = cache.make_staging(home, spec.name)
    try:
        if file is not None:
            path = Path(file)
            if not path.is_file():
                raise DataError(f"{path}: no such archive file")
            kind, location = "file", str(path)
        else:
            hit = find_in_mirror(spec.archive, mirror)
            kind = "mirror" if hit else "official"
            location = hit.location if hit else spec.archive.url
            if hit and not hit.is_url:
                path = Path(hit.location)
            else:
                path = staging / "archive.part"
                download(location, path, progress=progress)
        actual = sha256_file(path)
        verdict = _verify(spec, location, kind, actual, pinned, trust_archive)
        data = PARSERS[spec.parser](path, spec, window, step, max_unpacked_bytes=limit)
        data.check(location)
        source = {
            "kind": kind,
            "location": location,
            "sha256": actual,
            "verified": verdict.verified,
            "matched": verdict.matched,
        }
        entry, meta = _write(home, spec.name, staging, data, source, spec.title)
    finally:
        cache.remove_staging(staging)
    warnings = [verdict.warning] if verdict.warning else []
    return _summary(data, spec.name, entry, meta, time.perf_counter() - started, warnings)


def import_dataset(
    file: Path | str,
    name: str,
    home: Path | str | None = None,
    *,
    fs_hz: float | None = None,
    window: int = 128,
    step: int = 64,
    test_subjects: tuple[int, ...] | None = None,
    max_unpacked_bytes: int | None = None,
) -> FetchResult:
    """Register a user dataset (`.npz` windows or `.csv` stream, see docs/import-format.md) as `name`.

    No `.npz` array may unpack to more than `max_unpacked_bytes` (default $HARX_MAX_UNPACKED_MIB, else 256 MiB).
    """
    started = time.perf_counter()
    if not _IMPORT_NAME.fullmatch(name):
        raise ConfigError(f"--name {name!r}: use 1-64 lowercase letters, digits, '.', '_' or '-'")
    if registry.is_builtin(name):
        raise ConfigError(f"--name {name!r} is a built-in dataset; choose another name for your import")
    if window < 1 or step < 1:
        raise ConfigError(f"--window {window} --step {step}: both must be positive sample counts")
    path = Path(file)
    data = read_import(
        path,
        fs_hz=fs_hz,
        window=window,
        step=step,
        test_subjects=test_subjects,
        max_unpacked_bytes=max_unpacked_bytes,
    )
    home = Path(home) if home is not None else harx_home()
    _check_existing(cache.entry_dir(home, name))
    staging = cache.make_staging(home, name)
    try:
        source = {
            "kind": "import",
            "location": str(path.resolve()),
            "sha256": sha256_file(path),
            "verified": None,
            "matched": None,
        }
        entry, meta = _write(home, name, staging, data, source, f"user import of {path.name}")
    finally:
        cache.remove_staging(staging)
    return _summary(data, name, entry, meta, time.perf_counter() - started, _import_warnings(data, name))


def _import_warnings(data, name: str) -> list[str]:
    """What an import should tell: test subjects chosen by the default rule (an official split would be
    mixed), and subject ids that make subject-held-out validation random."""
    warnings = subject_warnings(data, name)
    if data.report.get("test_subjects_from") == DEFAULT_TEST_RULE:
        subjects = ", ".join(map(str, data.test_subjects))
        warnings.append(
            f"test subjects {subjects} are harx's default choice (every 4th subject); if the recordings come "
            "with an official train/test split, import again with --test-subjects or a 'split' column "
            "(docs/import-format.md#official-splits)"
        )
    return warnings


@dataclass(frozen=True)
class DatasetInfo:
    """One row of `harx fetch --list`: a built-in dataset or a user import found in the cache."""

    name: str
    title: str
    n_classes: int
    n_channels: int
    fs_hz: float
    window: int
    n_subjects: int
    license: str
    citation: str  # short form
    cached: str  # yes | no | newer format | damaged
    fetch_command: str  # `harx fetch` arguments that produce it; empty for a user import
    page: str = ""  # the dataset's official page
    citation_full: str = ""

    def to_json(self) -> dict:
        return asdict(self)


def _cache_state(entry: Path) -> tuple[str, dict | None]:
    if not (entry / cache.META_FILE).exists():
        return "no", None
    try:
        return "yes", cache.read_meta(entry)
    except cache.NewerFormatError:
        return "newer format", None
    except DataError:
        return "damaged", None


def list_datasets(home: Path | str | None = None) -> list[DatasetInfo]:
    """Every built-in dataset, then every user import in the cache under `home`, with its cache state."""
    home = Path(home) if home is not None else harx_home()
    rows = []
    for spec in registry.dataset_specs():
        state, _ = _cache_state(cache.entry_dir(home, spec.name))
        rows.append(
            DatasetInfo(
                name=spec.name,
                title=spec.title,
                n_classes=spec.n_classes,
                n_channels=spec.n_channels,
                fs_hz=spec.fs_hz,
                window=spec.window,
                n_subjects=spec.n_subjects,
                license=spec.license,
                citation=spec.citation_short,
                cached=state,
                fetch_command=spec.fetch_command,
                page=spec.page,
                citation_full=spec.citation,
            )
        )
    root = home / "datasets"
    imports = (
        sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if root.is_dir()
        else []
    )
    for entry in imports:
        if registry.is_builtin(entry.name):
            continue
        state, meta = _cache_state(entry)
        if meta is None:
            rows.append(DatasetInfo(entry.name, "user import", 0, 0, 0.0, 0, 0, "", "", state, ""))
            continue
        rows.append(
            DatasetInfo(
                name=entry.name,
                title=meta.get("title", "user import"),
                n_classes=len(meta["class_names"]),
                n_channels=len(meta["channel_names"]),
                fs_hz=float(meta["fs_hz"]),
                window=int(meta["window"]),
                n_subjects=int(meta["counts"]["subjects"]),
                license="user data",
                citation="",
                cached=state,
                fetch_command="",
            )
        )
    return rows
