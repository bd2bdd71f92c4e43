"""PatchNN's UNet: CMB-ML's simple UNet for HEALPix patches (``SimpleUNetModel``).

Layout of CMB-ML's ``cmbml/demo_patch_nn/dummy_model.py`` (branch ``archive-iccv2025``): an
input block of two 3x3 convolutions (no bias) each followed by ReLU to ``features`` channels;
``depth`` levels down, each a 2x2 max-pool then the same double convolution doubling the
channels; ``depth`` levels up, each a 2x2 stride-2 transposed convolution halving the channels,
concatenation with the matching encoder features, and a double convolution; a 1x1 convolution
to the output. With 9 detectors, ``features=32``, ``depth=3``: 1,925,921 parameters.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["PatchUNet"]


def _double_conv(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.ReLU(),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
        nn.ReLU(),
    )


class PatchUNet(nn.Module):
    """UNet on square patches ``(batch, in_channels, p, p)`` with ``p`` divisible by
    ``2**depth``.

    Parameters
    ----------
    in_channels : int
        Input maps (detectors).
    out_channels : int, optional
        Output maps.
    features : int, optional
        Channels of the first level (doubled at every level down; CMB-ML: 32).
    depth : int, optional
        Levels down (CMB-ML: 3).
    dropout : float, optional
        Dropout probability of each feature before the output convolution (0: none, CMB-ML's
        network);
        :func:`cmbml.nn.uncertainty.mc_predict` keeps it active to sample predictions.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int = 1,
        features: int = 32,
        depth: int = 3,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if min(in_channels, out_channels, features, depth) < 1:
            raise ValueError(
                "PatchUNet needs in_channels, out_channels, features and depth >= 1, got "
                f"{in_channels}, {out_channels}, {features}, {depth}"
            )
        self.in_channels = int(in_channels)
        self.depth = int(depth)
        widths = [int(features) * 2**level for level in range(depth + 1)]
        self.inc = _double_conv(self.in_channels, widths[0])
        self.down = nn.ModuleList(
            nn.Sequential(nn.MaxPool2d(2), _double_conv(c, 2 * c)) for c in widths[:-1]
        )
        self.up = nn.ModuleList(
            nn.ConvTranspose2d(c, c // 2, 2, stride=2) for c in reversed(widths[1:])
        )
        self.up_conv = nn.ModuleList(_double_conv(c, c // 2) for c in reversed(widths[1:]))
        self.dropout = nn.Dropout(float(dropout)) if dropout > 0 else nn.Identity()
        self.out = nn.Conv2d(widths[0], int(out_channels), 1)

    def check_input_size(self, side: int) -> None:
        """Raise ValueError unless every level can halve a patch of ``side`` pixels."""
        if side % 2**self.depth:
            raise ValueError(
                f"PatchUNet of depth {self.depth} needs patches whose side is divisible by "
                f"2**{self.depth} = {2**self.depth}, got {side}"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(batch, in_channels, p, p)`` to ``(batch, out_channels, p, p)``."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"PatchUNet expects input (batch, {self.in_channels}, p, p), got {tuple(x.shape)}"
            )
        self.check_input_size(x.shape[-1])
        skips = [self.inc(x)]
        for block in self.down:
            skips.append(block(skips[-1]))
        x = skips.pop()
        for up, conv in zip(self.up, self.up_conv, strict=True):
            x = conv(torch.cat([skips.pop(), up(x)], dim=1))
        return self.out(self.dropout(x))
