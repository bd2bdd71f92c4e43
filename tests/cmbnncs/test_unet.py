"""UNet5 / UNet8 shapes and size."""

import pytest
import torch

from cmbml.cmbnncs import UNet, UNet5, UNet8


def n_params(model):
    return sum(p.numel() for p in model.parameters())


# The published networks, layer by layer, as built by cmbNNCS's unet.py (Wang et al. 2022) with
# CMB-ML's settings (cfg/model/cmbnncs/network/unet5.yaml and unet8.yaml of CMB-ML/cmb-ml:
# kernels, stride 2 everywhere, extra_pads 0, PReLU, no BatchNorm after the last layer) and the
# 4 detectors 100-353 GHz. cmbNNCS picks the paddings that halve (Conv2d) or double
# (ConvTranspose2d) the sides exactly. Columns: in, out, kernel, stride, padding, output_padding
# (None for Conv2d), BatchNorm after the layer.
UNET5_LAYERS = [
    (4, 32, 4, 2, 1, None, True),
    (32, 64, 4, 2, 1, None, True),
    (64, 128, 4, 2, 1, None, True),
    (128, 256, 4, 2, 1, None, True),
    (256, 512, 4, 2, 1, None, True),
    (512, 256, 4, 2, 1, 0, True),
    (512, 128, 4, 2, 1, 0, True),
    (256, 64, 4, 2, 1, 0, True),
    (128, 32, 4, 2, 1, 0, True),
    (64, 1, 2, 2, 0, 0, False),
]
UNET8_LAYERS = [
    (4, 16, 5, 2, 2, None, True),
    (16, 32, 5, 2, 2, None, True),
    (32, 64, 4, 2, 1, None, True),
    (64, 128, 4, 2, 1, None, True),
    (128, 256, 4, 2, 1, None, True),
    (256, 512, 4, 2, 1, None, True),
    (512, 1024, 4, 2, 1, None, True),
    (1024, 2048, 4, 2, 1, None, True),
    (2048, 1024, 4, 2, 1, 0, True),
    (2048, 512, 4, 2, 1, 0, True),
    (1024, 256, 4, 2, 1, 0, True),
    (512, 128, 4, 2, 1, 0, True),
    (256, 64, 4, 2, 1, 0, True),
    (128, 32, 4, 2, 1, 0, True),
    (64, 16, 5, 2, 2, 1, True),
    (32, 1, 5, 2, 2, 1, False),
]


def layer_table(net):
    rows = []
    for block in [*net.down, *net.up]:
        conv, rest = block[0], list(block[1:])
        transposed = isinstance(conv, torch.nn.ConvTranspose2d)
        assert transposed or isinstance(conv, torch.nn.Conv2d)
        assert conv.kernel_size[0] == conv.kernel_size[1] and conv.bias is not None
        assert conv.stride[0] == conv.stride[1] and conv.padding[0] == conv.padding[1]
        has_bn = isinstance(rest[0], torch.nn.BatchNorm2d)
        if has_bn:
            bn = rest.pop(0)
            assert (bn.eps, bn.momentum, bn.affine) == (1e-5, 0.1, True)
        assert len(rest) == 1 and isinstance(rest[0], torch.nn.PReLU)
        assert rest[0].num_parameters == 1
        rows.append(
            (
                conv.in_channels,
                conv.out_channels,
                conv.kernel_size[0],
                conv.stride[0],
                conv.padding[0],
                conv.output_padding[0] if transposed else None,
                has_bn,
            )
        )
    return rows


def test_unet5_is_the_published_network():
    assert layer_table(UNet5(4)) == UNET5_LAYERS
    assert n_params(UNet5(4)) == 6_265_419


def test_unet8_is_the_published_network():
    assert layer_table(UNet8(4)) == UNET8_LAYERS
    assert n_params(UNet8(4)) == 100_689_681


def test_network_configs_build_the_published_networks():
    from hydra.utils import instantiate

    from cmbml.core import compose

    for network, table in (("unet5", UNET5_LAYERS), ("unet8", UNET8_LAYERS)):
        cfg = compose("config_cmbnncs", [f"model/cmbnncs/network={network}"])
        assert layer_table(instantiate(cfg.model.cmbnncs.network, in_channels=4)) == table


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
