"""`harx cost GENOME`: per-layer memory, latency and energy of a genome on one or all targets, no training."""

from __future__ import annotations

import dataclasses
import json

import typer

from harx.cli.common import out, print_table
from harx.cli.tables import cost_summary, cost_table
from harx.cost import TARGETS, estimate
from harx.cost.estimate import DEFAULT_IN_CHANNELS, DEFAULT_IN_LEN, DEFAULT_N_CLASSES


def register(app: typer.Typer) -> None:
    @app.command("cost")
    def cost_command(
        genome: str = typer.Argument(..., help="Genome text form, e.g. c16k5p2w8a8-c24k5s2w4a4-gapw8."),
        target: str = typer.Option(
            "all", "--target", "-t", help=f"One of {', '.join(TARGETS)}, 'all', or a target YAML file."
        ),
        channels: int = typer.Option(DEFAULT_IN_CHANNELS, "--channels", min=1, help="Input channels."),
        length: int = typer.Option(DEFAULT_IN_LEN, "--length", min=1, help="Window length in samples."),
        classes: int = typer.Option(DEFAULT_N_CLASSES, "--classes", min=1, help="Number of classes."),
        kernels: str = typer.Option(
            None, "--kernels", help="Kernel set: opt or ref (default: each target's own, opt on rv32)."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the estimates as JSON."),
    ) -> None:
        """Flash, RAM, MACs, latency and energy per layer of GENOME, without training."""
        names = TARGETS if target == "all" else (target,)
        costs = [
            estimate(genome, t, in_channels=channels, in_len=length, n_classes=classes, kernels=kernels)
            for t in names
        ]
        if as_json:
            typer.echo(json.dumps([dataclasses.asdict(c) for c in costs], indent=2))
            return
        for c in costs:
            print_table(cost_table(c))
            out.print(cost_summary(c), highlight=False, soft_wrap=True)
