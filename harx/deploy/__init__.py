"""Deployment: the C project of an integer model (PULP-NN-mixed kernel API), built and checked bit for bit.

    from harx.deploy import deploy, generate, run, test_windows
    result = deploy("artifacts/c16k5p2w8a8-gapw8", "rv32", "out/", windows=500, run_builds=True)
    result.bit_exact, result.runs[0].instructions.mean, result.runs[0].sizes

An adaptive model (``harx adapt``: early-exit head or big/little cascade, runtime modes) deploys the same
way from its directory; see ``harx.quant.adaptive`` (its integer golden model) and ``harx.deploy.adaptive_c``.
Which kernel runs each layer is ``harx.cost.lowering``'s decision (``kernels="opt"``, harx's optimized
kernels, by default on rv32 and host; ``"ref"``, its reference); ``harx.deploy.emit`` writes the C.

See docs/deploy.md.
"""

from harx.deploy.adaptive_c import AdaptiveProject, generate_adaptive
from harx.deploy.codegen import Project, generate
from harx.deploy.emit import deploy_targets, logits_checksum
from harx.deploy.pipeline import DeployResult, deploy, test_windows
from harx.deploy.toolchain import AdaptiveRunResult, ElfSizes, InstructionCount, RunResult, run, run_adaptive

DEPLOY_TARGETS = deploy_targets()

__all__ = [
    "DEPLOY_TARGETS",
    "AdaptiveProject",
    "AdaptiveRunResult",
    "DeployResult",
    "ElfSizes",
    "InstructionCount",
    "Project",
    "RunResult",
    "deploy",
    "generate",
    "generate_adaptive",
    "logits_checksum",
    "run",
    "run_adaptive",
    "test_windows",
]
