"""Needlet ILC against an explicit per-pixel reference computation (PyILC's algorithm spelt out)."""

import healpy as hp
import numpy as np
import pytest

from cmbml.ilc import cosine_needlet_windows, needlet_ilc

from .sky import make_pol_sky, make_sky

NSIDE = 16
ELLPEAKS = [12, 24, 33]
LMAX = ELLPEAKS[-1] - 1
FREQS = [70.4, 100.89, 142.876, 221.156]
BEAMS = [120.0, 100.0, 80.0, 70.0]
OUT_FWHM = 90.0
TOL = 0.05


def kernel_matrices(nside, fwhms_rad, rows_per_block=96):
    """Real-space smoothing operators K[p, q] = dOmega sum_l (2l+1)/(4pi) b_l P_l(cos theta_pq)."""
    npix = 12 * nside**2
    vec = np.array(hp.pix2vec(nside, np.arange(npix)))
    ell = np.arange(3 * nside)
    sigmas = np.asarray(fwhms_rad) / np.sqrt(8 * np.log(2))
    coeffs = (2 * ell + 1) / npix * np.exp(-0.5 * ell * (ell + 1) * sigmas[:, None] ** 2)
    kernels = np.zeros((sigmas.size, npix, npix))
    for start in range(0, npix, rows_per_block):
        rows = slice(start, start + rows_per_block)
        cos_t = np.clip(vec[:, rows].T @ vec, -1.0, 1.0)
        p_prev, p_cur = np.zeros_like(cos_t), np.ones_like(cos_t)
        for n in ell:
            if n > 0:  # Bonnet recursion: P_n from P_{n-1} (p_cur) and P_{n-2} (p_prev)
                p_prev, p_cur = p_cur, ((2 * n - 1) * cos_t * p_cur - (n - 1) * p_prev) / n
            for kern, c in zip(kernels, coeffs[:, n], strict=True):
                kern[rows] += c * p_cur
    return kernels


@pytest.fixture(scope="module")
def kernels():
    """One smoothing operator per needlet scale, FWHM from PyILC's mode counting."""
    windows = cosine_needlet_windows(ELLPEAKS)
    ell = np.arange(LMAX + 1)
    # sigma^2 = 2 (n_freq - 1) / (N_modes tol), N_modes = sum_l (2l + 1) h_l^2
    n_modes = np.sum((2 * ell + 1) * windows**2, axis=1)
    fwhms = np.sqrt(8 * np.log(2)) * np.sqrt(2 * (len(FREQS) - 1) / (n_modes * TOL))
    return kernel_matrices(NSIDE, fwhms)


def brute_force_nilc(maps, beams, out_fwhm, ellpeaks, kernels, mask=None):
    windows = cosine_needlet_windows(ellpeaks)
    lmax = windows.shape[1] - 1
    n_freq, npix = maps.shape
    alms = [hp.map2alm(m, lmax=lmax, iter=0) for m in maps]
    out_alm = np.zeros_like(alms[0])
    for h, kern in zip(windows, kernels, strict=True):
        rebeam = [
            h
            * hp.gauss_beam(np.radians(out_fwhm / 60), lmax)
            / hp.gauss_beam(np.radians(b / 60), lmax)
            for b in beams
        ]
        x = np.array(
            [
                hp.alm2map(hp.almxfl(a, f), NSIDE, lmax=lmax)
                for a, f in zip(alms, rebeam, strict=True)
            ]
        )
        if mask is None:  # PyILC: plain smoothing, x - S[x]
            obs, fsky = np.ones(npix), np.ones(npix)
        else:  # averages over the unmasked pixels in the kernel
            obs = (mask != 0).astype(float)
            fsky = kern @ obs
        mean = (kern @ (obs * x).T).T / fsky
        resid = obs * (x - mean)
        weights = np.empty((n_freq, npix))
        for p in range(npix):
            cov = (resid * kern[p]) @ resid.T / fsky[p]
            inv = np.linalg.inv(cov)
            weights[:, p] = inv.sum(axis=1) / inv.sum()
        combined = np.sum(weights * x, axis=0)
        out_alm += hp.almxfl(hp.map2alm(combined, lmax=lmax, iter=0), h)
    return hp.alm2map(out_alm, NSIDE, lmax=lmax)


