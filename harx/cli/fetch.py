"""`harx fetch`: download, verify, parse and cache a dataset; `--list` the known ones; `--import` your own."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from harx.data import fetch as data_fetch
from harx.data import import_dataset, list_datasets
from harx.data.fetcher import FetchResult
from harx.errors import ConfigError

_out = Console()
_err = Console(stderr=True)


def _subjects(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError as exc:
        raise ConfigError(f"--test-subjects {text!r}: expected comma-separated ids, e.g. 2,4,9") from exc


def _show_list(home: Path | None, as_json: bool) -> None:
    rows = list_datasets(home)
    if as_json:
        typer.echo(json.dumps([r.to_json() for r in rows], indent=2))
        return
    variants = [f"{r.name} = fetch {r.fetch_command}" for r in rows if r.fetch_command not in ("", r.name)]
    table = Table(
        title="harx datasets",
        caption="cls classes, ch channels, T window samples; " + "; ".join(variants),
    )
    table.add_column("name", no_wrap=True)
    table.add_column("cached", no_wrap=True)
    for column in ("cls", "ch", "fs Hz", "T", "subj"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("license", min_width=9)
    table.add_column("citation", min_width=12)
    for r in rows:
        table.add_row(
            r.name,
            r.cached,
            str(r.n_classes),
            str(r.n_channels),
            f"{r.fs_hz:g}",
            str(r.window),
            str(r.n_subjects),
            r.license,
            r.citation,
        )
    _out.print(table)


def _show_result(result: FetchResult, as_json: bool) -> None:
    for warning in result.warnings:
        _err.print(f"[bold yellow]WARNING:[/] {warning}", highlight=False, soft_wrap=True)
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
        return
    verified = {True: "verified", False: "[bold yellow]UNVERIFIED[/]", None: "user import"}[result.verified]
    _out.print(f"[bold green]{result.name}[/] -> {result.cache_path} ({result.elapsed_s:.1f} s)")
    _out.print(f"  source  {result.source_kind}: {result.source}", highlight=False)
    _out.print(f"  sha256  {result.archive_sha256} ({verified})", highlight=False)
    if result.matched_archive:
        _out.print(f"  archive {result.matched_archive}", highlight=False, soft_wrap=True)
    table = Table(show_edge=False)
    table.add_column("class")
    for split in result.split_sizes:
        table.add_column(f"{split} ({len(result.split_subjects[split])} subjects)", justify="right")
    for c in result.class_names:
        table.add_row(c, *(str(result.class_counts[s][c]) for s in result.split_sizes))
    table.add_row("[bold]total[/]", *(f"[bold]{n}[/]" for n in result.split_sizes.values()))
    _out.print(table)
    _out.print(
        f"  {result.n_channels} channels x {result.window} samples at {result.fs_hz:g} Hz: "
        + ", ".join(result.channels),
        highlight=False,
    )


def fetch(
    name: str | None = typer.Argument(None, help="Dataset to fetch (see --list)."),
    list_: bool = typer.Option(False, "--list", help="Show every dataset and whether it is cached."),
    file: Path | None = typer.Option(None, "--file", help="Read this local copy of the official archive."),
    sha256: str | None = typer.Option(None, "--sha256", help="Require the archive to have this sha256."),
    trust_archive: bool = typer.Option(
        False, "--trust-archive", help="Accept an archive whose sha256 is not known (recorded as unverified)."
    ),
    classes: int | None = typer.Option(None, "--classes", help="uci-hapt: 12 (default) or 6 (uci-hapt-6)."),
    subset: str | None = typer.Option(
        None, "--subset", help="unimib-shar: all (default), adl or fall (-> unimib-shar-adl / -fall)."
    ),
    window: int | None = typer.Option(None, "--window", help="Window length in samples (stream datasets)."),
    step: int | None = typer.Option(None, "--step", help="Window step in samples (stream datasets)."),
    import_file: Path | None = typer.Option(
        None, "--import", help="Register your own .npz windows or .csv stream (docs/import-format.md)."
    ),
    import_name: str | None = typer.Option(None, "--name", help="Name for an --import."),
    fs_hz: float | None = typer.Option(None, "--fs-hz", help="Sampling rate of a CSV --import, in Hz."),
    test_subjects: str | None = typer.Option(
        None, "--test-subjects", help="Test subject ids of an --import, e.g. 2,4,9."
    ),
    max_unpacked_mib: int | None = typer.Option(
        None,
        "--max-unpacked-mib",
        help="Most one archive member or .npz array may unpack to, in MiB "
        "(default $HARX_MAX_UNPACKED_MIB, else 256).",
    ),
    home: Path | None = typer.Option(None, "--home", help="Cache root (default $HARX_HOME, ~/.cache/harx)."),
    as_json: bool = typer.Option(False, "--json", help="Print a machine-readable summary on stdout."),
    no_progress: bool = typer.Option(False, "--no-progress", help="No download progress bar."),
) -> None:
    """Download, verify, parse and cache a dataset (or --list them, or --import your own).

    The archive comes from --file, else from $HARX_DATA_MIRROR (a directory or URL prefix), else from the
    dataset's official URL. Its sha256 must be a known one (see docs/datasets.md) unless --sha256 or
    --trust-archive say otherwise.
    """
    if list_:
        _show_list(home, as_json)
        return
    if max_unpacked_mib is not None and max_unpacked_mib < 1:
        raise ConfigError(f"--max-unpacked-mib {max_unpacked_mib}: expected a positive number of MiB")
    limit = max_unpacked_mib << 20 if max_unpacked_mib is not None else None
    if import_file is not None:
        if import_name is None:
            raise ConfigError("--import needs --name NAME (the name to load it by)")
        if name is not None or file is not None:
            raise ConfigError("--import takes no dataset name or --file; give --name instead")
        result = import_dataset(
            import_file,
            import_name,
            home,
            fs_hz=fs_hz,
            test_subjects=_subjects(test_subjects),
            max_unpacked_bytes=limit,
            **{k: v for k, v in (("window", window), ("step", step)) if v is not None},
        )
    else:
        if name is None:
            raise ConfigError("name a dataset to fetch (see `harx fetch --list`), or use --list or --import")
        import_only = (("--name", import_name), ("--fs-hz", fs_hz), ("--test-subjects", test_subjects))
        for option, value in import_only:
            if value is not None:
                raise ConfigError(f"{option} applies to --import only")
        result = data_fetch(
            name,
            file,
            home,
            sha256=sha256,
            trust_archive=trust_archive,
            classes=classes,
            subset=subset,
            window=window,
            step=step,
            progress=not no_progress,
            max_unpacked_bytes=limit,
        )
    _show_result(result, as_json)


def register(app: typer.Typer) -> None:
    app.command(name="fetch")(fetch)
