"""`harx adapt`: an early-exit or big/little adaptive model, its operating modes, a table, JSON and a plot."""

from __future__ import annotations

from pathlib import Path

import typer

from harx.cli.common import epoch_progress, err, out, print_json, print_table, print_warnings
from harx.cli.tables import budget_line, modes_table
from harx.cost import DEFAULT_TARGET
from harx.data.splits import DEFAULT_VAL_SUBJECTS
from harx.errors import ConfigError, StoreError
from harx.paths import check_output, default_store_path
from harx.quant.adaptive import DEFAULT_MODES, DEFAULT_POLICY
from harx.train.config import Execution


def command(
    candidate: int = typer.Option(None, "--candidate", help="Early exit: a stored candidate's genome."),
    artifact: Path = typer.Option(None, "--artifact", help="Early exit: the genome of an artifact."),
    genome: str = typer.Option(None, "--genome", "-g", help="Early exit: a genome (with --dataset)."),
    dataset: str = typer.Option(None, "--dataset", "-d", help="The dataset of --genome."),
    exit_after: int = typer.Option(None, "--exit-after", help="Early exit after the first K conv blocks."),
    little: int = typer.Option(None, "--little", help="Cascade: the little network (stored candidate id)."),
    big: int = typer.Option(None, "--big", help="Cascade: the big network (stored candidate id)."),
    little_artifact: Path = typer.Option(None, "--little-artifact", help="Cascade: little network artifact."),
    big_artifact: Path = typer.Option(None, "--big-artifact", help="Cascade: big network artifact."),
    store: Path = typer.Option(None, "--store", help="Candidate store (default: $HARX_HOME/store.sqlite)."),
    policy: str = typer.Option(
        DEFAULT_POLICY, "--policy", help="Policy of the deployed modes: max_score, margin, mean_gap."
    ),
    modes: int = typer.Option(DEFAULT_MODES, "--modes", min=2, help="Thresholds swept per policy (at most)."),
    exit_bits: int = typer.Option(
        None, "--exit-bits", help="Exit head weight bits (default: the classifier's)."
    ),
    epochs: int = typer.Option(None, "--epochs", help="Float epochs (default: the source's or 40)."),
    qat_epochs: int = typer.Option(None, "--qat-epochs", help="QAT epochs (default: the source's or 25)."),
    batch_size: int = typer.Option(
        None, "--batch-size", min=1, help="Windows per optimizer step (default: the source's or 64)."
    ),
    seed: int = typer.Option(
        None,
        "--seed",
        help="Training seed, also picks the validation subjects (default: the artifact's, else 0).",
    ),
    val_subjects: int = typer.Option(
        None,
        "--val-subjects",
        help="Validation subjects (default: the candidate's, else a fifth of the training subjects, "
        f"1 to {DEFAULT_VAL_SUBJECTS}).",
    ),
    threads: int = typer.Option(2, "--threads", help="torch CPU threads."),
    out_dir: Path = typer.Option(
        None, "--out", "-o", help="Adaptive model directory (default: under $HARX_HOME)."
    ),
    force: bool = typer.Option(
        False,
        "--force",
        help="Write into -o though harx's files there were edited (overwritten) or others added (kept).",
    ),
    plot: Path = typer.Option(
        None, "--plot", help="Write a PNG of the modes beside the store's static front."
    ),
    run_id: int = typer.Option(
        None, "--run", help="The search run whose front --plot shows (default: newest)."
    ),
    target: str = typer.Option(DEFAULT_TARGET, "--target", "-t", help="Energy axis of --plot and the table."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON object instead of tables."),
) -> None:
    """Derive runtime operating modes from one CNN: an early-exit head (--candidate/--artifact/--genome
    with --exit-after) or a big/little cascade (--little/--big or --little-artifact/--big-artifact).

    Thresholds of each confidence policy are swept on the validation subjects, every mode is scored on the
    test subjects (accuracy, macro-F1, early stops, average MACs, latency and energy on gap8 and rv32), and
    the adaptive model is written for `harx deploy --artifact DIR`.
    """
    from harx import adapt  # torch loads only for commands that train or score
    from harx.adapt.sources import cascade_artifacts, early_exit_source, static_front, training_config

    sources = {
        "--candidate": candidate,
        "--artifact": artifact,
        "--genome": genome,
        "--little/--big": little if little is not None or big is not None else None,
        "--little-artifact/--big-artifact": little_artifact
        if little_artifact is not None or big_artifact is not None
        else None,
    }
    given = [k for k, v in sources.items() if v is not None]
    if len(given) != 1:
        raise ConfigError(
            "give exactly one source: --candidate, --artifact or --genome (with --exit-after) for an early exit, "
            "or --little and --big, or --little-artifact and --big-artifact for a cascade"
        )
    store_path = store or default_store_path()
    if plot is not None:
        check_output(plot, flag="--plot")  # before any training
    common = {"policy": policy, "n_modes": modes, "out": out_dir, "force": force}
    if given[0].startswith("--little"):
        if exit_after is not None:
            raise ConfigError("--exit-after is for an early exit, not a cascade")
        little_art, big_art = cascade_artifacts(store_path, little, big, little_artifact, big_artifact)
        result = adapt.adapt_cascade(little_art, big_art, n_val_subjects=val_subjects, **common)
    else:
        if exit_after is None:
            raise ConfigError(f"{given[0]} needs --exit-after K (the exit follows the first K conv blocks)")
        src = early_exit_source(store_path, candidate, artifact, genome, dataset)
        with epoch_progress(not as_json, src.genome.text()) as on_epoch:
            result = adapt.adapt_early_exit(
                src.genome,
                src.dataset,
                exit_after,
                training_config(src.training, epochs, qat_epochs, batch_size),
                seed=src.seed if seed is None else seed,
                n_val_subjects=src.val_subjects if val_subjects is None else val_subjects,
                exit_w_bits=exit_bits,
                on_epoch=on_epoch,
                execution=Execution(threads=threads),
                **common,
            )
    static = None
    if plot is not None:
        from harx.adapt.plot import plot_png

        try:
            static = static_front(store_path, run_id, target)
        except StoreError as exc:
            err.print(f"note: the plot shows no static front ({exc})", highlight=False, soft_wrap=True)
        plot_png([result], plot, target, static)
    print_warnings(result.warnings)
    if as_json:
        print_json(result.to_json(target))
    else:
        render(result, target, plot, static)


def render(r, target: str, plot: Path | None, static) -> None:
    """Tables for a harx.adapt.AdaptResult."""
    out.print(
        f"[bold]{r.description}[/] ({r.kind}) on {r.dataset}: thresholds from {r.val_windows} validation windows "
        f"(subjects {', '.join(map(str, r.val_subjects))}), scores on {r.test_windows} test windows",
        highlight=False,
        soft_wrap=True,
    )
    if r.training:
        out.print(budget_line(r.training["effective"]), highlight=False, soft_wrap=True)
    print_table(modes_table(r, target))
    single = r.costs[target].single
    out.print(
        f"single network: {single.macs:,} MACs, {single.energy_uj:.3f} µJ on {target}; modes span "
        f"{r.macs_span():.2f}x in average MACs; {len(r.modes)} modes",
        highlight=False,
        soft_wrap=True,
    )
    for name, p in (("chosen on validation", r.within), ("oracle on test", r.oracle)):
        out.print(
            f"within {p.points} points of the full network ({name}): mode {p.index}, test accuracy "
            f"{100 * p.mode.test.accuracy:.2f}% vs {100 * r.full.test.accuracy:.2f}%, "
            f"{_saving_text(r.saving(p))} than the single network",
            highlight=False,
            soft_wrap=True,
        )
    for mem in r.memory.values():
        out.print(
            f"memory on {mem.target}: +{mem.extra_ro_bytes:,} B flash, +{mem.extra_ram_bytes:,} B RAM = "
            f"+{mem.extra_bytes:,} B ({mem.extra_percent:.1f}% of the single network's "
            f"{mem.single_ro_bytes + mem.single_ram_bytes:,} B)",
            highlight=False,
            soft_wrap=True,
        )
    if plot is not None:
        out.print(f"plot: {plot}" + ("" if static is not None else " (no static front)"))
    out.print(
        f"adaptive model: {r.artifact_path}; deploy it with `harx deploy --artifact {r.artifact_path} ...`",
        soft_wrap=True,
    )


def _saving_text(saving: float) -> str:
    """'12.3% fewer MACs', or '0.1% more MACs' for a mode that costs more than the single network."""
    return f"{100 * abs(saving):.1f}% {'fewer' if saving >= 0 else 'more'} MACs"


def register(app: typer.Typer) -> None:
    app.command("adapt")(command)
