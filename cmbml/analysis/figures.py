"""Analysis figures: maps, metric distributions, and (from
:mod:`cmbml.analysis.spectrum_figures`) power spectra and the method overlay.

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot (no global state,
safe in worker processes); ``Figure.savefig`` writes PNG or PDF from the file suffix with
matplotlib's Agg/PDF backends.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import healpy as hp
import numpy as np
import pandas as pd
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from cmbml.analysis.spectrum_figures import (
    plot_power_spectra,
    plot_power_spectrum,
    plot_spectra_overlay,
)

__all__ = [
    "plot_maps",
    "plot_metric_distributions",
    "plot_pol_maps",
    "plot_power_spectra",
    "plot_power_spectrum",
    "plot_spectra_overlay",
    "planck_cmap",
]

_MASKED_COLOUR = "0.8"


@functools.lru_cache(maxsize=1)
def planck_cmap() -> ListedColormap:
    """The Planck CMB colour map (healpy's ``planck_cmap.dat``), grey for masked pixels."""
    table = np.loadtxt(Path(hp.__file__).parent / "data" / "planck_cmap.dat") / 255.0
    return ListedColormap(table, name="planck").with_extremes(bad=_MASKED_COLOUR, under="white")


def _mollweide(m: np.ndarray, good: np.ndarray, xsize: int) -> np.ndarray:
    """Mollweide image of a RING map: NaN (drawn grey) on masked pixels, a huge negative value
    (drawn with the colour map's white "under" colour) outside the sphere."""
    nside = hp.npix2nside(m.size)
    shown = np.where(good, m, np.nan)
    proj = hp.projector.MollweideProj(xsize=xsize)
    image = proj.projmap(shown, lambda x, y, z: hp.vec2pix(nside, x, y, z))
    return np.where(np.isneginf(image), -1e30, image)


def _map_panel(fig, ax, image, limit, title, unit) -> None:
    art = ax.imshow(
        image, origin="lower", cmap=planck_cmap(), vmin=-limit, vmax=limit, interpolation="nearest"
    )
    ax.set_title(title)
    ax.set_axis_off()
    fig.colorbar(art, ax=ax, orientation="horizontal", fraction=0.06, pad=0.02, label=unit)


def plot_maps(
    truth: np.ndarray,
    prediction: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    title: str = "",
    unit: str = r"$\mu K_{\rm CMB}$",
    xsize: int = 800,
) -> Figure:
    """Truth, prediction and difference (prediction - truth) in Mollweide projection.

    Parameters
    ----------
    truth, prediction : np.ndarray
        ``(npix,)`` RING maps (uK_CMB), post-processed.
    mask : np.ndarray, optional
        ``(npix,)`` binary mask; masked pixels (<= 0) are drawn grey.
    title : str
        Figure title (e.g. method, simulation and epoch).
    unit : str
        Colour-bar label.
    xsize : int
        Width of each projected image in pixels.

    Returns
    -------
    matplotlib.figure.Figure
    """
    truth = np.asarray(truth, dtype=np.float64)
    prediction = np.asarray(prediction, dtype=np.float64)
    if truth.shape != prediction.shape or truth.ndim != 1:
        raise ValueError(
            f"maps must be single maps of equal size, got {truth.shape}, {prediction.shape}"
        )
    good = np.ones(truth.size, bool) if mask is None else np.asarray(mask) > 0
    fig = Figure(figsize=(15, 4.2), layout="constrained")
    labels = ("Truth", "Prediction", "Prediction - truth")
    _map_row(fig, fig.subplots(1, 3), truth, prediction, good, labels, unit, xsize)
    if title:
        fig.suptitle(title)
    return fig


def _map_row(fig, axes, truth, prediction, good, labels, unit, xsize) -> None:
    """Truth, prediction and difference in three ``axes``: truth and prediction share a colour
    scale (99.5th percentile of the truth's absolute value on ``good`` pixels), the difference
    has its own; ``labels`` are the three panel titles."""
    diff = prediction - truth
    limit = float(np.percentile(np.abs(truth[good]), 99.5)) or 1.0
    diff_limit = float(np.percentile(np.abs(diff[good]), 99.5)) or 1.0
    panels = zip(axes, (truth, prediction, diff), (limit, limit, diff_limit), labels, strict=True)
    for ax, m, lim, label in panels:
        _map_panel(fig, ax, _mollweide(m, good, xsize), lim, label, unit)


def plot_pol_maps(
    truth: np.ndarray,
    prediction: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    title: str = "",
    unit: str = r"$\mu K_{\rm CMB}$",
    xsize: int = 800,
) -> Figure:
    """Q and U of the truth, the prediction and their difference (one row per Stokes field).

    Parameters
    ----------
    truth, prediction : np.ndarray
        ``(2, npix)`` RING Q and U maps (uK_CMB), post-processed.
    mask : np.ndarray, optional
        ``(npix,)`` binary mask; masked pixels (<= 0) are drawn grey.
    title, unit, xsize
        As :func:`plot_maps`; each row has its own colour scale.

    Returns
    -------
    matplotlib.figure.Figure
    """
    truth = np.asarray(truth, dtype=np.float64)
    prediction = np.asarray(prediction, dtype=np.float64)
    if truth.ndim != 2 or truth.shape[0] != 2 or prediction.shape != truth.shape:
        raise ValueError(
            f"Q, U maps must be (2, npix) each, got {truth.shape} and {prediction.shape}"
        )
    good = np.ones(truth.shape[1], bool) if mask is None else np.asarray(mask) > 0
    fig = Figure(figsize=(15, 8.0), layout="constrained")
    axes = fig.subplots(2, 3)
    for row, name in enumerate(("Q", "U")):
        labels = (f"{name} truth", f"{name} prediction", f"{name} prediction - truth")
        _map_row(fig, axes[row], truth[row], prediction[row], good, labels, unit, xsize)
    if title:
        fig.suptitle(title)
    return fig


def plot_metric_distributions(
    rows: pd.DataFrame,
    metrics: Sequence[str],
    *,
    by: str = "epoch",
    title: str = "",
    ncol: int | None = None,
) -> Figure:
    """Histograms of per-simulation metrics, one panel per metric, one colour per ``by`` value.

    Parameters
    ----------
    rows : pandas.DataFrame
        One row per (simulation, ``by``), one column per metric.
    metrics : sequence of str
        Columns to plot.
    by : str
        Grouping column.
    title : str
        Figure title.
    ncol : int, optional
        Panels per row, smaller panels (default up to 3; e.g. the number of metrics, for one
        row per field).

    Returns
    -------
    matplotlib.figure.Figure
    """
    missing = [c for c in [by, *metrics] if c not in rows.columns]
    if missing:
        raise ValueError(f"metric table lacks column(s) {missing}")
    width, height = (4.5, 3.2) if ncol is None else (3.2, 2.4)
    ncol = min(ncol or 3, len(metrics))
    nrow = -(-len(metrics) // ncol)
    fig = Figure(figsize=(width * ncol, height * nrow), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrow, ncol)).ravel()
    for ax, m in zip(axes, metrics, strict=False):
        for key, group in rows.groupby(by, sort=False):
            values = group[m].to_numpy(dtype=np.float64)
            values = values[np.isfinite(values)]
            ax.hist(values, bins=_bins(values), alpha=0.6, label=f"{by} {key}")
        ax.set_xlabel(m.upper())
        ax.set_ylabel("simulations")
        ax.locator_params(axis="x", nbins=4)
    for ax in axes[len(metrics) :]:
        ax.set_axis_off()
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def _bins(values: np.ndarray) -> int:
    """Histogram bins for ``values``: 5 to 30, one where their spread is at the float64
    resolution of their magnitude (equal values up to rounding cannot be split into bins)."""
    if values.size == 0:
        return 1
    spread = float(np.ptp(values))
    if spread <= 1e-12 * max(1.0, float(np.abs(values).max())):
        return 1
    return max(5, min(30, values.size // 2))
