"""Executors run evaluation jobs: `local` in this process, `dask` on a dask.distributed cluster.

Either way the coordinator alone writes the store: executors only return outcomes.
"""

from __future__ import annotations

import collections
import dataclasses
import time
import uuid
from collections.abc import Callable, Iterable, Iterator

from harx.errors import ConfigError
from harx.search.recipe import ExecutorSettings
from harx.train.config import Execution
from harx.train.loop import EpochLog

POLL_S = 0.5  # how long the coordinator waits between relaying epochs (and honouring a Ctrl-C)


class LocalExecutor:
    """One job at a time in this process, with the given execution settings (2 torch threads is fastest on
    a small machine)."""

    name = "local"

    def __init__(self, execution: Execution) -> None:
        self.execution = execution

    def map(
        self, fn: Callable, jobs: Iterable, on_epoch: Callable | None = None, lost: Callable | None = None
    ) -> Iterator:
        """(job, outcome) in order; ``lost`` is for executors that can lose a job (dask)."""
        for job in jobs:
            yield job, fn(job, self.execution, on_epoch)

    def close(self) -> None:
        pass


class DaskExecutor:
    """Jobs of one generation in parallel on a dask.distributed cluster (a LocalCluster without address).

    Every worker needs harx installed and the dataset in its own $HARX_HOME cache (or a shared one);
    a worker whose cached dataset differs from the coordinator's fails its jobs with a clear error.
    """

    name = "dask"

    def __init__(self, settings: ExecutorSettings) -> None:
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError as exc:
            raise ConfigError("executor 'dask' needs the optional extra: pip install 'harx[dask]'") from exc
        self.execution = Execution(threads=settings.threads_per_worker)
        self._cluster = None
        if settings.scheduler:
            try:
                self.client = Client(settings.scheduler, timeout="20s")
            except OSError as exc:
                raise ConfigError(f"executor.scheduler: cannot reach {settings.scheduler} ({exc})") from None
        else:
            self._cluster = LocalCluster(
                n_workers=settings.workers,
                threads_per_worker=settings.threads_per_worker,
                processes=True,
                dashboard_address=None,
            )
            self.client = Client(self._cluster)

    def map(
        self, fn: Callable, jobs: Iterable, on_epoch: Callable | None = None, lost: Callable | None = None
    ) -> Iterator:
        """(job, outcome) as jobs finish. Workers publish each epoch on a topic of this call; the coordinator
        relays them to ``on_epoch`` on its own thread every POLL_S, so a progress display (and its Ctrl-C
        check) runs while a long job trains. Leaving the loop early (an exception in ``on_epoch``) cancels the
        jobs.

        A worker that dies while it runs a job (killed, out of memory) costs the job nothing: the scheduler
        runs it again on another worker. Only when ``distributed.scheduler.allowed-failures`` + 1 workers
        died running the same job (the job itself is the likely killer) does dask give up with KilledWorker;
        the outcome is then ``lost(job, reason)`` (the search stores the candidate as failed, and a later run
        or resume retries it), or the KilledWorker is raised when ``lost`` is None."""
        from dask.distributed import as_completed
        from distributed import KilledWorker

        topic = f"harx-epoch-{uuid.uuid4().hex}"
        epochs: collections.deque = collections.deque()
        self.client.subscribe_topic(topic, lambda event: epochs.append(event[1]))
        futures = {
            self.client.submit(_publishing_epochs, fn, job, self.execution, topic, pure=False): job
            for job in jobs
        }
        done = as_completed(futures)
        try:
            while not done.is_empty():
                batch = done.next_batch(block=False) if done.has_ready() else []
                while epochs:
                    msg = epochs.popleft()  # the worker adds its address to the dict
                    if on_epoch is not None:
                        on_epoch(EpochLog(**{f.name: msg[f.name] for f in dataclasses.fields(EpochLog)}))
                for fut in batch:
                    try:
                        outcome = fut.result()
                    except KilledWorker as exc:
                        if lost is None:
                            raise
                        outcome = lost(futures[fut], _killed_reason(exc))
                    yield futures[fut], outcome
                if not batch:
                    time.sleep(POLL_S)
        finally:
            self.client.unsubscribe_topic(topic)
            self.client.cancel([f for f in futures if not f.done()])

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def _killed_reason(exc) -> str:
    tries = exc.allowed_failures + 1
    return (
        f"KilledWorker: {tries} worker{'s' if tries > 1 else ''} died while running it (dask gives up after "
        f"distributed.scheduler.allowed-failures = {exc.allowed_failures} retries); not scored, so the next "
        "run or resume of this store trains it again"
    )


def _publishing_epochs(fn: Callable, job, execution: Execution, topic: str):
    """Runs on a worker: ``fn`` with each epoch published to ``topic`` as a plain dict (the scheduler relays
    events as msgpack)."""
    from dask.distributed import get_worker

    worker = get_worker()
    return fn(job, execution, lambda log: worker.log_event(topic, dataclasses.asdict(log)))


def make_executor(settings: ExecutorSettings, execution: Execution):
    """``execution`` applies to the local executor; dask workers use ``settings.threads_per_worker``."""
    return DaskExecutor(settings) if settings.kind == "dask" else LocalExecutor(execution)
