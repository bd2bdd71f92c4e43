"""Needlet internal linear combination (NILC), PyILC's algorithm, vectorised and in memory.

Per needlet scale ``j``: every channel used at that scale is deconvolved from its beam,
convolved with the output beam and filtered by the window ``h_j`` (one batched transform); the
local frequency-frequency covariance is estimated by Gaussian smoothing
(:func:`cmbml.ilc.covariance.local_covariance`) with the kernel that keeps the ILC bias below
``ilc_bias_tol``; the (constrained) ILC weights are solved per pixel; the weighted sum of the
channels is filtered by ``h_j`` again and the scales are added (``sum_j h_j^2 = 1``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from cmbml.ilc._common import (
    add_alm,
    binary_mask_at,
    check_maps,
    check_mask,
    rebeam,
    truncate_alm,
)
from cmbml.ilc.covariance import ilc_bias_fwhm, local_covariance
from cmbml.ilc.weights import ilc_weights_from_pairs, mixing_matrix
from cmbml.ilc.windows import (
    channels_in_use,
    cosine_needlet_windows,
    gaussian_needlet_windows,
    scale_nsides,
    window_ell_f,
    window_support,
)
from cmbml.sphere import alm2map, almxfl, map2alm, nalm

__all__ = ["ScaleWeights", "apply_needlet_weights", "needlet_ilc", "needlet_windows"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScaleWeights:
    """ILC weights of one needlet scale.

    Attributes
    ----------
    window : np.ndarray
        ``(lmax + 1,)`` needlet window ``h_j``.
    nside : int
        Resolution of the scale's maps and weights.
    lmax : int
        Highest multipole of the scale's maps.
    channels : np.ndarray
        ``(n_used,)`` indices of the input channels used at this scale.
    fwhm_arcmin : float
        FWHM of the covariance smoothing kernel, arcmin.
    weights : np.ndarray
        ``(n_used, 12 nside^2)`` weights (dimensionless for maps in the same units).
    """

    window: np.ndarray
    nside: int
    lmax: int
    channels: np.ndarray
    fwhm_arcmin: float
    weights: np.ndarray


def needlet_windows(
    needlets: str = "cosine",
    *,
    ellpeaks=None,
    needlet_fwhm_arcmin=None,
    lmax: int | None = None,
) -> np.ndarray:
    """Needlet windows ``(n_scales, lmax + 1)`` by name.

    Parameters
    ----------
    needlets : {"cosine", "gaussian"}
        ``"cosine"``: :func:`cosine_needlet_windows` of ``ellpeaks`` (``lmax`` is
        ``ellpeaks[-1] - 1``); ``"gaussian"``: :func:`gaussian_needlet_windows` of
        ``needlet_fwhm_arcmin`` up to ``lmax``.
    ellpeaks, needlet_fwhm_arcmin, lmax
        See above.

    Returns
    -------
    np.ndarray
        ``(n_scales, lmax + 1)``.
    """
    if needlets == "cosine":
        if ellpeaks is None or needlet_fwhm_arcmin is not None:
            raise ValueError("cosine needlets need ellpeaks (and no needlet_fwhm_arcmin)")
        windows = cosine_needlet_windows(ellpeaks)
        if lmax is not None and lmax != windows.shape[1] - 1:
            raise ValueError(f"lmax={lmax} contradicts ellpeaks[-1] - 1 = {windows.shape[1] - 1}")
        return windows
    if needlets == "gaussian":
        if needlet_fwhm_arcmin is None or lmax is None or ellpeaks is not None:
            raise ValueError("gaussian needlets need needlet_fwhm_arcmin and lmax (no ellpeaks)")
        return gaussian_needlet_windows(needlet_fwhm_arcmin, lmax)
    raise ValueError(f"needlets must be 'cosine' or 'gaussian', got {needlets!r}")


def _scale_maps(alm, transfer, window, lmax, scale_lmax, nside):
    """Needlet maps of one scale: ``(n, npix_j)`` from alm ``(n, nalm(lmax))``."""
    filt = (transfer * window)[:, : scale_lmax + 1]
    return alm2map(almxfl(truncate_alm(alm, lmax, scale_lmax), filt), nside, scale_lmax)


def _add_synthesis(out_alm, lmax, combined, window, scale_lmax, niter):
    """``out_alm += h_j * alm(combined)`` for one scale's combined map."""
    alm = almxfl(map2alm(combined, scale_lmax, niter=niter), window[: scale_lmax + 1])
    add_alm(out_alm, lmax, alm, scale_lmax)


