"""Harmonic ILC against the analytic harmonic ILC computed from the input alm."""

import healpy as hp
import numpy as np
import pytest

from cmbml.ilc import dust_sed, harmonic_ilc, synchrotron_sed

from .sky import cmb_cl, power_law_cl, random_alm

NSIDE = 32
LMAX = 64
BIN = 16
FREQS = [70.4, 100.89, 142.876, 221.156, 357.5]
BEAMS = [60.0, 50.0, 40.0, 35.0, 30.0]
OUT_FWHM = 40.0


@pytest.mark.parametrize("with_mask", [False, True])
def test_harmonic_ilc_equals_analytic_harmonic_ilc(with_mask):
    rng = np.random.default_rng(4)
    cmb = random_alm(cmb_cl(LMAX), rng)
    dust = random_alm(power_law_cl(LMAX, 1e6, -2.5), rng)
    sync = random_alm(power_law_cl(LMAX, 1e6, -2.7), rng)
    noise_cl = np.full(LMAX + 1, 4 * np.pi / (12 * NSIDE**2))
    sky = [
        cmb + d * dust + s * sync
        for d, s in zip(dust_sed(FREQS), synchrotron_sed(FREQS), strict=True)
    ]
    ell = np.arange(LMAX + 1)
    beams = [hp.gauss_beam(np.radians(b / 60), LMAX) for b in BEAMS]
    alms = [hp.almxfl(a, b) + random_alm(noise_cl, rng) for a, b in zip(sky, beams, strict=True)]
    maps = np.array([hp.alm2map(a, NSIDE, lmax=LMAX) for a in alms])
    mask = None
    cov_alms = alms
    if with_mask:  # cross-spectra of the masked maps, weights applied to the full-sky alm
        theta, _ = hp.pix2ang(NSIDE, np.arange(12 * NSIDE**2))
        mask = (np.abs(np.pi / 2 - theta) > np.radians(20)).astype(float)
        cov_alms = [hp.map2alm(m * mask, lmax=LMAX, iter=10) for m in maps]

    # analytic HILC: beam-corrected alm, bin-averaged cross-spectra, w = C^-1 1 / (1^T C^-1 1)
    out_beam = hp.gauss_beam(np.radians(OUT_FWHM / 60), LMAX)
    x = [hp.almxfl(a, out_beam / b) for a, b in zip(alms, beams, strict=True)]
    x_cov = [hp.almxfl(a, out_beam / b) for a, b in zip(cov_alms, beams, strict=True)]
    n = len(x)
    edges = list(range(0, LMAX + 1, BIN)) + [LMAX + 1]
    out_alm = np.zeros_like(x[0])
    expected_weights = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        in_bin = (ell >= lo) & (ell < hi)
        cov = np.empty((n, n))
        for a in range(n):
            for b in range(n):
                cl = hp.alm2cl(x_cov[a], x_cov[b])
                cov[a, b] = np.sum((2 * ell[in_bin] + 1) * cl[in_bin])
        inv = np.linalg.inv(cov)
        w = inv.sum(axis=1) / inv.sum()
        expected_weights.append(w)
        for a in range(n):
            out_alm += hp.almxfl(x[a], w[a] * in_bin)
    expected = hp.alm2map(out_alm, NSIDE, lmax=LMAX)

    out, (weights, bin_edges) = harmonic_ilc(
        maps,
        BEAMS,
        bin_size=BIN,
        output_fwhm_arcmin=OUT_FWHM,
        lmax=LMAX,
        mask=mask,
        beam_criterion=None,
        niter=10,
        return_weights=True,
    )
    np.testing.assert_array_equal(bin_edges, edges)
    expected_weights = np.array(expected_weights)
    assert np.abs(weights - expected_weights).max() < 1e-8 * np.abs(expected_weights).max()
    assert np.abs(out - expected).max() < 1e-8 * np.abs(expected).max()
