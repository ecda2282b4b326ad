"""Executors run evaluation jobs: `local` in this process, `dask` on a dask.distributed cluster.

Either way the coordinator alone writes the store: executors only return outcomes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from harx.errors import ConfigError
from harx.search.recipe import ExecutorSettings


class LocalExecutor:
    """One job at a time in this process, using ``threads`` torch threads (fastest on a small machine)."""

    name = "local"

    def __init__(self, threads: int) -> None:
        self.threads = threads

    def map(self, fn: Callable, jobs: Iterable, on_epoch: Callable | None = None) -> Iterator:
        for job in jobs:
            yield job, fn(job, self.threads, on_epoch)

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
        self.threads = settings.threads_per_worker
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

    def map(self, fn: Callable, jobs: Iterable, on_epoch: Callable | None = None) -> Iterator:
        from dask.distributed import as_completed

        jobs = list(jobs)
        futures = {self.client.submit(fn, job, self.threads, pure=False): job for job in jobs}
        for fut in as_completed(futures):
            yield futures[fut], fut.result()

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def make_executor(settings: ExecutorSettings, threads: int):
    return DaskExecutor(settings) if settings.kind == "dask" else LocalExecutor(threads)
