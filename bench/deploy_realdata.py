"""Deploy trained uci-har models and check them on every real test window: host, ASan/UBSan, rv32 (qemu).

Trains the five genomes of tests/test_deploy_realdata.py (2/4/8-bit and mixed, depth 1 to 5, GAP and
flatten heads, strides, dilations, pools, odd and even lengths) on uci-har, generates each one's C project
with ALL the test subjects' windows embedded, and reports per genome: windows and mismatching windows per
build, the integer model's test accuracy (the C's, being bit-exact), exact rv32 instructions per
inference against the cost model's rv32 estimate for the same kernel set (these genomes are not in the
fit's set), and the rv32 ELF's sizes against the memory plan.

    .venv/bin/python bench/deploy_realdata.py [--epochs 3 --qat-epochs 2] [--kernels opt|ref]
    (needs ../shared/datasets)

Writes bench/results/deploy_realdata.md and .json with rv32's default kernel set (opt), or
deploy_realdata_<set>.md and .json with another.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from harx.cost import estimate, load_target
from harx.data import fetch, load_dataset, subject_split
from harx.deploy import generate
from harx.deploy.pipeline import test_windows
from harx.deploy.toolchain import missing_tools, run
from harx.evaluate import train_model
from harx.models.genome import parse_genome
from harx.train.config import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"
RESULTS = ROOT / "bench" / "results"
GENOMES = (
    "c8k5w8a8-gapw8",
    "c16k5s3w8a4-c8k3d2w4a4-flatw4",
    "c12k3p2w8a2-c16k5d3w2a2-c8k3s2w2a2-gapw2",
    "c16k7s2w8a8-c24k5p3w4a4-c16k3d2w2a8-c8k3w8a2-flatw2",
    "c8k5p2w8a4-c16k3s2w4a8-c12k5d2w8a2-c16k3p2w2a4-c8k3w4a8-gapw4",
)
BUILDS = ("host", "asan", "rv32")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=3, help="float pre-training epochs")
    ap.add_argument("--qat-epochs", type=int, default=2)
    ap.add_argument("--kernels", choices=("opt", "ref"), help="kernel set (default: rv32's, opt)")
    args = ap.parse_args()
    kernels = load_target("rv32").kernel_set(args.kernels)
    stem = "deploy_realdata" if kernels == load_target("rv32").kernel_set() else f"deploy_realdata_{kernels}"
    missing = sorted({t for b in BUILDS for t in missing_tools(b)})
    if missing or not (SHARED / "uci-har.zip").is_file():
        print(f"deploy_realdata: needs {SHARED / 'uci-har.zip'} and {', '.join(missing) or 'the toolchain'}")
        return 2
    cfg = TrainConfig(epochs_float=args.epochs, epochs_qat=args.qat_epochs)
    rows = []
    with tempfile.TemporaryDirectory(prefix="harx-deploy-") as tmp:
        home = Path(tmp) / "home"
        fetch("uci-har", file=SHARED / "uci-har.zip", home=home)
        ds = load_dataset("uci-har", home)
        split = subject_split(ds, n_val_subjects=4, seed=0)
        for g in GENOMES:
            t0 = time.perf_counter()
            art = train_model(parse_genome(g), ds, split, cfg, seed=0).artifact(ds, {}, cfg)
            train_s = time.perf_counter() - t0
            windows = test_windows(art, len(ds.y), home)
            labels = ds.y[np.isin(ds.subject, ds.test_subjects)]
            project = generate(art, Path(tmp) / "p", "rv32", windows, kernels)
            t0 = time.perf_counter()
            results = {b: run(project, b, timeout_s=1800) for b in BUILDS}
            run_s = time.perf_counter() - t0
            rv = results["rv32"]
            cost = estimate(g, "rv32", kernels=kernels)
            predicted = cost.latency_cycles / 1.0  # rv32.yaml: cycles_per_instruction = 1
            rows.append(
                {
                    "genome": g,
                    "kernel_set": project.kernel_set,
                    "windows": len(windows),
                    "mismatched_windows": {b: r.mismatched_windows for b, r in results.items()},
                    "integer_test_accuracy": float(np.mean(project.expected_classes == labels)),
                    "instructions_mean": rv.instructions.mean,
                    "instructions_min": rv.instructions.min,
                    "instructions_max": rv.instructions.max,
                    "model_instructions": predicted,
                    "model_error_pct": 100 * (predicted - rv.instructions.mean) / rv.instructions.mean,
                    "macs": cost.macs,
                    "sizes": vars(rv.sizes),
                    "flash_estimate_bytes": cost.flash_bytes,
                    "ram_estimate_bytes": cost.ram_bytes,
                    "train_seconds": train_s,
                    "build_and_run_seconds": run_s,
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    report = {"train_config": cfg.as_dict(), "kernel_set": kernels, "rows": rows}
    (RESULTS / f"{stem}.json").write_text(json.dumps(report, indent=1) + "\n")
    (RESULTS / f"{stem}.md").write_text(render(report))
    exact = all(v == 0 for r in rows for v in r["mismatched_windows"].values())
    return 0 if exact else 1


def render(r: dict) -> str:
    cfg = r["train_config"]
    kernels = r["kernel_set"]
    what = {"opt": "harx's optimized kernels (harx_opt.h)", "ref": "harx's reference kernels (harx_ref.h)"}
    out = [
        f"# Deployed uci-har models on every real test window: {kernels} kernels",
        "",
        f"Generated by `bench/deploy_realdata.py --kernels {kernels}`: each genome trained on uci-har "
        f"({cfg['epochs_float']} float + {cfg['epochs_qat']} QAT epochs, seed 0), its C project with "
        f"{what[kernels]} built for the host (gcc -O2), the host under "
        "ASan + UBSan, and rv32imc (-O2, qemu-riscv32), every test-subject window embedded. `mismatches` counts "
        "windows whose int32 logits differ from the numpy integer model's in any class. Instructions: exact, "
        "inside harx_infer and its kernels, per inference (mean, min..max over the windows); model: the fitted "
        "rv32 cost model of the same kernel set (these genomes are not among the fit's).",
        "",
        "| genome | windows | mismatches host / asan / rv32 | int. test acc. | MACs | rv32 instructions (min..max) "
        "| model | error |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in r["rows"]:
        mm = row["mismatched_windows"]
        out.append(
            f"| `{row['genome']}` | {row['windows']:,} | {mm['host']} / {mm['asan']} / {mm['rv32']} "
            f"| {100 * row['integer_test_accuracy']:.1f}% | {row['macs']:,} | {row['instructions_mean']:,.0f} "
            f"({row['instructions_min']:,}..{row['instructions_max']:,}) | {row['model_instructions']:,.0f} "
            f"| {row['model_error_pct']:+.1f}% |"
        )
    out += [
        "",
        "## rv32 ELF (bytes)",
        "",
        "| genome | .text | .rodata | .data | .bss | inference code | weights / flash est. | buffers / RAM est. |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in r["rows"]:
        s = row["sizes"]
        out.append(
            f"| `{row['genome']}` | {s['text_bytes']:,} | {s['rodata_bytes']:,} | {s['data_bytes']:,} "
            f"| {s['bss_bytes']:,} | {s['inference_code_bytes']:,} | {s['weights_bytes']:,} / "
            f"{row['flash_estimate_bytes']:,} | {s['buffers_bytes']:,} / {row['ram_estimate_bytes']:,} |"
        )
    out += ["", ".rodata includes the embedded test windows and expected logits of the harness.", ""]
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
