"""Fit the rv32 instruction model to exact qemu counts of generated networks; check memory against the ELF.

For each of N random genomes (UCI-HAR shape: 9 channels x 128 samples, 6 classes) this generates the C
project of a random-weight integer model (harx.deploy.synthetic), builds the rv32 ELF and runs it under
qemu-riscv32 with the counting plugin on 2 random input windows. Instruction counts depend on shapes and
bit widths only, except for the data-dependent requant clip and max-pool compare (a few instructions per
output; min/max over the windows are reported).

Fit: the plugin splits each inference at the kernel calls, so every layer is one sample; the cost model's
portable_c event counts (harx.cost.instruction_terms, plus `inference` on the first layer and
`argmax_class` on the last) are its regressors. Non-negative least squares on relative residuals
(each sample divided by its count). Two coefficients cannot be told apart from these data and are held:
`argmax_class` (the argmax always follows the classifier, whose `linear_out` count is the same number
of classes) at the count read off the rv32 disassembly of harx_infer, and `linear_act_b8` at 0 (the
linear terms are a two-way additive model in weight and activation bits, defined up to a constant).

Reported: Spearman rank correlation and mean absolute percentage error of predicted against measured
instructions per inference, in-sample (the written YAML through harx.cost.estimate) and leave-one-genome-
out (refit without the genome, predict it). Memory: the ELF's .text/.rodata/.data/.bss and its weights
and buffers against the cost model's flash and RAM estimates.

    .venv/bin/python bench/fit_rv32.py                  # 40 genomes, writes the YAML and the results
    .venv/bin/python bench/fit_rv32.py --genomes 20 --no-write
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import nnls
from scipy.stats import spearmanr

from harx.cost import estimate, instruction_terms
from harx.cost.target import TARGETS_DIR, read_target_file
from harx.deploy import generate
from harx.deploy.synthetic import random_model, random_windows
from harx.deploy.toolchain import ElfSizes, missing_tools, run
from harx.errors import ConfigError
from harx.models.genome import BITS, Block, Genome
from harx.quant.artifact import Artifact

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
YAML = TARGETS_DIR / "rv32.yaml"
IN_CHANNELS, IN_LEN, N_CLASSES = 9, 128, 6
WINDOWS = 2
# Instructions per class of harx_infer's argmax loop in the rv32 disassembly (sll, add, lw, lw, addi, bge,
# mv when a new maximum is found, addi, bne; the loop compares n-1 logits): 8 per class, rounded.
ARGMAX_PER_CLASS = 8.0
# Held out of the fit (see the module docstring): coefficient -> value.
HELD = {"argmax_class": ARGMAX_PER_CLASS, "linear_act_b8": 0.0}


@dataclass
class Measured:
    genome: str
    specs: list
    per_layer: list[float]
    total: float
    total_min: int
    total_max: int
    sizes: ElfSizes
    flash_bytes: int
    ram_bytes: int


def random_genome(rng: np.random.Generator) -> Genome:
    """A valid genome for 9 x 128 windows, drawn across the search space's ranges (depth 1..5)."""
    while True:
        blocks = []
        for _ in range(int(rng.integers(1, 6))):
            blocks.append(
                Block(
                    channels=int(rng.choice([4, 8, 12, 16, 24, 32, 48, 64])),
                    kernel=int(rng.choice([1, 2, 3, 5, 7, 9])),
                    w_bits=int(rng.choice(BITS)),
                    a_bits=int(rng.choice(BITS)),
                    stride=int(rng.choice([1, 1, 1, 2, 3])),
                    dilation=int(rng.choice([1, 1, 2, 3])),
                    pool=int(rng.choice([1, 1, 2, 3, 4])),
                )
            )
        g = Genome(tuple(blocks), str(rng.choice(["gap", "flat"])), int(rng.choice(BITS)))
        try:
            g.validate(IN_CHANNELS, IN_LEN)
        except ConfigError:
            continue
        return g


def measure(genome: Genome, seed: int, work: Path) -> Measured:
    text = genome.text()
    model = random_model(genome, IN_CHANNELS, IN_LEN, N_CLASSES, seed)
    art = Artifact(model, text, "synthetic", "", [0.0] * IN_CHANNELS, [1.0] * IN_CHANNELS, list("abcdef"))
    project = generate(art, work / f"g{seed}", "rv32", random_windows(WINDOWS, IN_CHANNELS, IN_LEN, seed))
    result = run(project, "rv32")
    if not result.bit_exact:
        raise SystemExit(f"{text}: the rv32 build is not bit-exact on its windows")
    cost = estimate(genome, "rv32", in_channels=IN_CHANNELS, in_len=IN_LEN, n_classes=N_CLASSES)
    ins = result.instructions
    return Measured(
        text,
        genome.layers(IN_CHANNELS, IN_LEN, N_CLASSES),
        list(ins.per_layer),
        ins.mean,
        ins.min,
        ins.max,
        result.sizes,
        cost.flash_bytes,
        cost.ram_bytes,
    )


