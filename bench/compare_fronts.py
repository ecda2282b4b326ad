"""Two uci-har fronts on one protocol, with the noise of 9 test subjects.

The front of a validation-selected run of the shipped recipe (bench/search_speed.py's store) against run
15's reported front (bench/results/uci_har_search_refine.csv: chosen on test accuracy, under the earlier
protocol of 80+40 epochs). Run 15's genomes are retrained here with the run's own refine settings (its
recipe's seeds and training, every training subject), so both fronts are scored by the same training on
the same test subjects, window by window. A paired subject bootstrap (each draw resamples the 9 test
subjects once, for both fronts) gives 95% intervals of the differences: the best 3-seed test accuracy at
<= 512, 2,048 and 8,192 weight bytes, and the hypervolume of accuracy against weight bytes at (0, 1.1 x
the larger front's largest). Test scores are reported, never used to choose anything here.

``--full-budget G,G,..`` instead retrains those genomes with run 15's training (80+40 epochs, cosine),
the run's seeds, to split run 15's published numbers into what its longer training gave and what its
choice on test scores added (bench/results/compare_fronts_full_budget.{json,md}).

    .venv/bin/python bench/compare_fronts.py --store runs/speed.sqlite [--run 1] [--full-budget G,G]

Writes bench/results/compare_fronts.{json,md}.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
from search_speed import hv_acc_bytes, run15  # bench/ is this script's directory

from harx.data import load_dataset
from harx.models.genome import parse_genome
from harx.pareto.front import load_front
from harx.search.executors import make_executor
from harx.search.recipe import recipe_from_stored
from harx.search.study import Study
from harx.store import Store
from harx.train import Execution, TrainConfig
from harx.train.metrics import subject_bootstrap_draws

RESULTS = Path(__file__).resolve().parents[1] / "bench" / "results"
LIMITS = (512, 2048, 8192)
DRAWS = 4000


def run15_front() -> list[dict]:
    """Run 15's front, its published 3-seed mean as ``acc_80_40``."""
    return [
        {"genome": p["genome"], "weight_bytes": p["weight_bytes"], "acc_80_40": p["test_acc_mean"]}
        for p in run15()
    ]


def retrain(store: Store, run_id: int, genomes: list[str], training=None) -> tuple[dict, float]:
    """Refine records of ``genomes`` with the settings of run ``run_id`` (``training`` instead of its
    refine training where given; served where stored), under a new run; and the wall seconds it took."""
    recipe = recipe_from_stored(store.get_run(run_id).recipe, f"run {run_id}")
    if training is not None:
        recipe = dataclasses.replace(recipe, refine=dataclasses.replace(recipe.refine, training=training))
    ds = load_dataset(recipe.dataset)
    new = store.create_run(
        recipe.to_dict(), recipe.seed, "run 15's front retrained (bench/compare_fronts.py)"
    )
    executor = make_executor(recipe.executor, Execution())
    t0 = time.perf_counter()
    try:
        study = Study(recipe, store, new.id, ds, executor, None)
        costs = {g: study._costs(parse_genome(g)) for g in genomes}
        got = study.evaluate("refine", costs, -1)
    finally:
        executor.close()
    store.finish_run(new.id, "done")
    return got, time.perf_counter() - t0


def per_subject(rec) -> tuple[np.ndarray, np.ndarray]:
    m = rec.metrics
    return np.asarray(m["test_subject_correct"], dtype=float), np.asarray(m["test_subject_windows"], float)


def _best(accs: np.ndarray, sizes: np.ndarray, limit: int) -> float:
    inside = accs[sizes <= limit]
    return float(inside.max()) if inside.size else float("nan")


def bootstrap(fronts: dict[str, list], ref_bytes: float) -> dict:
    """Per front, per draw: each point's 3-seed mean accuracy on the drawn subjects; then the statistics."""
    stats: dict[str, dict[str, np.ndarray]] = {}
    for name, pts in fronts.items():
        sizes = np.array([p["weight_bytes"] for p in pts], dtype=float)
        # the same draws of the subjects for every point of both fronts (the same seed and subject count)
        acc = np.stack([subject_bootstrap_draws(*per_subject(p["rec"]), DRAWS) for p in pts], axis=1)
        full = np.array([p["rec"].metrics["test_acc_mean"] for p in pts])
        s = {f"best<={lim}": np.array([_best(a, sizes, lim) for a in acc]) for lim in LIMITS}
        s["hv"] = np.array([hv_acc_bytes(a, sizes, ref_bytes) for a in acc])
        s["point"] = {f"best<={lim}": _best(full, sizes, lim) for lim in LIMITS} | {
            "hv": hv_acc_bytes(full, sizes, ref_bytes)
        }
        stats[name] = s
    out = {}
    for key in [f"best<={lim}" for lim in LIMITS] + ["hv"]:
        a, b = stats["this"], stats["run15"]
        d = a[key] - b[key]
        lo, hi = np.nanquantile(d, [0.025, 0.975])
        out[key] = {
            "this": a["point"][key],
            "run15": b["point"][key],
            "diff": a["point"][key] - b["point"][key],
            "diff_ci95": [float(lo), float(hi)],
            "p_this_higher": float(np.mean(d > 0)),
        }
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", type=Path, required=True)
    ap.add_argument("--run", type=int, default=1)
    ap.add_argument("--full-budget", default="", help="comma-separated genomes of run 15's front")
    args = ap.parse_args()
    old = run15_front()
    if args.full_budget:
        return full_budget(args.store, args.run, args.full_budget.split(","), old)
    with Store(args.store) as store:
        selected_on = load_front(store, args.run).selected_on
        this = [
            {"genome": c.genome, "weight_bytes": c.metrics["weight_bytes"], "rec": c}
            for c in store.candidates(args.run)
            if c.stage == "refine" and c.status == "ok"
        ]
        got, seconds = retrain(store, args.run, [p["genome"] for p in old])
    for p in old:
        p["rec"] = got[p["genome"]]
    ref_bytes = 1.1 * max(p["weight_bytes"] for p in this + old)
    diffs = bootstrap({"this": this, "run15": old}, ref_bytes)

    def row(p: dict) -> dict:
        m = p["rec"].metrics
        return {
            "genome": p["genome"],
            "weight_bytes": p["weight_bytes"],
            "test_acc_mean": m["test_acc_mean"],
            "test_acc_sd": m["test_acc_std"],
            "test_acc_ci95": m["test_acc_ci95"],
            **({"acc_80_40": p["acc_80_40"]} if "acc_80_40" in p else {}),
        }

    result = {
        "store": str(args.store),
        "run": args.run,
        "selected_on": selected_on,
        "retrain_wall_s": seconds,
        "reference_weight_bytes": ref_bytes,
        "draws": DRAWS,
        "differences": diffs,
        "this_front": [row(p) for p in this],
        "run15_front": [row(p) for p in old],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "compare_fronts.json").write_text(json.dumps(result, indent=1))
    (RESULTS / "compare_fronts.md").write_text(markdown(result))
    print(markdown(result))
    return 0


