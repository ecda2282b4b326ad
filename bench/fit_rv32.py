"""Fit the rv32 instruction models (reference and optimized kernels) to exact qemu counts; check memory.

For each of N random genomes (9 channels x 128 samples, 6, 7, 12 or 17 classes; more when some fitted
coefficient's event occurs in fewer than MIN_GENOMES of them: further random draws are kept only if they
have such an event, until each has) this generates the C projects of a random-weight integer model
(harx.deploy.synthetic) with each kernel set (``ref``: harx_ref.h, ``opt``: harx_opt.h), builds the rv32
ELFs and runs them under qemu-riscv32 with the counting plugin on 2 random input windows. Instruction counts depend on shapes and bit widths only, except for the data-
dependent requant clip and max-pool compare (a few instructions per output; min/max over the windows are
reported).

Fit, per kernel set: the plugin splits each inference at the kernel calls, so every layer is one sample;
the cost model's portable_c event counts of the layer as lowered for that set (harx.cost.instruction_terms
or harx.cost.opt_instruction_terms, plus the set's `inference` on the first layer and `argmax_class` on
the last) are its regressors. Non-negative least squares on relative residuals (each sample divided by its
count). Coefficients that cannot be told apart from these data are held (HELD): `argmax_class` (the argmax
always follows the classifier, whose `linear_out` count is the same number of classes) at the count read
off the rv32 disassembly of harx_infer, and the reference's `linear_act_b8` at 0 (its linear terms are a
two-way additive model in weight and activation bits, defined up to a constant).

Reported: Spearman rank correlation and mean absolute percentage error of predicted against measured
instructions per inference, in-sample (the written YAML through harx.cost.estimate) and leave-one-genome-
out (refit without the genome, predict it), per kernel set.
Memory: the ELF's .text/.rodata/.data/.bss and its weights and buffers against the cost model's flash and
RAM estimates, per kernel set.

Written: the values of rv32.yaml's coefficients (the reference's and the `opt_` ones), its
`references.rv32_fit` (date, method, accuracy) and, when a value changed, its `version`; the same for
gap8.yaml's `ref_*` coefficients, which price harx's reference conv that the gap8 C runs on core 0 for
dilated convs (the same C loops); the results, with every layer's count, in bench/results/rv32_fit.{md,json}.

    .venv/bin/python bench/fit_rv32.py                      # 40 genomes, both sets, writes YAMLs and results
    .venv/bin/python bench/fit_rv32.py --genomes 20 --no-write
    .venv/bin/python bench/fit_rv32.py --measured bench/results/rv32_fit.json --no-write   # refit only
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import re
import sys
import tempfile
import textwrap
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import nnls
from scipy.stats import spearmanr

from harx.cost import estimate, lower
from harx.cost.latency import KERNEL_MODELS, OPT_PREFIX, REF_CONV_TERMS, REF_PREFIX
from harx.cost.target import TARGETS_DIR, Target, read_target_file
from harx.deploy import generate
from harx.deploy.synthetic import random_model, random_windows
from harx.deploy.toolchain import missing_tools, run
from harx.errors import ConfigError
from harx.models.genome import BITS, Block, Genome, parse_genome
from harx.quant.artifact import Artifact

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
YAML = TARGETS_DIR / "rv32.yaml"
GAP8_YAML = TARGETS_DIR / "gap8.yaml"
IN_CHANNELS, IN_LEN = 9, 128
# Class counts drawn per genome: uci-har has 6, uci-hapt 12, UniMiB-SHAR 17 (one class past an L8 block of
# 16); 7 leaves 3 classes outside the kernels' blocks.
CLASSES = (6, 7, 12, 17)
WINDOWS = 2
KERNEL_SETS = ("ref", "opt")
PREFIX = {"ref": "", "opt": OPT_PREFIX}
# Instructions per class of harx_infer's argmax loop in the rv32 disassembly (sll, add, lw, lw, addi, bge,
# mv when a new maximum is found, addi, bne; the loop compares n-1 logits): 8 per class, rounded.
ARGMAX_PER_CLASS = 8.0
# Held out of the fit (see the module docstring), per kernel set: coefficient -> value.
HELD = {
    "ref": {"argmax_class": ARGMAX_PER_CLASS, "linear_act_b8": 0.0},
    "opt": {f"{OPT_PREFIX}argmax_class": ARGMAX_PER_CLASS},
}
# Channel counts drawn per block: the search recipes' (6 leaves channels outside every block of 4).
CHANNELS = (4, 6, 8, 12, 16, 24, 32, 48, 64)
# Every fitted coefficient's event must occur in this many genomes (rare ones: an L8 classifier block needs
# 2-bit codes, 2-bit head weights and 16 or more classes); draws stop after MAX_DRAWS.
MIN_GENOMES = 3
MAX_DRAWS = 20_000


@dataclass
class Measured:
    """One genome's project with one kernel set: per-layer and total instructions, ELF sizes, estimates."""

    genome: str
    classes: int
    kernels: str
    per_layer: list[float]
    total: float
    total_min: int
    total_max: int
    sizes: dict
    flash_bytes: int
    ram_bytes: int

    @property
    def specs(self) -> list:
        return parse_genome(self.genome).layers(IN_CHANNELS, IN_LEN, self.classes)


