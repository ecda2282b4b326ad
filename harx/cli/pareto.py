"""`harx pareto list|plot|show|export`: look at a run's Pareto front, one candidate, and hand the numbers on."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from harx.cli.common import out, print_table
from harx.cli.tables import (
    comparison_lines,
    comparison_table,
    confusion_table,
    cost_summary,
    cost_table,
    front_summary,
    front_table,
    history_table,
    layers_table,
    metrics_lines,
    stored_cost,
)
from harx.data.registry import is_builtin
from harx.errors import ConfigError
from harx.pareto import (
    DEFAULT_AXES,
    DEFAULT_OBJECTIVES,
    FORMATS,
    detail,
    export,
    load_reference,
    open_store,
    panels,
    plot_html,
    plot_png,
)
from harx.pareto.compare import ACC_TOLERANCE_POINTS, COST_TOLERANCE, HV_TOLERANCE, compare, load_side
from harx.pareto.front import read_front
from harx.pareto.objectives import parse_ref
from harx.pareto.plot import default_plot_path
from harx.paths import check_output, write_atomic

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
    front = read_front(store, run, objectives, target, stage, ref)
    if as_json or as_csv:
        typer.echo(export(front, "json" if as_json else "csv", include_all), nl=False)
        return
    print_table(front_table(front, include_all))
    out.print(front_summary(front), highlight=False, soft_wrap=True)


def plot_command(
    run: list[int] = typer.Option(
        None, "--run", help="Run id; repeat to overlay runs (default: the newest run)."
    ),
    store: Path = typer.Option(None, "--store", help=_STORE_HELP),
    paths: list[Path] = typer.Option(
        None,
        "--out",
        "-o",
        help="Output file, .png or .html; repeat for both (default: $HARX_HOME/plots/<dataset>-run<ID>.png).",
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
        help="Published figures to draw beside the fronts (default: Daghero et al. 2022's ranges for a "
        "built-in dataset, none for your own).",
    ),
    no_reference: bool = typer.Option(False, "--no-reference", help="Draw no published figures."),
) -> None:
    """Fronts of accuracy against flash, latency and energy (log axes) as PNG and/or self-contained HTML.

    The axes span the measured points; published ranges are drawn inside them, never widen them."""
    for path in paths or ():
        if path.suffix.lower() not in (".png", ".html"):
            raise ConfigError(f"--out: {path}: the file name must end in .png or .html")
        check_output(path, flag="--out")
    ref = None if no_reference or reference is None else load_reference(reference)
    with open_store(store) as s:
        panel_list = panels(s, run, target, metric, tuple(a.strip() for a in axes.split(",")), stage)
    dataset = panel_list[0].fronts[0].dataset
    if reference is None and not no_reference and is_builtin(dataset):
        ref = load_reference()
    if not paths:
        paths = [default_plot_path(panel_list)]
    for path in paths:
        written = (plot_png if path.suffix.lower() == ".png" else plot_html)(panel_list, path, ref)
        typer.echo(f"wrote {written}")


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
        typer.echo(json.dumps(d.to_json(), indent=2, default=str))
        return
    r = d.record
    out.print(f"[bold]candidate {r.id}[/]  {r.genome}", highlight=False)
    status = r.status + (f" ({r.infeasible_reason or r.error})" if r.status != "ok" else "")
    out.print(
        f"dataset {r.dataset}, stage {r.stage} (selected on {d.selected_on}), status {status}, "
        f"trained in {r.train_seconds:.1f} s, "
        f"artifact {r.artifact_path or '–'}",
        highlight=False,
    )
    if r.train_config:
        out.print(
            f"training config: {json.dumps(r.train_config, sort_keys=True)}", highlight=False, soft_wrap=True
        )
    out.print("metrics:\n" + ("\n".join(metrics_lines(d)) or "  none stored"), highlight=False)
    for t, c in sorted(r.costs.items()):
        out.print(f"stored cost on {t}: {stored_cost(c)}", highlight=False)
    if d.input is None:
        out.print(f"per-layer breakdown: unknown input shape (no extra.input, '{r.dataset}' is not built in)")
    else:
        out.print(
            f"input {d.input.channels} channels x {d.input.length} samples, {d.input.classes} classes "
            f"({d.input.source})",
            highlight=False,
        )
        print_table(layers_table(d))
        for cost in d.costs.values():
            print_table(cost_table(cost))
            out.print(cost_summary(cost), highlight=False, soft_wrap=True)
    for note in d.cost_changes:
        out.print(f"[yellow]note:[/] {note}", highlight=False)
    if d.confusion:
        print_table(confusion_table(d))
    if d.history:
        print_table(history_table(d))


def export_command(
    fmt: str = typer.Option("markdown", "--format", "-f", help=f"One of {', '.join(FORMATS)}."),
    run: int = _RUN,
    store: Path = _STORE,
    objectives: str | None = _OBJECTIVES,
    target: str = _TARGET,
    stage: str = _STAGE,
    include_all: bool = _ALL,
    ref: str = _REF,
    path: Path = typer.Option(None, "--out", "-o", help="Write to this file instead of stdout."),
) -> None:
    """The front as a CSV, JSON or Markdown table (for papers and CI artifacts)."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format: unknown format '{fmt}' (choose from {', '.join(FORMATS)})")
    if path is not None:
        check_output(path, flag="--out")
    text = export(read_front(store, run, objectives, target, stage, ref), fmt, include_all)
    if path is None:
        typer.echo(text, nl=False)
    else:
        typer.echo(f"wrote {write_atomic(path, text)}")


