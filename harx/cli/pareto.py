"""`harx pareto list|plot|show|export`: look at a run's Pareto front, one candidate, and hand the numbers on."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from harx.cli.cost import cost_summary, cost_table
from harx.errors import ConfigError
from harx.pareto import (
    DEFAULT_AXES,
    DEFAULT_OBJECTIVES,
    FORMATS,
    CandidateDetail,
    Front,
    detail,
    export,
    load_front,
    load_reference,
    open_store,
    panels,
    plot_html,
    plot_png,
)
from harx.pareto.export import write_atomic
from harx.pareto.front import pick_run
from harx.pareto.objectives import parse_objectives, parse_ref, run_objectives

_STORE_HELP = "Candidate store file (default: $HARX_HOME/store.sqlite)."
# Options shared by `list` and `export`, which select a front the same way.
_RUN = typer.Option(None, "--run", help="Run id (default: the newest run).")
_STORE = typer.Option(None, "--store", help=_STORE_HELP)
_OBJECTIVES = typer.Option(
    None,
    "--objectives",
    help="2 or 3 of acc, f1 (maximised), flash, ram, latency, energy, macs (minimised), comma-separated "
    f"(default: the run's search objectives; {','.join(DEFAULT_OBJECTIVES)} for runs that differ).",
)
_TARGET = typer.Option(
    None, "--target", "-t", help="Target of flash/ram/latency/energy/macs (default: the run's search target)."
)
_STAGE = typer.Option(None, "--stage", help="proxy or refine (default: refine when the run has it).")
_ALL = typer.Option(False, "--all", help="Also include the dominated candidates.")
_REF = typer.Option(None, "--ref", help="Hypervolume reference, e.g. acc=0.5,flash=30000 (stored units).")


def _console() -> Console:
    console = Console()
    console.width = max(console.width, 160)  # genome texts and per-target columns fold badly in 80 columns
    return console


def _front(
    store: Path | None,
    run: int | None,
    objectives: str | None,
    target: str | None,
    stage: str | None,
    ref: str | None,
):
    objs = parse_objectives(objectives) if objectives else None
    with open_store(store) as s:
        if objs is None:
            objs = parse_objectives(run_objectives(pick_run(s, run).recipe))
        return load_front(s, run, objs, target, stage, parse_ref(ref, objs))


def _fmt(value: float | None, spec: str, scale: float | None = None) -> str:
    if value is None:
        return "–"
    return format(value if scale is None else value * scale, spec)


def front_table(front: Front, include_dominated: bool) -> Table:
    name = f" '{front.run.name}'" if front.run.name else ""
    objs = ", ".join(f"{o.name} ({o.sense})" for o in front.objectives)
    table = Table(
        title=f"run {front.run.id}{name} on {front.dataset}: {front.stage} front over {objs} on {front.target}; "
        f"scores on the {front.score_source}",
        title_justify="left",
    )
    targets = sorted({t for p in front.all_points for t in p.costs})
    table.add_column("id")
    table.add_column("genome", no_wrap=True)
    for col in ("acc %", "F1 %", "flash B", f"RAM B ({front.target})"):
        table.add_column(col, justify="right")
    for t in targets:
        table.add_column(f"{t} ms", justify="right")
        table.add_column(f"{t} µJ", justify="right")
    if include_dominated:
        table.add_column("front")
    for p in front.points + (front.dominated if include_dominated else ()):
        c = p.costs.get(front.target)
        std = f" ± {100 * p.acc_std:.2f}" if p.acc_std is not None else ""
        row = [
            str(p.candidate_id),
            p.genome,
            _fmt(p.acc, ".2f", 100) + std,
            _fmt(p.f1, ".2f", 100),
            _fmt(c.flash_bytes if c else None, ","),
            _fmt(c.ram_bytes if c else None, ","),
        ]
        for t in targets:
            tc = p.costs.get(t)
            row += [_fmt(tc.latency_ms if tc else None, ".4g"), _fmt(tc.energy_uj if tc else None, ".4g")]
        if include_dominated:
            row.append("yes" if p.on_front else "")
        table.add_row(*row)
    return table


def front_summary(front: Front) -> str:
    units = " x ".join(o.unit or "fraction" for o in front.objectives)
    return (
        f"hypervolume {front.hypervolume:.6g} ({units}, objectives as minimised) at reference "
        f"{front.describe_reference()}\n{len(front.points)} on the front, {len(front.dominated)} dominated; "
        f"not placed: {front.n_infeasible} infeasible on {front.target}, {front.n_failed} failed, "
        f"{front.n_unplaced} missing a value"
    )


def list_command(
    run: int = _RUN,
    store: Path = _STORE,
    objectives: str | None = _OBJECTIVES,
    target: str = _TARGET,
    stage: str = _STAGE,
    include_all: bool = _ALL,
    ref: str = _REF,
    as_json: bool = typer.Option(False, "--json", help="Print the front as JSON."),
    as_csv: bool = typer.Option(False, "--csv", help="Print the front as CSV."),
) -> None:
    """The non-dominated candidates of a run, their scores and costs, and the front's hypervolume."""
    if as_json and as_csv:
        raise ConfigError("give at most one of --json and --csv")
    front = _front(store, run, objectives, target, stage, ref)
    if as_json or as_csv:
        typer.echo(export(front, "json" if as_json else "csv", include_all), nl=False)
        return
    console = _console()
    console.print(front_table(front, include_all))
    console.print(front_summary(front), highlight=False, soft_wrap=True)


