"""The candidate store: records round-trip, cache-key semantics, runs, bad files, migration, concurrency."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from harx.errors import StoreError
from harx.store import SCHEMA_VERSION, CandidateRecord, Store, config_hash, genome_hash

GENOME = "c16k5p2w8a8-c24k5s2w4a4-gapw8"
TRAIN = {"epochs": 20, "lr": 0.001, "batch": 128, "folds": 4}


def _rec(genome: str = GENOME, status: str = "ok", train: dict | None = None, **kw) -> CandidateRecord:
    fields = {
        "genome": genome,
        "dataset": "uci-har",
        "dataset_fingerprint": "fp-uci-har-1",
        "stage": "proxy",
        "status": status,
        "train_config": TRAIN if train is None else train,
    }
    if status == "ok":
        fields["metrics"] = {"val_acc": 0.93, "val_f1": 0.92}
    elif status == "infeasible":
        fields["infeasible_reason"] = "flash 40,112 B > limit 32,768 B"
    else:
        fields["error"] = "RuntimeError: loss is NaN"
    fields.update(kw)
    return CandidateRecord(**fields)


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "store.sqlite") as s:
        yield s


def _key(s: Store, rec: CandidateRecord, **over) -> CandidateRecord | None:
    args = {
        "genome_hash": genome_hash(rec.genome),
        "dataset_fingerprint": rec.dataset_fingerprint,
        "train_config_hash": config_hash(rec.train_config),
        "stage": rec.stage,
    }
    args.update(over)
    return s.lookup(**args)


# ---- records -------------------------------------------------------------------------------------------


def test_candidate_round_trips_every_field(store: Store) -> None:
    run = store.create_run(
        {"dataset": "uci-har", "generations": 3}, seed=11, name="r1", versions={"torch": "2.13"}
    )
    rec = _rec(
        metrics={
            "val_acc": np.float32(0.75),
            "test_acc_seeds": np.array([0.9, 0.91, 0.93]),
            "loss": float("nan"),
        },
        costs={"gap8": {"flash_bytes": 6984, "ram_bytes": 2048, "latency_cycles": 91234, "energy_uj": 12.5}},
        train_seconds=42.5,
        artifact_path="/tmp/a.pt",
        extra={"confusion": [[5, 1], [0, 7]], "history": {"val_acc": [0.5, 0.7]}},
    )
    cid = store.add_candidate(rec, run_id=run.id, generation=2)
    got = store.get_candidate(cid)
    assert got.id == cid
    assert got.genome == GENOME and got.dataset == "uci-har" and got.stage == "proxy" and got.status == "ok"
    assert got.genome_hash == genome_hash(GENOME) and len(got.genome_hash) == 64
    assert got.train_config == TRAIN and got.train_config_hash == config_hash(TRAIN)
    assert got.metrics["val_acc"] == pytest.approx(0.75)
    assert got.metrics["test_acc_seeds"] == pytest.approx([0.9, 0.91, 0.93])
    assert got.metrics["loss"] is None  # NaN is not JSON: stored as null
    assert got.costs == rec.costs
    assert got.train_seconds == 42.5 and got.artifact_path == "/tmp/a.pt"
    assert got.extra == rec.extra
    assert got.created_at.endswith("Z") and got.harx_version
    assert store.get_run(run.id).recipe == {"dataset": "uci-har", "generations": 3}
    assert store.get_run(run.id).versions["torch"] == "2.13"


def test_config_hash_ignores_key_order() -> None:
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


def test_inconsistent_records_are_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="error text"):
        store.add_candidate(_rec(status="failed", error=""))
    with pytest.raises(ValueError, match="infeasible_reason"):
        store.add_candidate(_rec(status="infeasible", infeasible_reason=""))
    with pytest.raises(ValueError, match="genome_hash"):
        store.add_candidate(_rec(genome_hash="0" * 64))
    with pytest.raises(ValueError, match="stage"):
        store.add_candidate(_rec(stage="final"))
    assert store.candidates() == []


# ---- the cache key -------------------------------------------------------------------------------------


def test_ok_is_served_and_adding_it_again_returns_the_same_id(store: Store) -> None:
    first = store.add_candidate(_rec())
    assert store.add_candidate(_rec(metrics={"val_acc": 0.1})) == first
    hit = _key(store, _rec())
    assert hit is not None and hit.id == first and hit.metrics["val_acc"] == 0.93
    assert len(store.candidates()) == 1


def test_infeasible_is_served_with_its_reason(store: Store) -> None:
    cid = store.add_candidate(_rec(status="infeasible"))
    hit = _key(store, _rec())
    assert hit is not None and hit.id == cid
    assert hit.status == "infeasible" and hit.infeasible_reason == "flash 40,112 B > limit 32,768 B"


def test_failed_is_not_served_and_is_retried(store: Store) -> None:
    f1 = store.add_candidate(_rec(status="failed"))
    f2 = store.add_candidate(_rec(status="failed", error="MemoryError"))
    assert f1 != f2  # failures are history, not a cache entry
    assert _key(store, _rec()) is None
    ok = store.add_candidate(_rec())
    assert _key(store, _rec()).id == ok
    assert [c.status for c in store.candidates()] == ["failed", "failed", "ok"]


def test_any_other_key_part_is_a_miss(store: Store) -> None:
    rec = _rec()
    store.add_candidate(rec)
    assert _key(store, rec) is not None
    assert _key(store, rec, train_config_hash=config_hash({**TRAIN, "epochs": 21})) is None
    assert _key(store, rec, dataset_fingerprint="fp-uci-har-2") is None
    assert _key(store, rec, stage="refine") is None
    assert _key(store, rec, genome_hash=genome_hash("c16k5w8a8-gapw8")) is None
    # the same genome under another training config is a separate candidate
    other = store.add_candidate(_rec(train={**TRAIN, "epochs": 21}))
    assert _key(store, rec, train_config_hash=config_hash({**TRAIN, "epochs": 21})).id == other


def test_lookup_uses_the_cache_key_index(store: Store) -> None:
    with closing(sqlite3.connect(store.path)) as conn:
        plan = conn.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM candidates WHERE genome_hash = ? AND dataset_fingerprint = ? "
            "AND train_config_hash = ? AND stage = ? AND status IN ('ok', 'infeasible')",
            ("a", "b", "c", "proxy"),
        ).fetchall()
    assert "USING INDEX candidates_cache_key" in " ".join(row[3] for row in plan)


# ---- runs ----------------------------------------------------------------------------------------------


def test_runs_share_candidates_and_count_cache_hits(store: Store) -> None:
    a = store.create_run({"name": "a"}, seed=1)
    b = store.create_run({"name": "b"}, seed=2)
    c1 = store.add_candidate(_rec(train_seconds=10.0), run_id=a.id, generation=0)
    c2 = store.add_candidate(_rec(GENOME.replace("c16", "c8"), "infeasible", train_seconds=0.5), run_id=a.id)
    c3 = store.add_candidate(_rec(GENOME.replace("c16", "c32"), "failed", train_seconds=3.0), run_id=a.id)
    store.link(b.id, c1, generation=0, cache_hit=True)
    store.link(b.id, c1, generation=4, cache_hit=True)  # first link per run wins
    c4 = store.add_candidate(_rec(GENOME.replace("c16", "c32"), train_seconds=7.0), run_id=b.id, generation=1)

    assert [c.id for c in store.candidates(run_id=a.id)] == [c1, c2, c3]
    assert [c.id for c in store.candidates(run_id=b.id)] == [c1, c4]
    assert [c.id for c in store.candidates(status="ok")] == [c1, c4]
    assert [c.id for c in store.candidates(run_id=a.id, status="failed")] == [c3]
    sa, sb = store.run_stats(a.id), store.run_stats(b.id)
    assert (sa.n_candidates, sa.n_ok, sa.n_infeasible, sa.n_failed, sa.cache_hits) == (3, 1, 1, 1, 0)
    assert sa.n_trained == 2  # the infeasible candidate was never trained; the failed one was
    assert sa.train_seconds == pytest.approx(13.5)
    assert (sb.n_candidates, sb.n_ok, sb.cache_hits, sb.n_trained) == (2, 2, 1, 1)
    assert sb.train_seconds == pytest.approx(7.0)  # the cache hit cost run b nothing


def test_run_lifecycle(store: Store) -> None:
    run = store.create_run({"x": 1}, seed=3, name="n")
    assert run.status == "running" and run.finished_at is None and run.attempts == 1
    done = store.finish_run(run.id, "interrupted", note="SIGINT")
    assert done.status == "interrupted" and done.finished_at and done.note == "SIGINT"
    again = store.resume_run(run.id)
    assert again.status == "running" and again.finished_at is None and again.attempts == 2
    assert [r.id for r in store.runs()] == [run.id]
    with pytest.raises(ValueError):
        store.finish_run(run.id, "running")


def test_missing_ids_name_the_file(store: Store) -> None:
    for call in (
        lambda: store.get_run(99),
        lambda: store.finish_run(99, "done"),
        lambda: store.run_stats(99),
        lambda: store.get_candidate(99),
        lambda: store.attach(99, "k", 1),
        lambda: store.link(99, 99, 0, cache_hit=True),
    ):
        with pytest.raises(StoreError, match=str(store.path)):
            call()


def test_attach_adds_to_extra(store: Store) -> None:
    cid = store.add_candidate(_rec(extra={"history": [1, 2]}))
    store.attach(cid, "rv32_measured", {"instructions": 123456, "text_bytes": 4096})
    store.attach(cid, "note", "x")
    assert store.get_candidate(cid).extra == {
        "history": [1, 2],
        "rv32_measured": {"instructions": 123456, "text_bytes": 4096},
        "note": "x",
    }


# ---- bad files -----------------------------------------------------------------------------------------


def _refused(path: Path, match: str) -> None:
    before = path.read_bytes()
    with pytest.raises(StoreError, match=match) as err:
        Store(path)
    msg = str(err.value)
    assert str(path) in msg and "\n" not in msg
    assert path.read_bytes() == before
    assert err.value.exit_code == 5


def test_a_file_that_is_not_sqlite_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite"
    path.write_bytes(b"these are my notes, not a database\n" * 50)
    _refused(path, "not an SQLite database")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.sqlite"]


def test_a_corrupt_sqlite_file_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    with Store(path) as s:
        s.add_candidate(_rec())
    data = bytearray(path.read_bytes())
    data[100:] = bytes(len(data) - 100)  # keep the header, zero every page
    path.write_bytes(bytes(data))
    _refused(path, "corrupt")


def test_another_programs_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO photos (name) VALUES ('cat.jpg')")
        conn.commit()
    _refused(path, "not a harx store.*photos")


def test_a_newer_schema_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    with Store(path) as s:
        s.add_candidate(_rec())
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=DELETE")  # fold the WAL in so the file alone holds everything
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    _refused(path, rf"user_version\) is {SCHEMA_VERSION + 1}, newer than version {SCHEMA_VERSION}")


def test_an_empty_file_becomes_a_store(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    path.touch()
    with Store(path) as s:
        assert s.schema_version == SCHEMA_VERSION and s.runs() == []


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="directory"):
        Store(tmp_path)


# ---- migration -----------------------------------------------------------------------------------------

V1_SCHEMA = """
CREATE TABLE runs (id INTEGER PRIMARY KEY, name TEXT, recipe TEXT NOT NULL, seed INTEGER NOT NULL,
    started_at TEXT NOT NULL, finished_at TEXT, status TEXT NOT NULL);
