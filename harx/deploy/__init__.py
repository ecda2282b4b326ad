"""Deployment: the C project of an integer model (PULP-NN-mixed kernel API), built and checked bit for bit.

    from harx.deploy import generate, test_windows
    windows = test_windows(artifact, 500)
    project = generate(artifact, "out/", "rv32", windows)

See docs/deploy.md.
"""

from harx.deploy.codegen import DEPLOY_TARGETS, Project, generate, logits_checksum
from harx.deploy.kernels import Kernel

__all__ = ["DEPLOY_TARGETS", "Kernel", "Project", "generate", "logits_checksum"]
