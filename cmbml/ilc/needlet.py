"""Needlet internal linear combination (NILC), PyILC's algorithm, vectorised and in memory.

Per needlet scale ``j``: every channel used at that scale is deconvolved from its beam,
convolved with the output beam and filtered by the window ``h_j`` (one batched transform); the
local frequency-frequency covariance is estimated by Gaussian smoothing
(:func:`cmbml.ilc.covariance.local_covariance`) with the kernel that keeps the ILC bias below
``ilc_bias_tol``; the (constrained) ILC weights are solved per pixel; the weighted sum of the
channels is filtered by ``h_j`` again and the scales are added (``sum_j h_j^2 = 1``).

Polarisation: the Q, U maps of the polarised channels go through one spin-2 analysis each,
giving their E and B alm; E and B are then two scalar fields that share the channels, the scale
resolutions and the covariance kernels, but have their own per-pixel weights. The per-scale
E and B maps of all channels are synthesised together and the two combined maps of a scale
analysed together; one final synthesis returns I, Q, U (or Q, U).
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
    check_polarised,
    field_alm,
    field_groups,
    rebeam,
    synthesise,
    truncate_alm,
    usable_channels,
)
from cmbml.ilc.covariance import ilc_bias_fwhm, local_covariance
from cmbml.ilc.weights import ilc_weights_from_pairs
from cmbml.ilc.windows import (
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
    """Needlet maps of one scale: ``(..., n, npix_j)`` from alm ``(..., n, nalm(lmax))``."""
    filt = (transfer * window)[:, : scale_lmax + 1]
    return alm2map(almxfl(truncate_alm(alm, lmax, scale_lmax), filt), nside, scale_lmax)


def _add_synthesis(out_alm, lmax, combined, window, scale_lmax, niter):
    """``out_alm += h_j * alm(combined)`` for one scale's combined map(s) ``(..., npix_j)``."""
    alm = almxfl(map2alm(combined, scale_lmax, niter=niter), window[: scale_lmax + 1])
    add_alm(out_alm, lmax, alm, scale_lmax)


@dataclass(frozen=True)
class _Setup:
    """What every field of one needlet ILC shares: windows, resolutions, options."""

    windows: np.ndarray
    nsides: np.ndarray
    support: np.ndarray
    output_fwhm_arcmin: float
    beam_criterion: float | None
    ilc_bias_tol: float
    mask: np.ndarray | None
    niter: int
    override_ilc_bias_tol: bool = True
    zero_masked_weights: bool = False

    @property
    def lmax(self) -> int:
        return self.windows.shape[1] - 1


@dataclass(frozen=True)
class _Group:
    """Fields that share their channels: T (every channel) or E and B (the polarised ones)."""

    labels: str
    spin: int
    channels: np.ndarray
    beams: np.ndarray
    mixing: np.ndarray
    use: np.ndarray

    @classmethod
    def checked(cls, labels, spin, channels, beams, mixing, setup: _Setup) -> _Group:
        """The group, with its channels per scale checked against the constraints."""
        use = usable_channels(
            setup.windows,
            beams,
            setup.beam_criterion,
            mixing,
            channels,
            lambda j: f"needlet scale {j} ({labels})",
        )
        return cls(labels, spin, channels, beams, mixing, use)


