"""Memory, latency and energy of a genome on a microcontroller target (constants in ``targets/*.yaml``).

    from harx.cost import estimate
    cost = estimate("c16k5p2w8a8-c24k5s2w4a4-gapw8", "gap8", in_channels=9, in_len=128, n_classes=6)
    cost.flash_bytes, cost.ram_bytes, cost.latency_ms, cost.energy_uj, cost.feasible

Reads only a genome's integer layer sequence (``harx.models.genome``); see docs/cost-model.md.
"""

from harx.cost.estimate import Cost, LayerCost, estimate
from harx.cost.kernels import LayerTerms, instruction_terms
from harx.cost.memory import LayerMemory, MemoryPlan, MemoryUse, TensorSlot, plan
from harx.cost.target import TARGETS, Memory, Target, load_target

__all__ = [
    "TARGETS",
    "Cost",
    "LayerCost",
    "LayerMemory",
    "LayerTerms",
    "Memory",
    "MemoryPlan",
    "MemoryUse",
    "Target",
    "TensorSlot",
    "estimate",
    "instruction_terms",
    "load_target",
    "plan",
]
