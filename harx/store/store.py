"""The candidate store: one SQLite file of runs and evaluated candidates, safe to share between processes.

Every write is one ``BEGIN IMMEDIATE`` transaction (retried while another writer holds the lock), the file
is in WAL mode so readers never block the writer, and ``synchronous=FULL`` makes each commit durable: a
process killed at any moment leaves every committed candidate in place.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from harx import __version__
from harx.errors import StoreError
from harx.paths import default_store_path
from harx.store import schema
from harx.store.records import (
    RUN_STATUSES,
    CandidateRecord,
    RunRecord,
    RunStats,
    candidate_from_row,
    checked,
    load_json,
    now_utc,
    run_from_row,
    to_json,
)

T = TypeVar("T")
_SQLITE_MAGIC = b"SQLite format 3\x00"
_FIRST_RETRY_S = 0.005
_MAX_RETRY_S = 0.25
# A final result for one cache key (the parameters are `CandidateRecord.cache_key()`); uses the partial index.
_KEY_WHERE = (
    "genome_hash = ? AND dataset_fingerprint = ? AND train_config_hash = ? AND stage = ? "
    f"AND {schema.CACHED_WHERE}"
)


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    msg = str(exc)
    return "locked" in msg or "busy" in msg


class Store:
    """A candidate store file. Open with ``Store(path)`` (default ``$HARX_HOME/store.sqlite``); use as a
    context manager or call ``close()``. One ``Store`` may be shared by the threads of a process.

    Opening creates an empty file (unless ``create=False``), migrates an older schema (after copying the file
    to ``<file>.bak-v<old version>``), and refuses, without touching it, a file that is not SQLite, is not a
    harx store, has a newer schema, or fails SQLite's ``quick_check`` (checked before the first write).

    ``readonly=True`` opens an existing, current store through SQLite's ``mode=ro``: nothing is written to it
    (no WAL switch, no migration, no integrity check), so it also works on a file the user cannot write.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        timeout_s: float = 30.0,
        readonly: bool = False,
        create: bool = True,
    ) -> None:
        self.path = Path(path) if path is not None else default_store_path()
        self.timeout_s = timeout_s
        self.readonly = readonly
        self._create = create and not readonly
        self._lock = threading.RLock()
        self._check_header()
        try:
            if self._create:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = self._connect_readonly() if readonly else self._connect("rwc" if create else "rw")
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"{self.path}: cannot open the store: {exc}") from exc
        self._conn.row_factory = sqlite3.Row
        try:
            self._open()
        except BaseException:
            self._conn.close()
            raise

    # ---- opening, creating, migrating -------------------------------------------------------------------

    def _connect(self, mode: str) -> sqlite3.Connection:
        return sqlite3.connect(
            f"{self.path.resolve().as_uri()}?mode={mode}",
            uri=True,
            timeout=self.timeout_s,
            isolation_level=None,
            check_same_thread=False,
        )

    def _connect_readonly(self) -> sqlite3.Connection:
        conn = self._connect("ro")
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return conn
        except sqlite3.OperationalError as exc:
            conn.close()
            # A WAL-mode file in a folder the user cannot write (SQLITE_READONLY_DIRECTORY): SQLite cannot
            # create the shared-memory file it reads through. With no WAL file beside it no writer has it open
            # and nothing is uncommitted, so it is read as immutable; otherwise the error stands.
            wal = self.path.with_name(self.path.name + "-wal")
            if not getattr(exc, "sqlite_errorname", "").startswith("SQLITE_READONLY") or wal.exists():
                raise
            return self._connect("ro&immutable=1")

    def _check_header(self) -> None:
        """Refuse a file that SQLite would not read as a database before SQLite gets to touch it."""
        if self.path.is_dir():
            raise StoreError(f"{self.path}: store path is a directory, not a file")
        if not self.path.exists():
            if not self._create:
                raise StoreError(f"{self.path}: no candidate store here")
            return
        try:
            with open(self.path, "rb") as f:
                head = f.read(len(_SQLITE_MAGIC))
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot read the store: {exc}") from exc
        if head and head != _SQLITE_MAGIC:
            raise StoreError(f"{self.path}: not an SQLite database (file header is not 'SQLite format 3')")
        if not self.readonly and not (os.access(self.path, os.W_OK) and os.access(self.path.parent, os.W_OK)):
            raise StoreError(
                f"{self.path}: the store is read-only to you (the file or its folder is not writable): "
                "commands that only read it, such as `harx pareto`, work; this one writes"
            )

    def _open(self) -> None:
        version, tables = self._guarded(self._inspect)
        if version > schema.SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: store schema version (user_version) is {version}, newer than version "
                f"{schema.SCHEMA_VERSION} that harx {__version__} reads; upgrade harx to use this store"
            )
        if version == 0 and tables:
            raise StoreError(
                f"{self.path}: not a harx store (user_version is 0 and it holds other tables: "
                f"{', '.join(sorted(tables))})"
            )
        if version == 0 and not self._create:
            raise StoreError(f"{self.path}: no candidate store here (an empty file)")
        if self.readonly:
            if version < schema.READABLE_FROM:
                raise StoreError(
                    f"{self.path}: store schema version {version} is older than version "
                    f"{schema.SCHEMA_VERSION}; a read-only command cannot migrate it (a writing one, such as "
                    "`harx search --resume`, does)"
                )
            return
        self._guarded(self._quick_check)
        self._with_retry(self._set_wal)
        self._conn.execute("PRAGMA synchronous=FULL")
        if 0 < version < schema.SCHEMA_VERSION:
            schema.backup(self._conn, self.path, version)
        # foreign_keys stays off until the layout is current: a migration drops and rebuilds tables.
        if version != schema.SCHEMA_VERSION:  # an up-to-date store opens without taking the write lock
            self._transaction(lambda conn: schema.create_or_migrate(conn, self.path, now_utc()))
        self._conn.execute("PRAGMA foreign_keys=ON")

    def _quick_check(self) -> None:
        """Refuse a damaged file before anything is written to it (a write could spread the damage).
        quick_check reads every page but skips the index-content cross-checks of integrity_check."""
        first = self._conn.execute("PRAGMA quick_check(1)").fetchone()[0]
        if first != "ok":
            detail = " ".join(first.split())
            raise StoreError(
                f"{self.path}: store is corrupt (SQLite quick_check: {detail}); refused untouched"
            )

    def _inspect(self) -> tuple[int, list[str]]:
        # One read transaction: a concurrent opener may create the tables and the version in between.
        self._conn.execute("BEGIN")
        try:
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            rows = self._conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            ).fetchall()
        finally:
            if self._conn.in_transaction:
                self._conn.execute("COMMIT")
        return version, [r[0] for r in rows]

    def _set_wal(self) -> None:
        mode = self._conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise StoreError(f"{self.path}: cannot switch the store to WAL journal mode (got {mode!r})")

    # ---- transactions ---------------------------------------------------------------------------------

    def _guarded(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` under the connection lock, reporting SQLite failures as one-line StoreErrors."""
        with self._lock:
            try:
                return fn()
            except sqlite3.OperationalError as exc:  # locked past the timeout, I/O error, ...
                raise StoreError(f"{self.path}: cannot read the store: {exc}") from exc
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"{self.path}: store is unreadable or corrupt: {exc}") from exc

    def _with_retry(self, fn: Callable[[], T]) -> T:
        """Retry ``fn`` while the file is locked: the busy timeout covers most waits, but SQLite returns
        'locked' without waiting in some WAL cases (a journal-mode switch, recovery after a crash)."""
        deadline = time.monotonic() + self.timeout_s
        delay = _FIRST_RETRY_S
        while True:
            try:
                with self._lock:
                    return fn()
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() + delay > deadline:
                    raise StoreError(f"{self.path}: store write failed: {exc}") from exc
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"{self.path}: store write failed: {exc}") from exc
            time.sleep(delay)
            delay = min(2 * delay, _MAX_RETRY_S)

    def _transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` as one write transaction: all of it is committed, or none of it."""

        if self.readonly:
            raise StoreError(f"{self.path}: the store was opened read-only; cannot write to it")

        def attempt() -> T:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(self._conn)
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            return result

        return self._with_retry(attempt)

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        return self._guarded(lambda: self._conn.execute(sql, params).fetchall())

    # ---- runs -----------------------------------------------------------------------------------------

    def create_run(
        self,
        recipe: dict[str, Any],
        seed: int,
        name: str | None = None,
        versions: dict[str, str] | None = None,
    ) -> RunRecord:
        """Record a new run (status ``running``); ``versions`` gets ``harx`` filled in when absent."""
        versions = {"harx": __version__, **(versions or {})}
        started = now_utc()

        def tx(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "INSERT INTO runs (name, recipe, seed, started_at, status, versions) VALUES (?, ?, ?, ?, ?, ?)",
                (name, to_json(recipe), int(seed), started, "running", to_json(versions)),
            )
            return int(cur.lastrowid)

        return self.get_run(self._transaction(tx))

    def _set_run(self, run_id: int, sql: str, params: tuple[Any, ...]) -> RunRecord:
        def tx(conn: sqlite3.Connection) -> int:
            return conn.execute(sql, (*params, run_id)).rowcount

        if self._transaction(tx) == 0:
            raise StoreError(f"{self.path}: no run with id {run_id}")
        return self.get_run(run_id)

    def finish_run(self, run_id: int, status: str, note: str = "") -> RunRecord:
        """Close a run as ``done``, ``interrupted`` or ``failed``."""
        if status not in RUN_STATUSES or status == "running":
            raise ValueError(f"finish_run: status must be done, interrupted or failed, not {status!r}")
        return self._set_run(
            run_id,
            "UPDATE runs SET status = ?, finished_at = ?, note = ? WHERE id = ?",
            (status, now_utc(), note),
        )

    def resume_run(self, run_id: int) -> RunRecord:
        """Mark a run as running again (a resume after an interruption or a kill); counts the attempt."""
        return self._set_run(
            run_id,
            "UPDATE runs SET status = 'running', finished_at = NULL, attempts = attempts + 1 WHERE id = ?",
            (),
        )

    def get_run(self, run_id: int) -> RunRecord:
        rows = self._query("SELECT * FROM runs WHERE id = ?", (int(run_id),))
        if not rows:
            raise StoreError(f"{self.path}: no run with id {run_id}")
        return run_from_row(rows[0], self.path)

    def runs(self) -> list[RunRecord]:
        return [run_from_row(r, self.path) for r in self._query("SELECT * FROM runs ORDER BY id")]

    def runs_of(self, candidate_id: int) -> list[RunRecord]:
        """The runs that link candidate ``candidate_id``: the one that evaluated it first, then those it was
        served to."""
        rows = self._query(
            """SELECT r.* FROM runs AS r JOIN run_candidates AS l ON l.run_id = r.id
               WHERE l.candidate_id = ? ORDER BY l.cache_hit, r.id""",
            (int(candidate_id),),
        )
        return [run_from_row(r, self.path) for r in rows]

    def run_stats(self, run_id: int) -> RunStats:
        self.get_run(run_id)
        row = self._query(
            """SELECT count(*) AS n,
                   coalesce(sum(c.status = 'ok'), 0) AS n_ok,
                   coalesce(sum(c.status = 'infeasible'), 0) AS n_infeasible,
                   coalesce(sum(c.status = 'failed'), 0) AS n_failed,
                   coalesce(sum(l.cache_hit), 0) AS hits,
                   coalesce(sum(NOT l.cache_hit AND c.status != 'infeasible'), 0) AS n_trained,
                   coalesce(sum(CASE WHEN l.cache_hit THEN 0 ELSE c.train_seconds END), 0.0) AS seconds
               FROM run_candidates AS l JOIN candidates AS c ON c.id = l.candidate_id
               WHERE l.run_id = ?""",
            (int(run_id),),
        )[0]
        return RunStats(
            run_id=int(run_id),
            n_candidates=row["n"],
            n_ok=row["n_ok"],
            n_infeasible=row["n_infeasible"],
            n_failed=row["n_failed"],
            cache_hits=row["hits"],
            n_trained=row["n_trained"],
            train_seconds=float(row["seconds"]),
        )

    # ---- candidates -----------------------------------------------------------------------------------

    def lookup(
        self, genome_hash: str, dataset_fingerprint: str, train_config_hash: str, stage: str
    ) -> CandidateRecord | None:
        """The final (``ok`` or ``infeasible``) evaluation under this cache key, or None: failed attempts are
        not served, so the caller retries them."""
        rows = self._query(
            f"SELECT * FROM candidates WHERE {_KEY_WHERE}",
            (genome_hash, dataset_fingerprint, train_config_hash, stage),
        )
        return candidate_from_row(rows[0], self.path) if rows else None

    def add_candidate(self, rec: CandidateRecord, run_id: int | None = None, generation: int = 0) -> int:
        """Store one evaluation in its own transaction and return its id; with ``run_id``, link it to that
        run in the same transaction.

        Idempotent on the cache key: when an ``ok``/``infeasible`` result for the key is already stored (a
        concurrent writer got there first), nothing is inserted and the existing id is returned.
        """
        rec = checked(rec)
        values = {
            "genome": rec.genome,
            "genome_hash": rec.genome_hash,
            "dataset": rec.dataset,
            "dataset_fingerprint": rec.dataset_fingerprint,
            "train_config_hash": rec.train_config_hash,
            "train_config": to_json(rec.train_config),
            "stage": rec.stage,
            "status": rec.status,
            "error": rec.error,
            "infeasible_reason": rec.infeasible_reason,
            "metrics": to_json(rec.metrics),
            "costs": to_json(rec.costs),
            "train_seconds": float(rec.train_seconds),
            "artifact_path": rec.artifact_path,
            "extra": to_json(rec.extra),
            "created_at": rec.created_at,
            "harx_version": rec.harx_version,
        }
        insert = (
            f"INSERT INTO candidates ({', '.join(values)}) VALUES ({', '.join(':' + k for k in values)}) "
            f"ON CONFLICT ({schema.CACHE_KEY_COLUMNS}) WHERE {schema.CACHED_WHERE} DO NOTHING"
        )

        def tx(conn: sqlite3.Connection) -> int:
            cur = conn.execute(insert, values)
            if cur.rowcount == 1:
                cid = int(cur.lastrowid)
            else:
                cid = conn.execute(
                    f"SELECT id FROM candidates WHERE {_KEY_WHERE}", rec.cache_key()
                ).fetchone()[0]
            if run_id is not None:
                self._link(conn, run_id, cid, generation, hit=False)
            return cid

        return self._transaction(tx)

    def link(self, run_id: int, candidate_id: int, generation: int, cache_hit: bool) -> None:
        """Record that a run used a stored candidate (first link per run and candidate wins)."""
        self._transaction(lambda conn: self._link(conn, run_id, candidate_id, generation, cache_hit))

    def _link(
        self, conn: sqlite3.Connection, run_id: int, candidate_id: int, generation: int, hit: bool
    ) -> None:
        try:
            conn.execute(
                """INSERT INTO run_candidates (run_id, candidate_id, generation, cache_hit, linked_at)
                   VALUES (?, ?, ?, ?, ?) ON CONFLICT (run_id, candidate_id) DO NOTHING""",
                (int(run_id), int(candidate_id), int(generation), int(bool(hit)), now_utc()),
            )
        except sqlite3.IntegrityError as exc:
            raise StoreError(
                f"{self.path}: cannot link candidate {candidate_id} to run {run_id}: no such run or candidate"
            ) from exc

    def candidates(
        self, run_id: int | None = None, stage: str | None = None, status: str | None = None
    ) -> list[CandidateRecord]:
        """Candidates ordered by id, optionally only those linked to a run, at a stage, with a status."""
        where, params = [], []
        if run_id is not None:
            where.append("id IN (SELECT candidate_id FROM run_candidates WHERE run_id = ?)")
            params.append(int(run_id))
        if stage is not None:
            where.append("stage = ?")
            params.append(stage)
        if status is not None:
            where.append("status = ?")
            params.append(status)
        sql = "SELECT * FROM candidates" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id"
        return [candidate_from_row(r, self.path) for r in self._query(sql, tuple(params))]

    def get_candidate(self, candidate_id: int) -> CandidateRecord:
        rows = self._query("SELECT * FROM candidates WHERE id = ?", (int(candidate_id),))
        if not rows:
            raise StoreError(f"{self.path}: no candidate with id {candidate_id}")
        return candidate_from_row(rows[0], self.path)

    def attach(self, candidate_id: int, key: str, value: Any) -> None:
        """Set ``extra[key] = value`` on a stored candidate (e.g. ``rv32_measured`` from deploy)."""
        value_json = to_json(value)

        def tx(conn: sqlite3.Connection) -> None:
            row = conn.execute("SELECT extra FROM candidates WHERE id = ?", (int(candidate_id),)).fetchone()
            if row is None:
                raise StoreError(f"{self.path}: no candidate with id {candidate_id}")
            extra = load_json(row["extra"], self.path, candidate_id, "extra")
            extra[key] = json.loads(value_json)
            conn.execute("UPDATE candidates SET extra = ? WHERE id = ?", (to_json(extra), int(candidate_id)))

        self._transaction(tx)

    def update_costs(self, candidate_id: int, costs: dict[str, dict[str, Any]]) -> None:
        """Replace a candidate's per-target costs: they are a pure function of the genome and the target
        model, recomputed when the model changes (training results are what the cache keeps)."""

        def tx(conn: sqlite3.Connection) -> None:
            cur = conn.execute(
                "UPDATE candidates SET costs = ? WHERE id = ?", (to_json(costs), int(candidate_id))
            )
            if cur.rowcount == 0:
                raise StoreError(f"{self.path}: no candidate with id {candidate_id}")

        self._transaction(tx)

    def check(self) -> list[str]:
        """Problems found by SQLite's integrity and foreign-key checks; empty when the file is sound."""

        def run() -> list[str]:
            problems = [r[0] for r in self._conn.execute("PRAGMA integrity_check").fetchall() if r[0] != "ok"]
            problems += [
                f"{r[0]} rowid {r[1]} references a missing row in {r[2]}"
                for r in self._conn.execute("PRAGMA foreign_key_check").fetchall()
            ]
            return problems

        return self._guarded(run)

    # ---- float stages ------------------------------------------------------------------------------------

    def get_float_stage(self, key: str) -> bytes | None:
        """The float stage stored under ``key`` (``harx.evaluate.float_key``), or None."""
        rows = self._query("SELECT data FROM float_stages WHERE key = ?", (key,))
        return bytes(rows[0]["data"]) if rows else None

    def float_stage_keys(self) -> set[str]:
        return {r["key"] for r in self._query("SELECT key FROM float_stages")}

    def float_stage_seconds(self) -> dict[str, float]:
        """Each stored float stage's training seconds, by key."""
        return {
            r["key"]: r["train_seconds"] for r in self._query("SELECT key, train_seconds FROM float_stages")
        }

    def generations(self, run_id: int) -> dict[int, int]:
        """candidate id -> the generation run ``run_id`` met it in (-1: select and refine)."""
        rows = self._query("SELECT candidate_id, generation FROM run_candidates WHERE run_id = ?", (run_id,))
        return {r["candidate_id"]: r["generation"] for r in rows}

    def put_float_stage(
        self, key: str, arch: str, fingerprint: str, data: bytes, train_seconds: float
    ) -> None:
        """Keep a float stage (the first one stored under a key stays: equal keys hold equal stages)."""

        def tx(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR IGNORE INTO float_stages (key, arch, dataset_fingerprint, data, train_seconds, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (key, arch, fingerprint, sqlite3.Binary(data), train_seconds, now_utc()),
            )

        self._transaction(tx)

    @property
    def schema_version(self) -> int:
        return self._guarded(lambda: self._conn.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
