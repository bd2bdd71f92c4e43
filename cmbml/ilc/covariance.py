"""Local (real-space) frequency-frequency covariance of needlet maps, as in PyILC.

At each pixel the covariance of the needlet coefficients is the Gaussian-smoothed product of the
mean-subtracted maps, ``C_ab = S[(x_a - S x_a)(x_b - S x_b)]``, where ``S`` is a Gaussian
smoothing whose FWHM keeps the ILC bias below a tolerance (:func:`ilc_bias_fwhm`).

The smoothing ``S`` is the spherical convolution ``alm2map(b_l * map2alm(f))`` with the plain
pixel-sum analysis (``niter = 0``), i.e. exactly the real-space kernel
``K(p, q) = (4 pi / npix) sum_l (2l + 1) / (4 pi) b_l P_l(cos theta_pq)``. The kernels are tens of
degrees wide, so the transforms only run to the multipole where ``b_l`` falls below 1e-12
(:func:`smoothing_lmax`), far below the map's own resolution.
"""

from __future__ import annotations

import logging

import healpy as hp
import numpy as np

from cmbml.ilc.weights import pair_indices
from cmbml.sphere import alm2map, almxfl, gaussian_beam, map2alm

__all__ = ["ilc_bias_fwhm", "local_covariance", "smooth_maps", "smoothing_lmax"]

log = logging.getLogger(__name__)

_FWHM_PER_SIGMA = np.sqrt(8.0 * np.log(2.0))
_ARCMIN_PER_RAD = 60.0 * 180.0 / np.pi


def ilc_bias_fwhm(
    window: np.ndarray,
    n_channels: int,
    *,
    n_deproj: int = 0,
    ilc_bias_tol: float = 1e-3,
    override_ilc_bias_tol: bool = True,
) -> float:
    """FWHM of the covariance smoothing kernel that keeps the ILC bias below a tolerance.

    PyILC's rule (flat-sky mode counting): the fractional ILC bias is
    ``|n_deproj + 1 - n_channels| / N_eff`` with ``N_eff = N_modes * (2 pi sigma^2) / (4 pi)``
    modes inside the Gaussian kernel of width ``sigma`` and ``N_modes = sum_l (2l + 1) h(l)^2``
    the modes of the needlet window. Solving for ``sigma`` gives
    ``sigma = sqrt(2 |n_deproj + 1 - n_channels| / (N_modes tol))`` (with the numerator 1 when the
    problem is fully constrained). Windows with too few modes give ``sigma >= pi``: with
    ``override_ilc_bias_tol`` the kernel is capped at ``sigma = pi`` and a warning is logged
    (PyILC's ``override_ILCbiastol_threshold: 'True'``); without it, PyILC's default, the scale
    is refused.

    Parameters
    ----------
    window : np.ndarray
        ``(lmax + 1,)`` needlet window.
    n_channels : int
        Channels used at this scale.
    n_deproj : int
        Number of deprojected components.
    ilc_bias_tol : float
        Tolerated fractional ILC bias, in (0, 1).
    override_ilc_bias_tol : bool
        Cap the kernel at ``sigma = pi`` where the tolerance cannot be met (else ValueError).

    Returns
    -------
    float
        Kernel FWHM, arcmin.

    Raises
    ------
    ValueError
        ``sigma >= pi`` and not ``override_ilc_bias_tol``.
    """
    if not 0.0 < ilc_bias_tol < 1.0:
        raise ValueError(f"ilc_bias_tol must be in (0, 1), got {ilc_bias_tol}")
    ell = np.arange(window.size)
    n_modes = float(np.sum((2.0 * ell + 1.0) * window**2))
    if n_modes <= 0:
        raise ValueError("needlet window has no modes")
    dof = abs(n_deproj + 1 - n_channels) or 1
    sigma = np.sqrt(2.0 * dof / (n_modes * ilc_bias_tol))
    if sigma >= np.pi and not override_ilc_bias_tol:
        raise ValueError(
            f"not enough modes ({n_modes:.0f}) to keep the ILC bias below {ilc_bias_tol:g} with "
            f"{n_channels} channels: the covariance kernel would need sigma = {sigma:.2f} rad "
            ">= pi (raise ilc_bias_tol, widen the window or set override_ilc_bias_tol)"
        )
    if sigma > np.pi:
        log.warning(
            "needlet window has %.0f modes, too few for ILC bias %.2g with %d channels: "
            "covariance kernel capped at sigma = pi",
            n_modes,
            ilc_bias_tol,
            n_channels,
        )
        sigma = np.pi
    return float(_FWHM_PER_SIGMA * sigma * _ARCMIN_PER_RAD)


