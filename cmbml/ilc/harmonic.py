"""Harmonic ILC (HILC): one set of ILC weights per multipole bin, PyILC's ``TopHatHarmonic``."""

from __future__ import annotations

import healpy as hp
import numpy as np

from cmbml.ilc._common import check_maps, check_mask, rebeam
from cmbml.ilc.weights import ilc_weights, mixing_matrix, pair_indices
from cmbml.ilc.windows import channels_in_use, tophat_windows
from cmbml.sphere import alm2map, almxfl, map2alm

__all__ = ["harmonic_bin_edges", "harmonic_covariance", "harmonic_ilc"]


def harmonic_bin_edges(bin_size: int, lmax: int) -> np.ndarray:
    """Bin edges ``[0, bin_size, 2 bin_size, ..., lmax + 1]`` (the last bin may be shorter)."""
    if bin_size < 1 or lmax < 1:
        raise ValueError(f"bin_size and lmax must be >= 1, got {bin_size}, {lmax}")
    return np.append(np.arange(0, lmax + 1, bin_size), lmax + 1)


def harmonic_covariance(alm: np.ndarray, lmax: int, bin_edges) -> np.ndarray:
    """Binned frequency-frequency covariance from alm.

    ``C_ab(bin) = sum_{l in bin} sum_m a_lm b_lm^* / N_modes(bin)``, i.e. the mode-weighted
    mean of ``C_l^{ab}`` over the bin (real; ``m < 0`` from reality of the maps).

    Parameters
    ----------
    alm : np.ndarray
        ``(n_freq, nalm(lmax))`` healpy-ordered alm.
    lmax : int
        Maximum multipole of ``alm``.
    bin_edges : array_like
        ``(n_bins + 1,)`` from :func:`harmonic_bin_edges`.

    Returns
    -------
    np.ndarray
        ``(n_bins, n_freq, n_freq)``.
    """
    n_freq = alm.shape[0]
    ell, m = hp.Alm.getlm(lmax)
    mult = np.where(m == 0, 1.0, 2.0)
    edges = np.asarray(bin_edges)
    bin_of_alm = np.searchsorted(edges, ell, side="right") - 1
    n_bins = edges.size - 1
    n_modes = np.bincount(bin_of_alm, weights=mult, minlength=n_bins)
    rows, cols = pair_indices(n_freq)
    cov = np.empty((n_bins, n_freq, n_freq))
    for a, b in zip(rows, cols, strict=True):
        prod = mult * (alm[a].real * alm[b].real + alm[a].imag * alm[b].imag)
        cov[:, a, b] = np.bincount(bin_of_alm, weights=prod, minlength=n_bins) / n_modes
        cov[:, b, a] = cov[:, a, b]
    return cov


def harmonic_ilc(
    maps,
    beam_fwhm_arcmin,
    *,
    bin_size: int,
    output_fwhm_arcmin: float,
    lmax: int | None = None,
    mask=None,
    deproject=None,
    sed=None,
    beam_criterion: float | None = 1e-3,
    niter: int = 3,
    return_weights: bool = False,
):
    """Harmonic ILC estimate of the CMB (or of the component with SED ``sed``).

    Each channel is brought to the output beam in harmonic space; in each multipole bin the
    weights ``w = C^-1 a / (a^T C^-1 a)`` (constrained with ``deproject``) come from the binned
    cross-spectra (:func:`harmonic_covariance`) and are applied to every ``a_lm`` of the bin.

    Parameters
    ----------
    maps : array_like
        ``(n_freq, npix)`` RING maps in uK_CMB, any channel order, each at its own Gaussian beam.
    beam_fwhm_arcmin : array_like
        ``(n_freq,)`` beam FWHM of each map, arcmin.
    bin_size : int
        Width of the multipole bins.
    output_fwhm_arcmin : float
        Gaussian beam of the output map, arcmin.
    lmax : int or None
        Maximum multipole (default ``3 nside - 1``).
    mask : array_like or None
        ``(npix,)``; if given, the cross-spectra are estimated from the masked maps
        (``mask * map``); the weights are applied to the unmasked maps.
    deproject, sed
        As for :func:`cmbml.ilc.needlet_ilc`.
    beam_criterion : float or None
        Channels whose beam has fallen below this level within a bin are not used there
        (PyILC's rule, :func:`channels_in_use`); None uses all.
    niter : int
        Iterations of the spherical-harmonic analysis.
    return_weights : bool
        Also return ``(weights (n_bins, n_freq), bin_edges (n_bins + 1,))`` (0 for unused
        channels).

    Returns
    -------
    np.ndarray or (np.ndarray, (np.ndarray, np.ndarray))
        ``(npix,)`` estimate in uK_CMB at the output beam.
    """
    maps, beams, nside = check_maps(maps, beam_fwhm_arcmin)
    mask = check_mask(mask, maps.shape[1])
    lmax = 3 * nside - 1 if lmax is None else int(lmax)
    if not 1 <= lmax <= 3 * nside - 1:
        raise ValueError(f"lmax={lmax} must be in [1, 3 nside - 1 = {3 * nside - 1}]")
    edges = harmonic_bin_edges(bin_size, lmax)
    use = channels_in_use(tophat_windows(edges), beams, beam_criterion)
    mixing = mixing_matrix(maps.shape[0], sed, deproject)
    for j, used in enumerate(use):
        if np.linalg.matrix_rank(mixing[used]) < mixing.shape[1]:
            raise ValueError(
                f"harmonic bin {j} ({edges[j]} <= l < {edges[j + 1]}) has too few channels "
                f"{np.flatnonzero(used).tolist()} for {mixing.shape[1] - 1} deprojections"
            )
    transfer = rebeam(beams, output_fwhm_arcmin, lmax)
    alm = almxfl(map2alm(maps, lmax, niter=niter), transfer)
    if mask is None:
        cov = harmonic_covariance(alm, lmax, edges)
    else:
        cov = harmonic_covariance(
            almxfl(map2alm(maps * mask, lmax, niter=niter), transfer), lmax, edges
        )
    weights = np.zeros((edges.size - 1, maps.shape[0]))
    for j, used in enumerate(use):
        weights[j, used] = ilc_weights(cov[j][np.ix_(used, used)], mixing[used])
    per_ell = weights[np.repeat(np.arange(edges.size - 1), np.diff(edges))]
    out = alm2map(np.sum(almxfl(alm, per_ell.T), axis=0), nside, lmax)
    return (out, (weights, edges)) if return_weights else out
