"""`harx adapt`: an early-exit or big/little adaptive model, its operating modes, a table, JSON and a plot."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from harx.cli.common import epoch_progress, err, out, print_json
from harx.errors import ConfigError, StoreError
from harx.paths import default_store_path

# harx.adapt's defaults, not imported here: torch loads only when the command runs (a test keeps them equal)
DEFAULT_MODES = 25
DEFAULT_POLICY = "margin"


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
    seed: int = typer.Option(
        None,
        "--seed",
        help="Training seed, also picks the validation subjects (default: the artifact's, else 0).",
    ),
    val_subjects: int = typer.Option(
        None, "--val-subjects", help="Validation subjects (default: the candidate's, else 4)."
    ),
    threads: int = typer.Option(2, "--threads", help="torch CPU threads."),
    out_dir: Path = typer.Option(
        None, "--out", "-o", help="Adaptive model directory (default: under $HARX_HOME)."
    ),
    plot: Path = typer.Option(
        None, "--plot", help="Write a PNG of the modes beside the store's static front."
    ),
    run_id: int = typer.Option(
        None, "--run", help="The search run whose front --plot shows (default: newest)."
    ),
    target: str = typer.Option("gap8", "--target", "-t", help="Energy axis of --plot and the table."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON object instead of tables."),
) -> None:
    """Derive runtime operating modes from one CNN: an early-exit head (--candidate/--artifact/--genome
    with --exit-after) or a big/little cascade (--little/--big or --little-artifact/--big-artifact).

    Thresholds of each confidence policy are swept on the validation subjects, every mode is scored on the
    test subjects (accuracy, macro-F1, early stops, average MACs, latency and energy on gap8 and rv32), and
    the adaptive model is written for `harx deploy --artifact DIR`.
    """
    from harx import adapt  # torch loads only for commands that train or score

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
    common = {"policy": policy, "n_modes": modes, "out": out_dir}
    if given[0].startswith("--little"):
        if exit_after is not None:
            raise ConfigError("--exit-after is for an early exit, not a cascade")
        little_art, big_art = _cascade_artifacts(store_path, little, big, little_artifact, big_artifact)
        n_val = 4 if val_subjects is None else val_subjects
        result = adapt.adapt_cascade(little_art, big_art, n_val_subjects=n_val, **common)
    else:
        if exit_after is None:
            raise ConfigError(f"{given[0]} needs --exit-after K (the exit follows the first K conv blocks)")
        g, ds_name, training, src_seed, src_val = _early_exit_source(
            store_path, candidate, artifact, genome, dataset
        )
        cfg = _config(training, epochs, qat_epochs, threads)
        with epoch_progress(not as_json, g.text()) as on_epoch:
            result = adapt.adapt_early_exit(
                g,
                ds_name,
                exit_after,
                cfg,
                seed=src_seed if seed is None else seed,
                n_val_subjects=src_val if val_subjects is None else val_subjects,
                exit_w_bits=exit_bits,
                on_epoch=on_epoch,
                **common,
            )
    static = _static_front(store_path, run_id, target) if plot is not None else None
    if plot is not None:
        from harx.adapt.plot import plot_png

        plot_png([result], plot, target, static)
    if as_json:
        print_json(result.to_json(target))
    else:
        render(result, target, plot, static)


def _config(training: dict, epochs: int | None, qat_epochs: int | None, threads: int):
    from harx.train.config import TrainConfig

    d = {k: v for k, v in training.items() if k not in ("threads", "seed")}
    if epochs is not None:
        d["epochs_float"] = epochs
    if qat_epochs is not None:
        d["epochs_qat"] = qat_epochs
    return TrainConfig.from_dict({**d, "threads": threads}, "training settings")


def _early_exit_source(store_path, candidate, artifact, genome, dataset):
    """(genome, dataset, training settings, seed, validation subjects) of an early-exit source."""
    from harx.models.genome import parse_genome
    from harx.quant.artifact import load

    if genome is not None:
        if dataset is None:
            raise ConfigError("--genome needs --dataset")
        return parse_genome(genome), dataset, {}, 0, 4
    if dataset is not None:
        raise ConfigError("--dataset goes with --genome (a candidate or artifact names its own)")
    if artifact is not None:
        art = load(artifact)
        return (
            parse_genome(art.genome),
            art.dataset,
            art.train_config,
            int(art.train_config.get("seed", 0)),
            4,
        )
    from harx.store import Store

    if not Path(store_path).is_file():
        raise StoreError(f"{store_path}: no candidate store here (give --store PATH)")
    with Store(store_path) as st:
        rec = st.get_candidate(candidate)
    tc = rec.train_config
    training = tc.get("training", {}) if rec.stage == "refine" else {}
    # the exit is retrained, so a candidate refined on every training subject (0) can still hold 4 out
    return parse_genome(rec.genome), rec.dataset, training, 0, int(tc.get("val_subjects", 4)) or 4


def _cascade_artifacts(store_path, little, big, little_artifact, big_artifact):
    from harx.deploy.pipeline import candidate_artifact
    from harx.quant.artifact import load

    if little_artifact is not None or big_artifact is not None:
        if little_artifact is None or big_artifact is None:
            raise ConfigError("a cascade needs both --little-artifact and --big-artifact")
        return load(little_artifact), load(big_artifact)
    if little is None or big is None:
        raise ConfigError("a cascade needs both --little ID and --big ID")
    return load(candidate_artifact(store_path, little)), load(candidate_artifact(store_path, big))


def _static_front(store_path: Path, run_id: int | None, target: str):
    """The store's front over accuracy and energy on ``target``, or None (with a note) when there is none."""
    if not Path(store_path).is_file():
        err.print(f"note: no store at {store_path}: the plot shows no static front", highlight=False)
        return None
    from harx.pareto import load_front, open_store

    try:
        with open_store(store_path) as st:
            return load_front(st, run_id, ("acc", "energy"), target)
    except StoreError as exc:
        err.print(f"note: the plot shows no static front ({exc})", highlight=False)
        return None


