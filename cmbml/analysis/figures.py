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
        t, p = truth[row], prediction[row]
        diff = p - t
        limit = float(np.percentile(np.abs(t[good]), 99.5)) or 1.0
        diff_limit = float(np.percentile(np.abs(diff[good]), 99.5)) or 1.0
        panels = [
            (t, limit, f"{name} truth"),
            (p, limit, f"{name} prediction"),
            (diff, diff_limit, f"{name} prediction - truth"),
        ]
        for ax, (m, lim, label) in zip(axes[row], panels, strict=True):
            _map_panel(fig, ax, _mollweide(m, good, xsize), lim, label, unit)
    if title:
        fig.suptitle(title)
    return fig


def _in_range(ell: np.ndarray, ell_max: float | None) -> np.ndarray:
    return np.ones(ell.shape, bool) if ell_max is None else ell <= ell_max


def _log_limits(values: Sequence[np.ndarray], keep: Sequence[np.ndarray]) -> tuple[float, float]:
    """y-limits of a log axis from the positive values inside the metric range."""
    kept = np.concatenate([np.abs(v[k]) for v, k in zip(values, keep, strict=True)])
    kept = kept[np.isfinite(kept) & (kept > 0)]
    if kept.size == 0:
        return 1e-3, 1e4
    return float(kept.min()) / 2.0, float(kept.max()) * 2.0


def _symmetric_limit(values: Sequence[np.ndarray], keep: Sequence[np.ndarray]) -> float:
    kept = np.concatenate([np.abs(v[k]) for v, k in zip(values, keep, strict=True)])
    kept = kept[np.isfinite(kept)]
    return float(min(max(1.2 * kept.max(), 0.05), 5.0)) if kept.size else 1.0


def _shade_beyond(axes, ell_max: float | None, ell_end: float) -> None:
    """Grey band over the multipoles beyond the last scored one; x axis ends at ``ell_end``."""
    for ax in axes:
        ax.set_xlim(0, ell_end)
        if ell_max is not None and ell_max < ell_end:
            label = "beyond the beam floor (not scored)" if ax is axes[0] else None
            ax.axvspan(ell_max + 0.5, ell_end, color="0.92", zorder=0, label=label)


def _spectrum_panels(
    top,
    bottom,
    ell: np.ndarray,
    dl_theory: np.ndarray,
    ell_binned: np.ndarray,
    binned: Mapping[str, np.ndarray],
    sigma_binned: np.ndarray,
    ell_max: float | None,
    *,
    log: bool = True,
) -> None:
    """Draw one spectrum: D_l (log axis, or linear for a spectrum that changes sign) and its
    residuals (fractional, or in uK² when linear) with the cosmic-variance band."""
    missing = {"theory", "truth", "prediction", "residual"} - set(binned)
    if missing:
        raise ValueError(f"binned spectra lack {sorted(missing)}")
    ell_binned = np.asarray(ell_binned, dtype=np.float64)
    th = np.asarray(binned["theory"], dtype=np.float64)
    pred, truth = (np.asarray(binned[k], dtype=np.float64) for k in ("prediction", "truth"))
    sigma_binned = np.asarray(sigma_binned, dtype=np.float64)
    keep = _in_range(ell_binned, ell_max)
    band = {"color": "0.7", "alpha": 0.6, "step": "mid"}
    cv = r"theory $\pm 1\sigma$ (cosmic variance, $f_{\rm sky}$)"
    if log:
        top.semilogy(ell, dl_theory, color="k", lw=1, label="theory")
        top.fill_between(
            ell_binned, np.clip(th - sigma_binned, th * 1e-3, None), th + sigma_binned,
            label=cv, **band,
        )  # fmt: skip
    else:
        top.plot(ell, dl_theory, color="k", lw=1, label="theory")
        top.fill_between(ell_binned, th - sigma_binned, th + sigma_binned, label=cv, **band)
        top.axhline(0.0, color="k", lw=0.5)
    top.plot(ell_binned, truth, "o", ms=3, color="tab:blue", label="truth (realisation)")
    top.plot(ell_binned, pred, "s", ms=3, color="tab:red", label="prediction")
    resid = np.asarray(binned["residual"], dtype=np.float64)
    top.plot(
        ell_binned, np.abs(resid) if log else resid, "--", color="tab:purple",
        label="|prediction - truth| map" if log else "prediction - truth map",
    )  # fmt: skip
    if log:
        top.set_ylim(*_log_limits([th, pred, np.abs(resid)], [keep] * 3))
        scale = np.where(th > 0, th, np.nan)
        ylabel = r"$\Delta D_\ell / D_\ell^{\rm theory}$"
    else:
        values = np.concatenate([v[keep] for v in (th, pred, truth, resid)])
        values = values[np.isfinite(values)]
        limit = 1.2 * float(np.max(np.abs(values))) if values.size else 1.0
        top.set_ylim(-limit, limit)
        scale = np.ones_like(th)
        ylabel = r"$\Delta D_\ell$ [$\mu K^2$]"
    top.set_ylabel(r"$D_\ell$ [$\mu K^2$]")
    rel_sigma = sigma_binned / scale
    bottom.fill_between(ell_binned, -rel_sigma, rel_sigma, **band)
    bottom.axhline(0.0, color="k", lw=0.8)
    fractions = [(pred - th) / scale, (pred - truth) / scale]
    bottom.plot(ell_binned, fractions[0], "s-", ms=3, color="tab:red", label="prediction - theory")
    bottom.plot(ell_binned, fractions[1], "o-", ms=3, color="tab:green", label="prediction - truth")
    if log:
        limit = _symmetric_limit([*fractions, rel_sigma], [keep] * 3)
    else:
        kept = np.concatenate([np.abs(v[keep]) for v in (*fractions, rel_sigma)])
        kept = kept[np.isfinite(kept)]
        limit = 1.2 * float(kept.max()) if kept.size and kept.max() > 0 else 1.0
    bottom.set_ylim(-limit, limit)
    bottom.set_xlabel(r"$\ell$")
    bottom.set_ylabel(ylabel)
    _shade_beyond([top, bottom], ell_max, float(np.max(ell)))
    top.legend(fontsize=8)
    bottom.legend(fontsize=8)


