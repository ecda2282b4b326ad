"""Deployment: the C project of an integer model (PULP-NN-mixed kernel API), built and checked bit for bit.

    from harx.deploy import deploy, generate, run, test_windows
    result = deploy("artifacts/c16k5p2w8a8-gapw8", "rv32", "out/", windows=500, run_builds=True)
    result.bit_exact, result.runs[0].instructions.mean, result.runs[0].sizes

An adaptive model (``harx adapt``: early-exit head or big/little cascade, runtime modes) deploys the same
way from its directory; see ``harx.deploy.adaptive`` and ``harx.deploy.adaptive_c``.

See docs/deploy.md.
"""

from harx.deploy.adaptive import POLICIES, AdaptiveModel, ModeRule, confidence, load_adaptive, save_adaptive
from harx.deploy.adaptive_c import AdaptiveProject, AdaptiveRunResult, generate_adaptive, run_adaptive
from harx.deploy.codegen import DEPLOY_TARGETS, Project, generate, logits_checksum
from harx.deploy.kernels import Kernel
from harx.deploy.pipeline import DeployResult, deploy, test_windows
from harx.deploy.toolchain import ElfSizes, InstructionCount, RunResult, run

__all__ = [
    "DEPLOY_TARGETS",
    "POLICIES",
    "AdaptiveModel",
    "AdaptiveProject",
    "AdaptiveRunResult",
    "DeployResult",
    "ElfSizes",
    "InstructionCount",
    "Kernel",
    "ModeRule",
    "Project",
    "RunResult",
    "confidence",
    "deploy",
    "generate",
    "generate_adaptive",
    "load_adaptive",
    "logits_checksum",
    "run",
    "run_adaptive",
    "save_adaptive",
    "test_windows",
]
