"""The cost of a search: seconds per candidate by model size, and what the cache saves on a resumed run.

1. Per-size table: proxy candidates of a store (default: the run this script makes) grouped by packed
   weight bytes, with their training seconds.
2. Resume: the recipe is run to completion in a fresh store (wall time W); then again in another fresh store,
   killed with SIGKILL once half of its proxy candidates are stored, and resumed (wall time R of the
   resume). The cache's saving on the resumed run is 1 - R / W; a third, fully cached run shows the floor.

    HARX_HOME=... python bench/search_cost.py [--recipe recipes/quick.yaml] [--sizes-from STORE]
Writes bench/results/search_cost.{md,json}.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from harx.search import load_recipe
from harx.search import resume as resume_search
from harx.search import run as run_search
from harx.store import Store

SIZE_BINS = [0, 500, 1000, 2000, 4000, 8000, 16000, 32768]


def timed_run(recipe, store_path: Path, threads: int):
    t0 = time.perf_counter()
    with Store(store_path) as store:
        result = run_search(recipe, store, threads=threads)
    return time.perf_counter() - t0, result


def killed_then_resumed(recipe_path: Path, store_path: Path, threads: int, n_total: int):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harx",
            "search",
            "--recipe",
            str(recipe_path),
            "--store",
            str(store_path),
            "--threads",
            str(threads),
            "--json",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stored = 0
    while proc.poll() is None:
        time.sleep(1)
        if store_path.exists():
            with Store(store_path) as s:
                stored = len(s.candidates(stage="proxy"))
            if stored >= n_total // 2:
                os.kill(proc.pid, signal.SIGKILL)
                break
    proc.wait()
    with Store(store_path) as store:
        (run,) = store.runs()
        t0 = time.perf_counter()
        result = resume_search(store, run.id, threads=threads)
        return stored, time.perf_counter() - t0, result


def size_table(store_path: Path) -> list[dict]:
    with Store(store_path) as s:
        recs = [r for r in s.candidates(stage="proxy", status="ok")]
    rows = []
    for lo, hi in itertools.pairwise(SIZE_BINS):
        secs = [r.train_seconds for r in recs if lo <= r.metrics.get("weight_bytes", -1) < hi]
        if secs:
            rows.append(
                {
                    "weight_bytes": f"{lo:,}-{hi:,}",
                    "n": len(secs),
                    "mean_s": float(np.mean(secs)),
                    "median_s": float(np.median(secs)),
                    "max_s": float(np.max(secs)),
                }
            )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--recipe", type=Path, default=Path("recipes/quick.yaml"))
    ap.add_argument("--sizes-from", type=Path, help="a store whose proxy candidates give the per-size table")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "search_cost")
    args = ap.parse_args()
    recipe = load_recipe(args.recipe)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        wall_fresh, fresh = timed_run(recipe, tmp / "fresh.sqlite", args.threads)
        n_total = fresh.stats.n_candidates
        wall_cached, cached = timed_run(recipe, tmp / "fresh.sqlite", args.threads)
        stored_before_kill, wall_resume, resumed = killed_then_resumed(
            args.recipe, tmp / "killed.sqlite", args.threads, n_total
        )
        same_front = [c.genome for c in resumed.front] == [c.genome for c in fresh.front]
        sizes = size_table(args.sizes_from or tmp / "fresh.sqlite")
    result = {
        "recipe": str(args.recipe),
        "threads": args.threads,
        "candidates": n_total,
        "fresh_wall_s": wall_fresh,
        "cached_rerun_wall_s": wall_cached,
        "cached_rerun_hits": cached.stats.cache_hits,
        "killed_after_candidates": stored_before_kill,
        "resume_wall_s": wall_resume,
        "resume_served": resumed.served_now,
        "resume_trained": resumed.trained_now,
        "resume_saving": 1 - wall_resume / wall_fresh,
        "cached_rerun_saving": 1 - wall_cached / wall_fresh,
        "resumed_front_equals_fresh": same_front,
        "sizes_from": str(args.sizes_from or "the fresh run"),
        "sizes": sizes,
        "date": time.strftime("%Y-%m-%d"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=1))
    lines = [
        f"`python bench/search_cost.py --recipe {args.recipe}` ({result['date']}, {args.threads} threads).",
        "",
        f"- fresh run: {n_total} candidates (proxy and refine) in {wall_fresh:.0f} s",
        f"- fully cached rerun: {cached.stats.cache_hits} cache hits in {wall_cached:.1f} s "
        f"(saves {100 * result['cached_rerun_saving']:.1f}%)",
        f"- killed with SIGKILL after {stored_before_kill} stored proxy candidates, resumed in {wall_resume:.0f} s: "
        f"{resumed.served_now} candidates served from the store, {resumed.trained_now} trained; the cache saved "
        f"{100 * result['resume_saving']:.1f}% of the fresh run's wall time; resumed front equals the fresh "
        f"front: {same_front}",
        "",
        f"Seconds per proxy candidate by packed weight bytes ({result['sizes_from']}):",
        "",
        "| weight bytes | candidates | mean s | median s | max s |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['weight_bytes']} | {r['n']} | {r['mean_s']:.0f} | {r['median_s']:.0f} | {r['max_s']:.0f} |"
        for r in sizes
    ]
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
