"""Training without validation subjects: fixed epochs, last weights, no validation scores invented."""

import math

import pytest

from harx.data import load_dataset, subject_split
from harx.evaluate import evaluate, train_model
from harx.models import parse_genome
from harx.search.jobs import RefineJob, run_refine
from harx.train.config import Execution, TrainConfig

GENOME = "c4k5p4w8a8-gapw8"
CFG = TrainConfig(epochs_float=2, epochs_qat=2, patience=1, batch_size=64)


@pytest.fixture(scope="module")
def mini(har_home):
    return load_dataset("har-mini", home=har_home)


def test_no_validation_trains_every_epoch_and_reports_no_validation_scores(mini):
    split = subject_split(mini, n_val_subjects=0, seed=0)
    trained = train_model(parse_genome(GENOME), mini, split, CFG, seed=0, execution=Execution(threads=1))
    logs = trained.history.epochs
    # patience 1 would stop a validated run early; without validation every epoch runs
    assert [(e.phase, e.epoch) for e in logs] == [("float", 0), ("float", 1), ("qat", 0), ("qat", 1)]
    assert all(e.val_acc is None and e.val_f1 is None and math.isfinite(e.loss) for e in logs)
    assert trained.history.best == {"float": 1, "qat": 1}
    assert "no validation" in logs[-1].scores_text()
    ev = evaluate(trained, mini, split)
    assert ev.int_val is None and not any(k.startswith(("val_", "float_val", "fq_val")) for k in ev.metrics())
    assert 0.3 < ev.int_test.accuracy <= 1.0  # a trained 6-class model, well above chance


def test_refine_without_validation_subjects_scores_the_test_subjects(mini, in_har_home, tmp_path):
    job = RefineJob(GENOME, mini.name, mini.fingerprint, 2, 0, CFG.as_dict(), str(tmp_path))
    out = run_refine(job, Execution(threads=1))
    assert out.error == ""
    assert "val_acc_mean" not in out.metrics and len(out.metrics["test_acc_seeds"]) == 2
    assert out.metrics["test_acc_seeds"][0] != out.metrics["test_acc_seeds"][1]  # seeds differ in weights
