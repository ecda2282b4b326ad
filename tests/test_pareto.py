"""harx.pareto: non-dominated sorting and hypervolume against hand-computed cases, fronts of a small stored
run, the reference overlay, exports, and PNG/HTML plots rendered from that run.

The store is written with `Store.add_candidate` in exactly the shapes the search writes (proxy: val_acc,
val_f1 and per-fold lists; refine: test means, std and per-seed lists, confusion matrix, history; costs per
target from `harx.cost.estimate`). The accuracies are chosen by hand so that the fronts are known.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest

from harx.cost import estimate
from harx.errors import ConfigError, StoreError
from harx.objectives import DEFAULT_OBJECTIVES, run_objectives
from harx.pareto import (
    detail,
    export,
    figure,
    html_page,
    hypervolume,
    load_front,
    load_fronts,
    load_reference,
    nondominated,
    open_store,
    panels,
    parse_objectives,
    plot_html,
    plot_png,
)
from harx.pareto.objectives import run_target
from harx.store import CandidateRecord, Store

A = "c4k3p4w8a4-gapw4"
B = "c8k5p2w8a4-c8k3p2w4a4-gapw4"
C = "c8k5p2w8a8-c16k5p2w4a4-gapw8"
D = "c16k5p2w8a8-c24k5s2w4a4-gapw8"
E = "c16k5p4w8a8-c32k5p4w8a8-flatw4"
F = "c24k5p2w8a8-c32k5p2w8a8-c48k3w4a4-gapw8"
H = "c8k5p4w8a8-c16k3p2w8a8-gapw8"
BIG = "c256k3w8a8-c256k3w8a8-gapw8"  # gap8: ram 277,656 B > L1 65,536 B
FAILS = "c16k7s2w8a4-c16k5p2w2a2-c32k3w4a4-gapw4"
TINY = "c4k5p4w8a2-gapw4"

CLASSES = ["WALKING", "UPSTAIRS", "DOWNSTAIRS", "SITTING", "STANDING", "LAYING"]
INPUT = {"channels": 9, "length": 128, "classes": 6}
PROXY_CFG = {"epochs": 4, "folds": 3}
REFINE_CFG = {"epochs": 30, "seeds": [0, 1, 2]}

# proxy validation accuracy of run 1
PROXY_ACC = {A: 0.800, B: 0.880, C: 0.910, D: 0.930, E: 0.900, F: 0.945, H: 0.905}
# refine test accuracy per seed of run 1
REFINE_SEEDS = {
    C: [0.905, 0.915, 0.910],
    D: [0.925, 0.935, 0.930],
    E: [0.890, 0.900, 0.895],
    F: [0.940, 0.950, 0.945],
}


def _costs(genome: str) -> dict:
    return {
        t: estimate(genome, t, in_channels=9, in_len=128, n_classes=6).summary() for t in ("gap8", "rv32")
    }


def _base(genome: str, stage: str, status: str = "ok") -> dict:
    return {
        "genome": genome,
        "dataset": "uci-har",
        "dataset_fingerprint": "fp-uci-har-test",
        "stage": stage,
        "status": status,
        "train_config": PROXY_CFG if stage == "proxy" else REFINE_CFG,
        "costs": _costs(genome),
    }


def _proxy(genome: str, acc: float) -> CandidateRecord:
    folds = [acc - 0.01, acc, acc + 0.01]
    c = _costs(genome)["gap8"]
    return CandidateRecord(
        **_base(genome, "proxy"),
        metrics={
            "val_acc": acc,
            "val_f1": acc - 0.02,
            "val_acc_folds": folds,
            "val_f1_folds": [f - 0.02 for f in folds],
            "weight_bytes": c["flash_bytes"] - 100,
            "params": 1000,
            "macs": c["macs"],
        },
        train_seconds=5.0,
    )


def _confusion(acc: float) -> list[list[int]]:
    """500 test windows per class summed over 3 seeds, errors only between SITTING and STANDING."""
    wrong = round(6 * 500 * (1 - acc) / 2)
    m = [[500 if i == j else 0 for j in range(6)] for i in range(6)]
    m[3][3], m[3][4], m[4][4], m[4][3] = 500 - wrong, wrong, 500 - wrong, wrong
    return m


def _refine(genome: str, seeds: list[float]) -> CandidateRecord:
    c = _costs(genome)["gap8"]
    mean = float(np.mean(seeds))
    return CandidateRecord(
        **_base(genome, "refine"),
        metrics={
            "test_acc_mean": mean,
            "test_acc_std": float(np.std(seeds)),
            "test_f1_mean": mean - 0.01,
            "test_f1_std": 0.004,
            "test_acc_seeds": seeds,
            "test_f1_seeds": [s - 0.01 for s in seeds],
            "val_acc_mean": mean + 0.03,
            "weight_bytes": c["flash_bytes"] - 100,
            "params": 1000,
            "macs": c["macs"],
        },
        extra={
            "confusion_test": _confusion(mean),
            "history": [
                {
                    "phase": "float",
                    "epoch": e,
                    "loss": 1.0 / (e + 1),
                    "val_acc": 0.8 + 0.01 * e,
                    "val_f1": 0.79,
                    "seconds": 1.5,
                }
                for e in range(4)
            ]
            + [{"phase": "qat", "epoch": 0, "loss": 0.2, "val_acc": 0.84, "val_f1": 0.83, "seconds": 2.0}],
            "input": INPUT,
            "class_names": CLASSES,
        },
        train_seconds=60.0,
    )


def build_store(path: Path) -> dict[str, int]:
    """Run 1 ('demo'): 7 ok proxy candidates, one infeasible and one failed; 4 refined. Run 2 ('seed1'):
    proxy only, two candidates taken from run 1's cache and two of its own. Returns candidate ids by name."""
    ids: dict[str, int] = {}
    with Store(path) as s:
        r1 = s.create_run({"dataset": "uci-har"}, seed=0, name="demo")
        for g, acc in PROXY_ACC.items():
            ids[f"p:{g}"] = s.add_candidate(_proxy(g, acc), run_id=r1.id, generation=0)
        big = CandidateRecord(
            **_base(BIG, "proxy", "infeasible"), infeasible_reason="ram 277,656 B > L1 65,536 B"
        )
        ids["p:big"] = s.add_candidate(big, run_id=r1.id, generation=1)
        failed = CandidateRecord(**_base(FAILS, "proxy", "failed"), error="RuntimeError: loss is NaN")
        ids["p:failed"] = s.add_candidate(failed, run_id=r1.id, generation=1)
        for g, seeds in REFINE_SEEDS.items():
            ids[f"r:{g}"] = s.add_candidate(_refine(g, seeds), run_id=r1.id, generation=2)
        s.finish_run(r1.id, "done")
        r2 = s.create_run({"dataset": "uci-har"}, seed=1, name="seed1")
        s.link(r2.id, ids[f"p:{B}"], 0, cache_hit=True)
        s.link(r2.id, ids[f"p:{D}"], 0, cache_hit=True)
        ids["p2:tiny"] = s.add_candidate(_proxy(TINY, 0.830), run_id=r2.id, generation=0)
        ids["p2:fails"] = s.add_candidate(_proxy(FAILS, 0.915), run_id=r2.id, generation=1)
        s.finish_run(r2.id, "done")
        ids["run1"], ids["run2"] = r1.id, r2.id
    return ids


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    path = tmp_path_factory.mktemp("pareto") / "store.sqlite"
    return path, build_store(path)


