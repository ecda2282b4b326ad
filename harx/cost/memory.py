"""The memory plan: every buffer the generated C allocates, in bytes. The single source of truth for both
the cost estimate and ``harx deploy`` (which sizes its static arrays and arena offsets from this object).

Read-only arrays, per layer (each array rounded up to the target's alignment, as the C declares it aligned):

- conv: packed weights ``ceil(cout*k*cin*w_bits/8)`` in [cout][k][cin] order, int32 kappa[cout], int32
  lambda[cout] (the conv bias is folded into lambda), one int32 constant (the requant shift);
- gap: two int32 constants (m and s of ``(sum*m) >> s``);
- linear: packed weights ``ceil(n_classes*features*w_bits/8)``, int32 bias[n_classes];
- maxpool: nothing.

RAM buffers:

- ``input``: the T x C int8 window (caller-owned, counted; on a DMA target it is the scratchpad copy);
- ``arena``: every intermediate activation tensor. Tensor t_i (the output of layer i-1) is placed at the
  bottom of the arena for odd i and at the top for even i, so a layer's input and output sit at opposite
  ends and never overlap while arena >= slot(t_i) + slot(t_i+1). The arena is the largest such pair (or
  the largest single tensor where only one end is used). No layer runs in place;
- ``im2col``: ``pixels_per_core * k * cin`` bytes per core (activations unpacked to 8 bit), largest conv;
  a conv lowered to harx's optimized kernels needs ``4 * k * cin`` (it computes 4 output pixels at once,
  ``harx.cost.opt_kernels.im2col_bytes``), so the plan depends on the kernel set (``kernels``);
- ``weights``: DMA targets only, staging buffer(s) holding the largest layer's weight/kappa/lambda/bias
  arrays;
- ``logits``: int32[n_classes].

Adaptive inference (``harx adapt``) adds, for an early-exit head after main layer ``k`` (``exits``): the
head's GAP constants, packed weights and int32 bias (read-only); its pooled codes go to the arena's free
end (the end that tensor t_k+1, which the head reads, does not occupy) or, when they do not fit there, to a
dedicated ``exit`` buffer; its logits go to the logits buffer, which the final classifier overwrites when
the inference goes on. The runtime mode table is ``modes`` pairs of int32 (policy, threshold), and two int32
of RAM hold the mode in force and whether the last inference stopped early.
``cascade_plan`` lays out two networks (little, then big) that share every RAM buffer.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from harx.cost import opt_kernels
from harx.cost.lowering import lower
from harx.cost.target import Target
from harx.models.genome import LayerSpec

INT32_BYTES = 4
# Per-layer int32 scalars the C keeps in a constants table: conv requant shift; GAP multiplier and shift.
LAYER_CONSTANTS = {"conv": 1, "gap": 2}
# One runtime mode of an adaptive network: an int32 policy id and an int32 threshold.
MODE_ENTRY_BYTES = 2 * INT32_BYTES
# The state of an adaptive network: the mode in force and whether the last inference stopped early (int32).
MODE_STATE_BYTES = 2 * INT32_BYTES


def align_up(n_bytes: int, alignment_bytes: int) -> int:
    return -(-n_bytes // alignment_bytes) * alignment_bytes


def packed_bytes(n_values: int, bits: int) -> int:
    """Bytes of ``n_values`` codes of ``bits`` each, packed little end first."""
    return -(-n_values * bits // 8)


def tensor_bytes(layer: LayerSpec, side: str) -> int:
    """Bytes of a layer's input (``side='in'``) or output tensor: packed codes, or int32 logits."""
    if side == "in":
        return packed_bytes(layer.in_elems, layer.in_bits)
    return packed_bytes(layer.out_elems, layer.out_bits)


@dataclass(frozen=True)
class TensorSlot:
    """Where an activation tensor lives: buffer ``input``, ``arena`` or ``logits``, at an offset."""

    buffer: str
    offset_bytes: int
    size_bytes: int


@dataclass(frozen=True)
class LayerMemory:
    """The arrays and buffers one layer uses.

    ``weight/kappa/lambda/bias/const_bytes`` are exact array sizes; ``ro_bytes`` is their sum with each array
    rounded up to the alignment; ``staged_bytes`` is what a DMA target copies into its weight staging buffer
    before the layer runs (0 on targets that read weights in place).
    """

    index: int
    kind: str
    weight_bytes: int
    kappa_bytes: int
    lambda_bytes: int
    bias_bytes: int
    const_bytes: int
    ro_bytes: int
    staged_bytes: int
    im2col_bytes: int
    input: TensorSlot
    output: TensorSlot


