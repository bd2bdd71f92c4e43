"""Polarisation fraction limit and BB/EE calibration of the synthetic polarised templates.

- :func:`limit_polarisation`: ``Q + iU = k * envelope * pattern`` with a soft upper limit on the
  polarisation fraction and ``k`` set by its mean.
- :func:`diffuse_window`: the diffuse high-latitude sky (|b| above a cut, the component's clouds
  cut out), where Planck 2018 XI measures the dust spectra.
- :func:`calibrate_bb_ee`: the envelope modulation and the fraction limit mix E and B (most for
  steep spectra, from the power at low l); the B modes of the windowed sky are rescaled per
  multipole band, iteratively, so that BB/EE on the diffuse window is the configured ratio.
  Only B changes (TE is kept); the correction is added in pixel space where the window is, so
  the maps keep their content above the band limit and the plane is left alone.
"""

from __future__ import annotations

from collections.abc import Mapping

import healpy as hp
import numpy as np
from scipy.optimize import brentq

from cmbml import sphere
from cmbml.sims.galaxy import pixel_vectors, unit_vector

__all__ = [
    "calibrate_bb_ee",
    "cap_fraction",
    "diffuse_window",
    "limit_polarisation",
]


def limit_polarisation(
    envelope: np.ndarray,
    intensity: np.ndarray,
    pol: np.ndarray,
    frac_mean: float,
    frac_max: float,
) -> np.ndarray:
    """Q, U ``= k * envelope * pol``: a softly limited polarisation fraction of mean ``frac_mean``.

    The fraction ``p0 = k |pol| envelope / intensity`` becomes ``p = frac_max tanh(p0 /
    frac_max)`` (unchanged where small, never above ``frac_max``); ``k`` is solved so that the
    mean of ``p`` over the pixels is ``frac_mean`` (on at most 2**18 evenly spaced pixels).

    Parameters
    ----------
    envelope, intensity : np.ndarray
        ``(npix,)`` smooth envelope and intensity (uK_RJ, > 0).
    pol : np.ndarray
        complex ``(npix,)`` ``Q + iU`` pattern (any normalisation).
    frac_mean, frac_max : float
        Mean and maximum polarisation fraction, ``0 < frac_mean < frac_max < 1``.

    Returns
    -------
    np.ndarray
        ``(2, npix)`` Q, U in the unit of ``intensity``.
    """
    if not 0.0 < frac_mean < frac_max < 1.0:
        raise ValueError(
            f"need 0 < frac_mean < frac_max < 1 for polarisation, got {frac_mean}, {frac_max}"
        )
    amp = np.abs(pol)
    base = amp * envelope
    base /= intensity  # p0 / k
    sample = base[:: max(1, base.size >> 18)]
    if not sample.any():
        raise ValueError("the polarisation pattern is zero everywhere")

    def excess(log_k):
        return np.mean(np.tanh(np.exp(log_k) * sample / frac_max)) * frac_max - frac_mean

    guess = np.log(frac_mean / np.mean(sample))
    log_k = brentq(excess, guess - 20.0, guess + 20.0, xtol=1e-10)
    frac = base
    frac *= np.exp(log_k) / frac_max
    np.tanh(frac, out=frac)
    frac *= frac_max  # p
    scale = np.divide(frac * intensity, amp, out=np.zeros_like(amp), where=amp > 0)
    return np.stack([scale * pol.real, scale * pol.imag])


def _taper(x: np.ndarray) -> np.ndarray:
    """0 below 0, 1 above 1, ``sin**2`` in between."""
    return np.sin(np.clip(x, 0.0, 1.0) * (np.pi / 2)) ** 2