def render(r, target: str, plot: Path | None, static) -> None:
    """Tables for a harx.adapt.AdaptResult."""
    from harx.adapt import ALWAYS, NEVER
    from harx.adapt.modes import front

    out.print(
        f"[bold]{r.description}[/] ({r.kind}) on {r.dataset}: thresholds from {r.val_windows} validation windows "
        f"(subjects {', '.join(map(str, r.val_subjects))}), scores on {r.test_windows} test windows",
        highlight=False,
    )
    t = Table(title=f"modes ({r.policy}); mode {len(r.modes) - 1} is the full network")
    cols = (
        "mode",
        "threshold",
        "val stop",
        "test stop",
        "accuracy",
        "macro-F1",
        "avg MACs",
        f"avg energy {target} µJ",
        f"avg latency {target} ms",
        "front",
    )
    for c in cols:
        t.add_column(c, justify="right")
    on = front(r.modes, "test", target)
    for i, (m, f) in enumerate(zip(r.modes, on, strict=True)):
        s = m.test
        t.add_row(
            str(i),
            {ALWAYS: "always", NEVER: "never"}.get(m.rule.threshold, str(m.rule.threshold)),
            f"{100 * m.val.exit_fraction:.1f}%",
            f"{100 * s.exit_fraction:.1f}%",
            f"{100 * s.accuracy:.2f}%",
            f"{100 * s.macro_f1:.2f}%",
            f"{s.avg_macs:,.0f}",
            f"{s.avg_energy_uj[target]:.3f}",
            f"{s.avg_latency_ms[target]:.3f}",
            "*" if f else "",
        )
    out.print(t)
    single = r.costs[target].single
    out.print(
        f"single network: {single.macs:,} MACs, {single.energy_uj:.3f} µJ on {target}; modes span "
        f"{r.macs_span():.2f}x in average MACs; {len(r.modes)} modes",
        highlight=False,
    )
    for name, p in (("chosen on validation", r.within), ("oracle on test", r.oracle)):
        out.print(
            f"within {p.points} points of the full network ({name}): mode {p.index}, test accuracy "
            f"{100 * p.mode.test.accuracy:.2f}% vs {100 * r.full.test.accuracy:.2f}%, "
            f"{100 * r.saving(p):.1f}% fewer MACs than the single network",
            highlight=False,
        )
    for mem in r.memory.values():
        out.print(
            f"memory on {mem.target}: +{mem.extra_ro_bytes:,} B flash, +{mem.extra_ram_bytes:,} B RAM = "
            f"+{mem.extra_bytes:,} B ({mem.extra_percent:.1f}% of the single network's "
            f"{mem.single_ro_bytes + mem.single_ram_bytes:,} B)",
            highlight=False,
        )
    if plot is not None:
        out.print(f"plot: {plot}" + ("" if static is not None else " (no static front)"))
    out.print(
        f"adaptive model: {r.artifact_path}; deploy it with `harx deploy --artifact {r.artifact_path} ...`"
    )


def register(app: typer.Typer) -> None:
    app.command("adapt")(command)
