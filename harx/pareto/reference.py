"""Published figures to draw beside a measured front, read from a small YAML file (docs/pareto.md).

A reference file holds ranges (a published span of one cost, drawn as a band over every accuracy) and points
(a published accuracy with one or more costs). Every file must say ``published: true``: measured results
belong in the store, and the plots label these as published, not measured here.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from harx.errors import ConfigError
from harx.objectives import OBJECTIVES

DEFAULT_REFERENCE = Path(__file__).resolve().parent / "reference_daghero2022.yaml"
PUBLISHED_LABEL = "published (not measured here)"

# How one unit of a source's figure converts into harx's stored unit for that objective.
_UNITS: dict[str, dict[str, float]] = {
    "B": {"B": 1.0, "kB": 1e3, "KiB": 1024.0, "MB": 1e6},
    "ms": {"s": 1e3, "ms": 1.0, "us": 1e-3, "µs": 1e-3},
    "µJ": {"J": 1e6, "mJ": 1e3, "uJ": 1.0, "µJ": 1.0, "nJ": 1e-3},
    "": {"%": 1e-2, "": 1.0},
    "MACs": {"": 1.0, "MACs": 1.0, "kMAC": 1e3, "MMAC": 1e6},
}
_VALUE_RE = re.compile(r"\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(\S*)\s*")


@dataclass(frozen=True)
class ReferenceRange:
    """A published span ``low``..``high`` (stored units) of one cost objective."""

    objective: str
    low: float
    high: float
    where: str
    dataset: str | None = None


@dataclass(frozen=True)
class ReferencePoint:
    """A published design: its objectives' values in stored units (accuracy as a fraction)."""

    values: dict[str, float]
    where: str
    label: str = ""
    dataset: str | None = None


@dataclass(frozen=True)
class Reference:
    path: str
    label: str
    source: str
    url: str
    device: str
    note: str
    ranges: tuple[ReferenceRange, ...]
    points: tuple[ReferencePoint, ...]

    def for_dataset(self, dataset: str) -> Reference:
        """Only the entries that apply to ``dataset`` (entries without a dataset apply to all)."""
        return replace(
            self,
            ranges=tuple(r for r in self.ranges if r.dataset in (None, dataset)),
            points=tuple(p for p in self.points if p.dataset in (None, dataset)),
        )


def _value(text: object, objective: str, where: str) -> float:
    """``"0.05 kB"``, ``"9 us"``, ``"93.1 %"`` or a bare number (stored unit) -> stored unit."""
    obj = OBJECTIVES[objective]
    units = _UNITS[obj.unit]
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        number, unit = float(text), ""
    else:
        m = _VALUE_RE.fullmatch(str(text))
        if not m:
            raise ConfigError(f"{where}: '{text}' is not '<number> <unit>'")
        number, unit = float(m.group(1)), m.group(2)
    if unit and unit not in units:
        raise ConfigError(
            f"{where}: unit '{unit}' does not fit {objective} (use one of {', '.join(u for u in units if u)})"
        )
    value = number * units.get(unit, 1.0)  # a bare number is in the stored unit
    if obj.maximize and not 0.0 <= value <= 1.0:
        raise ConfigError(f"{where}: {objective} {text} is outside 0..1 (write a percentage as '93.1 %')")
    if not obj.maximize and value <= 0:
        raise ConfigError(f"{where}: {objective} must be positive (cost axes are log-scaled), got {text}")
    return value


def _text(raw: dict, key: str, where: str, required: bool = True) -> str:
    value = raw.get(key)
    if value is None or str(value).strip() == "":
        if required:
            raise ConfigError(f"{where}: missing '{key}'")
        return ""
    return str(value).strip()


def load_reference(path: str | os.PathLike[str] | None = None) -> Reference:
    """Read a reference file (the shipped Daghero et al. 2022 ranges when ``path`` is None)."""
    p = Path(path) if path is not None else DEFAULT_REFERENCE
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read the reference file ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{p}: not valid YAML{line}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}: a reference file is a mapping with label, source, published, ranges, points")
    if raw.get("published") is not True:
        raise ConfigError(
            f"{p}: published: must be true (a reference overlay holds published figures; measured results "
            "belong in the store)"
        )
    for key in ("ranges", "points"):
        if not isinstance(raw.get(key) or [], list):
            raise ConfigError(f"{p}: {key}: must be a list")
    ranges = []
    for i, item in enumerate(raw.get("ranges") or []):
        where = f"{p}: ranges[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: must be a mapping with objective, min, max, where")
        name = _text(item, "objective", where)
        if name not in OBJECTIVES or OBJECTIVES[name].maximize:
            costs = ", ".join(n for n, o in OBJECTIVES.items() if not o.maximize)
            raise ConfigError(f"{where}.objective: '{name}' is not a cost objective ({costs})")
        low = _value(item.get("min"), name, f"{where}.min")
        high = _value(item.get("max"), name, f"{where}.max")
        if low > high:
            raise ConfigError(f"{where}: min {item.get('min')} is above max {item.get('max')}")
        ranges.append(ReferenceRange(name, low, high, _text(item, "where", where), item.get("dataset")))
    points = []
    for i, item in enumerate(raw.get("points") or []):
        where = f"{p}: points[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: must be a mapping of objectives to values, with where")
        values = {
            k: _value(v, k, f"{where}.{k}") for k, v in item.items() if k in OBJECTIVES and v is not None
        }
        if not any(OBJECTIVES[k].maximize for k in values) or all(OBJECTIVES[k].maximize for k in values):
            raise ConfigError(f"{where}: needs an accuracy (acc or f1) and at least one cost")
        points.append(
            ReferencePoint(
                values, _text(item, "where", where), _text(item, "label", where, False), item.get("dataset")
            )
        )
    return Reference(
        path=str(p),
        label=_text(raw, "label", str(p)),
        source=_text(raw, "source", str(p)),
        url=_text(raw, "url", str(p), required=False),
        device=_text(raw, "device", str(p), required=False),
        note=_text(raw, "note", str(p), required=False),
        ranges=tuple(ranges),
        points=tuple(points),
    )
