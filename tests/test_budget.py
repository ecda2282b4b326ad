"""harx.train.budget: a small training set trains with a smaller batch and enough optimizer steps; every
shipped recipe on uci-har and uci-hapt, and quantize's and adapt's defaults, run exactly what they say (so
stored results and their cache keys stay valid)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from harx.data import load_dataset, subject_folds, subject_split
from harx.search import load_recipe
from harx.search.executors import LocalExecutor
from harx.search.jobs import FoldsJob, RefineJob
from harx.search.recipe import ExecutorSettings
from harx.search.study import Study
from harx.store import Store
from harx.train import Execution, TrainConfig
from harx.train.budget import FEW_STEPS, MIN_BATCHES, MIN_STEPS, plan, steps_per_pass

RECIPES = sorted((Path(__file__).resolve().parents[1] / "recipes").glob("*.yaml"))


def test_a_small_training_set_gets_a_quarter_batch_and_min_steps_per_phase() -> None:
    b = plan(TrainConfig(), 36)  # 40+25 epochs at batch 64: one step per pass
    e = b.effective
    assert b.changed and e.batch_size == 9 and b.steps_per_pass == MIN_BATCHES
    assert b.steps_float >= MIN_STEPS and b.steps_qat >= MIN_STEPS
    assert (e.epochs_float, e.epochs_qat) == (75, 75)  # 300 steps / 4 per pass; 40 and 25 were fewer
    assert e.patience == 30  # 10 x 75/25, the larger raise
    assert (e.lr, e.weight_decay, e.backend) == (3e-3, 1e-4, "torch")  # nothing else moves
    d = b.as_dict()
    assert d["adjusted"] and (d["batch_size"], d["steps_float"], d["train_windows"]) == (9, 300, 36)
    (w,) = b.warnings("dataset 'x'")
    assert "36 training windows are fewer than 4 batches of 64" in w and "batch size 9" in w


def test_more_epochs_than_the_floor_are_kept_and_a_phase_set_to_zero_stays_off() -> None:
    e = plan(TrainConfig(epochs_float=300, epochs_qat=0, batch_size=64), 36).effective
    assert (e.batch_size, e.epochs_float, e.epochs_qat, e.patience) == (9, 300, 0, 10)


def test_the_rule_stops_at_four_batches() -> None:
    cfg = TrainConfig(batch_size=32)
    assert not plan(cfg, MIN_BATCHES * 32).changed
    assert plan(cfg, MIN_BATCHES * 32 - 1).changed
    assert steps_per_pass(129, 32) == 4 and steps_per_pass(130, 32) == 5  # a last batch of 1 is skipped


def test_too_few_windows_are_warned_not_adjusted() -> None:
    b = plan(TrainConfig(), 1)
    assert not b.changed and "training needs at least 2" in b.warnings("d")[0]


def test_few_steps_without_adjustment_are_warned() -> None:
    b = plan(TrainConfig(epochs_float=2, epochs_qat=1), 400)  # 7 steps per pass at batch 64
    assert not b.changed
    (w,) = b.warnings("d")
    assert f"float 14 and QAT 7 optimizer steps (fewer than {FEW_STEPS})" in w


def test_effective_settings_enter_the_cache_key_only_when_they_differ() -> None:
    base = ("proxy", ("g",), "d", "fp", 2, 0, TrainConfig().as_dict(), {}, ())
    assert FoldsJob(*base).config() == {
        "protocol": "proxy-folds-v2",
        "folds": 2,
        "seed": 0,
        "training": TrainConfig().as_dict(),
    }
    eff = (plan(TrainConfig(), 36).as_dict(),)
    assert FoldsJob(*base, eff).config()["effective"] == list(eff)
    refine = RefineJob(("g",), "d", "fp", 1, 0, TrainConfig().as_dict(), "/tmp")
    assert "effective" not in refine.config()


def _budgets(recipe, ds):
    folds = subject_folds(ds, n_folds=recipe.proxy.folds, seed=recipe.seed)
    splits = [subject_split(ds, recipe.refine.val_subjects, seed=i) for i in range(recipe.refine.seeds)]
    return [plan(recipe.proxy.training, len(f.train)) for f in folds] + [
        plan(recipe.refine.training, len(s.train)) for s in splits
    ]


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_every_shipped_recipe_runs_its_own_settings_and_keeps_its_cache_keys(
    path, har_home, tiny_home, tmp_path
) -> None:
    recipe = dataclasses.replace(load_recipe(path), executor=ExecutorSettings())  # no dask cluster here
    home = {"uci-har": har_home, "uci-hapt": tiny_home}[recipe.dataset]
    ds = load_dataset(recipe.dataset, home=home)
    assert not any(b.changed for b in _budgets(recipe, ds))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HARX_HOME", str(home))
        with Store(tmp_path / "s.sqlite") as store:
            run = store.create_run(recipe.to_dict(), recipe.seed, recipe.name, {}).id
            study = Study(recipe, store, run, ds, LocalExecutor(Execution(threads=1)), None)
    # no "effective" entry: the cache keys are those harx computed before the rule existed
    assert study.effective == {"proxy": (), "select": (), "refine": ()}
    assert all(w == [] for w in study.stage_warnings.values()) and study.warnings == []


@pytest.mark.parametrize("name", ["uci-har", "uci-hapt"])
def test_quantize_and_adapt_defaults_run_their_own_settings(name, har_home, tiny_home) -> None:
    ds = load_dataset(name, home={"uci-har": har_home, "uci-hapt": tiny_home}[name])
    split = subject_split(ds)  # quantize's and adapt's default: 4 of 21 training subjects
    assert len(split.val_subjects) == 4
    assert not plan(TrainConfig(), len(split.train)).changed
