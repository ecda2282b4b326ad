"""harx.deploy on random-weight integer models: the generated C, its memory, and bit-exactness of every kernel.

The real-data bit-exactness proof (trained models, 500 real test windows) is in test_deploy_realdata.py.
"""

import json
import re
import shutil

import numpy as np
import pytest

from harx.cli.app import main
from harx.cost import Kernel, estimate
from harx.deploy import generate, logits_checksum
from harx.deploy.kernel_c import fill, library_sources, params
from harx.deploy.pipeline import best_candidate
from harx.deploy.synthetic import random_model, random_windows
from harx.deploy.toolchain import run
from harx.errors import ConfigError, StoreError
from harx.models.genome import BITS
from harx.quant.artifact import Artifact
from harx.store import CandidateRecord, Store
from tests.helpers import needs


def artifact_of(genome, channels=9, length=128, classes=6, seed=0):
    model = random_model(genome, channels, length, classes, seed)
    return Artifact(
        model, genome, "synthetic", "", [0.0] * channels, [1.0] * channels, [str(i) for i in range(classes)]
    )


# ---- kernels: names and argument lists ------------------------------------------------------------------


def test_kernel_names_follow_pulp_nn_mixed():
    assert Kernel("conv", 8, 8, 8, in_signed=True).name == "pulp_nn_conv_i8_u8_i8"
    assert Kernel("conv", 4, 2, 4).name == "pulp_nn_conv_u4_u2_i4"
    assert Kernel("conv", 2, 8, 2, dilated=True).name == "harx_conv_dil_u2_u8_i2"
    assert Kernel("maxpool", 2).name == "pulp_nn_maxpool_u2"
    assert Kernel("avgpool", 4, 4).name == "pulp_nn_avgpool_u4_u4"
    assert Kernel("linear_i32", 4, w_bits=2).name == "pulp_nn_linear_u4_i32_i2"


def test_kernel_argument_lists():
    conv = Kernel("conv", 8, 4, 2, in_signed=True)
    names = [n for _, n in params(conv)]
    assert len(names) == 25 and names[:3] == ["pIn", "pIm2ColBuffer", "pBias"]
    assert names[-2:] == ["flag_relu", "flag_batchnorm"]
    assert params(conv)[0][0] == "int8_t *" and params(Kernel("conv", 8, 4, 2))[0][0] == "uint8_t *"
    dil = Kernel("conv", 4, 4, 4, dilated=True)
    assert [n for _, n in params(dil)][-2:] == ["dilation_x", "dilation_y"] and dil.harx_only
    assert [n for _, n in params(Kernel("avgpool", 8, 8))][2:5] == ["lambda", "out_shift", "out_add"]
    assert [n for _, n in params(Kernel("linear_i32", 8, w_bits=8))] == [
        "pIn",
        "pBias",
        "pOut",
        "pWeight",
        "dim_vec",
        "num_o_neurons",
    ]


def test_library_sources_name_the_matmul_a_conv_calls():
    assert library_sources(Kernel("conv", 8, 2, 4, in_signed=True)) == (
        "Convolution/pulp_nn_conv_i8_u2_i4.c",
        "MatrixMultiplication/pulp_nn_matmul_i8_u2_i4.c",
    )
    assert library_sources(Kernel("conv", 2, 8, 8))[1] == "MatrixMultiplication/pulp_nn_matmul_u8_u8_i8.c"
    assert library_sources(Kernel("conv", 8, 8, 8, dilated=True)) == ()
    assert library_sources(Kernel("maxpool", 4)) == ("Pooling/MaxPool/pulp_nn_maxpool_u4.c",)


def test_fill_refuses_a_template_left_half_filled():
    assert fill("a @X@ b @@", {"X": "1"}) == "a 1 b @@"
    with pytest.raises(ValueError, match="@Y@"):
        fill("@X@ @Y@", {"X": "1"})


def test_logits_checksum_is_fnv1a_over_little_endian_bytes():
    logits = np.array([[1, -2, 2**31 - 1, -(2**31), 0, 7]], dtype=np.int64)
    h = 2166136261
    for b in logits.astype("<i4").tobytes():
        h = ((h ^ b) * 16777619) % 2**32
    assert logits_checksum(logits).tolist() == [h]