def _needlet_fields(alm: np.ndarray, group: _Group, setup: _Setup, keep_weights: bool):
    """NILC of the fields of ``group``.

    Parameters
    ----------
    alm : np.ndarray
        ``(n_fields, n_ch, nalm(lmax))`` alm of the group's fields and channels, uK_CMB at
        the channel beams.
    group : _Group
        The fields (T, or E and B), their channels and constraints.
    setup : _Setup
        Windows, resolutions and options shared by every field.
    keep_weights : bool
        Keep each scale's :class:`ScaleWeights` (its ``(n_used, npix_j)`` weights stay in
        memory); otherwise the lists are empty.

    Returns
    -------
    out_alm : np.ndarray
        ``(n_fields, nalm(lmax))`` complex128 output alm, uK_CMB at the output beam.
    scales : dict
        ``{label: list of ScaleWeights}``, one per scale if ``keep_weights`` (else empty).
    """
    windows, lmax, mixing = setup.windows, setup.lmax, group.mixing
    n_comp = mixing.shape[1]
    transfer = rebeam(group.beams, setup.output_fwhm_arcmin, lmax, spin=group.spin)
    out_alm = np.zeros((alm.shape[0], nalm(lmax)), dtype=np.complex128)
    scales = {label: [] for label in group.labels}
    for j, window in enumerate(windows):
        used = np.flatnonzero(group.use[j])
        nside_j = int(setup.nsides[j])
        lmax_j = int(min(setup.support[j], 3 * nside_j - 1))
        x = _scale_maps(alm[:, used], transfer[used], window, lmax, lmax_j, nside_j)
        try:
            fwhm = ilc_bias_fwhm(
                window,
                used.size,
                n_deproj=n_comp - 1,
                ilc_bias_tol=setup.ilc_bias_tol,
                override_ilc_bias_tol=setup.override_ilc_bias_tol,
            )
        except ValueError as err:
            raise ValueError(f"needlet scale {j} ({group.labels}): {err}") from None
        log.info(
            "needlet scale %d (%s): nside %d, lmax %d, %d channels, covariance FWHM %.1f deg",
            j,
            group.labels,
            nside_j,
            lmax_j,
            used.size,
            fwhm / 60.0,
        )
        mask_j = binary_mask_at(setup.mask, nside_j)
        combined = np.empty(x.shape[::2])
        for k, label in enumerate(group.labels):
            cov = local_covariance(x[k], fwhm, mask=mask_j)
            weights = ilc_weights_from_pairs(cov, mixing[used])
            del cov
            if setup.zero_masked_weights and mask_j is not None:
                weights[:, mask_j == 0] = 0.0
            combined[k] = np.einsum("ap,ap->p", weights, x[k])
            if keep_weights:
                scales[label].append(
                    ScaleWeights(window, nside_j, lmax_j, group.channels[used], fwhm, weights)
                )
            del weights
        del x
        _add_synthesis(out_alm, lmax, combined, window, lmax_j, setup.niter)
    return out_alm, scales


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
    deproject_pol=None,
    polarised=None,
    sed=None,
    beam_criterion: float | None = 1e-3,
    niter: int = 3,
    override_ilc_bias_tol: bool = True,
    zero_masked_weights: bool = False,
    return_weights: bool = False,
):
    """Needlet ILC estimate of the CMB (or of the component with SED ``sed``).

    Intensity maps give the temperature NILC. With Q and U maps, the Q/U of the polarised
    channels are transformed once to E and B (spin-2); each needlet scale then has its own ILC
    on E and on B (sharing the filtered maps' transforms), and the combined E, B go back to
    Q, U. The temperature part uses every channel, the polarised part only ``polarised`` ones.

    Parameters
    ----------
    maps : array_like
        RING maps in uK_CMB, channels in any order, each at its own Gaussian beam (a pixel
        window common to all maps passes through unchanged): ``(n_freq, npix)`` I,
        ``(n_freq, 3, npix)`` I, Q, U or ``(n_freq, 2, npix)`` Q, U. The Q, U of channels that
        are not ``polarised`` are ignored (e.g. zeros).
    beam_fwhm_arcmin : array_like
        ``(n_freq,)`` beam FWHM of each map, arcmin (E and B use the spin-2 Gaussian beam of
        the same FWHM, :func:`cmbml.sphere.gaussian_beam`).
    ellpeaks : sequence of int
        Cosine needlet peaks as PyILC defines them (the last is ``lmax + 1``).
    output_fwhm_arcmin : float
        Gaussian beam of the output map, arcmin.
    ilc_bias_tol : float
        Tolerated ILC bias; sets the covariance kernel per scale (:func:`ilc_bias_fwhm`).
    mask : array_like or None
        ``(npix,)``; pixels where it is 0 (at each scale's resolution,
        :func:`~cmbml.ilc._common.binary_mask_at`) are left out of the covariance estimates.
    needlets : {"cosine", "gaussian"}
        Window family (:func:`needlet_windows`).
    needlet_fwhm_arcmin : sequence of float or None
        Gaussian needlet FWHMs, arcmin, strictly decreasing (``needlets="gaussian"``).
    lmax : int or None
        Maximum multipole (required for Gaussian needlets; implied by ``ellpeaks``).
    deproject : array_like or None
        ``(n_deproj, n_freq)`` SEDs (uK_CMB per unit component) to null in temperature
        (constrained ILC), e.g. from :mod:`cmbml.ilc.seds`.
    deproject_pol : array_like or None
        ``(n_deproj, n_freq)`` SEDs to null in E and B; None: the same as ``deproject``; an
        empty list: none.
    polarised : array_like of bool or None
        ``(n_freq,)`` channels whose Q, U enter the E and B ILC (None: all).
    sed : array_like or None
        ``(n_freq,)`` SED of the preserved component (default CMB: ones).
    beam_criterion : float or None
        PyILC's ``wavelet_beam_criterion``: a channel enters a scale only if its beam is
        above this level where the window is (:func:`channels_in_use`); None uses all.
    niter : int
        Iterations of the spherical-harmonic analysis of the input and per-scale maps.
    override_ilc_bias_tol : bool
        Where a scale has too few modes for ``ilc_bias_tol``, cap its covariance kernel at
        ``sigma = pi`` (True) or raise ValueError naming the scale (False: PyILC's default).
    zero_masked_weights : bool
        With ``mask``: weights only on its unmasked pixels, zero elsewhere, so every scale of
        the output is zero in the masked region (PyILC's ``mask_before_covariance_computation``,
        as CMB-ML runs it). False: weights everywhere.
    return_weights : bool
        Also return the per-scale :class:`ScaleWeights` (a list for intensity maps, else a dict
        ``{"T": ..., "E": ..., "B": ...}`` without ``"T"`` for Q, U maps).

    Returns
    -------
    np.ndarray or (np.ndarray, list or dict of ScaleWeights)
        Estimate in uK_CMB at the output beam, band-limited to ``lmax``, in the layout of
        ``maps``: ``(npix,)``, ``(3, npix)`` or ``(2, npix)``.
    """
    maps, beams, nside = check_maps(maps, beam_fwhm_arcmin)
    pol = None if maps.ndim == 2 else check_polarised(polarised, maps.shape[0])
    mask = check_mask(mask, maps.shape[-1])
    windows = needlet_windows(
        needlets, ellpeaks=ellpeaks, needlet_fwhm_arcmin=needlet_fwhm_arcmin, lmax=lmax
    )
    lmax = windows.shape[1] - 1
    if lmax > 3 * nside - 1:
        raise ValueError(f"lmax={lmax} exceeds 3 nside - 1 = {3 * nside - 1} for nside {nside}")
    support = window_support(windows)
    setup = _Setup(
        windows=windows,
        nsides=scale_nsides(window_ell_f(windows, beam_criterion or 1e-3), support, nside),
        support=support,
        output_fwhm_arcmin=output_fwhm_arcmin,
        beam_criterion=beam_criterion,
        ilc_bias_tol=ilc_bias_tol,
        mask=mask,
        niter=niter,
        override_ilc_bias_tol=override_ilc_bias_tol,
        zero_masked_weights=zero_masked_weights,
    )
    groups = [  # checked before any transform
        _Group.checked(labels, spin, channels, beams[channels], mixing, setup)
        for labels, spin, channels, mixing in field_groups(maps, pol, sed, deproject, deproject_pol)
    ]
    out_alm, scales = [], {}
    for group in groups:
        alm = field_alm(maps, group.spin, group.channels, lmax, niter)
        group_alm, group_scales = _needlet_fields(alm, group, setup, return_weights)
        del alm
        out_alm.append(group_alm)
        scales.update(group_scales)
    out = synthesise(np.concatenate(out_alm), nside, lmax)
    if not return_weights:
        return out
    return out, (scales["T"] if maps.ndim == 2 else scales)


