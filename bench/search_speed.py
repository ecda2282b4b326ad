"""The shipped uci-har search end to end from an empty store: its wall time, what it trained, and its front.

Runs `harx search --recipe recipes/uci-har.yaml --executor dask --json` (2 workers of 1 thread) on a new
store, then reads the store: seconds per stage, candidates trained, float stages reused, the Spearman rank
correlation of the proxy (and of the select stage) with the refined test accuracy over the reported genomes,
and the front with its test accuracy (mean, sd over seeds with ddof=1, 95% subject-bootstrap interval) and
what chose it. Compared with run 15 (bench/results/uci_har_search_refine.csv, the front the earlier protocol
reported, chosen on test accuracy) at one reference point: accuracy 0 and 1.1 x the larger front's largest
weight bytes.

    .venv/bin/python bench/search_speed.py [--recipe recipes/uci-har.yaml] [--store runs/speed.sqlite]

Writes bench/results/search_speed.{json,md}.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from harx.objectives import minimised, parse_objectives
from harx.pareto.sorting import hypervolume
from harx.store import Store

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
RUN15 = RESULTS / "uci_har_search_refine.csv"
AIMS = ((512, 0.92), (2048, 0.94), (8192, 0.95))  # (weight bytes, 3-seed test mean)


def hv_acc_bytes(accs, sizes, ref_bytes: float) -> float:
    """Hypervolume of points of accuracy ``accs`` at ``sizes`` weight bytes, at reference (0, ref_bytes)."""
    objs = parse_objectives("acc,flash")
    F = minimised(np.column_stack([accs, sizes]).astype(float), objs)
    return hypervolume(F, minimised(np.array([0.0, ref_bytes]), objs)[0])


def _acc_bytes(points: list[dict]) -> tuple[list[float], list[int]]:
    return [p["test_acc_mean"] for p in points], [p["weight_bytes"] for p in points]


def run15() -> list[dict]:
    rows = [r for r in csv.DictReader(RUN15.open()) if r["on_front"] == "1"]
    return [
        {"genome": r["genome"], "weight_bytes": int(r["weight_bytes"]), "test_acc_mean": float(r["acc"])}
        for r in rows
    ]


def measure(recipe: Path, store_path: Path) -> dict:
    if store_path.exists():
        raise SystemExit(f"{store_path}: exists; the measurement starts from an empty store")
    cmd = [sys.executable, "-m", "harx", "search", "--recipe", str(recipe), "--store", str(store_path)]
    cmd += ["--executor", "dask", "--json"]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=os.environ)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"search failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout)
    with Store(store_path, readonly=True) as s:
        recs = s.candidates(result["run_id"])
        run = s.get_run(result["run_id"])
    by_stage: dict[str, dict[str, object]] = {}
    for r in recs:
        if r.status == "ok":
            by_stage.setdefault(r.stage, {})[r.genome] = r
    proxy, select, refine = (by_stage.get(k, {}) for k in ("proxy", "select", "refine"))
    reported = [g for g in refine if g in proxy]
    test = [refine[g].metrics["test_acc_mean"] for g in reported]
    front = [
        {
            "genome": p["genome"],
            "weight_bytes": p["weight_bytes"],
            "flash_bytes": p["flash_bytes"],
            "test_acc_mean": p["test_acc_mean"],
            "test_acc_sd": p["test_acc_std"],
            "test_acc_ci95": p["test_acc_ci95"],
            "selected_on": result["selected_on"],
        }
        for p in result["front"]
    ]
    return {
        "recipe": str(recipe),
        "store": str(store_path),
        "run_id": result["run_id"],
        "versions": run.versions,
        "wall_s": round(wall, 1),
        "proxy_s": result["stage_seconds"].get("proxy", 0.0),
        "select_s": result["stage_seconds"].get("select", 0.0),
        "refine_s": result["stage_seconds"].get("refine", 0.0),
        "candidates": result["candidates"],
        "trained": result["trained"],
        "float_cache_hits": result["float_cache_hits"],
        "float_trained": result["float_trained"],
        "spearman_proxy_refine": float(spearmanr([proxy[g].metrics["val_acc"] for g in reported], test)[0]),
        "spearman_select_refine": float(spearmanr([select[g].metrics["val_acc"] for g in reported], test)[0]),
        "reported_points": len(reported),
        "front": front,
    }


def compare(front: list[dict]) -> dict:
    old = run15()
    ref_bytes = 1.1 * max(p["weight_bytes"] for p in front + old)
    aims = {}
    for limit, acc in AIMS:
        best = max((p["test_acc_mean"] for p in front if p["weight_bytes"] <= limit), default=None)
        aims[f"{acc:.0%} at <= {limit} B"] = {"best": best, "met": best is not None and best >= acc}
    return {
        "reference": {"acc": 0.0, "weight_bytes": ref_bytes},
        "hypervolume": {
            "this": hv_acc_bytes(*_acc_bytes(front), ref_bytes),
            "run15": hv_acc_bytes(*_acc_bytes(old), ref_bytes),
        },
        "aims": aims,
        "run15_front": old,
    }


def markdown(m: dict) -> str:
    lines = [
        "# Search speed (bench/search_speed.py)",
        "",
        f"`{m['recipe']}` from an empty store, dask with 2 workers x 1 thread: **{m['wall_s'] / 60:.1f} min** wall "
        f"(proxy {m['proxy_s'] / 60:.1f}, select {m['select_s'] / 60:.1f}, refine {m['refine_s'] / 60:.1f} min of "
        f"stage time); {m['candidates']} candidates, {m['trained']} trained, {m['float_cache_hits']} float stages "
        f"reused, {m['float_trained']} trained. Spearman with the refined test accuracy over the "
        f"{m['reported_points']} reported genomes: proxy {m['spearman_proxy_refine']:.2f}, select "
        f"{m['spearman_select_refine']:.2f}. Versions: {m['versions']}.",
        "",
        "| genome | weight B | flash B | test acc % (± sd) | 95% CI (subjects) |",
        "|---|---:|---:|---:|---:|",
    ]
    for p in m["front"]:
        lo, hi = p["test_acc_ci95"]
        lines.append(
            f"| `{p['genome']}` | {p['weight_bytes']:,} | {p['flash_bytes']:,} | "
            f"{100 * p['test_acc_mean']:.2f} ± {100 * p['test_acc_sd']:.2f} | {100 * lo:.1f}–{100 * hi:.1f} |"
        )
    c = m["comparison"]
    lines += [
        "",
        f"Selected on {m['front'][0]['selected_on'] if m['front'] else '–'} scores. Hypervolume of accuracy "
        f"against weight bytes at (0, {c['reference']['weight_bytes']:,.0f} B): this run "
        f"{c['hypervolume']['this']:.1f}, run 15 {c['hypervolume']['run15']:.1f}.",
        "",
        *(
            f"- {k}: {'met' if v['met'] else 'not met'} (best {100 * v['best']:.2f}%)"
            if v["best"]
            else f"- {k}: no point"
            for k, v in c["aims"].items()
        ),
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--recipe", type=Path, default=ROOT / "recipes" / "uci-har.yaml")
    ap.add_argument(
        "--store", type=Path, default=ROOT / "runs" / f"speed-{time.strftime('%Y%m%d-%H%M%S')}.sqlite"
    )
    ap.add_argument("--name", default="search_speed", help="results file stem")
    args = ap.parse_args()
    m = measure(args.recipe, args.store)
    m["comparison"] = compare(m["front"])
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(m, indent=1))
    (RESULTS / f"{args.name}.md").write_text(markdown(m))
    print(markdown(m))
    return 0


if __name__ == "__main__":
    sys.exit(main())