# ---- generation: files and memory from the plan ---------------------------------------------------------

GENOME = "c16k5p2w8a8-c24k5s2w4a4-gapw8"


def test_buffers_and_arrays_are_the_memory_plans(tmp_path):
    project = generate(artifact_of(GENOME), tmp_path / "p", "rv32", random_windows(3, 9, 128))
    cost = estimate(GENOME, "rv32")
    plan = project.plan
    assert (plan.ro_bytes, plan.ram_bytes) == (cost.flash_bytes, cost.ram_bytes)
    net = (tmp_path / "p" / "network.c").read_text()
    declared = {name: int(n) for _, name, n in re.findall(r"(u?int\d+_t) (harx_\w+)\[(\d+)\]", net)}
    assert declared == {
        "harx_window": plan.input_bytes,
        "harx_logits": plan.logits_bytes // 4,
        "harx_arena": plan.arena_bytes,
        "harx_im2col": plan.im2col_bytes,
    }
    # Every tensor slot of the plan appears as the kernel's input or output pointer.
    for mem in plan.layers:
        for slot in (mem.input, mem.output):
            if slot.buffer == "arena" and slot.offset_bytes:
                assert f"harx_arena + {slot.offset_bytes})" in net
    weights = (tmp_path / "p" / "weights.c").read_text()
    sizes = [
        int(n) * (4 if t == "int32_t" else 1)
        for t, n in re.findall(r"const (u?int\d+_t) \w+\[(\d+)\]", weights)
    ]
    assert sum(sizes) == plan.ro_bytes and "harx_constants[4]" in weights  # 2 conv shifts, GAP m and s
    meta = json.loads((tmp_path / "p" / "harx_project.json").read_text())
    assert meta["kernels"] == list(project.kernels) and meta["ram_bytes"] == plan.ram_bytes
    assert sorted(p.name for p in (tmp_path / "p" / "kernels").iterdir()) == [
        f"{k}.c" for k in project.kernels
    ]


def test_gap8_project_stages_weights_and_follows_the_cost_models_geometry(tmp_path):
    project = generate(artifact_of(GENOME), tmp_path / "g", "gap8", random_windows(2, 9, 128))
    assert project.plan.target == "gap8" and project.plan.weight_buffer_bytes > 0
    net = (tmp_path / "g" / "network.c").read_text()
    assert f"harx_weight_buffer[{project.plan.weight_buffer_bytes}]" in net
    assert (
        net.count("harx_stage(") == 2 * 3 + 2
    )  # weights, kappa, lambda per conv; weights, bias of the linear
    comments = re.findall(r"/\* layer (\d+): .*\((time along [HW])\) \*/", net)
    cost = estimate(GENOME, "gap8")
    assert comments == [
        (str(lc.index), "time along H" if "time on H" in lc.kernel else "time along W") for lc in cost.layers
    ]
    mk = (tmp_path / "g" / "gap8.mk").read_text()
    assert "MatrixMultiplication/pulp_nn_matmul_i8_u8_i8.c" in mk and "pmsis_rules.mk" in mk


def test_generate_refuses_a_foreign_directory_and_leaves_nothing(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="not a project harx generated"):
        generate(artifact_of(GENOME), out, "rv32", random_windows(1, 9, 128))
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]


def test_generate_replaces_its_own_project_atomically(tmp_path):
    out = tmp_path / "p"
    generate(artifact_of(GENOME), out, "rv32", random_windows(1, 9, 128))
    (out / "build").mkdir()
    second = "c8k3w8a8-flatw8"
    generate(artifact_of(second), out, "host", random_windows(2, 9, 128))
    assert json.loads((out / "harx_project.json").read_text())["genome"] == second
    assert not (out / "build").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p"]