@pytest.fixture
def store(stored):
    with open_store(stored[0]) as s:
        yield s


# ---- non-dominated sorting --------------------------------------------------------------------------


def test_nondominated_2d_by_hand() -> None:
    F = np.array([[1, 5], [2, 3], [3, 4], [4, 1], [2, 3], [5, 5], [1, 6]])
    # (3,4) is beaten by (2,3); (5,5) by everything but (1,6)'s column; (1,6) by (1,5); the duplicate (2,3)
    # is kept twice: equal points do not dominate each other.
    assert nondominated(F).tolist() == [True, True, False, True, True, False, False]


def test_nondominated_ties_in_one_objective() -> None:
    F = np.array([[1, 2], [1, 3], [2, 2], [1, 2]])
    assert nondominated(F).tolist() == [True, False, False, True]


def test_nondominated_3d_by_hand() -> None:
    F = np.array(
        [
            [1, 1, 9],  # best in x and y
            [9, 1, 1],  # best in y and z
            [5, 5, 5],  # trade-off nobody beats everywhere
            [5, 5, 6],  # beaten by (5,5,5)
            [9, 9, 9],  # beaten by all three above
            [1, 9, 1],
        ]
    )
    assert nondominated(F).tolist() == [True, True, True, False, False, True]


def test_nondominated_edge_cases() -> None:
    assert nondominated(np.empty((0, 2))).tolist() == []
    assert nondominated(np.array([[3.0, 1.0]])).tolist() == [True]
    with pytest.raises(ValueError, match="NaN"):
        nondominated(np.array([[1.0, np.nan]]))


