"""Issue 3's table: three model sizes x {uniform 8, uniform 4, uniform 2, mixed} bits on uci-har.

For each genome: float, fake-quant and integer test accuracy, integer macro-F1, packed weight bytes and
training seconds (same TrainConfig for all rows, one seed). With 9 input channels the first conv's
weights stay 8-bit in every row: PULP-NN packing needs a multiple of 2 (4 bit) or 4 (2 bit) input
channels. Writes bench/results/quantize_table.{md,json}.

    HARX_HOME=... python bench/quantize_table.py [--epochs 60 --qat-epochs 30 --seed 0 --threads 2]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from harx.data import load_dataset, subject_split
from harx.evaluate import evaluate, train_model
from harx.models import parse_genome
from harx.train import Execution, TrainConfig

SIZES = {
    "small": ("c8k5p2w{w1}a{a}-c8k5p2w{w}a{a}-gapw{h}", "c8k5p2w8a4-c8k5p2w4a8-gapw8"),
    "medium": (
        "c8k5p2w{w1}a{a}-c12k5p2w{w}a{a}-c12k5p2w{w}a{a}-gapw{h}",
        "c8k5p2w8a8-c12k5p2w4a4-c12k5p2w2a4-gapw8",
    ),
    "large": (
        "c16k5p2w{w1}a{a}-c24k5p2w{w}a{a}-c32k5p2w{w}a{a}-gapw{h}",
        "c16k5p2w8a8-c24k5p2w4a4-c32k5p2w2a4-gapw4",
    ),
}


def genomes():
    for size, (pattern, mixed) in SIZES.items():
        for bits in (8, 4, 2):
            yield size, f"uniform {bits}", pattern.format(w1=8, w=bits, a=bits, h=bits)
        yield size, "mixed", mixed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--qat-epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "quantize_table")
    args = ap.parse_args()
    ds = load_dataset("uci-har")
    split = subject_split(ds, n_val_subjects=4, seed=args.seed)
    cfg = TrainConfig(epochs_float=args.epochs, epochs_qat=args.qat_epochs)
    rows = []
    for size, bits, text in genomes():
        trained = train_model(
            parse_genome(text), ds, split, cfg, seed=args.seed, execution=Execution(threads=args.threads)
        )
        ev = evaluate(trained, ds, split)
        rows.append(
            {
                "size": size,
                "bits": bits,
                "genome": text,
                "float_acc": ev.float_test.accuracy,
                "fq_acc": ev.fq_test.accuracy,
                "int_acc": ev.int_test.accuracy,
                "int_f1": ev.int_test.macro_f1,
                "int_minus_fq_pp": 100 * (ev.int_test.accuracy - ev.fq_test.accuracy),
                "weight_bytes": ev.weight_bytes,
                "params": ev.params,
                "train_seconds": ev.train_seconds,
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    meta = {
        "dataset": ds.name,
        "fingerprint": ds.fingerprint,
        "train_config": cfg.as_dict(),
        "seed": args.seed,
        "machine": f"{platform.machine()} {platform.processor()}",
        "date": time.strftime("%Y-%m-%d"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    lines = [
        f"Test subjects of {ds.name}, seed {args.seed}, {args.epochs}+{args.qat_epochs} max epochs "
        f"(float+QAT), {args.threads} threads, {meta['date']}. Regenerate: `python bench/quantize_table.py`.",
        "",
        "| size | bits | genome | float acc | fake-quant acc | integer acc | integer macro-F1 | int - fq (pp) | weight bytes | train s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['size']} | {r['bits']} | `{r['genome']}` | {100 * r['float_acc']:.2f} | {100 * r['fq_acc']:.2f} | "
            f"{100 * r['int_acc']:.2f} | {100 * r['int_f1']:.2f} | {r['int_minus_fq_pp']:+.2f} | "
            f"{r['weight_bytes']:,} | {r['train_seconds']:.0f} |"
        )
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
