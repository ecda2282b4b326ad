"""`harx cost GENOME`: per-layer memory, latency and energy of a genome on one or all targets, no training."""

from __future__ import annotations

import dataclasses
import json

import typer

from harx.cli.common import out, print_table
from harx.cli.tables import cost_summary, cost_table
from harx.cost import TARGETS, estimate
from harx.cost.estimate import DEFAULT_IN_CHANNELS, DEFAULT_IN_LEN, DEFAULT_N_CLASSES
from harx.errors import ConfigError

_SHAPE_OPTIONS = ("--channels", "--length", "--classes")


def input_shape(
    dataset: str | None, channels: int | None, length: int | None, classes: int | None
) -> tuple[tuple[int, int, int], str]:
    """(channels, window length, classes) and where they come from: a cached dataset's shape, the options
    given, and harx's defaults (uci-har's shape) for the rest."""
    given = dict(zip(_SHAPE_OPTIONS, (channels, length, classes), strict=True))
    if dataset is not None:
        clash = [k for k, v in given.items() if v is not None]
        if clash:
            raise ConfigError(f"--dataset {dataset} sets the input shape; drop {', '.join(clash)}")
        from harx.data import load_dataset

        ds = load_dataset(dataset)
        return (ds.n_channels, ds.window, ds.n_classes), f"dataset '{ds.name}'"
    defaults = dict(
        zip(_SHAPE_OPTIONS, (DEFAULT_IN_CHANNELS, DEFAULT_IN_LEN, DEFAULT_N_CLASSES), strict=True)
    )
    assumed = [k for k, v in given.items() if v is None]
    shape = tuple(defaults[k] if given[k] is None else given[k] for k in _SHAPE_OPTIONS)
    if not assumed:
        return shape, "given"
    return shape, (
        f"{', '.join(f'{k} {defaults[k]}' for k in assumed)} assumed (harx's default: uci-har's shape); "
        "give --dataset NAME or the options"
    )


def register(app: typer.Typer) -> None:
    @app.command("cost")
    def cost_command(
        genome: str = typer.Argument(..., help="Genome text form, e.g. c16k5p2w8a8-c24k5s2w4a4-gapw8."),
        target: str = typer.Option(
            "all", "--target", "-t", help=f"One of {', '.join(TARGETS)}, 'all', or a target YAML file."
        ),
        dataset: str = typer.Option(
            None, "--dataset", "-d", help="Take the input shape from this cached dataset."
        ),
        channels: int = typer.Option(
            None, "--channels", min=1, help=f"Input channels (default {DEFAULT_IN_CHANNELS})."
        ),
        length: int = typer.Option(
            None, "--length", min=1, help=f"Window length in samples (default {DEFAULT_IN_LEN})."
        ),
        classes: int = typer.Option(
            None, "--classes", min=1, help=f"Number of classes (default {DEFAULT_N_CLASSES})."
        ),
        kernels: str = typer.Option(
            None, "--kernels", help="Kernel set: opt or ref (default: each target's own, opt on rv32)."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the estimates as JSON."),
    ) -> None:
        """Flash, RAM, MACs, latency and energy per layer of GENOME, without training."""
        (c, n, k), source = input_shape(dataset, channels, length, classes)
        names = TARGETS if target == "all" else (target,)
        try:
            costs = [
                estimate(genome, t, in_channels=c, in_len=n, n_classes=k, kernels=kernels) for t in names
            ]
        except ConfigError as exc:
            raise ConfigError(f"{exc} (input: {c} channels x {n} samples, {k} classes; {source})") from None
        if as_json:
            typer.echo(json.dumps([dataclasses.asdict(x) for x in costs], indent=2))
            return
        out.print(
            f"input: {c} channels x {n} samples, {k} classes ({source})", highlight=False, soft_wrap=True
        )
        for x in costs:
            print_table(cost_table(x))
            out.print(cost_summary(x), highlight=False, soft_wrap=True)