# ---- hypervolume ------------------------------------------------------------------------------------


def test_hypervolume_2d_by_hand() -> None:
    # Boxes to (4, 4): [1,4]x[3,4] = 3, [2,4]x[2,3] = 2, [3,4]x[1,2] = 1.
    assert hypervolume(np.array([[1, 3], [2, 2], [3, 1]]), (4, 4)) == pytest.approx(6.0)
    # A dominated point and a duplicate add nothing; a point on or beyond the reference adds nothing.
    F = np.array([[1, 3], [2, 2], [3, 1], [3, 3], [2, 2], [4, 0], [0, 5]])
    assert hypervolume(F, (4, 4)) == pytest.approx(6.0)
    assert hypervolume(np.array([[5, 5]]), (4, 4)) == 0.0


def test_hypervolume_3d_by_hand() -> None:
    # One box: 2 x 3 x 4.
    assert hypervolume(np.array([[0, 0, 0]]), (2, 3, 4)) == pytest.approx(24.0)
    # Two boxes to (4,4,4): [1,4]x[1,4]x[3,4] = 9 and [2,4]x[2,4]x[1,4] = 12, overlap [2,4]^2x[3,4] = 4.
    assert hypervolume(np.array([[1, 1, 3], [2, 2, 1]]), (4, 4, 4)) == pytest.approx(17.0)
    # Three unit-thick slabs of a staircase: (0,0,2): 3x3x1 = 9 ... see the sum below.
    F = np.array([[0, 2, 0], [2, 0, 0], [0, 0, 2]])
    # union of [0,3]x[2,3]x[0,3], [2,3]x[0,3]x[0,3], [0,3]x[0,3]x[2,3]:
    # slab z in [0,2]: area of two strips in 3x3 = 3 + 3 - 1 = 5, times 2 = 10; slab z in [2,3]: 9.
    assert hypervolume(F, (3, 3, 3)) == pytest.approx(19.0)


def test_hypervolume_agrees_with_pymoo() -> None:
    from pymoo.indicators.hv import HV

    rng = np.random.default_rng(7)
    for d in (2, 3):
        F = rng.random((40, d))
        ref = np.full(d, 1.1)
        assert hypervolume(F, ref) == pytest.approx(HV(ref_point=ref)(F), rel=1e-12)


def test_hypervolume_rejects_bad_reference() -> None:
    with pytest.raises(ValueError, match="2 values for 3"):
        hypervolume(np.ones((2, 3)), (1, 1))


# ---- fronts of the stored run -----------------------------------------------------------------------


def test_refine_front_over_accuracy_and_flash(store, stored) -> None:
    _, ids = stored
    front = load_front(store, ids["run1"], "acc,flash")
    assert front.stage == "refine" and front.dataset == "uci-har" and front.target == "gap8"
    assert [p.candidate_id for p in front.points] == [ids[f"r:{F}"], ids[f"r:{D}"], ids[f"r:{C}"]]
    assert [p.candidate_id for p in front.dominated] == [ids[f"r:{E}"]]
    # reference: acc 0, flash 1.1 x the worst placed flash (F: 8,388 B); boxes by hand
    flash = {g: _costs(g)["gap8"]["flash_bytes"] for g in (C, D, F)}
    assert flash == {C: 1008, D: 2184, F: 8388}
    ref_flash = 1.1 * 8388
    assert front.reference == pytest.approx((0.0, ref_flash))
    hv = (2184 - 1008) * 0.91 + (8388 - 2184) * 0.93 + (ref_flash - 8388) * 0.945
    assert front.hypervolume == pytest.approx(hv)
    d = next(p for p in front.points if p.genome == D)
    assert d.acc == pytest.approx(0.93) and d.acc_std == pytest.approx(np.std(REFINE_SEEDS[D], ddof=1))
    assert d.n_repeats == 3 and d.costs["rv32"].latency_cycles == _costs(D)["rv32"]["latency_cycles"]