def plot_power_spectrum(
    ell: np.ndarray,
    dl_theory: np.ndarray,
    ell_binned: np.ndarray,
    binned: Mapping[str, np.ndarray],
    sigma_binned: np.ndarray,
    *,
    ell_max: float | None = None,
    title: str = "",
) -> Figure:
    """D_l of truth and prediction against theory on a log axis, and the fractional residuals.

    The top panel (log y) shows the theory with its cosmic-variance band, the truth and the
    prediction and the spectrum of the difference map; the bottom one ``(prediction - theory) /
    theory`` and ``(prediction - truth) / theory`` with the band. Axis limits follow the
    multipoles that are scored (``l <= ell_max``); the range beyond is shaded, so that the noise
    of a deconvolved high-l tail does not hide the rest.

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
    ell_max : float, optional
        Last scored multipole (the beam floor).
    title : str
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = Figure(figsize=(8, 7), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[2, 1])
    _spectrum_panels(top, bottom, ell, dl_theory, ell_binned, binned, sigma_binned, ell_max)
    if title:
        fig.suptitle(title)
    return fig


def plot_power_spectra(panels: Mapping[str, Mapping], *, title: str = "") -> Figure:
    """Several spectra side by side (e.g. EE, BB, TE), each drawn as :func:`plot_power_spectrum`;
    a cross-spectrum (TE), or a spectrum whose estimates are not all positive in the scored
    range (BB dominated by the scatter of the cut sky's E-to-B leakage), gets a linear axis and
    residuals in uK².

    Parameters
    ----------
    panels : mapping of spectrum name -> mapping
        Per spectrum, the arguments of :func:`plot_power_spectrum`: ``ell``, ``theory``
        (D_l on ``ell``), ``ell_binned``, ``binned``, ``sigma`` and ``ell_max``.
    title : str
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        Top axes first (one per spectrum, titled with its name), then the residual axes.
    """
    if not panels:
        raise ValueError("no spectrum to plot")
    n = len(panels)
    fig = Figure(figsize=(6.5 * n, 7), layout="constrained")
    axes = fig.subplots(2, n, sharex="col", height_ratios=[2, 1], squeeze=False)
    for k, (name, panel) in enumerate(panels.items()):
        theory = np.asarray(panel["theory"], dtype=np.float64)
        keep = _in_range(np.asarray(panel["ell_binned"]), panel.get("ell_max"))
        estimates = [np.asarray(panel["binned"][c])[keep] for c in ("truth", "prediction")]
        log = name[:1] == name[1:] and np.all(theory > 0) and all(np.all(e > 0) for e in estimates)
        _spectrum_panels(
            axes[0, k], axes[1, k], panel["ell"], theory, panel["ell_binned"], panel["binned"],
            panel["sigma"], panel.get("ell_max"), log=bool(log),
        )  # fmt: skip
        axes[0, k].set_title(name)
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
            ax.hist(values, bins=max(5, min(30, values.size // 2)), alpha=0.6, label=f"{by} {key}")
        ax.set_xlabel(m.upper())
        ax.set_ylabel("simulations")
        ax.locator_params(axis="x", nbins=4)
    for ax in axes[len(metrics) :]:
        ax.set_axis_off()
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def plot_spectra_overlay(
    spectra: Mapping[str, pd.DataFrame],
    *,
    title: str = "",
    spectra_names: Sequence[str] | None = None,
) -> Figure:
    """Several methods' mean binned spectra (log axis) and their fractional residuals.

    Parameters
    ----------
    spectra : mapping of model name -> pandas.DataFrame
        Mean binned spectra with columns ``ell``, ``theory``, ``theory_sigma``, ``prediction``,
        ``residual`` (uK_CMB²) and optionally ``ell_max_metrics`` (the last scored multipole),
        as written by the spectrum summary stage; polarised ones have a ``spectrum`` column.
    title : str
        Figure title.
    spectra_names : sequence of str, optional
        Spectra to draw side by side (e.g. ``("EE", "BB")``), from tables with a ``spectrum``
        column; methods without a spectrum are left out of its panel. Default: the one
        spectrum of intensity-only tables.

    Returns
    -------
    matplotlib.figure.Figure
        Top axes first (titled with the spectrum when ``spectra_names`` is given), then the
        residual axes.
    """
    if not spectra:
        raise ValueError("no method spectra to overlay")
    names = list(spectra_names) if spectra_names else [None]
    fig = Figure(figsize=(8 if len(names) == 1 else 6.5 * len(names), 7), layout="constrained")
    axes = fig.subplots(2, len(names), sharex="col", height_ratios=[3, 2], squeeze=False)
    for k, name in enumerate(names):
        tables = spectra
        if name is not None:
            tables = {
                model: table[table["spectrum"] == name].reset_index(drop=True)
                for model, table in spectra.items()
                if "spectrum" in table and (table["spectrum"] == name).any()
            }
            if not tables:
                raise ValueError(f"no method has the {name} spectrum")
            axes[0, k].set_title(name)
        _overlay_panels(axes[0, k], axes[1, k], tables)
    if title:
        fig.suptitle(title)
    return fig


def _overlay_panels(top, bottom, spectra: Mapping[str, pd.DataFrame]) -> None:
    first = next(iter(spectra.values()))
    ell, th, sig = (first[c].to_numpy(dtype=np.float64) for c in ("ell", "theory", "theory_sigma"))
    safe = np.where(th > 0, th, np.nan)
    top.semilogy(ell, np.where(th > 0, th, np.nan), color="k", lw=1, label="theory")
    top.fill_between(ell, np.clip(th - sig, th * 1e-3, None), th + sig, color="0.7", alpha=0.6,
                     step="mid")  # fmt: skip
    bottom.fill_between(ell, -sig / safe, sig / safe, color="0.7", alpha=0.6, step="mid")
    bottom.axhline(0.0, color="k", lw=0.8)
    logs, fractions, keeps = [th], [sig / safe], [np.ones(ell.shape, bool)]
    ell_maxes = []
    for model, table in spectra.items():
        x = table["ell"].to_numpy(dtype=np.float64)
        pred = table["prediction"].to_numpy(dtype=np.float64)
        resid = np.abs(table["residual"].to_numpy(dtype=np.float64))
        ell_max = None
        if "ell_max_metrics" in table:
            ell_max = float(table["ell_max_metrics"].iloc[0])
            ell_maxes.append(ell_max)
        keep = _in_range(x, ell_max)
        (line,) = top.plot(x, np.abs(pred), "o-", ms=3, lw=1, label=model)
        top.plot(x, resid, "--", lw=1, color=line.get_color(), label=f"{model} residual map")
        fraction = (pred - table["theory"].to_numpy(dtype=np.float64)) / safe[: x.size]
        bottom.plot(x, fraction, "o-", ms=3, lw=1, color=line.get_color(), label=model)
        if ell_max is not None:
            bottom.axvline(ell_max, color=line.get_color(), lw=0.8, ls=":")
        logs += [np.abs(pred), resid]
        fractions.append(fraction)
        keeps += [keep]
    top.set_ylim(*_log_limits(logs, [keeps[0], *(k for k in keeps[1:] for _ in (0, 1))]))
    limit = _symmetric_limit(fractions, keeps)
    bottom.set_ylim(-limit, limit)
    _shade_beyond([top, bottom], max(ell_maxes) if ell_maxes else None, float(np.max(ell)))
    top.set_ylabel(r"$D_\ell$ [$\mu K^2$]")
    top.legend(fontsize=8)
    bottom.set_xlabel(r"$\ell$")
    bottom.set_ylabel(r"$(D_\ell - D_\ell^{\rm theory}) / D_\ell^{\rm theory}$")
    bottom.legend(fontsize=8)
