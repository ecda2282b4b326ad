"""docs/ci.md's CI job in miniature, its steps run as written with `bash -eo pipefail` (as GitHub runs
them), in subprocesses whose output is a pipe, not a terminal: the search log has one line per candidate
and whole genomes; `harx pareto compare` passes an equal run and fails a worse one."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harx.pareto import load_front, open_store
from tests.conftest import SHARED, needs_shared
from tests.helpers import write_har_mini

ROOT = Path(__file__).resolve().parents[1]
MINI = """name: ci-mini
dataset: har-mini
seed: 0
target: gap8
targets: [gap8, rv32]
objectives: [accuracy, flash_bytes]
constraints: {flash_bytes: 32768}
space: {min_blocks: 1, max_blocks: 2, channels: [4, 8], kernels: [3, 5], strides: [1, 2], pools: [1, 4],
        bits: [2, 4, 8], heads: [gap]}
search: {population: 4, offspring: 4, generations: 2}
proxy: {folds: 2, training: {epochs_float: 1, epochs_qat: 1, batch_size: 32}}
refine: {seeds: 1, max_points: 2, training: {epochs_float: REFINE_FLOAT, epochs_qat: REFINE_QAT}}
"""

pytestmark = needs_shared


def _steps() -> dict[str, str]:
    """The `run:` script of each named step of the job in docs/ci.md."""
    text = (ROOT / "docs" / "ci.md").read_text()
    block = re.search(r"```yaml\n(.*?)```", text, re.S).group(1)
    job = yaml.safe_load(block)["jobs"]["front"]
    return {s["name"]: s["run"] for s in job["steps"] if "name" in s and "run" in s}


class Job:
    """One CI run: a fresh workspace (no store), the shared HARX_HOME, `harx` on PATH."""

    def __init__(self, base: Path, home: Path, name: str, recipe: Path, baseline: Path) -> None:
        self.dir = base / name
        self.dir.mkdir()
        bin_dir = base / "bin"
        if not bin_dir.exists():
            bin_dir.mkdir()
            wrapper = bin_dir / "harx"
            wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m harx "$@"\n')
            wrapper.chmod(0o755)
        self.env = {
            **os.environ,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "PYTHONPATH": str(ROOT),
            "HARX_HOME": str(home),
            "HARX_DATA_MIRROR": str(SHARED),  # the job's cached archive folder
            "RECIPE": str(recipe),
            "BASELINE": str(baseline),
            "COLUMNS": "80",  # what a CI runner's environment may say; the tables must not care
        }

    def run(self, step: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["bash", "-eo", "pipefail", "-c", _steps()[step]],
            cwd=self.dir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
        )

    def ok(self, step: str) -> str:
        r = self.run(step)
        assert r.returncode == 0, f"step {step}: {r.stdout}\n{r.stderr}"
        return r.stdout + r.stderr


@pytest.fixture(scope="module")
def ci(tmp_path_factory):
    """The first CI run (fetch, search, export), whose front becomes the committed baseline."""
    base = tmp_path_factory.mktemp("ci")
    home = base / "home"
    good, worse = base / "mini.yaml", base / "worse.yaml"
    good.write_text(MINI.replace("REFINE_FLOAT", "3").replace("REFINE_QAT", "2"))
    worse.write_text(MINI.replace("REFINE_FLOAT", "1").replace("REFINE_QAT", "1"))
    baseline = base / "ci" / "baseline-front.json"
    first = Job(base, home, "run1", good, baseline)
    first.ok("fetch")
    # the miniature: har-mini, every 10th window of the fetched uci-har, imported as a user would
    mini = write_har_mini(home, base / "har-mini.npz")
    subprocess.run(
        ["harx", "fetch", "--import", str(mini), "--name", "har-mini"],
        env=first.env,
        check=True,
        capture_output=True,
    )
    first.ok("search")
    first.ok("export")
    baseline.parent.mkdir()
    shutil.copy(first.dir / "front.json", baseline)  # committed once
    return {"base": base, "home": home, "first": first, "good": good, "worse": worse, "baseline": baseline}


def test_search_log_has_a_line_per_candidate_and_whole_genomes(ci) -> None:
    log = (ci["first"].dir / "search.log").read_text()
    lines = log.splitlines()
    stamp = r"^\[\d\d:\d\d:\d\d \+\s*\d+\.\d min\] "
    for gen in (1, 2):
        (header,) = [ln for ln in lines if re.match(stamp + rf"generation {gen}/2: \d+ candidates$", ln)]
        n = int(re.search(r": (\d+) candidates", header).group(1))
        done = [
            int(m.group(1))
            for ln in lines
            if (m := re.match(stamp + rf"generation {gen}/2 (\d+)/{n} \S+: ", ln))
        ]
        assert done == list(range(1, n + 1)), log  # one line per candidate, as each finishes
    refine = [ln for ln in lines if re.match(stamp + r"refine \d+/\d+ \S+: trained in", ln)]
    trained = [int(re.search(r"trained (\d+)[,)]", ln).group(1)) for ln in refine]
    assert (
        refine and trained == sorted(trained) and len(set(trained)) == len(trained)
    )  # counts what it trains
    with open_store(ci["first"].dir / "front.sqlite") as s:
        front = load_front(s)
    for p in front.points:
        assert any(p.genome in ln and f" {p.candidate_id} " in ln for ln in lines), p.genome
    assert "…" not in log  # nothing folded or cut, whatever COLUMNS says


def test_the_search_table_is_pareto_lists(ci) -> None:
    first = ci["first"]
    listed = subprocess.run(
        ["harx", "pareto", "list", "--store", "front.sqlite"],
        cwd=first.dir,
        env=first.env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    log = (first.dir / "search.log").read_text()
    table = [ln for ln in listed.splitlines() if ln.strip()]
    assert len(table) > 5 and all(ln in log.splitlines() for ln in table)


@pytest.mark.slow  # two more searches; tests/test_pareto_compare.py checks the gate on stored fronts
def test_compare_passes_an_equal_run_and_fails_a_worse_one(ci) -> None:
    equal = Job(ci["base"], ci["home"], "run2", ci["good"], ci["baseline"])
    equal.ok("search")
    out = equal.ok("compare")
    assert "no regression" in out and ", 0 below" in out
    worse = Job(ci["base"], ci["home"], "run3", ci["worse"], ci["baseline"])
    worse.ok("search")
    r = worse.run("compare")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "REGRESSION: hypervolume" in r.stdout and "below" in r.stdout
    worse.ok("plot")  # runs whatever the gate said, and writes what the job uploads
    assert (worse.dir / "front.png").stat().st_size > 0 and (worse.dir / "front.html").stat().st_size > 0
    worse.ok("export")
    data = json.loads((worse.dir / "front.json").read_text())
    assert data["dataset"] == "har-mini" and data["points"]
