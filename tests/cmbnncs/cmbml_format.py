"""A network with the module tree of cmbNNCS's UNet as CMB-ML builds it, and its checkpoints.

cmbNNCS (Wang et al. 2022) names its levels ``conv1..conv<depth>`` and ``deconv1..deconv<depth>``;
each is an ``nn.Sequential`` of one stride-2 (transposed) convolution ``"0"``, a BatchNorm
``"1"`` and a PReLU ``"2"`` (no BatchNorm in the last decoder level with CMB-ML's
``finalBN: false``: its PReLU is ``"1"``). Paddings follow cmbNNCS's search: the smallest
padding (and output padding) that gives ``extra_pad = 0``. The channels are CMB-ML's
``2**(log2(max_filters) - depth + 1) ... max_filters``.
"""

from __future__ import annotations

import torch
from torch import nn


def conv_padding(kernel: int, stride: int = 2) -> int:
    """cmbNNCS's Conv2d padding: the first p with (2p - (k - 1) - 1) // s + 1 == 0."""
    return next(p for p in range(9) if (2 * p - (kernel - 1) - 1) // stride + 1 == 0)


def deconv_padding(kernel: int, stride: int = 2) -> tuple[int, int]:
    """cmbNNCS's ConvTranspose2d (padding, output_padding): k - s - 2p + op == 0."""
    return next((p, op) for op in range(2) for p in range(9) if kernel - stride - 2 * p + op == 0)


def level(c_in, c_out, kernel, *, transposed, batch_norm=True) -> nn.Sequential:
    seq = nn.Sequential()
    if transposed:
        pad, out_pad = deconv_padding(kernel)
        seq.add_module("0", nn.ConvTranspose2d(c_in, c_out, kernel, 2, pad, out_pad))
    else:
        seq.add_module("0", nn.Conv2d(c_in, c_out, kernel, 2, conv_padding(kernel)))
    if batch_norm:
        seq.add_module("1", nn.BatchNorm2d(c_out))
    seq.add_module(str(len(seq)), nn.PReLU())
    return seq


class CmbmlUNet(nn.Module):
    """cmbNNCS's UNet<depth> module tree (CMB-ML's configuration: finalBN false)."""

    def __init__(self, channels, kernels, channel_in, channel_out=1, final_bn=False):
        super().__init__()
        self.depth = depth = len(channels)
        c_in = [channel_in, *channels[:-1]]
        for n in range(depth):
            self.add_module(
                f"conv{n + 1}", level(c_in[n], channels[n], kernels[n], transposed=False)
            )
        outs = [*channels[-2::-1], channel_out]
        ins = [channels[-1]] + [2 * c for c in channels[-2::-1]]
        for n in range(depth):
            last = n == depth - 1
            self.add_module(
                f"deconv{n + 1}",
                level(
                    ins[n],
                    outs[n],
                    kernels[depth + n],
                    transposed=True,
                    batch_norm=final_bn or not last,
                ),
            )

    def forward(self, x):
        skips = []
        for n in range(self.depth):
            x = getattr(self, f"conv{n + 1}")(x)
            skips.append(x)
        x = self.deconv1(skips.pop())
        for n in range(1, self.depth):
            x = getattr(self, f"deconv{n + 1}")(torch.cat((skips.pop(), x), 1))
        return x


def cmbml_channels(max_filters: int, depth: int) -> tuple[int, ...]:
    """CMB-ML's unet_wrapper rule: powers of two from max_filters / 2**(depth - 1)."""
    top = max_filters.bit_length() - 1
    return tuple(2**i for i in range(top - depth + 1, top + 1))


def randomised(net: nn.Module, seed: int) -> nn.Module:
    """Every parameter and BatchNorm statistic drawn at random (so no mapping error hides)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in net.state_dict().items():
            if name.endswith("num_batches_tracked"):
                continue
            values = torch.rand(tensor.shape, generator=gen)
            if name.endswith("running_var"):
                tensor.copy_(0.5 + values)
            else:
                tensor.copy_(0.2 * (values - 0.5))
    return net.eval()


def save_cmbml_checkpoint(net: nn.Module, path, epoch: int) -> None:
    """The file CMB-ML's PyTorchModel handler writes (model_<epoch>.pth)."""
    optimizer = torch.optim.Adam(net.parameters(), lr=0.1)
    torch.save(
        {
            "epoch": epoch,
            "model_state_dict": net.state_dict(),
            "optimizer_state_dict": optimizer.state_dict(),
            "loss": 0.25,
        },
        path,
    )
