"""Needlet windows and PyILC's per-scale channel and resolution selection.

A set of windows ``h_j(ell)`` (shape ``(n_scales, lmax + 1)``) partitions unity in the sense
``sum_j h_j(ell)**2 == 1``: filtering a map by ``h_j`` (analysis) and again by ``h_j``
(synthesis) and summing over ``j`` returns the map.
"""

from __future__ import annotations

import numpy as np

from cmbml.sphere import gaussian_beam

__all__ = [
    "channels_in_use",
    "cosine_needlet_windows",
    "gaussian_needlet_windows",
    "scale_nsides",
    "tophat_windows",
    "window_ell_f",
    "window_support",
]


def cosine_needlet_windows(ellpeaks) -> np.ndarray:
    """Cosine needlet windows as PyILC defines them (``ellmin = 0``).

    Window ``j`` rises as ``cos(pi/2 (P_j - ell) / (P_j - P_{j-1}))`` on ``[P_{j-1}, P_j)`` and
    falls as ``cos(pi/2 (ell - P_j) / (P_{j+1} - P_j))`` on ``[P_j, P_{j+1})``, with peaks
    ``P = [0, *ellpeaks]``. The last peak is ``lmax + 1``, so the last window rises up to
    ``lmax`` and there are ``len(ellpeaks) + 1`` windows.

    Parameters
    ----------
    ellpeaks : sequence of int
        Strictly increasing positive multipoles; the last one is ``lmax + 1``.

    Returns
    -------
    np.ndarray
        ``(len(ellpeaks) + 1, lmax + 1)`` windows with ``sum_j h_j**2 == 1``.
    """
    peaks = np.asarray(ellpeaks)
    if peaks.ndim != 1 or peaks.size < 1 or not np.issubdtype(peaks.dtype, np.integer):
        raise ValueError(f"ellpeaks must be a non-empty list of integers, got {ellpeaks!r}")
    peaks = np.concatenate([[0], peaks]).astype(np.int64)
    if np.any(np.diff(peaks) <= 0):
        raise ValueError(f"ellpeaks must be strictly increasing and > 0, got {list(ellpeaks)}")
    lmax = int(peaks[-1]) - 1
    ell = np.arange(lmax + 1)
    windows = np.zeros((peaks.size, lmax + 1))
    for j in range(peaks.size - 1):
        lo, hi = peaks[j], peaks[j + 1]
        band = (ell >= lo) & (ell < hi)
        # on [P_j, P_j+1) window j falls as cos(theta) and window j + 1 rises as sin(theta)
        theta = 0.5 * np.pi * (ell[band] - lo) / (hi - lo)
        windows[j, band] = np.cos(theta)
        windows[j + 1, band] = np.sin(theta)
    return windows


def gaussian_needlet_windows(fwhm_arcmin, lmax: int) -> np.ndarray:
    """Gaussian needlet windows (Planck NILC / PyILC ``GaussianNeedlets``).

    With Gaussian beams ``G_i`` of the given FWHMs: ``h_0 = G_0``,
    ``h_i = sqrt(G_i**2 - G_{i-1}**2)`` and ``h_last = sqrt(1 - G_{n-1}**2)``.

    Parameters
    ----------
    fwhm_arcmin : sequence of float
        Strictly decreasing FWHMs, arcmin.
    lmax : int
        Maximum multipole.

    Returns
    -------
    np.ndarray
        ``(len(fwhm_arcmin) + 1, lmax + 1)`` windows with ``sum_j h_j**2 == 1``.
    """
    fwhm = np.asarray(fwhm_arcmin, dtype=float)
    if fwhm.ndim != 1 or fwhm.size < 1 or np.any(fwhm <= 0):
        raise ValueError(f"needlet FWHMs must be positive arcmin values, got {fwhm_arcmin!r}")
    if np.any(np.diff(fwhm) >= 0):
        raise ValueError(f"needlet FWHMs must be strictly decreasing, got {list(fwhm)}")
    if lmax < 1:
        raise ValueError(f"lmax must be >= 1, got {lmax}")
    gauss2 = np.stack([gaussian_beam(f, lmax) ** 2 for f in fwhm])
    bounds = np.concatenate([np.zeros((1, lmax + 1)), gauss2, np.ones((1, lmax + 1))])
    steps = np.diff(bounds, axis=0)
    return np.sqrt(np.clip(steps, 0.0, None))


