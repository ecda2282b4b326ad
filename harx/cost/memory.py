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
- ``weights``: DMA targets only, staging buffer(s) holding the largest layer's weight/kappa/lambda/bias
  arrays;
- ``logits``: int32[n_classes].
"""

from __future__ import annotations

from dataclasses import dataclass

from harx.cost.target import Target
from harx.models.genome import LayerSpec

INT32_BYTES = 4
# Per-layer int32 scalars the C keeps in a constants table: conv requant shift; GAP multiplier and shift.
LAYER_CONSTANTS = {"conv": 1, "gap": 2}


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
class MemoryPlan:
    """Every buffer of one network on one target; ``ro_bytes`` is flash, ``ram_bytes`` the RAM total."""

    target: str
    alignment_bytes: int
    layers: tuple[LayerMemory, ...]
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


def _arrays(layer: LayerSpec) -> tuple[int, int, int, int, int]:
    """(weight, kappa, lambda, bias, const) exact bytes of a layer's read-only arrays."""
    weights = packed_bytes(layer.n_weights, layer.w_bits) if layer.n_weights else 0
    per_channel = INT32_BYTES * layer.cout if layer.kind == "conv" else 0
    bias = INT32_BYTES * layer.cout if layer.kind == "linear" else 0
    consts = INT32_BYTES * LAYER_CONSTANTS.get(layer.kind, 0)
    return weights, per_channel, per_channel, bias, consts


def _im2col_bytes(layer: LayerSpec, target: Target) -> int:
    if layer.kind != "conv":
        return 0
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


def plan(layers: list[LayerSpec], target: Target) -> MemoryPlan:
    """Decide every buffer and arena offset for ``layers`` on ``target``; never raises for a plan that does
    not fit, it returns ``feasible=False`` with a reason such as ``"ram 70,144 B > L1 65,536 B"``."""
    align = target.alignment_bytes
    n = len(layers)
    # Tensor i is the input of layer i; tensor 0 is the window, tensor n the logits; 1..n-1 live in the arena.
    sizes = [tensor_bytes(layers[0], "in")] + [tensor_bytes(layer, "out") for layer in layers]
    slots = [align_up(s, align) for s in sizes]
    arena = 0
    for i in range(1, n):
        arena = max(arena, slots[i] + (slots[i + 1] if i + 1 < n else 0))

    def where(i: int) -> TensorSlot:
        if i == 0:
            return TensorSlot("input", 0, sizes[0])
        if i == n:
            return TensorSlot("logits", 0, sizes[n])
        return TensorSlot("arena", 0 if i % 2 else arena - slots[i], sizes[i])

    per_layer = []
    for i, layer in enumerate(layers):
        weights, kappa, lam, bias, consts = _arrays(layer)
        arrays = (weights, kappa, lam, bias, consts)
        staged = sum(align_up(a, align) for a in (weights, kappa, lam, bias)) if target.stages_weights else 0
        per_layer.append(
            LayerMemory(
                index=i,
                kind=layer.kind,
                weight_bytes=weights,
                kappa_bytes=kappa,
                lambda_bytes=lam,
                bias_bytes=bias,
                const_bytes=consts,
                ro_bytes=sum(align_up(a, align) for a in arrays),
                staged_bytes=staged,
                im2col_bytes=_im2col_bytes(layer, target),
                input=where(i),
                output=where(i + 1),
            )
        )
    ro = sum(m.ro_bytes for m in per_layer)
    im2col = align_up(max(m.im2col_bytes for m in per_layer), align)
    buffers = int(target.structure["weight_staging_buffers"])
    weight_buffer = buffers * max(m.staged_bytes for m in per_layer)
    ram = slots[0] + arena + im2col + weight_buffer + slots[n]
    usage, problems = [], []
    for mem in target.memories:
        used = (ro if "ro" in mem.holds else 0) + (ram if "ram" in mem.holds else 0)
        use = MemoryUse(mem.name, used, mem.available_bytes, mem.size_bytes, mem.holds)
        usage.append(use)
        if not use.fits:
            problems.append(_usage_problem(use, ro, ram, mem.reserved_bytes))
    return MemoryPlan(
        target=target.name,
        alignment_bytes=align,
        layers=tuple(per_layer),
        ro_bytes=ro,
        input_bytes=slots[0],
        arena_bytes=arena,
        im2col_bytes=im2col,
        weight_buffer_bytes=weight_buffer,
        logits_bytes=slots[n],
        ram_bytes=ram,
        usage=tuple(usage),
        feasible=not problems,
        infeasible_reason="; ".join(problems),
    )
