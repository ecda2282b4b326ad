"""Target YAML files: the packaged ones load and cite every constant; malformed ones fail naming file and key."""

import json
from pathlib import Path

import pytest
import yaml

from harx.cost import TARGETS, estimate, load_target
from harx.cost.target import TARGETS_DIR
from harx.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def _write(tmp_path: Path, data: object, name: str = "board.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _raw(name: str) -> dict:
    return yaml.safe_load((TARGETS_DIR / f"{name}.yaml").read_text(encoding="utf-8"))


def test_packaged_targets_load_with_their_memories():
    assert TARGETS == ("gap8", "rv32")
    gap8, rv32 = load_target("gap8"), load_target("rv32")
    assert (gap8.version, gap8.cores, gap8.frequency_mhz, gap8.kernel_model) == (3, 8, 87, "pulp_nn_cluster")
    assert {m.name: m.size_bytes for m in gap8.memories} == {"L1": 65_536, "L2": 524_288, "flash": 67_108_864}
    assert [(m.name, m.available_bytes, m.holds) for m in rv32.memories] == [("L2", 507_904, ("ro", "ram"))]
    assert gap8.active_power_mw == pytest.approx(16.1 + 2.0)


@pytest.mark.parametrize("name", TARGETS)
def test_every_constant_cites_a_source_and_assumptions_say_so(name):
    data = _raw(name)
    leaves = []
    for group in ("operating_point", "power_mw", "structure", "coefficients"):
        leaves += list(data[group].values())
    for mem in data["memories"].values():
        leaves += [v for k, v in mem.items() if k != "holds"]
    assert leaves and all(set(leaf) == {"value", "source"} and leaf["source"].strip() for leaf in leaves)
    kinds = ("count:", "derived:", "assumed:", "fitted:", "held:")
    assert all(leaf["source"].startswith(kinds) for leaf in data["coefficients"].values())


def test_fitted_coefficients_cite_the_fit_with_its_date_and_accuracy():
    fit = json.loads((ROOT / "bench" / "results" / "rv32_fit.json").read_text(encoding="utf-8"))
    for name in ("rv32", "gap8"):
        ref = " ".join(_raw(name)["references"]["rv32_fit"].split())
        assert ref.startswith("bench/results/rv32_fit.md") and fit["date"] in ref
        for kernels, what in (("ref", "reference kernels"), ("opt", "optimized kernels")):
            ins, loo = (
                fit["sets"][kernels][k] for k in ("metrics_in_sample", "metrics_leave_one_genome_out")
            )
            assert (
                f"{what}: Spearman {ins['spearman']:.4f}, MAPE {ins['mape_pct']:.2f}% in-sample; Spearman "
                f"{loo['spearman']:.4f}, MAPE {loo['mape_pct']:.2f}% leave-one-genome-out"
            ) in ref
    # rv32: the reference set's coefficients and the opt_ ones; gap8: ref_<name> is the reference's <name>.
    written = {
        "rv32": {**fit["sets"]["ref"]["coefficients"], **fit["sets"]["opt"]["coefficients"]},
        "gap8": {f"ref_{k}": v for k, v in fit["sets"]["ref"]["coefficients"].items()},
    }
    for name, values in written.items():
        coefficients = _raw(name)["coefficients"]
        fitted = {k: c for k, c in coefficients.items() if "rv32_fit" in c["source"]}
        assert fitted and set(fitted) <= set(values)
        assert all(c["value"] == float(f"{values[k]:.4g}") for k, c in fitted.items())
    assert set(written["rv32"]) == set(_raw("rv32")["coefficients"])


def test_a_yaml_file_path_is_a_target(tmp_path):
    data = _raw("rv32")
    data["name"] = "rv32-fast"
    data["operating_point"]["frequency_mhz"]["value"] = 200
    path = _write(tmp_path, data)
    slow, fast = estimate("c8k3w8a8-gapw8", "rv32"), estimate("c8k3w8a8-gapw8", str(path))
    assert fast.target == "rv32-fast" and fast.latency_cycles == slow.latency_cycles
    assert fast.latency_ms == pytest.approx(slow.latency_ms / 2)


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (lambda d: d["coefficients"].pop("sdotp"), "coefficients.sdotp"),
        (lambda d: d["coefficients"]["sdotp"].pop("source"), "coefficients.sdotp.source"),
        (lambda d: d["coefficients"]["sdotp"].update(source="  "), "coefficients.sdotp.source"),
        (lambda d: d["coefficients"]["sdotp"].update(value="one"), "coefficients.sdotp.value"),
        (lambda d: d["coefficients"]["sdotp"].update(value=-1), "coefficients.sdotp.value"),
        (lambda d: d["structure"].pop("cores"), "structure.cores"),
        (lambda d: d["structure"]["cores"].update(value=2.5), "structure.cores.value"),
        (lambda d: d["operating_point"].pop("frequency_mhz"), "operating_point.frequency_mhz"),
        (lambda d: d.pop("version"), "version"),
        (lambda d: d.update(kernel_model="systolic"), "kernel_model"),
        (lambda d: d.pop("references"), "references"),
        (lambda d: d.pop("power_mw"), "power_mw"),
        (lambda d: d["memories"]["L1"].update(holds=["code"]), "memories.L1.holds"),
        (lambda d: d["memories"]["L1"].pop("size_bytes"), "memories.L1.size_bytes"),
        (lambda d: d["memories"]["L1"]["reserved_bytes"].update(value=65_536), "memories.L1.reserved_bytes"),
        (lambda d: d.update(kernel_sets=["ref", "ref"]), "kernel_sets"),
        (lambda d: d.update(kernel_sets=["fast"]), "kernel_sets"),
        (lambda d: d.update(kernel_sets=[]), "kernel_sets"),
        (lambda d: d.update(kernel_sets=["opt", "ref"]), "kernel_sets"),  # pulp_nn_cluster prices no opt
    ],
)
def test_malformed_target_names_file_and_key(tmp_path, edit, key):
    data = _raw("gap8")
    edit(data)
    path = _write(tmp_path, data)
    with pytest.raises(ConfigError) as err:
        load_target(str(path))
    assert str(path) in str(err.value) and f"'{key}'" in str(err.value)


def test_the_opt_kernel_set_needs_its_coefficients(tmp_path):
    data = _raw("rv32")
    data["coefficients"].pop("opt_tap_l8")
    path = _write(tmp_path, data)
    with pytest.raises(ConfigError, match=r"'coefficients\.opt_tap_l8' is missing \(the 'opt' kernel set"):
        load_target(str(path))
    data["kernel_sets"] = ["ref"]  # a target that prices only the reference does not need them
    assert load_target(str(_write(tmp_path, data))).kernel_set() == "ref"
    rv32, gap8 = load_target("rv32"), load_target("gap8")
    assert (rv32.kernel_sets, gap8.kernel_sets, rv32.kernel_set(), gap8.kernel_set()) == (
        ("opt", "ref"),
        ("ref",),
        "opt",
        "ref",
    )


def test_unreadable_and_invalid_targets(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("version: 1\nname: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broken\.yaml: not valid YAML at line"):
        load_target(str(broken))
    with pytest.raises(ConfigError, match="unknown target 'gap9': use one of gap8, rv32"):
        load_target("gap9")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_target(str(_write(tmp_path, ["a", "list"])))
