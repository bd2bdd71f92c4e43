"""CMB spectra (CAMB) and Gaussian realisations."""

import healpy as hp
import numpy as np
import pytest
from scipy import stats

from cmbml import sphere
from cmbml.sims.cmb import (
    gaussian_cmb_alm,
    lensed_cls,
    spectrum_from_table,
    spectrum_table,
)
from tests.sims.fiducial import PLANCK_CAMB


@pytest.fixture(scope="module")
def planck_cls():
    return lensed_cls(PLANCK_CAMB, 250, accuracy="temperature")


def test_spectra_layout_and_physics(planck_cls):
    ell, cls = planck_cls
    assert np.array_equal(ell, np.arange(251))
    assert cls.shape == (4, 251)
    assert np.all(cls[:, :2] == 0)  # no monopole/dipole, no l offset
    assert np.all(cls[:3, 2:] > 0)
    dl = ell * (ell + 1) * cls / (2 * np.pi)
    # Planck 2018: first acoustic peak at l ~ 220 with D_l ~ 5750 uK^2; SW plateau ~ 1000 uK^2
    peak = 100 + np.argmax(dl[0, 100:])
    assert 212 <= peak <= 228
    assert 5500 < dl[0, peak] < 6000
    assert 800 < dl[0, 10] < 1300
    # reionisation bump in EE at l < 10 (~0.03 uK^2 at l = 4 for tau = 0.054)
    assert 0.01 < dl[1, 4] < 0.1
    # lensing BB: D_l ~ 0.03-0.06 uK^2 at l ~ 100-300 (the temperature settings omit the
    # high-l E modes that lens into BB: up to 30 % low, still in this range)
    assert 0.01 < dl[2, 200] < 0.1
    # TE is a cross-spectrum: |TE| <= sqrt(TT EE)
    assert np.all(np.abs(cls[3, 2:]) <= np.sqrt(cls[0, 2:] * cls[1, 2:]))


def test_table_round_trip(planck_cls):
    ell, cls = planck_cls
    table = spectrum_table(ell, cls)
    assert list(table.columns) == ["ell", "TT", "EE", "BB", "TE"]
    ell2, cls2 = spectrum_from_table(table)
    np.testing.assert_array_equal(ell2, ell)
    np.testing.assert_array_equal(cls2, cls)
    with pytest.raises(ValueError, match="without gaps"):
        spectrum_from_table(table.iloc[1:], "cmb_spectrum.csv")


def test_alm_moments():
    """<|a_lm|^2> = C_l for m = 0 and m > 0; <a_T a_E*> = C_TE; B independent."""
    lmax, n = 6, 4000
    ell = np.arange(lmax + 1)
    tt = np.r_[0, 0, 10.0 / ell[2:] ** 2]
    ee = np.r_[0, 0, 2.0 / ell[2:]]
    bb = np.r_[0, 0, np.full(lmax - 1, 0.3)]
    te = 0.6 * np.sqrt(tt * ee)
    cls = np.stack([tt, ee, bb, te])
    rng = np.random.default_rng(0)
    alms = np.stack([gaussian_cmb_alm(cls, lmax, rng) for _ in range(n)])  # (n, 3, nalm)
    l_idx, m_idx = hp.Alm.getlm(lmax)
    assert np.all(alms[:, :, m_idx == 0].imag == 0)
    # |a|^2 / C is chi2_1 (m = 0: variance 2) or chi2_2 / 2 (m > 0: variance 1)
    for m_sel, var in ((m_idx == 0, 2.0), (m_idx > 0, 1.0)):
        for comp, c in ((0, tt), (1, ee), (2, bb)):
            power = np.mean(np.abs(alms[:, comp, m_sel]) ** 2, axis=0)
            expect = c[l_idx[m_sel]]
            ok = expect > 0
            sd = np.sqrt(var / n)
            np.testing.assert_array_less(np.abs(power[ok] / expect[ok] - 1), 5 * sd)
            assert np.all(power[~ok] == 0)
        cross = np.mean((alms[:, 0, m_sel] * alms[:, 1, m_sel].conj()).real, axis=0)
        expect = te[l_idx[m_sel]]
        scale = np.sqrt(tt * ee)[l_idx[m_sel]]
        ok = scale > 0
        np.testing.assert_array_less(np.abs(cross - expect)[ok] / scale[ok], 5 * np.sqrt(2.0 / n))
        tb = np.mean((alms[:, 0, m_sel] * alms[:, 2, m_sel].conj()).real, axis=0)
        ok = bb[l_idx[m_sel]] > 0
        assert np.all(np.abs(tb[ok]) / np.sqrt(tt * bb)[l_idx[m_sel]][ok] < 5 * np.sqrt(2.0 / n))


