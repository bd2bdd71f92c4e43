"""Spin-2 (Q, U <-> E, B) transforms: healpy's convention and exact round trips."""

import healpy as hp
import numpy as np
import pytest

from cmbml import sphere

NSIDE = 16
LMAX = 2 * NSIDE  # band limit at which iterated HEALPix quadrature converges


def _random_eb(rng, lmax, lead=()):
    n = hp.Alm.getsize(lmax)
    shape = (*lead, 2, n)
    alm = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2)
    ell, m = hp.Alm.getlm(lmax)
    alm[..., m == 0] = alm[..., m == 0].real * np.sqrt(2)
    alm[..., ell < 2] = 0.0  # no spin-2 modes below l = 2
    return alm


def test_spin2_transforms_match_healpy_pol():
    rng = np.random.default_rng(0)
    eb = _random_eb(rng, LMAX)
    teb = np.concatenate([np.zeros((1, eb.shape[-1]), complex), eb])
    qu = sphere.alm2map_spin2(eb, NSIDE, LMAX)
    np.testing.assert_allclose(qu, hp.alm2map(teb, NSIDE, lmax=LMAX, pol=True)[1:], atol=1e-12)
    iqu = np.concatenate([rng.standard_normal((1, qu.shape[-1])), qu])
    ours = sphere.map2alm_spin2(iqu[1:], LMAX, niter=3)
    np.testing.assert_allclose(ours, hp.map2alm(iqu, lmax=LMAX, iter=3, pol=True)[1:], atol=1e-12)


def test_qu_to_eb_to_qu_is_exact_for_band_limited_maps():
    rng = np.random.default_rng(1)
    eb = _random_eb(rng, LMAX, lead=(3,))  # a batch of three Q/U pairs
    qu = sphere.alm2map_spin2(eb, NSIDE, LMAX)
    assert qu.shape == (3, 2, 12 * NSIDE**2)
    back_eb = sphere.map2alm_spin2(qu, LMAX, niter=20)
    assert np.abs(back_eb - eb).max() < 1e-10 * np.abs(eb).max()
    back_qu = sphere.alm2map_spin2(back_eb, NSIDE, LMAX)
    assert np.abs(back_qu - qu).max() < 1e-10 * np.abs(qu).max()


def test_spin2_shapes_are_checked():
    with pytest.raises(ValueError, match="Q, U"):
        sphere.map2alm_spin2(np.zeros((3, 12 * NSIDE**2)), LMAX)
    with pytest.raises(ValueError, match="E, B"):
        sphere.alm2map_spin2(np.zeros((2, 10), complex), NSIDE, LMAX)
