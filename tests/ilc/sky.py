"""Synthetic multi-frequency skies for the ILC tests (band-limited Gaussian fields)."""

from __future__ import annotations

import numpy as np

from cmbml.ilc import dust_sed, synchrotron_sed
from cmbml.sphere import alm2map, almxfl, gaussian_beam, nalm


def random_alm(cl: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gaussian alm (healpy order) with power spectrum ``cl`` (``(lmax + 1,)``)."""
    lmax = cl.size - 1
    n = nalm(lmax)
    alm = (rng.standard_normal(n) + 1j * rng.standard_normal(n)) / np.sqrt(2.0)
    alm[: lmax + 1] = alm[: lmax + 1].real * np.sqrt(2.0)
    return almxfl(alm, np.sqrt(cl))


def cmb_cl(lmax: int) -> np.ndarray:
    """Toy CMB-like spectrum, uK^2: D_l ~ 3000 uK^2 flat, no monopole/dipole."""
    ell = np.arange(lmax + 1)
    return np.where(ell >= 2, 2 * np.pi * 3000.0 / np.maximum(ell * (ell + 1.0), 1.0), 0.0)


def power_law_cl(lmax: int, amplitude: float, index: float) -> np.ndarray:
    """``amplitude * (l + 1)^index`` for l >= 1, uK^2."""
    ell = np.arange(lmax + 1)
    return np.where(ell >= 1, amplitude * (ell + 1.0) ** index, 0.0)


def beamed(alm: np.ndarray, fwhm_arcmin, nside: int, lmax: int) -> np.ndarray:
    """Maps ``(n, npix)`` of one alm at each beam of ``fwhm_arcmin``."""
    fl = np.stack([gaussian_beam(f, lmax) for f in np.atleast_1d(fwhm_arcmin)])
    return alm2map(almxfl(alm[None, :], fl), nside, lmax)


def make_sky(
    nside: int,
    lmax: int,
    freqs_ghz,
    beams_arcmin,
    *,
    seed: int,
    dust_amp: float = 300.0,
    sync_amp: float = 100.0,
    noise_uk: float | np.ndarray = 1.0,
    output_fwhm_arcmin: float = 30.0,
) -> dict[str, np.ndarray]:
    """CMB + thermal dust (MBB) + synchrotron (power law) + white noise, in uK_CMB.

    Returns the components separately, each ``(n_freq, npix)`` at the channel beams, and the
    CMB truth at ``output_fwhm_arcmin`` (``(npix,)``).
    """
    rng = np.random.default_rng(seed)
    freqs = np.asarray(freqs_ghz, dtype=float)
    npix = 12 * nside**2
    cmb_alm = random_alm(cmb_cl(lmax), rng)
    dust_alm = random_alm(power_law_cl(lmax, dust_amp, -2.5), rng)
    sync_alm = random_alm(power_law_cl(lmax, sync_amp, -2.7), rng)
    cmb = beamed(cmb_alm, beams_arcmin, nside, lmax)
    dust = dust_sed(freqs)[:, None] * beamed(dust_alm, beams_arcmin, nside, lmax)
    sync = synchrotron_sed(freqs)[:, None] * beamed(sync_alm, beams_arcmin, nside, lmax)
    sigma = np.broadcast_to(np.asarray(noise_uk, dtype=float), freqs.shape)
    noise = sigma[:, None] * rng.standard_normal((freqs.size, npix))
    return {
        "cmb": cmb,
        "dust": dust,
        "sync": sync,
        "noise": noise,
        "total": cmb + dust + sync + noise,
        "truth": beamed(cmb_alm, output_fwhm_arcmin, nside, lmax)[0],
    }