def random_genome(rng: np.random.Generator) -> Genome:
    """A valid genome for 9 x 128 windows, drawn across the search space's ranges (depth 1..5)."""
    while True:
        blocks = []
        for _ in range(int(rng.integers(1, 6))):
            blocks.append(
                Block(
                    channels=int(rng.choice(CHANNELS)),
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


def measure(genome: Genome, classes: int, kernels: str, seed: int, work: Path) -> Measured:
    text = genome.text()
    model = random_model(genome, IN_CHANNELS, IN_LEN, classes, seed)
    labels = [str(i) for i in range(classes)]
    art = Artifact(model, text, "synthetic", "", [0.0] * IN_CHANNELS, [1.0] * IN_CHANNELS, labels)
    windows = random_windows(WINDOWS, IN_CHANNELS, IN_LEN, seed)
    project = generate(art, work / f"g{seed}-{kernels}", "rv32", windows, kernels)
    result = run(project, "rv32")
    if not result.bit_exact:
        raise SystemExit(f"{text} ({kernels}): the rv32 build is not bit-exact on its windows")
    cost = estimate(
        genome, "rv32", in_channels=IN_CHANNELS, in_len=IN_LEN, n_classes=classes, kernels=kernels
    )
    ins = result.instructions
    return Measured(
        text,
        classes,
        kernels,
        list(ins.per_layer),
        ins.mean,
        ins.min,
        ins.max,
        asdict(result.sizes),
        cost.flash_bytes,
        cost.ram_bytes,
    )


def layer_terms(m: Measured, target: Target) -> list[dict[str, float]]:
    """Event counts of each layer sample of ``m`` as the cost model lowers it for ``m.kernels``, as the
    per-layer measurements split an inference."""
    return terms_of(m.specs, m.kernels, target)


def terms_of(specs: list, kernels: str, target: Target) -> list[dict[str, float]]:
    model = KERNEL_MODELS[target.kernel_model]
    rows = [dict(model.layer_terms(s, lower(s, target, kernels), None, target)) for s in specs]
    once = model.inference_terms(specs, kernels)
    p = PREFIX[kernels]
    rows[0][f"{p}inference"] = rows[0].get(f"{p}inference", 0) + once[f"{p}inference"]
    rows[-1][f"{p}argmax_class"] = rows[-1].get(f"{p}argmax_class", 0) + once[f"{p}argmax_class"]
    return rows


def set_names(target: Target, kernels: str) -> list[str]:
    """The coefficients a kernel set's fit owns: the opt_ ones, or the others."""
    return [n for n in target.coefficients if n.startswith(OPT_PREFIX) == (kernels == "opt")]


def fit(samples: list[Measured], target: Target, kernels: str) -> dict[str, float]:
    """NNLS on relative residuals over every layer sample of the set; HELD coefficients fixed, as are the
    other set's (a layer the optimized kernels cannot run is priced with the reference's)."""
    names = set_names(target, kernels)
    held = HELD[kernels]
    free = [n for n in names if n not in held]
    fixed = {**target.coefficients, **held}
    rows, y = [], []
    for m in samples:
        for terms, measured in zip(layer_terms(m, target), m.per_layer, strict=True):
            known = sum(fixed[k] * v for k, v in terms.items() if k not in free)
            rows.append([terms.get(n, 0) / measured for n in free])
            y.append((measured - known) / measured)
    coef, _ = nnls(np.array(rows), np.array(y), maxiter=50 * len(free))
    out = dict(zip(free, coef.tolist(), strict=True))
    out.update(held)
    return {n: out[n] for n in names}


def predict(m: Measured, target: Target, coef: dict[str, float]) -> float:
    values = {**target.coefficients, **coef}
    return sum(values[k] * v for terms in layer_terms(m, target) for k, v in terms.items())


def leave_one_out(samples: list[Measured], target: Target, kernels: str) -> list[float]:
    """Each genome predicted by a fit to the other genomes."""
    return [
        predict(m, target, fit(samples[:i] + samples[i + 1 :], target, kernels))
        for i, m in enumerate(samples)
    ]


def metrics(pred: list[float], meas: list[float]) -> dict[str, float]:
    p, t = np.array(pred), np.array(meas)
    return {
        "spearman": float(spearmanr(p, t).statistic),
        "mape_pct": float(100 * np.mean(np.abs(p - t) / t)),
        "max_ape_pct": float(100 * np.max(np.abs(p - t) / t)),
    }


def provenance(r: dict) -> str:
    """The text of a target's ``references.rv32_fit``: where, when, how, and how well."""
    parts = []
    for kernels, what in (("ref", "reference kernels"), ("opt", "optimized kernels")):
        s = r["sets"][kernels]
        ins, loo = s["metrics_in_sample"], s["metrics_leave_one_genome_out"]
        parts.append(
            f"{what}: Spearman {ins['spearman']:.4f}, MAPE {ins['mape_pct']:.2f}% in-sample; Spearman "
            f"{loo['spearman']:.4f}, MAPE {loo['mape_pct']:.2f}% leave-one-genome-out"
        )
    return (
        f"bench/results/rv32_fit.md, written by bench/fit_rv32.py on {r['date']}: non-negative least squares "
        f"on relative residuals of the exact per-layer instruction counts (qemu-riscv32 TCG plugin) of "
        f"{r['genomes']} networks harx deploy generated with each kernel set (random genomes, 9 x 128 input, "
        f"6, 7, 12 or 17 classes, rv32imc -O2). Instructions per inference, predicted vs measured: "
        + "; ".join(parts)
        + "."
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


def draw(n: int, seed: int, target: Target) -> tuple[list[tuple[Genome, int]], dict[str, int]]:
    """``n`` random (genome, classes), then further draws that have an event of a fitted coefficient seen
    in fewer than MIN_GENOMES genomes until none is; returns them and each coefficient's genome count."""
    rng = np.random.default_rng(seed)
    wanted = {name for name in target.coefficients if all(name not in held for held in HELD.values())}
    seen = dict.fromkeys(wanted, 0)
    drawn: list[tuple[Genome, int]] = []
    for _ in range(MAX_DRAWS):
        g, classes = random_genome(rng), int(rng.choice(CLASSES))
        specs = g.layers(IN_CHANNELS, IN_LEN, classes)
        events = {
            k
            for kernels in KERNEL_SETS
            for row in terms_of(specs, kernels, target)
            for k, v in row.items()
            if v
        }
        if len(drawn) < n or any(seen[k] < MIN_GENOMES for k in events & wanted):
            drawn.append((g, classes))
            for k in events & wanted:
                seen[k] += 1
        if len(drawn) >= n and min(seen.values()) >= MIN_GENOMES:
            break
    return drawn, seen


def measure_all(n: int, seed: int) -> tuple[list[Measured], float]:
    drawn, seen = draw(n, seed, read_target_file(YAML))
    rare = {k: v for k, v in seen.items() if v < MIN_GENOMES}
    if rare:
        print(
            f"fit_rv32: after {MAX_DRAWS} draws these events are in fewer than {MIN_GENOMES} genomes: {rare}"
        )
    n = len(drawn)
    t0 = time.perf_counter()
    samples = []
    with tempfile.TemporaryDirectory(prefix="harx-fit-") as tmp:
        for i, (g, classes) in enumerate(drawn):
            for kernels in KERNEL_SETS:
                samples.append(measure(g, classes, kernels, i, Path(tmp)))
            ref, opt = samples[-2].total, samples[-1].total
            print(f"[{i + 1}/{n}] {g.text()} ({classes} classes): ref {ref:,.0f}, opt {opt:,.0f}", flush=True)
    return samples, time.perf_counter() - t0


def fit_set(samples: list[Measured], target: Target, kernels: str) -> dict:
    """One kernel set's fit: coefficients, metrics before, in-sample and leave-one-genome-out."""
    mine = [m for m in samples if m.kernels == kernels]
    meas = [m.total for m in mine]
    coef = fit(mine, target, kernels)
    loo_pred = leave_one_out(mine, target, kernels)
    out = {
        "metrics_yaml_before_fit": metrics([predict(m, target, {}) for m in mine], meas),
        "metrics_fitted": metrics([predict(m, target, coef) for m in mine], meas),
        "metrics_leave_one_genome_out": metrics(loo_pred, meas),
        "coefficients": coef,
        "held": HELD[kernels],
        "predicted_loo": loo_pred,
    }
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--genomes", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-write", action="store_true", help="Do not rewrite the YAMLs or the results.")
    ap.add_argument(
        "--measured", type=Path, help="Refit the per-layer counts of an earlier results JSON (no builds)."
    )
    args = ap.parse_args()
    initial = read_target_file(YAML)
    if args.measured:
        earlier = json.loads(args.measured.read_text())
        fields = Measured.__dataclass_fields__
        samples = [Measured(**{k: v for k, v in row.items() if k in fields}) for row in earlier["rows"]]
        measure_s = earlier["measure_seconds"]
    else:
        missing = missing_tools("rv32")
        if missing:
            print(f"fit_rv32: needs {', '.join(missing)} on PATH", file=sys.stderr)
            return 2
        samples, measure_s = measure_all(args.genomes, args.seed)
    sets = {"ref": fit_set(samples, initial, "ref")}
    # The optimized set's fit prices what runs the reference's code (a pool of part-word pixels) with the
    # reference's new coefficients.
    refitted = dataclasses.replace(
        initial, coefficients={**initial.coefficients, **sets["ref"]["coefficients"]}
    )
    sets["opt"] = fit_set(samples, refitted, "opt")
    if not args.no_write:
        written = {n: f"{v:.4g}" for k in KERNEL_SETS for n, v in sets[k]["coefficients"].items()}
        write_values(YAML, written)
        write_values(GAP8_YAML, {f"{REF_PREFIX}{n}": written[n] for n in REF_CONV_TERMS})
    target = read_target_file(YAML) if not args.no_write else None
    rows = []
    for kernels in KERNEL_SETS:
        mine = [m for m in samples if m.kernels == kernels]
        s = sets[kernels]
        if target:  # the written YAML through the cost model, as every user of harx.cost sees it
            pred = [
                estimate(
                    m.genome,
                    target,
                    in_channels=IN_CHANNELS,
                    in_len=IN_LEN,
                    n_classes=m.classes,
                    kernels=kernels,
                ).latency_cycles
                / target.cycles_per_instruction
                for m in mine
            ]
        else:
            pred = [predict(m, initial, s["coefficients"]) for m in mine]
        s["metrics_in_sample"] = metrics(pred, [m.total for m in mine])
        for m, p, lp in zip(mine, pred, s.pop("predicted_loo"), strict=True):
            rows.append({**asdict(m), "predicted": p, "predicted_loo": lp})
        s["max_weights_vs_flash_error_pct"] = 100 * max(
            abs(m.sizes["weights_bytes"] - m.flash_bytes) / m.flash_bytes for m in mine
        )
        s["max_buffers_vs_ram_error_pct"] = 100 * max(
            abs(m.sizes["buffers_bytes"] - m.ram_bytes) / m.ram_bytes for m in mine
        )
    report = {
        "date": datetime.date.today().isoformat(),
        "genomes": len(samples) // len(KERNEL_SETS),
        "windows_per_genome": WINDOWS,
        "measure_seconds": measure_s,
        "sets": sets,
        "rows": rows,
    }
    print(
        json.dumps(
            {k: {n: v for n, v in s.items() if n != "coefficients"} for k, s in sets.items()}, indent=1
        )
    )
    for kernels, s in sets.items():
        if abs(s["metrics_fitted"]["mape_pct"] - s["metrics_in_sample"]["mape_pct"]) > 0.1:
            print(
                f"warning: the YAML's {kernels} predictions differ from the fitted model's", file=sys.stderr
            )
    if not args.no_write:
        for path in (YAML, GAP8_YAML):
            write_reference(path, provenance(report))
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "rv32_fit.json").write_text(json.dumps(report, indent=1) + "\n")
        (RESULTS / "rv32_fit.md").write_text(render(report))
    ok = all(
        s["metrics_in_sample"]["spearman"] >= 0.99
        and s["metrics_in_sample"]["mape_pct"] <= 3
        and s["metrics_leave_one_genome_out"]["mape_pct"] <= 3
        and s["max_weights_vs_flash_error_pct"] == 0
        and s["max_buffers_vs_ram_error_pct"] == 0
        for s in sets.values()
    )
    return 0 if ok else 1


def render(r: dict) -> str:
    def line(name: str, m: dict) -> str:
        return f"| {name} | {m['spearman']:.4f} | {m['mape_pct']:.2f}% | {m['max_ape_pct']:.2f}% |"

    ref, opt = r["sets"]["ref"], r["sets"]["opt"]
    out = [
        "# rv32 instruction models fitted to qemu-riscv32 counts",
        "",
        f"Generated by `bench/fit_rv32.py` on {r['date']}: {r['genomes']} random genomes (9 x 128 input, "
        f"6, 7, 12 or 17 classes), random-weight integer models, each deployed with harx's reference kernels "
        f"(`ref`) and its optimized kernels (`opt`), {r['windows_per_genome']} random windows each, rv32imc "
        "`-O2` ELF, instructions inside harx_infer and its kernels counted exactly by the qemu TCG plugin "
        f"({r['measure_seconds']:.0f} s). Non-negative least squares on relative residuals of the per-layer "
        "counts, per kernel set; leave-one-genome-out refits without the genome it predicts. Instructions "
        "per inference, predicted against measured:",
        "",
        "| model | Spearman | MAPE | max APE |",
        "|---|---|---|---|",
    ]
    for kernels, s in (("ref", ref), ("opt", opt)):
        out += [
            line(f"`{kernels}`: coefficients in the YAML before this fit", s["metrics_yaml_before_fit"]),
            line(
                f"`{kernels}`: fitted, in-sample (the written YAML via harx.cost.estimate)",
                s["metrics_in_sample"],
            ),
            line(f"`{kernels}`: fitted, leave-one-genome-out", s["metrics_leave_one_genome_out"]),
        ]
    out += [
        "",
        "Memory: weights (weights.c arrays in the ELF) vs the cost model's flash, buffers (network.c's static "
        "buffers) vs its RAM, largest difference: "
        + "; ".join(
            f"`{k}` {s['max_weights_vs_flash_error_pct']:.2f}% and {s['max_buffers_vs_ram_error_pct']:.2f}%"
            for k, s in r["sets"].items()
        )
        + " (the C sizes every array from the memory plan).",
        "",
        "## Coefficients (instructions per event)",
        "",
        "| coefficient | value |",
        "|---|---|",
    ]
    for s in (ref, opt):
        out += [
            f"| {k} | {v:.3f}{' (held)' if k in s['held'] else ''} |" for k, v in s["coefficients"].items()
        ]
    out += [
        "",
        "## Per genome",
        "",
        "| genome | classes | kernels | measured | min..max | predicted | LOO predicted | .text | .rodata | .bss "
        "| inference code | weights / flash est. | buffers / RAM est. |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in r["rows"]:
        s = row["sizes"]
        out.append(
            f"| `{row['genome']}` | {row['classes']} | {row['kernels']} | {row['total']:,.0f} "
            f"| {row['total_min']:,}..{row['total_max']:,} | {row['predicted']:,.0f} | {row['predicted_loo']:,.0f} "
            f"| {s['text_bytes']:,} | {s['rodata_bytes']:,} | {s['bss_bytes']:,} | {s['inference_code_bytes']:,} "
            f"| {s['weights_bytes']:,} / {row['flash_bytes']:,} | {s['buffers_bytes']:,} / {row['ram_bytes']:,} |"
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
