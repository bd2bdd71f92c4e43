"""UNet5 / UNet8 shapes and size."""

import pytest
import torch

from cmbml.cmbnncs import UNet, UNet5, UNet8


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def test_unet8_parameter_count():
    # CMB-ML / cmbNNCS UNet8 with the 4 detectors 100-353 GHz: 100.7 M parameters
    assert abs(n_params(UNet8(4)) - 100.7e6) <= 0.1e6


def test_unet5_parameter_count_by_hand():
    # conv (k*k*cin*cout + cout) + BN (2*cout) + PReLU (1) per level; last level has no BN
    enc = [(4, 32, 5), (32, 64, 5), (64, 128, 4), (128, 256, 4), (256, 512, 4)]
    dec = [(512, 256, 4), (512, 128, 4), (256, 64, 4), (128, 32, 5), (64, 1, 5)]
    expected = sum(k * k * ci * co + co + 2 * co + 1 for ci, co, k in enc + dec) - 2 * 1
    assert n_params(UNet5(4)) == expected


@pytest.mark.parametrize("nside", [32, 64, 128])
def test_unet5_output_shape_and_levels(nside):
    torch.manual_seed(0)
    net = UNet5(4).eval()
    x = torch.randn(1, 4, 4 * nside, 3 * nside)
    shapes = []
    hooks = [b.register_forward_hook(lambda m, i, o: shapes.append(o.shape[-2:])) for b in net.down]
    with torch.no_grad():
        y = net(x)
    for h in hooks:
        h.remove()
    assert y.shape == (1, 1, 4 * nside, 3 * nside)
    assert torch.isfinite(y).all()
    # every encoder level halves both sides exactly
    assert shapes == [(4 * nside // 2**k, 3 * nside // 2**k) for k in range(1, 6)]


def test_unet5_rejects_too_small_nside():
    with pytest.raises(ValueError, match="divisible by 2\\*\\*5"):
        UNet5(4)(torch.zeros(1, 4, 64, 48))  # nside 16
    with pytest.raises(ValueError, match="expects input"):
        UNet5(4)(torch.zeros(1, 3, 128, 96))


def test_skip_connections_carry_fine_detail():
    # Zeroing the deepest encoder level must not silence the output: the skips carry signal.
    torch.manual_seed(1)
    net = UNet(2, 1, channels=(4, 8), kernels=(5, 4, 4, 5)).eval()
    with torch.no_grad():
        net.down[1][0].weight.zero_()
        net.down[1][0].bias.zero_()
        x = torch.randn(1, 2, 32, 24)
        y1 = net(x)
        y2 = net(x + torch.randn_like(x))
    assert y1.shape == (1, 1, 32, 24)
    assert not torch.allclose(y1, y2)


def test_bad_kernel_list():
    with pytest.raises(ValueError, match="kernels must list 4"):
        UNet(2, 1, channels=(4, 8), kernels=(5, 4, 4))


@pytest.mark.slow
def test_unet8_forward_nside512_cpu():
    torch.manual_seed(0)
    net = UNet8(4).eval()
    with torch.no_grad():
        y = net(torch.randn(1, 4, 2048, 1536))
    assert y.shape == (1, 1, 2048, 1536)
    assert torch.isfinite(y).all()
