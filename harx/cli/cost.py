"""`harx cost GENOME`: per-layer memory, latency and energy of a genome on one or all targets, no training."""

from __future__ import annotations

import dataclasses
import json

import typer
from rich.table import Table

from harx.cli.common import out, print_table
from harx.cost import TARGETS, Cost, estimate
from harx.cost.estimate import DEFAULT_IN_CHANNELS, DEFAULT_IN_LEN, DEFAULT_N_CLASSES


def cost_table(cost: Cost) -> Table:
    """The per-layer table of one estimate (totals are printed by ``cost_summary``)."""
    table = Table(title=f"{cost.genome} on {cost.target}", title_justify="left")
    table.add_column("#")
    for name in ("layer", "kernel"):
        table.add_column(name, no_wrap=True)
    for name in ("MACs", "flash B", "in B", "out B", "cycles", "ms", "µJ"):
        table.add_column(name, justify="right")
    for lc in cost.layers:
        table.add_row(
            str(lc.index),
            lc.shape,
            lc.kernel,
            f"{lc.macs:,}",
            f"{lc.ro_bytes:,}",
            f"{lc.in_bytes:,}",
            f"{lc.out_bytes:,}",
            f"{lc.latency_cycles:,}",
            f"{lc.latency_ms:.4f}",
            f"{lc.energy_uj:.3f}",
        )
    table.add_row(
        "", "per inference", "call, fork (gap8), argmax", "", "", "", "", f"{cost.overhead_cycles:,}", "", ""
    )
    table.add_section()
    table.add_row(
        "",
        "total",
        "",
        f"{cost.macs:,}",
        f"{cost.flash_bytes:,}",
        "",
        "",
        f"{cost.latency_cycles:,}",
        f"{cost.latency_ms:.4f}",
        f"{cost.energy_uj:.3f}",
    )
    return table


def cost_summary(cost: Cost) -> str:
    """Totals, the RAM breakdown and whether the plan fits, as rich markup."""
    p = cost.plan
    fit = "[green]fits[/]" if cost.feasible else f"[red]does not fit: {cost.infeasible_reason}[/]"
    use = ", ".join(f"{u.name} {u.used_bytes:,}/{u.available_bytes:,} B" for u in p.usage)
    return (
        f"flash {cost.flash_bytes:,} B, RAM {cost.ram_bytes:,} B (input {p.input_bytes:,} + arena "
        f"{p.arena_bytes:,} + im2col {p.im2col_bytes:,} + weight buffer {p.weight_buffer_bytes:,} + logits "
        f"{p.logits_bytes:,}), {cost.macs:,} MACs, {cost.latency_ms:.4f} ms, {cost.energy_uj:.3f} µJ\n"
        f"memories: {use}\n{fit}"
    )


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
        as_json: bool = typer.Option(False, "--json", help="Print the estimates as JSON."),
    ) -> None:
        """Flash, RAM, MACs, latency and energy per layer of GENOME, without training."""
        names = TARGETS if target == "all" else (target,)
        costs = [estimate(genome, t, in_channels=channels, in_len=length, n_classes=classes) for t in names]
        if as_json:
            typer.echo(json.dumps([dataclasses.asdict(c) for c in costs], indent=2))
            return
        for c in costs:
            print_table(cost_table(c))
            out.print(cost_summary(c), highlight=False, soft_wrap=True)
