"""The C emitter: the pieces every generated project is made of, for a single network
(``harx.deploy.codegen``) and an adaptive one (``harx.deploy.adaptive_c``) alike.

A layer becomes a ``Step``: its spec, its integer layer, its place in the memory plan and its lowering
(``harx.cost.lowering``: the kernel, geometry and implementation the cost model priced, for the kernel set
``opt`` or ``ref``). From steps come ``weights.c`` (the read-only arrays in the plan's sizes; a layer on
harx's optimized kernels gets ``harx.deploy.opt_layout``'s weight order, the others ``pack``'s), the
kernel calls of ``network.c``, and the support files. Every
buffer is sized and placed from ``harx.cost.memory.plan`` (the single source of truth for memory), so the
RAM and flash the cost model estimates for a genome are what the C allocates. C text lives in
``csrc/`` (copied) and ``templates/`` (filled).
"""

from __future__ import annotations

import json
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harx import __version__
from harx.cost import LayerMemory, Lowered, TensorSlot, deploy_plan_targets, load_target, lower
from harx.cost.memory import ProgramMemory, align_up
from harx.deploy import opt_layout
from harx.deploy.kernel_c import TEMPLATES, KernelFile, call, fill, library_sources, signature, source
from harx.errors import ConfigError
from harx.models.genome import LayerSpec
from harx.paths import check_generated_dir, file_manifest, regenerated_dir
from harx.quant.integer import INT32_MAX, INT32_MIN, IntConv, IntegerModel, IntGap, IntLinear, IntMaxPool
from harx.quant.packing import pack

CSRC = Path(__file__).resolve().parent / "csrc"
PROJECT_FILE = "harx_project.json"
# What the project's `make clean` removes: build outputs, not the user's files; a rewrite removes them too
# (they were built from the sources it replaces).
BUILD_OUTPUTS = ("build", "BUILD")
UINT16_MAX = 2**16 - 1
_COPIED = (
    "harx_ref.h",
    "harx_platform.h",
    "harx_io.h",
    "harx_io.c",
    "main.c",
    "platform_host.c",
    "platform_rv32.c",
    "platform_gap8.c",
)
_TOOLS = ("icount_plugin.c", "inference_range.sh")


def deploy_targets() -> tuple[str, ...]:
    """The ``harx deploy --target`` names (the target YAMLs' ``deploy_targets``)."""
    return tuple(deploy_plan_targets())


def plan_target(target: str) -> str:
    """The cost target that plans and prices the C of deploy target ``target``; ConfigError if unknown."""
    plans = deploy_plan_targets()
    if target not in plans:
        raise ConfigError(f"deploy target '{target}' is not one of {', '.join(plans)}")
    return plans[target]


def template(name: str, **values: object) -> str:
    """A file of ``templates/`` with its ``@KEY@`` placeholders filled (and the harx version)."""
    text = (TEMPLATES / name).read_text()
    return fill(text, {"HARX_VERSION": __version__, **{k: str(v) for k, v in values.items()}})


def logits_checksum(logits: np.ndarray) -> np.ndarray:
    """FNV-1a of each row of int32 logits over its bytes, least significant first (main.c's checksum)."""
    data = np.ascontiguousarray(np.asarray(logits).astype("<i4")).view(np.uint8).reshape(len(logits), -1)
    h = np.full(len(logits), 2166136261, dtype=np.uint64)
    for col in data.T:
        h = ((h ^ col) * 16777619) & 0xFFFFFFFF
    return h.astype(np.uint32)


def c_int32(v: int) -> str:
    return "(-2147483647 - 1)" if v == INT32_MIN else str(int(v))


def c_rows(rows: np.ndarray, fmt=str) -> str:
    """Rows of a 2-D array as C initializer lines ``    {a,b,...}``."""
    return ",\n".join("    {" + ",".join(fmt(v) for v in row) + "}" for row in rows)


