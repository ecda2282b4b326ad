"""Where a spread of harx genomes falls on gap8 and rv32, against the range Daghero et al. (2022) publish.

    .venv/bin/python bench/cost_spread.py            # writes bench/results/cost_spread.{md,json}
    .venv/bin/python bench/cost_spread.py --update-doc docs/cost-model.md

The genomes are UCI-HAR shaped (9 channels x 128 samples, 6 classes) and span about 50 B to 25 kB of
packed weights with mixed bit-widths; the first conv is 8-bit because 9 input channels cannot be packed
at 4 or 2 bits. Pure model evaluation: no training, a fraction of a second.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from harx.cost import TARGETS, Cost, estimate

GENOMES = (
    "c2k3p4w8a4-gapw4",
    "c4k3p4w8a4-gapw2",
    "c4k5p4w8a2-gapw4",
    "c8k5p2w8a4-c8k3p2w4a4-gapw4",
    "c8k5p2w8a8-c16k5p2w4a4-gapw8",
    "c16k5p2w8a8-c24k5s2w4a4-gapw8",
    "c16k7s2w8a4-c16k5p2w2a2-c32k3w4a4-gapw4",
    "c16k5p4w8a8-c32k5p4w8a8-flatw4",
    "c16k5p2w8a8-c32k5p2w4a4-c32k3d2w4a4-gapw8",
    "c24k5p2w8a8-c32k5p2w8a8-c48k3w4a4-gapw8",
    "c32k5p2w8a4-c48k5p2w2a4-c64k5p2w2a4-c64k3w4a4-gapw8",
    "c32k5p2w8a8-c32k5p2w8a8-c64k3p2w4a4-gapw8",
    "c32k7p2w8a8-c64k5p2w4a4-c64k5w4a4-gapw8",
    "c32k5p2w8a8-c64k5p2w8a8-c64k3p2w8a8-gapw8",
    "c64k5w8a2-c64k5p2w2a2-c64k5p2w2a2-gapw2",
)
SHAPE = {"in_channels": 9, "in_len": 128, "n_classes": 6}
# Daghero et al., ACM TECS 2022 (arXiv:2209.00839), abstract: the range over all their Pareto CNNs.
PAPER = {"memory_kb": (0.05, 23.17), "latency_ms": (0.009, 16.0), "energy_uj": (0.05, 61.59)}
BEGIN, END = "<!-- cost_spread:begin -->", "<!-- cost_spread:end -->"


def weight_bytes(cost: Cost) -> int:
    """Packed weights only (flash adds biases, kappa, lambda and per-layer constants)."""
    return sum(m.weight_bytes for m in cost.plan.layers)


def _latency(ms: float) -> str:
    return f"{ms * 1e3:.0f} µs" if ms < 1 else f"{ms:.2f} ms"


def _row(genome: str, costs: dict[str, Cost]) -> str:
    first = costs[TARGETS[0]]
    cells = [f"`{genome}`", f"{weight_bytes(first):,}", f"{first.flash_bytes:,}", f"{first.macs:,}"]
    for name in TARGETS:
        c = costs[name]
        fits = "" if c.feasible else " (does not fit)"
        cells += [f"{c.ram_bytes:,}{fits}", _latency(c.latency_ms), f"{c.energy_uj:.2f}"]
    return "| " + " | ".join(cells) + " |"


def _span(values: list[float]) -> tuple[float, float]:
    return min(values), max(values)


def table(results: dict[str, dict[str, Cost]]) -> str:
    head = ["genome", "weights B", "flash B", "MACs"]
    for name in TARGETS:
        head += [f"{name} RAM B", f"{name} latency", f"{name} µJ"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    by_size = sorted(results.items(), key=lambda item: weight_bytes(item[1][TARGETS[0]]))
    lines += [_row(g, costs) for g, costs in by_size]
    lines.append("")
    lines.append("| range | memory | latency | energy |")
    lines.append("|---|---|---|---|")
    p = PAPER
    lines.append(
        f"| Daghero et al. 2022 (their MCU) | {p['memory_kb'][0]}–{p['memory_kb'][1]} kB | "
        f"{_latency(p['latency_ms'][0])}–{_latency(p['latency_ms'][1])} | "
        f"{p['energy_uj'][0]}–{p['energy_uj'][1]} µJ |"
    )
    weights = _span([weight_bytes(c[TARGETS[0]]) / 1e3 for c in results.values()])
    for name in TARGETS:
        lat = _span([c[name].latency_ms for c in results.values()])
        energy = _span([c[name].energy_uj for c in results.values()])
        lines.append(
            f"| harx spread on {name} | {weights[0]:.2f}–{weights[1]:.2f} kB weights | "
            f"{_latency(lat[0])}–{_latency(lat[1])} | {energy[0]:.2f}–{energy[1]:.2f} µJ |"
        )
    return "\n".join(lines) + "\n"


def run() -> dict[str, dict[str, Cost]]:
    return {g: {name: estimate(g, name, **SHAPE) for name in TARGETS} for g in GENOMES}


def update_doc(doc: Path, text: str) -> None:
    content = doc.read_text(encoding="utf-8")
    start, end = content.index(BEGIN) + len(BEGIN), content.index(END)
    doc.write_text(content[:start] + "\n" + text + content[end:], encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent / "results" / "cost_spread"
    )
    parser.add_argument("--update-doc", type=Path, help="replace the table between the cost_spread markers")
    args = parser.parse_args()
    results = run()
    text = table(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".md").write_text(text, encoding="utf-8")
    rows = [dataclasses.asdict(c) for costs in results.values() for c in costs.values()]
    for row in rows:
        del row["plan"]  # the per-layer breakdown stays; the full plan is one `harx cost --json` away
    args.out.with_suffix(".json").write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    if args.update_doc:
        update_doc(args.update_doc, text)
    print(text)


if __name__ == "__main__":
    main()