def tophat_windows(bin_edges) -> np.ndarray:
    """Top-hat windows (harmonic ILC bins) ``[edge_i, edge_{i+1})``.

    Parameters
    ----------
    bin_edges : sequence of int
        Strictly increasing, starting at 0, ending at ``lmax + 1``.

    Returns
    -------
    np.ndarray
        ``(len(bin_edges) - 1, lmax + 1)`` windows of 0 and 1.
    """
    edges = np.asarray(bin_edges)
    if edges.ndim != 1 or edges.size < 2 or edges[0] != 0 or np.any(np.diff(edges) <= 0):
        raise ValueError(f"bin edges must increase strictly from 0, got {list(bin_edges)}")
    ell = np.arange(edges[-1])
    return ((ell >= edges[:-1, None]) & (ell < edges[1:, None])).astype(float)


def window_support(windows: np.ndarray) -> np.ndarray:
    """Highest multipole at which each window is non-zero, ``(n_scales,)`` int."""
    nonzero = windows > 0
    if not np.all(nonzero.any(axis=1)):
        raise ValueError("a needlet window is zero at every multipole")
    return windows.shape[1] - 1 - np.argmax(nonzero[:, ::-1], axis=1)


def window_ell_f(windows: np.ndarray, criterion: float = 1e-3) -> np.ndarray:
    """PyILC's ``ell_F``: where each window falls to ``criterion`` beyond its peak.

    For every window but the last, the multipole at or after its peak where ``|h - criterion|`` is
    smallest; the last window (which does not fall) takes the value of the one before it.

    Parameters
    ----------
    windows : np.ndarray
        ``(n_scales, lmax + 1)``.
    criterion : float
        Window level, in (0, 1).

    Returns
    -------
    np.ndarray
        ``(n_scales,)`` int.
    """
    n_scales = windows.shape[0]
    ell_f = np.empty(n_scales, dtype=np.int64)
    for j in range(n_scales):
        peak = int(np.argmax(windows[j]))
        ell_f[j] = peak + int(np.argmin(np.abs(windows[j, peak:] - criterion)))
    if n_scales > 1:
        ell_f[-1] = ell_f[-2]
    return ell_f


def channels_in_use(
    windows: np.ndarray, beam_fwhm_arcmin, criterion: float | None = 1e-3
) -> np.ndarray:
    """PyILC's rule for the channels entering each scale.

    A channel is used at scale ``j`` when its beam ``b(ell)`` is closest to ``criterion`` at a
    multipole ``ell_B >= ell_F[j]`` (:func:`window_ell_f`): its deconvolved map is not amplified
    by more than about ``1 / criterion`` where the window matters.

    Parameters
    ----------
    windows : np.ndarray
        ``(n_scales, lmax + 1)``.
    beam_fwhm_arcmin : sequence of float
        ``(n_freq,)`` Gaussian beam FWHM of each channel, arcmin.
    criterion : float or None
        Beam / window level; ``None`` uses every channel at every scale.

    Returns
    -------
    np.ndarray
        ``(n_scales, n_freq)`` bool.
    """
    fwhm = np.atleast_1d(np.asarray(beam_fwhm_arcmin, dtype=float))
    if criterion is None:
        return np.ones((windows.shape[0], fwhm.size), dtype=bool)
    if not 0.0 < criterion < 1.0:
        raise ValueError(f"beam criterion must be in (0, 1), got {criterion}")
    lmax = windows.shape[1] - 1
    ell_b = np.array([np.argmin(np.abs(gaussian_beam(f, lmax) - criterion)) for f in fwhm])
    return window_ell_f(windows, criterion)[:, None] <= ell_b[None, :]


def scale_nsides(ell_f: np.ndarray, support: np.ndarray, nside: int) -> np.ndarray:
    """Per-scale resolution: PyILC's smallest power of two above ``ell_F``, at most ``nside``.

    PyILC's rule alone gives the last scale (whose ``ell_F`` is copied from the one before) too
    few pixels when it extends far beyond that ``ell_F``; the resolution is therefore also raised
    until ``2 * nside_j`` covers the window's support (unless capped by ``nside``).

    Parameters
    ----------
    ell_f : np.ndarray
        ``(n_scales,)`` from :func:`window_ell_f`.
    support : np.ndarray
        ``(n_scales,)`` from :func:`window_support`.
    nside : int
        Resolution of the input maps.

    Returns
    -------
    np.ndarray
        ``(n_scales,)`` int HEALPix nside per scale.
    """
    out = []
    for ell_fj, sup in zip(np.asarray(ell_f), np.asarray(support), strict=True):
        pyilc = 1 << int(ell_fj).bit_length()
        covering = 1 << max((int(sup) - 1).bit_length() - 1, 0)
        out.append(min(nside, max(pyilc, covering)))
    return np.array(out, dtype=np.int64)
