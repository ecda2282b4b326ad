"""`harx deploy`: the C project of a quantized model (PULP-NN-mixed kernel API), optionally built and checked."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from harx.cli.common import out, print_json
from harx.deploy import DEPLOY_TARGETS
from harx.deploy.pipeline import (
    DEFAULT_WINDOWS,
    DeployResult,
    attach_measurements,
    best_candidate,
    candidate_artifact,
    deploy,
)
from harx.deploy.toolchain import AdaptiveRunResult
from harx.errors import ConfigError
from harx.paths import default_store_path


def command(
    candidate: int = typer.Argument(
        None, metavar="CANDIDATE_ID", help="A candidate id in the store (or --artifact, --best)."
    ),
    artifact: Path = typer.Option(
        None, "--artifact", "-a", help="An artifact directory from `harx quantize`."
    ),
    best: bool = typer.Option(
        False, "--best", help="The store's most accurate candidate (refined: test accuracy; else validation)."
    ),
    target: str = typer.Option(..., "--target", "-t", help=f"One of {', '.join(DEPLOY_TARGETS)}."),
    out_dir: Path = typer.Option(
        ..., "--out", "-o", help="Project directory to write (replaced if harx made it; see --force)."
    ),
    force: bool = typer.Option(
        False,
        "--force",
        help="Write into -o though harx's files there were edited (overwritten) or others added (kept).",
    ),
    windows: int = typer.Option(
        DEFAULT_WINDOWS, "--windows", min=1, help="Real test windows embedded in the test harness."
    ),
    run_builds: bool = typer.Option(
        False, "--run", help="Build and run it (rv32 under qemu, counted; host and gap8 on this machine)."
    ),
    sanitize: bool = typer.Option(False, "--sanitize", help="With --run, also run a host ASan/UBSan build."),
    kernels: str = typer.Option(
        None,
        "--kernels",
        help="Kernel set: opt (harx's optimized kernels) or ref (its reference); default: the target's "
        "(opt on rv32 and host; gap8 has only ref: pulp-nn-mixed and harx's reference).",
    ),
    store: Path = typer.Option(None, "--store", help="Candidate store (default: $HARX_HOME/store.sqlite)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON object instead of tables."),
) -> None:
    """Write the C project of a quantized model: network, packed weights, kernels, test harness, Makefile.

    With --run it is built and run on real test windows and every logit is compared with the numpy
    integer model; rv32 runs also count instructions per inference exactly and report ELF sizes, and
    when deploying a stored candidate (CANDIDATE_ID or --best) those measurements are attached to it.
    """
    if (candidate is not None) + (artifact is not None) + best != 1:
        raise ConfigError("give exactly one of CANDIDATE_ID, --artifact PATH or --best")
    store_path = store or default_store_path()
    if best:
        candidate = best_candidate(store_path)
    source = artifact if artifact is not None else candidate_artifact(store_path, candidate)
    result = deploy(
        source,
        target,
        out_dir,
        windows=windows,
        run_builds=run_builds,
        sanitize=sanitize,
        kernels=kernels,
        force=force,
    )
    attached = (
        attach_measurements(store_path, candidate, result) if candidate is not None and result.runs else []
    )
    if as_json:
        print_json(result.to_json(candidate, attached))
    else:
        render(result, candidate, attached)
    if result.runs and not result.bit_exact:
        raise typer.Exit(1)


def render(r: DeployResult, candidate: int | None, attached: list[str]) -> None:
    p = r.project
    source = "" if candidate is None else f" (candidate {candidate})"
    out.print(f"[bold]{p.genome}[/]{source} for {p.target}: {p.path}", highlight=False)
    out.print(f"kernels ({p.kernel_set} set): {', '.join(p.kernels)}", highlight=False)
    out.print(
        f"memory plan ({p.plan.target}): flash {p.plan.ro_bytes:,} B of arrays, RAM {p.plan.ram_bytes:,} B; "
        f"{p.window_count} test windows embedded",
        highlight=False,
    )
    if not r.runs:
        out.print(f"build it: make -C {p.path} run-host | run-rv32 | count | gap8")
        return
    t = Table(title="runs")
    for col in ("build", "windows", "mismatches", "instructions / inference"):
        t.add_column(col, justify="left" if col == "build" else "right")
    for run in r.runs:
        ins = run.instructions
        t.add_row(
            run.build,
            str(run.windows),
            "[green]0[/]" if run.bit_exact else f"[red]{run.mismatched_windows}[/]",
            "" if ins is None else f"{ins.mean:,.1f} (min {ins.min:,}, max {ins.max:,})",
        )
    out.print(t)
    for run in r.runs:
        if isinstance(run, AdaptiveRunResult):
            _render_modes(run)
    for run in r.runs:
        s = run.sizes
        if s is not None:
            out.print(
                f"rv32 ELF: .text {s.text_bytes:,} B, .rodata {s.rodata_bytes:,} B, .data {s.data_bytes:,} B, "
                f".bss {s.bss_bytes:,} B; weights {s.weights_bytes:,} B (plan {p.plan.ro_bytes:,}), buffers "
                f"{s.buffers_bytes:,} B (plan {p.plan.ram_bytes:,}), inference code {s.inference_code_bytes:,} B",
                highlight=False,
            )
    if attached:
        out.print(f"attached to the candidate: {', '.join(attached)}")


def _render_modes(run: AdaptiveRunResult) -> None:
    counted = any(m.instructions for m in run.modes)
    t = Table(title=f"{run.build}: every window in each checked mode")
    cols = ("mode", "windows", "stopped early", "mismatches") + (
        ("instructions / inference",) if counted else ()
    )
    for col in cols:
        t.add_column(col, justify="right")
    for m in run.modes:
        row = [
            str(m.mode),
            str(m.windows),
            str(m.exited),
            "[green]0[/]" if m.mismatched_windows == 0 else f"[red]{m.mismatched_windows}[/]",
        ]
        t.add_row(*row, *((f"{m.mean_instructions():,.1f}",) if counted else ()))
    out.print(t)


def register(app: typer.Typer) -> None:
    app.command("deploy")(command)
