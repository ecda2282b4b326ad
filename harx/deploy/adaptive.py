"""Adaptive networks: an early-exit head or a big/little cascade, integer confidence policies and a runtime
mode table, as a numpy golden model and as a generated C project checked against it bit for bit.

An adaptive network has two stages. The first (the network up to an early-exit head, or a little network)
runs on every window; when it is confident enough the inference stops with its logits, else the second
stage (the rest of the network, or the big network) runs and its logits are the output. A runtime mode is
a ``ModeRule`` (policy, threshold): stop iff ``confidence(first-stage logits, policy) >= threshold``.
``harx_set_mode(int mode)`` selects a row of the generated mode table. ``harx adapt`` (one floor up)
trains the networks and sweeps the thresholds; this module is the integer contract both sides share.

Confidence policies on the int32 logits l[0..n-1] of the first stage (top1 = max l, top2 = the largest
logit of the other classes, so a tie at the top gives a margin of 0):

- ``max_score``: top1;
- ``margin``: top1 - top2;
- ``mean_gap``: sum over c of (top1 - l[c]) = n*top1 - sum(l), n times the distance of top1 to the mean.

The C computes them in int32 exactly as written. Generation proves that no value overflows: with
B = max over classes of |bias| + sum |w| * (2^in_bits - 1), the largest |logit| any input can give, every
intermediate lies in [-2nB, 2nB] and 2nB < 2^31 - 1 is checked, so ``NEVER`` (INT32_MAX) stops nothing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harx import __version__
from harx.cost import load_target, plan
from harx.cost.memory import CascadePlan, MemoryPlan, cascade_plan, exit_head_layers
from harx.deploy.codegen import (
    _COPIED,
    CSRC,
    DEPLOY_TARGETS,
    INT32_MAX,
    INT32_MIN,
    PLAN_TARGET,
    PROJECT_FILE,
    _c_int32,
    _call,
    _check_windows,
    _kernel,
    _kernels_h,
    _network_h,
    _shape_comment,
    _staging,
    _Step,
    _time_on_h,
    _weights,
    _write_atomically,
    check_layers,
    logits_checksum,
)
from harx.deploy.kernels import TEMPLATES, fill
from harx.deploy.toolchain import (
    _MAKE_TARGET,
    _MISMATCH_LINE,
    ElfSizes,
    InstructionCount,
    RunResult,
    _make,
    _tail,
    elf_sizes,
    missing_tools,
)
from harx.errors import ConfigError, DataError, ToolchainError
from harx.models.genome import parse_genome
from harx.quant.artifact import Artifact
from harx.quant.artifact import load as load_artifact
from harx.quant.artifact import save as save_artifact
from harx.quant.integer import IntGap, IntLinear

POLICIES = ("max_score", "margin", "mean_gap")  # the C's policy ids are the indices
KINDS = ("early_exit", "cascade")
ALWAYS = INT32_MIN  # the threshold of the mode that always stops after the first stage
NEVER = INT32_MAX  # ... and of the mode that never does
ADAPTIVE_FILE = "adaptive.json"
FORMAT_VERSION = 1
INT8_MIN, INT8_MAX = -128, 127


# ---------------------------------------------------------------------------------------------------------
# Policies
# ---------------------------------------------------------------------------------------------------------


def confidence(logits: np.ndarray, policy: str) -> np.ndarray:
    """Confidence (int64 array, one per row) of int32 logits (N, n_classes) under ``policy``."""
    if policy not in POLICIES:
        raise ConfigError(f"policy '{policy}' is not one of {', '.join(POLICIES)}")
    x = np.asarray(logits, dtype=np.int64)
    if x.ndim != 2 or x.shape[1] < 2:
        raise ValueError(f"expected logits of shape (N, n_classes >= 2), got {x.shape}")
    top = np.sort(x, axis=1)
    if policy == "max_score":
        return top[:, -1]
    if policy == "margin":
        return top[:, -1] - top[:, -2]
    return (top[:, -1:] - x).sum(axis=1)


def logit_bound(head: IntLinear) -> int:
    """The largest |logit| the classifier ``head`` can output for any unsigned input codes."""
    w = np.abs(head.weights.astype(np.int64)).sum(axis=1) * (2**head.in_bits - 1)
    return int((np.abs(head.bias.astype(np.int64)) + w).max())


def check_policy_range(head: IntLinear, where: str) -> int:
    """Refuse a first-stage classifier whose logits could overflow a policy's int32 arithmetic; returns B."""
    bound = logit_bound(head)
    if 2 * head.cout * bound >= INT32_MAX:
        raise ConfigError(
            f"{where}: its logits can reach {bound:,}, so the confidence policies could overflow int32 "
            f"(2 x {head.cout} classes x {bound:,} >= 2^31 - 1)"
        )
    return bound


