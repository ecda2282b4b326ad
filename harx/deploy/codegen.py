"""Generate the C project of one integer model: network, weights, kernels, test harness, Makefile.

Every buffer is sized and placed from ``harx.cost.memory.plan`` (the single source of truth for memory):
the activation arena with its two-ended tensor slots, the im2col scratch, the input window, the logits
and, on a DMA target, the weight staging buffer; every read-only array is declared with the plan's
aligned size. So the RAM and flash the cost model estimates for a genome are what the C allocates.
"""

from __future__ import annotations

import json
import stat
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harx import __version__
from harx.cost import LayerMemory, MemoryPlan, TensorSlot, estimate, load_target, plan
from harx.cost.memory import ProgramMemory, align_up
from harx.deploy.kernels import TEMPLATES, Kernel, fill
from harx.errors import ConfigError
from harx.models.genome import LayerSpec, parse_genome
from harx.paths import staged_dir
from harx.quant.artifact import Artifact
from harx.quant.integer import IntConv, IntegerModel, IntGap, IntLinear, IntMaxPool
from harx.quant.packing import pack

CSRC = Path(__file__).resolve().parent / "csrc"
DEPLOY_TARGETS = ("gap8", "rv32", "host")
# The host build runs the same portable C as rv32, so it gets rv32's memory plan.
PLAN_TARGET = {"gap8": "gap8", "rv32": "rv32", "host": "rv32"}
PROJECT_FILE = "harx_project.json"
UINT16_MAX = 2**16 - 1
INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
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


@dataclass
class Project:
    """A generated C project: where it is, what it runs, and what the numpy integer model expects.

    ``expected_classes``/``expected_checksums`` are per test window (the checksum main.c prints);
    ``weight_symbols`` are the read-only arrays of weights.c, ``buffer_symbols`` the RAM buffers of network.c.
    """

    path: Path
    target: str
    genome: str
    kernels: tuple[str, ...]
    plan: MemoryPlan
    window_count: int
    expected_classes: np.ndarray = field(repr=False)
    expected_checksums: np.ndarray = field(repr=False)
    weight_symbols: tuple[str, ...] = field(repr=False)
    buffer_symbols: tuple[str, ...] = field(repr=False)


@dataclass(frozen=True)
class _Step:
    """One layer as network.c runs it."""

    index: int
    spec: LayerSpec
    layer: object
    mem: LayerMemory
    kernel: Kernel
    time_on_h: bool


def logits_checksum(logits: np.ndarray) -> np.ndarray:
    """FNV-1a of each row of int32 logits over its bytes, least significant first (main.c's checksum)."""
    data = np.ascontiguousarray(np.asarray(logits).astype("<i4")).view(np.uint8).reshape(len(logits), -1)
    h = np.full(len(logits), 2166136261, dtype=np.uint64)
    for col in data.T:
        h = ((h ^ col) * 16777619) & 0xFFFFFFFF
    return h.astype(np.uint32)


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
            want += (spec.w_bits, spec.in_bits, spec.out_bits, spec.block == 0)
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


def _kernel(spec: LayerSpec, layer) -> Kernel:
    if isinstance(layer, IntConv):
        return Kernel("conv", spec.in_bits, spec.out_bits, spec.w_bits, layer.in_signed, layer.dilation > 1)
    if isinstance(layer, IntMaxPool):
        return Kernel("maxpool", spec.in_bits)
    if isinstance(layer, IntGap):
        return Kernel("avgpool", spec.in_bits, spec.in_bits)
    return Kernel("linear_i32", spec.in_bits, w_bits=spec.w_bits)


def _time_on_h(genome: str, model: IntegerModel, target: str) -> list[bool]:
    """Per layer, whether time runs along H (W = 1) rather than W (H = 1). The data layout is the same;
    on gap8 the cost model picks the faster geometry per layer and the C follows it, elsewhere H = 1."""
    if target != "gap8":
        return [False] * len(model.layers)
    cost = estimate(
        genome, "gap8", in_channels=model.in_channels, in_len=model.in_len, n_classes=model.n_classes
    )
    return [lc.time_axis == "H" for lc in cost.layers]


# ---------------------------------------------------------------------------------------------------------
# weights.c / weights.h
# ---------------------------------------------------------------------------------------------------------


def _c_int32(v: int) -> str:
    return "(-2147483647 - 1)" if v == INT32_MIN else str(int(v))


