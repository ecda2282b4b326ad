"""Kernel sets in generated projects: harx's optimized kernels (the rv32 and host default) and its reference,
the weight layout each reads, the per-layer fallback, and bit-exactness of the optimized projects end to end.

Kernel by kernel, harx_opt.h is proved against harx_ref.h and numpy for every bit combination in
test_kernels_opt.py (one translation unit, fast); here whole generated networks are checked. The sweep over
every kernel of the coverage genomes on all three builds is slow (each optimized kernel file takes about a
second to compile under the sanitizers) and marked so.
"""

import json
import re

import numpy as np
import pytest

from harx.cli.app import main
from harx.cost import estimate, lowering
from harx.cost.opt_kernels import layer_plan
from harx.deploy import generate, opt_layout
from harx.deploy.adaptive_c import generate_adaptive
from harx.deploy.synthetic import random_model, random_windows
from harx.deploy.toolchain import run
from harx.errors import ConfigError
from harx.quant.adaptive import NEVER, AdaptiveModel, ModeRule
from harx.quant.artifact import Artifact, save
from harx.quant.integer import IntGap, IntLinear
from harx.quant.layers import gap_params
from harx.quant.packing import pack
from tests.helpers import needs
from tests.test_deploy import artifact_of, coverage_genomes

GENOME = "c16k5p2w8a8-c24k5s2w4a4-gapw8"
# Odd and non-multiple-of-4 channel counts (left-over S blocks and single channels), stride, dilation,
# pools, a flatten head and 7 classes (a classifier block of 4 plus 3 left-over rows).
ODD = "c7k3p2w8a8-c5k5s2w8a8-c6k3d2w8a4-c10k2p3w4a4-c12k3w4a2-flatw2"


def _arrays(path):
    """name -> bytes of the uint8 arrays of a weights.c."""
    text = path.read_text()
    found = re.findall(r"const uint8_t (\w+)\[\d+\] HARX_ALIGNED = \{\n(.*?)\n\};", text, re.S)
    return {name: bytes(int(b, 16) for b in re.findall(r"0x([0-9a-f]{2})", body)) for name, body in found}


