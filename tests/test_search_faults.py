"""Faults on the distributed engine: a dask worker killed (SIGKILL) while it trains a candidate.

The cluster is started as on real machines: `dask scheduler` and `dask worker` as separate processes on the
loopback address, the search pointed at the scheduler with `executor: {kind: dask, scheduler: ...}`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import pytest

from harx.search import parse_recipe
from harx.search import run as run_search
from harx.store import Store
from harx.train.config import Execution
from tests.test_search import MICRO

ROOT = Path(__file__).resolve().parents[1]

# Candidates long enough (2 folds x 6 epochs on har-mini) that a kill at the first relayed epoch lands
# inside one.
RECIPE = {
    **MICRO,
    "search": {"population": 4, "offspring": 4, "generations": 1},
    "proxy": {"folds": 2, "training": {"epochs_float": 4, "epochs_qat": 2, "batch_size": 32}},
    "refine": {
        "seeds": 1,
        "max_points": 2,
        "training": {"epochs_float": 2, "epochs_qat": 1, "batch_size": 32},
    },
}


@contextmanager
def dask_cluster(tmp_path: Path, home: Path, workers: int, **scheduler_config: str):
    """A scheduler and ``workers`` single-thread workers (no nanny: a killed worker stays dead), each its
    own `python -m dask` process; yields (address, a client of the test's own). ``scheduler_config`` sets
    dask config keys of the scheduler through its environment (DASK_DISTRIBUTED__SCHEDULER__<KEY>)."""
    from dask.distributed import Client

    env = {**os.environ, "PYTHONPATH": str(ROOT), "HARX_HOME": str(home)}
    scheduler_file = tmp_path / "scheduler.json"
    logs = tmp_path / "dask-logs"
    logs.mkdir()
    procs: list[subprocess.Popen] = []

    def start(name: str, *args: str, extra_env: dict | None = None) -> None:
        with open(logs / f"{name}.log", "w") as log:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "dask", *args],
                    env={**env, **(extra_env or {})},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )

    client = None
    try:
        config = {f"DASK_DISTRIBUTED__SCHEDULER__{k.upper()}": v for k, v in scheduler_config.items()}
        start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
              "--scheduler-file", str(scheduler_file), extra_env=config)  # fmt: skip
        deadline = time.time() + 60
        while not scheduler_file.exists() and time.time() < deadline:
            time.sleep(0.1)
        address = json.loads(scheduler_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        for i in range(workers):
            start(f"worker{i}", "worker", address, "--host", "127.0.0.1", "--nthreads", "1", "--no-nanny",
                  "--no-dashboard", "--name", f"w{i}")  # fmt: skip
        client = Client(address, timeout="30s")
        client.wait_for_workers(workers, timeout=60)
        yield address, client, {p.pid for p in procs[1:]}
    finally:
        if client is not None:
            client.close()
        for p in procs:
            p.kill()
            p.wait(timeout=30)


class KillAtFirstEpoch:
    """A search event callback: at the first relayed epoch, SIGKILL a worker that is executing a candidate
    (one of the test's own worker processes); remembers its address and the keys it was running."""

    def __init__(self, client, worker_pids: set[int]) -> None:
        self.client, self.worker_pids = client, worker_pids
        self.address, self.executing, self.events = None, [], []

    def __call__(self, event) -> None:
        self.events.append(event)
        if event.kind != "epoch" or self.address is not None:
            return
        executing = self.client.run(lambda dask_worker: sorted(ts.key for ts in dask_worker.state.executing))
        self.address, self.executing = next((a, keys) for a, keys in sorted(executing.items()) if keys)
        pid = self.client.run(os.getpid, workers=[self.address])[self.address]
        assert pid in self.worker_pids  # only a process this test started
        os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
def test_a_worker_killed_mid_candidate_is_retried_elsewhere_and_nothing_is_lost(in_har_home, tmp_path):
    pytest.importorskip("dask.distributed")
    with dask_cluster(tmp_path, in_har_home, workers=2) as (address, client, pids):
        recipe = parse_recipe({**RECIPE, "executor": {"kind": "dask", "scheduler": address}}, "faults")
        kill = KillAtFirstEpoch(client, pids)
        with Store(tmp_path / "dask.sqlite") as store:
            result = run_search(recipe, store, on_event=kill)
            assert store.get_run(result.run_id).status == "done"
            rows = store.candidates(result.run_id)
        assert kill.address is not None and kill.executing, "no worker was killed mid-candidate"
        assert kill.address not in client.scheduler_info()["workers"]  # it stayed dead
        # dask ran the killed worker's candidate again on the other worker, to the end
        for key in kill.executing:
            story = client.run_on_scheduler(
                lambda dask_scheduler, key: [(s[1], s[2]) for s in dask_scheduler.story(key)], key=key
            )
            states = [to for _, to in story]  # the last is 'forgotten': the search released its result
            assert states.count("processing") >= 2 and "memory" in states, story
    # each genome stored once per stage, every one scored
    counts = Counter((r.genome, r.stage) for r in rows)
    assert set(counts.values()) == {1}, counts
    assert {r.status for r in rows} <= {"ok", "infeasible"} and not any(r.error for r in rows)
    proxy = {r.genome: r.metrics for r in rows if r.stage == "proxy" and r.status == "ok"}
    select = [r for r in rows if r.stage == "select"]
    assert proxy and len(proxy) + len(select) + len(result.front) == result.trained_now
    assert result.front and all(r.status == "ok" for r in result.front)
    # the retried candidate's scores are those of an undisturbed run (training is deterministic)
    local = parse_recipe({**RECIPE, "executor": {"kind": "local"}}, "faults")
    with Store(tmp_path / "local.sqlite") as store:
        reference = run_search(local, store, execution=Execution(threads=1), refine=False)
        expected = {
            r.genome: r.metrics for r in store.candidates(reference.run_id, stage="proxy") if r.status == "ok"
        }
    assert proxy == expected


@pytest.mark.slow
def test_a_candidate_whose_worker_dies_past_allowed_failures_is_stored_failed_and_retried_later(
    in_har_home, tmp_path
):
    """With distributed.scheduler.allowed-failures 0, dask gives up on the killed worker's tasks at once
    (KilledWorker): the search stores those candidates as failed and goes on; the next run trains them."""
    pytest.importorskip("dask.distributed")
    with dask_cluster(tmp_path, in_har_home, workers=2, allowed_failures="0") as (address, client, pids):
        recipe = parse_recipe({**RECIPE, "executor": {"kind": "dask", "scheduler": address}}, "faults")
        kill = KillAtFirstEpoch(client, pids)
        with Store(tmp_path / "dask.sqlite") as store:
            first = run_search(recipe, store, refine=False, on_event=kill)
            assert store.get_run(first.run_id).status == "done"
            rows = store.candidates(first.run_id, stage="proxy")
            failed = {r.genome for r in rows if r.status == "failed"}
            assert kill.executing and failed, "no candidate was lost with the killed worker"
            for r in rows:
                if r.status == "failed":
                    assert r.error.startswith("KilledWorker: 1 worker died while running it (dask gives up")
            assert set(Counter(r.genome for r in rows).values()) == {1}
            # the next run serves what was scored and trains only what the dead worker lost
            second = run_search(recipe, store, refine=False)
            assert second.trained_now == len(failed)
            again = store.candidates(second.run_id, stage="proxy")
            scored = {r.genome for r in again if r.status == "ok"}
            assert scored == {r.genome for r in rows if r.status != "infeasible"}
            ok_rows = Counter(r.genome for r in store.candidates(stage="proxy") if r.status == "ok")
            assert set(ok_rows.values()) == {1}
