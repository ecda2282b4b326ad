"""The refine budget: the cheapest training schedule that scores like 80+40 epochs, chosen on training subjects.

Six genomes across the size range (the validation-scored proxy front of uci-har run 15, 198 B to 5.7 kB of
weights; a seventh, the largest hand-picked reference network, with --genomes 7) are trained with each candidate schedule on
three subject-grouped folds of the 21 training subjects (fold i: seed i, 14 subjects trained on, 7 held
out; fixed epochs, no early stopping, so the held-out fold is scored once and never steers training). The
schedule is chosen on the held-out folds only: the cheapest (total training seconds) whose mean paired
difference to 80+40 over every (genome, fold) is no worse than -0.2 accuracy points. The test subjects are
scored too, for the report, and never read by the choice.

    .venv/bin/python bench/refine_budget.py [--workers 2] [--genomes 7]     (needs `harx fetch uci-har`)

Every finished training is appended to bench/results/refine_budget.jsonl, which a restart reads back and
does not train again. Writes bench/results/refine_budget.{json,md}.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from harx.data import load_dataset, subject_folds
from harx.data.splits import Split
from harx.evaluate import train_model
from harx.models.genome import parse_genome
from harx.train.config import Execution, TrainConfig
from harx.train.metrics import score

RESULTS = Path(__file__).resolve().parents[1] / "bench" / "results"
GENOMES = (
    "c6k3s2p2w8a8-gapw8",
    "c6k5p2w8a4-c8k5p2w4a4-gapw4",
    "c6k9s2p2w8a4-c8k7p2w4a4-gapw4",
    "c8k3d2w8a4-c8k7s2d2p4w8a8-c32k7p4w4a2-flatw4",
    "c8k3s2p2w8a2-c48k5p2w4a4-flatw4",
    "c6k7w8a8-c8k9p2w8a2-c48k3s2d2w2a4-flatw4",
    "c16k5p2w8a8-c24k5p2w8a8-c32k5p2w8a8-gapw8",
)
BASE = TrainConfig(epochs_float=80, epochs_qat=40, batch_size=64)
SCHEDULES = {
    "80+40": BASE,
    "40+20": replace(BASE, epochs_float=40, epochs_qat=20),
    "20+10": replace(BASE, epochs_float=20, epochs_qat=10),
    "10+20 (QAT earlier)": replace(BASE, epochs_float=10, epochs_qat=20),
    "20+10 one-cycle": replace(BASE, epochs_float=20, epochs_qat=10, schedule="onecycle"),
    "30+15 batch 128": replace(
        BASE, epochs_float=30, epochs_qat=15, batch_size=128, lr=4.2e-3, lr_qat=1.4e-3
    ),
}
TOLERANCE_POINTS = 0.2
FOLDS = 3


def run_one(genome: str, schedule: str, fold: int) -> dict:
    """Train on fold ``fold``'s 14 training subjects (seed = fold) and score its 7 held-out subjects and the
    test subjects with the integer model."""
    ds = load_dataset("uci-har")
    f = subject_folds(ds, n_folds=FOLDS, seed=0)[fold]
    train_only = Split(f.train, np.array([], np.int64), f.test, f.train_subjects, (), f.test_subjects)
    t0 = time.perf_counter()
    tm = train_model(
        parse_genome(genome), ds, train_only, SCHEDULES[schedule], seed=fold, execution=Execution(1)
    )
    seconds = time.perf_counter() - t0
    val = score(ds.y[f.val], tm.int_logits(ds.X[f.val]).argmax(axis=1), ds.n_classes)
    test = score(ds.y[f.test], tm.int_logits(ds.X[f.test]).argmax(axis=1), ds.n_classes)
    return {
        "genome": genome,
        "schedule": schedule,
        "fold": fold,
        "val_acc": val.accuracy,
        "test_acc": test.accuracy,
        "train_seconds": seconds,
        "weight_bytes": tm.integer.weight_bytes(),
    }


def summarize(rows: list[dict], n_genomes: int) -> dict:
    by = {(r["genome"], r["schedule"], r["fold"]): r for r in rows}
    genomes = GENOMES[:n_genomes]
    out = {}
    for name in SCHEDULES:
        pairs = [(by[(g, name, k)], by[(g, "80+40", k)]) for g in genomes for k in range(FOLDS)]
        dv = np.array([100 * (a["val_acc"] - b["val_acc"]) for a, b in pairs])
        dt = np.array([100 * (a["test_acc"] - b["test_acc"]) for a, b in pairs])
        out[name] = {
            "val_acc_mean": float(np.mean([a["val_acc"] for a, _ in pairs])),
            "test_acc_mean": float(np.mean([a["test_acc"] for a, _ in pairs])),
            "val_diff_points": float(dv.mean()),
            "val_diff_se": float(dv.std(ddof=1) / np.sqrt(len(dv))),
            "test_diff_points": float(dt.mean()),
            "test_diff_se": float(dt.std(ddof=1) / np.sqrt(len(dt))),
            "train_seconds": float(sum(a["train_seconds"] for a, _ in pairs)),
            "per_genome_val_diff": {
                g: float(
                    np.mean(
                        [
                            100 * (by[(g, name, k)]["val_acc"] - by[(g, "80+40", k)]["val_acc"])
                            for k in range(FOLDS)
                        ]
                    )
                )
                for g in genomes
            },
        }
    ok = [n for n, s in out.items() if s["val_diff_points"] >= -TOLERANCE_POINTS]
    chosen = min(ok, key=lambda n: out[n]["train_seconds"])
    return {
        "schedules": out,
        "chosen": chosen,
        "tolerance_points": TOLERANCE_POINTS,
        "genomes": list(genomes),
    }


def markdown(summary: dict, wall_s: float) -> str:
    s = summary["schedules"]
    base = s["80+40"]["train_seconds"]
    lines = [
        "# Refine budget (bench/refine_budget.py)",
        "",
        f"{len(summary['genomes'])} genomes x {FOLDS} subject-grouped folds of the 21 training subjects (14 trained on, 7 "
        "held out), fixed epochs, integer-model accuracy. Chosen on the held-out folds: the cheapest schedule "
        f"whose mean paired difference to 80+40 is >= -{TOLERANCE_POINTS} points. Test subjects: report only. "
        f"Wall {wall_s / 60:.1f} min (the last invocation), train time summed over every run below.",
        "",
        "| schedule | held-out acc % | diff vs 80+40 (points, ± se) | test acc % | test diff (± se) | train time vs 80+40 |",
        "|---|---|---|---|---|---|",
    ]
    for name, v in s.items():
        mark = " **chosen**" if name == summary["chosen"] else ""
        lines.append(
            f"| {name}{mark} | {100 * v['val_acc_mean']:.2f} | {v['val_diff_points']:+.2f} ± {v['val_diff_se']:.2f} | "
            f"{100 * v['test_acc_mean']:.2f} | {v['test_diff_points']:+.2f} ± {v['test_diff_se']:.2f} | "
            f"{v['train_seconds'] / base:.2f}x |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--genomes", type=int, default=6, help="the first N of GENOMES (the 7th is the slowest)")
    args = ap.parse_args()
    # schedule-major: every schedule's first genomes finish before the slow baseline's last ones
    jobs = [(g, s, k) for s in SCHEDULES for g in GENOMES[: args.genomes] for k in range(FOLDS)]
    log = RESULTS / "refine_budget.jsonl"
    rows = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    done = {(r["genome"], r["schedule"], r["fold"]) for r in rows}
    t0 = time.perf_counter()
    RESULTS.mkdir(parents=True, exist_ok=True)
    with cf.ProcessPoolExecutor(args.workers) as pool, log.open("a") as f:
        futures = [pool.submit(run_one, *j) for j in jobs if j not in done]
        for fut in cf.as_completed(futures):
            row = fut.result()
            rows.append(row)
            f.write(json.dumps(row) + "\n")
            f.flush()
            print(
                f"{row['genome']} {row['schedule']} fold {row['fold']}: val {row['val_acc']:.4f} "
                f"({row['train_seconds']:.0f} s)",
                flush=True,
            )
    wall = time.perf_counter() - t0  # this invocation's; a restart trains only what the log lacks
    summary = summarize(rows, args.genomes)
    (RESULTS / "refine_budget.json").write_text(
        json.dumps({"wall_s": wall, "rows": rows, **summary}, indent=1)
    )
    (RESULTS / "refine_budget.md").write_text(markdown(summary, wall))
    print(markdown(summary, wall))
    return 0


if __name__ == "__main__":
    sys.exit(main())
