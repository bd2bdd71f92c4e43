"""Shared spherical-harmonic utilities against healpy and an independent pixel-window estimate."""

import healpy as hp
import numpy as np
import pytest

from cmbml import sphere
from cmbml.pixwin import TABLE_NSIDES, _table, compute_pixel_window


def _random_alm(rng, lmax, n=None):
    shape = (hp.Alm.getsize(lmax),) if n is None else (n, hp.Alm.getsize(lmax))
    alm = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2)
    m0 = hp.Alm.getlm(lmax)[1] == 0
    alm[..., m0] = alm[..., m0].real * np.sqrt(2)
    return alm


def test_transforms_match_healpy_for_t_and_pol():
    nside, lmax = 16, 47
    rng = np.random.default_rng(3)
    alm = _random_alm(rng, lmax, 3)
    maps = sphere.alm2map(alm, nside, lmax, pol=True)
    np.testing.assert_allclose(maps, hp.alm2map(alm, nside, lmax=lmax, pol=True), atol=1e-10)
    ours = sphere.map2alm(maps, lmax, pol=True, niter=3)
    np.testing.assert_allclose(ours, hp.map2alm(maps, lmax=lmax, iter=3, pol=True), atol=1e-10)
    batch = sphere.map2alm(np.stack([maps[0], 2 * maps[0]]), lmax)
    np.testing.assert_allclose(batch[1], 2 * batch[0])
    np.testing.assert_allclose(batch[0], hp.map2alm(maps[0], lmax=lmax, iter=0), atol=1e-12)


def test_almxfl_and_beam_match_healpy():
    lmax = 40
    alm = _random_alm(np.random.default_rng(1), lmax)
    bl = sphere.gaussian_beam(30.0, lmax)
    np.testing.assert_allclose(bl, hp.gauss_beam(np.radians(0.5), lmax=lmax), rtol=1e-12)
    np.testing.assert_allclose(sphere.almxfl(alm, bl), hp.almxfl(alm, bl), rtol=1e-12)
    pol = sphere.gaussian_beam(30.0, lmax, pol=True)
    np.testing.assert_allclose(pol[1], hp.gauss_beam(np.radians(0.5), lmax=lmax, pol=True)[:, 1])


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="not a valid HEALPix size"):
        sphere.map2alm(np.zeros(100), 10)
    with pytest.raises(ValueError, match="not a valid HEALPix resolution"):
        sphere.pixel_window(12)


def test_pixel_window_matches_pixel_averaging_of_band_limited_skies():
    """Independent estimate: average a high-resolution sky into nside-16 pixels (ud_grade) and
    cross-correlate the resulting alm with the input alm; the ratio is W_l up to aliasing."""
    nside, lmax = 16, 32
    rng = np.random.default_rng(0)
    ell, m = hp.Alm.getlm(lmax)
    weight = np.where(m == 0, 1.0, 2.0)
    num, den = np.zeros(lmax + 1), np.zeros(lmax + 1)
    for _ in range(4):
        alm = _random_alm(rng, lmax)
        low = hp.ud_grade(sphere.alm2map(alm, 16 * nside, lmax), nside)
        out = sphere.map2alm(low, lmax, niter=5)
        num += np.bincount(ell, weight * (out * alm.conj()).real, lmax + 1)
        den += np.bincount(ell, weight * np.abs(alm) ** 2, lmax + 1)
    window = sphere.pixel_window(nside, lmax)
    assert window[0] == pytest.approx(1.0, abs=1e-12)
    assert np.all(np.diff(window) < 0)
    np.testing.assert_allclose(num / den, window, atol=0.008)
    assert np.mean(np.abs(num / den - window)) < 0.002


def test_shipped_table_equals_fresh_computation():
    table = _table()
    assert set(table) == set(TABLE_NSIDES)
    for nside in (1, 4, 32):
        assert table[nside].size == 4 * nside + 1
        np.testing.assert_allclose(
            sphere.pixel_window(nside, 3 * nside - 1),
            compute_pixel_window(nside, 3 * nside - 1),
            rtol=1e-12,
        )
    pol = sphere.pixel_window(32, 50, pol=True)
    assert pol.shape == (2, 51) and np.array_equal(pol[0], pol[1])
