"""Figures are written as valid PNG and PDF files."""

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
