"""Figures are written as valid PNG and PDF files."""

import healpy as hp
import matplotlib.image
import numpy as np
import pandas as pd
import pytest

from cmbml.analysis import figures
from cmbml.analysis import spectra as sp

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PDF_MAGIC = b"%PDF-"


def _save_both(fig, stem):
    paths = {}
    for suffix in ("png", "pdf"):
        paths[suffix] = stem.with_suffix(f".{suffix}")
        fig.savefig(paths[suffix], dpi=60)
    assert paths["png"].read_bytes()[:8] == PNG_MAGIC
    assert paths["pdf"].read_bytes()[:5] == PDF_MAGIC
    image = matplotlib.image.imread(paths["png"])
    assert image.ndim == 3 and image.shape[0] > 50 and image.shape[1] > 50
    return image


def test_map_figure(tmp_path, cut_masks):
    nside = 16
    binary, _ = cut_masks(nside)
    rng = np.random.default_rng(0)
    truth = rng.normal(0, 100, 12 * nside**2)
    image = _save_both(
        figures.plot_maps(truth, truth + rng.normal(0, 5, truth.size), binary, title="sim 0"),
        tmp_path / "maps",
    )
    assert np.std(image[..., :3]) > 0.05  # not a blank canvas
    assert figures.planck_cmap().N == 256


def test_power_spectrum_figure(tmp_path, theory_dl):
    lmax = 40
    ell = np.arange(2, lmax + 1)
    edges = sp.bin_edges(2, lmax, 5)
    th = theory_dl[2 : lmax + 1]
    binned = {
        "theory": sp.bin_spectrum(th, edges),
        "truth": sp.bin_spectrum(th * 1.05, edges),
        "prediction": sp.bin_spectrum(th * 0.95, edges),
        "residual": sp.bin_spectrum(th * 0.01, edges),
    }
    fig = figures.plot_power_spectrum(
        ell, th, sp.bin_centres(edges), binned, sp.knox_sigma(th, edges, 0.7), title="ps"
    )
    _save_both(fig, tmp_path / "ps")
    with pytest.raises(ValueError, match="residual"):
        figures.plot_power_spectrum(ell, th, sp.bin_centres(edges), {"theory": th}, th)


def test_metric_distribution_and_overlay_figures(tmp_path):
    rng = np.random.default_rng(1)
    rows = pd.DataFrame(
        {"epoch": [1] * 10 + [2] * 10, "mae": rng.uniform(1, 2, 20), "r2": rng.uniform(0, 1, 20)}
    )
    _save_both(figures.plot_metric_distributions(rows, ["mae", "r2"]), tmp_path / "dist")
    table = pd.DataFrame(
        {
            "ell": [5.0, 15.0],
            "theory": [1000.0, 900.0],
            "theory_sigma": [100.0, 50.0],
            "prediction": [990.0, 880.0],
            "residual": [10.0, 30.0],
        }
    )
    _save_both(figures.plot_spectra_overlay({"A": table, "B": table * 1.1}), tmp_path / "overlay")


def test_spectrum_figures_stay_readable_when_the_deconvolved_tail_explodes(tmp_path, theory_dl):
    """At nside 512 the deconvolved CNILC spectrum reaches D_l ~ 1e5 near l = 1024: log axes and
    limits taken from the scored multipoles keep the CMB visible; the tail is shaded."""
    lmax, ell_max = 1024, 800
    ell = np.arange(2, lmax + 1)
    edges = sp.bin_edges(2, lmax, 30)
    th = theory_dl[2 : lmax + 1]
    tail = np.where(ell > ell_max, np.exp((ell - ell_max) / 25.0), 0.0) * 100.0  # up to ~1e6
    pred = th * 1.02 + tail
    binned = {
        "theory": sp.bin_spectrum(th, edges),
        "truth": sp.bin_spectrum(th, edges),
        "prediction": sp.bin_spectrum(pred, edges),
        "residual": sp.bin_spectrum(th * 0.001 + tail, edges),
    }
    sigma = sp.knox_sigma(th, edges, 0.7)
    fig = figures.plot_power_spectrum(
        ell, th, sp.bin_centres(edges), binned, sigma, ell_max=ell_max, title="ps"
    )
    top, bottom = fig.axes
    assert top.get_yscale() == "log"
    assert top.get_ylim()[1] < 3 * th.max()  # not stretched to the 1e6 tail
    assert bottom.get_ylim()[1] <= 0.2  # the 2 % offset and the bands, not the tail
    _save_both(fig, tmp_path / "tail")
    mean = pd.DataFrame(
        {
            "ell": sp.bin_centres(edges),
            "theory": binned["theory"],
            "theory_sigma": sigma,
            "prediction": binned["prediction"],
            "residual": binned["residual"],
            "ell_max_metrics": ell_max,
        }
    )
    overlay = figures.plot_spectra_overlay(
        {"CNILC": mean, "HILC": mean.assign(ell_max_metrics=700)}
    )
    top, bottom = overlay.axes
    assert top.get_yscale() == "log" and top.get_ylim()[1] < 3 * th.max()
    assert bottom.get_ylim()[1] <= 0.2
    _save_both(overlay, tmp_path / "overlay_tail")


