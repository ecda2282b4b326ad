"""`harx pareto list|plot|show|export` over the small stored run of test_pareto: what the commands print is
what the library computes from the store; bad input exits non-zero with one line and leaves files alone."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from harx.cli.app import main
from harx.pareto import export, load_front, open_store
from harx.store import Store
from tests.test_pareto import CLASSES, REFINE_SEEDS, D, F, _costs, _refine, build_store


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    path = tmp_path_factory.mktemp("pareto_cli") / "store.sqlite"
    return path, build_store(path)


def _run(capsys, args: list[str]) -> str:
    main(args)
    return capsys.readouterr().out


def _fails(capsys, args: list[str], code: int, message: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == code
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_list_json_is_the_library_front(capsys, stored) -> None:
    path, ids = stored
    args = ["pareto", "list", "--store", str(path), "--run", str(ids["run1"]), "--objectives", "acc,flash"]
    data = json.loads(_run(capsys, [*args, "--json"]))
    with open_store(path) as s:
        front = load_front(s, ids["run1"], "acc,flash")
    assert data["stage"] == "refine" and data["target"] == "gap8"
    assert [p["candidate_id"] for p in data["points"]] == [p.candidate_id for p in front.points]
    assert [p["genome"] for p in data["points"]] == [F, D, "c8k5p2w8a8-c16k5p2w4a4-gapw8"]
    assert data["hypervolume"]["value"] == pytest.approx(front.hypervolume)
    assert all(p["on_front"] for p in data["points"])
    everything = json.loads(_run(capsys, [*args, "--json", "--all"]))
    assert len(everything["points"]) == len(REFINE_SEEDS)


def test_list_csv_and_table(capsys, stored) -> None:
    path, ids = stored
    base = ["pareto", "list", "--store", str(path), "--run", str(ids["run1"]), "--stage", "proxy"]
    rows = list(csv.DictReader(io.StringIO(_run(capsys, [*base, "--csv", "--target", "rv32"]))))
    assert {r["stage"] for r in rows} == {"proxy"} and rows[0]["rv32_latency_ms"]
    table = _run(capsys, base)
    assert "proxy front over acc (max), flash (min), latency (min) on gap8" in table
    assert "validation folds" in table and "hypervolume" in table
    assert "1 infeasible on gap8, 1 failed" in table
    for r in rows:
        assert r["genome"] in table


def test_list_defaults_to_the_newest_run(capsys, stored) -> None:
    path, ids = stored
    data = json.loads(_run(capsys, ["pareto", "list", "--store", str(path), "--json"]))
    assert data["run"]["id"] == ids["run2"] and data["stage"] == "proxy"


def test_export_markdown_to_a_file(capsys, stored, tmp_path) -> None:
    path, ids = stored
    out = tmp_path / "front.md"
    args = ["pareto", "export", "--store", str(path), "--run", str(ids["run1"]), "--format", "markdown"]
    assert f"wrote {out}" in _run(capsys, [*args, "-o", str(out)])
    with open_store(path) as s:
        assert out.read_text() == export(load_front(s, ids["run1"]), "markdown")
    assert _run(capsys, args) == out.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["front.md"]  # no temporary file left behind


def test_export_json_matches_list_json(capsys, stored) -> None:
    path, ids = stored
    common = [
        "--store",
        str(path),
        "--run",
        str(ids["run1"]),
        "--objectives",
        "acc,energy",
        "--ref",
        "energy=30",
    ]
    a = json.loads(_run(capsys, ["pareto", "export", "--format", "json", *common]))
    b = json.loads(_run(capsys, ["pareto", "list", "--json", *common]))
    assert a == b and a["hypervolume"]["reference"]["energy"] == 30.0


def test_show_prints_everything_about_a_candidate(capsys, stored) -> None:
    path, ids = stored
    cid = ids[f"r:{D}"]
    text = _run(capsys, ["pareto", "show", str(cid), "--store", str(path)])
    assert f"candidate {cid}" in text and D in text
    assert "test_acc_seeds: [0.9250, 0.9350, 0.9300]" in text
    gap8 = _costs(D)["gap8"]
    assert (
        f"stored cost on gap8: flash {gap8['flash_bytes']:,} B, RAM {gap8['ram_bytes']:,} B, "
        f"{gap8['latency_cycles']:,} cycles" in text
    )
    assert "layers and bits" in text and "pulp_nn" in text and "harx_opt.h" in text  # rv32's default kernels
    assert "confusion matrix on the test subjects" in text and "SITTING" in text
    assert "training curve" in text and "qat" in text
    data = json.loads(
        _run(capsys, ["pareto", "show", str(cid), "--store", str(path), "--json", "-t", "gap8"])
    )
    assert data["candidate"]["id"] == cid and list(data["costs"]) == ["gap8"]
    assert [c["name"] for c in data["class_scores"]] == CLASSES
    assert data["costs"]["gap8"]["flash_bytes"] == data["candidate"]["costs"]["gap8"]["flash_bytes"]
    assert len(data["layers"]) == 5 and data["cost_changes"] == []


def test_plot_writes_png_and_html(capsys, stored, tmp_path) -> None:
    path, ids = stored
    png, page = tmp_path / "front.png", tmp_path / "front.html"
    args = ["pareto", "plot", "--store", str(path), "--run", str(ids["run1"]), "--run", str(ids["run2"])]
    out = _run(capsys, [*args, "-o", str(png), "-o", str(page), "--axes", "flash,energy"])
    assert f"wrote {png}" in out and f"wrote {page}" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = page.read_text()
    assert html.count('<svg class="panel"') == 2 and f'data-run="{ids["run2"]}"' in html
    assert "published (not measured here)" in html
    _run(capsys, [*args, "-o", str(page), "--no-reference", "--metric", "f1"])
    assert "published" not in page.read_text() and "macro-F1" in page.read_text()


def test_bad_input_is_one_line_and_touches_nothing(capsys, stored, tmp_path) -> None:
    path, _ = stored
    store = ["--store", str(path)]
    _fails(capsys, ["pareto", "list", *store, "--run", "42"], 5, "no run with id 42")
    missing = tmp_path / "absent.sqlite"
    _fails(capsys, ["pareto", "list", "--store", str(missing)], 5, "no candidate store here")
    assert not missing.exists()
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all")
    _fails(capsys, ["pareto", "list", "--store", str(junk)], 5, "not an SQLite database")
    assert junk.read_bytes() == b"not a database at all"
    _fails(capsys, ["pareto", "list", *store, "--objectives", "acc,size"], 4, "unknown objective 'size'")
    _fails(capsys, ["pareto", "list", *store, "--json", "--csv"], 4, "at most one of --json and --csv")
    _fails(
        capsys, ["pareto", "list", *store, "--ref", "acc=high"], 4, "--ref: value of 'acc' is not a number"
    )
    _fails(capsys, ["pareto", "list", *store, "--ref", "ram=3"], 4, "--ref: 'ram=3' is not NAME=VALUE")
    _fails(capsys, ["pareto", "list", *store, "--stage", "final"], 4, "unknown stage 'final'")
    _fails(capsys, ["pareto", "export", *store, "--format", "xlsx"], 4, "unknown format 'xlsx'")
    _fails(capsys, ["pareto", "show", "999", *store], 5, "no candidate with id 999")
    bad_ref = tmp_path / "ref.yaml"
    bad_ref.write_text("label: x\nsource: y\npublished: false\n")
    out = tmp_path / "f.png"
    _fails(
        capsys,
        ["pareto", "plot", *store, "--reference", str(bad_ref), "-o", str(out)],
        4,
        "published: must be",
    )
    _fails(capsys, ["pareto", "plot", *store, "-o", str(tmp_path / "f.pdf")], 4, "must end in .png or .html")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.sqlite", "ref.yaml"]


def test_show_says_the_confusion_is_summed_over_seeds_and_shortens_a_curve_without_validation(
    capsys, stored, tmp_path
) -> None:
    path, ids = stored
    text = _run(capsys, ["pareto", "show", str(ids[f"r:{D}"]), "--store", str(path)])
    assert "summed over 3 seeds (each scores every test window)" in text
    assert "training curve (first seed)" in text
    rec = _refine(D, REFINE_SEEDS[D])
    rec.extra["history"] = [
        {"phase": p, "epoch": e, "loss": 1.0 / (e + 1), "val_acc": None, "val_f1": None, "seconds": 0.5}
        for p, n in (("float", 60), ("qat", 30))
        for e in range(n)
    ]
    with Store(tmp_path / "s.sqlite") as s:
        run = s.create_run({"dataset": "uci-har"}, seed=0, name="noval").id
        cid = s.add_candidate(rec, run_id=run, generation=0)
    text = _run(capsys, ["pareto", "show", str(cid), "--store", str(tmp_path / "s.sqlite")])
    assert "training, first seed (no validation: fixed epochs)" in text
    curve = text.split("training, first seed")[1]
    assert "│ float │     60 │     1.0000 │    0.0167 │" in curve and "–" not in curve
    show = ["pareto", "show", str(cid), "--store", str(tmp_path / "s.sqlite"), "--json"]
    assert json.loads(_run(capsys, show))["confusion_seeds"] == 3


def test_plot_of_an_import_draws_no_published_ranges_and_writes_under_harx_home(
    capsys, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("HARX_HOME", str(tmp_path / "home"))
    with Store(tmp_path / "s.sqlite") as s:
        run = s.create_run({"dataset": "my-lab"}, seed=0, name="mine").id
        for g, seeds in REFINE_SEEDS.items():
            rec = _refine(g, seeds)
            rec.dataset = "my-lab"
            s.add_candidate(rec, run_id=run, generation=0)
    store = ["pareto", "plot", "--store", str(tmp_path / "s.sqlite")]
    out = _run(capsys, store)
    png = tmp_path / "home" / "plots" / f"my-lab-run{run}.png"
    assert f"wrote {png}" in out and png.read_bytes()[:4] == b"\x89PNG"
    _run(capsys, [*store, "-o", str(tmp_path / "f.html")])
    assert "published" not in (tmp_path / "f.html").read_text()  # the paper's ranges are not about your data
    ref = tmp_path / "ref.yaml"
    ref.write_text(
        "label: Mine\nsource: my notes\npublished: true\n"
        "ranges:\n  - {objective: flash, min: 1 B, max: 1 MB, where: t}\n"
    )
    _run(capsys, [*store, "-o", str(tmp_path / "g.html"), "--reference", str(ref)])
    assert "Mine: 0.001–1000 kB (published)" in (tmp_path / "g.html").read_text()
