"""`harx pareto compare` over the stored runs of test_pareto: a front saved as JSON reads back to the same
front; an equal front passes, a worse one fails with exit 1 and says where; incomparable fronts are
refused."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from harx.cli.app import main
from harx.errors import ConfigError
from harx.pareto import export, load_front, open_store
from harx.pareto.compare import compare
from harx.pareto.export import front_from_dict, read_front_file, to_json
from tests.test_pareto import build_store


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    path = tmp_path_factory.mktemp("compare") / "store.sqlite"
    return path, build_store(path)


@pytest.fixture
def front(stored):
    path, ids = stored
    with open_store(path) as s:
        return load_front(s, ids["run1"], "acc,flash")


def _shifted(front, points: float, only: int | None = None):
    """``front`` with the score of every point (or of candidate ``only``) moved by ``points``."""
    moved = tuple(
        dataclasses.replace(p, values=(p.values[0] + points / 100, *p.values[1:]))
        if only in (None, p.candidate_id)
        else p
        for p in front.points
    )
    return dataclasses.replace(front, points=moved)


def test_a_saved_front_reads_back_to_the_same_front(front, tmp_path) -> None:
    text = to_json(front, include_dominated=True)
    again = front_from_dict(json.loads(text), "f.json")
    assert to_json(again, include_dominated=True) == text
    (tmp_path / "f.json").write_text(export(front, "json"))
    assert read_front_file(tmp_path / "f.json").points == front.points
    (tmp_path / "bad.json").write_text('{"objectives": []}')
    with pytest.raises(ConfigError, match=r"bad\.json: field 'objectives'"):
        read_front_file(tmp_path / "bad.json")


def test_an_equal_front_passes(front) -> None:
    c = compare(front, front)
    assert not c.regressed and c.hv_change == 0.0
    assert {m.status for m in c.matches} == {"level"} and c.new_above == []


def test_a_worse_front_fails_and_says_where(front) -> None:
    c = compare(front, _shifted(front, -2.0))
    assert c.regressed and "hypervolume" in c.reasons[0]
    assert {m.status for m in c.matches} == {"below"}
    assert all(m.score_change_points == pytest.approx(-2.0) for m in c.matches)
    # within the tolerances it holds
    assert not compare(front, _shifted(front, -0.4), hv_tolerance=0.05).regressed


def test_a_better_front_is_above_and_its_new_points_listed(front) -> None:
    c = compare(front, _shifted(front, +1.0))
    assert not c.regressed and c.hv_change > 0
    assert {m.status for m in c.matches} == {"above"} and len(c.new_above) == len(front.points)


def test_a_chosen_point_and_a_budget_gate_on_their_own(front) -> None:
    cheapest = min(front.points, key=lambda p: p.values[1])
    worse_one = _shifted(front, -3.0, only=cheapest.candidate_id)
    loose = {"hv_tolerance": 0.5}
    assert not compare(front, worse_one, **loose).regressed  # the hypervolume barely moves
    c = compare(front, worse_one, points=(cheapest.candidate_id,), **loose)
    assert c.regressed and f"#{cheapest.candidate_id}" in c.reasons[0]
    c = compare(front, worse_one, budgets={"flash": cheapest.values[1]}, **loose)
    assert c.regressed and "best acc at flash <=" in c.reasons[0]
    with pytest.raises(ConfigError, match="not on the baseline front"):
        compare(front, front, points=(999999,))
    with pytest.raises(ConfigError, match="'latency' is not one of the fronts' objectives"):
        compare(front, front, budgets={"latency": 1.0})


def test_incomparable_fronts_are_refused(stored, front) -> None:
    path, ids = stored
    with open_store(path) as s:
        other = load_front(s, ids["run1"], "acc,energy")
    with pytest.raises(ConfigError, match="differ in objectives"):
        compare(front, other)
    with pytest.raises(ConfigError, match="differ in stage"):
        compare(front, dataclasses.replace(front, stage="proxy"))


def test_cli_exit_codes(stored, front, tmp_path, capsys) -> None:
    path, ids = stored
    base = tmp_path / "base.json"
    main(
        [
            "pareto",
            "export",
            "-f",
            "json",
            "--store",
            str(path),
            "--run",
            str(ids["run1"]),
            "--objectives",
            "acc,flash",
            "-o",
            str(base),
        ]
    )
    args = ["pareto", "compare", "--baseline", str(base), "--store", str(path), "--new", str(ids["run1"])]
    main(args)  # equal: returns, exit 0
    out = capsys.readouterr().out
    assert "no regression" in out and "hypervolume: baseline" in out
    worse = tmp_path / "worse.json"
    worse.write_text(to_json(_shifted(front, -2.0)))
    with pytest.raises(SystemExit) as exc:
        main(["pareto", "compare", "--baseline", str(base), "--new", str(worse), "--json"])
    assert exc.value.code == 1
    data = json.loads(capsys.readouterr().out)
    assert data["regressed"] and {p["status"] for p in data["points"]} == {"below"}
    with pytest.raises(SystemExit) as exc:
        main(["pareto", "compare", "--baseline", str(tmp_path / "absent.json"), "--store", str(path)])
    assert exc.value.code == 4 and "neither a run id nor a saved front file" in capsys.readouterr().err
