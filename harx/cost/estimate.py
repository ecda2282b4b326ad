"""``estimate(genome, target)``: flash, RAM, MACs, latency and energy of one genome on one target."""

from __future__ import annotations

from dataclasses import dataclass

from harx.cost.latency import KERNEL_MODELS, cycles
from harx.cost.lowering import Lowered, lower
from harx.cost.memory import LayerMemory, MemoryPlan, plan
from harx.cost.target import Target, load_target
from harx.models.genome import Genome, LayerSpec, parse_genome

# UCI-HAR: 9 inertial channels, 128-sample windows, 6 activities.
DEFAULT_IN_CHANNELS = 9
DEFAULT_IN_LEN = 128
DEFAULT_N_CLASSES = 6


@dataclass(frozen=True)
class LayerCost:
    """One layer: its shape, the kernel the latency model follows, bytes, cycles and energy.

    ``kernel`` is the function the generated C calls, with its geometry for display (``Lowered.label``);
    ``time_axis`` is that geometry: ``"H"`` when the 1-D signal runs along H (W = 1), ``"W"`` along W
    (H = 1), ``""`` for a layer without a spatial axis (the classifier). Both come from
    ``harx.cost.lowering``, which ``harx deploy`` follows too.
    """

    index: int
    kind: str
    shape: str
    kernel: str
    time_axis: str
    macs: int
    ro_bytes: int
    in_bytes: int
    out_bytes: int
    latency_cycles: int
    latency_ms: float
    energy_uj: float
    cycle_terms: dict[str, int]


@dataclass(frozen=True)
class Cost:
    """What one genome costs on one target with one kernel set (``kernels``: ``opt`` or ``ref``, see
    ``harx.cost.lowering``). ``flash_bytes`` counts the model's read-only arrays (not code), ``ram_bytes``
    its RAM buffers (see ``plan``); latency and energy are computed even when infeasible."""

    genome: str
    target: str
    target_version: int
    kernels: str
    flash_bytes: int
    ram_bytes: int
    macs: int
    latency_cycles: int
    latency_ms: float
    energy_uj: float
    feasible: bool
    infeasible_reason: str
    overhead_cycles: int
    layers: tuple[LayerCost, ...]
    plan: MemoryPlan

    def summary(self) -> dict:
        """The totals as a plain mapping (what the store keeps per target), with the cost model's version."""
        return {
            "flash_bytes": self.flash_bytes,
            "ram_bytes": self.ram_bytes,
            "macs": self.macs,
            "latency_cycles": self.latency_cycles,
            "latency_ms": self.latency_ms,
            "energy_uj": self.energy_uj,
            "feasible": self.feasible,
            "infeasible_reason": self.infeasible_reason,
            "model": f"{self.target} v{self.target_version} ({self.kernels} kernels)",
            "kernels": self.kernels,
        }


def layer_counts(
    layer: LayerSpec, layer_mem: LayerMemory, target: Target, kernels: str | None = None
) -> tuple[Lowered, dict[str, int]]:
    """``layer`` lowered on ``target`` with the kernel set ``kernels`` (None: the target's default) and its
    kernel's event counts (what ``cycles`` prices)."""
    lowered = lower(layer, target, kernels)
    counts = KERNEL_MODELS[target.kernel_model].layer_terms(layer, lowered, layer_mem, target)
    return lowered, {name: n for name, n in counts.items() if n}


def layer_cycles(layer: LayerSpec, layer_mem: LayerMemory, target: Target, kernels: str | None = None) -> int:
    """Cycles of one layer on ``target`` (a layer outside a genome's sequence, e.g. an early-exit head)."""
    return round(cycles(layer_counts(layer, layer_mem, target, kernels)[1], target))


def estimate(
    genome: Genome | str,
    target: Target | str,
    *,
    in_channels: int = DEFAULT_IN_CHANNELS,
    in_len: int = DEFAULT_IN_LEN,
    n_classes: int = DEFAULT_N_CLASSES,
    kernels: str | None = None,
) -> Cost:
    """Cost of ``genome`` (object or text form) for ``in_channels`` x ``in_len`` windows and ``n_classes``
    on ``target`` (a Target or a name in ``TARGETS``) with the kernel set ``kernels`` (None: the target's
    default). Raises ConfigError for an invalid genome or target, or a kernel set the target lacks."""
    g = parse_genome(genome) if isinstance(genome, str) else genome
    tgt = target if isinstance(target, Target) else load_target(target)
    kernel_set = tgt.kernel_set(kernels)
    layers = g.layers(in_channels, in_len, n_classes)
    mem = plan(layers, tgt, kernels=kernel_set)
    cycles_per_ms = tgt.frequency_mhz * 1e3
    power_mw = tgt.active_power_mw
    out = []
    for layer, layer_mem in zip(layers, mem.layers, strict=True):
        lowered, counts = layer_counts(layer, layer_mem, tgt, kernel_set)
        n_cycles = round(cycles(counts, tgt))
        ms = n_cycles / cycles_per_ms
        out.append(
            LayerCost(
                index=layer_mem.index,
                kind=layer.kind,
                shape=layer.describe(),
                kernel=lowered.label,
                time_axis=lowered.time_axis,
                macs=layer.macs,
                ro_bytes=layer_mem.ro_bytes,
                in_bytes=layer_mem.input.size_bytes,
                out_bytes=layer_mem.output.size_bytes,
                latency_cycles=n_cycles,
                latency_ms=ms,
                energy_uj=power_mw * ms,
                cycle_terms=counts,
            )
        )
    overhead = round(cycles(KERNEL_MODELS[tgt.kernel_model].inference_terms(layers, kernel_set), tgt))
    total = overhead + sum(lc.latency_cycles for lc in out)
    total_ms = total / cycles_per_ms
    return Cost(
        genome=g.text(),
        target=tgt.name,
        target_version=tgt.version,
        kernels=kernel_set,
        flash_bytes=mem.ro_bytes,
        ram_bytes=mem.ram_bytes,
        macs=sum(layer.macs for layer in layers),
        latency_cycles=total,
        latency_ms=total_ms,
        energy_uj=power_mw * total_ms,
        feasible=mem.feasible,
        infeasible_reason=mem.infeasible_reason,
        overhead_cycles=overhead,
        layers=tuple(out),
        plan=mem,
    )