@dataclass(frozen=True)
class MemoryUse:
    """How full one target memory is."""

    name: str
    used_bytes: int
    available_bytes: int
    size_bytes: int
    holds: tuple[str, ...]

    @property
    def fits(self) -> bool:
        return self.used_bytes <= self.available_bytes


@dataclass(frozen=True)
class ExitMemory:
    """An early-exit head reading the output of main layer ``after``: its GAP and linear layers (arrays and
    slots; their ``index`` continues the main layers' numbering), its read-only bytes, and the bytes of the
    dedicated ``exit`` buffer it needs (0 when its pooled codes fit the arena's free end)."""

    after: int
    layers: tuple[LayerMemory, ...]
    ro_bytes: int
    buffer_bytes: int


@dataclass(frozen=True)
class ProgramMemory:
    """What every program layout has: totals, the shared buffers and how full each memory is; ``kernels``
    is the kernel set it was planned for (the optimized kernels need a larger im2col)."""

    target: str
    kernels: str
    alignment_bytes: int
    ro_bytes: int
    input_bytes: int
    arena_bytes: int
    im2col_bytes: int
    weight_buffer_bytes: int
    logits_bytes: int
    ram_bytes: int
    usage: tuple[MemoryUse, ...]
    feasible: bool
    infeasible_reason: str


def program_memory(
    target: Target, kernels: str, alignment_bytes: int, ro_bytes: int, ram_bytes: int, **buffers
) -> dict:
    """The ``ProgramMemory`` fields of a layout with these totals (``buffers``: the ``*_bytes`` of each
    shared buffer), the usage and feasibility included; a plan adds its own fields to them."""
    usage, problems = usage_of(target, ro_bytes, ram_bytes)
    return {
        "target": target.name,
        "kernels": kernels,
        "alignment_bytes": alignment_bytes,
        "ro_bytes": ro_bytes,
        "ram_bytes": ram_bytes,
        **buffers,
        "usage": usage,
        "feasible": not problems,
        "infeasible_reason": "; ".join(problems),
    }


@dataclass(frozen=True, kw_only=True)
class MemoryPlan(ProgramMemory):
    """Every buffer of one network on one target; ``ro_bytes`` is flash, ``ram_bytes`` the RAM total.

    With early-exit heads, ``exits`` holds their layers, ``exit_buffer_bytes`` the ``exit`` RAM buffer,
    ``mode_table_bytes`` the runtime mode table and ``mode_state_bytes`` the mode in force and the last
    exit flag; all are included in ``ro_bytes``/``ram_bytes``."""

    layers: tuple[LayerMemory, ...]
    exits: tuple[ExitMemory, ...] = ()
    exit_buffer_bytes: int = 0
    mode_table_bytes: int = 0
    mode_state_bytes: int = 0


def exit_head_layers(layers: list[LayerSpec], after: int, w_bits: int) -> list[LayerSpec]:
    """The layers of an early-exit head on the output of ``layers[after]``: a global average pool and a
    linear classifier with ``w_bits`` weights onto as many classes as the network's own classifier."""
    if not 0 <= after < len(layers) - 1 or layers[after].kind not in ("conv", "maxpool"):
        raise ValueError(f"an exit head needs a conv or max-pool layer before the classifier, not {after}")
    src, n_classes = layers[after], layers[-1].cout
    return [
        LayerSpec(
            "gap",
            src.cout,
            src.cout,
            src.lout,
            1,
            src.out_bits,
            src.out_bits,
            kernel=src.lout,
            stride=src.lout,
        ),
        LayerSpec("linear", src.cout, n_classes, 1, 1, src.out_bits, 32, w_bits),
    ]


def _arrays(layer: LayerSpec) -> tuple[int, int, int, int, int]:
    """(weight, kappa, lambda, bias, const) exact bytes of a layer's read-only arrays."""
    weights = packed_bytes(layer.n_weights, layer.w_bits) if layer.n_weights else 0
    per_channel = INT32_BYTES * layer.cout if layer.kind == "conv" else 0
    bias = INT32_BYTES * layer.cout if layer.kind == "linear" else 0
    consts = INT32_BYTES * LAYER_CONSTANTS.get(layer.kind, 0)
    return weights, per_channel, per_channel, bias, consts


def _im2col_bytes(layer: LayerSpec, target: Target, kernels: str) -> int:
    """A conv's im2col on ``target`` as lowered with the kernel set ``kernels``."""
    if layer.kind != "conv":
        return 0
    if kernels == "opt" and lower(layer, target, kernels).implementation == "harx_opt":
        return opt_kernels.im2col_bytes(layer.cin, layer.kernel)
    return int(target.structure["im2col_pixels_per_core"]) * target.cores * layer.kernel * layer.cin


def _fmt(n: int) -> str:
    return f"{n:,} B"