def test_proxy_front_counts_infeasible_and_failed(store, stored) -> None:
    _, ids = stored
    front = load_front(store, ids["run1"], "acc,flash", stage="proxy")
    assert front.stage == "proxy"
    # flash: A 188 < B 648 < C 1008 < H 1072 < D 2184 < E 4464 < F 8388; H (0.905 < C 0.910) and E are beaten
    assert [p.genome for p in front.points] == [F, D, C, B, A]
    assert {p.genome for p in front.dominated} == {H, E}
    assert (front.n_infeasible, front.n_failed, front.n_unplaced) == (1, 1, 0)
    c = next(p for p in front.points if p.genome == C)
    # sample standard deviation (ddof=1) of the three folds 0.90, 0.91, 0.92
    assert c.acc_std == pytest.approx(0.01) and c.n_repeats == 3


def test_three_objective_front_and_given_reference(store, stored) -> None:
    _, ids = stored
    # In 3-D, H (dominated on flash by C) is back: its gap8 latency, 0.18 ms, is the lowest but A's.
    # E stays beaten: C is more accurate, smaller and faster (0.35 ms against 0.37 ms).
    front = load_front(store, ids["run1"], "acc,flash,latency", stage="proxy", ref={"latency": 2.0})
    assert {p.genome for p in front.points} == {A, B, C, D, F, H}
    assert [p.genome for p in front.dominated] == [E]
    assert front.reference[2] == 2.0 and front.reference_given == ("latency",)
    assert "latency=2 ms (given)" in front.describe_reference()
    F3 = np.array([[-p.values[0], p.values[1], p.values[2]] for p in front.points])
    assert front.hypervolume == pytest.approx(hypervolume(F3, np.array([0.0, front.reference[1], 2.0])))


def test_rv32_front_keeps_the_candidate_gap8_cannot_hold(store, stored) -> None:
    _, ids = stored
    gap8 = load_front(store, ids["run1"], "acc,ram", stage="proxy", target="gap8")
    rv32 = load_front(store, ids["run1"], "acc,ram", stage="proxy", target="rv32")
    assert gap8.n_infeasible == rv32.n_infeasible == 1  # the infeasible candidate has no accuracy either way
    assert rv32.reference[1] == pytest.approx(1.1 * max(p.values[1] for p in rv32.all_points))
    assert {p.values[1] for p in rv32.all_points} == {_costs(g)["rv32"]["ram_bytes"] for g in PROXY_ACC}


def test_shared_reference_across_runs(store, stored) -> None:
    _, ids = stored
    f1, f2 = load_fronts(store, [ids["run1"], ids["run2"]], "acc,flash")
    # run 2 has no refine stage, so both runs are compared on their proxy scores
    assert (f1.stage, f2.stage) == ("proxy", "proxy")
    assert f1.reference == f2.reference == pytest.approx((0.0, 1.1 * 8388))
    assert sorted(p.genome for p in f2.all_points) == sorted([B, D, TINY, FAILS])
    # run 2 alone has a smaller worst flash, so its own reference is smaller
    alone = load_front(store, ids["run2"], "acc,flash")
    assert alone.reference[1] == pytest.approx(1.1 * 2748)
    assert alone.hypervolume < f2.hypervolume
    with pytest.raises(StoreError, match=f"run {ids['run2']} has no refine candidates"):
        load_fronts(store, [ids["run1"], ids["run2"]], "acc,flash", stage="refine")


def test_newest_run_is_the_default(store, stored) -> None:
    _, ids = stored
    assert load_front(store, None, "acc,flash").run.id == ids["run2"]


def test_default_objectives_are_the_runs_own(tmp_path) -> None:
    """A run searched over accuracy and flash lists the front `harx search` reported, not a 3-D one."""
    assert run_objectives({"objectives": ["macro_f1", "flash_bytes", "latency_cycles"]}) == (
        "f1",
        "flash",
        "latency",
    )
    assert (
        run_objectives({"objectives": ["accuracy", "flash_bytes", "ram_bytes", "energy_uj"]})
        == DEFAULT_OBJECTIVES
    )
    assert run_objectives({}) == DEFAULT_OBJECTIVES
    two = {"objectives": ["accuracy", "flash_bytes"]}
    assert run_objectives(two, two) == ("acc", "flash")
    assert run_objectives(two, {"objectives": ["accuracy", "ram_bytes"]}) == DEFAULT_OBJECTIVES
    with Store(tmp_path / "s.sqlite") as s:
        run = s.create_run({"dataset": "uci-har", "objectives": ["accuracy", "flash_bytes"]}, seed=0)
        for g, seeds in REFINE_SEEDS.items():
            s.add_candidate(_refine(g, seeds), run_id=run.id, generation=0)
        front = load_front(s, run.id)
        assert [o.name for o in front.objectives] == ["acc", "flash"]
        assert front.points == load_front(s, run.id, "acc,flash").points
        assert [o.name for o in load_front(s, run.id, "acc,flash,latency").objectives] == list(
            DEFAULT_OBJECTIVES
        )