def _rows(items: list[str], per_line: int) -> str:
    return "\n".join(
        "    " + ", ".join(items[i : i + per_line]) + "," for i in range(0, len(items), per_line)
    )


class _Weights:
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
        items = [_c_int32(v) for v in values]
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
        rows = "\n".join(f"    {_c_int32(v)}, /* {macro}: {what} */" for macro, v, what, _ in self.constants)
        table = f"const int32_t harx_constants[{len(self.constants)}] HARX_ALIGNED = {{\n{rows}\n}};"
        return (
            f'{intro}\n#include "weights.h"\n\n#include "harx_platform.h"\n\n'
            + "\n\n".join([*self.defs, table])
            + "\n"
        )


def _weights(steps: list[_Step], align: int) -> _Weights:
    w = _Weights(align)
    for st in steps:
        layer, i = st.layer, st.index
        if isinstance(layer, IntConv):
            w.bytes_array(
                f"l{i}_weights",
                pack(layer.weights, layer.w_bits),
                f"layer {i}: {layer.w_bits}-bit weights [ch_out][k][ch_in], packed",
            )
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
            w.bytes_array(
                f"l{i}_weights",
                pack(layer.weights, layer.w_bits),
                f"layer {i}: {layer.w_bits}-bit classifier weights [class][feature], packed",
            )
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


def _dims(st: _Step, length: int) -> tuple[int, int]:
    """(dim_x, dim_y) of a 1-D tensor of ``length`` samples in this layer's geometry."""
    return (1, length) if st.time_on_h else (length, 1)


def _shape_comment(spec: LayerSpec) -> str:
    if spec.kind == "conv":
        extra = "".join(f" {k}{v}" for k, v in (("s", spec.stride), ("d", spec.dilation)) if v != 1)
        return (
            f"conv {spec.cin}x{spec.lin} -> {spec.cout}x{spec.lout}, k{spec.kernel}{extra}, "
            f"w{spec.w_bits} a{spec.in_bits}->a{spec.out_bits}"
        )
    if spec.kind == "linear":
        return f"linear {spec.cin} -> {spec.cout} int32 logits, w{spec.w_bits} a{spec.in_bits}"
    return f"{spec.kind} {spec.cin}x{spec.lin} -> {spec.cout}x{spec.lout}, a{spec.in_bits}"


def _call(st: _Step, ro: dict[str, str]) -> str:
    """The kernel call of one layer; ``ro`` maps array names to the pointer expression to pass."""
    spec, layer, k, m = st.spec, st.layer, st.kernel, st.mem
    p = f"l{st.index}"
    if isinstance(layer, IntConv):
        in_t = "int8_t *" if layer.in_signed else "uint8_t *"
        (in_x, in_y), (out_x, out_y) = _dims(st, spec.lin), _dims(st, spec.lout)
        k_x, k_y = _dims(st, spec.kernel)
        pads = (
            (layer.pad_left, layer.pad_right, 0, 0)
            if st.time_on_h
            else (0, 0, layer.pad_left, layer.pad_right)
        )
        s_x, s_y = _dims(st, layer.stride)
        args = [
            _slot_ptr(m.input, in_t),
            f"({in_t})harx_im2col",
            "NULL",
            _slot_ptr(m.output, "uint8_t *"),
            f"(int8_t *){ro[p + '_weights']}",
            f"(int32_t *){ro[p + '_kappa']}",
            f"(int32_t *){ro[p + '_lambda']}",
            "0",
            f"(uint16_t)HARX_L{st.index}_SHIFT",
            str(in_x),
            str(in_y),
            str(spec.cin),
            str(out_x),
            str(out_y),
            str(spec.cout),
            str(k_x),
            str(k_y),
            *map(str, pads),
            str(s_x),
            str(s_y),
            "1",
            "1",
        ]
        if k.dilated:
            args += list(map(str, _dims(st, layer.dilation)))
    elif isinstance(layer, IntMaxPool | IntGap):
        (in_x, in_y), (out_x, out_y) = _dims(st, spec.lin), _dims(st, spec.lout)
        k_x, k_y = _dims(st, spec.kernel)
        s_x, s_y = _dims(st, spec.stride)
        head = [_slot_ptr(m.input, "uint8_t *"), _slot_ptr(m.output, "uint8_t *")]
        if isinstance(layer, IntGap):
            # pulp_nn_avgpool multiplies by lambda / pool size: lambda = m * pool size gives m exactly.
            head += [f"HARX_L{st.index}_GAP_M * {spec.kernel}", f"(uint16_t)HARX_L{st.index}_GAP_SHIFT", "0"]
        dims = [in_x, in_y, spec.cin, out_x, out_y, k_x, k_y, 0, 0, 0, 0, s_x, s_y]
        args = head + list(map(str, dims)) + (["1"] if isinstance(layer, IntGap) else [])
    else:
        args = [
            _slot_ptr(m.input, "uint8_t *"),
            f"(int8_t *){ro[p + '_bias']}",
            _slot_ptr(m.output, "int8_t *"),
            f"(int8_t *){ro[p + '_weights']}",
            str(spec.cin),
            str(spec.cout),
        ]
    macro = "HARX_REF_KERNEL" if k.harx_only else "HARX_KERNEL"
    lines, line = [], f"    {macro}({k.name}("
    for a in args:
        piece = a + ", "
        if len(line) + len(piece) > 108:
            lines.append(line.rstrip())
            line = "        "
        line += piece
    lines.append(line[:-2] + "));")
    return "\n".join(lines)


