"""The store's SQL layout, its version number and the migrations from older versions.

``PRAGMA user_version`` is the authoritative schema version (0 means an empty file); the ``schema_meta``
table keeps the history: one row per version the file was created at or migrated to.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

from harx import __version__
from harx.errors import StoreError

SCHEMA_VERSION = 3
# The oldest layout today's queries read unchanged (v3 only added a stage and the float-stage table), so a
# read-only command reads such a store without migrating it.
READABLE_FROM = 2

# Kept in the layout it has after the v1 -> v2 migration (v2 columns appended), so that a migrated file and a
# fresh one have identical columns.
_RUNS = """CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    name TEXT,
    recipe TEXT NOT NULL,
    seed INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL,
    versions TEXT NOT NULL DEFAULT '{}',
    note TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 1
)"""

_CANDIDATES = """CREATE TABLE {name} (
    id INTEGER PRIMARY KEY,
    genome TEXT NOT NULL,
    genome_hash TEXT NOT NULL,
    dataset TEXT NOT NULL,
    dataset_fingerprint TEXT NOT NULL,
    train_config_hash TEXT NOT NULL,
    train_config TEXT NOT NULL DEFAULT '{{}}',
    stage TEXT NOT NULL CHECK (stage IN ({stages})),
    status TEXT NOT NULL CHECK (status IN ('ok', 'infeasible', 'failed')),
    error TEXT NOT NULL DEFAULT '',
    infeasible_reason TEXT NOT NULL DEFAULT '',
    metrics TEXT NOT NULL DEFAULT '{{}}',
    costs TEXT NOT NULL DEFAULT '{{}}',
    train_seconds REAL NOT NULL DEFAULT 0,
    artifact_path TEXT,
    extra TEXT NOT NULL DEFAULT '{{}}',
    created_at TEXT NOT NULL,
    harx_version TEXT NOT NULL DEFAULT ''
)"""

# A float pre-training result shared by the bit-width variants of one architecture (harx.evaluate.FloatStage):
# torch-serialized tensors, numbers and strings, keyed by harx.evaluate.float_key.
_FLOAT_STAGES = """CREATE TABLE float_stages (
    key TEXT PRIMARY KEY,
    arch TEXT NOT NULL,
    dataset_fingerprint TEXT NOT NULL,
    data BLOB NOT NULL,
    train_seconds REAL NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
)"""

_RUN_CANDIDATES = """CREATE TABLE run_candidates (
    run_id INTEGER NOT NULL REFERENCES runs (id),
    candidate_id INTEGER NOT NULL REFERENCES candidates (id),
    generation INTEGER NOT NULL,
    cache_hit INTEGER NOT NULL DEFAULT 0,
    linked_at TEXT NOT NULL,
    PRIMARY KEY (run_id, candidate_id)
)"""

_SCHEMA_META = """CREATE TABLE schema_meta (
    version INTEGER PRIMARY KEY,
    applied_at TEXT NOT NULL,
    harx_version TEXT NOT NULL,
    note TEXT NOT NULL
)"""

# The cache key. Partial: only final results are unique per key; failed attempts pile up as history.
# `CACHED_WHERE` must appear verbatim in queries for SQLite to use this index.
CACHE_KEY_COLUMNS = "genome_hash, dataset_fingerprint, train_config_hash, stage"
CACHED_WHERE = "status IN ('ok', 'infeasible')"
_INDEXES = (
    f"CREATE UNIQUE INDEX candidates_cache_key ON candidates ({CACHE_KEY_COLUMNS}) WHERE {CACHED_WHERE}",
    "CREATE INDEX candidates_stage_status ON candidates (stage, status)",
    "CREATE INDEX run_candidates_candidate ON run_candidates (candidate_id)",
)


_V2_STAGES = "'proxy', 'refine'"
_STAGES = "'proxy', 'select', 'refine'"


def create(conn: sqlite3.Connection) -> None:
    """Lay out an empty file at the current version (inside the caller's transaction)."""
    for sql in (
        _RUNS,
        _CANDIDATES.format(name="candidates", stages=_STAGES),
        _RUN_CANDIDATES,
        _SCHEMA_META,
        _FLOAT_STAGES,
        *_INDEXES,
    ):
        conn.execute(sql)


def _v1_to_v2(conn: sqlite3.Connection) -> None:
    """v1 tied each candidate to one run (``candidates.run_id``, ``generation``), kept an infeasible reason
    in ``error`` and made the cache key unique over every status. v2 shares candidates between runs through
    ``run_candidates``, splits ``infeasible_reason`` from ``error``, keeps failed attempts as history, and adds
    the training config, ``extra`` JSON, versions and the ``schema_meta`` history."""
    for col in (
        "versions TEXT NOT NULL DEFAULT '{}'",
        "note TEXT NOT NULL DEFAULT ''",
        "attempts INTEGER NOT NULL DEFAULT 1",
    ):
        conn.execute(f"ALTER TABLE runs ADD COLUMN {col}")
    # Dropping columns and changing constraints needs SQLite's rebuild: new table, copy, drop, rename.
    conn.execute(_CANDIDATES.format(name="candidates_v2", stages=_V2_STAGES))
    conn.execute(
        """INSERT INTO candidates_v2 (id, genome, genome_hash, dataset, dataset_fingerprint, train_config_hash,
               stage, status, error, infeasible_reason, metrics, costs, train_seconds, artifact_path, created_at)
           SELECT id, genome, genome_hash, dataset, dataset_fingerprint, train_config_hash, stage, status,
               CASE WHEN status = 'infeasible' THEN '' ELSE error END,
               CASE WHEN status = 'infeasible' THEN error ELSE '' END,
               metrics, costs, train_seconds, artifact_path, created_at
           FROM candidates"""
    )
    conn.execute(_RUN_CANDIDATES)
    conn.execute(
        """INSERT INTO run_candidates (run_id, candidate_id, generation, cache_hit, linked_at)
           SELECT run_id, id, generation, 0, created_at FROM candidates"""
    )
    conn.execute("DROP TABLE candidates")
    conn.execute("ALTER TABLE candidates_v2 RENAME TO candidates")
    conn.execute(_SCHEMA_META)
    for sql in _INDEXES:
        conn.execute(sql)


def _v2_to_v3(conn: sqlite3.Connection) -> None:
    """v3 adds the ``select`` stage (candidates scored on subject-grouped folds at the refine budget, the
    scores a reported front is chosen on) and the ``float_stages`` table."""
    conn.execute(_CANDIDATES.format(name="candidates_v3", stages=_STAGES))
    conn.execute("INSERT INTO candidates_v3 SELECT * FROM candidates")
    conn.execute("DROP TABLE candidates")
    conn.execute("ALTER TABLE candidates_v3 RENAME TO candidates")
    for sql in _INDEXES[:2]:
        conn.execute(sql)
    conn.execute(_FLOAT_STAGES)


# MIGRATIONS[v] turns a version-v file into a version-(v + 1) file, inside the caller's transaction.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _v1_to_v2, 2: _v2_to_v3}


def backup(conn: sqlite3.Connection, path: Path, version: int) -> None:
    """Copy the store at ``path`` (open as ``conn``, schema ``version``) to ``<name>.bak-v<version>`` before
    a migration rewrites it."""
    dest = path.with_name(f"{path.name}.bak-v{version}")
    tmp = dest.with_name(f"{dest.name}.tmp{os.getpid()}")
    tmp.unlink(missing_ok=True)
    try:
        with closing(sqlite3.connect(tmp)) as copy:
            conn.backup(copy)
            copied = copy.execute("PRAGMA user_version").fetchone()[0]
        # Another process may have migrated between our version check and the copy: its backup stands.
        if copied == version:
            os.replace(tmp, dest)
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(f"{path}: cannot write the pre-migration backup {dest}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)


def create_or_migrate(conn: sqlite3.Connection, path: Path, now: str) -> None:
    """Inside a write transaction: create the layout in an empty file or migrate an older one to
    ``SCHEMA_VERSION``, and record it in ``schema_meta`` at time ``now``."""
    # Read again under the write lock: a concurrent opener may have created or migrated the file.
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version == SCHEMA_VERSION:
        return
    if version == 0:
        create(conn)
        note = "created"
    else:
        for v in range(version, SCHEMA_VERSION):
            MIGRATIONS[v](conn)
        note = f"migrated from version {version}"
        problems = conn.execute("PRAGMA foreign_key_check").fetchall()
        if problems:
            raise StoreError(
                f"{path}: migration from schema version {version} failed: {len(problems)} rows "
                f"reference missing rows (first: table {problems[0][0]}, rowid {problems[0][1]}); "
                "the store is unchanged"
            )
    conn.execute(
        "INSERT INTO schema_meta (version, applied_at, harx_version, note) VALUES (?, ?, ?, ?)",
        (SCHEMA_VERSION, now, __version__, note),
    )
    conn.execute(f"PRAGMA user_version = {int(SCHEMA_VERSION)}")
