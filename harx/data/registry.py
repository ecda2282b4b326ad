"""The dataset registry: `registry.yaml` as plain dataclasses (official URLs, known checksums, facts)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources

import yaml

from harx.errors import ConfigError


@dataclass(frozen=True)
class KnownArchive:
    """One archive whose sha256 harx trusts, and where that value comes from."""

    sha256: str
    size_bytes: int | None
    official: bool
    provenance: str


@dataclass(frozen=True)
class ArchiveSpec:
    """An archive as published: official URL, the names a mirror may hold it under, known checksums."""

    key: str
    url: str
    mirror_names: tuple[str, ...]  # the official file name first
    known: tuple[KnownArchive, ...]

    def match(self, sha256: str) -> KnownArchive | None:
        return next((k for k in self.known if k.sha256 == sha256), None)


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset harx can fetch: one cache entry, built by `parser` from `archive` with `options`."""

    name: str
    family: str
    title: str
    archive: ArchiveSpec
    parser: str
    options: Mapping[str, int | str]
    page: str
    license: str  # short form; `license_note` holds the terms when they are not a named license
    citation: str
    citation_short: str
    n_classes: int
    class_names: tuple[str, ...] | None
    channel_names: tuple[str, ...]
    channel_units: tuple[str, ...]
    fs_hz: float
    window: int
    step: int | None
    n_subjects: int
    test_subjects: tuple[int, ...]
    license_note: str = ""
    label_ids: tuple[int, ...] | None = None
    extra: Mapping[str, float] = field(default_factory=dict)

    @property
    def n_channels(self) -> int:
        return len(self.channel_names)

    @property
    def fetch_command(self) -> str:
        """The `harx fetch` arguments that produce this dataset."""
        variant = " ".join(f"--{k} {v}" for k, v in self.options.items()) if self.name != self.family else ""
        return f"{self.family} {variant}".strip()

    @property
    def windowed_by_harx(self) -> bool:
        """True when harx cuts the windows (a stream dataset); False when the archive holds windows."""
        return self.step is not None


_EXTRA_KEYS = ("timestamp_unit_s", "max_gap_s")


def _archive(key: str, raw: dict) -> ArchiveSpec:
    known = tuple(
        KnownArchive(
            sha256=k["sha256"].lower(),
            size_bytes=k.get("size_bytes"),
            official=bool(k["official"]),
            provenance=" ".join(k["provenance"].split()),
        )
        for k in raw.get("known") or ()
    )
    return ArchiveSpec(key=key, url=raw["url"], mirror_names=tuple(raw["mirror_names"]), known=known)


def _dataset(name: str, raw: dict, archives: dict[str, ArchiveSpec]) -> DatasetSpec:
    label_ids = tuple(raw["label_ids"]) if "label_ids" in raw else None
    class_names = tuple(raw["class_names"]) if "class_names" in raw else None
    if class_names is not None and label_ids is not None:
        class_names = tuple(class_names[i - 1] for i in label_ids)
    return DatasetSpec(
        name=name,
        family=raw.get("family", name),
        title=raw["title"],
        archive=archives[raw["archive"]],
        parser=raw["parser"],
        options=dict(raw.get("options") or {}),
        page=raw["page"],
        license=raw["license"],
        citation=" ".join(raw["citation"].split()),
        citation_short=raw["citation_short"],
        n_classes=int(raw["n_classes"]),
        class_names=class_names,
        channel_names=tuple(raw["channel_names"]),
        channel_units=tuple(raw["channel_units"]),
        fs_hz=float(raw["fs_hz"]),
        window=int(raw["window"]),
        step=int(raw["step"]) if "step" in raw else None,
        n_subjects=int(raw["n_subjects"]),
        test_subjects=tuple(int(s) for s in raw["test_subjects"]),
        license_note=raw.get("license_note", ""),
        label_ids=label_ids,
        extra={k: float(raw[k]) for k in _EXTRA_KEYS if k in raw},
    )


@functools.cache
def _load() -> dict[str, DatasetSpec]:
    text = resources.files("harx.data").joinpath("registry.yaml").read_text(encoding="utf-8")
    raw = yaml.safe_load(text)
    archives = {key: _archive(key, a) for key, a in raw["archives"].items()}
    return {name: _dataset(name, d, archives) for name, d in raw["datasets"].items()}


def dataset_specs() -> tuple[DatasetSpec, ...]:
    """Every built-in dataset, in registry order."""
    return tuple(_load().values())


def is_builtin(name: str) -> bool:
    return name in _load()


def get_spec(name: str, *, classes: int | None = None, subset: str | None = None) -> DatasetSpec:
    """The dataset called `name`, or its variant selected by `classes` (uci-hapt) or `subset` (unimib-shar).

    Raises ConfigError for an unknown name or a variant the dataset does not offer.
    """
    specs = _load()
    if name not in specs:
        known = ", ".join(s for s in specs)
        raise ConfigError(
            f"unknown dataset '{name}' (built-in: {known}; register your own with "
            f"`harx fetch --import FILE --name {name}`)"
        )
    spec = specs[name]
    wanted = {k: v for k, v in (("classes", classes), ("subset", subset)) if v is not None}
    if not wanted:
        return spec
    family = [s for s in specs.values() if s.family == spec.family]
    for key, value in wanted.items():
        offered = sorted({str(s.options[key]) for s in family if key in s.options})
        if not offered:
            raise ConfigError(f"--{key} does not apply to dataset '{name}'")
        if str(value) not in offered:
            raise ConfigError(
                f"--{key} {value} is not offered for '{spec.family}' (choose {' or '.join(offered)})"
            )
    chosen = next(s for s in family if all(str(s.options.get(k)) == str(v) for k, v in wanted.items()))
    if spec.name != spec.family and chosen.name != spec.name:
        raise ConfigError(
            f"dataset '{name}' conflicts with the options given; fetch '{spec.family}' with them instead"
        )
    return chosen