def _staging(st: _Step, w: _Weights) -> tuple[list[str], dict[str, str]]:
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


def ram_buffers(mp) -> list[tuple[str, str, int, str, bool]]:
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


def buffer_decls(bufs: list[tuple[str, str, int, str, bool]]) -> tuple[str, str]:
    """(the C declarations of ``bufs``, a 'name bytes + ...' summary of their sizes)."""
    decl = "\n".join(
        f"{'static ' if static else ''}HARX_L1 {t} {n}[{size}] HARX_ALIGNED; /* {what} */"
        for t, n, size, what, static in bufs
    )
    return decl, " + ".join(f"{n} {s * (4 if t == 'int32_t' else 1)}" for t, n, s, _, _ in bufs)


def layer_lines(steps: list[_Step], w: _Weights) -> list[str]:
    """network.c's lines for ``steps``: per layer a comment, its weight staging (DMA targets) and its call."""
    lines = []
    for st in steps:
        stage, ptrs = _staging(st, w)
        geometry = "time along H" if st.time_on_h else "time along W"
        lines.append(f"    /* layer {st.index}: {_shape_comment(st.spec)} ({geometry}) */")
        lines += stage
        lines.append(_call(st, ptrs))
    return lines


def _network_c(steps: list[_Step], w: _Weights, mp: MemoryPlan, genome: str, target: str) -> str:
    decl, ram = buffer_decls(ram_buffers(mp))
    return network_c_source(f"{genome} for {target}", mp, decl, ram, layer_lines(steps, w))


def network_c_source(
    title: str,
    mp: ProgramMemory,
    decl: str,
    ram: str,
    body: list[str],
    *,
    exits: bool = False,
    helpers: str = "",
) -> str:
    """network.c: the static buffers, ``harx_layers`` running ``body`` (on every core where the platform
    forks) and ``harx_infer``. With ``exits``, the layers may set ``io->exited`` (an adaptive network stopping
    at its first stage), published as ``harx_exited``; ``helpers`` are C functions the body calls."""
    state = "\nint harx_exited;\n" if exits else ""
    field = "\n    int exited;" if exits else ""
    const = "" if exits else "const "
    start = "\n    io.exited = 0;" if exits else ""
    publish = "\n    harx_exited = io.exited;" if exits else ""
    return f"""/* network.c: {title}, generated by harx {__version__}.
 * Static buffers sized by harx's memory plan ({mp.target}): {ram} = {mp.ram_bytes} bytes of RAM. */
#include "network.h"

#include <stddef.h>

#include "harx_kernels.h"
#include "harx_platform.h"
#include "weights.h"

{decl}
{state}
struct harx_io {{
    const int8_t *window;
    int32_t *logits;{field}
}};
{helpers}
static void harx_layers(void *arg)
{{
    {const}struct harx_io *io = ({const}struct harx_io *)arg;
{chr(10).join(body)}
}}

int harx_infer(const int8_t *window, int32_t *logits)
{{
    struct harx_io io;
    int best = 0, c;
    io.window = window;
    io.logits = logits;{start}
    harx_run_layers(harx_layers, &io);{publish}
    for (c = 1; c < HARX_N_CLASSES; c++)
        if (logits[c] > logits[best])
            best = c;
    return best;
}}
"""


