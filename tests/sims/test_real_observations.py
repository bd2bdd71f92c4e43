"""Observation-only splits: Planck PR3 frequency maps (small files in the PR3 format) become the
split's observed maps; no simulation stage touches the split."""

import shutil
from pathlib import Path

import healpy as hp
import numpy as np
import pytest

from cmbml.core import Catalog, MissingInputError, compose, run_pipeline
from cmbml.core.handlers import get_handler
from cmbml.pixwin import pixel_window
from tests.sims.planck_files import (
    PR3_FILES,
    PR3_MJYSR_PER_KCMB,
    flat_cmb_alm,
    write_pr3_cmb_maps,
    write_pr3_frequency_maps,
)

NSIDE, NSIDE_IN = 16, 64
LMAX = 3 * NSIDE - 1
REPO = Path(__file__).resolve().parents[2]
TARGET = {30: 75.0, 100: 43.0, 545: 21.5}  # the dataset's detector beams


def _cfg(root: Path, *extra):
    assets = root / "assets"
    shutil.copytree(REPO / "assets" / "instrument", assets / "instrument")
    return compose(
        "config_sims",
        [
            f"local_system.datasets_root={root}",
            f"local_system.assets_dir={assets}",
            f"scenario.nside={NSIDE}",
            f"scenario.nside_sky={2 * NSIDE}",
            "scenario.detectors=[30,100,545]",
            "scenario.map_fields=IQU",
            "splits.Train.n_sims=0",
            "splits.Valid.n_sims=0",
            "splits.Test.n_sims=0",
            "+splits.TestPlanck={n_sims: 1, kind: observation}",
            "pipeline.stages=[make_instrument,make_cosmology,make_real_observations]",
            *extra,
        ],
    )


def test_pr3_maps_become_the_observed_maps_at_the_detector_beams(tmp_path):
    cfg = _cfg(tmp_path)
    alm = flat_cmb_alm(LMAX, seed=3)
    write_pr3_frequency_maps(Path(cfg.local_system.assets_dir) / "planck", alm, TARGET, NSIDE_IN)
    reports = run_pipeline(cfg)
    assert reports["make_real_observations"].ran == 1 and reports["make_cosmology"].ran == 0
    catalog = Catalog.from_config(cfg)
    assert not catalog.path("cosmo_params", split="TestPlanck", sim=0).exists()
    window = pixel_window(NSIDE, LMAX)
    for band, fwhm in TARGET.items():
        obs = get_handler("healpix_map").read(
            catalog.path("obs_map", split="TestPlanck", sim=0, freq=band)
        )
        bl = hp.gauss_beam(np.radians(fwhm / 60), LMAX, pol=True)
        expected = hp.alm2map(
            [hp.almxfl(alm[k], bl[:, min(k, 1)] * window) for k in range(3)], NSIDE, lmax=LMAX
        )
        if band in PR3_MJYSR_PER_KCMB:  # intensity only
            expected = expected[0]
        scale = np.abs(expected).max()
        assert np.allclose(obs, expected, atol=2e-3 * scale), band


def test_a_missing_pr3_file_names_it_and_how_to_get_it(tmp_path):
    cfg = _cfg(tmp_path)
    with pytest.raises(MissingInputError, match="LFI_SkyMap_030.*get_planck_assets"):
        run_pipeline(cfg)


def test_ilc_of_the_real_maps_is_compared_with_the_reference_maps(tmp_path):
    stages = "make_instrument,make_real_observations,make_mask,pyilc_predict"
    cfg = _cfg(
        tmp_path,
        "scenario.detectors=[30,44,70,100,143,217,353,545,857]",
        "model/sim/mask=planck",
        f"pipeline.stages=[{stages},analysis_mask,pyilc_analysis_reference,analysis_generalisation]",
        "model.analysis.compare.models=[{model: CNILC, working: PyILC_CNILC, epoch: null}]",
    )
    folder = Path(cfg.local_system.assets_dir) / "planck"
    alm = flat_cmb_alm(LMAX, seed=3)
    lat = np.degrees(np.arcsin(hp.pix2vec(NSIDE_IN, np.arange(12 * NSIDE_IN**2))[2]))
    added = {"SMICA": 0.0, "NILC": 0.0, "Commander": 20.0}  # uK rms on top of the CMB
    write_pr3_cmb_maps(folder, alm, (np.abs(lat) > 20).astype(float), added)
    write_pr3_frequency_maps(folder, alm, PR3_FILES, NSIDE_IN, noise_uk=2.0)
    reports = run_pipeline(cfg)
    assert reports["pyilc_predict"].ran == 1 and reports["pyilc_analysis_reference"].ran == 1
    catalog = Catalog.from_config(cfg)
    read_csv = get_handler("csv").read
    where = {"split": "TestPlanck", "sim": 0, "working": "PyILC_CNILC", "scoring": "matched"}
    metrics = read_csv(catalog.path("analysis_reference_metrics", **where)).set_index("reference")
    assert list(metrics.index) == list(added)
    # the ILC of a CMB-only sky recovers the CMB (up to its bias with so few modes at nside 16):
    # the exact references agree with it; Commander's extra field adds to its residual
    for name in ("SMICA", "NILC"):
        assert metrics.loc[name, "correlation"] > 0.95
        assert metrics.loc[name, "residual_rms"] < 0.25 * metrics.loc[name, "reference_rms"]
    excess = (
        metrics.loc["Commander", "residual_rms"] ** 2 - metrics.loc["SMICA", "residual_rms"] ** 2
    )
    assert excess > 10.0**2
    spectra = read_csv(catalog.path("analysis_reference_spectra", **where))
    smica = spectra[spectra.reference == "SMICA"]
    assert np.allclose(smica["cross_ratio"].iloc[:3], 1.0, atol=0.1)
    board = read_csv(catalog.path("comparison_reference", split="TestPlanck"))
    assert list(board["reference"]) == list(added) and set(board["model"]) == {"CNILC"}
    board = board.set_index("reference")
    assert board.loc["NILC", "residual_rms"] == pytest.approx(metrics.loc["NILC", "residual_rms"])
    text = catalog.path("comparison_reference_md", split="TestPlanck").read_text()
    assert "not a truth" in text and "| CNILC | Commander |" in text