def test_default_target_is_the_runs_own(tmp_path) -> None:
    assert run_target({"target": "rv32"}, {"target": "rv32"}) == "rv32"
    assert run_target({"target": "rv32"}, {"target": "gap8"}) == run_target({}) == "gap8"
    with Store(tmp_path / "s.sqlite") as s:
        run = s.create_run({"dataset": "uci-har", "target": "rv32"}, seed=0)
        for g, seeds in REFINE_SEEDS.items():
            s.add_candidate(_refine(g, seeds), run_id=run.id, generation=0)
        front = load_front(s, run.id, "acc,latency")
        assert front.target == "rv32"
        assert front.points == load_front(s, run.id, "acc,latency", "rv32").points
        assert load_front(s, run.id, "acc,latency", "gap8").target == "gap8"


@pytest.mark.parametrize(
    ("objectives", "message"),
    [
        ("acc,speed", "unknown objective 'speed'"),
        ("acc", "give 2 or 3 objectives"),
        ("acc,flash,ram,latency", "give 2 or 3 objectives"),
        ("acc,acc", "names an objective twice"),
    ],
)
def test_bad_objectives(objectives, message) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_objectives(objectives)


def test_unknown_run_and_missing_store(store, tmp_path) -> None:
    with pytest.raises(StoreError, match="no run with id 99"):
        load_front(store, 99, "acc,flash")
    missing = tmp_path / "nope.sqlite"
    with pytest.raises(StoreError, match="no candidate store here"):
        open_store(missing)
    assert not missing.exists()  # looking never creates a store
    not_a_store = tmp_path / "notes.txt"
    not_a_store.write_text("hello\n")
    with pytest.raises(StoreError, match="not an SQLite database"):
        open_store(not_a_store)
    assert not_a_store.read_text() == "hello\n"


def test_empty_run_and_wrong_target(tmp_path) -> None:
    with Store(tmp_path / "s.sqlite") as s:
        run = s.create_run({}, seed=0)
        with pytest.raises(StoreError, match=f"run {run.id} has no proxy candidates"):
            load_front(s, run.id, "acc,flash")
        big = CandidateRecord(**_base(BIG, "proxy", "infeasible"), infeasible_reason="ram too big")
        s.add_candidate(big, run_id=run.id)
        with pytest.raises(StoreError, match="no placeable proxy candidates on gap8 \\(1 infeasible"):
            load_front(s, run.id, "acc,flash")
        with pytest.raises(ConfigError, match="unknown target 'gap9'"):
            load_front(s, run.id, "acc,flash", target="gap9")


# ---- exports ----------------------------------------------------------------------------------------


def test_json_export_round_trips(store, stored) -> None:
    _, ids = stored
    front = load_front(store, ids["run1"], "acc,flash,latency")
    data = json.loads(export(front, "json", include_dominated=True))
    assert data["stage"] == "refine" and data["run"]["name"] == "demo"
    assert [o["name"] for o in data["objectives"]] == ["acc", "flash", "latency"]
    assert data["hypervolume"]["value"] == pytest.approx(front.hypervolume)
    assert data["hypervolume"]["reference"]["flash"] == pytest.approx(1.1 * 8388)
    by_id = {p["candidate_id"]: p for p in data["points"]}
    assert set(by_id) == {ids[f"r:{g}"] for g in REFINE_SEEDS}
    assert by_id[ids[f"r:{E}"]]["on_front"] is False
    p = by_id[ids[f"r:{F}"]]
    assert p["costs"]["gap8"]["energy_uj"] == pytest.approx(_costs(F)["gap8"]["energy_uj"])
    assert p["objectives"]["latency"] == pytest.approx(_costs(F)["gap8"]["latency_ms"])