def _network_h(model: IntegerModel, mp: MemoryPlan, genome: str) -> str:
    return f"""/* network.h: {genome} ({model.in_channels} channels x {model.in_len} samples -> {model.n_classes} classes),
 * generated by harx {__version__}. Integer arithmetic only; every buffer is static. */
#ifndef HARX_NETWORK_H
#define HARX_NETWORK_H

#include <stdint.h>

#define HARX_CHANNELS {model.in_channels}
#define HARX_WINDOW_LEN {model.in_len}
#define HARX_WINDOW_BYTES (HARX_CHANNELS * HARX_WINDOW_LEN)
#define HARX_N_CLASSES {model.n_classes}

/* Buffers the caller may fill and read (HARX_WINDOW_BYTES and HARX_N_CLASSES used). */
extern int8_t harx_window[{mp.input_bytes}];
extern int32_t harx_logits[{mp.logits_bytes // 4}];

/* Classify one window: int8 codes time-major (window[t * HARX_CHANNELS + c], the input quantization of
 * the model), int32 logits out; returns the predicted class (the lowest index on ties). */
int harx_infer(const int8_t *window, int32_t *logits);

#endif /* HARX_NETWORK_H */
"""


def _kernels_h(kernels: list[Kernel]) -> str:
    lib = "\n\n".join(k.signature() + ";" for k in kernels if not k.harx_only)
    own = "\n\n".join(k.signature() + ";" for k in kernels if k.harx_only)
    return f"""/* harx_kernels.h: the kernels this network calls, with pulp-nn-mixed's names and argument lists.
 * Built with PULP_NN_MIXED (GAP8), the library's own header declares them; otherwise harx's reference
 * implementations in kernels/ define them. harx_* kernels exist only in harx. */
#ifndef HARX_KERNELS_H
#define HARX_KERNELS_H

#include <stdint.h>

#if defined(PULP_NN_MIXED)
#include "pulp_nn_kernels.h"
#else
{lib}
#endif

{own}

#endif /* HARX_KERNELS_H */
"""


def _test_data(windows: np.ndarray, expected: np.ndarray) -> tuple[str, str]:
    n = len(windows)
    rows_w = ",\n".join("    {" + ",".join(map(str, w.reshape(-1).tolist())) + "}" for w in windows)
    rows_l = ",\n".join("    {" + ",".join(_c_int32(v) for v in row) + "}" for row in expected)
    header = f"""/* test_data.h: {n} real test windows and the numpy integer model's logits for each. */
#ifndef HARX_TEST_DATA_H
#define HARX_TEST_DATA_H

#include <stdint.h>

#include "network.h"

#define HARX_TEST_WINDOWS {n}u
extern const int8_t harx_test_windows[{n}][HARX_WINDOW_BYTES];
extern const int32_t harx_test_logits[{n}][HARX_N_CLASSES];

#endif /* HARX_TEST_DATA_H */
"""
    source = f"""/* test_data.c: generated by harx {__version__}. */
#include "test_data.h"

const int8_t harx_test_windows[{n}][HARX_WINDOW_BYTES] = {{
{rows_w}
}};

const int32_t harx_test_logits[{n}][HARX_N_CLASSES] = {{
{rows_l}
}};
"""
    return header, source


# ---------------------------------------------------------------------------------------------------------
# The project
# ---------------------------------------------------------------------------------------------------------


def _check_windows(windows: np.ndarray, model: IntegerModel) -> np.ndarray:
    w = np.asarray(windows)
    if w.ndim != 3 or w.shape[1:] != (model.in_len, model.in_channels) or len(w) < 1:
        raise ConfigError(
            f"test windows: expected int8 codes shaped (N, {model.in_len}, {model.in_channels}), got {w.shape}"
        )
    if w.min() < -128 or w.max() > 127:
        raise ConfigError("test windows: codes must be int8 (-128..127)")
    return w.astype(np.int8)


def support_files(kernels: list[Kernel], title: str, target: str) -> dict[str, str]:
    """The files every generated project holds besides its network, weights and test data: the kernels,
    the copied sources, the counting tools and the build files (``title`` names the model in them)."""
    values = {
        "HARX_VERSION": __version__,
        "GENOME": title,
        "TARGET": target,
        "LIBRARY_SRCS": " ".join(s for k in kernels for s in k.library_sources()),
        "HARX_ONLY_KERNELS": " ".join(f"kernels/{k.name}.c" for k in kernels if k.harx_only),
        "REFERENCE_KERNELS": " ".join(f"kernels/{k.name}.c" for k in kernels if not k.harx_only),
    }
    return {
        "harx_kernels.h": _kernels_h(kernels),
        **{f"kernels/{k.name}.c": k.source() for k in kernels},
        **{name: (CSRC / name).read_text() for name in _COPIED},
        **{f"tools/{name}": (CSRC / name).read_text() for name in _TOOLS},
        "Makefile": fill((TEMPLATES / "Makefile.in").read_text(), values),
        "gap8.mk": fill((TEMPLATES / "gap8.mk.in").read_text(), values),
    }