def plot_command(
    run: list[int] = typer.Option(
        None, "--run", help="Run id; repeat to overlay runs (default: the newest run)."
    ),
    store: Path = typer.Option(None, "--store", help=_STORE_HELP),
    out: list[Path] = typer.Option(
        [Path("front.png")], "--out", "-o", help="Output file, .png or .html; repeat for both."
    ),
    target: str = typer.Option(
        None, "--target", "-t", help="Target of the cost axes (default: the runs' search target)."
    ),
    metric: str = typer.Option("acc", "--metric", help="Score on the vertical axis: acc or f1."),
    axes: str = typer.Option(",".join(DEFAULT_AXES), "--axes", help="Cost axes, one panel each."),
    stage: str = typer.Option(None, "--stage", help="proxy or refine (default: refine when a run has it)."),
    reference: Path = typer.Option(
        None,
        "--reference",
        help="Published figures to draw beside the fronts (default: Daghero et al. 2022).",
    ),
    no_reference: bool = typer.Option(False, "--no-reference", help="Draw no published figures."),
) -> None:
    """Fronts of accuracy against flash, latency and energy (log axes) as PNG and/or self-contained HTML."""
    for path in out:
        if path.suffix.lower() not in (".png", ".html"):
            raise ConfigError(f"--out: {path}: the file name must end in .png or .html")
    ref = None if no_reference else load_reference(reference)
    with open_store(store) as s:
        panel_list = panels(s, run, target, metric, tuple(a.strip() for a in axes.split(",")), stage)
    for path in out:
        written = (plot_png if path.suffix.lower() == ".png" else plot_html)(panel_list, path, ref)
        typer.echo(f"wrote {written}")


def _layers_table(d: CandidateDetail) -> Table:
    table = Table(title="layers and bits", title_justify="left")
    for col in ("#", "layer", "in", "out", "in bits", "w bits", "out bits", "params"):
        table.add_column(col, justify="left" if col == "layer" else "right")
    for i, layer in enumerate(d.layers):
        table.add_row(
            str(i),
            layer.kind,
            f"{layer.cin}x{layer.lin}",
            f"{layer.cout}x{layer.lout}",
            str(layer.in_bits),
            str(layer.w_bits or "–"),
            str(layer.out_bits),
            f"{layer.n_weights:,}",
        )
    return table


def _confusion_table(d: CandidateDetail) -> Table:
    names = [s.name for s in d.class_scores]
    table = Table(
        title="confusion matrix on the test subjects (rows: true, columns: predicted)", title_justify="left"
    )
    table.add_column("true \\ predicted")
    for name in names:
        table.add_column(name[:10], justify="right")
    for col in ("recall", "precision", "F1"):
        table.add_column(col, justify="right")
    for name, row, score in zip(names, d.confusion, d.class_scores, strict=True):
        table.add_row(
            name,
            *(str(v) for v in row),
            _fmt(score.recall, ".3f"),
            _fmt(score.precision, ".3f"),
            _fmt(score.f1, ".3f"),
        )
    return table


def _history_table(d: CandidateDetail) -> Table:
    table = Table(title="training curve (first seed)", title_justify="left")
    for col in ("phase", "epoch", "loss", "val acc", "val F1", "s"):
        table.add_column(col, justify="left" if col == "phase" else "right")
    for h in d.history:
        table.add_row(
            str(h.get("phase", "")),
            str(h.get("epoch", "")),
            _fmt(h.get("loss"), ".4f"),
            _fmt(h.get("val_acc"), ".4f"),
            _fmt(h.get("val_f1"), ".4f"),
            _fmt(h.get("seconds"), ".1f"),
        )
    return table


