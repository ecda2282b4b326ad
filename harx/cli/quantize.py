"""`harx quantize`: train one genome with QAT, export the integer model, score it and cost it."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from harx.cli.common import epoch_progress, out, print_json, print_warnings, read_genome
from harx.cli.tables import budget_line
from harx.cost import TARGETS
from harx.data.splits import DEFAULT_VAL_SUBJECTS
from harx.train import Execution, TrainConfig

_DEFAULT = TrainConfig()


def command(
    dataset: str = typer.Option(..., "--dataset", "-d", help="A cached dataset (see `harx fetch --list`)."),
    genome: str = typer.Option(
        None, "--genome", "-g", help="Genome text, e.g. c16k5p2w8a8-c24k5p2w4a4-gapw8."
    ),
    genome_file: Path = typer.Option(None, "--genome-file", help="Read the genome from a file instead."),
    epochs: int = typer.Option(_DEFAULT.epochs_float, "--epochs", help="Maximum float pre-training epochs."),
    qat_epochs: int = typer.Option(
        _DEFAULT.epochs_qat, "--qat-epochs", help="Maximum QAT fine-tuning epochs."
    ),
    batch_size: int = typer.Option(
        _DEFAULT.batch_size,
        "--batch-size",
        min=1,
        help="Windows per optimizer step (a small training set gets less: docs/quantize.md#training-budget).",
    ),
    backend: str = typer.Option("torch", "--backend", help="Fake-quant backend: torch or qtorch."),
    seed: int = typer.Option(0, "--seed", help="Seed for weights, shuffling and the validation subjects."),
    val_subjects: int = typer.Option(
        None,
        "--val-subjects",
        help="Training subjects held out for early stopping (0: train on all of them, fixed epochs; "
        f"default: a fifth of the training subjects, 1 to {DEFAULT_VAL_SUBJECTS}).",
    ),
    target: list[str] = typer.Option(list(TARGETS), "--target", "-t", help="Cost targets (repeatable)."),
    threads: int = typer.Option(2, "--threads", help="torch CPU threads."),
    out_dir: Path = typer.Option(None, "--out", "-o", help="Artifact directory (default: under $HARX_HOME)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON object instead of tables."),
) -> None:
    """Train, quantize (QAT), export and score one genome; write its integer-model artifact.

    The reported integer accuracy is the numpy integer golden model's on the dataset's test subjects;
    validation subjects (for early stopping) come from the training subjects. A training set smaller than
    4 batches trains with a smaller batch and more epochs (said on stderr as a warning).
    """
    from harx.evaluate import quantize  # torch loads only for commands that train

    g = read_genome(genome, genome_file)
    cfg = TrainConfig(epochs_float=epochs, epochs_qat=qat_epochs, batch_size=batch_size, backend=backend)
    with epoch_progress(not as_json, g.text()) as on_epoch:
        result = quantize(
            g, dataset, cfg, seed, val_subjects, tuple(target), out_dir, on_epoch, Execution(threads=threads)
        )
    print_warnings(result.warnings)
    if as_json:
        print_json(result.to_json())
    else:
        render(result)


def render(r) -> None:
    """Tables for a harx.evaluate.QuantizeResult."""
    ev = r.evaluation
    t = Table(title=f"{r.genome} on {r.dataset} (test subjects, seed {ev.seed})")
    t.add_column("model")
    t.add_column("accuracy", justify="right")
    t.add_column("macro-F1", justify="right")
    for name, s in (("float", ev.float_test), ("fake-quant", ev.fq_test), ("integer", ev.int_test)):
        t.add_row(name, f"{100 * s.accuracy:.2f}%", f"{100 * s.macro_f1:.2f}%")
    out.print(t)
    out.print(budget_line(r.budget.as_dict()), highlight=False, soft_wrap=True)
    out.print(
        f"params {ev.params:,}  MACs {ev.macs:,}  weights {ev.weight_bytes:,} B packed  "
        f"peak activations {ev.peak_activation_bytes:,} B  trained in {ev.train_seconds:.1f} s",
        soft_wrap=True,
    )
    c = Table(title="cost")
    for col in ("target", "flash B", "RAM B", "latency cycles", "latency ms", "energy uJ", "fits"):
        c.add_column(col, justify="right" if col != "target" else "left")
    for name, cost in r.costs.items():
        c.add_row(
            name,
            f"{cost.flash_bytes:,}",
            f"{cost.ram_bytes:,}",
            f"{cost.latency_cycles:,}",
            f"{cost.latency_ms:.3f}",
            f"{cost.energy_uj:.3f}",
            "yes" if cost.feasible else cost.infeasible_reason,
        )
    out.print(c)
    out.print(f"artifact: {r.artifact_path}")


def register(app: typer.Typer) -> None:
    app.command("quantize")(command)
