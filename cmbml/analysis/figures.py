"""Analysis figures: maps, power spectra, metric distributions and the method overlay.

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot (no global state,
safe in worker processes); ``Figure.savefig`` writes PNG or PDF from the file suffix with
matplotlib's Agg/PDF backends.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path

import healpy as hp
import numpy as np
import pandas as pd
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

__all__ = [
    "plot_maps",
    "plot_metric_distributions",
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
    diff = prediction - truth
    limit = float(np.percentile(np.abs(truth[good]), 99.5)) or 1.0
    diff_limit = float(np.percentile(np.abs(diff[good]), 99.5)) or 1.0
    fig = Figure(figsize=(15, 4.2), layout="constrained")
    axes = fig.subplots(1, 3)
    panels = [
        (truth, limit, "Truth"),
        (prediction, limit, "Prediction"),
        (diff, diff_limit, "Prediction - truth"),
    ]
    for ax, (m, lim, name) in zip(axes, panels, strict=True):
        _map_panel(fig, ax, _mollweide(m, good, xsize), lim, name, unit)
    if title:
        fig.suptitle(title)
    return fig


def plot_power_spectrum(
    ell: np.ndarray,
    dl_theory: np.ndarray,
    ell_binned: np.ndarray,
    binned: Mapping[str, np.ndarray],
    sigma_binned: np.ndarray,
    *,
    title: str = "",
) -> Figure:
    """D_l of the prediction against theory (with a cosmic-variance band) and a residual panel.

    Parameters
    ----------
    ell : np.ndarray
        ``(n_ell,)`` multipoles of the theory curve.
    dl_theory : np.ndarray
        ``(n_ell,)`` theory D_l (uK_CMB²).
    ell_binned : np.ndarray
        ``(n_bins,)`` bin centres.
    binned : mapping
        Binned D_l ``(n_bins,)`` with keys ``theory``, ``truth``, ``prediction`` and
        ``residual`` (spectrum of the difference map).
    sigma_binned : np.ndarray
        ``(n_bins,)`` Knox standard deviation of the binned theory (uK_CMB²).
    title : str
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    missing = {"theory", "truth", "prediction", "residual"} - set(binned)
    if missing:
        raise ValueError(f"binned spectra lack {sorted(missing)}")
    fig = Figure(figsize=(8, 7), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[2, 1])
    th = binned["theory"]
    top.plot(ell, dl_theory, color="k", lw=1, label="theory")
    top.fill_between(
        ell_binned,
        th - sigma_binned,
        th + sigma_binned,
        color="0.7",
        alpha=0.6,
        step="mid",
        label=r"theory $\pm 1\sigma$ (cosmic variance, $f_{\rm sky}$)",
    )
    top.plot(ell_binned, binned["truth"], "o", ms=3, color="tab:blue", label="truth (realisation)")
    top.plot(ell_binned, binned["prediction"], "s", ms=3, color="tab:red", label="prediction")
    top.plot(
        ell_binned,
        np.abs(binned["residual"]),
        "--",
        color="tab:purple",
        label="|prediction - truth| map",
    )
    top.set_ylabel(r"$D_\ell$ [$\mu K^2$]")
    top.legend(fontsize=8)
    bottom.fill_between(ell_binned, -sigma_binned, sigma_binned, color="0.7", alpha=0.6, step="mid")
    bottom.axhline(0.0, color="k", lw=0.8)
    bottom.plot(
        ell_binned,
        binned["prediction"] - th,
        "s-",
        ms=3,
        color="tab:red",
        label="prediction - theory",
    )
    bottom.plot(
        ell_binned,
        binned["prediction"] - binned["truth"],
        "o-",
        ms=3,
        color="tab:green",
        label="prediction - truth",
    )
    bottom.set_xlabel(r"$\ell$")
    bottom.set_ylabel(r"$\Delta D_\ell$ [$\mu K^2$]")
    bottom.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def plot_metric_distributions(
    rows: pd.DataFrame, metrics: Sequence[str], *, by: str = "epoch", title: str = ""
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

    Returns
    -------
    matplotlib.figure.Figure
    """
    missing = [c for c in [by, *metrics] if c not in rows.columns]
    if missing:
        raise ValueError(f"metric table lacks column(s) {missing}")
    ncol = min(3, len(metrics))
    nrow = -(-len(metrics) // ncol)
    fig = Figure(figsize=(4.5 * ncol, 3.2 * nrow), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrow, ncol)).ravel()
    for ax, m in zip(axes, metrics, strict=False):
        for key, group in rows.groupby(by, sort=False):
            values = group[m].to_numpy(dtype=np.float64)
            values = values[np.isfinite(values)]
            ax.hist(values, bins=max(5, min(30, values.size // 2)), alpha=0.6, label=f"{by} {key}")
        ax.set_xlabel(m.upper())
        ax.set_ylabel("simulations")
    for ax in axes[len(metrics) :]:
        ax.set_axis_off()
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def plot_spectra_overlay(spectra: Mapping[str, pd.DataFrame], *, title: str = "") -> Figure:
    """Overlay of several methods' mean binned spectra and residual spectra.

    Parameters
    ----------
    spectra : mapping of model name -> pandas.DataFrame
        Mean binned spectra with columns ``ell``, ``theory``, ``theory_sigma``, ``prediction``,
        ``residual`` (uK_CMB²), as written by the spectrum summary stage.
    title : str
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not spectra:
        raise ValueError("no method spectra to overlay")
    fig = Figure(figsize=(8, 7), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    first = next(iter(spectra.values()))
    ell, th, sig = (first[c].to_numpy() for c in ("ell", "theory", "theory_sigma"))
    top.plot(ell, th, color="k", lw=1, label="theory")
    top.fill_between(ell, th - sig, th + sig, color="0.7", alpha=0.6, step="mid")
    for model, table in spectra.items():
        top.plot(table["ell"], table["prediction"], "o-", ms=3, lw=1, label=model)
        bottom.semilogy(table["ell"], np.abs(table["residual"]), "o-", ms=3, lw=1, label=model)
    top.set_ylabel(r"$D_\ell$ [$\mu K^2$]")
    top.legend(fontsize=8)
    bottom.set_xlabel(r"$\ell$")
    bottom.set_ylabel(r"residual map $D_\ell$ [$\mu K^2$]")
    bottom.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig
