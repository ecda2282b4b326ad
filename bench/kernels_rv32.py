"""Exact rv32 instructions per MAC of harx's reference kernels (harx_ref.h) and optimized kernels (harx_opt.h).

For each genome ``c32k5w8a{a}-c32k5w{w}a{a}-gapw{w}`` (a, w in 8/4/2; input 9 channels x 128 samples,
6 classes) a random-weight integer model (harx.deploy.synthetic) gives four layers: the first conv
(signed int8 window, 9 -> 32 channels, 8-bit weights, a-bit output), the 32 -> 32 conv (a-bit input,
w-bit weights), the global average pool and the classifier. Two more models with an 8-channel input give
the first layer with 4- and 2-bit weights. Each kernel is the file a generated project holds
(harx.deploy.kernel_c.source of a harx.cost.lowering.Kernel: PULP-NN signature, the template's call into
harx_ref.h or, for its optimized twin, harx_opt.h), its own translation unit. One bare rv32imc ELF (the generated
projects' flags) runs every model's layer sequence twice, with the reference and the optimized kernels,
called from ``harx_infer`` as network.c calls them; the qemu plugin (harx/deploy/csrc/icount_plugin.c)
counts the instructions of each kernel call exactly (from its entry to the next call's: the per-layer split
of harx.deploy.toolchain). The ELF compares every layer's output of the two runs byte for byte, and the
logits with the numpy integer model's. The reference sums equal a generated project's measured counts
(9.36, 10.65 and 15.10 instructions per MAC for the three networks below, checked on 2026-12-04).

Whole networks: the three genomes of issue 17 as `harx deploy --target rv32 --run --json` builds and counts
them (the generated project, `make count`: exact instructions per inference inside harx_infer and its
kernels), with the default kernel set (opt) and with `--kernels ref`, on 20 real uci-har test windows (a
random-weight artifact of the genome on uci-har: needs uci-har in $HARX_HOME, `harx fetch uci-har`),
divided by the network's MACs; next to them the sum of the per-layer measurements of the bench ELF.

    .venv/bin/python bench/kernels_rv32.py                  # about a minute
    .venv/bin/python bench/kernels_rv32.py --no-hot         # HARX_OPT_HOT without the scheduling switch
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from harx.cost import estimate
from harx.cost.lowering import Kernel
from harx.deploy import opt_layout
from harx.deploy.kernel_c import signature, source
from harx.deploy.synthetic import random_model, random_windows
from harx.models.genome import parse_genome
from harx.quant.artifact import Artifact, save
from harx.quant.integer import IntConv, IntGap, IntLinear
from harx.quant.packing import pack

ROOT = Path(__file__).resolve().parents[1]
CSRC = ROOT / "harx" / "deploy" / "csrc"
RESULTS = ROOT / "bench" / "results"
PREFIX = "riscv64-unknown-elf-"
# The rv32 flags of harx/deploy/templates/Makefile.in.
RV32_CFLAGS = [
    "-std=c99",
    "-Wall",
    "-Wextra",
    "-O2",
    "-march=rv32imc",
    "-mabi=ilp32",
    "-ffreestanding",
    "-fno-builtin",
    "-fno-tree-loop-distribute-patterns",
    "-msmall-data-limit=0",
]
RV32_LDFLAGS = ["-march=rv32imc", "-mabi=ilp32", "-nostdlib", "-static", "-Wl,--no-relax"]
CHANNELS, LENGTH, CLASSES = 9, 128, 6
# Issue 17's bars: whole-network instructions per MAC.
BARS = {
    "c32k5w8a8-c32k5w8a8-gapw8": 4.0,
    "c32k5w8a4-c32k5w4a4-gapw4": 3.5,
    "c32k5w8a2-c32k5w2a2-gapw2": 3.5,
}
GENOMES_8BIT, GENOMES_2BIT = "c32k5w8a8-c32k5w8a8-gapw8", "c32k5w8a2-c32k5w2a2-gapw2"
MODELS = [(f"c32k5w8a{a}-c32k5w{w}a{a}-gapw{w}", CHANNELS) for a in (8, 4, 2) for w in (8, 4, 2)]
MODELS += [("c32k5w4a4-c32k5w4a4-gapw4", 8), ("c32k5w2a2-c32k5w2a2-gapw2", 8)]


@dataclass
class LayerCount:
    """One layer of one model: its kernel (kind, input, output and weight bits), MACs and instructions."""

    model: str
    in_channels: int
    index: int
    kind: str
    shape: str
    in_tag: str
    out_bits: int
    w_bits: int
    macs: int
    ref_instructions: int
    opt_instructions: int

    @property
    def ref_per_mac(self) -> float:
        return self.ref_instructions / self.macs if self.macs else float("nan")

    @property
    def opt_per_mac(self) -> float:
        return self.opt_instructions / self.macs if self.macs else float("nan")


def _bytes(name: str, data: np.ndarray) -> str:
    body = ",".join(str(int(v)) for v in np.asarray(data).astype(np.uint8).reshape(-1))
    return f"static const uint8_t {name}[{max(data.size, 1)}] __attribute__((aligned(4))) = {{{body}}};"


def _int32(name: str, data: np.ndarray, static: bool = True) -> str:
    body = ",".join(f"(int32_t){int(v)}" for v in np.asarray(data).reshape(-1))
    return f"{'static ' if static else ''}const int32_t {name}[{len(data)}] = {{{body}}};"


@dataclass
class _Source:
    """C pieces of the bench ELF: the kernel files (function name -> source) and their prototypes
    (harx_kernels.h), inference.c's data and calls, main.c's declarations and checks."""

    kernels: dict[str, str]
    protos: list[str]
    data: list[str]
    calls: dict[str, list[str]]
    externs: list[str]
    checks: list[str]
    layers: list[tuple[str, int, dict]]


def _kernel(src: _Source, variant: str, kernel: Kernel) -> str:
    """The name of the kernel function of ``variant`` (the optimized one is ``<name>_opt``, so both live in
    one ELF); its file and prototype are added once."""
    name = kernel.name if variant == "ref" else f"{kernel.name}_opt"
    if name not in src.kernels:
        src.kernels[name] = source(kernel, "harx_ref" if variant == "ref" else "harx_opt", name)
        src.protos.append(signature(kernel, name) + ";")
    return name


def _conv(src: _Source, p: str, variant: str, prev: str, out: str, spec, layer: IntConv) -> str:
    """The call of a conv as harx.deploy.codegen writes it (time along W)."""
    if variant == "ref":
        opt = opt_layout.conv_weights(layer.weights, layer.w_bits, layer.in_bits, layer.in_signed)
        src.data += [
            _bytes(f"{p}_wref", pack(layer.weights, layer.w_bits)),
            _bytes(f"{p}_wopt", opt),
            _int32(f"{p}_kappa", layer.kappa),
            _int32(f"{p}_lambda", layer.lam),
        ]
    name = _kernel(src, variant, Kernel("conv", spec.in_bits, spec.out_bits, spec.w_bits, layer.in_signed))
    in_t = "int8_t *" if layer.in_signed else "uint8_t *"
    col = "col_ref" if variant == "ref" else "col_opt"
    return (
        f"{name}(({in_t}){prev}, ({in_t}){col}, NULL, {out}, (int8_t *){p}_w{variant}, (int32_t *){p}_kappa, "
        f"(int32_t *){p}_lambda, 0, (uint16_t){layer.shift}, {spec.lin}, 1, {spec.cin}, {spec.lout}, 1, "
        f"{spec.cout}, {spec.kernel}, 1, 0, 0, {layer.pad_left}, {layer.pad_right}, {spec.stride}, 1, 1, 1);"
    )


def _gap(src: _Source, variant: str, prev: str, out: str, spec, layer: IntGap) -> str:
    name = _kernel(src, variant, Kernel("avgpool", spec.in_bits, spec.in_bits))
    return (
        f"{name}({prev}, {out}, {layer.m * spec.lin}, (uint16_t){layer.shift}, 0, {spec.lin}, 1, {spec.cin}, "
        f"1, 1, {spec.lin}, 1, 0, 0, 0, 0, {spec.lin}, 1, 1);"
    )


def _linear(src: _Source, p: str, variant: str, prev: str, out: str, spec, layer: IntLinear) -> str:
    if variant == "ref":
        src.data += [
            _bytes(f"{p}_wref", pack(layer.weights, layer.w_bits)),
            _bytes(f"{p}_wopt", opt_layout.linear_weights(layer.weights, layer.w_bits, layer.in_bits)),
            _int32(f"{p}_bias", layer.bias),
        ]
    name = _kernel(src, variant, Kernel("linear_i32", spec.in_bits, w_bits=spec.w_bits))
    return (
        f"{name}({prev}, (int8_t *){p}_bias, (int8_t *){out}, (int8_t *){p}_w{variant}, {spec.cin}, "
        f"{spec.cout});"
    )


def _add_model(src: _Source, m: int, genome: str, channels: int, seed: int) -> None:
    """Model m's data, the calls of its layers with the reference and the optimized kernels, and the checks:
    every layer's outputs equal, the final logits equal to the numpy model's."""
    model = random_model(genome, channels, LENGTH, CLASSES, seed)
    window = random_windows(1, channels, LENGTH, seed)[0]
    specs = parse_genome(genome).layers(channels, LENGTH, CLASSES)
    src.data.append(_bytes(f"m{m}_window", window.astype(np.int8).view(np.uint8)))
    src.data.append(_int32(f"m{m}_logits", np.array(model.run(window[None])[0]), static=False))
    src.externs.append(f"extern const int32_t m{m}_logits[];")
    for variant in ("ref", "opt"):
        prev = f"m{m}_window"
        for i, (spec, layer) in enumerate(zip(specs, model.layers, strict=True)):
            p, out = f"m{m}_l{i}", f"m{m}_l{i}_{variant}_out"
            if isinstance(layer, IntConv):
                out_bytes = spec.lout * spec.cout * spec.out_bits // 8
                call = _conv(src, p, variant, prev, out, spec, layer)
                kind, shape = "conv", f"{spec.cin}->{spec.cout} k{spec.kernel} x{spec.lin}"
            elif isinstance(layer, IntGap):
                out_bytes = spec.cout * spec.in_bits // 8
                call = _gap(src, variant, prev, out, spec, layer)
                kind, shape = "gap", f"{spec.cin}ch x{spec.lin}"
            else:
                out_bytes = 4 * spec.cout
                call = _linear(src, p, variant, prev, out, spec, layer)
                kind, shape = "linear", f"{spec.cin}->{spec.cout}"
            src.data.append(f"uint8_t {out}[{out_bytes}] __attribute__((aligned(4)));")
            src.externs.append(f"extern uint8_t {out}[];")
            src.calls[variant].append(f"    {call}")
            prev = out
            if variant == "opt":
                src.checks.append(f"    bad += differ(m{m}_l{i}_ref_out, {out}, {out_bytes}u);")
                continue
            signed = isinstance(layer, IntConv) and layer.in_signed
            desc = {
                "index": i,
                "kind": kind,
                "shape": shape,
                "in_tag": f"{'i' if signed else 'u'}{spec.in_bits}",
                "out_bits": spec.out_bits,
                "w_bits": spec.w_bits,
                "macs": spec.macs,
            }
            src.layers.append((genome, channels, desc))
        if variant == "opt":
            src.checks.append(f"    bad += differ({prev}, (const uint8_t *)m{m}_logits, {4 * CLASSES}u);")


def _write_sources(work: Path, src: _Source, hot: bool) -> None:
    no_hot = "" if hot else "#define HARX_OPT_HOT __attribute__((noinline))\n"
    for name, text in src.kernels.items():  # one translation unit per kernel, as in a generated project
        (work / f"{name}.c").write_text(no_hot + text)
    (work / "harx_kernels.h").write_text(
        "#ifndef HARX_KERNELS_H\n#define HARX_KERNELS_H\n#include <stdint.h>\n"
        + "\n".join(src.protos)
        + "\n#endif\n"
    )
    (work / "inference.c").write_text(
        "/* inference.c: the data and harx_infer, which calls every layer (the counted range, with the kernels). */\n"
        '#include <stddef.h>\n#include <stdint.h>\n\n#include "harx_kernels.h"\n\n'
        "static uint8_t col_ref[640] __attribute__((aligned(4)));\n"
        "static uint8_t col_opt[640] __attribute__((aligned(4)));\n"
        + "\n".join(src.data)
        + "\n\nvoid harx_infer(void);\nvoid harx_infer(void)\n{\n"
        + "\n".join(src.calls["ref"] + src.calls["opt"])
        + "\n}\n"
    )
    (work / "main.c").write_text(
        '/* main.c: runs harx_infer once and checks its outputs. */\n#include <stdint.h>\n#include "harx_io.h"\n\n'
        + "\n".join(src.externs)
        + "\nvoid harx_infer(void);\n\n"
        "static uint32_t differ(const uint8_t *a, const uint8_t *b, uint32_t n)\n{\n    uint32_t i;\n"
        "    for (i = 0; i < n; i++)\n        if (a[i] != b[i])\n            return 1;\n    return 0;\n}\n\n"
        "int harx_test_main(void);\nint harx_test_main(void)\n{\n    uint32_t bad = 0;\n    harx_infer();\n"
        + "\n".join(src.checks)
        + '\n    harx_puts("mismatches ");\n    harx_put_uint(bad);\n    harx_puts("\\n");\n    return bad != 0;\n}\n'
    )


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def _footprint(obj: Path, function: str) -> dict:
    """A kernel file's code bytes (its text symbols: the kernel function and the harx_opt.h hot functions
    it instantiates) and stack bytes at its deepest (the kernel's frame plus the largest frame of a function
    it defines: the hot functions are the only ones it calls), from nm -S and gcc -fstack-usage."""
    listed = _run([PREFIX + "nm", "-S", "--defined-only", str(obj)]).stdout.split("\n")
    code = sum(int(p[1], 16) for p in (line.split() for line in listed) if len(p) == 4 and p[2] in "tT")
    frames = {
        line.split("\t")[0].rsplit(":", 1)[-1]: int(line.split("\t")[1])
        for line in obj.with_suffix(".su").read_text().splitlines()
    }
    own = frames.pop(function)
    return {"function": function, "code_bytes": code, "stack_bytes": own + max(frames.values(), default=0)}


def build_and_count(work: Path, hot: bool) -> tuple[list[LayerCount], list[dict], str]:
    """Write, build and run the ELF; return the per-layer counts, each kernel file's code and stack bytes
    and the compiler's version line."""
    src = _Source({}, [], [], {"ref": [], "opt": []}, [], [], [])
    for m, (genome, channels) in enumerate(MODELS):
        _add_model(src, m, genome, channels, seed=100 + m)
    _write_sources(work, src, hot)
    gcc = PREFIX + "gcc"
    objs = []
    # The counted objects first and contiguous: harx_infer and the kernels (inference_range.sh checks it).
    sources = [work / "inference.c", *(work / f"{k}.c" for k in src.kernels), work / "main.c"]
    for path in (*sources, CSRC / "harx_io.c", CSRC / "platform_rv32.c"):
        obj = work / (path.stem + ".o")
        _run([gcc, *RV32_CFLAGS, "-fstack-usage", f"-I{work}", f"-I{CSRC}", "-c", str(path), "-o", str(obj)])
        objs.append(str(obj))
    footprints = [_footprint(work / f"{k}.o", k) for k in src.kernels]
    elf, plugin, counts = work / "bench.elf", work / "icount_plugin.so", work / "icount.txt"
    _run([gcc, *RV32_LDFLAGS, *objs, "-lgcc", "-o", str(elf)])
    _run(["cc", "-shared", "-fPIC", "-O2", str(CSRC / "icount_plugin.c"), "-o", str(plugin)])
    span = _run(
        ["sh", str(CSRC / "inference_range.sh"), str(elf), *objs[: 1 + len(src.kernels)]],
        env={"NM": PREFIX + "nm", "PATH": "/usr/bin:/bin"},
    ).stdout.strip()
    done = subprocess.run(
        ["qemu-riscv32", "-plugin", f"{plugin},{span},out={counts}", str(elf)], capture_output=True, text=True
    )
    if done.returncode != 0 or done.stdout.strip() != "mismatches 0":
        raise SystemExit(
            f"the optimized kernels differ from the reference or the model:\n{done.stdout}{done.stderr}"
        )
    total, before = 0, []
    for line in counts.read_text().splitlines():
        parts = line.split()
        if parts[0] == "inference":
            total = int(parts[2])
        else:
            before.append(int(parts[4]))
    spans = np.diff([*before, total])
    n = len(src.layers)
    if len(spans) != 2 * n:
        raise SystemExit(f"expected {2 * n} kernel calls, the plugin saw {len(spans)}")
    layers = [
        LayerCount(
            g,
            ch,
            d["index"],
            d["kind"],
            d["shape"],
            d["in_tag"],
            d["out_bits"],
            d["w_bits"],
            d["macs"],
            int(spans[j]),
            int(spans[n + j]),
        )
        for j, (g, ch, d) in enumerate(src.layers)
    ]
    return layers, footprints, _run([gcc, "--version"]).stdout.splitlines()[0]


DEPLOY_WINDOWS = 20


def _deploy(genome: str, kernels: str, work: Path) -> dict:
    """``harx deploy --target rv32 --run --json`` of a random-weight uci-har artifact of ``genome`` (the
    default kernel set when ``kernels`` is opt, ``--kernels ref`` otherwise): its rv32 run."""
    art_dir = work / f"{genome}-artifact"
    if not art_dir.exists():
        model = random_model(genome, CHANNELS, LENGTH, CLASSES, seed=7)
        save(
            Artifact(model, genome, "uci-har", "", [0.0] * CHANNELS, [1.0] * CHANNELS, list("abcdef")),
            art_dir,
        )
    cmd = [sys.executable, "-m", "harx", "deploy", "--artifact", str(art_dir), "--target", "rv32"]
    cmd += ["--out", str(work / f"{genome}-{kernels}"), "--windows", str(DEPLOY_WINDOWS), "--run", "--json"]
    cmd += [] if kernels == "opt" else ["--kernels", kernels]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr}{done.stdout[-2000:]}")
    out = json.loads(done.stdout)
    (rv32,) = out["runs"]
    if out["kernel_set"] != kernels or not rv32["bit_exact"]:
        raise SystemExit(f"{genome} ({kernels}): not bit-exact, or the wrong kernel set: {out['kernel_set']}")
    shown = f"harx deploy --artifact ART --target rv32 --out OUT --windows {DEPLOY_WINDOWS} --run --json"
    return {"command": shown + ("" if kernels == "opt" else f" --kernels {kernels}"), **rv32}


