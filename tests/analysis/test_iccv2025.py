"""CMB-ML's ICCV 2025 protocol end to end on data in CMB-ML's format: CNILC predicted, scored at
each target beam, summarised per beam and compared in one leaderboard with a block per beam."""

from __future__ import annotations

import healpy as hp
import numpy as np
import pandas as pd
import pytest

from cmbml.core import compose, run_pipeline

from .cmbml_format import (
    PLANCK_NAME,
    metrics_by_hand,
    overrides,
    post_by_hand,
    write_dataset,
    write_tmask,
)

NSIDE = 32
DATASET = f"CMB_ML_{NSIDE}_1450"
BEAMS = {"deconvolved": None, "20.6arcmin": 20.6, "60arcmin": 60.0}
STAGES = ["pyilc_predict", "analysis_mask", "pyilc_analysis_postprocess",
          "pyilc_analysis_pixel_metrics", "pyilc_analysis_power_spectra",
          "pyilc_analysis_summaries"]  # fmt: skip
ONLY_ILC = "model.analysis.compare.models=[{model: CNILC, working: PyILC_CNILC, epoch: null}]"


def _overrides(root, planck) -> list[str]:
    protocol = ["model.analysis.protocol=iccv2025", "model.analysis.n_show_cap=1", ONLY_ILC]
    return overrides(root, planck, NSIDE, 2, *protocol)


@pytest.fixture(scope="module")
def iccv(tmp_path_factory):
    root = tmp_path_factory.mktemp("iccv2025")
    write_dataset(root / DATASET, NSIDE, 2)
    planck = root / "planck" / PLANCK_NAME
    write_tmask(planck, NSIDE)
    opts = _overrides(root, planck)
    no_figures = "pipeline.only=[" + ",".join(STAGES) + "]"
    run_pipeline(compose("config_pyilc", [*opts, no_figures]))
    run_pipeline(compose("config_comp_models", opts))
    return root / DATASET


def test_each_target_beam_is_scored_as_cmb_ml_does(iccv):
    data = iccv
    mask = hp.read_map(data / "Analysis_Mask/iccv2025/mask.fits") > 0
    truth = hp.read_map(data / "Simulation/Test/sim0001/cmb_map_fid.fits")
    pred = hp.read_map(data / "PyILC_CNILC/Test/sim0001/cmb_map_pred.fits")
    rmse = {}
    for name, fwhm in BEAMS.items():
        table = pd.read_csv(
            data / f"PyILC_CNILC/Analysis/iccv2025/{name}/Test/sim0001/pixel_metrics.csv"
        )
        t, p = post_by_hand(truth, 0.0, fwhm, mask), post_by_hand(pred, 20.6, fwhm, mask)
        expected = metrics_by_hand(t, p)
        for metric, value in expected.items():
            assert table[metric].item() == pytest.approx(value, rel=1e-4), (name, metric)
        rmse[name] = expected["rmse"]
        summary = data / f"PyILC_CNILC/Analysis/iccv2025/{name}/Summary/Test_pixel_summary.csv"
        assert pd.read_csv(summary)["n_sims"].item() == 2
    # deconvolving amplifies the ILC's noise, a wider beam smooths it (as in CMB-ML's table)
    assert rmse["deconvolved"] > rmse["20.6arcmin"] > rmse["60arcmin"]


def test_leaderboard_has_a_labelled_block_per_beam_and_names_mask_and_window(iccv):
    board = pd.read_csv(iccv / "Comparison/iccv2025/pixel_comparison.csv")
    assert list(board["beam"]) == list(BEAMS) and set(board["protocol"]) == {"iccv2025"}
    md = (iccv / "Comparison/iccv2025/pixel_comparison.md").read_text()
    caption = md.splitlines()[0]
    assert caption.startswith("*Protocol: iccv2025 (CMB-ML's ICCV 2025")
    assert f"Mask: planck {PLANCK_NAME} TMASK >= 0.9" in caption
    assert "Observed maps carry no pixel window" in caption
    for name in BEAMS:
        assert f"### Target beam: {name}" in md


def test_spectra_are_cmb_mls_statistics(iccv):
    """Truth full-sky anafast, prediction anafast on the weighted TMASK over mean(w²), the
    20.6 arcmin beam squared divided out; six metrics on D_l from l = 0 to 2 nside."""
    data = iccv
    weight = hp.read_map(data / "Analysis_Mask/iccv2025/mask_apod.fits")
    truth = hp.read_map(data / "Simulation/Test/sim0000/cmb_map_fid.fits")
    pred = hp.read_map(data / "PyILC_CNILC/Test/sim0000/cmb_map_pred.fits")
    lmax = 2 * NSIDE
    ell = np.arange(lmax + 1)
    beam = hp.gauss_beam(np.radians(20.6 / 60), lmax)
    mean = np.sum(pred * weight) / np.sum(weight)
    cl = hp.anafast(weight * (pred - mean), lmax=lmax) / np.mean(weight**2) / beam**2
    dl_pred = cl * ell * (ell + 1) / (2 * np.pi)
    dl_real = hp.anafast(truth, lmax=lmax) * ell * (ell + 1) / (2 * np.pi)
    rows = pd.read_csv(data / "PyILC_CNILC/Analysis/iccv2025/Test/sim0000/ps_metrics.csv")
    expected = metrics_by_hand(dl_real, dl_pred)
    for metric, value in expected.items():
        assert rows[f"real_{metric}"].item() == pytest.approx(value, rel=1e-4), metric
    board = pd.read_csv(data / "Comparison/iccv2025/ps_comparison.csv")
    assert {"theory_mse_mean", "real_r2_mean"} <= set(board.columns)


@pytest.mark.slow
def test_figures_per_target_beam(iccv, tmp_path):
    """Maps and metric distributions per target beam, spectra once (~20 s of drawing)."""
    data = iccv
    planck = data.parent / "planck" / PLANCK_NAME
    opts = [*_overrides(data.parent, planck), "pipeline.only=[pyilc_analysis_figures]"]
    assert run_pipeline(compose("config_pyilc", opts))["pyilc_analysis_figures"].ran == 1
    folder = data / "PyILC_CNILC/Analysis/iccv2025"
    for name in BEAMS:
        for stem in ("Test_sim0000_maps_epochnone", "Test_pixel_metric_distributions"):
            assert (folder / name / f"Figures/{stem}.png").read_bytes()[:4] == b"\x89PNG"
    for stem in ("Test_sim0000_ps_epochnone", "Test_ps_metric_distributions"):
        assert (folder / f"Figures/{stem}.png").read_bytes()[:4] == b"\x89PNG"
