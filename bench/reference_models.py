"""Hand-picked reference CNNs retrained with the refine step of a search recipe: the same-recipe baseline.

Issue 5 compares the searched front with hand-picked uniform-precision CNNs measured on the same uci-har
rebuild (shared/FACTS.md: `[Conv1d k5 - BN - ReLU - MaxPool2] x n - GAP - Linear`, accuracy at weights +
bias bytes). Those numbers came from another training recipe. This script retrains the same
architectures with exactly the recipe's refine settings (seeds, validation subjects, epochs), so a gap
between the front and the references can be split into what the search finds and what the training gives.
The first conv's weights stay 8-bit (9 input channels cannot be packed at 4 bit in PULP-NN), so the
4-bit rows differ from the references there.

    HARX_HOME=... python bench/reference_models.py [--recipe recipes/uci-har.yaml] [--workers 2]

Writes bench/results/reference_models.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from harx.cost import estimate
from harx.data import load_dataset
from harx.search import load_recipe
from harx.search.executors import make_executor
from harx.search.jobs import RefineJob, run_refine
from harx.search.recipe import ExecutorSettings
from harx.train.config import Execution

# (reference label, harx genome, reference weights+bias bytes, reference test accuracy %) from FACTS.md
REFERENCES = [
    ("6-8 ch, 4-bit", "c6k5p2w8a4-c8k5p2w4a4-gapw4", 359, 91.7),
    ("6-8 ch, 8-bit", "c6k5p2w8a8-c8k5p2w8a8-gapw8", 638, 91.9),
    ("8-12-12 ch, 8-bit", "c8k5p2w8a8-c12k5p2w8a8-c12k5p2w8a8-gapw8", 1784, 93.1),
    ("16-24-32 ch, 4-bit", "c16k5p2w8a4-c24k5p2w4a4-c32k5p2w4a4-gapw4", 3648, 93.7),
    ("16-24-32 ch, 8-bit", "c16k5p2w8a8-c24k5p2w8a8-c32k5p2w8a8-gapw8", 6984, 94.4),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", type=Path, default=Path("recipes/uci-har.yaml"))
    ap.add_argument("--workers", type=int, default=2, help="dask LocalCluster workers, 1 torch thread each")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "reference_models")
    args = ap.parse_args()
    recipe = load_recipe(args.recipe)
    ds = load_dataset(recipe.dataset)
    r = recipe.refine
    executor = make_executor(
        ExecutorSettings(kind="dask", workers=args.workers, threads_per_worker=1), Execution(1)
    )
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        jobs = [
            RefineJob((genome,), ds.name, ds.fingerprint, r.seeds, r.val_subjects, r.training.as_dict(), tmp)
            for _, genome, _, _ in REFERENCES
        ]
        outcomes = {o.genome: o for _, out in executor.map(run_refine, jobs, None) for o in out.outcomes}
    executor.close()
    rows = []
    for label, genome, ref_bytes, ref_acc in REFERENCES:
        out = outcomes[genome]
        if out.error:
            raise SystemExit(f"{genome}: {out.error}")
        m = out.metrics
        flash = estimate(
            genome, recipe.target, in_channels=ds.n_channels, in_len=ds.window, n_classes=ds.n_classes
        ).flash_bytes
        rows.append(
            {
                "reference": label,
                "genome": genome,
                "reference_bytes": ref_bytes,
                "reference_acc": ref_acc,
                "weight_bytes": m["weight_bytes"],
                "flash_bytes": flash,
                "test_acc_mean": 100 * m["test_acc_mean"],
                "test_acc_std": 100 * m["test_acc_std"],
                "test_acc_seeds": [100 * a for a in m["test_acc_seeds"]],
                "test_f1_mean": 100 * m["test_f1_mean"],
                "train_seconds": out.train_seconds,
            }
        )
    result = {
        "recipe": str(args.recipe),
        "target": recipe.target,
        "refine": {"seeds": r.seeds, "val_subjects": r.val_subjects, "training": r.training.as_dict()},
        "wall_seconds": time.perf_counter() - t0,
        "date": time.strftime("%Y-%m-%d"),
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    t = r.training
    if r.val_subjects:
        how = f"{r.val_subjects} validation subjects, {t.epochs_float}+{t.epochs_qat} max epochs"
    else:
        how = f"every training subject, {t.epochs_float}+{t.epochs_qat} epochs"
    lines = [
        f"`python bench/reference_models.py --recipe {args.recipe}` ({result['date']}): the refine step of the "
        f"recipe ({r.seeds} seeds, {how}), test subjects. Reference: shared/FACTS.md (weights + 32-bit bias "
        "bytes, another recipe).",
        "",
        f"| reference | genome | reference acc. @ bytes | harx acc. (mean ± std, {r.seeds} seeds) | seeds | "
        f"weight bytes | flash bytes ({recipe.target}) | train s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {x['reference']} | `{x['genome']}` | {x['reference_acc']:.1f}% @ {x['reference_bytes']:,} | "
        f"{x['test_acc_mean']:.2f} ± {x['test_acc_std']:.2f} | "
        f"{' / '.join(f'{a:.2f}' for a in x['test_acc_seeds'])} | {x['weight_bytes']:,} | "
        f"{x['flash_bytes']:,} | {x['train_seconds']:.0f} |"
        for x in rows
    ]
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