def _metrics_lines(d: CandidateDetail) -> list[str]:
    lines = []
    for key, value in sorted(d.record.metrics.items()):
        if isinstance(value, list):
            text = ", ".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in value)
            lines.append(f"  {key}: [{text}]")
        elif isinstance(value, float):
            lines.append(f"  {key}: {value:.4f}")
        else:
            lines.append(f"  {key}: {value:,}" if isinstance(value, int) else f"  {key}: {value}")
    return lines


def _stored_cost(c: dict) -> str:
    fit = "fits" if c.get("feasible", True) else f"does not fit: {c.get('infeasible_reason', '')}"
    return (
        f"flash {_fmt(c.get('flash_bytes'), ',')} B, RAM {_fmt(c.get('ram_bytes'), ',')} B, "
        f"{_fmt(c.get('latency_cycles'), ',')} cycles, {_fmt(c.get('latency_ms'), '.4g')} ms, "
        f"{_fmt(c.get('energy_uj'), '.4g')} µJ, {fit}"
    )


def detail_dict(d: CandidateDetail) -> dict:
    """The JSON form of ``harx pareto show``."""
    return {
        "candidate": asdict(d.record),
        "input": asdict(d.input) if d.input else None,
        "layers": [asdict(layer) for layer in d.layers],
        "costs": {t: asdict(c) for t, c in d.costs.items()},
        "cost_changes": list(d.cost_changes),
        "confusion_test": [list(r) for r in d.confusion] if d.confusion else None,
        "class_scores": [asdict(s) for s in d.class_scores],
        "history": list(d.history),
    }


def show_command(
    candidate_id: int = typer.Argument(..., help="Candidate id (see `harx pareto list`)."),
    store: Path = typer.Option(None, "--store", help=_STORE_HELP),
    target: list[str] = typer.Option(
        None, "--target", "-t", help="Cost targets (repeatable) (default: all)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print everything as JSON."),
) -> None:
    """Everything about one candidate: genome, per-layer bits and costs, confusion matrix, training curve."""
    with open_store(store) as s:
        d = detail(s, candidate_id, *([tuple(target)] if target else []))
    if as_json:
        typer.echo(json.dumps(detail_dict(d), indent=2, default=str))
        return
    r = d.record
    console = _console()
    console.print(f"[bold]candidate {r.id}[/]  {r.genome}", highlight=False)
    status = r.status + (f" ({r.infeasible_reason or r.error})" if r.status != "ok" else "")
    console.print(
        f"dataset {r.dataset}, stage {r.stage}, status {status}, trained in {r.train_seconds:.1f} s, "
        f"artifact {r.artifact_path or '–'}",
        highlight=False,
    )
    console.print("metrics:\n" + ("\n".join(_metrics_lines(d)) or "  none stored"), highlight=False)
    for t, c in sorted(r.costs.items()):
        console.print(f"stored cost on {t}: {_stored_cost(c)}", highlight=False)
    if d.input is None:
        console.print(
            f"per-layer breakdown: unknown input shape (no extra.input, '{r.dataset}' is not built in)"
        )
    else:
        console.print(
            f"input {d.input.channels} channels x {d.input.length} samples, {d.input.classes} classes "
            f"({d.input.source})",
            highlight=False,
        )
        console.print(_layers_table(d))
        for cost in d.costs.values():
            console.print(cost_table(cost))
            console.print(cost_summary(cost), highlight=False, soft_wrap=True)
    for note in d.cost_changes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    if d.confusion:
        console.print(_confusion_table(d))
    if d.history:
        console.print(_history_table(d))


def export_command(
    fmt: str = typer.Option("markdown", "--format", "-f", help=f"One of {', '.join(FORMATS)}."),
    run: int = _RUN,
    store: Path = _STORE,
    objectives: str | None = _OBJECTIVES,
    target: str = _TARGET,
    stage: str = _STAGE,
    include_all: bool = _ALL,
    ref: str = _REF,
    out: Path = typer.Option(None, "--out", "-o", help="Write to this file instead of stdout."),
) -> None:
    """The front as a CSV, JSON or Markdown table (for papers and CI artifacts)."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format: unknown format '{fmt}' (choose from {', '.join(FORMATS)})")
    text = export(_front(store, run, objectives, target, stage, ref), fmt, include_all)
    if out is None:
        typer.echo(text, nl=False)
    else:
        typer.echo(f"wrote {write_atomic(out, text)}")


def register(app: typer.Typer) -> None:
    pareto = typer.Typer(
        help="Pareto fronts of stored runs: list, plot, show one candidate, export tables.",
        no_args_is_help=True,
    )
    pareto.command("list")(list_command)
    pareto.command("plot")(plot_command)
    pareto.command("show")(show_command)
    pareto.command("export")(export_command)
    app.add_typer(pareto, name="pareto")
