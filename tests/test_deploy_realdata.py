"""Bit-exactness on real data: models trained briefly on uci-har, their C run on 500 real test windows.

Host, host under ASan/UBSan, and rv32 under qemu must each reproduce the numpy integer model's logits
exactly. Accuracy is irrelevant here, so training is one float and one QAT epoch on an eighth of the
training windows; what matters is that the weights, scales and inputs are real.
"""

import dataclasses
import json
from pathlib import Path

import pytest

from harx.cli.app import main
from harx.data import fetch, load_dataset, subject_split
from harx.deploy import generate
from harx.deploy.pipeline import test_windows as real_windows
from harx.deploy.toolchain import missing_tools, run
from harx.evaluate import train_model
from harx.models.genome import parse_genome
from harx.quant.artifact import save
from harx.store import CandidateRecord, Store
from harx.train.config import TrainConfig

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
_MISSING = sorted({t for b in ("host", "asan", "rv32") for t in missing_tools(b)})
pytestmark = [
    pytest.mark.realdata,
    pytest.mark.toolchain,
    pytest.mark.skipif(not (SHARED / "uci-har.zip").is_file(), reason=f"{SHARED / 'uci-har.zip'} is absent"),
    pytest.mark.skipif(bool(_MISSING), reason=f"needs {', '.join(_MISSING)} on PATH"),
]
WINDOWS = 500
# 2, 4, 8-bit and mixed layers; depth 1 to 5; GAP and flatten heads; strides, dilations, pools; final
# lengths 128 -> 1 (GAP), 43 and 21 (odd, flattened), 32 and 16 (even, pooled).
GENOMES = (
    "c8k5w8a8-gapw8",
    "c16k5s3w8a4-c8k3d2w4a4-flatw4",
    "c12k3p2w8a2-c16k5d3w2a2-c8k3s2w2a2-gapw2",
    "c16k7s2w8a8-c24k5p3w4a4-c16k3d2w2a8-c8k3w8a2-flatw2",
    "c8k5p2w8a4-c16k3s2w4a8-c12k5d2w8a2-c16k3p2w2a4-c8k3w4a8-gapw4",
)


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    home = tmp_path_factory.mktemp("harx-home")
    fetch("uci-har", file=SHARED / "uci-har.zip", home=home)
    return home


@pytest.fixture(scope="module")
def trained(home):
    """genome -> Artifact of a model trained briefly on real uci-har (trained once per module)."""
    ds = load_dataset("uci-har", home)
    split = subject_split(ds, n_val_subjects=4, seed=0)
    split = dataclasses.replace(split, train=split.train[::8])
    cfg = TrainConfig(epochs_float=1, epochs_qat=1, batch_size=128)
    cache = {}

    def get(genome):
        if genome not in cache:
            tm = train_model(parse_genome(genome), ds, split, cfg, seed=0)
            cache[genome] = tm.artifact(ds, {}, cfg)
        return cache[genome]

    return get


@pytest.mark.parametrize("genome", GENOMES)
def test_host_asan_and_rv32_reproduce_the_integer_model_on_500_real_windows(genome, trained, home, tmp_path):
    art = trained(genome)
    windows = real_windows(art, WINDOWS, home)
    assert windows.shape == (WINDOWS, 128, 9) and windows.std() > 1  # real, non-degenerate codes
    project = generate(art, tmp_path / "p", "rv32", windows)
    results = {build: run(project, build) for build in ("host", "asan", "rv32")}
    for build, r in results.items():
        assert (build, r.windows, r.mismatched_windows) == (build, WINDOWS, 0)
    ins = results["rv32"].instructions
    assert len(ins.per_inference) == WINDOWS and ins.min > 0
    assert results["rv32"].sizes.weights_bytes == project.plan.ro_bytes


def test_cli_deploys_a_stored_candidate_and_attaches_its_measurements(
    trained, home, tmp_path, monkeypatch, capsys
):
    art = trained(GENOMES[1])
    path = save(art, tmp_path / "artifact")
    with Store(tmp_path / "store.sqlite") as store:
        cid = store.add_candidate(
            CandidateRecord(
                genome=art.genome,
                dataset=art.dataset,
                dataset_fingerprint=art.dataset_fingerprint,
                train_config=art.train_config,
                stage="refine",
                status="ok",
                metrics={"test_acc_mean": 0.9},
                artifact_path=str(path),
            )
        )
    monkeypatch.setenv("HARX_HOME", str(home))
    args = [
        "deploy",
        str(cid),
        "--store",
        str(tmp_path / "store.sqlite"),
        "-t",
        "rv32",
        "-o",
        str(tmp_path / "c"),
    ]
    main([*args, "--windows", "40", "--run", "--json"])
    report = json.loads(capsys.readouterr().out)
    (rv32,) = report["runs"]
    assert (rv32["build"], rv32["windows"], rv32["mismatched_windows"], rv32["bit_exact"]) == (
        "rv32",
        40,
        0,
        True,
    )
    assert report["attached"] == ["rv32_measured"] and report["kind"] == "static" and "modes" not in report
    with Store(tmp_path / "store.sqlite") as store:
        measured = store.get_candidate(cid).extra["rv32_measured"]
    assert measured["instructions_per_inference"] == rv32["instructions"]["mean"] > 0
    assert measured["weights_bytes"] == rv32["sizes"]["weights_bytes"] == report["memory_plan"]["ro_bytes"]
    assert measured["windows"] == 40 and measured["mismatched_windows"] == 0
    # --best picks the same (only) candidate, as `make demo` does.
    main(["deploy", "--best", *args[2:], "--windows", "5", "--json"])
    assert json.loads(capsys.readouterr().out)["candidate"] == cid


def test_cli_deploys_an_artifact_for_the_host_under_sanitizers(trained, home, tmp_path, monkeypatch, capsys):
    path = save(trained(GENOMES[0]), tmp_path / "artifact")
    monkeypatch.setenv("HARX_HOME", str(home))
    main(["deploy", "--artifact", str(path), "-t", "host", "-o", str(tmp_path / "h"), "--windows", "30"])
    assert "build it: make" in capsys.readouterr().out and (tmp_path / "h" / "Makefile").is_file()
    main(
        [
            "deploy",
            "--artifact",
            str(path),
            "-t",
            "host",
            "-o",
            str(tmp_path / "h"),
            "--windows",
            "30",
            "--run",
            "--sanitize",
        ]
    )
    text = capsys.readouterr().out
    assert "host" in text and "asan" in text and "30" in text
