"""SphereUNet against CMB-ML's DeepSphere UNet (branch dev-deepsphere-markov) and the maths of a
Chebyshev convolution."""

import healpy as hp
import numpy as np
import pytest
import torch
from torch import nn

from cmbml.deepsphere import ChebConv, SphereUNet, scaled_laplacian


def cmb_ml_parameter_count(n_in, w=32, k=3):
    """Parameters of CMB-ML's SphericalUNet from its block list: every Chebyshev convolution
    has K * in * out weights and out biases, every BatchNorm1d 2 * out; a 1x1 output Conv1d."""

    def block(c_in, c_mid, c_out):
        return sum(k * a * b + b + 2 * b for a, b in ((c_in, c_mid), (c_mid, c_out)))

    encoder = [
        (n_in, w, 2 * w),
        (2 * w, 4 * w, 4 * w),
        (4 * w, 8 * w, 8 * w),
        (8 * w, 16 * w, 8 * w),
    ]
    decoder = [(16 * w, 8 * w, 4 * w), (8 * w, 4 * w, 2 * w), (4 * w, w, w // 2)]
    return sum(block(*b) for b in encoder + decoder) + w // 2 + 1


def test_parameter_count_and_layout_match_cmb_ml():
    network = SphereUNet(9, nside=8)
    assert sum(p.numel() for p in network.parameters()) == cmb_ml_parameter_count(9) == 1_797_089
    convs = [m for m in network.modules() if isinstance(m, ChebConv)]
    shapes = [tuple(m.weight.shape[1:]) for m in convs]
    assert shapes == [
        (9, 32), (32, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 512), (512, 256),
        (512, 256), (256, 128), (256, 128), (128, 64), (128, 32), (32, 16),
    ]  # fmt: skip
    assert [m.nside for m in convs] == [8, 8, 4, 4, 2, 2, 1, 1, 2, 2, 4, 4, 8, 8]
    assert all(m.weight.shape[0] == 3 for m in convs)
    assert sum(isinstance(m, nn.BatchNorm1d) for m in network.modules()) == 14


def test_chebyshev_convolution_equals_the_dense_polynomial():
    torch.manual_seed(0)
    nside, k = 4, 4
    conv = ChebConv(2, 3, k, nside)
    x = torch.randn(2, hp.nside2npix(nside), 2, dtype=torch.float32)
    lap = scaled_laplacian(nside).to_dense().double().numpy()
    terms = [np.eye(lap.shape[0]), lap]
    for _ in range(2, k):
        terms.append(2 * lap @ terms[-1] - terms[-2])
    weight = conv.weight.detach().double().numpy()
    expected = (
        sum(np.einsum("pq,bqc,co->bpo", terms[i], x.double().numpy(), weight[i]) for i in range(k))
        + conv.bias.detach().double().numpy()
    )
    np.testing.assert_allclose(conv(x).detach().double().numpy(), expected, rtol=1e-3, atol=1e-3)


def test_rotation_by_90_degrees_commutes_approximately():
    """A graph convolution is (nearly) equivariant: rotating the sky by 90 degrees about the pole
    maps the graph onto itself, so the output rotates with the input."""
    torch.manual_seed(1)
    nside = 8
    conv = ChebConv(1, 1, 3, nside).double()
    npix = hp.nside2npix(nside)
    theta, phi = hp.pix2ang(nside, np.arange(npix), nest=True)
    turned = hp.ang2pix(nside, theta, phi + np.pi / 2, nest=True)
    x = torch.randn(1, npix, 1, dtype=torch.float64)
    out = conv(x)[0, :, 0].detach().numpy()
    rotated_in = torch.zeros_like(x)
    rotated_in[0, turned, 0] = x[0, :, 0]
    out_rotated = conv(rotated_in)[0, :, 0].detach().numpy()
    np.testing.assert_allclose(out_rotated[turned], out, atol=1e-3 * np.abs(out).max())


def test_shapes_and_errors():
    network = SphereUNet(4, nside=8, width=4, dropout=0.1)
    assert network(torch.zeros(2, 4, hp.nside2npix(8))).shape == (2, 1, hp.nside2npix(8))
    with pytest.raises(ValueError, match="expects input"):
        network(torch.zeros(2, 4, 100))
    with pytest.raises(ValueError, match="nside >= 8"):
        SphereUNet(4, nside=4)


def test_learns_a_combination_of_its_input_maps():
    """The cleaning task at its simplest: the target is a fixed linear combination of the
    input maps; 120 Adam steps bring the L1 error well below that of a zero prediction."""
    torch.manual_seed(0)
    npix = hp.nside2npix(8)
    x = torch.randn(8, 3, npix)
    y = x[:, :1] - 0.5 * x[:, 1:2]
    network = SphereUNet(3, nside=8, width=8)
    optimiser = torch.optim.Adam(network.parameters(), lr=3e-3)
    for step in range(120):
        batch = slice(4 * (step % 2), 4 * (step % 2) + 4)
        optimiser.zero_grad()
        torch.nn.functional.l1_loss(network(x[batch]), y[batch]).backward()
        optimiser.step()
    network.eval()
    with torch.no_grad():
        error = torch.nn.functional.l1_loss(network(x), y).item()
    assert error < 0.3 * y.abs().mean().item()


def test_chebyshev_gradients_equal_the_dense_polynomial_ones():
    """The sparse products' backward pass (L~ is symmetric, so it reuses L~) gives the gradients
    of the dense polynomial, for the input and the weights."""
    torch.manual_seed(2)
    nside, k = 2, 3
    conv = ChebConv(2, 3, k, nside).double()
    x = torch.randn(2, hp.nside2npix(nside), 2, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(2, hp.nside2npix(nside), 3, dtype=torch.float64)
    (conv(x) * upstream).sum().backward()
    lap = torch.from_numpy(scaled_laplacian(nside).to_dense().double().numpy())
    terms = [torch.eye(lap.shape[0], dtype=torch.float64), lap]
    for _ in range(2, k):
        terms.append(2 * lap @ terms[-1] - terms[-2])
    x_ref = x.detach().clone().requires_grad_(True)
    weight = conv.weight.detach().clone().requires_grad_(True)
    dense = sum(torch.einsum("pq,bqc,co->bpo", terms[i], x_ref, weight[i]) for i in range(k))
    (dense * upstream).sum().backward()
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(conv.weight.grad, weight.grad, rtol=1e-5, atol=1e-6)
