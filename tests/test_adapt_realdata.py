"""Adaptive inference end to end on real windows (har-mini: every 10th uci-har window): early-exit training,
threshold sweep, cascade, the CLI, and the generated C bit-exact with the numpy model in two modes on the
host and on rv32. Accuracy is not the point (a few epochs); real weights, scales and inputs are."""

import json
from pathlib import Path

import pytest

from harx.adapt import ALWAYS, NEVER, adapt_cascade, adapt_early_exit
from harx.cli.app import main
from harx.data import load_dataset, subject_split
from harx.deploy.adaptive_c import generate_adaptive
from harx.deploy.pipeline import test_windows as real_windows
from harx.deploy.toolchain import missing_tools, run_adaptive
from harx.errors import ConfigError
from harx.evaluate import train_model
from harx.models.genome import parse_genome
from harx.quant.adaptive import load_adaptive
from harx.quant.artifact import save
from harx.train.config import Execution, TrainConfig

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(not (SHARED / "uci-har.zip").is_file(), reason=f"{SHARED / 'uci-har.zip'} is absent"),
]
GENOME = "c8k5p2w8a8-c12k5p2w4a4-gapw8"
CFG = TrainConfig(epochs_float=3, epochs_qat=2)
ONE_THREAD = Execution(threads=1)
_MISSING = sorted({t for b in ("host", "rv32") for t in missing_tools(b)})
needs_tools = pytest.mark.skipif(bool(_MISSING), reason=f"needs {', '.join(_MISSING)} on PATH")


@pytest.fixture(scope="module")
def early(har_home, tmp_path_factory):
    out = tmp_path_factory.mktemp("adapt") / "ee"
    return adapt_early_exit(parse_genome(GENOME), "har-mini", 1, CFG, home=har_home, out=out, n_modes=10)


def test_early_exit_training_gives_a_monotone_mode_table(early):
    r = early
    assert r.kind == "early_exit" and r.description == f"{GENOME} (exit after block 1)"
    assert r.model.exit_layer == 1  # conv0, maxpool0 -> the head reads layer 1's output
    assert [m.rule.threshold for m in r.modes][::9] == [ALWAYS, NEVER] and 3 <= len(r.modes) <= 10
    assert all(m.rule.policy == "margin" for m in r.modes) and set(r.sweeps) == {
        "max_score",
        "margin",
        "mean_gap",
    }
    for split in ("val", "test"):
        frac = [m.scores(split).exit_fraction for m in r.modes]
        assert frac[0] == 1.0 and frac[-1] == 0.0 and frac == sorted(frac, reverse=True)
    c = r.costs["gap8"]
    assert c.early.macs < c.single.macs < c.full.macs
    assert r.modes[0].test.avg_macs == c.early.macs and r.modes[-1].test.avg_macs == c.full.macs
    assert r.macs_span() == pytest.approx(c.full.macs / c.early.macs)
    mem = r.memory["rv32"]
    head = 8 * 6 + 6 * 4 + 8  # 8 pooled codes -> 6 classes at 8 bit, int32 bias, GAP m and s
    assert mem.extra_ro_bytes == head + 8 * len(r.modes) and mem.extra_ram_bytes == 8
    assert r.within.chosen_on == "val" and r.oracle.chosen_on == "test"


