"""Power-spectrum figures: one method's spectra against theory, and several methods overlaid.

D_l are drawn on a log axis (a spectrum that changes sign, TE, or whose estimates are not all
positive, on a linear one) with the theory's cosmic-variance band and a residual panel; axis
limits follow the scored multipoles and the others are shaded, so that a deconvolved high-l tail
or the unscored low-l BB does not hide the rest. Figures are built without pyplot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

__all__ = ["plot_power_spectra", "plot_power_spectrum", "plot_spectra_overlay"]


def _in_range(ell: np.ndarray, ell_max: float | None, ell_min: float | None = None) -> np.ndarray:
    keep = np.ones(ell.shape, bool) if ell_max is None else ell <= ell_max
    return keep if ell_min is None else keep & (ell >= ell_min)


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


def _shade_beyond(
    axes, ell_max: float | None, ell_end: float, ell_min: float | None = None
) -> None:
    """Grey bands over the multipoles outside the scored ones; x axis ends at ``ell_end``."""
    for ax in axes:
        ax.set_xlim(0, ell_end)
        label = "not scored (beam floor, leakage)" if ax is axes[0] else None
        if ell_max is not None and ell_max < ell_end:
            ax.axvspan(ell_max + 0.5, ell_end, color="0.92", zorder=0, label=label)
            label = None
        if ell_min is not None and ell_min > 2:
            ax.axvspan(0, ell_min - 0.5, color="0.92", zorder=0, label=label)


_BAND = {"color": "0.7", "alpha": 0.6, "step": "mid"}
"""Style of the theory's cosmic-variance band."""
_RATIO_ABOVE = 5.0
"""Fractional residuals beyond this (on scored multipoles) are drawn as ratios on a log axis."""


def _needs_ratio_axis(fractions: Sequence[np.ndarray], keeps: Sequence[np.ndarray]) -> bool:
    """Whether a fractional residual exceeds :data:`_RATIO_ABOVE` on its scored multipoles."""
    kept = np.concatenate([np.abs(f[k]) for f, k in zip(fractions, keeps, strict=True)])
    return kept[np.isfinite(kept)].size > 0 and np.nanmax(kept) > _RATIO_ABOVE


def _relative_band(ax, x: np.ndarray, rel_sigma: np.ndarray, *, ratio: bool) -> None:
    """The theory's +-1 sigma band with its reference line: around 1 on a log ratio axis, around
    0 otherwise."""
    if ratio:
        ax.set_yscale("log")
        ax.fill_between(x, np.clip(1 - rel_sigma, 1e-3, None), 1 + rel_sigma, **_BAND)
        ax.axhline(1.0, color="k", lw=0.8)
    else:
        ax.fill_between(x, -rel_sigma, rel_sigma, **_BAND)
        ax.axhline(0.0, color="k", lw=0.8)


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
    ell_min: float | None = None,
    log: bool = True,
) -> None:
    """Draw one spectrum: D_l (log axis, or linear for a spectrum that changes sign) and its
    residuals with the cosmic-variance band, limits from the scored multipoles."""
    missing = {"theory", "truth", "prediction", "residual"} - set(binned)
    if missing:
        raise ValueError(f"binned spectra lack {sorted(missing)}")
    ell_binned = np.asarray(ell_binned, dtype=np.float64)
    th, truth, pred, resid = (
        np.asarray(binned[k], dtype=np.float64)
        for k in ("theory", "truth", "prediction", "residual")
    )
    sigma_binned = np.asarray(sigma_binned, dtype=np.float64)
    keep = _in_range(ell_binned, ell_max, ell_min)
    cv = r"theory $\pm 1\sigma$ (cosmic variance, $f_{\rm sky}$)"
    if log:
        top.semilogy(ell, dl_theory, color="k", lw=1, label="theory")
        low = np.clip(th - sigma_binned, th * 1e-3, None)
        top.fill_between(ell_binned, low, th + sigma_binned, label=cv, **_BAND)
    else:
        top.plot(ell, dl_theory, color="k", lw=1, label="theory")
        top.fill_between(ell_binned, th - sigma_binned, th + sigma_binned, label=cv, **_BAND)
        top.axhline(0.0, color="k", lw=0.5)
    top.plot(ell_binned, truth, "o", ms=3, color="tab:blue", label="truth (realisation)")
    top.plot(ell_binned, pred, "s", ms=3, color="tab:red", label="prediction")
    top.plot(
        ell_binned, np.abs(resid) if log else resid, "--", color="tab:purple",
        label="|prediction - truth| map" if log else "prediction - truth map",
    )  # fmt: skip
    if log:
        top.set_ylim(*_log_limits([th, pred, np.abs(resid)], [keep] * 3))
    else:
        top.set_ylim(
            -_linear_limit([th, pred, truth, resid], keep),
            _linear_limit([th, pred, truth, resid], keep),
        )
    top.set_ylabel(r"$D_\ell$ [$\mu K^2$]")
    _residual_panel(bottom, ell_binned, th, truth, pred, sigma_binned, keep, log=log)
    bottom.set_xlabel(r"$\ell$")
    _shade_beyond([top, bottom], ell_max, float(np.max(ell)), ell_min)
    top.legend(fontsize=8)
    bottom.legend(fontsize=8)