@dataclass(frozen=True)
class ModeRule:
    """One runtime mode: stop after the first stage iff ``confidence(logits, policy) >= threshold``."""

    policy: str
    threshold: int

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ConfigError(f"mode policy '{self.policy}' is not one of {', '.join(POLICIES)}")
        if not INT32_MIN <= self.threshold <= INT32_MAX:
            raise ConfigError(f"mode threshold {self.threshold} does not fit int32")

    def stops(self, first_logits: np.ndarray) -> np.ndarray:
        return confidence(first_logits, self.policy) >= self.threshold


# ---------------------------------------------------------------------------------------------------------
# The integer adaptive model
# ---------------------------------------------------------------------------------------------------------


@dataclass
class InputRescale:
    """Per-channel requantization of int8 window codes into another network's input quantization:
    ``clip((kappa[c] * x + lam[c]) >> shift, -128, 127)``, int32 throughout (the shift is chosen so)."""

    kappa: np.ndarray
    lam: np.ndarray
    shift: int

    def run(self, codes: np.ndarray) -> np.ndarray:
        v = (codes.astype(np.int64) * self.kappa + self.lam) >> self.shift
        return np.clip(v, INT8_MIN, INT8_MAX).astype(np.int8)


@dataclass
class AdaptiveModel:
    """An adaptive network as integers. ``first`` is the network with its one early-exit head
    (``early_exit``) or the little network (``cascade``); ``big`` the cascade's second network and
    ``rescale`` the requantization of the window into its input (None when both quantize alike).
    ``modes`` is the runtime mode table, ``default_mode`` the mode in force after reset."""

    kind: str
    first: Artifact
    modes: tuple[ModeRule, ...]
    big: Artifact | None = None
    rescale: InputRescale | None = None
    default_mode: int = -1

    def __post_init__(self) -> None:
        self.modes = tuple(self.modes)
        if self.default_mode < 0:
            self.default_mode += len(self.modes)
        self.validate()

    def validate(self) -> None:
        where = f"adaptive model ({self.kind})"
        if self.kind not in KINDS:
            raise ConfigError(f"adaptive model kind '{self.kind}' is not one of {', '.join(KINDS)}")
        if not self.modes:
            raise ConfigError(f"{where}: the mode table is empty")
        if not 0 <= self.default_mode < len(self.modes):
            raise ConfigError(f"{where}: default mode {self.default_mode} is not in 0..{len(self.modes) - 1}")
        m = self.first.model
        if self.kind == "early_exit":
            if len(m.exits) != 1 or self.big is not None:
                raise ConfigError(
                    f"{where}: needs one network with exactly one exit head, has {len(m.exits)} heads"
                )
        else:
            if self.big is None:
                raise ConfigError(f"{where}: needs a big network")
            b = self.big.model
            if (m.in_len, m.in_channels, m.n_classes) != (b.in_len, b.in_channels, b.n_classes):
                raise ConfigError(
                    f"{where}: the little network reads {m.in_channels}x{m.in_len} windows into "
                    f"{m.n_classes} classes, the big one {b.in_channels}x{b.in_len} into {b.n_classes}"
                )
        if m.n_classes < 2:
            raise ConfigError(f"{where}: a confidence policy needs at least 2 classes")

    @property
    def exit_layer(self) -> int:
        """Early exit: the main layer whose output the exit head reads."""
        return next(iter(self.first.model.exits))

    @property
    def first_head(self) -> IntLinear:
        """The classifier whose logits the policies score."""
        m = self.first.model
        head = m.exits[self.exit_layer][-1] if self.kind == "early_exit" else m.layers[-1]
        return head

    def describe(self) -> str:
        if self.kind == "cascade":
            return f"{self.first.genome} -> {self.big.genome}"
        spec = parse_genome(self.first.genome).layers(
            self.first.model.in_channels, self.first.model.in_len, self.first.model.n_classes
        )[self.exit_layer]
        return f"{self.first.genome} (exit after block {spec.block + 1})"

    def stage_logits(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(first-stage logits, final logits) of int8 window codes (N, T, C), both computed for every window."""
        if self.kind == "early_exit":
            final, exits = self.first.model.run(codes, return_exits=True)
            return exits[self.exit_layer], final
        big_in = codes if self.rescale is None else self.rescale.run(codes)
        return self.first.model.run(codes), self.big.model.run(big_in)

    def run(self, codes: np.ndarray, mode: int) -> tuple[np.ndarray, np.ndarray]:
        """(output logits, stopped-after-the-first-stage flags) of the windows in runtime ``mode``."""
        first, final = self.stage_logits(codes)
        stop = self.modes[mode].stops(first)
        return np.where(stop[:, None], first, final), stop


# ---------------------------------------------------------------------------------------------------------
# On disk: adaptive.json beside the integer artifact(s)
# ---------------------------------------------------------------------------------------------------------


def is_adaptive(path: str | Path) -> bool:
    return (Path(path) / ADAPTIVE_FILE).is_file()


def save_adaptive(model: AdaptiveModel, path: str | Path, report: dict | None = None) -> Path:
    """Write ``adaptive.json`` (kind, mode table, rescale, ``report``) and the integer artifacts
    (``model/``, or ``little/`` and ``big/``) atomically: a temp directory renamed into place."""
    path = Path(path)
    if path.exists() and not is_adaptive(path) and (not path.is_dir() or any(path.iterdir())):
        raise ConfigError(f"{path}: exists and is not an adaptive model harx wrote; choose another directory")
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "format_version": FORMAT_VERSION,
        "harx_version": __version__,
        "kind": model.kind,
        "modes": [{"policy": r.policy, "threshold": r.threshold} for r in model.modes],
        "default_mode": model.default_mode,
        "rescale": None
        if model.rescale is None
        else {
            "kappa": model.rescale.kappa.tolist(),
            "lam": model.rescale.lam.tolist(),
            "shift": model.rescale.shift,
        },
        "report": report or {},
    }
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        if model.kind == "early_exit":
            save_artifact(model.first, tmp / "model")
        else:
            save_artifact(model.first, tmp / "little")
            save_artifact(model.big, tmp / "big")
        (tmp / ADAPTIVE_FILE).write_text(json.dumps(meta, indent=1))
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def load_adaptive(path: str | Path) -> tuple[AdaptiveModel, dict]:
    """The adaptive model in ``path`` and the report stored with it."""
    path = Path(path)
    meta_file = path / ADAPTIVE_FILE
    try:
        meta = json.loads(meta_file.read_text())
    except FileNotFoundError:
        raise DataError(
            f"{meta_file}: no such adaptive model (expected a directory written by `harx adapt`)"
        ) from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{meta_file}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise DataError(
            f"{meta_file}: format_version {version!r} is not supported (reads up to {FORMAT_VERSION})"
        )
    try:
        kind = meta["kind"]
        modes = tuple(ModeRule(m["policy"], int(m["threshold"])) for m in meta["modes"])
        rs = meta.get("rescale")
        rescale = (
            None
            if rs is None
            else InputRescale(
                np.asarray(rs["kappa"], np.int64), np.asarray(rs["lam"], np.int64), int(rs["shift"])
            )
        )
        if kind == "cascade":
            first, big = load_artifact(path / "little"), load_artifact(path / "big")
        else:
            first, big = load_artifact(path / "model"), None
        model = AdaptiveModel(kind, first, modes, big, rescale, int(meta["default_mode"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{meta_file}: malformed adaptive model ({type(exc).__name__}: {exc})") from None
    except ConfigError as exc:
        raise DataError(f"{meta_file}: {exc}") from None
    return model, meta.get("report", {})


# ---------------------------------------------------------------------------------------------------------
# The C project
# ---------------------------------------------------------------------------------------------------------


@dataclass
class AdaptiveProject:
    """A generated adaptive C project. ``check_modes`` are the modes the harness runs every window in;
    ``expected_*`` are per (checked mode, window): class, whether the first stage stopped, logits checksum.
    ``weight_symbols``/``buffer_symbols`` as in ``Project``; ``plan`` is a MemoryPlan (early exit, with its
    exit head and mode table) or a CascadePlan."""

    path: Path
    target: str
    kind: str
    genome: str
    kernels: tuple[str, ...]
    plan: MemoryPlan | CascadePlan
    window_count: int
    modes: tuple[ModeRule, ...]
    check_modes: tuple[int, ...]
    expected_classes: np.ndarray = field(repr=False)
    expected_exits: np.ndarray = field(repr=False)
    expected_checksums: np.ndarray = field(repr=False)
    weight_symbols: tuple[str, ...] = field(repr=False)
    buffer_symbols: tuple[str, ...] = field(repr=False)


_POLICY_C = """/* Confidence of the first stage's int32 logits (harx.deploy.adaptive): policy 0 max score (top-1),
 * 1 margin (top-1 minus top-2), 2 mean gap (the sum over classes of top-1 minus the logit). Generation
 * proved |logit| <= HARX_FIRST_LOGIT_BOUND for any input, so every value stays within int32. */
static int32_t harx_confidence(const int32_t *logits, int32_t policy)
{
    int32_t top1 = logits[0], top2 = logits[1], gap = 0;
    int c;
    if (top2 > top1) {
        top1 = logits[1];
        top2 = logits[0];
    }
    for (c = 2; c < HARX_N_CLASSES; c++) {
        if (logits[c] > top1) {
            top2 = top1;
            top1 = logits[c];
        } else if (logits[c] > top2) {
            top2 = logits[c];
        }
    }
    if (policy == 0)
        return top1;
    if (policy == 1)
        return top1 - top2;
    for (c = 0; c < HARX_N_CLASSES; c++)
        gap += top1 - logits[c];
    return gap;
}

/* The runtime mode's rule: stop after the first stage iff its confidence reaches the threshold. */
static int harx_stop(const int32_t *logits)
{
    return harx_confidence(logits, harx_modes[2 * harx_mode]) >= harx_modes[2 * harx_mode + 1];
}
"""

_RESCALE_C = """/* The big network's input: the window's int8 codes requantized per channel,
 * clip((kappa[c] * x + lambda[c]) >> shift, -128, 127); the shift keeps both terms inside int32. */
static void harx_rescale(const int8_t *in, int8_t *out)
{
    int32_t t, c, v;
    for (t = 0; t < HARX_WINDOW_LEN; t++) {
        for (c = 0; c < HARX_CHANNELS; c++) {
            v = (harx_rescale_kappa[c] * in[t * HARX_CHANNELS + c] + harx_rescale_lambda[c]) >> HARX_RESCALE_SHIFT;
            out[t * HARX_CHANNELS + c] = (int8_t)(v < -128 ? -128 : (v > 127 ? 127 : v));
        }
    }
}
"""

_MODE_C = """/* harx_mode.c: the runtime mode switch of an adaptive network, generated by harx {version}.
 * Outside the inference code (and its instruction count). */
#include "network.h"

int harx_mode = HARX_DEFAULT_MODE;

int harx_set_mode(int mode)
{{
    if (mode < 0 || mode >= HARX_N_MODES)
        return -1;
    harx_mode = mode;
    return 0;
}}
"""


def _header(base: str, model: AdaptiveModel, bound: int) -> str:
    stage = "the exit head" if model.kind == "early_exit" else "the little network"
    api = f"""/* Adaptive inference ({model.kind}): {len(model.modes)} runtime modes, rows (policy, threshold) of
 * harx_modes in weights.c; the inference stops after {stage} when its confidence reaches the threshold. */
#define HARX_N_MODES {len(model.modes)}
#define HARX_DEFAULT_MODE {model.default_mode}
#define HARX_FIRST_LOGIT_BOUND {bound}

/* Select the mode of the next inferences; returns 0, or -1 (keeping the mode) when it is out of range. */
int harx_set_mode(int mode);
/* The mode in force (harx_mode.c). */
extern int harx_mode;
/* 1 when the last harx_infer stopped after {stage}, else 0. */
extern int harx_exited;

"""
    return base.replace("#endif /* HARX_NETWORK_H */", api + "#endif /* HARX_NETWORK_H */")


def _buffers(mp: MemoryPlan | CascadePlan) -> list[tuple[str, str, int, str, bool]]:
    bufs = [
        ("int8_t", "harx_window", mp.input_bytes, "the input window (the caller fills it)", False),
        ("int32_t", "harx_logits", mp.logits_bytes // 4, "the logits (first stage, then final)", False),
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
                "staging buffer of read-only arrays",
                True,
            )
        )
    if getattr(mp, "exit_buffer_bytes", 0):
        bufs.append(("uint8_t", "harx_exit", mp.exit_buffer_bytes, "the exit head's pooled codes", True))
    return bufs


def _layer_lines(steps: list[_Step], w) -> list[str]:
    lines = []
    for st in steps:
        stage, ptrs = _staging(st, w)
        geometry = "time along H" if st.time_on_h else "time along W"
        lines.append(f"    /* layer {st.index}: {_shape_comment(st.spec)} ({geometry}) */")
        lines += stage
        lines.append(_call(st, ptrs))
    return lines


def _network_c(model: AdaptiveModel, first: list, second: list, w, mp, target: str, rescale_ptr: str) -> str:
    bufs = _buffers(mp)
    decl = "\n".join(
        f"{'static ' if static else ''}HARX_L1 {t} {n}[{size}] HARX_ALIGNED; /* {what} */"
        for t, n, size, what, static in bufs
    )
    ram = " + ".join(f"{n} {s * (4 if t == 'int32_t' else 1)}" for t, n, s, _, _ in bufs)
    stage = "exit head" if model.kind == "early_exit" else "little network"
    body = _layer_lines(first, w)
    body += [
        f"    /* the decision: stop with the {stage}'s logits when the runtime mode says it is confident */",
        "    if (harx_stop(io->logits)) {",
        "        io->exited = 1; /* every core computes the same decision from the same logits */",
        "        return;",
        "    }",
    ]
    if rescale_ptr:
        body += [
            "    /* the window in the big network's input quantization */",
            f"    HARX_REF_KERNEL(harx_rescale(io->window, {rescale_ptr}));",
        ]
    body += _layer_lines(second, w)
    return f"""/* network.c: {model.describe()}, adaptive ({model.kind}) for {target}, generated by harx {__version__}.
 * Static buffers sized by harx's memory plan ({mp.target}): {ram} = {mp.ram_bytes} bytes of RAM. */
#include "network.h"

#include <stddef.h>

#include "harx_kernels.h"
#include "harx_platform.h"
#include "weights.h"

{decl}

int harx_exited;

struct harx_io {{
    const int8_t *window;
    int32_t *logits;
    int exited;
}};

{_POLICY_C}
{_RESCALE_C if rescale_ptr else ""}
static void harx_layers(void *arg)
{{
    struct harx_io *io = (struct harx_io *)arg;
{chr(10).join(body)}
}}

int harx_infer(const int8_t *window, int32_t *logits)
{{
    struct harx_io io;
    int best = 0, c;
    io.window = window;
    io.logits = logits;
    io.exited = 0;
    harx_run_layers(harx_layers, &io);
    harx_exited = io.exited;
    for (c = 1; c < HARX_N_CLASSES; c++)
        if (logits[c] > logits[best])
            best = c;
    return best;
}}
"""


def _test_data(
    windows: np.ndarray, first: np.ndarray, final: np.ndarray, modes: tuple[int, ...], exits
) -> tuple[str, str]:
    n, m = len(windows), len(modes)

    def rows(a, fmt) -> str:
        return ",\n".join("    {" + ",".join(fmt(v) for v in row) + "}" for row in a)

    header = f"""/* test_data.h: {n} real test windows, the numpy integer model's first-stage and final logits for each,
 * and whether the first stage stops in each of the {m} checked modes. */
#ifndef HARX_TEST_DATA_H
#define HARX_TEST_DATA_H

#include <stdint.h>

#include "network.h"

#define HARX_TEST_WINDOWS {n}u
#define HARX_TEST_MODES {m}u
extern const int8_t harx_test_windows[{n}][HARX_WINDOW_BYTES];
extern const int32_t harx_test_first_logits[{n}][HARX_N_CLASSES];
extern const int32_t harx_test_final_logits[{n}][HARX_N_CLASSES];
extern const int harx_test_modes[{m}];
extern const uint8_t harx_test_exits[{m}][{n}];

#endif /* HARX_TEST_DATA_H */
"""
    source = f"""/* test_data.c: generated by harx {__version__}. */
#include "test_data.h"

const int8_t harx_test_windows[{n}][HARX_WINDOW_BYTES] = {{
{rows(windows.reshape(n, -1), str)}
}};

const int32_t harx_test_first_logits[{n}][HARX_N_CLASSES] = {{
{rows(first, _c_int32)}
}};

const int32_t harx_test_final_logits[{n}][HARX_N_CLASSES] = {{
{rows(final, _c_int32)}
}};

const int harx_test_modes[{m}] = {{{", ".join(map(str, modes))}}};

const uint8_t harx_test_exits[{m}][{n}] = {{
{rows(exits.astype(np.int64), str)}
}};
"""
    return header, source


def _steps(art: Artifact, target: str, mems, first_index: int, where: str) -> list[_Step]:
    m = art.model
    specs = parse_genome(art.genome).layers(m.in_channels, m.in_len, m.n_classes)
    check_layers(m, specs, where)
    geometry = _time_on_h(art.genome, m, target)
    return [
        _Step(first_index + i, spec, layer, mem, _kernel(spec, layer), h)
        for i, (spec, layer, mem, h) in enumerate(zip(specs, m.layers, mems, geometry, strict=True))
    ]


def adaptive_plan(model: AdaptiveModel, target: str) -> MemoryPlan | CascadePlan:
    """The memory plan of ``model`` on ``target`` (a cost target: gap8 or rv32)."""
    tgt = load_target(target)
    m = model.first.model
    specs = parse_genome(model.first.genome).layers(m.in_channels, m.in_len, m.n_classes)
    if model.kind == "early_exit":
        head = model.first_head
        return plan(
            specs,
            tgt,
            exits={model.exit_layer: exit_head_layers(specs, model.exit_layer, head.w_bits)},
            modes=len(model.modes),
        )
    b = model.big.model
    big = parse_genome(model.big.genome).layers(b.in_channels, b.in_len, b.n_classes)
    return cascade_plan(specs, big, tgt, rescale=model.rescale is not None, modes=len(model.modes))


def _exit_steps(model: AdaptiveModel, mp: MemoryPlan, where: str) -> list[_Step]:
    m = model.first.model
    specs = parse_genome(model.first.genome).layers(m.in_channels, m.in_len, m.n_classes)
    head_specs = exit_head_layers(specs, model.exit_layer, model.first_head.w_bits)
    gap, linear = m.exits[model.exit_layer]
    if not (isinstance(gap, IntGap) and isinstance(linear, IntLinear)) or (
        (gap.bits, linear.cin, linear.cout, linear.in_bits)
        != (head_specs[0].in_bits, head_specs[1].cin, head_specs[1].cout, head_specs[1].in_bits)
    ):
        raise ConfigError(f"{where}: the exit head does not match layer {model.exit_layer}'s output")
    (exit_mem,) = mp.exits
    return [
        _Step(mem.index, spec, layer, mem, _kernel(spec, layer), False)
        for spec, layer, mem in zip(head_specs, (gap, linear), exit_mem.layers, strict=True)
    ]


def generate_adaptive(
    model: AdaptiveModel,
    out_dir: str | Path,
    target: str,
    windows: np.ndarray,
    check_modes: tuple[int, ...] | None = None,
) -> AdaptiveProject:
    """Write the C project of ``model`` for ``target`` into ``out_dir`` (replaced atomically if harx made
    it). The harness runs every window of ``windows`` (int8 codes (N, T, C)) in each of ``check_modes``
    (default: every mode) and compares the stop decision and every logit with the numpy model."""
    if target not in DEPLOY_TARGETS:
        raise ConfigError(f"deploy target '{target}' is not one of {', '.join(DEPLOY_TARGETS)}")
    where = f"adaptive model '{model.describe()}'"
    check = tuple(range(len(model.modes))) if check_modes is None else tuple(check_modes)
    if not check or any(not 0 <= c < len(model.modes) for c in check):
        raise ConfigError(f"{where}: modes to check must lie in 0..{len(model.modes) - 1}, got {list(check)}")
    bound = check_policy_range(model.first_head, where)
    mp = adaptive_plan(model, PLAN_TARGET[target])
    if not mp.feasible:
        raise ConfigError(f"{where} does not fit {mp.target}: {mp.infeasible_reason}")
    windows = _check_windows(windows, model.first.model)
    if model.kind == "early_exit":
        main = _steps(model.first, target, mp.layers, 0, where)
        first = main[: model.exit_layer + 1] + _exit_steps(model, mp, where)
        second = main[model.exit_layer + 1 :]
        rescale_ptr = ""
    else:
        first = _steps(model.first, target, mp.little.layers, 0, f"{where} (little)")
        second = _steps(model.big, target, mp.big.layers, len(first), f"{where} (big)")
        rescale_ptr = "" if mp.rescale is None else f"(int8_t *)(harx_arena + {mp.rescale.offset_bytes})"
    steps = first + second
    w = _weights(steps, mp.alignment_bytes)
    w.int32_array(
        "harx_modes",
        np.array([[POLICIES.index(r.policy), r.threshold] for r in model.modes], np.int64).reshape(-1),
        "runtime modes: (policy, threshold) per mode",
    )
    if model.rescale is not None:
        w.int32_array("harx_rescale_kappa", model.rescale.kappa, "big network input: requant multipliers")
        w.int32_array("harx_rescale_lambda", model.rescale.lam, "big network input: requant offsets")
        w.constant("HARX_RESCALE_SHIFT", model.rescale.shift, "big network input: requant shift", -1)
    ro = sum(w.sizes.values()) + 4 * len(w.constants)
    if ro != mp.ro_bytes:  # both come from the same shapes: a mismatch is a harx bug
        raise RuntimeError(f"{where}: weights.c holds {ro} B, the memory plan {mp.ro_bytes} B")
    first_logits, final_logits = model.stage_logits(windows)
    exits = np.stack([model.modes[c].stops(first_logits) for c in check])
    outputs = np.where(exits[:, :, None], first_logits[None], final_logits[None])
    kernels = sorted({st.kernel for st in steps}, key=lambda k: k.name)
    test_h, test_c = _test_data(windows, first_logits, final_logits, check, exits)
    base_h = _network_h(model.first.model, mp, model.describe())
    files = {
        "network.h": _header(base_h, model, bound),
        "network.c": _network_c(model, first, second, w, mp, target, rescale_ptr),
        "harx_mode.c": _MODE_C.format(version=__version__),
        "weights.h": w.header(),
        "weights.c": w.source(
            f"/* weights.c: {model.describe()}, generated by harx {__version__}; every array 4-byte aligned "
            f"and padded as the memory plan counts it ({mp.ro_bytes} bytes). */"
        ),
        "harx_kernels.h": _kernels_h(kernels),
        "test_data.h": test_h,
        "test_data.c": test_c,
        **{f"kernels/{k.name}.c": k.source() for k in kernels},
        **{name: (CSRC / name).read_text() for name in _COPIED if name != "main.c"},
        "main.c": (CSRC / "main_adaptive.c").read_text(),
        **{f"tools/{name}": (CSRC / name).read_text() for name in ("icount_plugin.c", "inference_range.sh")},
    }
    values = {
        "HARX_VERSION": __version__,
        "GENOME": model.describe(),
        "TARGET": target,
        "LIBRARY_SRCS": " ".join(s for k in kernels for s in k.library_sources()),
        "HARX_ONLY_KERNELS": " ".join(f"kernels/{k.name}.c" for k in kernels if k.harx_only),
        "REFERENCE_KERNELS": " ".join(f"kernels/{k.name}.c" for k in kernels if not k.harx_only),
    }
    files["Makefile"] = fill((TEMPLATES / "Makefile.in").read_text(), values)
    files["gap8.mk"] = fill((TEMPLATES / "gap8.mk.in").read_text(), values)
    buffers = (*(name for _, name, _, _, _ in _buffers(mp)), "harx_mode", "harx_exited")
    project = AdaptiveProject(
        path=Path(out_dir),
        target=target,
        kind=model.kind,
        genome=model.describe(),
        kernels=tuple(k.name for k in kernels),
        plan=mp,
        window_count=len(windows),
        modes=model.modes,
        check_modes=check,
        expected_classes=outputs.argmax(axis=2),
        expected_exits=exits,
        expected_checksums=np.stack([logits_checksum(o) for o in outputs]),
        weight_symbols=(*w.names, "harx_constants"),
        buffer_symbols=buffers,
    )
    files[PROJECT_FILE] = json.dumps(_project_meta(project), indent=1) + "\n"
    _write_atomically(Path(out_dir), files)
    return project


def _project_meta(p: AdaptiveProject) -> dict:
    return {
        "harx_version": __version__,
        "kind": p.kind,
        "genome": p.genome,
        "target": p.target,
        "plan_target": p.plan.target,
        "kernels": list(p.kernels),
        "ro_bytes": p.plan.ro_bytes,
        "ram_bytes": p.plan.ram_bytes,
        "modes": [{"policy": r.policy, "threshold": r.threshold} for r in p.modes],
        "check_modes": list(p.check_modes),
        "window_count": p.window_count,
        "expected_classes": p.expected_classes.tolist(),
        "expected_exits": p.expected_exits.astype(int).tolist(),
        "expected_checksums": p.expected_checksums.tolist(),
        "weight_symbols": list(p.weight_symbols),
        "buffer_symbols": list(p.buffer_symbols),
    }


# ---------------------------------------------------------------------------------------------------------
# Build and run
# ---------------------------------------------------------------------------------------------------------

_LINE = re.compile(r"mode (\d+) window (\d+) class (-?\d+) exit ([01]) checksum (\d+)( MISMATCH)?")


@dataclass(frozen=True)
class ModeRun:
    """One checked mode of a run: windows, how many stopped after the first stage, mismatched windows (a
    different decision or logit), and on rv32 the exact instructions of each window's inference."""

    mode: int
    windows: int
    exited: int
    mismatched_windows: int
    instructions: tuple[int, ...] = ()
    exited_mask: tuple[bool, ...] = ()

    def mean_instructions(self, exited: bool | None = None) -> float | None:
        """Mean instructions per inference over all windows, or only those that stopped early (True) or
        ran both stages (False); None without counts or windows of that kind."""
        if not self.instructions:
            return None
        counts = np.asarray(self.instructions, dtype=np.float64)
        if exited is not None:
            counts = counts[np.asarray(self.exited_mask) == exited]
        return float(counts.mean()) if len(counts) else None


@dataclass(frozen=True)
class AdaptiveRunResult(RunResult):
    """A run of an adaptive project: ``windows`` counts every (mode, window) inference checked, and
    ``modes`` breaks it down per checked mode."""

    modes: tuple[ModeRun, ...] = ()


def run_adaptive(project: AdaptiveProject, build: str, timeout_s: float = 600) -> AdaptiveRunResult:
    """Build ``project`` as ``build`` (host, asan or rv32) and run its harness in every checked mode;
    rv32 runs under qemu with exact instruction counts per inference and reports the ELF's sizes."""
    if build not in _MAKE_TARGET:
        raise ToolchainError(f"unknown build '{build}': use one of {', '.join(_MAKE_TARGET)}")
    missing = missing_tools(build)
    if missing:
        raise ToolchainError(
            f"the {build} build needs {', '.join(missing)} on PATH "
            "(Debian: apt-get install make gcc gcc-riscv64-unknown-elf qemu-user)"
        )
    done = _make(project, _MAKE_TARGET[build], timeout_s)
    output = done.stdout
    if build == "rv32":
        capture = project.path / "build" / "rv32" / "count_output.txt"
        output = capture.read_text() if capture.is_file() else ""
    if done.returncode != 0 and _MISMATCH_LINE.search(output) is None:
        raise ToolchainError(
            f"{project.path}: `make {_MAKE_TARGET[build]}` failed (exit {done.returncode}):\n"
            f"{_tail(done.stderr + done.stdout)}"
        )
    lines = [m for m in map(_LINE.fullmatch, output.splitlines()) if m]
    n, check = project.window_count, project.check_modes
    found = _MISMATCH_LINE.search(output)
    if found is None or len(lines) != n * len(check):
        raise ToolchainError(
            f"{project.path}: the {build} harness stopped early ({len(lines)} of {n * len(check)} "
            f"inferences reported):\n{_tail(output)}"
        )
    counts = _counts(project) if build == "rv32" else None
    runs, total_bad = [], 0
    for k, mode in enumerate(check):
        bad, exited = 0, []
        for line in lines[k * n : (k + 1) * n]:
            i, flag = int(line.group(2)), line.group(4) == "1"
            exited.append(flag)
            bad += bool(
                line.group(6) is not None
                or int(line.group(1)) != mode
                or flag != bool(project.expected_exits[k][i])
                or int(line.group(3)) != project.expected_classes[k][i]
                or int(line.group(5)) != project.expected_checksums[k][i]
            )
        total_bad += bad
        ins = () if counts is None else tuple(counts[k * n : (k + 1) * n])
        runs.append(ModeRun(mode, n, sum(exited), bad, ins, tuple(exited)))
    bad = max(total_bad, int(found.group(1)))
    if counts is None:
        return AdaptiveRunResult(build, len(lines), bad, modes=tuple(runs))
    sizes: ElfSizes = elf_sizes(project)
    return AdaptiveRunResult(build, len(lines), bad, InstructionCount(tuple(counts), ()), sizes, tuple(runs))


def _counts(project: AdaptiveProject) -> list[int]:
    path = project.path / "build" / "rv32" / "icount.txt"
    totals = [int(line.split()[2]) for line in path.read_text().splitlines() if line.startswith("inference ")]
    expected = project.window_count * len(project.check_modes)
    if len(totals) != expected:
        raise ToolchainError(f"{path}: expected {expected} inferences, found {len(totals)}")
    return totals