def test_the_saved_model_is_the_scored_one(early, har_home):
    model, report = load_adaptive(early.artifact_path)
    assert model.modes == early.model.modes and report["n_modes"] == len(early.modes)
    ds = load_dataset("har-mini", har_home)
    split = subject_split(ds, 4, 0)
    codes = model.first.normalize_and_quantize(ds.X[split.test])
    for i in (0, len(model.modes) // 2, len(model.modes) - 1):
        logits, stop = model.run(codes, i)
        assert stop.mean() == pytest.approx(early.modes[i].test.exit_fraction)
        assert (logits.argmax(axis=1) == ds.y[split.test]).mean() == pytest.approx(
            early.modes[i].test.accuracy
        )


@pytest.mark.toolchain
@needs_tools
def test_c_is_bit_exact_in_two_modes_on_host_and_rv32(early, har_home, tmp_path):
    model = early.model
    windows = real_windows(model.first, 80, har_home)
    first = model.stage_logits(windows)[0]
    # two modes where some windows stop and others go on, so both paths and the decision are exercised
    mixed = [i for i, rule in enumerate(model.modes) if 0 < rule.stops(first).sum() < len(windows)]
    check = (mixed[0], mixed[-1])
    assert check[0] != check[1]
    project = generate_adaptive(model, tmp_path / "p", "rv32", windows, check_modes=check)
    for build in ("host", "rv32"):
        r = run_adaptive(project, build)
        assert (r.windows, r.mismatched_windows) == (80 * 2, 0)
        assert [m.exited for m in r.modes] == [int(model.modes[c].stops(first).sum()) for c in check]
    early_ins, full_ins = r.modes[0].mean_instructions(True), r.modes[0].mean_instructions(False)
    assert early_ins < 0.8 * full_ins  # the exit after block 1 skips block 2 (measured, exact counts)
    assert (r.sizes.weights_bytes, r.sizes.buffers_bytes) == (project.plan.ro_bytes, project.plan.ram_bytes)


@pytest.fixture(scope="module")
def cascade_artifacts(har_home, tmp_path_factory):
    ds = load_dataset("har-mini", har_home)
    split = subject_split(ds, 4, 0)
    root = tmp_path_factory.mktemp("cascade")
    paths = {}
    for name, genome in (("little", "c4k5p4w8a8-gapw8"), ("big", GENOME)):
        tm = train_model(parse_genome(genome), ds, split, CFG, seed=0, execution=ONE_THREAD)
        paths[name] = save(tm.artifact(ds, {}, CFG), root / name)
    return paths


@pytest.mark.toolchain
@needs_tools
def test_cascade_end_to_end_and_bit_exact(cascade_artifacts, har_home, tmp_path):
    from harx.quant.artifact import load

    little, big = load(cascade_artifacts["little"]), load(cascade_artifacts["big"])
    r = adapt_cascade(little, big, home=har_home, out=tmp_path / "c", n_modes=6, policy="mean_gap")
    assert r.kind == "cascade" and r.policy == "mean_gap"
    # same split, so the same normalization: the big network reads the window requantized only when its
    # calibrated input scale differs (the rescale itself is checked in test_adapt_memory.py)
    assert (r.model.rescale is None) == (little.model.input_scale == big.model.input_scale)
    assert r.costs["rv32"].early.macs == 128 * 4 * 5 * 9 + 4 * 6
    assert r.memory["gap8"].extra_ro_bytes > 0
    windows = real_windows(little, 40, har_home)
    project = generate_adaptive(r.model, tmp_path / "p", "host", windows, check_modes=(1, len(r.modes) - 2))
    run = run_adaptive(project, "host")
    assert run.bit_exact and run.windows == 80


def test_a_cascade_on_other_validation_subjects_is_refused(cascade_artifacts, har_home, tmp_path):
    from harx.quant.artifact import load

    little, big = load(cascade_artifacts["little"]), load(cascade_artifacts["big"])
    with pytest.raises(ConfigError, match="input normalization is not that of the training subjects"):
        adapt_cascade(little, big, home=har_home, n_val_subjects=5, out=tmp_path / "c")
    assert not (tmp_path / "c").exists()


def test_a_cascade_of_networks_trained_on_every_subject_is_refused(har_home, tmp_path):
    ds = load_dataset("har-mini", har_home)
    split = subject_split(ds, 0, 0)
    little, big = (
        train_model(parse_genome(g), ds, split, CFG, seed=0, execution=ONE_THREAD).artifact(ds, {}, CFG)
        for g in ("c4k5p4w8a8-gapw8", GENOME)
    )
    with pytest.raises(ConfigError, match="trained on every training subject"):
        adapt_cascade(little, big, home=har_home, out=tmp_path / "c")
    with pytest.raises(ConfigError, match="at least 1 is needed"):
        adapt_cascade(little, big, home=har_home, n_val_subjects=0, out=tmp_path / "c")
    assert not (tmp_path / "c").exists()


@pytest.mark.toolchain
@needs_tools
def test_cli_adapt_then_deploy_the_adaptive_model(in_har_home, tmp_path, capsys):
    out, png = tmp_path / "ee", tmp_path / "modes.png"
    args = ["adapt", "--genome", GENOME, "--dataset", "har-mini", "--exit-after", "1", "--epochs", "1"]
    args += [
        "--qat-epochs",
        "1",
        "--threads",
        "1",
        "--modes",
        "6",
        "-o",
        str(out),
        "--plot",
        str(png),
        "--json",
    ]
    main(args)
    j = json.loads(capsys.readouterr().out)
    assert j["kind"] == "early_exit" and j["n_modes"] == len(j["modes"]) and j["artifact"] == str(out)
    assert j["memory"]["gap8"]["extra_bytes"] > 0 and png.read_bytes()[:4] == b"\x89PNG"
    # `harx deploy` of the adaptive model: every embedded window in every mode, compared with numpy
    main(
        [
            "deploy",
            "--artifact",
            str(out),
            "--target",
            "host",
            "-o",
            str(tmp_path / "c"),
            "--windows",
            "20",
            "--run",
            "--json",
        ]
    )
    d = json.loads(capsys.readouterr().out)
    assert d["runs"][0]["bit_exact"] and d["runs"][0]["windows"] == 20 * j["n_modes"]
    assert d["kind"] == "early_exit" and len(d["modes"]) == j["n_modes"] == len(d["check_modes"])
    per_mode = d["runs"][0]["modes"]
    assert [m["mode"] for m in per_mode] == d["check_modes"]
    assert all(m["windows"] == 20 and m["mismatched_windows"] == 0 for m in per_mode)
    # mode 0 always stops after the exit head, the last mode never does
    assert per_mode[0]["exited"] == 20 and per_mode[-1]["exited"] == 0
    assert "int harx_set_mode(int mode)" in (tmp_path / "c" / "network.h").read_text()


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "exactly one source"),
        (["--genome", GENOME, "--dataset", "har-mini", "--little", "1", "--big", "2"], "exactly one source"),
        (["--genome", GENOME, "--dataset", "har-mini"], "needs --exit-after"),
        (["--genome", GENOME, "--exit-after", "1"], "--genome needs --dataset"),
        (["--genome", GENOME, "--dataset", "har-mini", "--exit-after", "2"], "can follow blocks 1..1"),
        (["--little", "1"], "needs both --little ID and --big ID"),
        (
            ["--genome", GENOME, "--dataset", "har-mini", "--exit-after", "1", "--val-subjects", "0"],
            "at least 1 is needed",
        ),
        (
            ["--genome", GENOME, "--dataset", "har-mini", "--exit-after", "1", "--policy", "entropy"],
            "--policy",
        ),
    ],
)
def test_cli_bad_input_is_a_one_line_error_and_writes_nothing(args, message, in_har_home, tmp_path, capsys):
    with pytest.raises(SystemExit) as done:
        main(["adapt", *args, "--epochs", "1", "--qat-epochs", "1", "-o", str(tmp_path / "out")])
    assert done.value.code == 4
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) <= 3
    assert not (tmp_path / "out").exists()


