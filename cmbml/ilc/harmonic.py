"""Harmonic ILC (HILC): one set of ILC weights per multipole bin, PyILC's ``TopHatHarmonic``."""

from __future__ import annotations

import healpy as hp
import numpy as np

from cmbml.ilc._common import (
    check_maps,
    check_mask,
    check_polarised,
    field_alm,
    field_groups,
    rebeam,
    synthesise,
    usable_channels,
)
from cmbml.ilc.weights import ilc_weights, pair_indices
from cmbml.ilc.windows import tophat_windows
from cmbml.sphere import almxfl

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


def _hilc_fields(alm, cov_alm, lmax, edges, use, mixing):
    """HILC of fields that share their channels: ``alm``, ``cov_alm`` ``(n_fields, n_ch, nalm)``.

    ``use`` ``(n_bins, n_ch)`` selects the channels per bin. Returns the ``(n_fields, nalm)``
    output alm and ``(n_fields, n_bins, n_ch)`` weights.
    """
    weights = np.zeros((alm.shape[0], edges.size - 1, alm.shape[1]))
    out = np.empty((alm.shape[0], alm.shape[-1]), dtype=np.complex128)
    for k in range(alm.shape[0]):
        cov = harmonic_covariance(cov_alm[k], lmax, edges)
        for j, used in enumerate(use):
            weights[k, j, used] = ilc_weights(cov[j][np.ix_(used, used)], mixing[used])
        per_ell = weights[k, np.repeat(np.arange(edges.size - 1), np.diff(edges))]
        out[k] = np.sum(almxfl(alm[k], per_ell.T), axis=0)
    return out, weights


def harmonic_ilc(
    maps,
    beam_fwhm_arcmin,
    *,
    bin_size: int,
    output_fwhm_arcmin: float,
    lmax: int | None = None,
    mask=None,
    deproject=None,
    deproject_pol=None,
    polarised=None,
    sed=None,
    beam_criterion: float | None = 1e-3,
    niter: int = 3,
    return_weights: bool = False,
):
    """Harmonic ILC estimate of the CMB (or of the component with SED ``sed``).

    Each channel is brought to the output beam in harmonic space; in each multipole bin the
    weights ``w = C^-1 a / (a^T C^-1 a)`` (constrained with ``deproject``) come from the binned
    cross-spectra (:func:`harmonic_covariance`) and are applied to every ``a_lm`` of the bin.
    With Q, U maps, the same is done on the E and on the B alm of the polarised channels
    (spin-2 transforms), and the result is returned as Q, U.

    Parameters
    ----------
    maps : array_like
        RING maps in uK_CMB, any channel order, each at its own Gaussian beam:
        ``(n_freq, npix)`` I, ``(n_freq, 3, npix)`` I, Q, U or ``(n_freq, 2, npix)`` Q, U (the
        Q, U of channels that are not ``polarised`` are ignored).
    beam_fwhm_arcmin : array_like
        ``(n_freq,)`` beam FWHM of each map, arcmin (E and B: spin-2 Gaussian beam).
    bin_size : int
        Width of the multipole bins.
    output_fwhm_arcmin : float
        Gaussian beam of the output map, arcmin.
    lmax : int or None
        Maximum multipole (default ``3 nside - 1``).
    mask : array_like or None
        ``(npix,)``; if given, the cross-spectra are estimated from the masked maps
        (``mask * map``; for E and B, from the masked Q, U); the weights are applied to the
        unmasked maps.
    deproject, deproject_pol, polarised, sed
        As for :func:`cmbml.ilc.needlet_ilc`.
    beam_criterion : float or None
        Channels whose beam has fallen below this level within a bin are not used there
        (PyILC's rule, :func:`channels_in_use`); None uses all.
    niter : int
        Iterations of the spherical-harmonic analysis.
    return_weights : bool
        Also return ``(weights, bin_edges (n_bins + 1,))``: weights ``(n_bins, n_freq)`` (0 for
        unused channels) for intensity maps, else a dict of them by field (``"T"``, ``"E"``,
        ``"B"``).

    Returns
    -------
    np.ndarray or (np.ndarray, (np.ndarray or dict, np.ndarray))
        Estimate in uK_CMB at the output beam, ``(npix,)``, ``(3, npix)`` or ``(2, npix)``
        like ``maps``.
    """
    maps, beams, nside = check_maps(maps, beam_fwhm_arcmin)
    pol = None if maps.ndim == 2 else check_polarised(polarised, maps.shape[0])
    mask = check_mask(mask, maps.shape[-1])
    lmax = 3 * nside - 1 if lmax is None else int(lmax)
    if not 1 <= lmax <= 3 * nside - 1:
        raise ValueError(f"lmax={lmax} must be in [1, 3 nside - 1 = {3 * nside - 1}]")
    edges = harmonic_bin_edges(bin_size, lmax)
    n_freq = maps.shape[0]
    fields = []  # checked before any transform
    for labels, spin, channels, mixing in field_groups(maps, pol, sed, deproject, deproject_pol):
        use = usable_channels(
            tophat_windows(edges),
            beams[channels],
            beam_criterion,
            mixing,
            channels,
            lambda j, labels=labels: (
                f"harmonic bin {j} ({edges[j]} <= l < {edges[j + 1]}, {labels})"
            ),
        )
        fields.append((labels, spin, channels, mixing, use))
    out_alm, weights = [], {}
    for labels, spin, channels, mixing, use in fields:
        transfer = rebeam(beams[channels], output_fwhm_arcmin, lmax, spin=spin)
        alm = almxfl(field_alm(maps, spin, channels, lmax, niter), transfer)
        cov_alm = alm
        if mask is not None:
            cov_alm = almxfl(field_alm(maps, spin, channels, lmax, niter, weight=mask), transfer)
        combined, field_weights = _hilc_fields(alm, cov_alm, lmax, edges, use, mixing)
        out_alm.append(combined)
        for label, w in zip(labels, field_weights, strict=True):
            weights[label] = np.zeros((edges.size - 1, n_freq))
            weights[label][:, channels] = w
    out = synthesise(np.concatenate(out_alm), nside, lmax)
    if not return_weights:
        return out
    return out, (weights["T"] if maps.ndim == 2 else weights, edges)