def generate(artifact: Artifact, out_dir: str | Path, target: str, windows: np.ndarray) -> Project:
    """Write the C project of ``artifact`` for ``target`` (gap8, rv32 or host) into ``out_dir``.

    ``windows`` are int8 input codes (N, T, C) embedded in the test harness with the integer model's logits.
    ``out_dir`` must not exist, be empty, or hold a project harx generated (it is replaced atomically).
    """
    if target not in DEPLOY_TARGETS:
        raise ConfigError(f"deploy target '{target}' is not one of {', '.join(DEPLOY_TARGETS)}")
    model = artifact.model
    where = f"artifact genome '{artifact.genome}'"
    genome = parse_genome(artifact.genome)
    specs = genome.layers(model.in_channels, model.in_len, model.n_classes)
    check_layers(model, specs, where)
    mp = plan(specs, load_target(PLAN_TARGET[target]))
    if not mp.feasible:
        raise ConfigError(f"{where} does not fit {mp.target}: {mp.infeasible_reason}")
    windows = _check_windows(windows, model)
    expected = model.run(windows)
    geometry = _time_on_h(artifact.genome, model, target)
    steps = [
        _Step(i, spec, layer, mem, _kernel(spec, layer), h)
        for i, (spec, layer, mem, h) in enumerate(zip(specs, model.layers, mp.layers, geometry, strict=True))
    ]
    kernels = sorted({st.kernel for st in steps}, key=lambda k: k.name)
    weights = _weights(steps, mp.alignment_bytes)
    test_h, test_c = _test_data(windows, expected)
    files = {
        "network.h": _network_h(model, mp, genome.text()),
        "network.c": _network_c(steps, weights, mp, genome.text(), target),
        "weights.h": weights.header(),
        "weights.c": weights.source(
            f"/* weights.c: {genome.text()}, generated by harx {__version__}; every array 4-byte aligned and "
            f"padded as the memory plan counts it ({mp.ro_bytes} bytes). */"
        ),
        "test_data.h": test_h,
        "test_data.c": test_c,
        **support_files(kernels, genome.text(), target),
    }
    buffers = [name for _, name, _, _, _ in ram_buffers(mp)]
    project = Project(
        path=Path(out_dir),
        target=target,
        genome=genome.text(),
        kernels=tuple(k.name for k in kernels),
        plan=mp,
        window_count=len(windows),
        expected_classes=np.argmax(expected, axis=1),
        expected_checksums=logits_checksum(expected),
        weight_symbols=(*weights.names, "harx_constants"),
        buffer_symbols=tuple(buffers),
    )
    files[PROJECT_FILE] = json.dumps(_project_meta(project, artifact), indent=1) + "\n"
    _write_atomically(Path(out_dir), files)
    return project


def _project_meta(project: Project, artifact: Artifact) -> dict:
    return {
        "harx_version": __version__,
        "genome": project.genome,
        "target": project.target,
        "plan_target": project.plan.target,
        "dataset": artifact.dataset,
        "kernels": list(project.kernels),
        "ro_bytes": project.plan.ro_bytes,
        "ram_bytes": project.plan.ram_bytes,
        "window_count": project.window_count,
        "expected_classes": project.expected_classes.tolist(),
        "expected_checksums": project.expected_checksums.tolist(),
        "weight_symbols": list(project.weight_symbols),
        "buffer_symbols": list(project.buffer_symbols),
    }


def _write_atomically(out: Path, files: dict[str, str]) -> None:
    """Write into a temporary sibling directory, then swap it in: a failure leaves ``out`` as it was."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / PROJECT_FILE).is_file())):
        raise ConfigError(
            f"{out}: exists and is not a project harx generated; choose another output directory"
        )
    with staged_dir(out) as tmp:
        for name, text in files.items():
            path = tmp / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        script = tmp / "tools" / "inference_range.sh"
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