def networks(layers: list[LayerCount], work: Path) -> list[dict]:
    rows = []
    for genome, bar in BARS.items():
        mine = [c for c in layers if c.model == genome and c.in_channels == CHANNELS]
        macs = estimate(genome, "rv32").macs
        if macs != sum(c.macs for c in mine):
            raise SystemExit(
                f"{genome}: the bench ELF's layers have {sum(c.macs for c in mine)} MACs, not {macs}"
            )
        ref, opt = sum(c.ref_instructions for c in mine), sum(c.opt_instructions for c in mine)
        deployed = {k: _deploy(genome, k, work) for k in ("opt", "ref")}
        per_mac = {k: d["instructions"]["mean"] / macs for k, d in deployed.items()}
        rows.append(
            {
                "genome": genome,
                "macs": macs,
                "deploy_opt_per_mac": per_mac["opt"],
                "deploy_ref_per_mac": per_mac["ref"],
                "deploy_opt": deployed["opt"],
                "deploy_ref": deployed["ref"],
                "layer_sum_ref_per_mac": ref / macs,
                "layer_sum_opt_per_mac": opt / macs,
                "bar_per_mac": bar,
                "meets_bar": per_mac["opt"] <= bar,
            }
        )
    return rows


def _layer_sum_lines(layers: list[LayerCount]) -> list[str]:
    """Whole networks as sums of this ELF's per-layer counts (the generated projects always build with
    HARX_OPT_HOT, so --no-hot deploys nothing)."""
    lines = [
        "## Whole networks (9 ch x 128 samples, 6 classes): sums of the per-layer counts",
        "",
        "| genome | MACs | ref instr/MAC | opt instr/MAC |",
        "|---|---|---|---|",
    ]
    for genome in BARS:
        mine = [c for c in layers if c.model == genome and c.in_channels == CHANNELS]
        macs = sum(c.macs for c in mine)
        ref, opt = (sum(getattr(c, f"{k}_instructions") for c in mine) / macs for k in ("ref", "opt"))
        lines.append(f"| `{genome}` | {macs:,} | {ref:.2f} | {opt:.2f} |")
    return [*lines, ""]


