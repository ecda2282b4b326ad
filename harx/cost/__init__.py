"""Memory, latency and energy of a genome on a microcontroller target (constants in ``targets/*.yaml``).

    from harx.cost import estimate
    cost = estimate("c16k5p2w8a8-c24k5s2w4a4-gapw8", "gap8", in_channels=9, in_len=128, n_classes=6)
    cost.flash_bytes, cost.ram_bytes, cost.latency_ms, cost.energy_uj, cost.feasible

Reads only a genome's integer layer sequence (``harx.models.genome``); see docs/cost-model.md.
"""

from harx.cost.estimate import Cost, LayerCost, estimate
from harx.cost.latency import instruction_terms
from harx.cost.lowering import Kernel, Lowered, kernel_of, lower, lower_network
from harx.cost.memory import LayerMemory, MemoryPlan, MemoryUse, TensorSlot, plan
from harx.cost.target import DEFAULT_TARGET, TARGETS, Memory, Target, deploy_plan_targets, load_target

__all__ = [
    "DEFAULT_TARGET",
    "TARGETS",
    "Cost",
    "Kernel",
    "LayerCost",
    "LayerMemory",
    "Lowered",
    "Memory",
    "MemoryPlan",
    "MemoryUse",
    "Target",
    "TensorSlot",
    "deploy_plan_targets",
    "estimate",
    "instruction_terms",
    "kernel_of",
    "load_target",
    "lower",
    "lower_network",
    "plan",
]
