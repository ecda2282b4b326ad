"""What the store holds, as plain dataclasses, and the hashing/JSON rules behind its cache key."""

from __future__ import annotations

import hashlib
import json
import math
import sqlite3
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harx import __version__
from harx.errors import StoreError

STAGES = ("proxy", "select", "refine")
STATUSES = ("ok", "infeasible", "failed")
# Statuses that are final for a cache key: served by `Store.lookup`, unique per key. A failed
# evaluation is kept as history but retried, so it is neither served nor unique.
CACHED_STATUSES = ("ok", "infeasible")
RUN_STATUSES = ("running", "done", "interrupted", "failed")


def genome_hash(text: str) -> str:
    """sha256 (hex) of a genome's canonical text form, the genome part of the cache key."""
    return hashlib.sha256(text.strip().encode("utf-8")).hexdigest()


def config_hash(config: dict[str, Any]) -> str:
    """sha256 (hex) of a dict's canonical JSON (sorted keys, no spaces): equal configs give equal hashes."""
    return hashlib.sha256(to_json(config).encode("utf-8")).hexdigest()


def _plain(value: Any) -> Any:
    """numpy scalars/arrays become Python numbers/lists; NaN and infinities become null (not valid JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):  # numpy scalar or array, without importing numpy here
        return _plain(value.tolist())
    return value


def to_json(value: Any) -> str:
    """Canonical JSON text as stored in the TEXT columns (readable by SQLite's json_extract)."""
    return json.dumps(_plain(value), sort_keys=True, separators=(",", ":"), allow_nan=False)


@dataclass
class RunRecord:
    """One search run. ``recipe`` is the full recipe (what a resume replays), ``versions`` the software
    versions it ran with (harx, torch, python, ...). Times are ISO-8601 UTC text."""

    id: int
    recipe: dict[str, Any]
    seed: int
    name: str | None = None
    versions: dict[str, str] = field(default_factory=dict)
    started_at: str = ""
    finished_at: str | None = None
    status: str = "running"
    note: str = ""
    attempts: int = 1


@dataclass
class CandidateRecord:
    """One evaluation of one genome on one dataset under one training config, at one stage.

    ``metrics`` maps a name to a number or per-seed list (``val_acc``, ``test_acc_mean``, ``test_acc_seeds``).
    ``costs`` maps a target to its cost figures with units in the names (``{"gap8": {"flash_bytes": ...,
    "latency_cycles": ..., "energy_uj": ...}}``). ``extra`` holds bulky or later data (confusion matrix,
    training history, measurements attached by deploy). ``genome_hash`` and ``train_config_hash`` are
    filled from ``genome`` and ``train_config`` when left empty.
    """

    genome: str
    dataset: str
    dataset_fingerprint: str
    stage: str
    status: str
    train_config: dict[str, Any] = field(default_factory=dict)
    train_config_hash: str = ""
    genome_hash: str = ""
    error: str = ""
    infeasible_reason: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    costs: dict[str, dict[str, float]] = field(default_factory=dict)
    train_seconds: float = 0.0
    artifact_path: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    id: int | None = None
    created_at: str = ""
    harx_version: str = ""

    def cache_key(self) -> tuple[str, str, str, str]:
        return (self.genome_hash, self.dataset_fingerprint, self.train_config_hash, self.stage)


@dataclass(frozen=True)
class RunStats:
    """Counts over the candidates linked to one run. ``n_trained`` and ``train_seconds`` count only the
    candidates this run trained itself: cache hits cost it nothing, and infeasible ones are never trained."""

    run_id: int
    n_candidates: int
    n_ok: int
    n_infeasible: int
    n_failed: int
    cache_hits: int
    n_trained: int
    train_seconds: float


def now_utc() -> str:
    """The time stamps the store writes: UTC, milliseconds, ISO 8601 with a Z."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def load_json(text: str, path: Path, row_id: int, column: str) -> Any:
    """A JSON column of the store at ``path``; a one-line StoreError naming the row and column if damaged."""
    try:
        return json.loads(text)
    except (TypeError, json.JSONDecodeError) as exc:
        raise StoreError(f"{path}: row {row_id}: field {column} is not valid JSON: {exc}") from exc


def run_from_row(row: sqlite3.Row, path: Path) -> RunRecord:
    return RunRecord(
        id=row["id"],
        recipe=load_json(row["recipe"], path, row["id"], "runs.recipe"),
        seed=row["seed"],
        name=row["name"],
        versions=load_json(row["versions"], path, row["id"], "runs.versions"),
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        status=row["status"],
        note=row["note"],
        attempts=row["attempts"],
    )


def candidate_from_row(row: sqlite3.Row, path: Path) -> CandidateRecord:
    cid = row["id"]
    return CandidateRecord(
        id=cid,
        genome=row["genome"],
        genome_hash=row["genome_hash"],
        dataset=row["dataset"],
        dataset_fingerprint=row["dataset_fingerprint"],
        train_config_hash=row["train_config_hash"],
        train_config=load_json(row["train_config"], path, cid, "candidates.train_config"),
        stage=row["stage"],
        status=row["status"],
        error=row["error"],
        infeasible_reason=row["infeasible_reason"],
        metrics=load_json(row["metrics"], path, cid, "candidates.metrics"),
        costs=load_json(row["costs"], path, cid, "candidates.costs"),
        train_seconds=row["train_seconds"],
        artifact_path=row["artifact_path"],
        extra=load_json(row["extra"], path, cid, "candidates.extra"),
        created_at=row["created_at"],
        harx_version=row["harx_version"],
    )


def checked(rec: CandidateRecord) -> CandidateRecord:
    """A copy of ``rec`` with hashes, time and version filled in; ValueError on an inconsistent record."""
    if rec.stage not in STAGES:
        raise ValueError(f"candidate stage must be one of {STAGES}, not {rec.stage!r}")
    if rec.status not in STATUSES:
        raise ValueError(f"candidate status must be one of {STATUSES}, not {rec.status!r}")
    if rec.status == "failed" and not rec.error:
        raise ValueError("a failed candidate needs its error text")
    if rec.status == "infeasible" and not rec.infeasible_reason:
        raise ValueError("an infeasible candidate needs its infeasible_reason")
    if rec.status in CACHED_STATUSES and rec.error:
        raise ValueError(f"a candidate with status {rec.status!r} cannot carry an error")
    g_hash = genome_hash(rec.genome)
    if rec.genome_hash and rec.genome_hash != g_hash:
        raise ValueError(f"genome_hash {rec.genome_hash} does not match genome {rec.genome!r}")
    if not rec.train_config_hash and not rec.train_config:
        raise ValueError("a candidate needs train_config or train_config_hash")
    return replace(
        rec,
        genome=rec.genome.strip(),
        genome_hash=g_hash,
        train_config_hash=rec.train_config_hash or config_hash(rec.train_config),
        created_at=rec.created_at or now_utc(),
        harx_version=rec.harx_version or __version__,
        id=None,
    )