def _panel(th, lmax, scale, ell_max=None):
    """Binned spectra of one spectrum for the polarisation figures."""
    ell = np.arange(2, lmax + 1)
    edges = sp.bin_edges(2, lmax, 5)
    dl = th[2 : lmax + 1] * scale
    return {
        "ell": ell,
        "theory": dl,
        "ell_binned": sp.bin_centres(edges),
        "binned": {
            "theory": sp.bin_spectrum(dl, edges),
            "truth": sp.bin_spectrum(dl * 1.03, edges),
            "prediction": sp.bin_spectrum(dl * 0.97, edges),
            "residual": sp.bin_spectrum(np.abs(dl) * 0.01, edges),
        },
        "sigma": sp.knox_sigma(dl, edges, 0.7),
        "ell_max": ell_max,
    }


def test_polarisation_map_and_spectrum_figures(tmp_path, cut_masks):
    nside = 16
    binary, _ = cut_masks(nside)
    rng = np.random.default_rng(2)
    truth = rng.normal(0, 1.0, (2, 12 * nside**2))
    fig = figures.plot_pol_maps(truth, truth + rng.normal(0, 0.1, truth.shape), binary, title="QU")
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == [
        "Q truth",
        "Q prediction",
        "Q prediction - truth",
        "U truth",
        "U prediction",
        "U prediction - truth",
    ]
    _save_both(fig, tmp_path / "qu")
    with pytest.raises(ValueError, match=r"\(2, npix\)"):
        figures.plot_pol_maps(truth[0], truth[0], binary)

    table = np.loadtxt(hp.__path__[0] + "/data/totcls.dat")
    panels = {
        "EE": _panel(table[:, 2], 40, 1.0, ell_max=30),
        "BB": _panel(table[:, 3], 40, 1.0),
        "TE": _panel(table[:, 4], 40, 1.0),
    }
    fig = figures.plot_power_spectra(panels, title="pol")
    tops = fig.axes[:3]
    assert [ax.get_title() for ax in tops] == ["EE", "BB", "TE"]
    assert [ax.get_yscale() for ax in tops] == ["log", "log", "linear"]  # TE changes sign
    assert [ax.get_yscale() for ax in fig.axes[3:]] == ["linear", "linear", "linear"]
    _save_both(fig, tmp_path / "pol_ps")
    # a noise-dominated BB (300 times the theory): residuals as ratios on a log axis; a BB whose
    # estimates scatter below zero: a linear axis; the unscored l < 20 shaded
    noisy = _panel(table[:, 3], 40, 1.0, ell_max=40)
    noisy["binned"]["prediction"] = noisy["binned"]["theory"] * 300.0
    noisy["ell_min"] = 20
    scattered = _panel(table[:, 3], 40, 1.0)
    scattered["binned"]["truth"] = scattered["binned"]["theory"] * np.array([-1.0] + [1.0] * 7)
    top, bottom = figures.plot_power_spectra({"BB": noisy}).axes
    assert top.get_yscale() == "log" and bottom.get_yscale() == "log"
    assert bottom.get_ylim()[1] > 300.0
    assert any(p.get_label().startswith("not scored") for p in top.patches)
    top, bottom = figures.plot_power_spectra({"BB": scattered}).axes
    assert top.get_yscale() == "linear" and bottom.get_yscale() == "linear"

    edges = sp.bin_edges(2, 40, 5)
    mean = pd.concat(
        [
            pd.DataFrame(
                {
                    "spectrum": key,
                    "ell": sp.bin_centres(edges),
                    "theory": panels[key]["binned"]["theory"],
                    "theory_sigma": panels[key]["sigma"],
                    "prediction": panels[key]["binned"]["prediction"],
                    "residual": panels[key]["binned"]["residual"],
                    "ell_max_metrics": 40,
                }
            )
            for key in ("EE", "BB")
        ]
    )
    overlay = figures.plot_spectra_overlay({"A": mean, "B": mean}, spectra_names=("EE", "BB"))
    assert [ax.get_title() for ax in overlay.axes[:2]] == ["EE", "BB"]
    _save_both(overlay, tmp_path / "pol_overlay")


def test_metric_distributions_of_values_equal_up_to_rounding(tmp_path):
    """Values equal up to float64 rounding (one simulation scored twice, a saturated metric)
    are drawn as one bar instead of failing to make five bins."""
    rows = pd.DataFrame(
        {"epoch": ["10"] * 3, "mae": [4.9, 4.9 + 1e-15, 4.9], "r2": [0.99, 0.99, 0.99]}
    )
    fig = figures.plot_metric_distributions(rows, ["mae", "r2"])
    assert [len(ax.patches) for ax in fig.axes[:2]] == [1, 1]
