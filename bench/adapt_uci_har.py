"""Adaptive inference on uci-har: one CNN with an early exit, its operating modes, and a big/little cascade.

Trains (or reuses from --cache) three networks on uci-har's training subjects with the validation subjects
of subject_split(4, seed 0): the early-exit CNN (joint loss), a little CNN and the same CNN without an exit
(the cascade's big network). Derives the modes (thresholds swept on the validation subjects, scored on the
test subjects), deploys both adaptive models as C and checks them bit for bit on every test window: on
the host in every mode, on rv32 (qemu, exact instruction counts) in three modes. Writes
bench/results/adapt_uci_har.{json,md,png}.

    HARX_HOME=... python bench/adapt_uci_har.py --cache /tmp/adapt-bench [--store runs.sqlite] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from harx.adapt import ALWAYS, NEVER, ModeRule, evaluate_adaptive, input_rescale, train_early_exit
from harx.adapt.modes import distinct, front
from harx.adapt.plot import plot_png
from harx.data import load_dataset, subject_split
from harx.deploy.adaptive_c import generate_adaptive
from harx.deploy.pipeline import test_windows
from harx.deploy.toolchain import run_adaptive
from harx.errors import StoreError
from harx.evaluate import evaluate, train_model
from harx.models.genome import parse_genome
from harx.quant.adaptive import AdaptiveModel, save_adaptive
from harx.quant.artifact import load, save
from harx.train.config import Execution, TrainConfig

RESULTS = Path(__file__).resolve().parent / "results"
EXIT_GENOME = "c16k5p2w8a8-c24k5p2w4a4-c32k5p2w4a4-gapw8"
LITTLE_GENOME = "c8k5p4w8a8-gapw8"
EXIT_AFTER = 1
N_MODES = 25
POLICY = "margin"
TARGETS = ("gap8", "rv32")


def trained(
    cache: Path,
    name: str,
    genome: str,
    exit_after: int | None,
    ds,
    split,
    cfg: TrainConfig,
    execution: Execution,
):
    """The artifact ``cache/name``: reused when it holds this genome trained with this config, else trained."""
    path = cache / name
    if (path / "model.json").is_file():
        art = load(path)
        same = {k: v for k, v in art.train_config.items() if k not in ("threads", "seed")}
        if art.genome == genome and same == cfg.as_dict():
            print(f"{name}: reusing {path}", flush=True)
            return art
    t0 = time.perf_counter()
    g = parse_genome(genome)
    if exit_after:
        tm = train_early_exit(g, ds, split, cfg, exit_after, seed=0, execution=execution)
    else:
        tm = train_model(g, ds, split, cfg, 0, execution=execution)
    ev = evaluate(tm, ds, split)
    art = tm.artifact(ds, ev.metrics(), cfg, {"history": ev.history})
    save(art, path)
    print(
        f"{name}: trained in {time.perf_counter() - t0:.0f} s, test accuracy {ev.int_test.accuracy:.4f}",
        flush=True,
    )
    return art


def c_check(result, windows: np.ndarray, out: Path) -> dict:
    """Host: every mode on every window. rv32: the cheapest mode, the validation pick, the full network."""
    model = result.model
    last = len(model.modes) - 1
    t0 = time.perf_counter()
    host = run_adaptive(generate_adaptive(model, out / "host", "host", windows), "host")
    rv_modes = tuple(sorted({0, result.within.index, last}))
    rv_project = generate_adaptive(model, out / "rv32", "rv32", windows, check_modes=rv_modes)
    rv = run_adaptive(rv_project, "rv32")
    rv32_cost = result.costs["rv32"]
    per_mode = []
    for m in rv.modes:
        per_mode.append(
            {
                "mode": m.mode,
                "windows": m.windows,
                "exited": m.exited,
                "mismatched_windows": m.mismatched_windows,
                "measured_instructions_mean": m.mean_instructions(),
                "measured_early_mean": m.mean_instructions(True),
                "measured_full_mean": m.mean_instructions(False),
                # rv32 executes one instruction per cycle in the cost model (cycles_per_instruction: 1)
                "model_instructions_mean": rv32_cost.average(m.exited / m.windows).latency_cycles,
                "model_early": rv32_cost.early.latency_cycles,
                "model_full": rv32_cost.full.latency_cycles,
            }
        )
    return {
        "windows": len(windows),
        "host": {"modes": len(host.modes), "inferences": host.windows, "mismatched": host.mismatched_windows},
        "rv32": {
            "modes": list(rv_modes),
            "inferences": rv.windows,
            "mismatched": rv.mismatched_windows,
            "weights_bytes": rv.sizes.weights_bytes,
            "buffers_bytes": rv.sizes.buffers_bytes,
            "plan_ro_bytes": rv_project.plan.ro_bytes,
            "plan_ram_bytes": rv_project.plan.ram_bytes,
            "per_mode": per_mode,
        },
        "seconds": round(time.perf_counter() - t0, 1),
    }


def static_front(store: Path | None):
    if store is None:
        return None
    from harx.pareto import load_front, open_store

    try:
        with open_store(store) as st:
            return load_front(st, None, ("acc", "energy"), "gap8")
    except StoreError as exc:
        print(f"no static front from {store}: {exc}")
        return None


def pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def mode_rows(r, j) -> list[str]:
    rows = [
        "| mode | threshold | val stop | test stop | test acc. | test macro-F1 | avg MACs | avg energy gap8 µJ "
        "| avg latency gap8 ms | avg energy rv32 µJ | front (test) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in j["modes"]:
        t = m["threshold"]
        th = "always" if t == ALWAYS else "never" if t == NEVER else f"{t:,}"
        s = m["test"]
        rows.append(
            f"| {m['mode']} | {th} | {pct(m['val']['exit_fraction'])} | {pct(s['exit_fraction'])} | "
            f"{pct(s['accuracy'])} | {pct(s['macro_f1'])} | {s['avg_macs']:,.0f} | {s['avg_energy_uj']['gap8']:.3f} | "
            f"{s['avg_latency_ms']['gap8']:.3f} | {s['avg_energy_uj']['rv32']:.2f} | {'*' if m['on_front_test'] else ''} |"
        )
    return rows


def summary(r, j, check) -> list[str]:
    mem = j["memory"]
    w, o = j["within"], j["oracle"]
    single = r.costs["gap8"].single
    lines = [
        f"- model: `{r.description}`; policy `{r.policy}`; {r.val_windows} validation windows (subjects "
        f"{', '.join(map(str, r.val_subjects))}), {r.test_windows} test windows",
        f"- modes: {len(r.modes)} in the table, {distinct(r.modes, 'test')} distinct on the test subjects "
        f"(distinct fractions of early stops), {int(front(r.modes, 'test', 'gap8').sum())} non-dominated on test "
        f"(accuracy vs gap8 energy), {int(front(r.modes, 'val', 'gap8').sum())} on validation",
        f"- average MACs span {r.macs_span():.2f}x: {r.modes[0].test.avg_macs:,.0f} (always stop) to "
        f"{r.modes[-1].test.avg_macs:,.0f} (never stop); single network {single.macs:,} MACs",
        f"- full network (never stop): test accuracy {pct(r.full.test.accuracy)}, macro-F1 "
        f"{pct(r.full.test.macro_f1)}; first stage alone (always stop): {pct(r.first_alone.test.accuracy)}",
    ]
    for t in TARGETS:
        m = mem[t]
        lines.append(
            f"- memory on {t}: +{m['extra_ro_bytes']:,} B flash ({m['extra_ro_percent']:.1f}%), "
            f"+{m['extra_ram_bytes']:,} B RAM ({m['extra_ram_percent']:.1f}%): +{m['extra_bytes']:,} B = "
            f"{m['extra_percent']:.1f}% of the single network's {m['single_ro_bytes'] + m['single_ram_bytes']:,} B"
        )
    for name, p in (("chosen on validation", w), ("oracle, chosen on test (reference only)", o)):
        lines.append(
            f"- within 0.5 points, {name}: mode {p['mode']}, test accuracy {pct(p['test_accuracy'])} "
            f"({p['test_accuracy_delta_points']:+.2f} points vs the full network), {pct(p['test_exit_fraction'])} "
            f"of the windows stop early, {pct(p['test_macs_saving'])} fewer MACs, "
            f"{pct(p['test_energy_saving']['gap8'])} less gap8 energy, {pct(p['test_energy_saving']['rv32'])} "
            "less rv32 energy than the single network"
        )
    h, rv = check["host"], check["rv32"]
    lines.append(
        f"- C bit-exactness on {check['windows']:,} test windows: host, all {h['modes']} modes, "
        f"{h['inferences']:,} inferences, {h['mismatched']} mismatches; rv32 (qemu), modes "
        f"{', '.join(map(str, rv['modes']))}, {rv['inferences']:,} inferences, {rv['mismatched']} mismatches; "
        f"ELF weights {rv['weights_bytes']:,} B / plan {rv['plan_ro_bytes']:,} B, buffers {rv['buffers_bytes']:,} B / "
        f"plan {rv['plan_ram_bytes']:,} B"
    )
    return lines


def measured_rows(check) -> list[str]:
    rows = [
        "| mode | windows | stopped early | mismatches | measured instr./inference | model | early stop: measured / "
        "model | full: measured / model |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def f(v):
        return "-" if v is None else f"{v:,.0f}"

    for m in check["rv32"]["per_mode"]:
        rows.append(
            f"| {m['mode']} | {m['windows']:,} | {m['exited']:,} | {m['mismatched_windows']} | "
            f"{f(m['measured_instructions_mean'])} | {f(m['model_instructions_mean'])} | "
            f"{f(m['measured_early_mean'])} / {m['model_early']:,} | {f(m['measured_full_mean'])} / {m['model_full']:,} |"
        )
    return rows


def policy_rows(r) -> list[str]:
    from harx.adapt.modes import pick_within

    rows = [
        "| policy | modes | span | within 0.5 (val pick): mode, test acc., MACs saved |",
        "|---|---|---|---|",
    ]
    single = r.costs["gap8"].single.macs
    for p, modes in r.sweeps.items():
        w = pick_within(modes, 0.5, "val")
        macs = [m.test.avg_macs for m in modes]
        rows.append(
            f"| {p} | {len(modes)} | {max(macs) / min(macs):.2f}x | {w.index}, {pct(w.mode.test.accuracy)}, "
            f"{pct(1 - w.mode.test.avg_macs / single)} |"
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, required=True, help="trained networks and generated C go here")
    ap.add_argument("--store", type=Path, help="a search store whose front the plot shows")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--qat-epochs", type=int, default=20)
    args = ap.parse_args()
    cfg = TrainConfig(epochs_float=args.epochs, epochs_qat=args.qat_epochs)
    execution = Execution(threads=args.threads)
    ds = load_dataset("uci-har")
    split = subject_split(ds, n_val_subjects=4, seed=0)
    exit_art = trained(args.cache, "exit", EXIT_GENOME, EXIT_AFTER, ds, split, cfg, execution)
    little = trained(args.cache, "little", LITTLE_GENOME, None, ds, split, cfg, execution)
    big = trained(args.cache, "big", EXIT_GENOME, None, ds, split, cfg, execution)
    placeholder = (ModeRule(POLICY, NEVER),)
    ee = evaluate_adaptive(
        AdaptiveModel("early_exit", exit_art, placeholder),
        ds,
        split,
        policy=POLICY,
        n_modes=N_MODES,
        targets=TARGETS,
    )
    cascade_model = AdaptiveModel("cascade", little, placeholder, big, input_rescale(little, big))
    cc = evaluate_adaptive(cascade_model, ds, split, policy=POLICY, n_modes=N_MODES, targets=TARGETS)
    out = {}
    windows = test_windows(exit_art, len(split.test))
    for name, r in (("early_exit", ee), ("cascade", cc)):
        r.artifact_path = save_adaptive(r.model, args.cache / f"adaptive-{name}", r.to_json())
        j = r.to_json()
        j["c_check"] = c_check(
            r,
            windows if name == "early_exit" else test_windows(little, len(split.test)),
            args.cache / f"c-{name}",
        )
        print(
            name,
            json.dumps({k: j[k] for k in ("n_modes", "distinct_modes_test", "macs_span_test", "within")}),
        )
        out[name] = (r, j)
    RESULTS.mkdir(exist_ok=True)
    png = plot_png([ee, cc], RESULTS / "adapt_uci_har.png", "gap8", static_front(args.store))
    # seconds of the epochs each network trained (from its artifact's history; reused ones keep theirs)
    seconds = {
        name: round(sum(e["seconds"] for e in art.extra.get("history", [])), 1)
        for name, art in (("exit", exit_art), ("little", little), ("big", big))
    }
    (RESULTS / "adapt_uci_har.json").write_text(
        json.dumps(
            {
                "train_config": cfg.as_dict(),
                "training_seconds": seconds,
                **{k: j for k, (_, j) in out.items()},
            },
            indent=1,
        )
        + "\n"
    )
    md = [
        "# Adaptive inference on uci-har",
        "",
        f"`python bench/adapt_uci_har.py --cache DIR` (training: {args.epochs} float + {args.qat_epochs} QAT epochs, "
        f"seed 0, validation subjects of subject_split(4, seed 0), {args.threads} torch thread; training seconds: "
        + ", ".join(f"{k} {v:,.0f}" for k, v in seconds.items())
        + "). Thresholds are swept "
        "on the validation subjects; every number below is on the test subjects unless it says otherwise. "
        f"Plot: `{png.name}`.",
        "",
    ]
    for name, title in (("early_exit", "Early exit"), ("cascade", "Cascade (big/little)")):
        r, j = out[name]
        md += [
            f"## {title}",
            "",
            *summary(r, j, j["c_check"]),
            "",
            "### Modes",
            "",
            *mode_rows(r, j),
            "",
            "### Policies",
            "",
            *policy_rows(r),
            "",
            "### rv32: measured against the cost model",
            "",
            *measured_rows(j["c_check"]),
            "",
        ]
    (RESULTS / "adapt_uci_har.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