def test_csv_export(store, stored) -> None:
    _, ids = stored
    rows = list(csv.DictReader(io.StringIO(export(load_front(store, ids["run1"], "acc,flash"), "csv"))))
    assert [int(r["candidate_id"]) for r in rows] == [ids[f"r:{g}"] for g in (F, D, C)]
    assert rows[0]["gap8_flash_bytes"] == "8388" and rows[0]["genome"] == F
    assert float(rows[2]["acc"]) == pytest.approx(0.91)
    assert int(rows[2]["rv32_latency_cycles"]) == _costs(C)["rv32"]["latency_cycles"]


def test_markdown_export(store, stored) -> None:
    _, ids = stored
    md = export(load_front(store, ids["run1"], "acc,flash"), "markdown")
    lines = md.splitlines()
    assert lines[0].startswith(
        "| id | genome | acc % (± sd over seeds) | 95% CI (subjects) | F1 % | flash kB | RAM kB (gap8) |"
    )
    assert "rv32 latency ms" in lines[0]
    row = next(line for line in lines if f"`{D}`" in line)
    cells = [c.strip() for c in row.strip("|").split("|")]
    d = _costs(D)
    assert cells[0] == str(ids[f"r:{D}"])
    assert cells[2] == f"93.00 ± {100 * np.std(REFINE_SEEDS[D], ddof=1):.2f}"
    assert cells[3] == "–"  # these hand-made records have no subject counts to bootstrap
    assert (
        cells[5] == f"{d['gap8']['flash_bytes'] / 1000:.2f}" and cells[7] == f"{d['gap8']['latency_ms']:.3f}"
    )
    assert cells[9] == f"{d['rv32']['latency_ms']:.3f}"
    assert "test subjects" in md and "hypervolume" in md
    with pytest.raises(ConfigError, match="unknown format 'xlsx'"):
        export(load_front(store, ids["run1"], "acc,flash"), "xlsx")


# ---- reference overlay ------------------------------------------------------------------------------


def test_shipped_reference_holds_the_cited_ranges() -> None:
    ref = load_reference()
    spans = {r.objective: (r.low, r.high) for r in ref.ranges}
    assert spans["flash"] == pytest.approx((50.0, 23170.0))
    assert spans["latency"] == pytest.approx((0.009, 16.0))
    assert spans["energy"] == pytest.approx((0.05, 61.59))
    assert ref.points == () and "2209.00839" in ref.source


def test_reference_file_errors(tmp_path) -> None:
    def write(text: str) -> Path:
        p = tmp_path / "ref.yaml"
        p.write_text(text)
        return p

    base = "label: x\nsource: y\n"
    with pytest.raises(ConfigError, match="published: must be true"):
        load_reference(write(base + "published: false\n"))
    with pytest.raises(ConfigError, match=r"ranges\[0\].objective: 'acc' is not a cost"):
        load_reference(
            write(base + "published: true\nranges:\n  - {objective: acc, min: 1, max: 2, where: t}\n")
        )
    with pytest.raises(ConfigError, match=r"ranges\[0\].min: unit 'ms' does not fit flash"):
        load_reference(
            write(base + "published: true\nranges:\n  - {objective: flash, min: 1 ms, max: 2 kB, where: t}\n")
        )
    with pytest.raises(ConfigError, match=r"points\[0\]: needs an accuracy"):
        load_reference(write(base + "published: true\npoints:\n  - {flash: 2 kB, where: t}\n"))
    with pytest.raises(ConfigError, match="missing 'where'"):
        load_reference(write(base + "published: true\npoints:\n  - {acc: 93 %, flash: 2 kB}\n"))
    with pytest.raises(ConfigError, match="cannot read the reference file"):
        load_reference(tmp_path / "absent.yaml")
    p = load_reference(
        write(base + "published: true\npoints:\n  - {acc: 93.1 %, latency: 250 us, where: Table 3}\n")
    )
    assert p.points[0].values == pytest.approx({"acc": 0.931, "latency": 0.25})


# ---- plots ------------------------------------------------------------------------------------------


def _expected(front) -> tuple[list[int], list[int]]:
    return sorted(p.candidate_id for p in front.points), sorted(p.candidate_id for p in front.dominated)


