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

NSIDE, NSIDE_IN = 16, 64
LMAX = 3 * NSIDE - 1
REPO = Path(__file__).resolve().parents[2]
# PR3 native beams (Planck 2018 I) and HFI MJy/sr per K_CMB (Planck 2015 VIII), written out here
NATIVE = {30: 32.29, 44: 27.94, 70: 13.08, 100: 9.66, 143: 7.22, 217: 4.90, 353: 4.92}
NATIVE |= {545: 4.67, 857: 4.22}
MJYSR = {545: 58.04, 857: 2.27}
FILES = {
    band: f"LFI_SkyMap_{band:03d}-BPassCorrected_1024_R3.00_full.fits" for band in (30, 44, 70)
}
FILES |= {band: f"HFI_SkyMap_{band}_2048_R3.01_full.fits" for band in (100, 143, 217, 545, 857)}
FILES[353] = "HFI_SkyMap_353-psb_2048_R3.01_full.fits"
TARGET = {30: 75.0, 100: 43.0, 545: 21.5}  # the dataset's detector beams


def _cmb_alm(seed=3):
    """A band-limited (l <= LMAX) T, E, B sky in uK_CMB."""
    ell = np.arange(LMAX + 1)
    cl = np.zeros(LMAX + 1)
    cl[2:] = 2 * np.pi * 2000.0 / (ell[2:] * (ell[2:] + 1.0))
    np.random.seed(seed)
    return hp.synalm([cl, 0.05 * cl, 0.01 * cl, 0.1 * cl], lmax=LMAX, new=True)


def _write_pr3(folder: Path, alm, bands, noise_uk: float = 0.0) -> None:
    """Each band's map with its native beam and window, in the PR3 layout (plus white noise)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(11)
    for band in bands:
        fwhm = NATIVE[band]
        bl = hp.gauss_beam(np.radians(fwhm / 60), LMAX, pol=True)
        window = pixel_window(NSIDE_IN, LMAX)
        beamed = [hp.almxfl(alm[k], bl[:, min(k, 1)] * window) for k in range(3)]
        iqu = hp.alm2map(beamed, NSIDE_IN, lmax=LMAX)
        iqu = (iqu + noise_uk * rng.standard_normal(iqu.shape)) * 1e-6  # K_CMB
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
    _write_pr3(Path(cfg.local_system.assets_dir) / "planck", alm, TARGET)
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


def _write_references(folder: Path, alm, tmask: np.ndarray) -> dict[str, float]:
    """PR3 CMB-map files (I, Q, U in K_CMB at 5', TMASK, PMASK): SMICA and NILC hold the sky's
    CMB; Commander the CMB plus an independent large-scale (10 deg) field of 20 uK rms.
    Returns the added rms per reference."""
    folder.mkdir(parents=True, exist_ok=True)
    bl = hp.gauss_beam(np.radians(5.0 / 60), LMAX, pol=True)
    window = pixel_window(NSIDE_IN, LMAX)
    iqu = hp.alm2map([hp.almxfl(alm[k], bl[:, min(k, 1)] * window) for k in range(3)], NSIDE_IN)
    extra = {"SMICA": 0.0, "NILC": 0.0, "Commander": 20.0}
    rng = np.random.default_rng(5)
    smooth = hp.smoothing(rng.standard_normal(iqu.shape[1]), fwhm=np.radians(10.0))
    smooth /= smooth.std()
    for name, rms in extra.items():
        i_map = iqu[0] + rms * smooth
        columns = {"I_STOKES": i_map, "Q_STOKES": iqu[1], "U_STOKES": iqu[2]}
        columns |= {"TMASK": tmask, "PMASK": tmask}
        units = dict.fromkeys(("I_STOKES", "Q_STOKES", "U_STOKES"), "K_CMB")
        columns = {k: v * (1e-6 if k in units else 1.0) for k, v in columns.items()}
        file = f"COM_CMB_IQU-{name.lower()}_2048_R3.00_full.fits"
        write_planck_bintable(folder / file, columns, units)
    return extra


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
    alm = _cmb_alm()
    lat = np.degrees(np.arcsin(hp.pix2vec(NSIDE_IN, np.arange(12 * NSIDE_IN**2))[2]))
    added = _write_references(folder, alm, (np.abs(lat) > 20).astype(float))
    _write_pr3(folder, alm, NATIVE, noise_uk=2.0)
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
