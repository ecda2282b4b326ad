"""Small helpers the command modules share: consoles, JSON output, genome input, epoch progress."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from harx.errors import ConfigError
from harx.models.genome import Genome, parse_genome

out = Console()
err = Console(stderr=True)


def exit_interrupted() -> None:
    """Exit with 130 after Ctrl-C, as documented.

    sys.exit(130) is not enough: when the KeyboardInterrupt struck inside code that CPython ran through
    PyRun_* (some extension modules do), the interpreter remembers it as unhandled and, at exit, kills
    itself with SIGINT whatever was handled since (seen here: 1 run in 6 of the search's Ctrl-C test
    ended with -2). Everything was stored and closed before this point.
    """
    import os
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(130)


def print_table(table, console: Console = out) -> None:
    """Print ``table`` at its natural width, wider than the terminal if need be: a folded or cut genome or
    kernel name is useless in a terminal and in a CI log alike."""
    width = console.measure(table, options=console.options.update(max_width=10_000)).maximum
    saved = console.width
    console.width = max(saved, width)
    try:
        console.print(table)
    finally:
        console.width = saved


def print_warnings(warnings: list[str]) -> None:
    """Each warning as one line on stderr (a CI log keeps it whole); `--json` output also lists them."""
    for w in warnings:
        err.print(f"warning: {w}", highlight=False, soft_wrap=True, markup=False)


def print_json(obj) -> None:
    typer.echo(json.dumps(obj, indent=2, default=str))


def read_genome(spec: str | None, path: Path | None) -> Genome:
    """A genome from ``--genome TEXT`` or ``--genome-file FILE`` (first line that is not blank or '#')."""
    if (spec is None) == (path is None):
        raise ConfigError("give exactly one of --genome TEXT or --genome-file FILE")
    if path is not None:
        try:
            lines = [ln.strip() for ln in path.read_text().splitlines()]
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read genome file ({exc.strerror})") from None
        spec = next((ln for ln in lines if ln and not ln.startswith("#")), None)
        if spec is None:
            raise ConfigError(f"{path}: no genome text in the file")
    return parse_genome(spec)


@contextmanager
def epoch_progress(enabled: bool, label: str):
    """A rich progress line on stderr that an ``on_epoch`` callback updates; yields the callback. None when
    stderr is not a terminal: rich would draw nothing there but a stray blank line before any error."""
    if not enabled or not err.is_terminal:
        yield None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task(label, total=None, info="")

        def on_epoch(log) -> None:
            progress.update(
                task,
                description=f"{label} {log.phase} epoch {log.epoch + 1}",
                info=log.scores_text(),
            )

        yield on_epoch


class StopOnCtrlC:
    """The first Ctrl-C only asks a long command (a search) to stop; it stops at its next progress event (an epoch or a
    candidate), in Python on the main thread. A KeyboardInterrupt raised wherever the signal lands could
    strike inside torch or SQLite, which turn it into other errors (a candidate stored as failed, a run that
    went on). A second Ctrl-C interrupts at once."""

    def __enter__(self):
        import signal

        self.requested = False
        self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        import signal

        self.requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def check(self) -> None:
        if self.requested:
            raise KeyboardInterrupt

    def __exit__(self, *exc):
        import signal

        signal.signal(signal.SIGINT, self.previous)
        return False
