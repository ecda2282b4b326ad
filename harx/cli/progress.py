"""Progress of a long command on stderr: a rich live line in a terminal, plain timestamped lines in a log.

A CI job or ``harx search ... > log 2>&1`` has no terminal: a live line would show only its last state
when the command ends, so there each finished candidate, and each stage, is one line of its own.
"""

from __future__ import annotations

import time
from contextlib import contextmanager

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from harx.cli.common import err


def _stage(e) -> str:
    return e.stage if e.stage != "proxy" else f"generation {e.generation + 1}/{e.generations}"


def _counters(e) -> str:
    eta = f", eta {e.eta_s / 60:.0f} min" if e.eta_s else ""
    return f"served {e.cache_hits}, trained {e.trained}, float stages reused {e.float_hits}{eta}"


class _Lines:
    """One line per finished candidate and per stage, each with the elapsed time."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.stage = ""

    def _print(self, text: str) -> None:
        elapsed = time.monotonic() - self.t0
        err.print(
            f"[{time.strftime('%H:%M:%S')} +{elapsed / 60:5.1f} min] {text}", highlight=False, soft_wrap=True
        )

    def __call__(self, e) -> None:
        stage = _stage(e)
        if stage != self.stage:
            self.stage = stage
            self._print(f"{stage}: {e.total} candidates")
        if e.genome:
            self._print(f"{stage} {e.done}/{e.total} {e.genome}: {e.detail} ({_counters(e)})")


@contextmanager
def search_progress(enabled: bool):
    """Yields the ``on_event`` callback of a search (None when disabled): live in a terminal, lines in a log."""
    if not enabled:
        yield None
        return
    if not err.is_terminal:
        yield _Lines()
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        console=err,
    ) as p:
        task = p.add_task("search", total=1, info="")

        def on_event(e) -> None:
            info = f"{_counters(e)}  {e.detail or e.genome}"
            p.update(task, description=_stage(e), completed=e.done, total=max(e.total, 1), info=info[:90])

        yield on_event