def full_budget(store_path: Path, run_id: int, genomes: list[str], old: list[dict]) -> int:
    published = {p["genome"]: p["acc_80_40"] for p in old}
    unknown = [g for g in genomes if g not in published]
    if unknown:
        raise SystemExit(f"not on run 15's front: {', '.join(unknown)}")
    full = TrainConfig(epochs_float=80, epochs_qat=40, batch_size=64)  # run 15's refine training
    with Store(store_path) as store:
        short, _ = retrain(store, run_id, genomes)
        long, seconds = retrain(store, run_id, genomes, full)
    rows = [
        {
            "genome": g,
            "published_80_40": published[g],
            "retrained_80_40": long[g].metrics["test_acc_mean"],
            "retrained_80_40_sd": long[g].metrics["test_acc_std"],
            "retrained_short": short[g].metrics["test_acc_mean"],
            "retrained_short_sd": short[g].metrics["test_acc_std"],
        }
        for g in genomes
    ]
    lines = [
        "# Run 15's published points retrained at 80+40 (bench/compare_fronts.py --full-budget)",
        "",
        f"{len(genomes)} genomes, the run's 3 seeds, every training subject; {seconds / 60:.1f} min. Published: "
        "run 15's 3-seed mean (its front chosen on these test scores); test accuracy %, mean ± sd (ddof=1).",
        "",
        "| genome | published 80+40 | retrained 80+40 | retrained 20+10 one-cycle |",
        "|---|---:|---:|---:|",
        *(
            f"| `{r['genome']}` | {100 * r['published_80_40']:.2f} | {100 * r['retrained_80_40']:.2f} ± "
            f"{100 * r['retrained_80_40_sd']:.2f} | {100 * r['retrained_short']:.2f} ± "
            f"{100 * r['retrained_short_sd']:.2f} |"
            for r in rows
        ),
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "compare_fronts_full_budget.json").write_text(
        json.dumps({"seconds": seconds, "rows": rows}, indent=1)
    )
    (RESULTS / "compare_fronts_full_budget.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


def markdown(r: dict) -> str:
    lines = [
        "# Two uci-har fronts, one protocol (bench/compare_fronts.py)",
        "",
        f"This run (store `{r['store']}`, run {r['run']}, front selected on {r['selected_on']} scores) against "
        f"run 15's front (chosen on test accuracy), its {len(r['run15_front'])} genomes retrained with this "
        f"run's refine settings in {r['retrain_wall_s'] / 60:.1f} min. Test accuracy: 3-seed mean ± sd (ddof=1), "
        f"95% subject-bootstrap interval; 'at 80+40': run 15's published mean.",
        "",
        "| front | genome | weight B | test acc % | 95% CI | at 80+40 |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name, pts in (("this", r["this_front"]), ("run 15", r["run15_front"])):
        for p in sorted(pts, key=lambda p: p["weight_bytes"]):
            lo, hi = p["test_acc_ci95"]
            old = f"{100 * p['acc_80_40']:.2f}" if "acc_80_40" in p else ""
            lines.append(
                f"| {name} | `{p['genome']}` | {p['weight_bytes']:,} | {100 * p['test_acc_mean']:.2f} ± "
                f"{100 * p['test_acc_sd']:.2f} | {100 * lo:.1f}–{100 * hi:.1f} | {old} |"
            )
    lines += [
        "",
        f"Paired subject bootstrap ({r['draws']} draws of the 9 test subjects, the same draws for both fronts); "
        f"hypervolume of accuracy against weight bytes at (0, {r['reference_weight_bytes']:,.0f} B):",
        "",
        "| statistic | this run | run 15 retrained | difference | 95% interval | draws where this run is higher |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for key, d in r["differences"].items():
        pct = key != "hv"
        f = (lambda v: f"{100 * v:.2f}") if pct else (lambda v: f"{v:.1f}")
        name = f"best test acc % at {key[4:]:s} weight B" if pct else "hypervolume"
        lines.append(
            f"| {name} | {f(d['this'])} | {f(d['run15'])} | {f(d['diff'])} | "
            f"{f(d['diff_ci95'][0])} to {f(d['diff_ci95'][1])} | {100 * d['p_this_higher']:.0f}% |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
