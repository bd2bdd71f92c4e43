"""Pixel-domain comparison metrics between a truth map and a predicted map.

Every metric has the signature ``f(truth, prediction) -> float`` on arrays of equal shape
(typically the unmasked pixels of two post-processed maps, in uK_CMB). Errors (MAE, MSE, RMSE,
NRMSE) are better when lower; PSNR and R² are better when higher (see :data:`HIGHER_IS_BETTER`).

The definitions are those CMB-ML scores with (its ``basic_analysis.yaml``):
``sklearn.metrics.mean_absolute_error`` and ``r2_score``, ``skimage.metrics.mean_squared_error``,
``normalized_root_mse(normalization="euclidean")`` and ``peak_signal_noise_ratio`` with the
joint range of both inputs as ``data_range``, and RMSE as the square root of the MSE.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = [
    "HIGHER_IS_BETTER",
    "PIXEL_METRICS",
    "field_metrics",
    "mae",
    "mse",
    "nrmse",
    "pixel_metrics",
    "psnr",
    "r2",
    "rmse",
]


def _pair(truth, prediction) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(truth, dtype=np.float64)
    p = np.asarray(prediction, dtype=np.float64)
    if t.shape != p.shape:
        raise ValueError(
            f"truth and prediction must have equal shapes, got {t.shape} and {p.shape}"
        )
    if t.size == 0:
        raise ValueError("truth and prediction are empty: no pixel to compare")
    return t, p


def mae(truth, prediction) -> float:
    """Mean absolute error ``mean(|t - p|)``.

    Parameters
    ----------
    truth, prediction : array_like, equal shapes
        Maps or pixel vectors (uK_CMB).

    Returns
    -------
    float
        MAE in the units of the inputs (uK_CMB).
    """
    t, p = _pair(truth, prediction)
    return float(np.mean(np.abs(t - p)))


def mse(truth, prediction) -> float:
    """Mean squared error ``mean((t - p)**2)`` in squared input units (uK_CMB²)."""
    t, p = _pair(truth, prediction)
    return float(np.mean((t - p) ** 2))


def rmse(truth, prediction) -> float:
    """Root mean squared error ``sqrt(MSE)`` in input units (uK_CMB)."""
    return float(np.sqrt(mse(truth, prediction)))


def nrmse(truth, prediction) -> float:
    """Normalised RMSE with the Euclidean norm: ``||t - p||_2 / ||t||_2`` (dimensionless).

    Raises
    ------
    ValueError
        If the truth is identically zero.
    """
    t, p = _pair(truth, prediction)
    norm_t = np.linalg.norm(t.ravel())
    if norm_t == 0.0:
        raise ValueError("nrmse: the truth is identically zero, its norm cannot normalise")
    return float(np.linalg.norm((t - p).ravel()) / norm_t)


def psnr(truth, prediction) -> float:
    """Peak signal-to-noise ratio ``10 log10(R² / MSE)`` in dB.

    ``R = max(max t, max p) - min(min t, min p)`` is the joint range of both inputs. Identical
    inputs give ``inf``.
    """
    t, p = _pair(truth, prediction)
    data_range = max(t.max(), p.max()) - min(t.min(), p.min())
    err = float(np.mean((t - p) ** 2))
    if err == 0.0:
        return float("inf")
    return float(10.0 * np.log10(data_range**2 / err))


def r2(truth, prediction) -> float:
    """Coefficient of determination ``1 - SS_res / SS_tot``, ``SS_tot`` about the truth mean.

    Raises
    ------
    ValueError
        If the truth is constant (``SS_tot = 0``).
    """
    t, p = _pair(truth, prediction)
    ss_tot = float(np.sum((t - t.mean()) ** 2))
    if ss_tot == 0.0:
        raise ValueError("r2: the truth is constant, SS_tot = 0")
    return float(1.0 - np.sum((t - p) ** 2) / ss_tot)


PIXEL_METRICS: dict[str, Callable[..., float]] = {
    "mae": mae,
    "mse": mse,
    "rmse": rmse,
    "nrmse": nrmse,
    "psnr": psnr,
    "r2": r2,
}
"""Pixel metrics by name, in table order."""

HIGHER_IS_BETTER: frozenset[str] = frozenset({"psnr", "r2"})
"""Metric names for which a larger value is better; all other metrics are errors."""


def pixel_metrics(truth, prediction, names=None) -> dict[str, float]:
    """Evaluate several pixel metrics at once.

    Parameters
    ----------
    truth, prediction : array_like, equal shapes
        Pixel values to compare (uK_CMB), e.g. the unmasked pixels of post-processed maps.
    names : sequence of str, optional
        Metric names from :data:`PIXEL_METRICS`; default all of them.

    Returns
    -------
    dict
        ``{name: value}`` in the order requested.
    """
    names = list(PIXEL_METRICS) if names is None else list(names)
    unknown = [n for n in names if n not in PIXEL_METRICS]
    if unknown:
        raise ValueError(
            f"unknown pixel metric(s) {unknown}; expected some of {list(PIXEL_METRICS)}"
        )
    return {n: PIXEL_METRICS[n](truth, prediction) for n in names}


def field_metrics(
    truth: np.ndarray,
    prediction: np.ndarray,
    good: np.ndarray,
    fields: Sequence[str],
    names=None,
    *,
    amplitude: bool = False,
) -> dict[str, dict[str, float]]:
    """Pixel metrics of each Stokes field on the kept pixels, and optionally of P.

    Q and U are scored as they are (each a map of the sky in the COSMO convention, in uK_CMB):
    their errors are those of the polarisation vector's two components. With ``amplitude``, the
    polarised intensity ``P = sqrt(Q² + U²)`` of each map is scored too, as an extra: P is a
    biased estimate of the truth's where the prediction is noisy (noise of rms sigma adds about
    ``sigma² / (2 P)`` to P, and ``sigma sqrt(pi / 2)`` where P ~ 0), so a noisy prediction scores
    worse on P than its Q, U errors alone imply.

    Parameters
    ----------
    truth, prediction : np.ndarray
        ``(n_fields, npix)`` post-processed maps (uK_CMB), fields in the order of ``fields``.
    good : np.ndarray
        ``(npix,)`` bool, the kept pixels.
    fields : sequence of str
        Names of the fields (``("I",)`` or ``("I", "Q", "U")``).
    names : sequence of str, optional
        Metric names from :data:`PIXEL_METRICS` (default all).
    amplitude : bool
        Also score P when Q and U are among ``fields``.

    Returns
    -------
    dict
        ``{field: {metric: value}}`` for each field, then ``"P"`` when scored.
    """
    truth = np.atleast_2d(np.asarray(truth, dtype=np.float64))
    prediction = np.atleast_2d(np.asarray(prediction, dtype=np.float64))
    fields = list(fields)
    if truth.shape[0] != len(fields) or prediction.shape != truth.shape:
        raise ValueError(
            f"{len(fields)} fields {fields} need truth and prediction of shape "
            f"({len(fields)}, npix), got {truth.shape} and {prediction.shape}"
        )
    good = np.asarray(good, dtype=bool)
    out = {
        f: pixel_metrics(truth[k, good], prediction[k, good], names) for k, f in enumerate(fields)
    }
    if amplitude and "Q" in fields and "U" in fields:
        q, u = fields.index("Q"), fields.index("U")
        p_truth = np.hypot(truth[q, good], truth[u, good])
        p_pred = np.hypot(prediction[q, good], prediction[u, good])
        out["P"] = pixel_metrics(p_truth, p_pred, names)
    return out
