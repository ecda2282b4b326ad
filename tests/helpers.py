"""Shared test helpers: small random quantized networks with realistic BatchNorm statistics, the har-mini
import file, a skip for missing build tools."""

from pathlib import Path

import numpy as np
import pytest
import torch

from harx.deploy.toolchain import missing_tools
from harx.models import parse_genome
from harx.models.build import build
from harx.quant.backends import get_backend


def random_quant_net(text, in_len, seed):
    torch.manual_seed(seed)
    genome = parse_genome(text)
    net = build(genome, 9, in_len, 6, exits={0: 8})
    x = torch.randn(256, 9, in_len)
    net.train()
    for _ in range(5):  # settle BatchNorm running statistics on this input distribution
        net(x)
    for blk in net.blocks:
        blk.bn.weight.data.uniform_(0.5, 1.5)
        blk.bn.bias.data.uniform_(-0.2, 0.5)
    for lin in [net.fc, *net.exit_heads.values()]:
        lin.fc.bias.data.uniform_(-0.5, 0.5)
    net.eval()
    backend = get_backend("torch")
    net.calibrate(x, backend)
    net.set_quantized(True, backend)
    return net, x


def write_har_mini(home: Path, path: Path) -> Path:
    """har-mini: every 10th window of the uci-har fetched into ``home`` (all 30 subjects, the official test
    subjects), as an .npz that ``harx fetch --import`` reads."""
    from harx.data import load_dataset

    ds = load_dataset("uci-har", home=home)
    keep = np.arange(0, len(ds.y), 10)
    np.savez(
        path,
        X=ds.X[keep],
        y=ds.y[keep],
        subject=ds.subject[keep],
        fs_hz=ds.fs_hz,
        class_names=np.array(ds.class_names),
        channel_names=np.array(ds.channel_names),
        test_subjects=np.array(ds.test_subjects),
    )
    return path


def needs(*builds: str):
    """Skip unless the tools of every build (host, asan, rv32) are on PATH."""
    missing = sorted({t for b in builds for t in missing_tools(b)})
    return pytest.mark.skipif(bool(missing), reason=f"needs {', '.join(missing)} on PATH")
