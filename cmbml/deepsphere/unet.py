"""DeepSphere UNet: Chebyshev graph convolutions on the HEALPix sphere (CMB-ML's layout).

Layout of CMB-ML's ``SphericalUNet`` (branch ``dev-deepsphere-markov``,
``cmbml/deepsphere_unet/deepsphere``): every block is two Chebyshev convolutions (``K``
polynomial terms, bias) each followed by BatchNorm and ReLU. Encoder, from the input nside
down: ``in -> w -> 2w``; pool, ``2w -> 4w -> 4w``; pool, ``4w -> 8w -> 8w``; pool,
``8w -> 16w -> 8w``. Decoder: unpool, concatenate the skip, ``16w -> 8w -> 4w``; unpool,
``8w -> 4w -> 2w``; unpool, ``4w -> w -> w/2``; a 1x1 convolution to the output (CMB-ML:
``w = 32``, ``K = 3``, depth 4, 9 detectors: 1,797,089 parameters). Input and output are NEST
maps ``(batch, channels, npix)``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from cmbml.deepsphere.graph import laplacian_product, pool, scaled_laplacian, unpool

__all__ = ["ChebConv", "SphereUNet"]


class ChebConv(nn.Module):
    """Chebyshev graph convolution ``y = sum_k T_k(L~) x W_k + b`` on ``(batch, npix, c)``.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int
        Number of Chebyshev terms ``K`` (polynomial degree ``K - 1``).
    nside : int
        Resolution of the graph (the Laplacian is shared by every layer at that nside).
    laplacian : str, optional
        ``combinatorial`` or ``normalized``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        nside: int,
        laplacian: str = "combinatorial",
    ) -> None:
        super().__init__()
        self.nside, self.kind = int(nside), str(laplacian)
        self.weight = nn.Parameter(torch.empty(kernel_size, in_channels, out_channels))
        self.bias = nn.Parameter(torch.full((out_channels,), 0.01))
        bound = math.sqrt(6 / (in_channels + out_channels))  # Xavier uniform, as CMB-ML
        nn.init.uniform_(self.weight, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, npix, c_in = x.shape
        lap = scaled_laplacian(self.nside, self.kind, device=x.device, dtype=x.dtype)
        flat = x.permute(1, 2, 0).reshape(npix, c_in * batch)  # (npix, c_in * batch)
        terms = [flat]
        if self.weight.shape[0] > 1:
            terms.append(laplacian_product(lap, flat))
        for _ in range(2, self.weight.shape[0]):
            terms.append(2 * laplacian_product(lap, terms[-1]) - terms[-2])
        stacked = torch.stack(terms).reshape(len(terms), npix, c_in, batch)
        out = torch.einsum("kpcb,kco->bpo", stacked, self.weight)
        return out + self.bias


class _ChebBlock(nn.Module):
    """Two Chebyshev convolutions, each followed by BatchNorm and ReLU."""

    def __init__(self, c_in: int, c_mid: int, c_out: int, k: int, nside: int, kind: str):
        super().__init__()
        self.conv1, self.bn1 = ChebConv(c_in, c_mid, k, nside, kind), nn.BatchNorm1d(c_mid)
        self.conv2, self.bn2 = ChebConv(c_mid, c_out, k, nside, kind), nn.BatchNorm1d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv, bn in ((self.conv1, self.bn1), (self.conv2, self.bn2)):
            x = torch.relu(bn(conv(x).transpose(1, 2)).transpose(1, 2))
        return x


class SphereUNet(nn.Module):
    """Spherical UNet of depth 4 on NEST maps at ``nside``.

    Parameters
    ----------
    in_channels : int
    nside : int
        Input resolution (>= 8: three poolings).
    width : int, optional
        ``w``, the channels of the first convolution (CMB-ML: 32).
    kernel_size : int, optional
        Chebyshev terms (CMB-ML: 3).
    laplacian : str, optional
    dropout : float, optional
        Dropout before the output convolution (Monte-Carlo dropout; CMB-ML: none).
    """

    def __init__(
        self,
        in_channels: int,
        nside: int,
        width: int = 32,
        kernel_size: int = 3,
        laplacian: str = "combinatorial",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if nside < 8 or nside & (nside - 1):
            raise ValueError(f"SphereUNet needs a power-of-2 nside >= 8, got {nside}")
        self.in_channels, self.nside = int(in_channels), int(nside)
        w, k, kind = int(width), int(kernel_size), str(laplacian)
        sides = [nside // 2**level for level in range(4)]
        self.enc = nn.ModuleList(
            [
                _ChebBlock(in_channels, w, 2 * w, k, sides[0], kind),
                _ChebBlock(2 * w, 4 * w, 4 * w, k, sides[1], kind),
                _ChebBlock(4 * w, 8 * w, 8 * w, k, sides[2], kind),
                _ChebBlock(8 * w, 16 * w, 8 * w, k, sides[3], kind),
            ]
        )
        self.dec = nn.ModuleList(
            [
                _ChebBlock(16 * w, 8 * w, 4 * w, k, sides[2], kind),
                _ChebBlock(8 * w, 4 * w, 2 * w, k, sides[1], kind),
                _ChebBlock(4 * w, w, w // 2, k, sides[0], kind),
            ]
        )
        self.dropout = nn.Dropout(float(dropout)) if dropout > 0 else nn.Identity()
        self.out = nn.Conv1d(w // 2, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map NEST maps ``(batch, in_channels, npix)`` to ``(batch, 1, npix)``."""
        npix = 12 * self.nside**2
        if x.ndim != 3 or x.shape[1] != self.in_channels or x.shape[2] != npix:
            raise ValueError(
                f"SphereUNet expects input (batch, {self.in_channels}, {npix}), got "
                f"{tuple(x.shape)}"
            )
        x = x.transpose(1, 2)
        skips = []
        for level, block in enumerate(self.enc):
            x = block(x if level == 0 else pool(x))
            skips.append(x)
        x = skips.pop()
        for block in self.dec:
            x = block(torch.cat([unpool(x), skips.pop()], dim=2))
        return self.out(self.dropout(x).transpose(1, 2))
