"""The ``pysm_lensed`` CMB realisation: PySM3 CMBLensed (Taylens) from CAMB unlensed spectra."""

import healpy as hp
import numpy as np
import pytest
from scipy import stats

from cmbml import sphere
from cmbml.core import Catalog, compose, run_pipeline
from cmbml.core.handlers import get_handler
from cmbml.core.seeds import make_rng
from cmbml.sims.cmb import (
    lensed_and_unlensed_cls,
    pysm_lensed_cmb_map,
    unlensed_spectrum_text,
)
from tests.sims.fiducial import PLANCK_CAMB

NSIDE, NSIDE_SKY = 32, 64
LMAX = 3 * NSIDE - 1


@pytest.fixture(scope="module")
def spectra_file(tmp_path_factory):
    ell, cls, dls = lensed_and_unlensed_cls(PLANCK_CAMB, 3 * NSIDE_SKY, accuracy="temperature")
    path = tmp_path_factory.mktemp("cmb") / "unlensed.txt"
    path.write_text(unlensed_spectrum_text(ell, dls))
    return path, ell, cls, dls


def test_unlensed_file_format(spectra_file):
    """Rows l = 2..lmax of L TT EE BB TE PP TP EP, D_l = l(l+1) C_l / 2pi as CAMB writes them."""
    path, ell, cls, dls = spectra_file
    data = np.loadtxt(path)
    assert data.shape == (3 * NSIDE_SKY - 1, 8)
    np.testing.assert_array_equal(data[:, 0], ell[2:])
    dl_tt = data[:, 1]
    # unlensed and lensed TT differ by lensing only (< 3 % at l <= 192), both in D_l
    lensed_dl = ell[2:] * (ell[2:] + 1) * cls[0, 2:] / (2 * np.pi)
    assert np.all(np.abs(dl_tt / lensed_dl - 1) < 0.03)
    assert np.all(data[:, 3] == 0)  # no tensors: no unlensed BB
    # lensing potential: [l(l+1)]^2 C^phiphi / 2pi ~ 1e-7 on large scales
    assert 5e-8 < data[:, 5].max() < 5e-7
    with pytest.raises(ValueError, match="dls"):
        unlensed_spectrum_text(ell, dls[:4])


def test_realisation_matches_lensed_spectra_and_is_reproducible(spectra_file):
    """TT and EE of the Taylens maps (point samples at nside_sky: no pixel window; unlensed
    CMB band-limited at 3 nside_sky, far above the tested l <= 2 nside) against CAMB's lensed
    C_l: chi2 with sum(2l + 1) dof over three seeds."""
    path, _, cls, _ = spectra_file
    ell = np.arange(2, 2 * NSIDE + 1)
    nu = 2 * ell + 1
    chi2 = {"TT": 0.0, "EE": 0.0}
    state = np.random.get_state()
    maps = {seed: pysm_lensed_cmb_map(path, NSIDE_SKY, seed) for seed in (0, 1, 2)}
    assert all(np.array_equal(a, b) for a, b in zip(np.random.get_state(), state, strict=True)), (
        "the global numpy RNG state must be restored"
    )
    for m in maps.values():
        assert m.shape == (3, hp.nside2npix(NSIDE_SKY))
        alm = sphere.map2alm(m, LMAX, pol=True, niter=3)
        for i, key in enumerate(chi2):
            c_hat = hp.alm2cl(alm[i])[ell]
            chi2[key] += np.sum(nu * c_hat / cls[i, ell])
    dof = len(maps) * nu.sum()
    for key, value in chi2.items():
        p = stats.chi2.cdf(value, dof)
        assert 1e-4 < p < 1 - 1e-4, f"{key}: chi2 {value:.0f} for {dof} dof"
    np.testing.assert_array_equal(pysm_lensed_cmb_map(path, NSIDE_SKY, 1), maps[1])
    assert np.abs(maps[0] - maps[1]).max() > 10.0  # uK: different seeds, different skies
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        pysm_lensed_cmb_map(path.parent / "missing.txt", NSIDE_SKY, 0)


def test_stage_path_writes_lensed_truth(tmp_path, spectra_file):
    """make_cosmology -> make_cmb_spectra -> make_foregrounds -> make_sky with pysm_lensed."""
    cfg = compose(
        "config_sims",
        [
            f"local_system.datasets_root={tmp_path}",
            f"scenario.nside={NSIDE}",
            f"scenario.nside_sky={NSIDE_SKY}",
            "scenario.map_fields=IQU",
            "splits.Train.n_sims=2",
            "splits.Valid.n_sims=0",
            "splits.Test.n_sims=0",
            "model.sim.cmb.realisation=pysm_lensed",
            "model.sim.cmb.camb_accuracy=temperature",
            "pipeline.stages=[make_cosmology,make_cmb_spectra,make_foregrounds,make_sky]",
        ],
    )
    reports = run_pipeline(cfg)
    assert reports["make_sky"].ran == 2
    catalog = Catalog.from_config(cfg)
    read = get_handler("healpix_map").read
    for sim in (0, 1):
        path = catalog.path("cmb_unlensed_spectrum", split="Train", sim=sim)
        assert np.loadtxt(path).shape == (3 * NSIDE_SKY - 1, 8)
        truth = read(catalog.path("cmb_map", split="Train", sim=sim))
        assert truth.shape == (3, hp.nside2npix(NSIDE))
        # the truth is CMBLensed of this simulation's file, seeded from (split, sim, "cmb")
        seed = int(make_rng(int(cfg.seed), cfg.dataset_name, "Train", sim, "cmb").integers(2**32))
        alm = sphere.map2alm(pysm_lensed_cmb_map(path, NSIDE_SKY, seed), LMAX, pol=True, niter=3)
        expected = sphere.alm2map(alm, NSIDE, LMAX, pol=True)
        np.testing.assert_allclose(truth, expected, atol=1e-3 * np.abs(expected).max())
    default = compose("config_sims", [f"local_system.datasets_root={tmp_path}"])
    assert default.model.sim.cmb.realisation == "gaussian"