def layer_terms(specs: list) -> list[dict[str, float]]:
    """Event counts of each layer sample, as the per-layer measurements split an inference."""
    rows = [dict(instruction_terms(s)) for s in specs]
    rows[0]["inference"] = rows[0].get("inference", 0) + 1
    rows[-1]["argmax_class"] = rows[-1].get("argmax_class", 0) + specs[-1].cout
    return rows


def fit(samples: list[Measured], names: list[str]) -> dict[str, float]:
    """NNLS on relative residuals over every layer sample; HELD coefficients fixed."""
    free = [n for n in names if n not in HELD]
    rows, y = [], []
    for m in samples:
        for terms, measured in zip(layer_terms(m.specs), m.per_layer, strict=True):
            held = sum(HELD[k] * v for k, v in terms.items() if k in HELD)
            rows.append([terms.get(n, 0) / measured for n in free])
            y.append((measured - held) / measured)
    coef, _ = nnls(np.array(rows), np.array(y), maxiter=50 * len(free))
    out = dict(zip(free, coef.tolist(), strict=True))
    out.update(HELD)
    return out


def predict(m: Measured, coef: dict[str, float]) -> float:
    return sum(coef[k] * v for terms in layer_terms(m.specs) for k, v in terms.items())


def metrics(pred: list[float], meas: list[float]) -> dict[str, float]:
    p, t = np.array(pred), np.array(meas)
    return {
        "spearman": float(spearmanr(p, t).statistic),
        "mape_pct": float(100 * np.mean(np.abs(p - t) / t)),
        "max_ape_pct": float(100 * np.max(np.abs(p - t) / t)),
    }


def write_yaml(coef: dict[str, float]) -> None:
    """Rewrite the value of each coefficient line and nothing else (the file's structure and sources belong
    to the cost model, docs/cost-model.md); the fit's provenance is bench/results/rv32_fit.md."""
    text = YAML.read_text()
    for name, value in coef.items():
        pattern = re.compile(rf"^(  {name}: \{{value: )[^,]+(, source: .*\}})$", re.MULTILINE)
        if not pattern.search(text):
            raise SystemExit(f"{YAML}: no one-line '{name}: {{value: ..., source: ...}}' entry to rewrite")
        text = pattern.sub(lambda mt, v=value: f"{mt.group(1)}{v:.4g}{mt.group(2)}", text)
    YAML.write_text(text)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--genomes", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-write", action="store_true", help="Do not rewrite rv32.yaml or the results.")
    args = ap.parse_args()
    missing = missing_tools("rv32")
    if missing:
        print(f"fit_rv32: needs {', '.join(missing)} on PATH", file=sys.stderr)
        return 2
    rng = np.random.default_rng(args.seed)
    genomes = [random_genome(rng) for _ in range(args.genomes)]
    initial = read_target_file(YAML)
    names = list(initial.coefficients)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="harx-fit-") as tmp:
        samples = []
        for i, g in enumerate(genomes):
            samples.append(measure(g, i, Path(tmp)))
            print(f"[{i + 1}/{len(genomes)}] {g.text()}: {samples[-1].total:,.0f} instructions", flush=True)
    measure_s = time.perf_counter() - t0
    coef = fit(samples, names)
    meas = [m.total for m in samples]
    before = metrics([predict(m, initial.coefficients) for m in samples], meas)
    in_sample = metrics([predict(m, coef) for m in samples], meas)
    loo_pred = [predict(m, fit(samples[:i] + samples[i + 1 :], names)) for i, m in enumerate(samples)]
    loo = metrics(loo_pred, meas)
    if not args.no_write:
        write_yaml(coef)
    target = read_target_file(YAML) if not args.no_write else None
    model_pred = (
        [
            estimate(
                m.genome, target, in_channels=IN_CHANNELS, in_len=IN_LEN, n_classes=N_CLASSES
            ).latency_cycles
            / target.cycles_per_instruction
            for m in samples
        ]
        if target
        else [predict(m, coef) for m in samples]
    )
    yaml_metrics = metrics(model_pred, meas)
    rows = []
    for m, p, lp in zip(samples, model_pred, loo_pred, strict=True):
        s = m.sizes
        rows.append(
            {
                "genome": m.genome,
                "instructions": m.total,
                "instructions_min": m.total_min,
                "instructions_max": m.total_max,
                "predicted": p,
                "predicted_loo": lp,
                "text_bytes": s.text_bytes,
                "rodata_bytes": s.rodata_bytes,
                "data_bytes": s.data_bytes,
                "bss_bytes": s.bss_bytes,
                "inference_code_bytes": s.inference_code_bytes,
                "weights_bytes": s.weights_bytes,
                "flash_estimate_bytes": m.flash_bytes,
                "buffers_bytes": s.buffers_bytes,
                "ram_estimate_bytes": m.ram_bytes,
            }
        )
    flash_err = max(
        abs(r["weights_bytes"] - r["flash_estimate_bytes"]) / r["flash_estimate_bytes"] for r in rows
    )
    ram_err = max(abs(r["buffers_bytes"] - r["ram_estimate_bytes"]) / r["ram_estimate_bytes"] for r in rows)
    report = {
        "genomes": len(samples),
        "windows_per_genome": WINDOWS,
        "measure_seconds": measure_s,
        "metrics_yaml_before_fit": before,
        "metrics_in_sample": yaml_metrics,
        "metrics_leave_one_genome_out": loo,
        "coefficients": coef,
        "held": HELD,
        "max_weights_vs_flash_error_pct": 100 * flash_err,
        "max_buffers_vs_ram_error_pct": 100 * ram_err,
        "rows": rows,
    }
    print(json.dumps({k: v for k, v in report.items() if k != "rows"}, indent=1))
    if abs(in_sample["mape_pct"] - yaml_metrics["mape_pct"]) > 0.1:
        print("warning: the YAML's predictions differ from the fitted model's", file=sys.stderr)
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "rv32_fit.json").write_text(json.dumps(report, indent=1) + "\n")
        (RESULTS / "rv32_fit.md").write_text(render(report))
    ok = (
        yaml_metrics["spearman"] >= 0.95
        and yaml_metrics["mape_pct"] <= 15
        and flash_err <= 0.05
        and ram_err <= 0.05
    )
    return 0 if ok else 1