def test_png_figure_draws_the_stored_points(store, stored, tmp_path) -> None:
    _, ids = stored
    plist = panels(store, [ids["run1"], ids["run2"]])
    assert [p.cost.name for p in plist] == ["flash", "latency", "energy"]
    fig = figure(plist, load_reference())
    for ax, panel in zip(fig.axes, plist, strict=True):
        assert ax.get_xscale() == "log"
        gids = {c.get_gid(): c for c in ax.collections}
        for front in panel.fronts:
            on, off = _expected(front)
            drawn = gids[f"front-run{front.run.id}"].get_offsets()
            want = sorted((panel.cost.display(p.values[1]), 100 * p.values[0]) for p in front.points)
            assert np.allclose(sorted(map(tuple, np.asarray(drawn))), want)
            if off:
                assert len(gids[f"dominated-run{front.run.id}"].get_offsets()) == len(off)
            labels = {t.get_text() for t in ax.texts}
            assert {f"#{i}" for i in on} <= labels
        assert f"reference-range-{panel.cost.name}" in {p.get_gid() for p in ax.patches}
    path = plot_png(plist, tmp_path / "front.png", load_reference())
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    from matplotlib.image import imread

    h, w = imread(path).shape[:2]
    assert w > h > 300


def test_html_page_has_one_element_per_point(store, stored, tmp_path) -> None:
    _, ids = stored
    plist = panels(store, [ids["run1"], ids["run2"]], metric="f1", axes=("flash", "latency"))
    path = plot_html(plist, tmp_path / "front.html", load_reference())
    page = path.read_text()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    # self-contained: nothing to fetch (no script, stylesheet link or image source)
    assert not re.search(r"<script|<link|<img|src=|@import|url\(", page)
    svgs = re.findall(r'<svg class="panel" data-axis="(\w+)".*?</svg>', page, re.S)
    assert svgs == ["flash", "latency"]
    for panel, svg in zip(plist, re.findall(r'<svg class="panel".*?</svg>', page, re.S), strict=True):
        for front in panel.fronts:
            on, off = _expected(front)
            run = front.run.id
            got_on = sorted(map(int, re.findall(rf'class="pt front" data-id="(\d+)" data-run="{run}"', svg)))
            got_off = sorted(map(int, re.findall(rf'class="pt dom" data-id="(\d+)" data-run="{run}"', svg)))
            assert (got_on, got_off) == (on, off)
            for cid in on:
                assert f">#{cid}</text>" in svg
        assert svg.count('<g class="ref">') == 1 and "published (not measured here)" in svg
    first = plist[0].fronts[0].points[0]
    assert f"#{first.candidate_id}  {first.genome}" in page  # hover text of a point
    assert len(page) < 100_000


def test_plot_without_reference_and_single_run(store, stored) -> None:
    _, ids = stored
    page = html_page(panels(store, [ids["run1"]], axes=("energy",)), None)
    assert '<g class="ref"' not in page and "published" not in page
    with pytest.raises(ConfigError, match="'acc' is not a cost axis"):
        panels(store, [ids["run1"]], axes=("acc",))
    with pytest.raises(ConfigError, match="'flash' is not a score"):
        panels(store, [ids["run1"]], metric="flash")


def test_published_points_are_drawn_for_their_dataset_only(store, stored, tmp_path) -> None:
    _, ids = stored
    ref_file = tmp_path / "ref.yaml"
    ref_file.write_text(
        "label: Paper X\nsource: X et al. 2030, Table 2\npublished: true\npoints:\n"
        "  - {dataset: uci-har, label: big, acc: 95.1 %, flash: 12 kB, where: Table 2 row 1}\n"
        "  - {dataset: wisdm, acc: 90 %, flash: 3 kB, where: Table 2 row 2}\n"
        "  - {acc: 0.9, energy: 10 uJ, where: Table 3}\n"
    )
    ref = load_reference(ref_file)
    plist = panels(store, [ids["run1"]], axes=("flash", "energy"))
    fig = figure(plist, ref)
    drawn = [next(c for c in ax.collections if c.get_gid() == "reference-points") for ax in fig.axes]
    assert np.allclose(drawn[0].get_offsets(), [[12.0, 95.1]])  # kB on the axis; the wisdm point is left out
    assert np.allclose(drawn[1].get_offsets(), [[10.0, 90.0]])
    page = html_page(plist, ref)
    assert page.count('<path class="refpt"') == 2 and "Paper X big: published (not measured here)" in page


# ---- one candidate ----------------------------------------------------------------------------------


