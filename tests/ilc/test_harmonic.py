"""Harmonic ILC against the analytic harmonic ILC computed from the input alm."""

import healpy as hp
import numpy as np
import pytest

from cmbml.ilc import dust_sed, harmonic_ilc, synchrotron_sed

from .sky import cmb_cl, make_pol_sky, power_law_cl, random_alm

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


@pytest.mark.parametrize("with_mask", [False, True])
def test_harmonic_ilc_of_e_and_b_equals_analytic_harmonic_ilc(with_mask):
    # four polarised channels plus an intensity-only one; dust and synchrotron deprojected in
    # E and B only
    freqs, beams = FREQS[:4] + [555.2], BEAMS[:4] + [28.0]
    polarised = np.array([True] * 4 + [False])
    sky = make_pol_sky(
        NSIDE,
        LMAX,
        freqs,
        beams,
        seed=8,
        polarised=polarised,
        dust_amp=1e6,
        sync_amp=1e6,
        noise_p_uk=2.0,
        output_fwhm_arcmin=OUT_FWHM,
    )
    maps = sky["total"]
    seds = np.array([dust_sed(freqs), synchrotron_sed(freqs)])
    npix = maps.shape[-1]
    mask = None
    cov_maps = maps
    if with_mask:
        theta, _ = hp.pix2ang(NSIDE, np.arange(npix))
        mask = (np.abs(np.pi / 2 - theta) > np.radians(20)).astype(float)
        cov_maps = maps * mask

    # analytic E and B HILC with healpy: beam-corrected alm, binned cross-spectra, constrained
    # weights w = C^-1 A (A^T C^-1 A)^-1 e_0
    ell = np.arange(LMAX + 1)
    out_beam = hp.gauss_beam(np.radians(OUT_FWHM / 60), LMAX, pol=True)[:, 1]
    pol_idx = np.flatnonzero(polarised)
    mixing = np.column_stack([np.ones(4), seds[:, pol_idx].T])

    def eb(m):
        alm = hp.map2alm(np.vstack([np.zeros(npix), m[1:]]), lmax=LMAX, iter=10)[1:]
        return alm

    edges = list(range(0, LMAX + 1, BIN)) + [LMAX + 1]
    expected_alm = np.zeros((3, hp.Alm.getsize(LMAX)), dtype=complex)
    expected_weights = {}
    for field, label in ((0, "E"), (1, "B")):
        x, x_cov = [], []
        for i in pol_idx:
            fl = out_beam / hp.gauss_beam(np.radians(beams[i] / 60), LMAX, pol=True)[:, 1]
            x.append(hp.almxfl(eb(maps[i])[field], fl))
            x_cov.append(hp.almxfl(eb(cov_maps[i])[field], fl))
        expected_weights[label] = []
        for lo, hi in zip(edges[:-1], edges[1:], strict=True):
            in_bin = (ell >= lo) & (ell < hi)
            cov = np.array(
                [
                    [np.sum((2 * ell[in_bin] + 1) * hp.alm2cl(a, b)[in_bin]) for b in x_cov]
                    for a in x_cov
                ]
            )
            cinv_a = np.linalg.solve(cov, mixing)
            w = cinv_a @ np.linalg.solve(mixing.T @ cinv_a, np.eye(3)[0])
            expected_weights[label].append(w)
            for a, wa in zip(x, w, strict=True):
                expected_alm[1 + field] += hp.almxfl(a, wa * in_bin)
    expected = hp.alm2map(expected_alm, NSIDE, lmax=LMAX, pol=True)[1:]

    out, (weights, bin_edges) = harmonic_ilc(
        maps,
        beams,
        polarised=polarised,
        bin_size=BIN,
        output_fwhm_arcmin=OUT_FWHM,
        lmax=LMAX,
        mask=mask,
        deproject_pol=seds,
        beam_criterion=None,
        niter=10,
        return_weights=True,
    )
    np.testing.assert_array_equal(bin_edges, edges)
    assert sorted(weights) == ["B", "E", "T"]
    for label in "EB":
        assert np.all(weights[label][:, ~polarised] == 0)
        np.testing.assert_allclose(weights[label].sum(axis=1), 1.0, rtol=0, atol=1e-10)
        exp_w = np.array(expected_weights[label])
        assert np.abs(weights[label][:, pol_idx] - exp_w).max() < 1e-8 * np.abs(exp_w).max()
    assert np.abs(out[1:] - expected).max() < 1e-8 * np.abs(expected).max()
    # temperature: the intensity-only HILC of all five channels, no deprojection
    t_only = harmonic_ilc(
        maps[:, 0],
        beams,
        bin_size=BIN,
        output_fwhm_arcmin=OUT_FWHM,
        lmax=LMAX,
        mask=mask,
        beam_criterion=None,
        niter=10,
    )
    assert np.abs(out[0] - t_only).max() < 1e-9 * np.abs(t_only).max()
