"""The C project of an adaptive network (``harx.deploy.adaptive``): both stages in one layer sequence, the
integer decision between them, the runtime mode table and ``harx_set_mode``, and a harness that checks
every window in several modes against the numpy model, decisions and logits, on the host and on rv32.

The project is a single network's (``harx.deploy.codegen``) with these differences: ``network.c`` runs the
first stage (the layers up to the exit and the exit head, or the little network), then ``harx_stop`` on
its logits, then (after the cascade's input requantization) the second stage; ``harx_mode.c`` holds the
mode switch outside the counted inference code; ``weights.c`` adds the mode table (and the rescale arrays);
``main.c`` is ``csrc/main_adaptive.c``. Every buffer and array comes from the adaptive memory plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harx import __version__
from harx.cost import load_target, plan
from harx.cost.memory import CascadePlan, MemoryPlan, cascade_plan, exit_head_layers
from harx.deploy.emit import (
    CSRC,
    Step,
    c_int32,
    c_rows,
    check_layers,
    check_project_dir,
    check_windows,
    kernel_set,
    layer_lines,
    logits_checksum,
    network_c,
    network_h,
    plan_target,
    ram_buffers,
    steps,
    support_files,
    template,
    weights_c,
    write_project,
)
from harx.deploy.kernel_c import implementations, kernel_files
from harx.errors import ConfigError
from harx.models.genome import model_layers
from harx.quant.adaptive import POLICIES, AdaptiveModel, ModeRule, check_policy_range
from harx.quant.artifact import Artifact
from harx.quant.integer import IntGap, IntLinear


def adaptive_plan(model: AdaptiveModel, target: str, kernels: str | None = None) -> MemoryPlan | CascadePlan:
    """The memory plan of ``model`` on ``target`` (a cost target: gap8 or rv32) with the kernel set
    ``kernels`` (None: the target's default)."""
    tgt = load_target(target)
    specs = model_layers(model.first.genome, model.first.model)
    if model.kind == "early_exit":
        head = model.first_head
        return plan(
            specs,
            tgt,
            exits={model.exit_layer: exit_head_layers(specs, model.exit_layer, head.w_bits)},
            modes=len(model.modes),
            kernels=kernels,
        )
    big = model_layers(model.big.genome, model.big.model)
    return cascade_plan(
        specs, big, tgt, rescale=model.rescale is not None, modes=len(model.modes), kernels=kernels
    )


@dataclass
class AdaptiveProject:
    """A generated adaptive C project. ``check_modes`` are the modes the harness runs every window in;
    ``expected_*`` are per (checked mode, window): class, whether the first stage stopped, logits checksum.
    ``kernel_set``, ``implementations``, ``weight_symbols`` and ``buffer_symbols`` as in ``Project``; ``plan``
    is a MemoryPlan (early exit, with its exit head and mode table) or a CascadePlan."""

    path: Path
    target: str
    kind: str
    genome: str
    kernel_set: str
    kernels: tuple[str, ...]
    implementations: dict[str, str]
    plan: MemoryPlan | CascadePlan
    window_count: int
    modes: tuple[ModeRule, ...]
    check_modes: tuple[int, ...]
    expected_classes: np.ndarray = field(repr=False)
    expected_exits: np.ndarray = field(repr=False)
    expected_checksums: np.ndarray = field(repr=False)
    weight_symbols: tuple[str, ...] = field(repr=False)
    buffer_symbols: tuple[str, ...] = field(repr=False)

    def meta(self) -> dict:
        """harx_project.json."""
        return {
            "harx_version": __version__,
            "kind": self.kind,
            "genome": self.genome,
            "target": self.target,
            "plan_target": self.plan.target,
            "kernel_set": self.kernel_set,
            "kernels": list(self.kernels),
            "implementations": self.implementations,
            "ro_bytes": self.plan.ro_bytes,
            "ram_bytes": self.plan.ram_bytes,
            "modes": [{"policy": r.policy, "threshold": r.threshold} for r in self.modes],
            "check_modes": list(self.check_modes),
            "window_count": self.window_count,
            "expected_classes": self.expected_classes.tolist(),
            "expected_exits": self.expected_exits.astype(int).tolist(),
            "expected_checksums": self.expected_checksums.tolist(),
            "weight_symbols": list(self.weight_symbols),
            "buffer_symbols": list(self.buffer_symbols),
        }


def _header(model: AdaptiveModel, mp, bound: int) -> str:
    stage = "the exit head" if model.kind == "early_exit" else "the little network"
    api = template(
        "adaptive_api.h.in",
        KIND=model.kind,
        N_MODES=len(model.modes),
        STAGE=stage,
        DEFAULT_MODE=model.default_mode,
        BOUND=bound,
    )
    return network_h(model.first.model, mp, model.describe(), api)


def _buffers(mp: MemoryPlan | CascadePlan) -> list[tuple[str, str, int, str, bool]]:
    bufs = ram_buffers(mp)
    if isinstance(mp, MemoryPlan) and mp.exit_buffer_bytes:
        bufs.append(("uint8_t", "harx_exit", mp.exit_buffer_bytes, "the exit head's pooled codes", True))
    return bufs


def _network_c(model: AdaptiveModel, first: list, second: list, w, mp, target: str, rescale_ptr: str) -> str:
    stage = "exit head" if model.kind == "early_exit" else "little network"
    body = layer_lines(first, w)
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
    body += layer_lines(second, w)
    rescale = template("adaptive_rescale.c.in") if rescale_ptr else ""
    helpers = f"\n{template('adaptive_policy.c.in')}\n{rescale}"
    title = f"{model.describe()}, adaptive ({model.kind}) for {target}"
    return network_c(title, mp, _buffers(mp), body, exits=True, helpers=helpers)


def _test_data(
    windows: np.ndarray, first: np.ndarray, final: np.ndarray, modes: tuple[int, ...], exits
) -> tuple[str, str]:
    n, m = len(windows), len(modes)
    header = template("adaptive_test_data.h.in", N=n, M=m)
    source = template(
        "adaptive_test_data.c.in",
        N=n,
        M=m,
        WINDOWS=c_rows(windows.reshape(n, -1)),
        FIRST=c_rows(first, c_int32),
        FINAL=c_rows(final, c_int32),
        MODES=", ".join(map(str, modes)),
        EXITS=c_rows(exits.astype(np.int64)),
    )
    return header, source


def _steps(art: Artifact, target: str, mems, first_index: int, where: str, kernels: str) -> list[Step]:
    specs = model_layers(art.genome, art.model)
    check_layers(art.model, specs, where)
    return steps(specs, art.model.layers, mems, target, first_index, kernels)


def _exit_steps(model: AdaptiveModel, mp: MemoryPlan, target: str, where: str, kernels: str) -> list[Step]:
    m = model.first.model
    head_specs = exit_head_layers(
        model_layers(model.first.genome, m), model.exit_layer, model.first_head.w_bits
    )
    gap, linear = m.exits[model.exit_layer]
    if not (isinstance(gap, IntGap) and isinstance(linear, IntLinear)) or (
        (gap.bits, linear.cin, linear.cout, linear.in_bits)
        != (head_specs[0].in_bits, head_specs[1].cin, head_specs[1].cout, head_specs[1].in_bits)
    ):
        raise ConfigError(f"{where}: the exit head does not match layer {model.exit_layer}'s output")
    (exit_mem,) = mp.exits
    # The head's steps are numbered by their plan entries (after the main layers).
    return [
        st
        for spec, layer, mem in zip(head_specs, (gap, linear), exit_mem.layers, strict=True)
        for st in steps([spec], [layer], [mem], target, mem.index, kernels)
    ]


def generate_adaptive(
    model: AdaptiveModel,
    out_dir: str | Path,
    target: str,
    windows: np.ndarray,
    check_modes: tuple[int, ...] | None = None,
    kernels: str | None = None,
    force: bool = False,
) -> AdaptiveProject:
    """Write the C project of ``model`` for ``target`` into ``out_dir`` (replaced atomically if harx made
    it; ``force`` as in ``harx.deploy.emit.write_project``) with the kernel set ``kernels`` (None: the
    target's default). The harness runs every window of ``windows`` (int8 codes (N, T, C)) in each of
    ``check_modes`` (default: every mode) and compares the stop decision and every logit with the numpy
    model."""
    check_project_dir(out_dir, force)
    where = f"adaptive model '{model.describe()}'"
    check = tuple(range(len(model.modes))) if check_modes is None else tuple(check_modes)
    if not check or any(not 0 <= c < len(model.modes) for c in check):
        raise ConfigError(f"{where}: modes to check must lie in 0..{len(model.modes) - 1}, got {list(check)}")
    bound = check_policy_range(model.first_head, where)
    kernels = kernel_set(target, kernels)
    mp = adaptive_plan(model, plan_target(target), kernels)
    if not mp.feasible:
        raise ConfigError(f"{where} does not fit {mp.target}: {mp.infeasible_reason}")
    windows = check_windows(windows, model.first.model)
    if model.kind == "early_exit":
        main = _steps(model.first, target, mp.layers, 0, where, kernels)
        first = main[: model.exit_layer + 1] + _exit_steps(model, mp, target, where, kernels)
        second = main[model.exit_layer + 1 :]
        rescale_ptr = ""
    else:
        first = _steps(model.first, target, mp.little.layers, 0, f"{where} (little)", kernels)
        second = _steps(model.big, target, mp.big.layers, len(first), f"{where} (big)", kernels)
        rescale_ptr = "" if mp.rescale is None else f"(int8_t *)(harx_arena + {mp.rescale.offset_bytes})"
    program = first + second
    w = weights_c(program, mp.alignment_bytes)
    w.int32_array(
        "harx_modes",
        np.array([[POLICIES.index(r.policy), r.threshold] for r in model.modes], np.int64).reshape(-1),
        "runtime modes: (policy, threshold) per mode",
    )
    if model.rescale is not None:
        w.int32_array("harx_rescale_kappa", model.rescale.kappa, "big network input: requant multipliers")
        w.int32_array("harx_rescale_lambda", model.rescale.lam, "big network input: requant offsets")
        w.constant("HARX_RESCALE_SHIFT", model.rescale.shift, "big network input: requant shift", -1)
    if w.ro_bytes != mp.ro_bytes:  # both come from the same shapes: a mismatch is a harx bug
        raise RuntimeError(f"{where}: weights.c holds {w.ro_bytes} B, the memory plan {mp.ro_bytes} B")
    first_logits, final_logits = model.stage_logits(windows)
    exits = np.stack([model.modes[c].stops(first_logits) for c in check])
    outputs = np.where(exits[:, :, None], first_logits[None], final_logits[None])
    used = kernel_files(st.lowered for st in program)
    test_h, test_c = _test_data(windows, first_logits, final_logits, check, exits)
    files = {
        "network.h": _header(model, mp, bound),
        "network.c": _network_c(model, first, second, w, mp, target, rescale_ptr),
        "harx_mode.c": template("harx_mode.c.in"),
        "weights.h": w.header(),
        "weights.c": w.source(
            f"/* weights.c: {model.describe()}, generated by harx {__version__}; every array 4-byte aligned "
            f"and padded as the memory plan counts it ({mp.ro_bytes} bytes). */"
        ),
        "test_data.h": test_h,
        "test_data.c": test_c,
        **support_files(used, model.describe(), target),
        "main.c": (CSRC / "main_adaptive.c").read_text(),
    }
    buffers = (*(name for _, name, _, _, _ in _buffers(mp)), "harx_mode", "harx_exited")
    project = AdaptiveProject(
        path=Path(out_dir),
        target=target,
        kind=model.kind,
        genome=model.describe(),
        kernel_set=kernels,
        kernels=tuple(k.function for k in used),
        implementations=implementations(used),
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
    write_project(Path(out_dir), files, project.meta(), force)
    return project