def _usage_problem(use: MemoryUse, ro_bytes: int, ram_bytes: int, reserved_bytes: int) -> str:
    parts = {"ro": ro_bytes, "ram": ram_bytes}
    held = " + ".join(f"{h} {_fmt(parts[h])}" for h in use.holds)
    if len(use.holds) > 1:
        held += f" = {_fmt(use.used_bytes)}"
    room = f"{use.name} {_fmt(use.available_bytes)}"
    if reserved_bytes:
        room += f" ({_fmt(use.size_bytes)} less {_fmt(reserved_bytes)} reserved)"
    return f"{held} > {room}"


def usage_of(target: Target, ro_bytes: int, ram_bytes: int) -> tuple[tuple[MemoryUse, ...], list[str]]:
    """How full each memory of ``target`` is with these totals, and a reason per memory that overflows."""
    usage, problems = [], []
    for mem in target.memories:
        used = (ro_bytes if "ro" in mem.holds else 0) + (ram_bytes if "ram" in mem.holds else 0)
        use = MemoryUse(mem.name, used, mem.available_bytes, mem.size_bytes, mem.holds)
        usage.append(use)
        if not use.fits:
            problems.append(_usage_problem(use, ro_bytes, ram_bytes, mem.reserved_bytes))
    return tuple(usage), problems


def _layer_memory(
    index: int, layer: LayerSpec, target: Target, kernels: str, src: TensorSlot, dst: TensorSlot
) -> LayerMemory:
    align = target.alignment_bytes
    weights, kappa, lam, bias, consts = _arrays(layer)
    staged = sum(align_up(a, align) for a in (weights, kappa, lam, bias)) if target.stages_weights else 0
    return LayerMemory(
        index=index,
        kind=layer.kind,
        weight_bytes=weights,
        kappa_bytes=kappa,
        lambda_bytes=lam,
        bias_bytes=bias,
        const_bytes=consts,
        ro_bytes=sum(align_up(a, align) for a in (weights, kappa, lam, bias, consts)),
        staged_bytes=staged,
        im2col_bytes=_im2col_bytes(layer, target, kernels),
        input=src,
        output=dst,
    )


def plan(
    layers: list[LayerSpec],
    target: Target,
    *,
    exits: dict[int, list[LayerSpec]] | None = None,
    modes: int = 0,
    min_arena_bytes: int = 0,
    kernels: str | None = None,
) -> MemoryPlan:
    """Decide every buffer and arena offset for ``layers`` on ``target``; never raises for a plan that does
    not fit, it returns ``feasible=False`` with a reason such as ``"ram 70,144 B > L1 65,536 B"``.

    ``exits`` maps a main layer index to an early-exit head on its output (``exit_head_layers``), ``modes``
    is the number of runtime modes in the table, ``min_arena_bytes`` a lower bound on the arena (for
    networks that share it, ``cascade_plan``), ``kernels`` the kernel set (None: the target's default)."""
    kernel_set = target.kernel_set(kernels)
    align = target.alignment_bytes
    n = len(layers)
    # Tensor i is the input of layer i; tensor 0 is the window, tensor n the logits; 1..n-1 live in the arena.
    sizes = [tensor_bytes(layers[0], "in")] + [tensor_bytes(layer, "out") for layer in layers]
    slots = [align_up(s, align) for s in sizes]
    arena = min_arena_bytes
    for i in range(1, n):
        arena = max(arena, slots[i] + (slots[i + 1] if i + 1 < n else 0))

    def where(i: int) -> TensorSlot:
        if i == 0:
            return TensorSlot("input", 0, sizes[0])
        if i == n:
            return TensorSlot("logits", 0, sizes[n])
        return TensorSlot("arena", 0 if i % 2 else arena - slots[i], sizes[i])

    per_layer = [
        _layer_memory(i, layer, target, kernel_set, where(i), where(i + 1)) for i, layer in enumerate(layers)
    ]
    exit_mems: list[ExitMemory] = []
    exit_buffer = 0
    for after, head in sorted((exits or {}).items()):
        t = after + 1  # the tensor the head reads (main layer ``after``'s output)
        if not 1 <= t < n or [h.kind for h in head] != ["gap", "linear"]:
            raise ValueError(f"exit after layer {after}: expected a gap and a linear head on an arena tensor")
        pooled_size = tensor_bytes(head[0], "out")
        pooled_slot = align_up(pooled_size, align)
        own = 0
        if pooled_slot <= arena - slots[t]:  # the arena's other end: dead until layer after+1 writes it
            pooled = TensorSlot("arena", arena - pooled_slot if t % 2 else 0, pooled_size)
        else:
            pooled, own = TensorSlot("exit", exit_buffer, pooled_size), pooled_slot
        index = n + 2 * len(exit_mems)
        head_mems = (
            _layer_memory(index, head[0], target, kernel_set, where(t), pooled),
            _layer_memory(index + 1, head[1], target, kernel_set, pooled, where(n)),
        )
        exit_mems.append(ExitMemory(after, head_mems, sum(m.ro_bytes for m in head_mems), own))
        exit_buffer += own
    everything = per_layer + [m for e in exit_mems for m in e.layers]
    mode_table = align_up(MODE_ENTRY_BYTES * modes, align)
    state = MODE_STATE_BYTES if modes else 0
    ro = sum(m.ro_bytes for m in everything) + mode_table
    im2col = align_up(max(m.im2col_bytes for m in everything), align)
    buffers = int(target.structure["weight_staging_buffers"])
    weight_buffer = buffers * max(m.staged_bytes for m in everything)
    ram = slots[0] + arena + im2col + weight_buffer + slots[n] + exit_buffer + state
    return MemoryPlan(
        **program_memory(
            target,
            kernel_set,
            align,
            ro,
            ram,
            input_bytes=slots[0],
            arena_bytes=arena,
            im2col_bytes=im2col,
            weight_buffer_bytes=weight_buffer,
            logits_bytes=slots[n],
        ),
        layers=tuple(per_layer),
        exits=tuple(exit_mems),
        exit_buffer_bytes=exit_buffer,
        mode_table_bytes=mode_table,
        mode_state_bytes=state,
    )


