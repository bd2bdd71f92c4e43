"""The example method of notebook E (demonstrations/coadd_method.py) against independent
calculations: analytic inverse-variance weights and a noise-free sky smoothed with healpy."""

import healpy as hp
import numpy as np
import pytest

from tests.demonstrations.notebooks import demo_module


@pytest.fixture(scope="module")
def coadd():
    return demo_module("coadd_method")


def test_weights_are_inverse_variance_and_sum_to_one(coadd):
    lmax = 50
    same = np.ones((2, lmax + 1))
    w = coadd.coadd_weights(same, np.array([1.0, 3.0]))
    np.testing.assert_allclose(w[0], 0.75)  # N2 / (N1 + N2)
    np.testing.assert_allclose(w[1], 0.25)

    ell = np.arange(lmax + 1)
    beams = np.exp(-np.outer([1e-4, 4e-4, 2e-3], ell * (ell + 1)) / 2)
    noise = np.array([2.0, 1.0, 0.5])
    w = coadd.coadd_weights(beams, noise)
    np.testing.assert_allclose(w.sum(axis=0), 1.0)
    # by hand at one multipole: deconvolved noise N_i / b_i^2, weights its normalised inverse
    inv = beams[:, 30] ** 2 / noise
    np.testing.assert_allclose(w[:, 30], inv / inv.sum())


def test_noise_free_channels_give_the_sky_at_the_output_beam(coadd):
    nside = 16
    lmax = 3 * nside - 1
    rng = np.random.default_rng(3)
    cl = np.zeros(lmax + 1)
    cl[2 : nside + 1] = 1e3 / np.arange(2, nside + 1) ** 2  # well below lmax: accurate quadrature
    alm = _synalm(cl, lmax, rng)

    def smoothed(fwhm_arcmin):
        return hp.alm2map(hp.almxfl(alm, hp.gauss_beam(np.radians(fwhm_arcmin / 60), lmax)), nside)

    fwhm = np.array([600.0, 300.0, 150.0])
    maps = np.array([smoothed(f) for f in fwhm])
    out = coadd.inverse_noise_coadd(maps, fwhm, np.array([1.0, 2.0, 0.5]), 200.0, lmax)
    expected = smoothed(200.0)
    scale = np.max(np.abs(expected))
    # HEALPix quadrature (3 Jacobi iterations) limits the agreement to a few 1e-3
    assert np.max(np.abs(out - expected)) < 1e-2 * scale
    # while a plain average of the channels (no beam handling) is several times further off
    assert np.max(np.abs(maps.mean(axis=0) - expected)) > 5e-2 * scale


def _synalm(cl, lmax, rng):
    """Gaussian alm of ``cl`` (healpy ordering), real for m = 0."""
    ell, m = hp.Alm.getlm(lmax)
    sigma = np.sqrt(cl[ell] / 2)
    alm = sigma * (rng.standard_normal(ell.size) + 1j * rng.standard_normal(ell.size))
    alm[m == 0] = np.sqrt(cl[ell[m == 0]]) * rng.standard_normal(np.sum(m == 0))
    return alm


def test_bad_shapes_are_refused(coadd):
    with pytest.raises(ValueError, match="one FWHM per map"):
        coadd.inverse_noise_coadd(np.zeros((2, 12 * 4**2)), [10.0], [1.0, 1.0], 10.0, 11)
    with pytest.raises(ValueError, match="positive"):
        coadd.coadd_weights(np.ones((2, 5)), np.array([1.0, 0.0]))
