"""`harx cost`: the per-layer table and JSON match the library; bad input gives a one-line error."""

import json

import pytest

from harx.cli.app import main
from harx.cost import estimate

GENOME = "c16k5p2w8a8-c24k5s2w4a4-gapw8"


def test_json_output_matches_the_library(capsys):
    main(
        ["cost", GENOME, "--target", "all", "--channels", "6", "--length", "64", "--classes", "12", "--json"]
    )
    out = json.loads(capsys.readouterr().out)
    assert [c["target"] for c in out] == ["gap8", "rv32"]
    for item in out:
        ref = estimate(GENOME, item["target"], in_channels=6, in_len=64, n_classes=12)
        assert (item["flash_bytes"], item["ram_bytes"], item["latency_cycles"]) == (
            ref.flash_bytes,
            ref.ram_bytes,
            ref.latency_cycles,
        )
        assert [layer["kernel"] for layer in item["layers"]] == [lc.kernel for lc in ref.layers]
        assert item["plan"]["arena_bytes"] == ref.plan.arena_bytes


def test_table_shows_layers_and_totals(capsys):
    main(["cost", GENOME, "--target", "rv32"])
    out = capsys.readouterr().out
    opt = estimate(GENOME, "rv32")
    assert "on rv32 (opt kernels)" in out and "pulp_nn_conv_i8_u8_i8 (harx_opt.h" in out
    assert "linear 24->6 w8" in out and "fits" in out
    assert f"{opt.latency_cycles:,}" in out and f"flash {opt.flash_bytes:,} B, RAM {opt.ram_bytes:,} B" in out


def test_kernels_option_selects_the_reference_model(capsys):
    main(["cost", GENOME, "--target", "rv32", "--kernels", "ref", "--json"])
    (item,) = json.loads(capsys.readouterr().out)
    ref = estimate(GENOME, "rv32", kernels="ref")
    assert item["kernels"] == "ref" and item["latency_cycles"] == ref.latency_cycles
    assert ref.latency_cycles > 2 * estimate(GENOME, "rv32").latency_cycles
    assert "(harx_ref.h" in item["layers"][0]["kernel"] and item["plan"]["kernels"] == "ref"


def test_infeasible_genome_is_reported_not_raised(capsys):
    main(["cost", "c256k3w8a8-c256k3w8a8-gapw8", "--target", "gap8"])
    assert "does not fit: ram 277,656 B > L1 65,536 B" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["cost", "c8k5w4a4-gapw8"], "block 1 has 4-bit weights but 9 input channels"),
        (["cost", "c8k5w8a8-gapw8", "--target", "gap9"], "unknown target 'gap9'"),
        (["cost", "c8k5-gapw8"], "is not of the form"),
        (["cost", "c8k5w8a8-gapw8", "--kernels", "opt"], "target gap8 has no 'opt' kernel set"),
        (["cost", "c8k5w8a8-gapw8", "-t", "rv32", "--kernels", "fast"], "rv32 has no 'fast' kernel set"),
    ],
)
def test_bad_input_exits_with_config_error(capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 4
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