CREATE TABLE candidates (id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs (id),
    generation INTEGER NOT NULL, genome TEXT NOT NULL, genome_hash TEXT NOT NULL, dataset TEXT NOT NULL,
    dataset_fingerprint TEXT NOT NULL, train_config_hash TEXT NOT NULL, stage TEXT NOT NULL, status TEXT NOT NULL,
    error TEXT NOT NULL DEFAULT '', metrics TEXT NOT NULL DEFAULT '{}', costs TEXT NOT NULL DEFAULT '{}',
    train_seconds REAL NOT NULL DEFAULT 0, artifact_path TEXT, created_at TEXT NOT NULL);
CREATE UNIQUE INDEX candidates_key ON candidates (genome_hash, dataset_fingerprint, train_config_hash, stage);
PRAGMA user_version = 1;
"""


def _v1_store(path: Path, dangling: bool = False) -> None:
    """A schema-v1 file written with raw SQL: two runs, 30 candidates (ok, infeasible, failed)."""
    conn = sqlite3.connect(path)
    conn.executescript(V1_SCHEMA)
    for run_id in (1, 2):
        conn.execute(
            "INSERT INTO runs VALUES (?, ?, ?, ?, '2026-01-01T00:00:00Z', NULL, 'running')",
            (run_id, f"run{run_id}", '{"generations": 3}', run_id),
        )
    for i in range(30):
        status = ("ok", "infeasible", "failed")[i % 3]
        error = {"ok": "", "infeasible": f"flash {40000 + i} B > limit 32768 B", "failed": "boom"}[status]
        conn.execute(
            "INSERT INTO candidates VALUES (?, ?, ?, ?, ?, 'uci-har', 'fp', 'cfg', 'proxy', ?, ?, ?, ?, ?, ?, "
            "'2026-01-01T00:00:01Z')",
            (
                i + 1,
                1 + i % 2,
                i // 10,
                f"c{i + 1}k3w8a8-gapw8",
                genome_hash(f"c{i + 1}k3w8a8-gapw8"),
                status,
                error,
                f'{{"val_acc": {i / 100}}}',
                '{"gap8": {"flash_bytes": 100}}',
                float(i),
                f"/a/{i}.pt",
            ),
        )
    if dangling:
        conn.execute("UPDATE candidates SET run_id = 7 WHERE id = 5")
    conn.commit()
    conn.close()


def _layout(path: Path) -> dict[str, object]:
    """Columns and indexes of every table, as SQLite reports them (not the CREATE text)."""
    conn = sqlite3.connect(path)
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    layout = {}
    for t in tables:
        cols = conn.execute(f"PRAGMA table_info({t})").fetchall()
        idx = sorted(
            (r[1], r[2], r[4], tuple(c[2] for c in conn.execute(f"PRAGMA index_info({r[1]})")))
            for r in conn.execute(f"PRAGMA index_list({t})")
        )
        layout[t] = (cols, idx)
    conn.close()
    return layout


def test_migration_from_v1_keeps_every_row(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    _v1_store(path)
    with Store(path) as s:
        assert s.schema_version == SCHEMA_VERSION
        cands = s.candidates()
        assert [c.id for c in cands] == list(range(1, 31))
        for i, c in enumerate(cands):
            assert c.genome == f"c{i + 1}k3w8a8-gapw8" and c.train_seconds == float(i)
            assert c.metrics == {"val_acc": i / 100} and c.costs == {"gap8": {"flash_bytes": 100}}
            assert c.artifact_path == f"/a/{i}.pt" and c.extra == {} and c.train_config == {}
            if c.status == "infeasible":
                assert (c.error, c.infeasible_reason) == ("", f"flash {40000 + i} B > limit 32768 B")
            elif c.status == "failed":
                assert (c.error, c.infeasible_reason) == ("boom", "")
        assert [c.id for c in s.candidates(run_id=1)] == list(range(1, 31, 2))
        assert [c.id for c in s.candidates(run_id=2)] == list(range(2, 31, 2))
        assert s.run_stats(1).n_candidates == 15
        assert [(r.id, r.recipe, r.attempts, r.versions) for r in s.runs()] == [
            (1, {"generations": 3}, 1, {}),
            (2, {"generations": 3}, 1, {}),
        ]
        assert s.lookup(genome_hash("c1k3w8a8-gapw8"), "fp", "cfg", "proxy").id == 1
        assert s.lookup(genome_hash("c3k3w8a8-gapw8"), "fp", "cfg", "proxy") is None  # failed in v1
        s.add_candidate(_rec("c3k3w8a8-gapw8", dataset_fingerprint="fp", train_config_hash="cfg"), run_id=2)
        assert s.lookup(genome_hash("c3k3w8a8-gapw8"), "fp", "cfg", "proxy").status == "ok"
        assert s.check() == []
        with closing(sqlite3.connect(path)) as conn:
            note = conn.execute("SELECT version, note FROM schema_meta").fetchall()
        assert note == [(SCHEMA_VERSION, "migrated from version 1")]

    backup = tmp_path / "store.sqlite.bak-v1"
    conn = sqlite3.connect(backup)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM candidates").fetchone()[0] == 30
    conn.close()

    fresh = tmp_path / "fresh.sqlite"
    Store(fresh).close()
    assert _layout(path) == _layout(fresh)


def _v2_store(path: Path) -> None:
    """A schema-v2 file: the v1 file above through the v1 -> v2 migration alone."""
    from harx.store import schema

    _v1_store(path)
    conn = sqlite3.connect(path)
    with conn:
        schema.MIGRATIONS[1](conn)
        conn.execute("PRAGMA user_version = 2")
    conn.close()


def test_a_v2_store_is_read_as_it_is_and_migrated_to_hold_select_and_float_stages(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    _v2_store(path)
    before = path.read_bytes()
    with Store(path, readonly=True) as s:  # reading needs no migration: v3 only added to v2
        assert s.schema_version == 2 and len(s.candidates()) == 30
    assert path.read_bytes() == before
    with Store(path) as s:
        assert s.schema_version == SCHEMA_VERSION == 3 and len(s.candidates()) == 30
        sel = s.add_candidate(_rec("c1k3w8a8-gapw8", stage="select"), run_id=1)
        assert s.get_candidate(sel).stage == "select"
        assert s.get_float_stage("k") is None
        s.put_float_stage("k", "c8k3w8a8-gapw8", "fp", b"\x00weights", 1.5)
        s.put_float_stage("k", "c8k3w8a8-gapw8", "fp", b"other", 2.0)  # the first one stored stays
        assert s.get_float_stage("k") == b"\x00weights"
    fresh = tmp_path / "fresh.sqlite"
    Store(fresh).close()
    assert _layout(path) == _layout(fresh)


def test_a_failed_migration_leaves_the_v1_store_intact(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    _v1_store(path, dangling=True)
    with pytest.raises(StoreError, match=r"migration from schema version 1 failed.*unchanged"):
        Store(path)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM candidates").fetchone()[0] == 30
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


# ---- several processes ---------------------------------------------------------------------------------

# A writer process: argv = store path, tag, number of candidates (0: until killed), shared keys.
# The first `shared` candidates have the same cache keys in every writer; it prints each id once committed.
WRITER = """
import sys
from harx.store import CandidateRecord, Store