@pytest.mark.parametrize("with_mask", [False, True])
def test_needlet_ilc_matches_per_pixel_brute_force(with_mask, kernels):
    sky = make_sky(NSIDE, LMAX, FREQS, BEAMS, seed=3, noise_uk=3.0, output_fwhm_arcmin=OUT_FWHM)
    mask = None
    if with_mask:
        theta, _ = hp.pix2ang(NSIDE, np.arange(12 * NSIDE**2))
        mask = (np.abs(np.pi / 2 - theta) > np.radians(20)).astype(float)
    reference = brute_force_nilc(sky["total"], BEAMS, OUT_FWHM, ELLPEAKS, kernels, mask)

    out, scales = needlet_ilc(
        sky["total"],
        BEAMS,
        ellpeaks=ELLPEAKS,
        output_fwhm_arcmin=OUT_FWHM,
        ilc_bias_tol=TOL,
        mask=mask,
        niter=0,
        return_weights=True,
    )
    # the reference assumes every channel at every scale, at full resolution
    assert all(s.nside == NSIDE and s.channels.size == len(FREQS) for s in scales)
    scale = np.abs(reference).max()
    assert np.abs(out - reference).max() < 1e-8 * scale

    # channels in any order give the same map
    order = [2, 0, 3, 1]
    shuffled = needlet_ilc(
        sky["total"][order],
        np.array(BEAMS)[order],
        ellpeaks=ELLPEAKS,
        output_fwhm_arcmin=OUT_FWHM,
        ilc_bias_tol=TOL,
        mask=mask,
        niter=0,
    )
    assert np.abs(shuffled - reference).max() < 1e-8 * scale


def brute_force_eb_nilc(qu, beams, out_fwhm, ellpeaks, kernels):
    """E and B NILC spelt out with healpy: per-pixel weights ``(scale, field, n_freq, npix)``
    and the Q, U output."""
    windows = cosine_needlet_windows(ellpeaks)
    lmax = windows.shape[1] - 1
    n_freq, _, npix = qu.shape
    # E, B alm of each channel from its (0, Q, U) map
    eb = np.array([hp.map2alm(np.vstack([np.zeros(npix), m]), lmax=lmax, iter=0)[1:] for m in qu])
    out_alm = np.zeros((3, eb.shape[-1]), dtype=complex)
    all_weights = []
    for h, kern in zip(windows, kernels, strict=True):
        filters = [
            h
            * hp.gauss_beam(np.radians(out_fwhm / 60), lmax, pol=True)[:, 1]
            / hp.gauss_beam(np.radians(b / 60), lmax, pol=True)[:, 1]
            for b in beams
        ]
        scale_weights = []
        for field in range(2):
            x = np.array(
                [
                    hp.alm2map(hp.almxfl(eb[i, field], filters[i]), NSIDE, lmax=lmax)
                    for i in range(n_freq)
                ]
            )
            resid = x - (kern @ x.T).T
            weights = np.empty((n_freq, npix))
            for p in range(npix):
                inv = np.linalg.inv((resid * kern[p]) @ resid.T)
                weights[:, p] = inv.sum(axis=1) / inv.sum()
            scale_weights.append(weights)
            combined = np.sum(weights * x, axis=0)
            out_alm[1 + field] += hp.almxfl(hp.map2alm(combined, lmax=lmax, iter=0), h)
        all_weights.append(scale_weights)
    return np.array(all_weights), hp.alm2map(out_alm, NSIDE, lmax=lmax, pol=True)[1:]


def test_eb_needlet_ilc_matches_per_pixel_brute_force(kernels):
    # four polarised channels and a fifth, intensity-only one whose Q, U must be ignored
    sky = make_pol_sky(
        NSIDE,
        LMAX,
        FREQS + [357.5],
        BEAMS + [65.0],
        seed=4,
        polarised=[True] * 4 + [False],
        dust_amp=1e4,
        pol_fraction=0.3,
        noise_p_uk=3.0,
        output_fwhm_arcmin=OUT_FWHM,
    )
    maps = sky["total"]
    maps[-1, 1:] = 1e6  # garbage Q, U for the intensity-only channel
    ref_weights, ref_qu = brute_force_eb_nilc(maps[:4, 1:], BEAMS, OUT_FWHM, ELLPEAKS, kernels)

    out, scales = needlet_ilc(
        maps,
        BEAMS + [65.0],
        polarised=[True] * 4 + [False],
        ellpeaks=ELLPEAKS,
        output_fwhm_arcmin=OUT_FWHM,
        ilc_bias_tol=TOL,
        niter=0,
        return_weights=True,
    )
    for field, label in enumerate("EB"):
        for j, s in enumerate(scales[label]):
            assert s.nside == NSIDE and s.channels.tolist() == [0, 1, 2, 3]
            ref = ref_weights[j, field]
            assert np.abs(s.weights - ref).max() < 1e-8 * np.abs(ref).max()
    assert np.abs(out[1:] - ref_qu).max() < 1e-8 * np.abs(ref_qu).max()