@dataclass(frozen=True, kw_only=True)
class CascadePlan(ProgramMemory):
    """Two networks in one program: ``little`` runs on every window, ``big`` only when the little one is
    not confident. They share the window, the arena (sized for the larger; both plans are laid out on it),
    the im2col and weight staging buffers and the logits buffer (the big network overwrites the little
    one's logits). When the big network quantizes its input differently, the window is requantized per
    channel into ``rescale`` at the arena's top end (the big network's first layer writes the bottom), and
    ``rescale_ro_bytes`` holds that requantization's int32 kappa[C], lambda[C] and shift."""

    little: MemoryPlan
    big: MemoryPlan
    rescale: TensorSlot | None
    rescale_ro_bytes: int
    mode_table_bytes: int
    mode_state_bytes: int


def cascade_plan(
    little: list[LayerSpec],
    big: list[LayerSpec],
    target: Target,
    *,
    rescale: bool,
    modes: int = 0,
    kernels: str | None = None,
) -> CascadePlan:
    """The shared layout of a big/little cascade (see ``CascadePlan``) with the kernel set ``kernels``
    (None: the target's default); both networks read the same window shape and write the same number of
    classes."""
    kernels = target.kernel_set(kernels)
    if tensor_bytes(little[0], "in") != tensor_bytes(big[0], "in") or little[-1].cout != big[-1].cout:
        raise ValueError("a cascade's networks must read the same window and write the same classes")
    align = target.alignment_bytes
    own_little, own_big = plan(little, target, kernels=kernels), plan(big, target, kernels=kernels)
    window = own_big.input_bytes
    first_out = align_up(tensor_bytes(big[0], "out"), align)
    arena = max(own_little.arena_bytes, own_big.arena_bytes, first_out + window if rescale else 0)
    pl = plan(little, target, min_arena_bytes=arena, kernels=kernels)
    pb = plan(big, target, min_arena_bytes=arena, kernels=kernels)
    slot = None
    if rescale:
        slot = TensorSlot("arena", arena - window, tensor_bytes(big[0], "in"))
        pb = replace(pb, layers=(replace(pb.layers[0], input=slot), *pb.layers[1:]))
    channels = big[0].cin
    rescale_ro = 2 * align_up(INT32_BYTES * channels, align) + INT32_BYTES if rescale else 0
    mode_table = align_up(MODE_ENTRY_BYTES * modes, align)
    ro = pl.ro_bytes + pb.ro_bytes + rescale_ro + mode_table
    im2col = max(pl.im2col_bytes, pb.im2col_bytes)
    weight_buffer = max(pl.weight_buffer_bytes, pb.weight_buffer_bytes)
    state = MODE_STATE_BYTES if modes else 0
    ram = window + arena + im2col + weight_buffer + pb.logits_bytes + state
    return CascadePlan(
        **program_memory(
            target,
            kernels,
            align,
            ro,
            ram,
            input_bytes=window,
            arena_bytes=arena,
            im2col_bytes=im2col,
            weight_buffer_bytes=weight_buffer,
            logits_bytes=pb.logits_bytes,
        ),
        little=pl,
        big=pb,
        rescale=slot,
        rescale_ro_bytes=rescale_ro,
        mode_table_bytes=mode_table,
        mode_state_bytes=state,
    )
