"""UNet5 / UNet8 of cmbNNCS (Wang et al. 2022) in plain PyTorch.

Every encoder level is a stride-2 ``Conv2d`` -> ``BatchNorm2d`` -> ``PReLU`` that halves both
image sides exactly; every decoder level is a stride-2 ``ConvTranspose2d`` -> ``BatchNorm2d`` ->
``PReLU`` that doubles them, fed with the concatenation (encoder features, decoder features) of
the matching level. The last decoder level has no BatchNorm. Paddings follow cmbNNCS's rule
(``extra_pad = 0``): for a kernel ``k`` the convolution uses ``padding = (k - 1) // 2`` and the
transposed convolution ``padding = (k - 1) // 2, output_padding = k % 2``.

Inputs are CMBNNCS planes of shape ``(batch, n_detectors, 4 * nside, 3 * nside)``; both sides
must be divisible by ``2**depth`` (depth 5: nside >= 32, depth 8: nside >= 256).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["UNet", "UNet5", "UNet8"]


def _encoder_block(c_in: int, c_out: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride=2, padding=(kernel - 1) // 2),
        nn.BatchNorm2d(c_out),
        nn.PReLU(),
    )


def _decoder_block(c_in: int, c_out: int, kernel: int, batch_norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.ConvTranspose2d(
            c_in, c_out, kernel, stride=2, padding=(kernel - 1) // 2, output_padding=kernel % 2
        )
    ]
    if batch_norm:
        layers.append(nn.BatchNorm2d(c_out))
    layers.append(nn.PReLU())
    return nn.Sequential(*layers)


class UNet(nn.Module):
    """Symmetric UNet with stride-2 convolutions and skip concatenations (cmbNNCS design).

    Parameters
    ----------
    in_channels : int
        Number of input maps (detectors).
    out_channels : int
        Number of output maps.
    channels : sequence of int
        Feature channels of the encoder levels, shallowest first (length = depth).
    kernels : sequence of int
        Kernel sizes: the ``depth`` encoder levels then the ``depth`` decoder levels (decoder
        listed from the deepest level to the output).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        channels: Sequence[int],
        kernels: Sequence[int],
    ) -> None:
        super().__init__()
        channels = [int(c) for c in channels]
        kernels = [int(k) for k in kernels]
        depth = len(channels)
        if len(kernels) != 2 * depth:
            raise ValueError(
                f"kernels must list {2 * depth} sizes ({depth} encoder + {depth} decoder) for "
                f"{depth} channel levels, got {len(kernels)}"
            )
        if in_channels < 1 or out_channels < 1:
            raise ValueError(
                f"in_channels and out_channels must be >= 1, got {in_channels}, {out_channels}"
            )
        self.depth = depth
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)

        encoder_in = [self.in_channels, *channels[:-1]]
        self.down = nn.ModuleList(
            _encoder_block(c_in, c_out, k)
            for c_in, c_out, k in zip(encoder_in, channels, kernels[:depth], strict=True)
        )
        # decoder level i maps to the channels of encoder level depth-2-i (output last)
        decoder_out = [*channels[-2::-1], self.out_channels]
        decoder_in = [channels[-1]] + [2 * c for c in channels[-2::-1]]
        self.up = nn.ModuleList(
            _decoder_block(c_in, c_out, k, batch_norm=i < depth - 1)
            for i, (c_in, c_out, k) in enumerate(
                zip(decoder_in, decoder_out, kernels[depth:], strict=True)
            )
        )

    def check_input_size(self, height: int, width: int) -> None:
        """Raise ValueError unless every level can halve ``(height, width)`` exactly.

        For CMBNNCS planes ``(4*nside, 3*nside)`` this means ``nside >= 2**depth``.
        """
        factor = 2**self.depth
        if height % factor or width % factor:
            raise ValueError(
                f"{type(self).__name__} needs H and W divisible by 2**{self.depth} = {factor} "
                f"(planes (4*nside, 3*nside) with nside >= {factor}), got {(height, width)}"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(batch, in_channels, H, W)`` to ``(batch, out_channels, H, W)``."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"{type(self).__name__} expects input (batch, {self.in_channels}, H, W), "
                f"got {tuple(x.shape)}"
            )
        self.check_input_size(x.shape[-2], x.shape[-1])
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
        x = self.up[0](skips.pop())
        for block in self.up[1:]:
            x = block(torch.cat((skips.pop(), x), dim=1))
        return x


class UNet5(UNet):
    """Five-level cmbNNCS UNet (channels 32...512, 6,265,419 parameters with 4 inputs).

    For nside 32 to 128. The defaults are CMB-ML's UNet5 (its ``network/unet5.yaml``).

    Parameters
    ----------
    in_channels : int
        Number of input maps (detectors).
    out_channels : int, optional
        Number of output maps (1: the CMB temperature plane).
    channels : sequence of int, optional
        Encoder channels, default ``(32, 64, 128, 256, 512)``.
    kernels : sequence of int, optional
        Encoder then decoder kernel sizes, default ``(4, 4, 4, 4, 4, 4, 4, 4, 4, 2)``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int = 1,
        channels: Sequence[int] = (32, 64, 128, 256, 512),
        kernels: Sequence[int] = (4, 4, 4, 4, 4, 4, 4, 4, 4, 2),
    ) -> None:
        if len(channels) != 5:
            raise ValueError(f"UNet5 needs 5 channel levels, got {list(channels)}")
        super().__init__(in_channels, out_channels, channels, kernels)


class UNet8(UNet):
    """Eight-level cmbNNCS UNet (channels 16...2048, 100,689,681 parameters with 4 inputs).

    For nside >= 256 (paper: 512). The defaults are CMB-ML's UNet8 (its ``network/unet8.yaml``).

    Parameters
    ----------
    in_channels : int
        Number of input maps (detectors).
    out_channels : int, optional
        Number of output maps (1: the CMB temperature plane).
    channels : sequence of int, optional
        Encoder channels, default ``(16, 32, ..., 2048)``.
    kernels : sequence of int, optional
        Encoder then decoder kernel sizes, default ``(5,5,4,4,4,4,4,4, 4,4,4,4,4,4,5,5)``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int = 1,
        channels: Sequence[int] = (16, 32, 64, 128, 256, 512, 1024, 2048),
        kernels: Sequence[int] = (5, 5, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 5, 5),
    ) -> None:
        if len(channels) != 8:
            raise ValueError(f"UNet8 needs 8 channel levels, got {list(channels)}")
        super().__init__(in_channels, out_channels, channels, kernels)
