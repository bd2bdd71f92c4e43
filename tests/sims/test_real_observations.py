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
from tests.sims.planck_files import write_planck_bintable

NSIDE, NSIDE_IN = 8, 32
LMAX = 3 * NSIDE - 1
REPO = Path(__file__).resolve().parents[2]
# PR3 native beams (Planck 2018 I) and HFI MJy/sr per K_CMB (Planck 2015 VIII), written out here
NATIVE = {30: 32.29, 100: 9.66, 545: 4.67}
MJYSR = {545: 58.04}
FILES = {
    30: "LFI_SkyMap_030-BPassCorrected_1024_R3.00_full.fits",
    100: "HFI_SkyMap_100_2048_R3.01_full.fits",
    545: "HFI_SkyMap_545_2048_R3.01_full.fits",
}
TARGET = {30: 75.0, 100: 43.0, 545: 21.5}  # the dataset's detector beams


def _cmb_alm(seed=3):
    """A band-limited (l <= LMAX) T, E, B sky in uK_CMB."""
    ell = np.arange(LMAX + 1)
    cl = np.zeros(LMAX + 1)
    cl[2:] = 2 * np.pi * 2000.0 / (ell[2:] * (ell[2:] + 1.0))
    np.random.seed(seed)
    return hp.synalm([cl, 0.05 * cl, 0.01 * cl, 0.1 * cl], lmax=LMAX, new=True)


def _write_pr3(folder: Path, alm) -> None:
    """Each band's map with its native beam and the nside-32 window, in the PR3 layout."""
    folder.mkdir(parents=True, exist_ok=True)
    for band, fwhm in NATIVE.items():
        bl = hp.gauss_beam(np.radians(fwhm / 60), LMAX, pol=True)
        window = pixel_window(NSIDE_IN, LMAX)
        beamed = [hp.almxfl(alm[k], bl[:, min(k, 1)] * window) for k in range(3)]
        iqu = hp.alm2map(beamed, NSIDE_IN, lmax=LMAX) * 1e-6  # K_CMB
        if band in MJYSR:
            columns = {"I_STOKES": iqu[0] * MJYSR[band], "HITS": np.ones(iqu.shape[1])}
            units = {"I_STOKES": "MJy/sr", "HITS": ""}
        else:
            names = ("I_STOKES", "Q_STOKES", "U_STOKES")
            columns = dict(zip(names, iqu, strict=True)) | {"HITS": np.ones(iqu.shape[1])}
            units = dict.fromkeys(names, "K_CMB") | {"HITS": ""}
        write_planck_bintable(folder / FILES[band], columns, units)


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
    alm = _cmb_alm()
    _write_pr3(Path(cfg.local_system.assets_dir) / "planck", alm)
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
        if band in MJYSR:  # intensity only
            expected = expected[0]
        scale = np.abs(expected).max()
        assert np.allclose(obs, expected, atol=2e-3 * scale), band


def test_a_missing_pr3_file_names_it_and_how_to_get_it(tmp_path):
    cfg = _cfg(tmp_path)
    with pytest.raises(MissingInputError, match="LFI_SkyMap_030.*get_planck_assets"):
        run_pipeline(cfg)
