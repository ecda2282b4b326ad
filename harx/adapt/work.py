"""The work of an adaptive inference on a target: what a window costs when it stops after the first stage,
and when it runs both, from the cost model's per-layer numbers (``harx.cost``).

Early exit: an early stop runs the layers up to the exit, the exit head (GAP and classifier) and the
decision; a full inference also runs the remaining layers. Cascade: an early stop runs the little network
and the decision; a full inference also runs the big network. Both pay the per-inference overhead (the
call, the cluster offload on gap8, the final argmax) once. The decision (one confidence policy over the
logits) is costed as one more pass over them at the argmax's per-class cost. Not modelled: the cascade's
requantization of the window for the big network (measured on rv32 instead; see docs/adapt.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from harx.cost import estimate, load_target, plan
from harx.cost.estimate import layer_cycles
from harx.cost.latency import cycles
from harx.cost.memory import exit_head_layers
from harx.models.genome import Genome


@dataclass(frozen=True)
class PathCost:
    """One inference path on one target: MACs, latency and energy per inference."""

    macs: int
    latency_cycles: int
    latency_ms: float
    energy_uj: float


@dataclass(frozen=True)
class StageCosts:
    """Per target: an inference that stops after the first stage (``early``), one that runs both stages
    (``full``), and the plain single network the adaptive one replaces (``single``: the same CNN without
    its exit head, or the cascade's big network alone)."""

    target: str
    early: PathCost
    full: PathCost
    single: PathCost

    def average(self, exit_fraction: float) -> PathCost:
        """The expected cost per inference when ``exit_fraction`` of the windows stop early (MACs and cycles
        as floats rounded to integers)."""
        f = exit_fraction
        return PathCost(
            round(f * self.early.macs + (1 - f) * self.full.macs),
            round(f * self.early.latency_cycles + (1 - f) * self.full.latency_cycles),
            f * self.early.latency_ms + (1 - f) * self.full.latency_ms,
            f * self.early.energy_uj + (1 - f) * self.full.energy_uj,
        )


def _path(macs: int, n_cycles: int, target) -> PathCost:
    ms = n_cycles / (target.frequency_mhz * 1e3)
    return PathCost(macs, n_cycles, ms, target.active_power_mw * ms)


def _decision_cycles(n_classes: int, target) -> int:
    return round(cycles({"argmax_class": n_classes}, target))


def early_exit_costs(
    genome: Genome,
    exit_layer: int,
    exit_w_bits: int,
    target: str,
    in_channels: int,
    in_len: int,
    n_classes: int,
) -> StageCosts:
    """Stage costs of ``genome`` with an exit head (``exit_w_bits`` weights) on main layer ``exit_layer``'s
    output, on ``target``."""
    tgt = load_target(target)
    cost = estimate(genome, tgt, in_channels=in_channels, in_len=in_len, n_classes=n_classes)
    specs = genome.layers(in_channels, in_len, n_classes)
    head = exit_head_layers(specs, exit_layer, exit_w_bits)
    mp = plan(specs, tgt, exits={exit_layer: head})
    head_cycles = sum(
        layer_cycles(spec, mem, tgt) for spec, mem in zip(head, mp.exits[0].layers, strict=True)
    )
    head_macs = sum(spec.macs for spec in head)
    prefix = cost.layers[: exit_layer + 1]
    extra = head_cycles + _decision_cycles(n_classes, tgt)
    early = cost.overhead_cycles + sum(lc.latency_cycles for lc in prefix) + extra
    return StageCosts(
        target=tgt.name,
        early=_path(sum(lc.macs for lc in prefix) + head_macs, early, tgt),
        full=_path(cost.macs + head_macs, cost.latency_cycles + extra, tgt),
        single=_path(cost.macs, cost.latency_cycles, tgt),
    )


def cascade_costs(
    little: Genome, big: Genome, target: str, in_channels: int, in_len: int, n_classes: int
) -> StageCosts:
    """Stage costs of the cascade ``little`` -> ``big`` on ``target``."""
    tgt = load_target(target)
    lc = estimate(little, tgt, in_channels=in_channels, in_len=in_len, n_classes=n_classes)
    bc = estimate(big, tgt, in_channels=in_channels, in_len=in_len, n_classes=n_classes)
    early = lc.latency_cycles + _decision_cycles(n_classes, tgt)
    return StageCosts(
        target=tgt.name,
        early=_path(lc.macs, early, tgt),
        full=_path(lc.macs + bc.macs, early + bc.latency_cycles - bc.overhead_cycles, tgt),
        single=_path(bc.macs, bc.latency_cycles, tgt),
    )
