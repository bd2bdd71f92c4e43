"""Data-parallel training helpers on ``torch.distributed`` (DistributedDataParallel).

A launcher (``torchrun``) starts one process per device; the pipeline runner joins them in the
default process group (:mod:`cmbml.core.distributed`). The :class:`~cmbml.nn.Trainer`
then splits every global batch across the processes and synchronises BatchNorm, so that ``N``
processes compute what one process computes with the same global batch. These helpers work
without a process group too (rank 0 of a world of 1), so the single-process path is the same
code.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn

from cmbml.core import distributed

__all__ = [
    "DistributedBatchNorm2d",
    "all_sum",
    "broadcast",
    "is_main",
    "synchronise_batch_norm",
    "world",
]


def world() -> tuple[int, int]:
    """``(rank, world_size)`` of the default process group; ``(0, 1)`` without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    """Whether this process is rank 0 (the one that writes files)."""
    return world()[0] == 0


def all_sum(values: list[float]) -> list[float]:
    """Sum ``values`` over all processes (float64); identity in a world of 1."""
    if world()[1] == 1:
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64, device=distributed.collective_device())
    dist.all_reduce(tensor)
    return tensor.cpu().tolist()


def broadcast(value):
    """Rank 0's ``value`` (any picklable object) on every process; identity in a world of 1."""
    if world()[1] == 1:
        return value
    return distributed.broadcast(value)


class _AllReduceSum(torch.autograd.Function):
    """Sum over processes; its gradient is the sum over processes of the output gradients."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        out = tensor.clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        out = grad.clone()
        dist.all_reduce(out)
        return out


class DistributedBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics cover the samples of every process.

    Same parameters, buffers and state-dict keys as :class:`torch.nn.BatchNorm2d`. In training
    mode inside a process group of more than one process, the per-channel mean and (biased)
    variance are those of the global batch, computed by two differentiable all-reduces (sum,
    then sum of squared deviations), so the gradients equal the single-process ones; the
    running statistics are updated with the global values (unbiased variance), as
    ``BatchNorm2d`` does. Otherwise it is ``BatchNorm2d``. Works on any device and backend
    (gloo on CPU); :class:`torch.nn.SyncBatchNorm` is the CUDA-only equivalent.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or world()[1] == 1:
            return super().forward(x)
        self._check_input_dim(x)
        factor = 0.0 if self.momentum is None else float(self.momentum)
        if self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked)
        count = torch.tensor(
            [x.numel() // x.shape[1]], dtype=torch.float64, device=distributed.collective_device()
        )
        dist.all_reduce(count)
        n = float(count.item())
        shape = (1, -1, 1, 1)
        mean = _AllReduceSum.apply(x.sum(dim=(0, 2, 3))) / n
        centred = x - mean.view(shape)
        var = _AllReduceSum.apply(centred.square().sum(dim=(0, 2, 3))) / n
        out = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.running_mean.lerp_(mean.detach().to(self.running_mean.dtype), factor)
                unbiased = var.detach() * (n / max(n - 1.0, 1.0))
                self.running_var.lerp_(unbiased.to(self.running_var.dtype), factor)
        return out


def _convert(module: nn.Module, cls: type[nn.Module]) -> nn.Module:
    if isinstance(module, nn.BatchNorm2d) and not isinstance(module, cls):
        new = cls(
            module.num_features,
            eps=module.eps,
            momentum=module.momentum,
            affine=module.affine,
            track_running_stats=module.track_running_stats,
        ).to(device=module.weight.device if module.affine else None)
        new.load_state_dict(module.state_dict())
        new.train(module.training)
        return new
    for name, child in module.named_children():
        module.add_module(name, _convert(child, cls))
    return module


def synchronise_batch_norm(model: nn.Module, device: torch.device) -> nn.Module:
    """Replace the model's BatchNorm2d layers by synchronised ones (in place; returns it).

    :class:`torch.nn.SyncBatchNorm` on CUDA, :class:`DistributedBatchNorm2d` elsewhere. State
    dicts are unchanged, so checkpoints load into the plain network and back.
    """
    if torch.device(device).type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return _convert(model, DistributedBatchNorm2d)
