"""harx search: recipes, the genome encoding, caching, determinism, resume after SIGKILL, dask."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from harx.cli.app import main
from harx.errors import ConfigError
from harx.evaluate import float_arch
from harx.models.genome import parse_genome
from harx.search import load_recipe, parse_recipe
from harx.search import resume as resume_search
from harx.search import run as run_search
from harx.search.encoding import Encoding
from harx.search.recipe import Space
from harx.search.refine import near_front, refine_picks
from harx.store import CandidateRecord, Store
from harx.train.config import Execution

MICRO = {
    "name": "micro",
    "dataset": "har-mini",
    "seed": 3,
    "objectives": ["accuracy", "flash_bytes", "latency_ms"],
    "constraints": {"flash_bytes": 4096},
    "space": {"max_blocks": 2, "channels": [4, 8], "kernels": [3, 5], "pools": [1, 4], "heads": ["gap"]},
    "search": {"population": 4, "offspring": 4, "generations": 3},
    "proxy": {"folds": 2, "training": {"epochs_float": 2, "epochs_qat": 1, "batch_size": 32}},
    "refine": {
        "seeds": 2,
        "max_points": 2,
        "training": {"epochs_float": 2, "epochs_qat": 1, "batch_size": 32},
    },
}


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"dataset": None}, "dataset: required text value is missing"),
        (
            {"objectives": ["accuracy"]},
            "objectives: need exactly one of accuracy/macro_f1 and at least one cost",
        ),
        ({"objectives": ["accuracy", "speed"]}, "objectives: 'speed' is not one of"),
        ({"constraints": {"flash_bytes": -3}}, "constraints.flash_bytes: expected a positive number"),
        ({"constraints": {"flash": 3}}, "constraints.flash: unknown cost"),
        ({"space": {"bits": [2, 3, 8]}}, "space.bits: 3 is not allowed"),
        ({"space": {"bits": [2, 4]}}, "space.bits: must include 8"),
        ({"space": {"channels": "8"}}, "space.channels: expected a non-empty list"),
        ({"search": {"population": "many"}}, "search.population: expected an integer"),
        ({"proxy": {"folds": 1}}, "proxy.folds: need at least 2"),
        ({"proxy": {"training": {"epochs": 3}}}, "unknown key 'epochs'"),
        ({"refine": {"seed": 3}}, "refine.seed: unknown key"),
        ({"refine": {"val_subjects": -1}}, "refine.val_subjects: must be 0"),
        ({"refine": {"band_points": -0.5}}, "refine.band_points: expected accuracy points >= 0"),
        ({"refine": {"band_points": "wide"}}, "refine.band_points: expected a number"),
        (
            {"search": {"initial_genomes": ["c8k5w8a8-c16k3w8a8-gapw8"]}},
            "search.initial_genomes[0]: 'c8k5w8a8-c16k3w8a8-gapw8' is outside the space: block 2: 16 is "
            "not in space.channels",
        ),
        ({"search": {"initial_genomes": ["c8k5"]}}, "search.initial_genomes[0]: "),
        (
            {"search": {"population": 4, "initial_genomes": [f"c4k3w8a8-gapw{b}" for b in (2, 4, 8)] * 2}},
            "search.initial_genomes: has duplicate entries",
        ),
        ({"executor": {"kind": "slurm"}}, "executor.kind: 'slurm' is not one of local, dask"),
        ({"target": "esp32"}, "target: 'esp32' is not one of gap8, rv32"),
        ({"colour": "blue"}, "colour: unknown key"),
    ],
)
def test_invalid_recipes_name_the_key(patch, message):
    data = {**MICRO, **patch}
    data = {k: v for k, v in data.items() if v is not None}
    with pytest.raises(ConfigError) as exc:
        parse_recipe(data, "r.yaml")
    assert message in str(exc.value) and str(exc.value).startswith("r.yaml: ")


def _proxy_record(i: int, acc: float, flash: int, latency: float) -> CandidateRecord:
    return CandidateRecord(
        f"c{i}k3w8a8-gapw8",
        "d",
        "f",
        "proxy",
        "ok",
        id=i,
        metrics={"val_acc": acc},
        costs={"gap8": {"flash_bytes": flash, "latency_ms": latency}},
    )


def test_refine_picks_the_accuracy_flash_front_first_then_spreads_along_flash():
    objectives = ("accuracy", "flash_bytes", "latency_ms")
    # ids 1-4: the accuracy/flash front; 5-9: on the 3-objective front only through their lower latency
    front = [
        _proxy_record(1, 0.90, 500, 9.0),
        _proxy_record(2, 0.92, 1000, 9.0),
        _proxy_record(3, 0.94, 4000, 9.0),
        _proxy_record(4, 0.95, 30000, 9.0),
        *(_proxy_record(i, 0.80, 600 * i, 1.0 / i) for i in range(5, 10)),
    ]
    picks = refine_picks(front, objectives, "gap8", 6)
    assert [c.id for c in picks] == [1, 2, 5, 3, 9, 4]  # 1-4, then the two ends of 5-9, by flash
    assert [c.id for c in refine_picks(front, objectives, "gap8", 3)] == [1, 3, 4]
    assert len(refine_picks(front, objectives, "gap8", 20)) == 9
    # a candidate just under the accuracy/flash front goes ahead of the latency-only rest of the front
    near = [_proxy_record(10, 0.938, 4500, 9.0)]
    assert [c.id for c in refine_picks(front, objectives, "gap8", 6, near)] == [1, 2, 5, 3, 10, 4]
    # two objectives: the front is the accuracy/flash front, spread evenly as before
    two = refine_picks(front[:4], ("accuracy", "flash_bytes"), "gap8", 2)
    assert [c.id for c in two] == [1, 4]


def test_near_front_keeps_what_the_proxy_cannot_tell_from_the_front():
    objectives = ("accuracy", "flash_bytes")
    recs = [
        _proxy_record(1, 0.90, 500, 1.0),
        _proxy_record(2, 0.94, 4000, 1.0),
        _proxy_record(3, 0.897, 600, 1.0),  # 0.3 points under #1 at more flash
        _proxy_record(4, 0.930, 3000, 1.0),  # 1.0 point over #1: not dominated, on the front
        _proxy_record(5, 0.934, 5000, 1.0),  # 0.6 points under #2
        _proxy_record(6, 0.80, 450, 1.0),  # the cheapest: on the front
        _proxy_record(7, 0.938, 4500, 1.0),  # 0.2 points under #2
    ]
    assert [c.id for c in near_front(recs, objectives, "gap8", 0.5)] == [7, 3]  # closest first
    assert [c.id for c in near_front(recs, objectives, "gap8", 0.6001)] == [7, 3, 5]
    assert near_front(recs, objectives, "gap8", 0.0) == []
    front = [r for r in recs if r.id in (1, 2, 4, 6)]
    near = near_front(recs, objectives, "gap8", 1.0)
    # front first; near points only fill the room max_points leaves, all returned in flash order
    assert [c.id for c in refine_picks(front, objectives, "gap8", 4, near)] == [6, 1, 4, 2]
    assert [c.id for c in refine_picks(front, objectives, "gap8", 5, near)] == [6, 1, 4, 2, 7]
    assert [c.id for c in refine_picks(front, objectives, "gap8", 9, near)] == [6, 1, 3, 4, 2, 7, 5]


def test_recipe_files_in_repo_are_valid():
    paths = sorted(Path("recipes").glob("*.yaml"))
    assert {p.stem for p in paths} >= {
        "demo",
        "quick",
        "uci-har",
        "uci-hapt",
        "uci-har-small",
        "uci-har-deep",
    }
    for path in paths:
        r = load_recipe(path)
        assert r.name == path.stem and r.objectives[0] in ("accuracy", "macro_f1")


def test_bad_yaml_is_one_line_error(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: not valid YAML at line"):
        load_recipe(p)


def test_repair_makes_every_vector_a_valid_genome():
    enc = Encoding(Space(max_blocks=5, channels=(4, 6, 8, 24), pools=(1, 2, 4), strides=(1, 2, 4)), 9, 32)
    rng = np.random.default_rng(0)
    for _ in range(3000):
        x = rng.integers(enc.xl, enc.xu + 1)
        g = enc.repair(enc.decode(x))
        g.validate(9, 32)  # raises if invalid
        y = enc.repair_vector(x)
        assert enc.decode(y) == g
        assert np.array_equal(enc.repair_vector(y), y)  # repair is idempotent


def _run(tmp_path, name="s", **overrides):
    recipe = parse_recipe({**MICRO, **overrides}, "micro")
    with Store(tmp_path / f"{name}.sqlite") as store:
        return run_search(recipe, store, execution=Execution(threads=1))


@pytest.fixture(scope="module")
def first(har_home, tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HARX_HOME", str(har_home))
        path = tmp_path_factory.mktemp("search")
        return path, _run(path)


def test_search_finds_a_refined_front(first):
    _, r = first
    assert r.stats.n_candidates >= 6 and r.stats.n_failed == 0
    assert r.selected and r.front
    for c in r.front:
        m = c.metrics
        assert (
            len(m["test_acc_seeds"]) == 2 and abs(np.mean(m["test_acc_seeds"]) - m["test_acc_mean"]) < 1e-12
        )
        assert 0.3 < m["test_acc_mean"] <= 1.0  # 6 classes: chance is ~0.17
        assert c.costs["gap8"]["flash_bytes"] <= 4096 and os.path.isdir(c.artifact_path)
    for c in r.proxy_front:
        assert len(c.metrics["val_acc_folds"]) == 2


def test_infeasible_candidates_are_stored_with_reason(first):
    path, r = first
    with Store(path / "s.sqlite") as store:
        for c in store.candidates(r.run_id, status="infeasible"):
            assert "flash_bytes" in c.infeasible_reason and c.train_seconds == 0


@pytest.mark.parametrize(
    "search", [MICRO["search"], {**MICRO["search"], "initial_genomes": ["c4k3w8a8-gapw8"]}]
)
def test_a_stored_recipe_parses_back_to_itself(search):
    recipe = parse_recipe({**MICRO, "search": search}, "micro")
    assert parse_recipe(recipe.to_dict(), "micro") == recipe


def test_initial_genomes_start_the_search(in_har_home, tmp_path):
    seeds = ["c8k5p4w8a8-c8k3w4a4-gapw8", "c4k3w8a8-gapw8"]
    search = {"population": 4, "offspring": 4, "generations": 1, "initial_genomes": seeds}
    recipe = parse_recipe({**MICRO, "search": search}, "micro")
    with Store(tmp_path / "warm.sqlite") as store:
        r = run_search(recipe, store, execution=Execution(threads=1), refine=False)
        genomes = {c.genome for c in store.candidates(r.run_id)}
    assert set(seeds) <= genomes and len(genomes) == 4  # the seeds, then 2 random genomes


def test_second_run_is_served_from_the_cache(first, in_har_home):
    path, r = first
    recipe = parse_recipe(MICRO, "micro")
    t0 = time.perf_counter()
    with Store(path / "s.sqlite") as store:
        again = run_search(recipe, store, execution=Execution(threads=1))
    assert again.stats.n_candidates == again.stats.cache_hits == r.stats.n_candidates
    assert again.stats.train_seconds == 0
    # every evaluation is served; a genome met again in a later generation is served again
    assert again.trained_now == 0 and again.served_now >= r.stats.n_candidates
    assert [c.id for c in again.front] == [c.id for c in r.front]
    assert time.perf_counter() - t0 < 60


def _proxy_results(store_path, run_id):
    with Store(store_path) as s:
        return {c.genome: (c.status, c.metrics) for c in s.candidates(run_id, stage="proxy")}


def test_same_recipe_and_seed_give_the_same_candidates(first, in_har_home, tmp_path):
    """A fresh store, one generation: the initial population and every score repeat exactly."""
    path, r = first
    one = _run(tmp_path, "fresh", search={"population": 4, "offspring": 4, "generations": 1})
    fresh = _proxy_results(tmp_path / "fresh.sqlite", one.run_id)
    full = _proxy_results(path / "s.sqlite", r.run_id)
    assert len(fresh) == 4 and all(full[g] == v for g, v in fresh.items())


def _search_process(recipe: dict, tmp_path, store_path, *args: str, **popen) -> subprocess.Popen:
    """`harx search` of ``recipe`` in a child process, 1 torch thread."""
    recipe_path = tmp_path / "recipe.yaml"
    recipe_path.write_text(yaml.safe_dump(recipe))
    cmd = [sys.executable, "-m", "harx", "search", "--recipe", str(recipe_path), "--store", str(store_path)]
    return subprocess.Popen([*cmd, "--threads", "1", *args], **popen)


def test_resume_after_sigkill_loses_no_candidate(first, in_har_home, tmp_path):
    _, reference = first
    store_path = tmp_path / "killed.sqlite"
    proc = _search_process(
        MICRO, tmp_path, store_path, "--json", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 120
    before = []
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.5)
        if store_path.exists():
            with Store(store_path) as s:
                before = [c for c in s.candidates(stage="proxy") if c.status == "ok"]
            if len(before) >= 2:
                break
    assert proc.poll() is None, "the search finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with Store(store_path) as s:
        assert s.check() == []
        (run,) = s.runs()
        assert run.status == "running"  # killed: nobody marked it
        survived = {c.id: c.metrics for c in s.candidates(stage="proxy") if c.status == "ok"}
        assert {c.id for c in before} <= set(survived)
        floats = s.float_stage_keys()  # stored with each finished candidate's job, before the candidate
        assert len(floats) >= 2
        stored_ids = {c.id for c in s.candidates()}
        result = resume_search(s, run.id, execution=Execution(threads=1))
        # no float stage the killed process stored is trained again
        assert not set(result.float_trained) & floats and set(result.float_trained) <= s.float_stage_keys()
        assert s.get_run(run.id).status == "done"
        new = [c for c in s.candidates() if c.id not in stored_ids]
        # what the killed process stored is served; only the rest is trained
        assert result.served_now >= len(survived)
        assert result.trained_now == sum(c.status != "infeasible" for c in new) > 0
        after = {c.id: c.metrics for c in s.candidates(stage="proxy")}
        for cid, metrics in survived.items():
            assert after[cid] == metrics  # kept, not retrained
    # the resumed run followed the uninterrupted run's trajectory exactly
    assert [c.genome for c in result.front] == [c.genome for c in reference.front]
    assert [c.metrics["test_acc_mean"] for c in result.front] == [
        c.metrics["test_acc_mean"] for c in reference.front
    ]


def test_float_stages_serve_bit_width_variants_within_a_job_and_from_the_store(in_har_home, tmp_path):
    """Two bit-width variants of one architecture share each fold's float stage in one job; a third variant
    evaluated later, by another study on the same store, trains none."""
    from harx.data import load_dataset
    from harx.search.executors import LocalExecutor
    from harx.search.study import Study

    recipe = parse_recipe({**MICRO, "search": {"population": 4, "offspring": 4, "generations": 1}}, "micro")
    variants = ["c4k3w8a8-gapw8", "c4k3w8a4-gapw4", "c4k3w8a2-gapw2"]
    with Store(tmp_path / "f.sqlite") as store:
        run = store.create_run(recipe.to_dict(), recipe.seed)
        ds, local = load_dataset("har-mini"), LocalExecutor(Execution(threads=1))
        one = Study(recipe, store, run.id, ds, local, None)
        got = one.evaluate_generation([parse_genome(g) for g in variants[:2]], 0)
        assert all(r is not None and r.status == "ok" for r in got)
        folds = recipe.proxy.folds
        assert len(one.float_trained) == folds and one.float_hits == folds  # the second variant's
        assert store.float_stage_keys() == set(one.float_trained)
        two = Study(recipe, store, run.id, ds, local, None)
        (third,) = two.evaluate_generation([parse_genome(variants[2])], 1)
        assert third.status == "ok" and two.float_trained == [] and two.float_hits == folds


def test_dask_local_cluster_matches_local_executor(first, in_har_home, tmp_path):
    """Two dask worker processes evaluate the first generation: same candidates, same scores."""
    pytest.importorskip("dask.distributed")
    path, r = first
    recipe = parse_recipe(
        {
            **MICRO,
            "search": {"population": 4, "offspring": 4, "generations": 1},
            "executor": {"kind": "dask", "workers": 2, "threads_per_worker": 1},
        },
        "micro",
    )
    events = []
    with Store(tmp_path / "dask.sqlite") as store:
        d = run_search(recipe, store, execution=Execution(threads=1), refine=False, on_event=events.append)
    got = _proxy_results(tmp_path / "dask.sqlite", d.run_id)
    full = _proxy_results(path / "s.sqlite", r.run_id)
    assert len(got) == 4 and all(full[g] == v for g, v in got.items())
    # the workers' epochs reach the coordinator's progress: per fold (2), 2 float epochs per architecture
    # (bit-width variants share theirs) and 1 QAT epoch per candidate
    archs = {float_arch(parse_genome(g)) for g in got}
    epochs = [e.detail for e in events if e.kind == "epoch"]
    assert len(epochs) == 2 * (2 * len(archs) + len(got)) and all(" epoch " in x for x in epochs)


def test_dask_search_stops_at_a_worker_epoch(in_har_home, tmp_path):
    """A stop requested from the progress callback (what Ctrl-C does) takes effect at the next relayed epoch,
    not when the candidates finish; the run resumes to completion."""
    pytest.importorskip("dask.distributed")
    recipe = parse_recipe(
        {
            **MICRO,
            "search": {"population": 4, "offspring": 4, "generations": 1},
            "executor": {"kind": "dask", "workers": 1, "threads_per_worker": 1},
        },
        "micro",
    )

    def stop_at_epoch(e):
        if e.kind == "epoch":
            raise KeyboardInterrupt

    with Store(tmp_path / "s.sqlite") as store:
        with pytest.raises(KeyboardInterrupt):
            run_search(recipe, store, execution=Execution(threads=1), refine=False, on_event=stop_at_epoch)
        run = store.runs()[0]
        assert run.status == "interrupted"
        result = resume_search(store, run.id, refine=False)
        assert result.trained_now + result.served_now == 4


def test_cli_json_and_bad_recipe(in_har_home, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**MICRO, "search": {"population": 2}}))
    with pytest.raises(SystemExit) as exc:
        main(["search", "--recipe", str(bad), "--store", str(tmp_path / "x.sqlite")])
    assert exc.value.code == 4
    err = capsys.readouterr().err.strip()
    assert "bad.yaml: search: need population >= 4" in err and len(err.splitlines()) == 1
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump({**MICRO, "search": {"population": 4, "offspring": 4, "generations": 1}}))
    main(["search", "--recipe", str(good), "--store", str(tmp_path / "x.sqlite"), "--threads", "1", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert out["run_id"] == 1 and out["front"] and all("test_acc_mean" in p for p in out["front"])


def test_ctrl_c_stops_cleanly_and_says_how_to_resume(in_har_home, tmp_path):
    store_path = tmp_path / "int.sqlite"
    # far more generations than it can run before the signal: MICRO alone may finish first on a quiet machine
    recipe = {**MICRO, "search": {**MICRO["search"], "generations": 40}}
    proc = _search_process(
        recipe, tmp_path, store_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.5)
        if store_path.exists():
            with Store(store_path) as s:
                if s.candidates():
                    break  # inside the search loop
    assert proc.poll() is None, f"the search stopped before the signal: {proc.communicate()[1][-2000:]}"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    assert f"harx search --resume 1 --store {store_path}" in err
    with Store(store_path) as s:
        assert s.get_run(1).status == "interrupted"
        assert s.candidates(status="failed") == []  # the stop never lands inside a training


def test_infeasible_verdict_depends_on_the_recipe_constraints(in_har_home, tmp_path):
    """A genome too big for one recipe is trained, not served as infeasible, under a looser one."""
    one_gen = {"search": {"population": 4, "offspring": 4, "generations": 1}}
    tight = _run(tmp_path, "c", **one_gen, constraints={"flash_bytes": 1}).run_id
    with Store(tmp_path / "c.sqlite") as s:
        infeasible = {c.genome for c in s.candidates(tight, status="infeasible")}
        assert infeasible and all(
            "flash_bytes" in c.infeasible_reason for c in s.candidates(tight, status="infeasible")
        )
    loose = _run(tmp_path, "c", **one_gen, constraints={"flash_bytes": 100_000}).run_id
    with Store(tmp_path / "c.sqlite") as s:
        now = {c.genome: c.status for c in s.candidates(loose)}
    assert all(now[g] == "ok" for g in infeasible)


def test_cache_hits_get_costs_from_the_current_cost_model(first, in_har_home, tmp_path):
    path, r = first
    with Store(path / "s.sqlite") as s:
        cand = s.candidates(r.run_id, stage="proxy", status="ok")[0]
        stale = {t: {**c, "latency_ms": -1.0, "model": "old"} for t, c in cand.costs.items()}
        s.update_costs(cand.id, stale)
    with Store(path / "s.sqlite") as s:
        run_search(parse_recipe(MICRO, "micro"), s, execution=Execution(threads=1))
        fresh = s.get_candidate(cand.id).costs
    assert fresh["gap8"]["latency_ms"] > 0 and fresh["gap8"]["model"].startswith("gap8 v")


def test_pareto_commands_read_the_real_search_run(first, in_har_home, tmp_path, capsys):
    """`harx pareto plot` and `show` on a run the search trained, not on a hand-made store."""
    path, r = first
    store = str(path / "s.sqlite")
    png, page = tmp_path / "front.png", tmp_path / "front.html"
    main(["pareto", "plot", "--run", str(r.run_id), "--store", store, "-o", str(png), "-o", str(page)])
    capsys.readouterr()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = page.read_text()
    for c in r.front:
        assert f'<circle class="pt front" data-id="{c.id}"' in html
    best = r.front[0]
    main(["pareto", "show", str(best.id), "--store", store, "--json"])
    shown = json.loads(capsys.readouterr().out)
    confusion = np.array(shown["confusion_test"])
    # summed over the refine seeds, each scoring every test window once: its accuracy is the seeds' mean
    assert confusion.shape == (6, 6) and confusion.sum() % len(best.metrics["test_acc_seeds"]) == 0
    assert np.trace(confusion) / confusion.sum() == pytest.approx(best.metrics["test_acc_mean"])
    assert (
        shown["history"] and len(shown["class_scores"]) == 6 and shown["class_scores"][0]["name"] == "WALKING"
    )


def test_the_reported_front_is_chosen_without_the_test_labels(first, har_home, in_har_home, tmp_path):
    """har-mini with its test subjects' labels shuffled: the proxy, the select scores and the chosen
    genomes are the same as on the true labels; only the reported test scores move."""
    from harx.data import import_dataset, load_dataset

    _, r = first
    ds = load_dataset("har-mini")
    y = ds.y.copy()
    test = np.flatnonzero(np.isin(ds.subject, ds.test_subjects))
    y[test] = np.random.default_rng(0).permutation(y[test])
    scrambled = tmp_path / "har-mini-scrambled.npz"
    np.savez(
        scrambled,
        X=ds.X,
        y=y,
        subject=ds.subject,
        fs_hz=ds.fs_hz,
        class_names=np.array(ds.class_names),
        channel_names=np.array(ds.channel_names),
        test_subjects=np.array(ds.test_subjects),
    )
    import_dataset(scrambled, "har-mini-scrambled", home=har_home)
    other = _run(tmp_path, "scrambled", dataset="har-mini-scrambled")
    assert [c.genome for c in other.selected] == [c.genome for c in r.selected]
    assert [c.metrics["val_acc_folds"] for c in other.selected] == [
        c.metrics["val_acc_folds"] for c in r.selected
    ]
    assert [c.genome for c in other.front] == [c.genome for c in r.front]
    assert [c.metrics["test_acc_seeds"] for c in other.front] != [
        c.metrics["test_acc_seeds"] for c in r.front
    ]


def test_successive_halving_scores_every_fold_of_the_promoted_half_only(first, in_har_home, tmp_path):
    """proxy.promote 0.5: each generation's candidates are scored on the first fold, half of them (the best
    by rank) on both; their two-fold records equal those of a run without halving (the first fold is reused,
    not retrained)."""
    path, r = first
    recipe = {**MICRO, "proxy": {**MICRO["proxy"], "promote": 0.5}}
    halved = _run(
        tmp_path,
        "halved",
        **{k: v for k, v in recipe.items() if k in ("proxy",)},
        search={**MICRO["search"], "generations": 1},
    )
    with Store(tmp_path / "halved.sqlite") as s:
        recs = [c for c in s.candidates(halved.run_id, stage="proxy") if c.status == "ok"]
    rung0 = {c.genome: c for c in recs if c.train_config.get("only_folds") == [0]}
    full = {c.genome: c for c in recs if not c.train_config.get("only_folds")}
    assert len(rung0) == 4 and len(full) == 2  # 4 candidates, the better half promoted
    assert all(len(c.metrics["val_acc_folds"]) == 1 for c in rung0.values())
    reference = _proxy_results(path / "s.sqlite", r.run_id)
    for g, c in full.items():
        assert c.metrics["val_acc_folds"][0] == rung0[g].metrics["val_acc_folds"][0]
        assert reference[g] == ("ok", c.metrics)