def needlet_ilc(
    maps,
    beam_fwhm_arcmin,
    *,
    ellpeaks=None,
    output_fwhm_arcmin: float,
    ilc_bias_tol: float = 1e-3,
    mask=None,
    needlets: str = "cosine",
    needlet_fwhm_arcmin=None,
    lmax: int | None = None,
    deproject=None,
    sed=None,
    beam_criterion: float | None = 1e-3,
    niter: int = 3,
    return_weights: bool = False,
):
    """Needlet ILC estimate of the CMB (or of the component with SED ``sed``).

    Parameters
    ----------
    maps : array_like
        ``(n_freq, npix)`` RING maps in uK_CMB, channels in any order, each at its own Gaussian
        beam (a pixel window common to all maps passes through unchanged).
    beam_fwhm_arcmin : array_like
        ``(n_freq,)`` beam FWHM of each map, arcmin.
    ellpeaks : sequence of int
        Cosine needlet peaks as PyILC defines them (the last is ``lmax + 1``).
    output_fwhm_arcmin : float
        Gaussian beam of the output map, arcmin.
    ilc_bias_tol : float
        Tolerated ILC bias; sets the covariance kernel per scale (:func:`ilc_bias_fwhm`).
    mask : array_like or None
        ``(npix,)``; pixels where it is 0 are left out of the covariance estimates (weights
        are still produced everywhere).
    needlets : {"cosine", "gaussian"}
        Window family (:func:`needlet_windows`).
    needlet_fwhm_arcmin : sequence of float or None
        Gaussian needlet FWHMs, arcmin, strictly decreasing (``needlets="gaussian"``).
    lmax : int or None
        Maximum multipole (required for Gaussian needlets; implied by ``ellpeaks``).
    deproject : array_like or None
        ``(n_deproj, n_freq)`` SEDs (uK_CMB per unit component) to null (constrained ILC),
        e.g. from :mod:`cmbml.ilc.seds`.
    sed : array_like or None
        ``(n_freq,)`` SED of the preserved component (default CMB: ones).
    beam_criterion : float or None
        PyILC's ``wavelet_beam_criterion``: a channel enters a scale only if its beam is
        above this level where the window is (:func:`channels_in_use`); None uses all.
    niter : int
        Iterations of the spherical-harmonic analysis of the input and per-scale maps.
    return_weights : bool
        Also return the per-scale :class:`ScaleWeights`.

    Returns
    -------
    np.ndarray or (np.ndarray, list of ScaleWeights)
        ``(npix,)`` estimate in uK_CMB at the output beam, band-limited to ``lmax``.
    """
    maps, beams, nside = check_maps(maps, beam_fwhm_arcmin)
    mask = check_mask(mask, maps.shape[1])
    windows = needlet_windows(
        needlets, ellpeaks=ellpeaks, needlet_fwhm_arcmin=needlet_fwhm_arcmin, lmax=lmax
    )
    lmax = windows.shape[1] - 1
    if lmax > 3 * nside - 1:
        raise ValueError(f"lmax={lmax} exceeds 3 nside - 1 = {3 * nside - 1} for nside {nside}")
    mixing = mixing_matrix(maps.shape[0], sed, deproject)
    n_comp = mixing.shape[1]
    use = channels_in_use(windows, beams, beam_criterion)
    support = window_support(windows)
    nsides = scale_nsides(window_ell_f(windows, beam_criterion or 1e-3), support, nside)
    for j in range(windows.shape[0]):
        if np.linalg.matrix_rank(mixing[use[j]]) < n_comp:
            raise ValueError(
                f"needlet scale {j} uses channels {np.flatnonzero(use[j]).tolist()}: too few to "
                f"preserve one and deproject {n_comp - 1} components (beam_criterion="
                f"{beam_criterion})"
            )

    alm = map2alm(maps, lmax, niter=niter)
    transfer = rebeam(beams, output_fwhm_arcmin, lmax)
    out_alm = np.zeros(nalm(lmax), dtype=np.complex128)
    scales = []
    for j, window in enumerate(windows):
        channels = np.flatnonzero(use[j])
        nside_j = int(nsides[j])
        lmax_j = int(min(support[j], 3 * nside_j - 1))
        x = _scale_maps(alm[channels], transfer[channels], window, lmax, lmax_j, nside_j)
        fwhm = ilc_bias_fwhm(window, channels.size, n_deproj=n_comp - 1, ilc_bias_tol=ilc_bias_tol)
        log.info(
            "needlet scale %d: nside %d, lmax %d, %d channels, covariance FWHM %.1f deg",
            j,
            nside_j,
            lmax_j,
            channels.size,
            fwhm / 60.0,
        )
        cov = local_covariance(x, fwhm, mask=binary_mask_at(mask, nside_j))
        weights = ilc_weights_from_pairs(cov, mixing[channels])
        del cov
        _add_synthesis(out_alm, lmax, np.einsum("ap,ap->p", weights, x), window, lmax_j, niter)
        del x
        if return_weights:
            scales.append(ScaleWeights(window, nside_j, lmax_j, channels, fwhm, weights))
    out = alm2map(out_alm, nside, lmax)
    return (out, scales) if return_weights else out