def test_opt_and_ref_projects_read_their_own_weight_layouts(tmp_path):
    art = artifact_of(GENOME)
    x = random_windows(2, 9, 128)
    opt = generate(art, tmp_path / "opt", "rv32", x)
    ref = generate(art, tmp_path / "ref", "rv32", x, kernels="ref")
    assert (opt.kernel_set, ref.kernel_set) == ("opt", "ref")
    assert set(opt.implementations.values()) == {"harx_opt"} and set(ref.implementations.values()) == {
        "harx_ref"
    }
    assert opt.kernels == ref.kernels  # the same PULP-NN functions, other bodies
    meta = json.loads((tmp_path / "opt" / "harx_project.json").read_text())
    assert (meta["kernel_set"], meta["implementations"]) == ("opt", opt.implementations)
    assert (tmp_path / "opt" / "harx_opt.h").is_file() and not (tmp_path / "ref" / "harx_opt.h").exists()
    conv = (tmp_path / "opt" / "kernels" / "pulp_nn_conv_u8_u4_i4.c").read_text()
    assert '#include "harx_opt.h"' in conv and "harx_opt_conv(" in conv
    assert "harx_conv(" in (tmp_path / "ref" / "kernels" / "pulp_nn_conv_u8_u4_i4.c").read_text()
    # Same flash (the layouts have the reference's byte count), more im2col: 4 pixels of the widest conv.
    assert opt.plan.ro_bytes == ref.plan.ro_bytes
    assert (opt.plan.im2col_bytes, ref.plan.im2col_bytes) == (4 * 5 * 16, 5 * 16)
    assert opt.plan.ram_bytes == ref.plan.ram_bytes + 3 * 5 * 16
    w_opt, w_ref = _arrays(tmp_path / "opt" / "weights.c"), _arrays(tmp_path / "ref" / "weights.c")
    conv1, linear = art.model.layers[2], art.model.layers[-1]  # layer 1 is the max pool
    assert w_ref["l2_weights"][: 24 * 5 * 16 // 2] == pack(conv1.weights, 4).tobytes()
    want = opt_layout.conv_weights(conv1.weights, 4, 8, False)
    assert w_opt["l2_weights"][: len(want)] == want.tobytes() != w_ref["l2_weights"][: len(want)]
    assert w_opt["l4_weights"][: 24 * 6] == opt_layout.linear_weights(linear.weights, 8, 4).tobytes()
    assert estimate(GENOME, "rv32").ram_bytes == opt.plan.ram_bytes  # cost and deploy plan the same set


def test_gap8_has_only_the_reference_set(tmp_path):
    with pytest.raises(ConfigError, match="target gap8 has no 'opt' kernel set"):
        generate(artifact_of(GENOME), tmp_path / "g", "gap8", random_windows(1, 9, 128), kernels="opt")
    project = generate(artifact_of(GENOME), tmp_path / "g", "gap8", random_windows(1, 9, 128))
    assert project.kernel_set == "ref" and set(project.implementations.values()) == {"pulp_nn"}
    assert not (tmp_path / "g" / "harx_opt.h").exists()


@pytest.mark.toolchain
@needs("host", "asan", "rv32")
def test_odd_channels_run_bit_exact_and_the_elf_holds_the_plan(tmp_path):
    art = artifact_of(ODD, classes=7, seed=4)
    project = generate(art, tmp_path / "p", "rv32", random_windows(6, 9, 128, seed=5))
    assert project.kernel_set == "opt" and set(project.implementations.values()) == {"harx_opt"}
    for build in ("host", "asan", "rv32"):
        r = run(project, build)
        assert (build, r.windows, r.mismatched_windows) == (build, 6, 0)
    s = r.sizes
    assert (s.weights_bytes, s.buffers_bytes, s.bss_bytes) == (project.plan.ro_bytes,) + 2 * (
        project.plan.ram_bytes,
    )
    cost = estimate(ODD, "rv32", n_classes=7)
    assert cost.latency_cycles == pytest.approx(r.instructions.mean, rel=0.05)  # the fitted opt model


@pytest.mark.toolchain
@needs("host", "asan", "rv32")
def test_a_layer_the_optimized_kernels_refuse_runs_the_reference_beside_them(tmp_path, monkeypatch):
    """No valid genome has such a layer (its channel rules are the optimized kernels'), so the refusal is
    forced: the k5 conv falls back and runs pulp_nn_conv_u4_u4_i4_ref next to the k3 conv's optimized
    pulp_nn_conv_u4_u4_i4, each with its weight layout and the plan's im2col; cost prices the same."""
    genome = "c8k3w8a4-c8k3w4a4-c8k5w4a4-gapw4"

    def refuse_k5(layer):
        if layer.kernel == 5:
            raise ValueError("conv 8->8 channels, k=5: refused by this test")
        return layer_plan(layer)

    monkeypatch.setattr(lowering, "layer_plan", refuse_k5)
    project = generate(artifact_of(genome), tmp_path / "p", "rv32", random_windows(5, 9, 128, seed=6))
    assert project.implementations["pulp_nn_conv_u4_u4_i4"] == "harx_opt"
    assert project.implementations["pulp_nn_conv_u4_u4_i4_ref"] == "harx_ref"
    net = (tmp_path / "p" / "network.c").read_text()
    assert "/* the reference kernel: conv 8->8 channels, k=5: refused by this test */" in net
    cost = estimate(genome, "rv32")
    assert (
        "pulp_nn_conv_u4_u4_i4_ref (harx_ref.h" in cost.layers[2].kernel
        and "mac_w4" in cost.layers[2].cycle_terms
    )
    for build in ("host", "asan", "rv32"):
        r = run(project, build)
        assert (build, r.windows, r.mismatched_windows) == (build, 5, 0)
    assert (r.sizes.weights_bytes, r.sizes.buffers_bytes) == (project.plan.ro_bytes, project.plan.ram_bytes)


def test_weight_rows_that_are_not_whole_bytes_are_refused(tmp_path):
    """An early-exit head with 2-bit weights over 6 features: neither kernel set reads rows of 12 bits."""
    genome = "c6k3w8a8-c8k3w8a8-gapw2"
    model = random_model(genome, 9, 64, 5)
    rng = np.random.default_rng(0)
    model.exits = {
        0: [IntGap(*gap_params(64, 8), 8), IntLinear(rng.integers(-2, 2, (5, 6)), np.zeros(5, int), 2, 8)]
    }
    art = Artifact(model, genome, "synthetic", "", [0.0] * 9, [1.0] * 9, list("abcde"))
    adaptive = AdaptiveModel("early_exit", art, (ModeRule("margin", NEVER),))
    for kernels in ("opt", "ref"):
        with pytest.raises(ConfigError, match=r"layer 5 \(linear\): 6 input features of 2-bit weights"):
            generate_adaptive(adaptive, tmp_path / kernels, "rv32", random_windows(2, 9, 64), kernels=kernels)
    assert not list(tmp_path.iterdir())


@pytest.mark.toolchain
@needs("host")
def test_cli_kernels_option_is_recorded_in_the_project_and_the_json(in_har_home, tmp_path, capsys):
    model = random_model("c8k3w8a4-gapw4", 9, 128, 6)
    art = Artifact(model, "c8k3w8a4-gapw4", "uci-har", "", [0.0] * 9, [1.0] * 9, list("abcdef"))
    path = save(art, tmp_path / "artifact")
    args = ["deploy", "-a", str(path), "-o", str(tmp_path / "p"), "--windows", "3"]
    main([*args, "-t", "host", "--kernels", "ref"])
    meta = json.loads((tmp_path / "p" / "harx_project.json").read_text())
    assert meta["kernel_set"] == "ref" and "kernels (ref set)" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main([*args, "-t", "gap8", "--kernels", "opt"])
    assert exc.value.code == 4 and "target gap8 has no 'opt' kernel set" in capsys.readouterr().err
    main([*args, "-t", "host", "--run", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert (out["kernel_set"], out["runs"][0]["bit_exact"]) == ("opt", True)
    assert set(out["implementations"].values()) == {"harx_opt"}


@pytest.mark.slow
@pytest.mark.toolchain
@needs("host", "asan", "rv32")
@pytest.mark.parametrize("genome", coverage_genomes())
def test_every_optimized_kernel_is_bit_exact_on_host_asan_and_rv32(genome, tmp_path):
    project = generate(
        artifact_of(genome, channels=8), tmp_path / "p", "rv32", random_windows(8, 8, 128, seed=3)
    )
    assert set(project.implementations.values()) == {"harx_opt"}
    for build in ("host", "asan", "rv32"):
        r = run(project, build)
        assert (build, r.windows, r.mismatched_windows) == (build, 8, 0)
    assert (r.sizes.weights_bytes, r.sizes.buffers_bytes) == (project.plan.ro_bytes, project.plan.ram_bytes)