def test_detail_of_a_refined_candidate(store, stored) -> None:
    _, ids = stored
    d = detail(store, ids[f"r:{D}"])
    assert d.input is not None and d.input.source == "stored"
    assert [layer.kind for layer in d.layers] == ["conv", "maxpool", "conv", "gap", "linear"]
    assert [(layer.w_bits, layer.out_bits) for layer in d.layers if layer.kind == "conv"] == [(8, 8), (4, 4)]
    assert d.costs["gap8"].latency_cycles == _costs(D)["gap8"]["latency_cycles"]
    assert d.cost_changes == ()
    assert d.class_names == tuple(CLASSES) and len(d.history) == 5
    sitting = d.class_scores[3]
    wrong = _confusion(0.93)[3][4]
    assert sitting.support == 500 and sitting.recall == pytest.approx((500 - wrong) / 500)
    assert d.class_scores[0].f1 == pytest.approx(1.0)


def test_detail_of_a_proxy_candidate_takes_the_shape_of_its_data(store, stored, tmp_path) -> None:
    _, ids = stored
    # proxy candidates store no input shape: a refined candidate on the same windows has it
    d = detail(store, ids[f"p:{A}"], targets=("rv32",))
    assert d.input is not None and (d.input.channels, d.input.length, d.input.classes) == (9, 128, 6)
    assert d.input.source == f"stored with candidate {ids[f'r:{C}']} (same data)"
    assert list(d.costs) == ["rv32"] and d.confusion is None and d.history == ()
    assert d.costs["rv32"].latency_cycles == _costs(A)["rv32"]["latency_cycles"]
    with pytest.raises(StoreError, match="no candidate with id 999"):
        detail(store, 999)
    with Store(tmp_path / "s.sqlite") as s:
        alone = CandidateRecord(
            **{**_base(A, "proxy"), "dataset_fingerprint": "other"}, metrics={"val_acc": 0.8}
        )
        mine = CandidateRecord(**{**_base(A, "proxy"), "dataset": "my-imu"}, metrics={"val_acc": 0.8})
        a, b = s.add_candidate(alone), s.add_candidate(mine)
        registry = detail(s, a)
        assert registry.input is not None and registry.input.source == "dataset registry"
        assert (registry.input.channels, registry.input.length, registry.input.classes) == (9, 128, 6)
        unknown = detail(s, b)  # an imported dataset, nothing refined on it: no breakdown, no guess
        assert unknown.input is None and unknown.layers == () and unknown.costs == {}


def test_a_front_chosen_on_validation_keeps_every_refined_point(tmp_path) -> None:
    """Refined records of the validation-selected protocol are the reported front as they are, even one
    that another beats on test accuracy; the same records under the earlier protocol are re-sorted on test
    scores. Both say so in selected_on (table, JSON, CSV, Markdown)."""
    from harx.objectives import VALIDATION_SELECTED_REFINE

    fronts = {}
    for protocol in (VALIDATION_SELECTED_REFINE, "refine-seeds-v1"):
        with Store(tmp_path / f"{protocol}.sqlite") as s:
            run = s.create_run({"dataset": "uci-har"}, seed=0)
            for g, seeds in REFINE_SEEDS.items():
                rec = _refine(g, seeds)
                rec.train_config = {**REFINE_CFG, "protocol": protocol}
                s.add_candidate(rec, run_id=run.id)
            fronts[protocol] = load_front(s, run.id, "acc,flash")
    chosen, old = fronts[VALIDATION_SELECTED_REFINE], fronts["refine-seeds-v1"]
    assert chosen.selected_on == "validation" and len(chosen.points) == 4 and not chosen.dominated
    assert old.selected_on == "test" and {p.genome for p in old.dominated} == {E}
    assert export(chosen, "json").count('"selected_on": "validation"') == 1
    assert "validation" in export(chosen, "csv").splitlines()[1]
    assert "Points chosen on validation scores" in export(chosen, "markdown")


def test_published_ranges_never_widen_the_axes_and_the_caption_is_whole(store, stored) -> None:
    _, ids = stored
    plist = panels(store, [ids["run1"]], axes=("flash",))
    fig = figure(plist, load_reference())  # the paper's flash range: 0.05-23.17 kB, beyond both ends here
    flash_kb = [p.costs["gap8"].flash_bytes / 1000 for p in plist[0].fronts[0].all_points]
    (ax,) = fig.axes
    assert ax.get_xlim() == pytest.approx((min(flash_kb) / 1.3, max(flash_kb) * 1.3))
    assert [p.get_gid() for p in ax.patches] == ["reference-range-flash"]  # drawn, clipped to the axis
    caption = fig._suptitle.get_text()
    assert all(len(line) <= 15 * fig.get_figwidth() for line in caption.splitlines())
    assert "dominated candidates faded" in caption