def test_alm_reproducible_and_temperature_only():
    cls = np.stack([np.r_[0, 0, np.ones(9)]] * 3 + [np.zeros(11)])
    a = gaussian_cmb_alm(cls, 10, np.random.default_rng(3))
    b = gaussian_cmb_alm(cls, 10, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    t = gaussian_cmb_alm(cls[0], 10, np.random.default_rng(3), pol=False)
    assert t.shape == (1, sphere.nalm(10))
    with pytest.raises(ValueError, match="lmax = 20"):
        gaussian_cmb_alm(cls, 20, np.random.default_rng(0))


def test_realisation_spectrum_within_cosmic_variance(planck_cls):
    """Maps (with the pixel window) re-analysed: chi2 of C_l-hat against CAMB, several seeds."""
    nside, lmax = 16, 32
    cls = planck_cls[1][:, : lmax + 1]
    window = sphere.pixel_window(nside, lmax)
    ell = np.arange(2, lmax + 1)
    nu = 2 * ell + 1
    stats_x = {k: 0.0 for k in ("TT", "EE", "BB")}
    te_z = []
    n_seeds = 5
    for seed in range(n_seeds):
        alm = gaussian_cmb_alm(cls, lmax, np.random.default_rng(seed))
        maps = sphere.alm2map(sphere.almxfl(alm, window), nside, lmax, pol=True)
        alm_hat = sphere.map2alm(maps, lmax, pol=True, niter=3)
        for i, key in enumerate(stats_x):
            c_hat = hp.alm2cl(alm_hat[i]) / window**2
            stats_x[key] += np.sum(nu * c_hat[2:] / cls[i, 2:])  # chi2 with sum(nu) dof
        c_te = hp.alm2cl(alm_hat[0], alm_hat[1]) / window**2
        var_te = (cls[0] * cls[1] + cls[3] ** 2)[2:] / nu
        te_z.append(np.sum((c_te[2:] - cls[3, 2:]) / np.sqrt(var_te)) / np.sqrt(ell.size))
    dof = n_seeds * nu.sum()
    for key, value in stats_x.items():
        p = stats.chi2.cdf(value, dof)
        assert 1e-4 < p < 1 - 1e-4, f"{key}: chi2 {value:.0f} for {dof} dof"
    z = np.sum(te_z) / np.sqrt(n_seeds)
    assert abs(z) < 4


CONVERGED = {
    "lens_potential_accuracy": 6,
    "lens_margin": 2000,
    "AccuracyBoost": 3.0,
    "lSampleBoost": 3.0,
    "lAccuracyBoost": 3.0,
    "IntTolBoost": 3.0,
    "AccurateBB": True,
}
"""A converged CAMB run: every boost at 3 (CAMB's ``check_accuracy`` strict reference), the
lensing potential to k eta = 108 000 and the lensed spectra computed 2000 multipoles beyond
the output (about 5 min on 2 cores)."""


@pytest.fixture(scope="module")
def converged_cls():
    return lensed_cls(PLANCK_CAMB, 3 * 512, accuracy=CONVERGED)[1]


def _errors(cls, ref):
    """Max |relative error| of TT, EE, BB and max |TE error| / sqrt(TT EE), l >= 2."""
    n = cls.shape[1]
    ref = ref[:, :n]
    rel = np.abs(cls[:3, 2:] / ref[:3, 2:] - 1).max(axis=1)
    te = np.abs(cls[3, 2:] - ref[3, 2:]) / np.sqrt(ref[0, 2:] * ref[1, 2:])
    return dict(zip(("TT", "EE", "BB", "TE"), [*rel, te.max()], strict=True))


@pytest.mark.slow
@pytest.mark.parametrize("nside", [64, 128, 512])
def test_camb_within_0p1_percent_of_converged_on_the_maps_range(nside, converged_cls):
    """Spectra to l = 3 nside (what the maps need) agree with a converged run to 0.1 %: all four
    with the default (polarisation) settings, TT with the cheaper temperature settings."""
    lmax = 3 * nside
    errors = _errors(lensed_cls(PLANCK_CAMB, lmax)[1], converged_cls)
    assert max(errors.values()) < 1e-3, errors
    errors = _errors(lensed_cls(PLANCK_CAMB, lmax, accuracy="temperature")[1], converged_cls)
    assert errors["TT"] < 1e-3, errors


def test_accuracy_presets_follow_the_maps_fields():
    """Intensity-only maps need TT only; with Q, U the presets keep EE, TE and lensed BB right."""
    from cmbml.sims.cmb import camb_accuracy

    temperature = camb_accuracy("auto", 192, map_fields="I")
    assert temperature == camb_accuracy("temperature", 192)
    assert camb_accuracy("auto", 192, map_fields="IQU") == camb_accuracy(None, 192)
    polarization = camb_accuracy("polarization", 192)
    # lensed BB (and the EE trough at l ~ 15) need the E modes and lensing potential to l ~ 3000
    assert polarization["lens_margin"] >= 3000 and polarization["AccurateBB"]
    assert temperature["lens_potential_accuracy"] == 0
    assert camb_accuracy("temperature", 1536)["lens_potential_accuracy"] >= 1  # non-linear
    assert camb_accuracy({"lens_margin": 100}, 192) == {"lens_margin": 100}
    with pytest.raises(ValueError, match="camb_accuracy.*temperature.*polarization"):
        camb_accuracy("fast", 192)
