"""PatchUNet against CMB-ML's PatchNN network (SimpleUNetModel, branch archive-iccv2025)."""

import pytest
import torch
from torch import nn

from cmbml.patchnn import PatchUNet


def cmb_ml_parameter_count(n_in, features=32, depth=3):
    """Parameters of CMB-ML's SimpleUNetModel, counted layer by layer from its definition:
    bias-free 3x3 double convolutions, 2x2 stride-2 transposed convolutions with bias, a 1x1
    output convolution with bias."""

    def double(c_in, c_out):
        return 9 * c_in * c_out + 9 * c_out * c_out

    total = double(n_in, features)
    c = features
    for _ in range(depth):
        total += double(c, 2 * c)
        c *= 2
    for _ in range(depth):
        total += 4 * c * (c // 2) + c // 2 + double(c, c // 2)
        c //= 2
    return total + features + 1


def test_parameter_count_matches_cmb_ml_patchnn():
    network = PatchUNet(9)
    n = sum(p.numel() for p in network.parameters())
    assert n == cmb_ml_parameter_count(9) == 1_925_921
    assert sum(p.numel() for p in PatchUNet(4, features=16).parameters()) == (
        cmb_ml_parameter_count(4, features=16)
    )


def test_layer_layout():
    network = PatchUNet(9)
    convs = [m for m in network.modules() if isinstance(m, nn.Conv2d)]
    assert [m.kernel_size for m in convs] == [(3, 3)] * 14 + [(1, 1)]
    assert all(m.bias is None for m in convs[:-1]) and convs[-1].bias is not None
    ups = [m for m in network.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(m.in_channels, m.out_channels, m.kernel_size, m.stride) for m in ups] == [
        (256, 128, (2, 2), (2, 2)),
        (128, 64, (2, 2), (2, 2)),
        (64, 32, (2, 2), (2, 2)),
    ]
    assert sum(isinstance(m, nn.MaxPool2d) for m in network.modules()) == 3
    assert not any(isinstance(m, nn.BatchNorm2d) for m in network.modules())


def test_shapes_and_errors():
    network = PatchUNet(4, features=8, depth=2, dropout=0.2)
    assert network(torch.zeros(3, 4, 8, 8)).shape == (3, 1, 8, 8)
    with pytest.raises(ValueError, match="divisible by 2\\*\\*2"):
        network(torch.zeros(1, 4, 6, 6))
    with pytest.raises(ValueError, match="expects input"):
        network(torch.zeros(1, 3, 8, 8))