def _linear_limit(values: Sequence[np.ndarray], keep: np.ndarray) -> float:
    kept = np.concatenate([np.abs(v[keep]) for v in values])
    kept = kept[np.isfinite(kept)]
    return 1.2 * float(kept.max()) if kept.size and kept.max() > 0 else 1.0


def _residual_panel(bottom, ell_binned, th, truth, pred, sigma, keep, *, log: bool) -> None:
    """Residuals of a spectrum: fractional ``(prediction - theory) / theory`` and
    ``(prediction - truth) / theory`` within +-5; ratios to the theory on a log axis when they
    are larger (a noise-dominated BB); differences in uK² for a linear spectrum (TE)."""
    safe = np.where(th > 0, th, np.nan)
    rel_sigma = sigma / safe
    fractions = [(pred - th) / safe, (pred - truth) / safe]
    if not log:
        _relative_band(bottom, ell_binned, sigma, ratio=False)  # uK²: sigma is the band
        diffs = [pred - th, pred - truth]
        bottom.plot(ell_binned, diffs[0], "s-", ms=3, color="tab:red", label="prediction - theory")
        bottom.plot(ell_binned, diffs[1], "o-", ms=3, color="tab:green", label="prediction - truth")
        limit = _linear_limit([*diffs, sigma], keep)
        bottom.set_ylim(-limit, limit)
        bottom.set_ylabel(r"$\Delta D_\ell$ [$\mu K^2$]")
        return
    ratio = _needs_ratio_axis(fractions, [keep, keep])
    _relative_band(bottom, ell_binned, rel_sigma, ratio=ratio)
    if ratio:
        ratios = [pred / safe, truth / safe]
        bottom.plot(ell_binned, ratios[0], "s-", ms=3, color="tab:red", label="prediction / theory")
        bottom.plot(ell_binned, ratios[1], "o-", ms=3, color="tab:blue", label="truth / theory")
        bottom.set_ylim(*_log_limits([*ratios, 1 + rel_sigma], [keep] * 3))
        bottom.set_ylabel(r"$D_\ell / D_\ell^{\rm theory}$")
        return
    bottom.plot(ell_binned, fractions[0], "s-", ms=3, color="tab:red", label="prediction - theory")
    bottom.plot(ell_binned, fractions[1], "o-", ms=3, color="tab:green", label="prediction - truth")
    limit = _symmetric_limit([*fractions, rel_sigma], [keep] * 3)
    bottom.set_ylim(-limit, limit)
    bottom.set_ylabel(r"$\Delta D_\ell / D_\ell^{\rm theory}$")