def test_bad_input_is_a_one_line_error_and_writes_nothing(tmp_path):
    art = artifact_of(GENOME)
    with pytest.raises(ConfigError, match=r"shaped \(N, 128, 9\)"):
        generate(art, tmp_path / "a", "rv32", np.zeros((2, 9, 128), np.int8))
    with pytest.raises(ConfigError, match="not one of"):
        generate(art, tmp_path / "b", "esp32", random_windows(1, 9, 128))
    wrong = Artifact(
        art.model, "c16k3p2w8a8-c24k5s2w4a4-gapw8", "synthetic", "", [0.0] * 9, [1.0] * 9, list("abcdef")
    )
    with pytest.raises(ConfigError, match=r"layer 0 .* does not match the genome"):
        generate(wrong, tmp_path / "c", "rv32", random_windows(1, 9, 128))
    with pytest.raises(ConfigError, match="does not fit gap8"):
        generate(
            artifact_of("c256k15w8a8-c256k15w8a8-gapw8", seed=1),
            tmp_path / "d",
            "gap8",
            random_windows(1, 9, 128),
        )
    assert list(tmp_path.iterdir()) == []


def test_cli_needs_exactly_one_source(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["deploy", "--target", "rv32", "-o", str(tmp_path / "o")])
    assert (
        exc.value.code == 4
        and "exactly one of CANDIDATE_ID, --artifact PATH or --best" in capsys.readouterr().err
    )
    with pytest.raises(SystemExit) as exc:
        main(
            ["deploy", "--artifact", str(tmp_path / "missing"), "--target", "rv32", "-o", str(tmp_path / "o")]
        )
    assert exc.value.code == 3 and "no such artifact" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "deploy",
                "3",
                "--store",
                str(tmp_path / "none.sqlite"),
                "--target",
                "rv32",
                "-o",
                str(tmp_path / "o"),
            ]
        )
    assert exc.value.code == 5 and "no candidate store" in capsys.readouterr().err
    assert not (tmp_path / "o").exists() and not (tmp_path / "none.sqlite").exists()


def _candidate(genome, stage, metrics, artifact="art"):
    return CandidateRecord(
        genome=genome,
        dataset="uci-har",
        dataset_fingerprint="f",
        train_config={"epochs_float": 1},
        stage=stage,
        status="ok",
        metrics=metrics,
        artifact_path=artifact,
    )


def test_best_candidate_ranks_refined_by_test_accuracy_else_proxy_by_validation(tmp_path):
    path = tmp_path / "s.sqlite"
    with Store(path) as store:
        p1 = store.add_candidate(_candidate("c8k3w8a8-gapw8", "proxy", {"val_acc": 0.90}))
        p2 = store.add_candidate(_candidate("c8k5w8a8-gapw8", "proxy", {"val_acc": 0.95}))
        store.add_candidate(_candidate("c8k7w8a8-gapw8", "proxy", {"val_acc": 0.99}, artifact=None))
    assert best_candidate(path) == p2 and p1 < p2
    with Store(path) as store:
        r1 = store.add_candidate(_candidate("c8k3w8a8-gapw8", "refine", {"test_acc_mean": 0.91}))
        store.add_candidate(_candidate("c8k5w8a8-gapw8", "refine", {"test_acc_mean": 0.91}))
    assert best_candidate(path) == r1  # refined candidates first; a tie goes to the lower id
    empty = tmp_path / "empty.sqlite"
    Store(empty).close()
    with pytest.raises(StoreError, match="no candidate with an artifact"):
        best_candidate(empty)


# ---- builds: every kernel combination bit-exact, under sanitizers, on rv32 ------------------------------

# a-bits chains whose consecutive pairs cover all 9 (in, out) activation pairs; the first block reads int8.
_CHAINS = ((8, 8, 4, 4, 2, 2, 8, 2), (2, 2, 4, 8), (4,))


def coverage_genomes():
    """Genomes over 8 input channels that together run every conv kernel (u2/u4/u8 and i8 inputs, u2/u4/u8
    outputs, 2/4/8-bit weights), every maxpool, avgpool and linear, strides, dilations, odd lengths."""
    out = []
    for rotation in range(3):
        for c, chain in enumerate(_CHAINS):
            blocks = []
            for j, a in enumerate(chain):
                w = BITS[(j + rotation) % 3]
                extra = (
                    ("s2" if j == 1 else "") + ("d2" if j % 3 == 2 else "") + ("p2" if j in (0, 4) else "")
                )
                extra += "p3" if j == 3 and c == 0 else ""
                blocks.append(f"c8k3{extra}w{w}a{a}")
            head = ("gap", "flat")[(rotation + c) % 2]
            out.append("-".join([*blocks, f"{head}w{BITS[(rotation + c) % 3]}"]))
    return out


