"""Weight inheritance (Lamarckian, as in LEMONADE): does a child started from a parent's float weights rank
candidates as well as one trained from scratch, for less time?

For every genome a finished search scored in its ``select`` stage (the validation score at the refine
budget: the ranking to reproduce), the parent is the nearest other genome of the run's proxy set with as
many blocks and the same head (fewest changed genes, then smallest channel ratios), and not a bit-width
variant of the child (those already share their float stage exactly). The child's first-fold proxy score
from scratch is read from the store; the inherited one starts from the parent's stored first-fold float
stage, morphed to the child's shape (output and input channels sliced or zero-padded, kernels cropped or
zero-padded around their centre, BatchNorm of new channels at identity, the classifier kept when its input
size is unchanged, else fresh), then trains ``--float-epochs`` float epochs and the proxy's QAT epochs.

    .venv/bin/python bench/inheritance.py --store runs/speed.sqlite [--run 1] [--float-epochs 2]

Writes bench/results/inheritance.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from harx.data import load_dataset, subject_folds
from harx.evaluate import FloatStage, float_arch, float_key, train_float, train_model
from harx.models.build import build
from harx.models.genome import parse_genome
from harx.search.recipe import recipe_from_stored
from harx.store import Store
from harx.train.config import Execution
from harx.train.metrics import score

RESULTS = Path(__file__).resolve().parents[1] / "bench" / "results"


def distance(a, b) -> tuple[int, float]:
    """(changed genes, summed |log2 channel ratio|) between two genomes of equal depth and head."""
    genes = sum(
        getattr(x, f) != getattr(y, f)
        for x, y in zip(a.blocks, b.blocks, strict=True)
        for f in ("channels", "kernel", "stride", "dilation", "pool")
    )
    ratio = sum(abs(np.log2(x.channels / y.channels)) for x, y in zip(a.blocks, b.blocks, strict=True))
    return genes, ratio


def _fit(t: torch.Tensor, shape: tuple[int, ...], fill: float = 0.0) -> torch.Tensor:
    """``t`` sliced or padded with ``fill`` to ``shape``; the last axis of a conv kernel around its centre."""
    out = torch.full(shape, fill, dtype=t.dtype)
    src = [slice(0, min(a, b)) for a, b in zip(t.shape, shape, strict=True)]
    dst = list(src)
    if t.ndim == 3:  # conv (cout, cin, k): centre the taps
        k_old, k_new = t.shape[2], shape[2]
        if k_old > k_new:
            start = (k_old - k_new) // 2
            src[2], dst[2] = slice(start, start + k_new), slice(0, k_new)
        else:
            start = (k_new - k_old) // 2
            src[2], dst[2] = slice(0, k_old), slice(start, start + k_old)
    out[tuple(dst)] = t[tuple(src)]
    return out


def morph(parent_state: dict, child_net) -> dict:
    """The parent's float weights in the child's shapes (see the module docstring)."""
    state = child_net.state_dict()
    for name, t in state.items():
        if name not in parent_state or (name.startswith("fc.") and parent_state[name].shape != t.shape):
            continue
        fill = 1.0 if name.endswith(("bn.weight", "bn.running_var")) else 0.0
        src = parent_state[name]
        state[name] = src.clone() if src.shape == t.shape else _fit(src, tuple(t.shape), fill)
    return state


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", type=Path, required=True)
    ap.add_argument("--run", type=int, default=None)
    ap.add_argument("--float-epochs", type=int, default=2)
    args = ap.parse_args()
    with Store(args.store, readonly=True) as s:
        run = s.get_run(args.run) if args.run else s.runs()[-1]
        recs = [r for r in s.candidates(run.id) if r.status == "ok"]
        floats = {k: s.get_float_stage(k) for k in s.float_stage_keys()}
    recipe = recipe_from_stored(run.recipe, f"run {run.id}")
    ds = load_dataset(recipe.dataset)
    fold = subject_folds(ds, recipe.proxy.folds, recipe.seed)[0]
    proxy = {r.genome: r for r in recs if r.stage == "proxy" and not r.train_config.get("only_folds")}
    select = {r.genome: r for r in recs if r.stage == "select"}
    pcfg = recipe.proxy.training
    rows = []
    for child_text, sel in select.items():
        child = parse_genome(child_text)
        pool = [
            parse_genome(g)
            for g in proxy
            if g != child_text
            and float_arch(parse_genome(g)) != float_arch(child)
            and len(parse_genome(g).blocks) == len(child.blocks)
            and parse_genome(g).head == child.head
        ]
        if not pool or child_text not in proxy:
            continue
        parent = min(pool, key=lambda p: distance(p, child))
        key = float_key(parent, ds, fold, recipe.seed, pcfg)
        if key not in floats:
            continue
        net = build(child, ds.n_channels, ds.window, ds.n_classes)
        state = morph(FloatStage.from_bytes(floats[key]).state, net)
        # The child's float stage starts from the parent's: a few float epochs from there, then QAT.
        cfg = replace(pcfg, epochs_float=args.float_epochs)
        t0 = time.perf_counter()
        fs = train_float(child, ds, fold, cfg, recipe.seed, execution=Execution(1), start=state)
        tm = train_model(child, ds, fold, cfg, recipe.seed, execution=Execution(1), float_stage=fs)
        seconds = time.perf_counter() - t0
        inherited = score(ds.y[fold.val], tm.int_logits(ds.X[fold.val]).argmax(axis=1), ds.n_classes).accuracy
        rows.append(
            {
                "child": child_text,
                "parent": parent.text(),
                "distance": distance(parent, child),
                "select_val_acc": sel.metrics["val_acc"],
                "scratch_fold0_acc": proxy[child_text].metrics["val_acc_folds"][0],
                "scratch_seconds": proxy[child_text].train_seconds / recipe.proxy.folds,
                "inherited_fold0_acc": inherited,
                "inherited_seconds": seconds,
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    target = [r["select_val_acc"] for r in rows]
    report = {
        "store": str(args.store),
        "run": run.id,
        "float_epochs": args.float_epochs,
        "proxy_training": pcfg.as_dict(),
        "children": len(rows),
        "spearman_scratch": float(spearmanr([r["scratch_fold0_acc"] for r in rows], target)[0]),
        "spearman_inherited": float(spearmanr([r["inherited_fold0_acc"] for r in rows], target)[0]),
        "seconds_scratch": float(np.sum([r["scratch_seconds"] for r in rows])),
        "seconds_inherited": float(np.sum([r["inherited_seconds"] for r in rows])),
        "rows": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "inheritance.json").write_text(json.dumps(report, indent=1))
    md = (
        "# Weight inheritance (bench/inheritance.py)\n\n"
        f"{len(rows)} children of run {run.id}, scored on the proxy's first fold: Spearman with the select "
        f"scores {report['spearman_scratch']:.2f} from scratch ({pcfg.epochs_float}+{pcfg.epochs_qat} epochs, "
        f"{report['seconds_scratch']:.0f} s) against {report['spearman_inherited']:.2f} inherited "
        f"({args.float_epochs}+{pcfg.epochs_qat} epochs from the parent's float weights, "
        f"{report['seconds_inherited']:.0f} s).\n"
    )
    (RESULTS / "inheritance.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