# ---------------------------------------------------------------------------------------------------------
# Steps: a layer as network.c runs it
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One layer as network.c runs it: ``index`` in the program, its spec, integer layer, plan entry and
    lowering."""

    index: int
    spec: LayerSpec
    layer: object
    mem: LayerMemory
    lowered: Lowered

    @property
    def time_on_h(self) -> bool:
        return self.lowered.time_axis == "H"


def check_layers(model: IntegerModel, specs: list[LayerSpec], where: str) -> None:
    """The integer model's layers must be the genome's layer sequence (shapes and bit widths)."""
    if len(specs) != len(model.layers):
        raise ConfigError(
            f"{where}: the genome has {len(specs)} layers, the integer model {len(model.layers)}"
        )
    for i, (spec, layer) in enumerate(zip(specs, model.layers, strict=True)):
        if spec.kind != layer.kind:
            raise ConfigError(
                f"{where}: layer {i} is {layer.kind} in the model but {spec.kind} in the genome"
            )
        if isinstance(layer, IntConv):
            got = (layer.cin, layer.cout, layer.kernel, layer.stride, layer.dilation, layer.pad_left)
            want = (spec.cin, spec.cout, spec.kernel, spec.stride, spec.dilation, spec.pad_left)
            got += (layer.w_bits, layer.in_bits, layer.out_bits, layer.in_signed)
            want += (spec.w_bits, spec.in_bits, spec.out_bits, spec.in_signed)
        elif isinstance(layer, IntLinear):
            got = (layer.cin, layer.cout, layer.w_bits, layer.in_bits)
            want = (spec.cin, spec.cout, spec.w_bits, spec.in_bits)
        elif isinstance(layer, IntMaxPool):
            got, want = (layer.size, layer.bits), (spec.kernel, spec.in_bits)
        else:
            got, want = (layer.bits,), (spec.in_bits,)
        if got != want:
            raise ConfigError(
                f"{where}: layer {i} ({spec.kind}) of the integer model does not match the genome "
                f"({got} vs {want})"
            )
        for name in ("cin", "cout", "lin", "lout"):
            if getattr(spec, name) > UINT16_MAX:
                raise ConfigError(
                    f"{where}: layer {i} {name}={getattr(spec, name)} exceeds the kernels' uint16"
                )


def steps(
    specs: list[LayerSpec], layers: list, mems, target: str, first_index: int = 0, kernels: str | None = None
) -> list[Step]:
    """The steps of ``layers`` (checked against ``specs`` by ``check_layers``), lowered for deploy target
    ``target`` with the kernel set ``kernels`` (None: the target's default) and numbered from
    ``first_index``."""
    tgt = load_target(plan_target(target))
    for i, spec in enumerate(specs):
        _check_rows(first_index + i, spec)
    return [
        Step(first_index + i, spec, layer, mem, lower(spec, tgt, kernels))
        for i, (spec, layer, mem) in enumerate(zip(specs, layers, mems, strict=True))
    ]


def _check_rows(index: int, spec: LayerSpec) -> None:
    """Every kernel reads a pixel's codes and an output channel's weight row as whole bytes (a genome's
    packing rules guarantee it; an early-exit head's features are the exit layer's channels)."""
    if spec.kind not in ("conv", "linear"):
        return
    taps = spec.kernel * spec.cin
    what = f"{spec.kernel} x {spec.cin} taps" if spec.kind == "conv" else f"{spec.cin} input features"
    if taps * spec.w_bits % 8 or spec.cin * spec.in_bits % 8:
        raise ConfigError(
            f"layer {index} ({spec.kind}): {what} of {spec.w_bits}-bit weights and {spec.in_bits}-bit codes are "
            "not whole bytes per row; the kernels need channels in multiples of 8 / bits"
        )


def kernel_set(target: str, kernels: str | None) -> str:
    """The kernel set deploy target ``target`` builds with (``kernels``, or its default when None);
    ConfigError when its cost target does not price that set."""
    return load_target(plan_target(target)).kernel_set(kernels)


def check_windows(windows: np.ndarray, model: IntegerModel) -> np.ndarray:
    w = np.asarray(windows)
    if w.ndim != 3 or w.shape[1:] != (model.in_len, model.in_channels) or len(w) < 1:
        raise ConfigError(
            f"test windows: expected int8 codes shaped (N, {model.in_len}, {model.in_channels}), got {w.shape}"
        )
    if w.min() < -128 or w.max() > 127:
        raise ConfigError("test windows: codes must be int8 (-128..127)")
    return w.astype(np.int8)


# ---------------------------------------------------------------------------------------------------------
# weights.c / weights.h
# ---------------------------------------------------------------------------------------------------------


class WeightsC:
    """The read-only data of weights.c in the plan's sizes: per-layer arrays, and one int32 constants table
    (each conv's requant shift, the GAP's m and s, in layer order) that weights.h names with macros."""

    def __init__(self, align: int) -> None:
        self.align = align
        self.defs: list[str] = []
        self.decls: list[str] = []
        self.names: list[str] = []  # the arrays, in definition order
        self.sizes: dict[str, int] = {}
        self.constants: list[tuple[str, int, str, int]] = []  # (macro, value, what, layer)

    def bytes_array(self, name: str, data: np.ndarray, comment: str) -> None:
        """Packed bytes, zero-padded to the alignment the plan rounds every array up to."""
        size = align_up(len(data), self.align)
        items = [f"0x{b:02x}" for b in data] + ["0x00"] * (size - len(data))
        body = f"const uint8_t {name}[{size}] HARX_ALIGNED = {{\n{_rows(items, 16)}\n}};"
        self._add(name, f"extern const uint8_t {name}[{size}];", size, f"/* {comment} */\n{body}")

    def int32_array(self, name: str, values: np.ndarray, comment: str) -> None:
        items = [c_int32(v) for v in values]
        body = f"const int32_t {name}[{len(items)}] HARX_ALIGNED = {{\n{_rows(items, 8)}\n}};"
        self._add(
            name, f"extern const int32_t {name}[{len(items)}];", 4 * len(items), f"/* {comment} */\n{body}"
        )

    def constant(self, macro: str, value: int, what: str, layer: int) -> None:
        self.constants.append((macro, int(value), what, layer))

    def _add(self, name: str, decl: str, size: int, definition: str) -> None:
        self.names.append(name)
        self.sizes[name] = size
        self.decls.append(decl)
        self.defs.append(definition)

    @property
    def ro_bytes(self) -> int:
        """Every array and the constants table: what the memory plan counts as flash."""
        return sum(self.sizes.values()) + 4 * len(self.constants)

    def layer_bytes(self, layer: int) -> int:
        arrays = sum(size for name, size in self.sizes.items() if name.startswith(f"l{layer}_"))
        return arrays + 4 * sum(1 for c in self.constants if c[3] == layer)

    def header(self) -> str:
        macros = "\n".join(
            f"#define {macro} (harx_constants[{i}]) /* {what} */"
            for i, (macro, _, what, _) in enumerate(self.constants)
        )
        return (
            "/* weights.h: the read-only arrays of weights.c. */\n#ifndef HARX_WEIGHTS_H\n#define HARX_WEIGHTS_H\n\n"
            "#include <stdint.h>\n\n" + "\n".join(self.decls) + "\n\n/* int32 constants, in layer order. */\n"
            f"extern const int32_t harx_constants[{len(self.constants)}];\n{macros}\n\n#endif\n"
        )

    def source(self, intro: str) -> str:
        rows = "\n".join(f"    {c_int32(v)}, /* {macro}: {what} */" for macro, v, what, _ in self.constants)
        table = f"const int32_t harx_constants[{len(self.constants)}] HARX_ALIGNED = {{\n{rows}\n}};"
        return (
            f'{intro}\n#include "weights.h"\n\n#include "harx_platform.h"\n\n'
            + "\n\n".join([*self.defs, table])
            + "\n"
        )


def _rows(items: list[str], per_line: int) -> str:
    return "\n".join(
        "    " + ", ".join(items[i : i + per_line]) + "," for i in range(0, len(items), per_line)
    )


def _weight_bytes(st: Step) -> tuple[np.ndarray, str]:
    """A conv's or classifier's weight bytes in the order its kernel reads them, and their comment: the
    optimized kernels' block order (``opt_layout``) for a layer lowered to them, else PULP-NN's packing."""
    layer, i = st.layer, st.index
    what = "weights" if isinstance(layer, IntConv) else "classifier weights"
    if st.lowered.implementation != "harx_opt":
        order = "[ch_out][k][ch_in]" if isinstance(layer, IntConv) else "[class][feature]"
        return pack(layer.weights, layer.w_bits), f"layer {i}: {layer.w_bits}-bit {what} {order}, packed"
    if isinstance(layer, IntConv):
        data = opt_layout.conv_weights(layer.weights, layer.w_bits, layer.in_bits, layer.in_signed)
    else:
        data = opt_layout.linear_weights(layer.weights, layer.w_bits, layer.in_bits)
    return data, f"layer {i}: {layer.w_bits}-bit {what} in harx_opt.h's block order (opt_layout)"


def weights_c(steps: list[Step], align: int) -> WeightsC:
    """The read-only arrays of ``steps``, each layer's checked against its memory plan entry."""
    w = WeightsC(align)
    for st in steps:
        layer, i = st.layer, st.index
        if isinstance(layer, IntConv):
            w.bytes_array(f"l{i}_weights", *_weight_bytes(st))
            w.int32_array(f"l{i}_kappa", layer.kappa, f"layer {i}: requant multipliers kappa[ch_out]")
            w.int32_array(
                f"l{i}_lambda", layer.lam, f"layer {i}: requant offsets lambda[ch_out] (bias folded in)"
            )
            w.constant(f"HARX_L{i}_SHIFT", layer.shift, f"layer {i}: conv requant shift", i)
        elif isinstance(layer, IntGap):
            if layer.m * st.spec.lin > INT32_MAX:
                raise ConfigError(
                    f"layer {i}: GAP multiplier {layer.m} x {st.spec.lin} samples exceeds int32"
                )
            w.constant(f"HARX_L{i}_GAP_M", layer.m, f"layer {i}: global average pool multiplier m", i)
            w.constant(f"HARX_L{i}_GAP_SHIFT", layer.shift, f"layer {i}: global average pool shift", i)
        elif isinstance(layer, IntLinear):
            w.bytes_array(f"l{i}_weights", *_weight_bytes(st))
            w.int32_array(f"l{i}_bias", layer.bias, f"layer {i}: int32 classifier bias[class]")
        if w.layer_bytes(i) != st.mem.ro_bytes:  # both come from the same shapes: a mismatch is a harx bug
            raise RuntimeError(
                f"layer {i}: weights.c holds {w.layer_bytes(i)} B, the memory plan {st.mem.ro_bytes} B"
            )
    return w


# ---------------------------------------------------------------------------------------------------------
# network.c / network.h
# ---------------------------------------------------------------------------------------------------------


def _slot_ptr(slot: TensorSlot, ctype: str) -> str:
    if slot.buffer == "input":
        return f"({ctype})io->window"
    if slot.buffer == "logits":
        return f"({ctype})io->logits"
    name = f"harx_{slot.buffer}"  # harx_arena, or harx_exit (an early-exit head's own buffer)
    base = name if slot.offset_bytes == 0 else f"({name} + {slot.offset_bytes})"
    return base if ctype == "uint8_t *" else f"({ctype}){base}"


def _dims(st: Step, length: int) -> tuple[str, str]:
    """(dim_x, dim_y) of a 1-D tensor of ``length`` samples in this layer's geometry."""
    return ("1", str(length)) if st.time_on_h else (str(length), "1")


def _args(st: Step, ro: dict[str, str]) -> dict[str, str]:
    """The kernel arguments of one layer by parameter name; ``ro`` maps array names to the pointer
    expression to pass."""
    spec, layer, m = st.spec, st.layer, st.mem
    p = f"l{st.index}"
    if isinstance(layer, IntConv):
        in_t = "int8_t *" if layer.in_signed else "uint8_t *"
        pads = (
            (layer.pad_left, layer.pad_right, 0, 0)
            if st.time_on_h
            else (0, 0, layer.pad_left, layer.pad_right)
        )
        args = {
            "pIn": _slot_ptr(m.input, in_t),
            "pIm2ColBuffer": f"({in_t})harx_im2col",
            "pBias": "NULL",
            "pOut": _slot_ptr(m.output, "uint8_t *"),
            "pWeight": f"(int8_t *){ro[p + '_weights']}",
            "pKappa": f"(int32_t *){ro[p + '_kappa']}",
            "pLambda": f"(int32_t *){ro[p + '_lambda']}",
            "out_mult": "0",
            "out_shift": f"(uint16_t)HARX_L{st.index}_SHIFT",
            **dict(zip(("dim_in_x", "dim_in_y"), _dims(st, spec.lin), strict=True)),
            "ch_in": str(spec.cin),
            **dict(zip(("dim_out_x", "dim_out_y"), _dims(st, spec.lout), strict=True)),
            "ch_out": str(spec.cout),
            **dict(zip(("dim_kernel_x", "dim_kernel_y"), _dims(st, spec.kernel), strict=True)),
            **dict(
                zip(
                    ("padding_y_top", "padding_y_bottom", "padding_x_left", "padding_x_right"),
                    map(str, pads),
                    strict=True,
                )
            ),
            **dict(zip(("stride_x", "stride_y"), _dims(st, layer.stride), strict=True)),
            "flag_relu": "1",
            "flag_batchnorm": "1",
        }
        if st.lowered.kernel.dilated:
            args.update(zip(("dilation_x", "dilation_y"), _dims(st, layer.dilation), strict=True))
        return args
    if isinstance(layer, IntMaxPool | IntGap):
        args = {"pIn": _slot_ptr(m.input, "uint8_t *"), "pOut": _slot_ptr(m.output, "uint8_t *")}
        if isinstance(layer, IntGap):
            # pulp_nn_avgpool multiplies by lambda / pool size: lambda = m * pool size gives m exactly.
            args.update(
                {
                    "lambda": f"HARX_L{st.index}_GAP_M * {spec.kernel}",
                    "out_shift": f"(uint16_t)HARX_L{st.index}_GAP_SHIFT",
                    "out_add": "0",
                    "flag_requant": "1",
                }
            )
        args.update(zip(("dim_im_in_x", "dim_im_in_y"), _dims(st, spec.lin), strict=True))
        args["ch_im_in"] = str(spec.cin)
        args.update(zip(("dim_im_out_x", "dim_im_out_y"), _dims(st, spec.lout), strict=True))
        args.update(zip(("dim_kernel_x", "dim_kernel_y"), _dims(st, spec.kernel), strict=True))
        args.update({"padding_t": "0", "padding_b": "0", "padding_l": "0", "padding_r": "0"})
        args.update(zip(("stride_x", "stride_y"), _dims(st, spec.stride), strict=True))
        return args
    return {
        "pIn": _slot_ptr(m.input, "uint8_t *"),
        "pBias": f"(int8_t *){ro[p + '_bias']}",
        "pOut": _slot_ptr(m.output, "int8_t *"),
        "pWeight": f"(int8_t *){ro[p + '_weights']}",
        "dim_vec": str(spec.cin),
        "num_o_neurons": str(spec.cout),
    }


def _staging(st: Step, w: WeightsC) -> tuple[list[str], dict[str, str]]:
    """On a DMA target (staging buffer in the plan), copy the layer's arrays into it and read them there."""
    arrays = [n for n in w.names if n.startswith(f"l{st.index}_")]
    if not st.mem.staged_bytes:
        return [], {n: n for n in arrays}
    lines, ptrs, off = [], {}, 0
    for n in arrays:
        lines.append(f"    harx_stage(harx_weight_buffer + {off}, {n}, sizeof {n});")
        ptrs[n] = f"(harx_weight_buffer + {off})"
        off += w.sizes[n]
    if off != st.mem.staged_bytes:
        raise RuntimeError(f"layer {st.index}: stages {off} B, the memory plan {st.mem.staged_bytes} B")
    return lines, ptrs


def layer_lines(steps: list[Step], w: WeightsC) -> list[str]:
    """network.c's lines for ``steps``: per layer a comment, its weight staging (DMA targets) and its call."""
    lines = []
    for st in steps:
        stage, ptrs = _staging(st, w)
        geometry = "time along H" if st.time_on_h else "time along W"
        lines.append(f"    /* layer {st.index}: {st.spec.describe()} ({geometry}) */")
        if st.lowered.fallback:
            lines.append(f"    /* the reference kernel: {st.lowered.fallback} */")
        lines += stage
        macro = "HARX_REF_KERNEL" if st.lowered.kernel.harx_only else "HARX_KERNEL"
        lines.append(call(st.lowered.kernel, _args(st, ptrs), macro, st.lowered.function))
    return lines


def ram_buffers(mp: ProgramMemory) -> list[tuple[str, str, int, str, bool]]:
    """The static RAM buffers network.c declares, sized by the plan: (C type, name, elements, what, static)."""
    bufs = [
        ("int8_t", "harx_window", mp.input_bytes, "the input window (the caller fills it)", False),
        ("int32_t", "harx_logits", mp.logits_bytes // 4, "the logits", False),
        (
            "uint8_t",
            "harx_arena",
            mp.arena_bytes,
            "activations: layer inputs and outputs at opposite ends",
            True,
        ),
        ("uint8_t", "harx_im2col", mp.im2col_bytes, "im2col scratch of the convolutions", True),
    ]
    if mp.weight_buffer_bytes:
        bufs.append(
            (
                "uint8_t",
                "harx_weight_buffer",
                mp.weight_buffer_bytes,
                "staging buffer for read-only arrays",
                True,
            )
        )
    return bufs


def network_c(
    title: str,
    mp: ProgramMemory,
    bufs: list[tuple[str, str, int, str, bool]],
    body: list[str],
    *,
    exits: bool = False,
    helpers: str = "",
) -> str:
    """network.c: the static buffers ``bufs``, ``harx_layers`` running ``body`` (on every core where the
    platform forks) and ``harx_infer``. With ``exits``, the layers may set ``io->exited`` (an adaptive
    network stopping at its first stage), published as ``harx_exited``; ``helpers`` are C functions the
    body calls."""
    decl = "\n".join(
        f"{'static ' if static else ''}HARX_L1 {t} {n}[{size}] HARX_ALIGNED; /* {what} */"
        for t, n, size, what, static in bufs
    )
    ram = " + ".join(f"{n} {s * (4 if t == 'int32_t' else 1)}" for t, n, s, _, _ in bufs)
    return template(
        "network.c.in",
        TITLE=title,
        PLAN_TARGET=mp.target,
        RAM=ram,
        RAM_BYTES=mp.ram_bytes,
        DECL=decl,
        STATE="\nint harx_exited;\n" if exits else "",
        FIELD="\n    int exited;" if exits else "",
        HELPERS=helpers,
        CONST="" if exits else "const ",
        BODY="\n".join(body),
        START="\n    io.exited = 0;" if exits else "",
        PUBLISH="\n    harx_exited = io.exited;" if exits else "",
    )


def network_h(model: IntegerModel, mp: ProgramMemory, title: str, api: str = "") -> str:
    """network.h of a network reading ``model``'s windows; ``api`` adds declarations (adaptive modes)."""
    return template(
        "network.h.in",
        GENOME=title,
        CHANNELS=model.in_channels,
        LENGTH=model.in_len,
        CLASSES=model.n_classes,
        INPUT_BYTES=mp.input_bytes,
        LOGITS=mp.logits_bytes // 4,
        API=api,
    )


# ---------------------------------------------------------------------------------------------------------
# Support files and writing the project
# ---------------------------------------------------------------------------------------------------------


def support_files(kernels: list[KernelFile], title: str, target: str) -> dict[str, str]:
    """The files every generated project holds besides its network, weights and test data: the kernels
    (each over its implementation's header; a library kernel over harx's reference, which the host build
    of a library target runs), the copied sources, the counting tools and the build files (``title`` names
    the model in them)."""
    opt = any(k.implementation == "harx_opt" for k in kernels)
    values = {
        "HARX_VERSION": __version__,
        "GENOME": title,
        "TARGET": target,
        "LIBRARY_SRCS": " ".join(s for k in kernels if not k.own for s in library_sources(k.kernel)),
        "HARX_ONLY_KERNELS": " ".join(f"kernels/{k.function}.c" for k in kernels if k.own),
        "REFERENCE_KERNELS": " ".join(f"kernels/{k.function}.c" for k in kernels if not k.own),
    }
    headers = {
        "LIBRARY": "\n\n".join(signature(k.kernel, k.function) + ";" for k in kernels if not k.own),
        "OWN": "\n\n".join(signature(k.kernel, k.function) + ";" for k in kernels if k.own),
    }
    return {
        "harx_kernels.h": template("harx_kernels.h.in", **headers),
        **{f"kernels/{k.function}.c": source(k.kernel, k.body, k.function) for k in kernels},
        **{name: (CSRC / name).read_text() for name in _COPIED + (("harx_opt.h",) if opt else ())},
        **{f"tools/{name}": (CSRC / name).read_text() for name in _TOOLS},
        "Makefile": fill((TEMPLATES / "Makefile.in").read_text(), values),
        "gap8.mk": fill((TEMPLATES / "gap8.mk.in").read_text(), values),
    }


def check_project_dir(out: str | Path, force: bool = False) -> None:
    """Refuse, before any work, to write a project into ``out`` when that would lose a file: see
    ``harx.paths.check_generated_dir`` (``force`` keeps the user's files and overwrites edited ones)."""
    check_generated_dir(out, PROJECT_FILE, "a project", force=force, outputs=BUILD_OUTPUTS)


def write_project(out: Path, files: dict[str, str], meta: dict, force: bool = False) -> None:
    """Write ``files`` and ``PROJECT_FILE`` (``meta`` with the sha256 of every file under "files") into a
    temporary sibling directory, then swap it in: a failure leaves ``out`` as it was. A project harx wrote
    before is replaced when none of its files was edited and it holds no other file (build outputs
    aside), or with ``force``, which keeps the other files and the edited files not written again."""
    with regenerated_dir(out, PROJECT_FILE, "a project", force=force, outputs=BUILD_OUTPUTS) as tmp:
        for name, text in files.items():
            path = tmp / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(text.encode("utf-8"))
        script = tmp / "tools" / "inference_range.sh"
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
        meta = {**meta, "files": file_manifest(tmp)}
        (tmp / PROJECT_FILE).write_text(json.dumps(meta, indent=1) + "\n")
