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
    job = RefineJob((GENOME,), mini.name, mini.fingerprint, 2, 0, CFG.as_dict(), str(tmp_path))
    (out,) = run_refine(job, Execution(threads=1)).outcomes
    assert out.error == ""
    assert "val_acc_mean" not in out.metrics and len(out.metrics["test_acc_seeds"]) == 2
    assert out.metrics["test_acc_seeds"][0] != out.metrics["test_acc_seeds"][1]  # seeds differ in weights


def test_a_float_stage_from_the_cache_gives_the_same_model(mini):
    """The 4-bit variant trained from scratch, and from the float stage its 2-bit sibling trained (through the
    bytes the store keeps): the same integer logits, the same float epochs."""
    from dataclasses import replace

    import numpy as np

    from harx.evaluate import FloatStage, float_arch, float_key, train_float

    one = Execution(threads=1)
    g4, g2 = parse_genome("c8k3w8a4-c8k3w4a4-gapw4"), parse_genome("c8k3w8a2-c8k3w2a2-gapw2")
    split = subject_split(mini, n_val_subjects=4, seed=0)
    assert float_arch(g4) == float_arch(g2) == "c8k3w8a8-c8k3w8a8-gapw8"
    assert float_key(g4, mini, split, 1, CFG) == float_key(g2, mini, split, 1, replace(CFG, lr_qat=0.5))
    for other in (
        float_key(g4, mini, split, 2, CFG),
        float_key(g4, mini, subject_split(mini, n_val_subjects=4, seed=1), 1, CFG),
        float_key(g4, mini, split, 1, replace(CFG, lr=0.01)),
        float_key(parse_genome("c8k5w8a4-c8k3w4a4-gapw4"), mini, split, 1, CFG),
    ):
        assert other != float_key(g4, mini, split, 1, CFG)
    fresh = train_model(g4, mini, split, CFG, seed=1, execution=one)
    stage = FloatStage.from_bytes(train_float(g2, mini, split, CFG, seed=1, execution=one).to_bytes())
    cached = train_model(g4, mini, split, CFG, seed=1, execution=one, float_stage=stage)
    x = mini.X[split.test]
    assert np.array_equal(fresh.int_logits(x), cached.int_logits(x))

    def epochs(tm):
        return [(e.phase, e.epoch, e.loss, e.val_acc) for e in tm.history.epochs]

    assert epochs(fresh) == epochs(cached) and fresh.float_val.accuracy == cached.float_val.accuracy


def test_subject_bootstrap_interval_by_hand():
    """Two subjects of 10 windows, one model right on all of A's and on 5 of B's: a draw of two subjects
    with replacement is AA (1.0), AB or BA (0.75) or BB (0.5), each with probability 1/4, 1/2, 1/4, so the
    2.5% and 97.5% quantiles are 0.5 and 1.0; one subject alone leaves no spread."""
    import numpy as np

    from harx.train.metrics import subject_bootstrap_ci

    assert subject_bootstrap_ci(np.array([[10, 5]]), np.array([10, 10])) == (0.5, 1.0)
    lo, hi = subject_bootstrap_ci(np.array([[10, 5]]), np.array([10, 10]), level=0.4)
    assert lo == hi == 0.75  # the middle 40% of draws are all AB or BA
    assert subject_bootstrap_ci(np.array([[7], [9]]), np.array([10])) == (0.8, 0.8)  # mean over two models


def test_device_auto_is_the_cpu_without_a_gpu_and_cuda_is_refused_there():
    import torch

    from harx.errors import ConfigError

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert Execution(device="auto").torch_device == "cpu"
    with pytest.raises(ConfigError, match="--device cuda: torch sees no GPU"):
        _ = Execution(device="cuda").torch_device
    with pytest.raises(ConfigError, match="--device must be one of cpu, cuda, auto"):
        Execution(device="tpu")


def test_training_on_a_gpu_gives_a_working_integer_model(mini):
    """On a GPU the sums run in another order, so the model differs from the CPU's in its last bits; it must
    still train, export and score like one."""
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no GPU here")
    split = subject_split(mini, n_val_subjects=0, seed=0)
    cfg = TrainConfig(epochs_float=4, epochs_qat=2, batch_size=64)
    gpu = train_model(parse_genome(GENOME), mini, split, cfg, seed=0, execution=Execution(device="cuda"))
    ev = evaluate(gpu, mini, split)
    assert 0.3 < ev.int_test.accuracy <= 1.0
    assert abs(ev.int_test.accuracy - ev.fq_test.accuracy) < 0.05