def compare_command(
    baseline: str = typer.Option(
        ..., "--baseline", help="A saved front (`harx pareto export -f json -o FILE`) or a run id in --store."
    ),
    new: str = typer.Option(
        None, "--new", help="A saved front or a run id in --store (default: the newest run)."
    ),
    store: Path = _STORE,
    objectives: str | None = typer.Option(
        None, "--objectives", help="For a run-id baseline: as in `pareto list` (default: the run's)."
    ),
    target: str = typer.Option(None, "--target", "-t", help="For a run-id baseline: the cost target."),
    stage: str = typer.Option(None, "--stage", help="For a run-id baseline: proxy or refine."),
    hv_tolerance: float = typer.Option(
        HV_TOLERANCE, "--hv-tolerance", help="Relative hypervolume loss allowed (0.01 = 1%)."
    ),
    acc_tolerance: float = typer.Option(
        ACC_TOLERANCE_POINTS, "--acc-tolerance", help="Score points a matched point may lose."
    ),
    cost_tolerance: float = typer.Option(
        COST_TOLERANCE, "--cost-tolerance", help="Relative cost a matched point may add."
    ),
    point: list[int] = typer.Option(
        None, "--point", help="A baseline candidate id the new front must match (repeatable)."
    ),
    budget: str = typer.Option(
        None, "--at", help="Cost caps whose best score must not fall, e.g. flash=8192 (stored units)."
    ),
    ref: str = _REF,
    as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON."),
) -> None:
    """Compare a new front with a baseline (a saved front or a run): where it is above or below, and its
    hypervolume at a shared reference. Exit codes: 0 no regression, 1 regression beyond the tolerances,
    4 incomparable fronts or a bad option, 5 store errors."""
    base, base_label = load_side(baseline, store, objectives=objectives, target=target, stage=stage)
    other, other_label = load_side(new, store, like=base)
    result = compare(
        base,
        other,
        hv_tolerance=hv_tolerance,
        acc_tolerance=acc_tolerance,
        cost_tolerance=cost_tolerance,
        points=tuple(point or ()),
        budgets=parse_ref(budget, base.objectives, flag="--at") or None,
        ref=parse_ref(ref, base.objectives) if ref else None,
        labels=(base_label, other_label),
    )
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
    else:
        print_table(comparison_table(result))
        for line in comparison_lines(result):
            out.print(line, highlight=False, soft_wrap=True, markup=False)
    if result.regressed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    pareto = typer.Typer(
        help="Pareto fronts of stored runs: list, plot, show one candidate, export tables.",
        no_args_is_help=True,
    )
    pareto.command("list")(list_command)
    pareto.command("plot")(plot_command)
    pareto.command("show")(show_command)
    pareto.command("export")(export_command)
    pareto.command("compare")(compare_command)
    app.add_typer(pareto, name="pareto")