def test_coverage_genomes_reach_every_kernel():
    kernels = set()
    for g in coverage_genomes():
        model = random_model(g, 8, 128, 6)
        for layer in model.layers:
            if layer.kind == "conv":
                kernels.add(
                    ("conv", "i" if layer.in_signed else "u", layer.in_bits, layer.out_bits, layer.w_bits)
                )
            elif layer.kind == "linear":
                kernels.add(("linear", layer.in_bits, layer.w_bits))
            else:
                kernels.add((layer.kind, layer.bits))
    convs = {k for k in kernels if k[0] == "conv"}
    assert {(i, o, w) for _, s, i, o, w in convs if s == "u"} == {
        (i, o, w) for i in BITS for o in BITS for w in BITS
    }
    assert {(o, w) for _, s, i, o, w in convs if s == "i"} == {(o, w) for o in BITS for w in BITS}
    assert {k for k in kernels if k[0] in ("maxpool", "gap")} == {
        (k, b) for k in ("maxpool", "gap") for b in BITS
    }


@pytest.mark.toolchain
@needs("asan")
@pytest.mark.parametrize("genome", coverage_genomes())
def test_every_reference_kernel_is_bit_exact_under_sanitizers(genome, tmp_path):
    """The reference set (the optimized one: test_deploy_kernels.py, and kernel by kernel
    test_kernels_opt.py)."""
    project = generate(
        artifact_of(genome, channels=8), tmp_path / "p", "rv32", random_windows(8, 8, 128, seed=3), "ref"
    )
    result = run(project, "asan")
    assert result.windows == 8 and result.bit_exact


@pytest.mark.toolchain
@needs("asan")
def test_gap8_project_runs_bit_exact_on_the_host(tmp_path):
    """The gap8 network.c (L1 layout, weight staging, time along H) with harx's kernels, on the host."""
    genome = "c16k7s3d3p3w8a4-c8k4d2w2a2-c24k3p2w8a8-c16k2w4a4-flatw4"
    project = generate(artifact_of(genome), tmp_path / "g", "gap8", random_windows(6, 9, 128))
    assert "time along H" in (tmp_path / "g" / "network.c").read_text()
    assert run(project, "asan").bit_exact


@pytest.mark.toolchain
@needs("host")
def test_a_wrong_logit_is_caught(tmp_path):
    project = generate(artifact_of(GENOME), tmp_path / "p", "host", random_windows(4, 9, 128))
    data = tmp_path / "p" / "test_data.c"
    text = data.read_text()
    head, logits = text.split("harx_test_logits", 1)
    first = re.search(r"\{(-?\d+),", logits)
    tampered = logits[: first.start(1)] + str(int(first.group(1)) + 1) + logits[first.end(1) :]
    data.write_text(head + "harx_test_logits" + tampered)
    result = run(project, "host")
    assert result.windows == 4 and result.mismatched_windows == 1 and not result.bit_exact
    # And a checksum that differs from the numpy model's is caught on the Python side too.
    data.write_text(text)
    project.expected_checksums[2] ^= 1
    assert run(project, "host").mismatched_windows == 1


@pytest.mark.toolchain
@needs("rv32")
@pytest.mark.parametrize("kernels", ["opt", "ref"])
def test_rv32_counts_are_exact_repeatable_and_sizes_are_the_plans(kernels, tmp_path):
    project = generate(artifact_of(GENOME), tmp_path / "p", "rv32", random_windows(3, 9, 128), kernels)
    first = run(project, "rv32")
    shutil.rmtree(tmp_path / "p" / "build")
    second = run(project, "rv32")
    assert first.bit_exact and second.bit_exact
    assert first.instructions == second.instructions
    ins = first.instructions
    assert len(ins.per_inference) == 3 and len(ins.per_layer) == len(project.plan.layers)
    assert sum(ins.per_layer) == pytest.approx(ins.mean)
    # Only data-dependent branches (clip, max) move the count between windows.
    assert ins.max - ins.min < 0.001 * ins.mean
    sizes = first.sizes
    assert sizes.weights_bytes == project.plan.ro_bytes
    assert sizes.buffers_bytes == sizes.bss_bytes == project.plan.ram_bytes
    assert sizes.data_bytes == 0 and 0 < sizes.inference_code_bytes < sizes.text_bytes
