"""Monte-Carlo dropout: a network's per-pixel uncertainty from predictions with dropout on.

Gal & Ghahramani (2016): keeping the dropout layers active at inference and repeating the
prediction samples an approximate posterior of the output; its mean is the prediction and its
standard deviation the per-pixel uncertainty sigma.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from cmbml.nn.data import make_loader, select_device

__all__ = ["has_dropout", "mc_predict", "sigma_factor"]

_DROPOUT = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)


def has_dropout(model: nn.Module) -> bool:
    """Whether ``model`` has a dropout layer with a probability above 0."""
    return any(isinstance(m, _DROPOUT) and m.p > 0 for m in model.modules())


@torch.no_grad()
def mc_predict(
    model: nn.Module,
    dataset: Dataset,
    n_samples: int,
    *,
    seed: int,
    batch_size: int = 12,
    device: str | torch.device | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Mean and standard deviation of ``n_samples`` predictions with dropout active.

    Parameters
    ----------
    model : torch.nn.Module
        A network with dropout (:func:`has_dropout`); BatchNorm stays in eval mode.
    dataset : torch.utils.data.Dataset
        Items are feature tensors or ``(features, target)`` tuples.
    n_samples : int
        Predictions per item (>= 2).
    seed : int
        Seed of the dropout masks (the result is reproducible).
    batch_size : int, optional
    device : str or torch.device, optional

    Yields
    ------
    tuple of numpy.ndarray
        float32 mean and standard deviation (ddof 1) of a batch, each shaped like the output.

    Raises
    ------
    ValueError
        ``n_samples < 2`` or a model without dropout.
    """
    if int(n_samples) < 2:
        raise ValueError(f"Monte-Carlo dropout needs n_samples >= 2, got {n_samples}")
    if not has_dropout(model):
        raise ValueError(f"{type(model).__name__} has no dropout layer: set its dropout > 0")
    dev = select_device(device)
    model = model.to(dev).eval()
    for module in model.modules():
        if isinstance(module, _DROPOUT):
            module.train()
    generator_state = torch.get_rng_state()
    torch.manual_seed(int(seed))
    try:
        for batch in make_loader(dataset, batch_size, device=dev):
            features = (batch[0] if isinstance(batch, list | tuple) else batch).to(dev)
            samples = torch.stack([model(features).double() for _ in range(int(n_samples))])
            yield (
                samples.mean(0).float().cpu().numpy(),
                samples.std(0, correction=1).float().cpu().numpy(),
            )
    finally:
        torch.set_rng_state(generator_state)
        model.eval()


def sigma_factor(residual, sigma, coverage: float) -> float:
    """The factor ``f`` such that ``|residual| <= f sigma`` on a fraction ``coverage`` of the
    pixels: the ``coverage`` quantile of ``|residual| / sigma``.

    A pixel of ``sigma`` 0 (every Monte-Carlo sample the same) is covered by any factor if its
    residual is 0 too, by none otherwise.

    Parameters
    ----------
    residual, sigma : array_like
        Prediction minus truth and its standard deviation, same shape and unit.
    coverage : float
        Fraction of the pixels to cover, in (0, 1) (0.6827 for +-1 sigma).

    Returns
    -------
    float
        The factor, > 0.

    Raises
    ------
    ValueError
        No finite factor > 0 gives that coverage: ``sigma`` is 0 with a non-zero residual on
        more than ``1 - coverage`` of the pixels (the message gives the fraction), or the
        residual is 0 on ``coverage`` of them.
    """
    residual = np.abs(np.ravel(residual)).astype(float)
    sigma = np.ravel(sigma).astype(float)
    uncovered = (sigma <= 0) & (residual > 0)
    ratios = np.divide(residual, sigma, out=np.where(uncovered, np.inf, 0.0), where=sigma > 0)
    rank = int(np.ceil(coverage * (ratios.size - 1)))
    if rank >= ratios.size - int(uncovered.sum()):
        raise ValueError(
            f"sigma is 0 on {100 * uncovered.mean():.1f} % of the pixels where the residual is "
            f"not, which no factor covers; a calibration to {100 * coverage:.2f} % coverage "
            f"leaves at most {100 * (1 - coverage):.1f} % uncovered"
        )
    factor = float(np.quantile(ratios, coverage))
    if factor <= 0:
        raise ValueError(f"the residual is 0 on {100 * np.mean(residual == 0):.1f} % of the pixels")
    return factor
