import pytest
import torch

from harx.errors import ConfigError
from harx.quant.backends import get_backend, ste_round


def _qtorch_or_skip():
    try:
        return get_backend("qtorch")
    except ConfigError as exc:
        pytest.skip(f"qtorch extra not available: {exc}")


def test_torch_backend_rounds_ties_to_even():
    x = torch.tensor([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.49, 3.51])
    assert get_backend("torch").round(x).tolist() == [-2, -2, -0, 0, 2, 2, 3, 4]


def test_backends_agree_on_random_values_and_exact_ties():
    qt = _qtorch_or_skip()
    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(100_000, generator=g) * 40, torch.arange(-300, 300) + 0.5])
    assert torch.equal(get_backend("torch").round(x), qt.round(x))


def test_straight_through_gradient_is_identity():
    x = torch.tensor([0.2, 1.7, -3.4], requires_grad=True)
    y = ste_round(x, get_backend("torch"))
    y.sum().backward()
    assert y.tolist() == [0, 2, -3]
    assert x.grad.tolist() == [1, 1, 1]


def test_unknown_backend_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown quantization backend 'fp16'"):
        get_backend("fp16")