def smoothing_lmax(fwhm_arcmin: float, nside: int, threshold: float = 1e-12) -> int:
    """Multipole beyond which a Gaussian kernel's ``b_l`` is below ``threshold`` of its peak.

    Parameters
    ----------
    fwhm_arcmin : float
        Kernel FWHM, arcmin.
    nside : int
        Map resolution; the result is at most ``3 nside - 1``.
    threshold : float
        Relative level of ``b_l`` that is neglected.

    Returns
    -------
    int
        ``lmax`` (at least 2).
    """
    sigma = np.radians(fwhm_arcmin / 60.0) / _FWHM_PER_SIGMA
    # b_l = exp(-l (l + 1) sigma^2 / 2) < threshold  <=>  l (l + 1) > 2 ln(1/threshold) / sigma^2
    ll1 = 2.0 * np.log(1.0 / threshold) / sigma**2
    lmax = int(np.ceil(0.5 * (np.sqrt(1.0 + 4.0 * ll1) - 1.0)))
    return int(min(max(lmax, 2), 3 * nside - 1))


def smooth_maps(maps: np.ndarray, fwhm_arcmin: float, *, lmax: int | None = None) -> np.ndarray:
    """Gaussian smoothing of a batch of maps (plain pixel-sum analysis, see module docstring).

    Parameters
    ----------
    maps : np.ndarray
        ``(..., npix)`` RING maps.
    fwhm_arcmin : float
        Kernel FWHM, arcmin.
    lmax : int or None
        Band limit of the kernel (default :func:`smoothing_lmax`).

    Returns
    -------
    np.ndarray
        ``(..., npix)`` smoothed maps.
    """
    nside = hp.npix2nside(maps.shape[-1])
    if lmax is None:
        lmax = smoothing_lmax(fwhm_arcmin, nside)
    alm = almxfl(map2alm(maps, lmax), gaussian_beam(fwhm_arcmin, lmax))
    return alm2map(alm, nside, lmax)


def local_covariance(
    maps: np.ndarray,
    fwhm_arcmin: float,
    *,
    mask: np.ndarray | None = None,
    batch_bytes: int = 2**24,
) -> np.ndarray:
    """Smoothed local covariance maps of all unique channel pairs.

    ``C_ab = S[(x_a - S x_a)(x_b - S x_b)]``. With a mask ``m`` (pixels with ``m != 0`` are
    used), the local means and covariances are averages over the unmasked pixels:
    ``mu_a = S[m x_a] / S[m]``, ``C_ab = S[m (x_a - mu_a)(x_b - mu_b)] / S[m]``; where ``S[m]``
    is below 1e-6 (no unmasked pixel within the kernel) the covariance of all unmasked pixels is
    used instead.

    Parameters
    ----------
    maps : np.ndarray
        ``(n_freq, npix)`` needlet maps.
    fwhm_arcmin : float
        Kernel FWHM, arcmin (:func:`ilc_bias_fwhm`).
    mask : np.ndarray or None
        ``(npix,)`` mask at the maps' resolution.
    batch_bytes : int
        Memory for the pair products transformed in one batch.

    Returns
    -------
    np.ndarray
        ``(n_freq (n_freq + 1) / 2, npix)`` covariance maps, in :func:`weights.pair_indices`
        order, in the squared units of ``maps``.
    """
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 2:
        raise ValueError(f"maps must be (n_freq, npix), got shape {maps.shape}")
    n_freq, npix = maps.shape
    nside = hp.npix2nside(npix)
    lmax = smoothing_lmax(fwhm_arcmin, nside)

    def smooth(x):
        return smooth_maps(x, fwhm_arcmin, lmax=lmax)

    if mask is None:
        observed = None
        resid = smooth(maps)
        np.subtract(maps, resid, out=resid)
    else:
        mask = np.asarray(mask)
        if mask.shape != (npix,):
            raise ValueError(f"mask must have shape ({npix},) like the maps, got {mask.shape}")
        observed = (mask != 0).astype(np.float64)
        if not observed.any():
            raise ValueError("mask has no unmasked pixel")
        fsky_local = smooth(observed)
        covered = fsky_local >= 1e-6
        inv_fsky = np.where(covered, 1.0 / np.where(covered, fsky_local, 1.0), 0.0)
        resid = smooth(maps * observed)
        resid *= inv_fsky
        np.subtract(maps, resid, out=resid)
        resid *= observed

    rows, cols = pair_indices(n_freq)
    per_batch = int(min(rows.size, max(1, batch_bytes // (8 * npix))))
    products = np.empty((per_batch, npix))
    cov_alm = np.empty((rows.size, hp.Alm.getsize(lmax)), dtype=np.complex128)
    for start in range(0, rows.size, per_batch):
        batch = range(start, min(start + per_batch, rows.size))
        for k, pair in enumerate(batch):
            np.multiply(resid[rows[pair]], resid[cols[pair]], out=products[k])
        cov_alm[start : batch.stop] = map2alm(products[: len(batch)], lmax)
    del products
    cov = alm2map(almxfl(cov_alm, gaussian_beam(fwhm_arcmin, lmax)), nside, lmax)
    if observed is None:
        return cov
    cov *= inv_fsky
    if not covered.all():
        sel = observed.astype(bool)
        for k, (a, b) in enumerate(zip(rows, cols, strict=True)):
            cov[k, ~covered] = np.mean(resid[a, sel] * resid[b, sel])
    return cov
