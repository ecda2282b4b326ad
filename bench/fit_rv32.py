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
out (refit without the genome, predict it), for the cost model's terms and for those terms plus each
candidate term of CANDIDATES (a refinement the model adopts only if it fits as well or better; the
candidates are reported, never written). Memory: the ELF's .text/.rodata/.data/.bss and its weights and
buffers against the cost model's flash and RAM estimates.

Written: the values of rv32.yaml's coefficients, its `references.rv32_fit` (date, method, accuracy) and,
when a value changed, its `version`; the same for gap8.yaml's `ref_*` coefficients, which price harx's
reference conv that the gap8 C runs on core 0 for dilated convs (the same C loops); the results in
bench/results/rv32_fit.{md,json}.

    .venv/bin/python bench/fit_rv32.py                  # 40 genomes, writes the YAMLs and the results
    .venv/bin/python bench/fit_rv32.py --genomes 20 --no-write
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import nnls
from scipy.stats import spearmanr

from harx.cost import estimate, instruction_terms
from harx.cost.latency import REF_CONV_TERMS, REF_PREFIX
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
GAP8_YAML = TARGETS_DIR / "gap8.yaml"
IN_CHANNELS, IN_LEN, N_CLASSES = 9, 128, 6
WINDOWS = 2
# Instructions per class of harx_infer's argmax loop in the rv32 disassembly (sll, add, lw, lw, addi, bge,
# mv when a new maximum is found, addi, bne; the loop compares n-1 logits): 8 per class, rounded.
ARGMAX_PER_CLASS = 8.0
# Held out of the fit (see the module docstring): coefficient -> value.
HELD = {"argmax_class": ARGMAX_PER_CLASS, "linear_act_b8": 0.0}
# Terms the cost model does not have, fitted next to it to test whether they earn a place in it: `tap`
# counts the kernel taps of each conv output pixel (the reference conv tests each tap's bounds and calls
# the unpack or zero-fill loop once per tap, a cost the model's `pixel` term absorbs).
CANDIDATES = {"tap": lambda spec: spec.lout * spec.kernel if spec.kind == "conv" else 0}


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


def layer_terms(specs: list, extra: tuple[str, ...] = ()) -> list[dict[str, float]]:
    """Event counts of each layer sample, as the per-layer measurements split an inference, plus the
    ``extra`` candidate terms."""
    rows = [{**instruction_terms(s), **{name: CANDIDATES[name](s) for name in extra}} for s in specs]
    rows[0]["inference"] = rows[0].get("inference", 0) + 1
    rows[-1]["argmax_class"] = rows[-1].get("argmax_class", 0) + specs[-1].cout
    return rows


def fit(samples: list[Measured], names: list[str], extra: tuple[str, ...] = ()) -> dict[str, float]:
    """NNLS on relative residuals over every layer sample; HELD coefficients fixed."""
    names = [*names, *extra]
    free = [n for n in names if n not in HELD]
    rows, y = [], []
    for m in samples:
        for terms, measured in zip(layer_terms(m.specs, extra), m.per_layer, strict=True):
            fixed = sum(HELD[k] * v for k, v in terms.items() if k in HELD)
            rows.append([terms.get(n, 0) / measured for n in free])
            y.append((measured - fixed) / measured)
    coef, _ = nnls(np.array(rows), np.array(y), maxiter=50 * len(free))
    out = dict(zip(free, coef.tolist(), strict=True))
    out.update(HELD)
    return {n: out[n] for n in names}


def leave_one_out(samples: list[Measured], names: list[str], extra: tuple[str, ...] = ()) -> list[float]:
    """Each genome predicted by a fit to the other genomes."""
    return [
        predict(m, fit(samples[:i] + samples[i + 1 :], names, extra), extra) for i, m in enumerate(samples)
    ]


def predict(m: Measured, coef: dict[str, float], extra: tuple[str, ...] = ()) -> float:
    return sum(coef[k] * v for terms in layer_terms(m.specs, extra) for k, v in terms.items())


def metrics(pred: list[float], meas: list[float]) -> dict[str, float]:
    p, t = np.array(pred), np.array(meas)
    return {
        "spearman": float(spearmanr(p, t).statistic),
        "mape_pct": float(100 * np.mean(np.abs(p - t) / t)),
        "max_ape_pct": float(100 * np.max(np.abs(p - t) / t)),
    }


def provenance(r: dict) -> str:
    """The text of a target's ``references.rv32_fit``: where, when, how, and how well."""
    ins, loo = r["metrics_in_sample"], r["metrics_leave_one_genome_out"]
    return (
        f"bench/results/rv32_fit.md, written by bench/fit_rv32.py on {r['date']}: non-negative least squares "
        f"on relative residuals of the exact per-layer instruction counts (qemu-riscv32 TCG plugin) of "
        f"{r['genomes']} networks harx deploy generated (random genomes, 9 x 128 input, 6 classes, rv32imc "
        f"-O2). Instructions per inference, predicted vs measured: Spearman {ins['spearman']:.4f}, MAPE "
        f"{ins['mape_pct']:.2f}% in-sample; Spearman {loo['spearman']:.4f}, MAPE {loo['mape_pct']:.2f}% "
        f"leave-one-genome-out."
    )