def apply_needlet_weights(
    maps, beam_fwhm_arcmin, scales, *, output_fwhm_arcmin: float, niter=3
) -> np.ndarray:
    """Apply needlet ILC weights (from ``needlet_ilc(..., return_weights=True)``) to other maps.

    Useful to propagate, e.g., foreground-only or noise-only maps through the same linear
    combination as the data.

    Parameters
    ----------
    maps : array_like
        RING maps, same channels (order, beams, nside) and layout as for the weights:
        ``(n_freq, npix)`` with a list of weights, ``(n_freq, 3, npix)`` or
        ``(n_freq, 2, npix)`` with a dict of T, E, B weights.
    beam_fwhm_arcmin : array_like
        ``(n_freq,)`` beam FWHM of each map, arcmin.
    scales : list of ScaleWeights or dict
        Per-scale weights (list: temperature; dict: ``{"T": ..., "E": ..., "B": ...}``).
    output_fwhm_arcmin : float
        Output Gaussian beam, arcmin (as used for the weights).
    niter : int
        Iterations of the spherical-harmonic analyses.

    Returns
    -------
    np.ndarray
        Combined map at the output beam, ``(npix,)``, ``(3, npix)`` or ``(2, npix)``.
    """
    maps, beams, nside = check_maps(maps, beam_fwhm_arcmin)
    wanted = "T" if maps.ndim == 2 else "TEB"[3 - maps.shape[1] :]
    by_field = {"T": scales} if maps.ndim == 2 else dict(scales)
    if sorted(by_field) != sorted(wanted) or not all(by_field.values()):
        raise ValueError(f"maps of shape {maps.shape} need weights for {list(wanted)}")
    lmax = by_field[wanted[0]][0].window.size - 1
    for field_scales in by_field.values():
        n_used_max = max(int(s.channels.max()) for s in field_scales) + 1
        if n_used_max > maps.shape[0]:
            raise ValueError(
                f"weights refer to channel {n_used_max - 1}, maps have {maps.shape[0]}"
            )
    out_alm = np.zeros((len(wanted), nalm(lmax)), dtype=np.complex128)
    for labels, spin in [("T", 0), ("EB", 2)]:
        if labels[0] not in wanted:
            continue
        # only the channels that some scale of these fields uses are transformed
        channels = np.unique(np.concatenate([s.channels for f in labels for s in by_field[f]]))
        alm = field_alm(maps, spin, channels, lmax, niter)
        transfer = rebeam(beams[channels], output_fwhm_arcmin, lmax, spin=spin)
        for label, label_alm in zip(labels, alm, strict=True):
            k = wanted.index(label)
            for s in by_field[label]:
                rows = np.searchsorted(channels, s.channels)
                x = _scale_maps(label_alm[rows], transfer[rows], s.window, lmax, s.lmax, s.nside)
                combined = np.einsum("ap,ap->p", s.weights, x)
                _add_synthesis(out_alm[k], lmax, combined, s.window, s.lmax, niter)
        del alm
    return synthesise(out_alm, nside, lmax)