def _network_lines(nets: list[dict]) -> list[str]:
    lines = [
        "## Whole networks (9 ch x 128 samples, 6 classes): `harx deploy --target rv32 --run`",
        "",
        f"Instructions per inference (mean over {DEPLOY_WINDOWS} real uci-har test windows, exact, `make count` of "
        "the generated project; every window bit-exact) divided by the network's MACs, with the default kernel "
        "set (opt) and `--kernels ref`; next to them the sums of this bench's per-layer counts.",
        "",
        "| genome | MACs | deploy ref instr/MAC | deploy opt instr/MAC | bar | meets | per-layer sums ref / opt |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in nets:
        lines.append(
            f"| `{r['genome']}` | {r['macs']:,} | {r['deploy_ref_per_mac']:.2f} | {r['deploy_opt_per_mac']:.2f} | "
            f"<= {r['bar_per_mac']} | {'yes' if r['meets_bar'] else 'NO'} | {r['layer_sum_ref_per_mac']:.2f} / "
            f"{r['layer_sum_opt_per_mac']:.2f} |"
        )
    two, eight = (next(r for r in nets if r["genome"] == g) for g in (GENOMES_2BIT, GENOMES_8BIT))
    faster = two["deploy_opt_per_mac"] <= eight["deploy_opt_per_mac"]
    return [
        *lines,
        "",
        f"2-bit network no slower per MAC than the 8-bit one: {two['deploy_opt_per_mac']:.2f} vs "
        f"{eight['deploy_opt_per_mac']:.2f} ({'yes' if faster else 'NO'}). Command: "
        f"`{nets[0]['deploy_opt']['command']}` (and with `--kernels ref`), ART a random-weight uci-har artifact "
        "of the genome.",
        "",
    ]


def _footprint_lines(footprints: list[dict]) -> list[str]:
    """Code and stack of each kernel file, the reference (``name``) beside the optimized (``name_opt``)."""
    by_name = {f["function"]: f for f in footprints}
    lines = [
        "## Kernel files: code and stack (bytes, rv32)",
        "",
        "Code: the text symbols of the kernel's object (its function and the harx_opt.h hot functions it "
        "instantiates). Stack: the kernel's frame plus the largest frame of a function it defines (gcc "
        "-fstack-usage; the hot functions are the only calls), the deepest a kernel call goes.",
        "",
        "| kernel | ref code | opt code | ref stack | opt stack |",
        "|---|---|---|---|---|",
    ]
    for name in sorted(n for n in by_name if not n.endswith("_opt")):
        ref, opt = by_name[name], by_name[f"{name}_opt"]
        lines.append(
            f"| `{name}` | {ref['code_bytes']:,} | {opt['code_bytes']:,} | {ref['stack_bytes']:,} "
            f"| {opt['stack_bytes']:,} |"
        )
    return [*lines, ""]


def write(
    layers: list[LayerCount], footprints: list[dict], nets: list[dict], version: str, hot: bool
) -> None:
    stem = "kernels_rv32" if hot else "kernels_rv32_no_hot"
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {
        "date": datetime.date.today().isoformat(),
        "compiler": version,
        "flags": " ".join(RV32_CFLAGS),
        "harx_opt_hot": hot,
        "layers": [asdict(c) | {"ref_per_mac": c.ref_per_mac, "opt_per_mac": c.opt_per_mac} for c in layers],
        "networks": nets,
        "kernel_files": footprints,
    }
    (RESULTS / f"{stem}.json").write_text(json.dumps(payload, indent=1) + "\n")
    lines = [
        "# rv32 instructions per MAC: reference vs optimized kernels",
        "",
        f"Exact qemu counts, {version}, `{' '.join(RV32_CFLAGS)}`"
        + ("" if hot else ", HARX_OPT_HOT = noinline only (gcc's first scheduling pass on)")
        + f". Generated by `bench/kernels_rv32.py` on {payload['date']}.",
        "",
    ]
    lines += _network_lines(nets) if nets else _layer_sum_lines(layers)
    lines += [
        "## 32 -> 32 channels, k5, 128 pixels (output bits = input bits): ref / opt instructions per MAC",
        "",
        "| input \\ weights | w8 | w4 | w2 |",
        "|---|---|---|---|",
    ]
    middle = {(c.in_tag, c.w_bits): c for c in layers if c.kind == "conv" and c.index == 1}
    for tag in ("u8", "u4", "u2"):
        cells = [middle[(tag, w)] for w in (8, 4, 2)]
        lines.append(
            f"| {tag} | " + " | ".join(f"{c.ref_per_mac:.2f} / {c.opt_per_mac:.2f}" for c in cells) + " |"
        )
    lines += [
        "",
        "## First layer (signed int8 window, k5, 128 pixels): ref / opt instructions per MAC",
        "",
        "| layer | -> u8 | -> u4 | -> u2 |",
        "|---|---|---|---|",
    ]
    first = {(c.in_channels, c.w_bits, c.out_bits): c for c in layers if c.kind == "conv" and c.index == 0}
    for ch, w in ((CHANNELS, 8), (8, 4), (8, 2)):
        cells = [first.get((ch, w, o)) for o in (8, 4, 2)]
        text = [f"{c.ref_per_mac:.2f} / {c.opt_per_mac:.2f}" if c else "-" for c in cells]
        lines.append(f"| {ch} -> 32, w{w} | " + " | ".join(text) + " |")
    lines += ["", *_footprint_lines(footprints)]
    lines += [
        "## Per layer",
        "",
        "| model | layer | kernel | MACs | ref instr | opt instr | ref/MAC | opt/MAC | speed-up |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in layers:
        tag = (
            f"{c.kind} {c.in_tag}"
            + (f" w{c.w_bits}" if c.w_bits else "")
            + (f" -> u{c.out_bits}" if c.kind == "conv" else "")
        )
        per = (f"{c.ref_per_mac:.2f}", f"{c.opt_per_mac:.2f}") if c.macs else ("-", "-")
        lines.append(
            f"| `{c.model}` ({c.in_channels} ch) | {c.index}: {c.shape} | {tag} | {c.macs} | {c.ref_instructions} | "
            f"{c.opt_instructions} | {per[0]} | {per[1]} | {c.ref_instructions / c.opt_instructions:.2f}x |"
        )
    (RESULTS / f"{stem}.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--no-hot", action="store_true", help="HARX_OPT_HOT = noinline only (gcc's first scheduling pass on)"
    )
    parser.add_argument("--work", type=Path, help="build here and keep the sources, objects and ELF")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        layers, footprints, version = build_and_count(work, hot=not args.no_hot)
        nets = networks(layers, work) if not args.no_hot else []
    write(layers, footprints, nets, version, hot=not args.no_hot)
    for r in nets:
        print(
            f"{r['genome']}: harx deploy --run: ref {r['deploy_ref_per_mac']:.2f}, opt {r['deploy_opt_per_mac']:.2f} "
            f"instr/MAC (bar {r['bar_per_mac']})"
        )


if __name__ == "__main__":
    main()