def plot_power_spectrum(
    ell: np.ndarray,
    dl_theory: np.ndarray,
    ell_binned: np.ndarray,
    binned: Mapping[str, np.ndarray],
    sigma_binned: np.ndarray,
    *,
    ell_max: float | None = None,
    ell_min: float | None = None,
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
    ell_min : float, optional
        First scored multipole (shaded below when above 2).
    title : str
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = Figure(figsize=(8, 7), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[2, 1])
    _spectrum_panels(
        top, bottom, ell, dl_theory, ell_binned, binned, sigma_binned, ell_max, ell_min=ell_min
    )
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
        (D_l on ``ell``), ``ell_binned``, ``binned``, ``sigma``, ``ell_max`` and optionally
        ``ell_min``.
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
        keep = _in_range(
            np.asarray(panel["ell_binned"]), panel.get("ell_max"), panel.get("ell_min")
        )
        estimates = [np.asarray(panel["binned"][c])[keep] for c in ("truth", "prediction")]
        log = name[:1] == name[1:] and np.all(theory > 0) and all(np.all(e > 0) for e in estimates)
        _spectrum_panels(
            axes[0, k], axes[1, k], panel["ell"], theory, panel["ell_binned"], panel["binned"],
            panel["sigma"], panel.get("ell_max"), ell_min=panel.get("ell_min"), log=bool(log),
        )  # fmt: skip
        axes[0, k].set_title(name)
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
    """One spectrum of several methods: |D_l| on a log axis, residuals to the theory below
    (fractional within +-5, else ratios on a log axis), unscored multipoles shaded."""
    first = next(iter(spectra.values()))
    ell, th, sig = (first[c].to_numpy(dtype=np.float64) for c in ("ell", "theory", "theory_sigma"))
    safe = np.where(th > 0, th, np.nan)
    top.semilogy(ell, safe, color="k", lw=1, label="theory")
    top.fill_between(ell, np.clip(th - sig, th * 1e-3, None), th + sig, **_BAND)
    logs, fractions, keeps, lines = [th], [sig / safe], [np.ones(ell.shape, bool)], {}
    ell_maxes, ell_mins = [], []
    for model, table in spectra.items():
        x = table["ell"].to_numpy(dtype=np.float64)
        pred = table["prediction"].to_numpy(dtype=np.float64)
        resid = np.abs(table["residual"].to_numpy(dtype=np.float64))
        ell_max = float(table["ell_max_metrics"].iloc[0]) if "ell_max_metrics" in table else None
        ell_min = float(table["ell_min_metrics"].iloc[0]) if "ell_min_metrics" in table else None
        ell_maxes += [ell_max] if ell_max is not None else []
        ell_mins += [ell_min] if ell_min is not None else []
        (line,) = top.plot(x, np.abs(pred), "o-", ms=3, lw=1, label=model)
        top.plot(x, resid, "--", lw=1, color=line.get_color(), label=f"{model} residual map")
        lines[model] = (x, pred, line.get_color(), ell_max)
        logs += [np.abs(pred), resid]
        fractions.append((pred - table["theory"].to_numpy(dtype=np.float64)) / safe[: x.size])
        keeps += [_in_range(x, ell_max, ell_min)]
    top.set_ylim(*_log_limits(logs, [keeps[0], *(k for k in keeps[1:] for _ in (0, 1))]))
    ratios = _needs_ratio_axis(fractions[1:], keeps[1:])
    _relative_band(bottom, ell, sig / safe, ratio=ratios)
    if ratios:
        values = [1 + sig / safe]
        for model, (x, pred, colour, _) in lines.items():
            values.append(pred / safe[: x.size])
            bottom.plot(x, values[-1], "o-", ms=3, lw=1, color=colour, label=model)
        bottom.set_ylim(*_log_limits(values, keeps))
        bottom.set_ylabel(r"$D_\ell / D_\ell^{\rm theory}$")
    else:
        for (model, (x, _, colour, _)), fraction in zip(lines.items(), fractions[1:], strict=True):
            bottom.plot(x, fraction, "o-", ms=3, lw=1, color=colour, label=model)
        limit = _symmetric_limit(fractions, keeps)
        bottom.set_ylim(-limit, limit)
        bottom.set_ylabel(r"$(D_\ell - D_\ell^{\rm theory}) / D_\ell^{\rm theory}$")
    for _, _, colour, ell_max in lines.values():
        if ell_max is not None:
            bottom.axvline(ell_max, color=colour, lw=0.8, ls=":")
    _shade_beyond(
        [top, bottom],
        max(ell_maxes) if ell_maxes else None,
        float(np.max(ell)),
        min(ell_mins) if ell_mins else None,
    )
    top.set_ylabel(r"$D_\ell$ [$\mu K^2$]")
    top.legend(fontsize=8)
    bottom.set_xlabel(r"$\ell$")
    bottom.legend(fontsize=8)