def render(r: dict) -> str:
    def line(name: str, m: dict) -> str:
        return f"| {name} | {m['spearman']:.4f} | {m['mape_pct']:.2f}% | {m['max_ape_pct']:.2f}% |"

    out = [
        "# rv32 instruction model fitted to qemu-riscv32 counts",
        "",
        f"Generated by `bench/fit_rv32.py`: {r['genomes']} random genomes (9 x 128 input, 6 classes), random-weight "
        f"integer models, {r['windows_per_genome']} random windows each, rv32imc `-O2` ELF, instructions inside "
        f"harx_infer and its kernels counted exactly by the qemu TCG plugin ({r['measure_seconds']:.0f} s).",
        "",
        "| model | Spearman | MAPE | max APE |",
        "|---|---|---|---|",
        line("coefficients in the YAML before this fit", r["metrics_yaml_before_fit"]),
        line("fitted, in-sample (the written YAML via harx.cost.estimate)", r["metrics_in_sample"]),
        line("fitted, leave-one-genome-out", r["metrics_leave_one_genome_out"]),
        "",
        "Memory: weights (weights.c arrays in the ELF) vs the cost model's flash, buffers (network.c's static "
        f"buffers) vs its RAM: largest difference {r['max_weights_vs_flash_error_pct']:.2f}% and "
        f"{r['max_buffers_vs_ram_error_pct']:.2f}% (the C sizes every array from the memory plan).",
        "",
        "## Coefficients (instructions per event)",
        "",
        "| coefficient | value |",
        "|---|---|",
        *(f"| {k} | {v:.3f}{' (held)' if k in r['held'] else ''} |" for k, v in r["coefficients"].items()),
        "",
        "## Per genome",
        "",
        "| genome | measured | min..max | predicted | LOO predicted | .text | .rodata | .data | .bss | "
        "inference code | weights / flash est. | buffers / RAM est. |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in r["rows"]:
        out.append(
            f"| `{row['genome']}` | {row['instructions']:,.0f} | {row['instructions_min']:,}..{row['instructions_max']:,} "
            f"| {row['predicted']:,.0f} | {row['predicted_loo']:,.0f} | {row['text_bytes']:,} | {row['rodata_bytes']:,} "
            f"| {row['data_bytes']:,} | {row['bss_bytes']:,} | {row['inference_code_bytes']:,} "
            f"| {row['weights_bytes']:,} / {row['flash_estimate_bytes']:,} | {row['buffers_bytes']:,} / "
            f"{row['ram_estimate_bytes']:,} |"
        )
    out += [
        "",
        ".rodata also holds the harness's test windows and expected logits; .text holds the harness and the "
        "platform code besides the inference code (not modelled: the cost model's flash counts the model's arrays).",
        "",
    ]
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
