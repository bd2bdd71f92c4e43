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


def ee_cl(lmax: int) -> np.ndarray:
    """Toy CMB E-mode spectrum, uK^2: D_l = 2 uK^2 flat for l >= 2."""
    return cmb_cl(lmax) * (2.0 / 3000.0)


def bb_cl(lmax: int) -> np.ndarray:
    """Toy B-mode spectrum, uK^2: a tenth of :func:`ee_cl`."""
    return 0.1 * ee_cl(lmax)


def teb_beamed(teb_alm: np.ndarray, fwhm_arcmin, nside: int, lmax: int) -> np.ndarray:
    """I, Q, U maps ``(n, 3, npix)`` of T, E, B alm at each beam (spin-2 beam for E, B)."""
    fwhm = np.atleast_1d(fwhm_arcmin)
    fl = np.stack([gaussian_beam(f, lmax, pol=True)[[0, 1, 1]] for f in fwhm])
    return alm2map(almxfl(teb_alm[None], fl), nside, lmax, pol=True)


def make_pol_sky(
    nside: int,
    lmax: int,
    freqs_ghz,
    beams_arcmin,
    *,
    seed: int,
    polarised=None,
    dust_amp: float = 300.0,
    sync_amp: float = 100.0,
    pol_fraction: float = 0.1,
    noise_t_uk: float | np.ndarray = 1.0,
    noise_p_uk: float | np.ndarray = 1.0,
    output_fwhm_arcmin: float = 30.0,
) -> dict[str, np.ndarray]:
    """I, Q, U skies: CMB (T, E, B) + dust (MBB) + synchrotron (power law) + white noise.

    Components ``(n_freq, 3, npix)`` in uK_CMB at the channel beams; Q, U are zero for channels
    that are not ``polarised``. Foreground E and B have ``pol_fraction`` of the intensity
    spectrum's amplitude (B at half of E). ``truth`` is the CMB I, Q, U at
    ``output_fwhm_arcmin`` (``(3, npix)``), ``cmb_alm`` its unbeamed T, E, B alm.
    """
    rng = np.random.default_rng(seed)
    freqs = np.asarray(freqs_ghz, dtype=float)
    pol = np.ones(freqs.size, bool) if polarised is None else np.asarray(polarised, bool)
    npix = 12 * nside**2

    def teb(cl_t, cl_e, cl_b):
        return np.stack([random_alm(cl, rng) for cl in (cl_t, cl_e, cl_b)])

    cmb_alm = teb(cmb_cl(lmax), ee_cl(lmax), bb_cl(lmax))
    fg = {}
    for name, amp, index, sed in (
        ("dust", dust_amp, -2.5, dust_sed),
        ("sync", sync_amp, -2.7, synchrotron_sed),
    ):
        cl = power_law_cl(lmax, amp, index)
        alm = teb(cl, pol_fraction**2 * cl, 0.5 * pol_fraction**2 * cl)
        fg[name] = sed(freqs)[:, None, None] * teb_beamed(alm, beams_arcmin, nside, lmax)
    cmb = teb_beamed(cmb_alm, beams_arcmin, nside, lmax)
    sigma = np.stack(
        [
            np.broadcast_to(np.asarray(noise_t_uk, dtype=float), freqs.shape),
            np.broadcast_to(np.asarray(noise_p_uk, dtype=float), freqs.shape),
            np.broadcast_to(np.asarray(noise_p_uk, dtype=float), freqs.shape),
        ],
        axis=1,
    )
    noise = sigma[:, :, None] * rng.standard_normal((freqs.size, 3, npix))
    out = {"cmb": cmb, "dust": fg["dust"], "sync": fg["sync"], "noise": noise}
    for part in out.values():
        part[~pol, 1:] = 0.0
    out["total"] = out["cmb"] + out["dust"] + out["sync"] + out["noise"]
    out["truth"] = teb_beamed(cmb_alm, output_fwhm_arcmin, nside, lmax)[0]
    out["cmb_alm"] = cmb_alm
    return out


def rms(x):
    """Root mean square of an array."""
    return float(np.sqrt(np.mean(x**2)))