def test_cli_from_stored_candidates(cascade_artifacts, in_har_home, tmp_path, capsys):
    from harx.quant.artifact import load
    from harx.store import CandidateRecord, Store

    store = tmp_path / "runs.sqlite"
    ids = {}
    with Store(store) as st:
        for name, path in cascade_artifacts.items():
            art = load(path)
            rec = CandidateRecord(
                genome=art.genome,
                dataset="har-mini",
                dataset_fingerprint=art.dataset_fingerprint,
                stage="refine",
                status="ok",
                # the big one as a refine on every training subject records it: its exit still holds 4 out
                train_config={
                    "val_subjects": 4 if name == "little" else 0,
                    "training": {"epochs_float": 1, "epochs_qat": 1},
                },
                metrics={"test_acc_mean": 0.5},
                artifact_path=str(path),
            )
            ids[name] = st.add_candidate(rec)
    args = ["adapt", "--store", str(store), "--modes", "5", "--json"]
    main([*args, "--little", str(ids["little"]), "--big", str(ids["big"]), "-o", str(tmp_path / "c")])
    j = json.loads(capsys.readouterr().out)
    assert j["kind"] == "cascade" and j["model"] == f"c4k5p4w8a8-gapw8 -> {GENOME}" and j["n_modes"] <= 5
    # a refined candidate's genome, retrained with an exit on its own training settings (1 + 1 epochs here)
    main(
        [
            *args,
            "--candidate",
            str(ids["big"]),
            "--exit-after",
            "1",
            "--threads",
            "1",
            "-o",
            str(tmp_path / "e"),
        ]
    )
    j = json.loads(capsys.readouterr().out)
    assert j["kind"] == "early_exit" and j["model"] == f"{GENOME} (exit after block 1)"
    assert len(j["val_subjects"]) == 4
    history = load(tmp_path / "e" / "model").extra["history"]
    assert {(e["phase"], e["epoch"]) for e in history} == {("float", 0), ("qat", 0)}


def test_modes_plot_keeps_its_legend_off_the_points_and_plain_ticks(early):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from harx.adapt.plot import figure

    fig = figure([early])
    FigureCanvasAgg(fig).draw()
    (ax,) = fig.axes
    assert ax.get_legend() is None and len(fig.legends) == 1  # below the axes, not over a mode
    labels = [t.get_text() for t in ax.xaxis.get_majorticklabels() + ax.xaxis.get_minorticklabels()]
    assert any(labels) and not any("times" in t or "^" in t for t in labels), labels