def write_values(path: Path, coef: dict[str, str]) -> None:
    """Rewrite the value of each ``{name: value}`` coefficient line, whose source must cite rv32_fit, and
    bump ``version`` when a value changed; the file's structure and the sources belong to the cost model
    (docs/cost-model.md)."""
    text = path.read_text()
    changed = False
    for name, value in coef.items():
        pattern = re.compile(
            rf'^(  {name}: \{{value: )([^,]+)(, source: "[^"]*rv32_fit[^"]*"\}})$', re.MULTILINE
        )
        found = pattern.search(text)
        if not found:
            raise SystemExit(
                f"{path}: no one-line '{name}: {{value: ..., source: \"...rv32_fit...\"}}' entry"
            )
        changed |= float(found.group(2)) != float(value)
        text = pattern.sub(lambda mt, v=value: f"{mt.group(1)}{v}{mt.group(3)}", text)
    if changed:
        version = re.compile(r"^version: (\d+)$", re.MULTILINE)
        text = version.sub(lambda mt: f"version: {int(mt.group(1)) + 1}", text, count=1)
    path.write_text(text)


def write_reference(path: Path, reference: str) -> None:
    """Rewrite the file's ``references.rv32_fit`` entry (a folded block)."""
    text = path.read_text()
    block = re.compile(r"^  rv32_fit: >-\n(?:    .*\n)+", re.MULTILINE)
    if not block.search(text):
        raise SystemExit(f"{path}: no 'references.rv32_fit' entry to rewrite")
    wrapped = textwrap.fill(
        reference, width=110, initial_indent="    ", subsequent_indent="    ", break_on_hyphens=False
    )
    path.write_text(block.sub(lambda _: f"  rv32_fit: >-\n{wrapped}\n", text))


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
    meas = [m.total for m in samples]
    before = metrics([predict(m, initial.coefficients) for m in samples], meas)
    coef = fit(samples, names)
    in_sample = metrics([predict(m, coef) for m in samples], meas)
    loo_pred = leave_one_out(samples, names)
    loo = metrics(loo_pred, meas)
    candidates = {}
    for name in CANDIDATES:
        with_it = fit(samples, names, (name,))
        candidates[name] = {
            "coefficients": with_it,
            "in_sample": metrics([predict(m, with_it, (name,)) for m in samples], meas),
            "leave_one_genome_out": metrics(leave_one_out(samples, names, (name,)), meas),
        }
    if not args.no_write:
        written = {name: f"{value:.4g}" for name, value in coef.items()}
        write_values(YAML, written)
        write_values(GAP8_YAML, {f"{REF_PREFIX}{n}": written[n] for n in REF_CONV_TERMS})
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
        "date": datetime.date.today().isoformat(),
        "genomes": len(samples),
        "windows_per_genome": WINDOWS,
        "measure_seconds": measure_s,
        "metrics_yaml_before_fit": before,
        "metrics_in_sample": yaml_metrics,
        "metrics_leave_one_genome_out": loo,
        "candidates": candidates,
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
        for path in (YAML, GAP8_YAML):
            write_reference(path, provenance(report))
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
        f"Generated by `bench/fit_rv32.py` on {r['date']}: {r['genomes']} random genomes (9 x 128 input, "
        f"6 classes), random-weight integer models, {r['windows_per_genome']} random windows each, rv32imc "
        "`-O2` ELF, instructions inside harx_infer and its kernels counted exactly by the qemu TCG plugin "
        f"({r['measure_seconds']:.0f} s). Non-negative least squares on relative residuals of the per-layer "
        "counts; leave-one-genome-out refits without the genome it predicts. Instructions per inference, "
        "predicted against measured:",
        "",
        "| model | Spearman | MAPE | max APE |",
        "|---|---|---|---|",
        line("coefficients in the YAML before this fit", r["metrics_yaml_before_fit"]),
        line("fitted, in-sample (the written YAML via harx.cost.estimate)", r["metrics_in_sample"]),
        line("fitted, leave-one-genome-out", r["metrics_leave_one_genome_out"]),
    ]
    for name, c in r["candidates"].items():
        out += [
            line(f"with candidate term `{name}`, in-sample", c["in_sample"]),
            line(f"with candidate term `{name}`, leave-one-genome-out", c["leave_one_genome_out"]),
        ]
    out += [
        "",
        "A candidate term is fitted next to the model's terms and joins the model "
        "(`harx.cost.instruction_terms`) only if it fits as well or better on both measures; this script never "
        "writes one. `tap` counts the kernel taps of every conv output pixel (`lout * k`: the reference conv "
        "tests each tap's bounds and calls the unpack or zero-fill loop once per tap), which `pixel` absorbs "
        f"without it ({r['coefficients']['pixel']:.1f} per pixel; with `tap`: "
        f"{r['candidates']['tap']['coefficients']['pixel']:.1f} per pixel + "
        f"{r['candidates']['tap']['coefficients']['tap']:.1f} per tap).",
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