def apply_needlet_weights(
    maps, beam_fwhm_arcmin, scales: list[ScaleWeights], *, output_fwhm_arcmin: float, niter=3
) -> np.ndarray:
    """Apply needlet ILC weights (from ``needlet_ilc(..., return_weights=True)``) to other maps.

    Useful to propagate, e.g., foreground-only or noise-only maps through the same linear
    combination as the data.

    Parameters
    ----------
    maps : array_like
        ``(n_freq, npix)`` RING maps, same channels (order, beams, nside) as for the weights.
    beam_fwhm_arcmin : array_like
        ``(n_freq,)`` beam FWHM of each map, arcmin.
    scales : list of ScaleWeights
        Per-scale weights.
    output_fwhm_arcmin : float
        Output Gaussian beam, arcmin (as used for the weights).
    niter : int
        Iterations of the spherical-harmonic analyses.

    Returns
    -------
    np.ndarray
        ``(npix,)`` combined map at the output beam.
    """
    maps, beams, nside = check_maps(maps, beam_fwhm_arcmin)
    if not scales:
        raise ValueError("no needlet scales given")
    lmax = scales[0].window.size - 1
    n_used_max = max(int(s.channels.max()) for s in scales) + 1
    if n_used_max > maps.shape[0]:
        raise ValueError(f"weights refer to channel {n_used_max - 1}, maps have {maps.shape[0]}")
    alm = map2alm(maps, lmax, niter=niter)
    transfer = rebeam(beams, output_fwhm_arcmin, lmax)
    out_alm = np.zeros(nalm(lmax), dtype=np.complex128)
    for s in scales:
        x = _scale_maps(alm[s.channels], transfer[s.channels], s.window, lmax, s.lmax, s.nside)
        _add_synthesis(out_alm, lmax, np.einsum("ap,ap->p", s.weights, x), s.window, s.lmax, niter)
    return alm2map(out_alm, nside, lmax)
