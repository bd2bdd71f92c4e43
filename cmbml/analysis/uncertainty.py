"""Scores of a per-pixel uncertainty: coverage of the truth by +-1 sigma, normalised residuals.

A method that writes a standard deviation ``sigma`` beside its prediction is scored on the
kept pixels, at the prediction's own resolution (the unbeamed maps the network predicts), by

- ``coverage_1sigma``: the fraction of pixels whose truth lies within prediction +- sigma
  (0.683 for calibrated Gaussian errors);
- ``z_std``: the standard deviation of ``z = (prediction - truth) / sigma`` (1 when
  calibrated; above 1: sigma too small).
"""

from __future__ import annotations

import numpy as np

__all__ = ["UNCERTAINTY_METRICS", "uncertainty_metrics"]

#: Column names of :func:`uncertainty_metrics`, in table order.
UNCERTAINTY_METRICS = ("coverage_1sigma", "z_std")


def uncertainty_metrics(truth, prediction, sigma) -> dict[str, float]:
    """Coverage and normalised-residual spread of a prediction's ``sigma``.

    Parameters
    ----------
    truth, prediction, sigma : array_like, equal shapes
        Pixel values (uK_CMB) of the kept pixels; ``sigma`` >= 0 (``z_std`` is taken over the
        pixels where it is > 0).

    Returns
    -------
    dict
        ``{"coverage_1sigma": float, "z_std": float}``.

    Raises
    ------
    ValueError
        Unequal shapes, no pixels, or a sigma that is not finite and >= 0 everywhere.
    """
    truth, prediction, sigma = (np.asarray(a, dtype=np.float64) for a in (truth, prediction, sigma))
    if not truth.shape == prediction.shape == sigma.shape or truth.size == 0:
        raise ValueError(
            f"truth, prediction and sigma need equal non-empty shapes, got {truth.shape}, "
            f"{prediction.shape} and {sigma.shape}"
        )
    if not (np.isfinite(sigma).all() and (sigma >= 0).all()):
        raise ValueError("sigma must be finite and >= 0 on every scored pixel")
    residual = prediction - truth
    positive = sigma > 0
    return {
        "coverage_1sigma": float(np.mean(np.abs(residual) <= sigma)),
        "z_std": float(np.std(residual[positive] / sigma[positive])) if positive.any() else np.nan,
    }