def diffuse_window(
    nside: int,
    structures: Mapping | None = None,
    min_b_deg: float = 30.0,
    taper_deg: float = 15.0,
) -> np.ndarray:
    """Smooth window ``(npix,)`` of the diffuse high-latitude sky.

    Parameters
    ----------
    nside : int
        HEALPix resolution.
    structures : Mapping, optional
        ``{name: geometry}`` clouds to cut out (within twice their width, then a 5 deg taper);
        shells (with ``width_deg``) are kept.
    min_b_deg, taper_deg : float
        The window rises from 0 at ``|b| = min_b_deg`` to 1 at ``min_b_deg + taper_deg``.
    """
    vec = pixel_vectors(nside)
    window = _taper(
        (np.degrees(np.arcsin(np.abs(vec[2]), dtype=np.float64)) - min_b_deg) / taper_deg
    )
    for name, geometry in (structures or {}).items():
        if "width_deg" in geometry:
            continue
        radius = float(geometry.get("radius_deg", 0.0))
        if radius <= 0:
            raise ValueError(f"galaxy.structures.{name}.radius_deg must be > 0")
        centre = unit_vector(float(geometry["l_deg"]), float(geometry["b_deg"]))
        pix = hp.query_disc(nside, centre, np.radians(min(2.0 * radius + 5.0, 180.0)), True)
        dist = np.degrees(np.arccos(np.clip(centre @ vec[:, pix], -1.0, 1.0)))
        window[pix] *= _taper((dist - 2.0 * radius) / 5.0)
    return window


def calibrate_bb_ee(
    qu: np.ndarray,
    window: np.ndarray,
    ratio: float,
    lmax: int,
    ell_min: int = 30,
    bin_width: int | None = None,
    iterations: int = 4,
    tolerance: float = 0.01,
) -> np.ndarray:
    """Correct the B modes of ``qu`` so that BB/EE on ``window`` is ``ratio`` for ``l >= ell_min``.

    Each iteration measures the pseudo-spectra of ``window * (Q, U)`` summed in multipole bins,
    and adds the synthesis of ``(f_b - 1) B_lm`` of the windowed maps, ``f_b = sqrt(ratio * EE_b
    / BB_b)`` (clipped to [0.5, 2]): a correction confined to the window, so the bright plane
    (where the window is zero) is left alone. It stops when every ``|f_b - 1| < tolerance``.

    Parameters
    ----------
    qu : np.ndarray
        ``(2, npix)`` Q, U (any unit), modified in place and returned.
    window : np.ndarray
        ``(npix,)`` weights of the sky where the ratio is measured.
    ratio : float
        Target BB/EE (> 0; otherwise nothing is done).
    lmax : int
        Band limit of the measurement and of the correction.
    ell_min : int
        Multipoles below it are left as they are.
    bin_width : int, optional
        Width of the multipole bins (default ``max(10, lmax // 20)``).
    iterations : int
        Maximum number of corrections.
    tolerance : float
        Stop when the amplitude factors are all within this of 1.

    Returns
    -------
    np.ndarray
        ``qu``.
    """
    if ratio <= 0 or lmax <= ell_min:
        return qu
    width = bin_width or max(10, lmax // 20)
    nside = hp.npix2nside(qu.shape[-1])
    ell, m = hp.Alm.getlm(lmax)
    weight = np.where(m > 0, 2.0, 1.0)  # sum over m of weight |a_lm|^2 = (2l + 1) C_l
    for _ in range(iterations):
        eb = sphere.map2alm_spin2(qu * window, lmax)
        band_ee = np.bincount(ell, weight * np.abs(eb[0]) ** 2, minlength=lmax + 1)
        band_bb = np.bincount(ell, weight * np.abs(eb[1]) ** 2, minlength=lmax + 1)
        factor = np.ones(lmax + 1)
        for lo in range(ell_min, lmax + 1, width):
            ee, bb = band_ee[lo : lo + width].sum(), band_bb[lo : lo + width].sum()
            if ee > 0 and bb > 0:
                factor[lo : lo + width] = np.clip(np.sqrt(ratio * ee / bb), 0.5, 2.0)
        if np.abs(factor - 1.0).max() < tolerance:
            break
        eb[0] = 0.0
        eb[1] = sphere.almxfl(eb[1], factor - 1.0)
        qu += sphere.alm2map_spin2(eb, nside, lmax)
    return qu


def cap_fraction(qu: np.ndarray, intensity: np.ndarray, frac_max: float) -> np.ndarray:
    """Scale Q, U ``(2, npix)`` in place where ``|Q + iU| > frac_max * intensity``; returns it."""
    limit = (frac_max * (1.0 - 1e-9)) * intensity  # strictly below frac_max after rounding
    amp = np.hypot(qu[0], qu[1])
    over = amp > limit
    qu[:, over] *= limit[over] / amp[over]
    return qu
