"""What each lever of the search saves, measured on a finished run of the shipped recipe (its store).

- float stages: float trainings not done (bit-width variants sharing one, or served from the store), read
  from the run's float-stage table and proxy records;
- successive halving (``proxy.promote``): replayed on the run's proxy candidates, whose every fold is
  stored: which candidates each generation would promote by their first-fold score, the folds saved, the
  Spearman correlation of the first-fold score and of the every-fold score with the select score (the
  validation score at the refine budget that chooses the front), and how many selected genomes the first
  rung would have promoted. A replay keeps NSGA-II's trajectory; a run with halving would drift from it;
- fast integer scoring: seconds of the numpy golden model and of ``run_fast`` on the first fold's held-out
  windows of the run's five largest selected genomes (bit-identical, checked here again);
- the refine budget: bench/refine_budget.py; weight inheritance: bench/inheritance.py.

    .venv/bin/python bench/search_levers.py --store runs/speed.sqlite [--run 1]

Writes bench/results/search_levers.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from harx.data import load_dataset, subject_folds
from harx.deploy.synthetic import random_model
from harx.evaluate import float_arch
from harx.models.genome import parse_genome
from harx.quant.fast import run_fast
from harx.search.problem import promoted
from harx.search.recipe import recipe_from_stored
from harx.store import Store

RESULTS = Path(__file__).resolve().parents[1] / "bench" / "results"


def halving(recipe, proxy: list, select: dict, links: dict[int, int], fraction: float) -> dict:
    """Replay ``proxy.promote = fraction`` on the run's every-fold proxy records, generation by generation."""
    by_gen: dict[int, list] = {}
    for r in proxy:
        by_gen.setdefault(links[r.id], []).append(r)
    kept, trained_folds, full_folds = set(), 0, 0
    folds = recipe.proxy.folds
    for recs in by_gen.values():
        first = {r.genome: r for r in recs}
        up = promoted(first, recipe, fraction)
        kept |= set(up)
        trained_folds += len(recs) + (folds - 1) * len(up)
        full_folds += folds * len(recs)
    chosen = [g for g in select if g in {r.genome for r in proxy}]
    target = [select[g].metrics["val_acc"] for g in chosen]
    by_genome = {r.genome: r for r in proxy}
    return {
        "promote": fraction,
        "folds_trained": trained_folds,
        "folds_without_halving": full_folds,
        "saving": 1 - trained_folds / full_folds,
        "spearman_first_fold_vs_select": float(
            spearmanr([by_genome[g].metrics["val_acc_folds"][0] for g in chosen], target)[0]
        ),
        "spearman_every_fold_vs_select": float(
            spearmanr([by_genome[g].metrics["val_acc"] for g in chosen], target)[0]
        ),
        "select_picks": len(chosen),
        "select_picks_promoted": sum(g in kept for g in chosen),
    }


def scoring(genomes: list[str], ds, fold) -> dict:
    """Seconds to score the held-out windows of a fold, golden model against run_fast, on random weights of
    each genome (the time depends on shapes only)."""
    x = np.clip(
        np.rint(np.random.default_rng(0).normal(0, 40, (len(fold.val), ds.window, ds.n_channels))), -128, 127
    )
    x = x.astype(np.int8)
    rows = []
    for g in genomes:
        m = random_model(g, ds.n_channels, ds.window, ds.n_classes)
        t0 = time.perf_counter()
        gold = m.run(x)
        t1 = time.perf_counter()
        fast = run_fast(m, x)
        t2 = time.perf_counter()
        rows.append(
            {
                "genome": g,
                "golden_s": t1 - t0,
                "fast_s": t2 - t1,
                "identical": bool(np.array_equal(gold, fast)),
            }
        )
    return {
        "windows": len(x),
        "rows": rows,
        "speedup": sum(r["golden_s"] for r in rows) / sum(r["fast_s"] for r in rows),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", type=Path, required=True)
    ap.add_argument("--run", type=int, default=None)
    args = ap.parse_args()
    with Store(args.store, readonly=True) as s:
        run = s.get_run(args.run) if args.run else s.runs()[-1]
        recs = [r for r in s.candidates(run.id) if r.status == "ok"]
        links = s.generations(run.id)
        float_seconds = s.float_stage_seconds()
    recipe = recipe_from_stored(run.recipe, f"run {run.id}")
    ds = load_dataset(recipe.dataset)
    proxy = [r for r in recs if r.stage == "proxy" and not r.train_config.get("only_folds")]
    select = {r.genome: r for r in recs if r.stage == "select"}
    refine = [r for r in recs if r.stage == "refine"]
    archs = {float_arch(parse_genome(r.genome)) for r in proxy}
    report = {
        "store": str(args.store),
        "run": run.id,
        "float_stages": {
            "stored": len(float_seconds),
            "proxy_candidates": len(proxy),
            "proxy_architectures": len(archs),
            "proxy_float_trainings_without_sharing": len(proxy) * recipe.proxy.folds,
            "seconds_stored": float(sum(float_seconds.values())),
        },
        "halving": [halving(recipe, proxy, select, links, f) for f in (0.5, 0.34)],
        "scoring": scoring(
            sorted((r.genome for r in refine), key=lambda g: -len(g))[:5],
            ds,
            subject_folds(ds, recipe.proxy.folds, recipe.seed)[0],
        ),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "search_levers.json").write_text(json.dumps(report, indent=1))
    f, sc = report["float_stages"], report["scoring"]
    lines = [
        "# Search levers on one run (bench/search_levers.py)",
        "",
        f"Run {run.id} of `{args.store}`: {f['proxy_candidates']} proxy candidates of {f['proxy_architectures']} "
        f"architectures; {f['stored']} float stages stored for {f['proxy_float_trainings_without_sharing']} "
        "proxy float trainings without sharing (plus select and refine).",
        "",
        "| promote | folds trained | saving | Spearman first fold / every fold vs select | select picks promoted |",
        "|---|---:|---:|---|---:|",
    ]
    for h in report["halving"]:
        lines.append(
            f"| {h['promote']} | {h['folds_trained']} of {h['folds_without_halving']} | {100 * h['saving']:.0f}% | "
            f"{h['spearman_first_fold_vs_select']:.2f} / {h['spearman_every_fold_vs_select']:.2f} | "
            f"{h['select_picks_promoted']} of {h['select_picks']} |"
        )
    lines += [
        "",
        f"Scoring {sc['windows']} held-out windows: run_fast is {sc['speedup']:.1f}x the golden model, identical on "
        f"{sum(r['identical'] for r in sc['rows'])} of {len(sc['rows'])} genomes.",
    ]
    (RESULTS / "search_levers.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
