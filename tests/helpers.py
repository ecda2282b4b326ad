"""Shared test helpers: small random quantized networks with realistic BatchNorm statistics."""

import torch

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