path, tag, n, shared = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
with Store(path) as store:
    run = store.create_run({"writer": tag}, seed=0)
    i = 0
    while n == 0 or i < n:
        owner = "shared" if i < shared else tag
        rec = CandidateRecord(
            genome=f"c{i + 1}k5w8a8-gapw8", dataset="uci-har", dataset_fingerprint="fp", stage="proxy",
            status="ok", train_config={"owner": owner}, metrics={"val_acc": i / 1000},
            extra={"history": list(range(50))}, train_seconds=1.0,
        )
        print(store.add_candidate(rec, run_id=run.id, generation=i // 50), flush=True)
        i += 1
"""


def _writer(path: Path, tag: str, n: int, shared: int = 0) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), tag, str(n), str(shared)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"  # created by the writers themselves, racing
    n, shared, tags = 100, 40, ("w0", "w1", "w2")
    procs = [_writer(path, tag, n, shared) for tag in tags]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
    ids = [[int(x) for x in out.split()] for out, _ in outs]
    assert all(len(i) == n for i in ids)
    # every writer got the same ids for the shared keys: one row each, never a duplicate
    assert ids[0][:shared] == ids[1][:shared] == ids[2][:shared]
    with Store(path) as s:
        assert s.check() == []
        cands = s.candidates()
        assert len(cands) == shared + len(tags) * (n - shared)
        assert {c.id for c in cands} == set().union(*map(set, ids))
        assert len({(c.genome_hash, c.train_config_hash) for c in cands}) == len(cands)
        for run in s.runs():
            assert s.run_stats(run.id).n_candidates == n
        assert all(c.extra["history"] == list(range(50)) for c in cands)


def test_threads_share_one_store(store: Store) -> None:
    def work(t: int) -> list[int]:
        return [store.add_candidate(_rec(f"c{t + 1}k{2 * i + 1}w8a8-gapw8")) for i in range(7)]

    with ThreadPoolExecutor(4) as pool:
        ids = [i for batch in pool.map(work, range(4)) for i in batch]
    assert sorted(ids) == [c.id for c in store.candidates()] and len(set(ids)) == 28


def test_a_reader_never_blocks_the_writer(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    with Store(path) as s:
        s.add_candidate(_rec())
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM candidates").fetchone()[0] == 1  # holds a read snapshot
    proc = _writer(path, "w", 20)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert len(out.split()) == 20
    assert reader.execute("SELECT count(*) FROM candidates").fetchone()[0] == 1  # still its snapshot
    reader.execute("COMMIT")
    assert reader.execute("SELECT count(*) FROM candidates").fetchone()[0] == 21
    reader.close()


def test_a_writer_killed_mid_stream_keeps_every_commit(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    reported = []
    with _writer(path, "victim", 0) as proc:
        try:
            while len(reported) < 60:
                line = proc.stdout.readline()
                assert line, proc.stderr.read()
                reported.append(int(line))
            os.kill(proc.pid, signal.SIGKILL)  # the writer is still writing: it dies inside some transaction
        finally:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL

    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with Store(path) as s:
        assert s.check() == []
        stored = {c.id: c for c in s.candidates()}
        assert set(reported) <= set(stored)
        assert all(stored[i].extra["history"] == list(range(50)) for i in reported)
        (run,) = s.runs()
        assert run.status == "running"  # never finished: this is what a resume picks up
        assert s.run_stats(run.id).n_candidates == len(stored)
        resumed = s.resume_run(run.id)
        new = s.add_candidate(_rec(), run_id=run.id)
        assert resumed.attempts == 2 and s.get_candidate(new).status == "ok"
