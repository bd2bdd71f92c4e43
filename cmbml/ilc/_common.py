"""Input checks and harmonic helpers shared by the needlet and harmonic ILC."""

from __future__ import annotations

import functools
from collections.abc import Iterator

import healpy as hp
import numpy as np

from cmbml.ilc.weights import mixing_matrix
from cmbml.ilc.windows import channels_in_use
from cmbml.sphere import alm2map, alm2map_spin2, map2alm, map2alm_spin2

_SIGMA_PER_FWHM_RAD = np.radians(1.0 / 60.0) / np.sqrt(8.0 * np.log(2.0))


def check_maps(maps, beam_fwhm_arcmin) -> tuple[np.ndarray, np.ndarray, int]:
    """Validate maps and their ``(n_freq,)`` beams; return them and nside.

    ``maps`` is ``(n_freq, npix)`` (intensity), ``(n_freq, 3, npix)`` (I, Q, U) or
    ``(n_freq, 2, npix)`` (Q, U).
    """
    maps = np.asarray(maps, dtype=np.float64)
    if (
        maps.ndim not in (2, 3)
        or maps.shape[0] < 2
        or (maps.ndim == 3 and maps.shape[1] not in (2, 3))
    ):
        raise ValueError(
            "maps must be (n_freq >= 2, npix), (n_freq >= 2, 3, npix) for I, Q, U or "
            f"(n_freq >= 2, 2, npix) for Q, U, got shape {maps.shape}"
        )
    if not hp.isnpixok(maps.shape[-1]):
        raise ValueError(f"maps have {maps.shape[-1]} pixels, not a valid HEALPix size")
    if not np.all(np.isfinite(maps)):
        raise ValueError("maps contain NaN or infinite values (fill masked pixels first)")
    beams = np.atleast_1d(np.asarray(beam_fwhm_arcmin, dtype=float))
    if beams.shape != (maps.shape[0],) or np.any(~(beams >= 0)):
        raise ValueError(
            f"beam_fwhm_arcmin must hold {maps.shape[0]} non-negative FWHMs (one per map), "
            f"got {beam_fwhm_arcmin!r}"
        )
    return maps, beams, hp.npix2nside(maps.shape[-1])


def check_polarised(polarised, n_freq: int) -> np.ndarray:
    """Validate the ``(n_freq,)`` flags of the channels with Q, U (None: all); return indices."""
    pol = np.ones(n_freq, dtype=bool) if polarised is None else np.asarray(polarised)
    if pol.shape != (n_freq,) or pol.dtype != bool:
        raise ValueError(f"polarised must be {n_freq} booleans (one per map), got {polarised!r}")
    if not pol.any():
        raise ValueError("polarised: no channel has Q, U maps")
    return np.flatnonzero(pol)


def field_groups(
    maps: np.ndarray, pol: np.ndarray | None, sed=None, deproject=None, deproject_pol=None
) -> Iterator[tuple[str, int, np.ndarray, np.ndarray]]:
    """The fields of an ILC grouped by the channels they share, with their mixing matrices.

    A generator: each group's mixing matrix is built (and may raise) when it is reached, so a
    caller that checks each group before taking the next reports the first bad group.

    Parameters
    ----------
    maps : np.ndarray
        Checked maps (:func:`check_maps`): ``(n_freq, npix)`` I, ``(n_freq, 3, npix)`` I, Q, U
        or ``(n_freq, 2, npix)`` Q, U.
    pol : np.ndarray or None
        ``(n_pol,)`` indices of the polarised channels (:func:`check_polarised`); None for
        intensity maps.
    sed, deproject, deproject_pol
        As for :func:`cmbml.ilc.needlet_ilc`: preserved SED ``(n_freq,)``, SEDs
        ``(n_deproj, n_freq)`` nulled in T and (if ``deproject_pol`` is None) in E and B.

    Yields
    ------
    (str, int, np.ndarray, np.ndarray)
        ``(labels, spin, channels, mixing)`` per group: ``("T", 0, arange(n_freq), A)`` with
        I maps, ``("EB", 2, pol, A_pol)`` with Q, U maps; ``channels`` ``(n_ch,)`` are increasing
        indices of the input maps and ``mixing`` ``(n_ch, n_comp)`` their rows of the mixing
        matrix (:func:`cmbml.ilc.mixing_matrix`).
    """
    n_freq = maps.shape[0]
    if maps.ndim == 2 or maps.shape[1] == 3:
        channels = np.arange(n_freq)
        yield "T", 0, channels, mixing_matrix(n_freq, sed, deproject)[channels]
    if pol is not None:
        dep = deproject if deproject_pol is None else deproject_pol
        yield "EB", 2, pol, mixing_matrix(n_freq, sed, dep)[pol]


def field_alm(
    maps: np.ndarray, spin: int, channels: np.ndarray, lmax: int, niter: int, weight=None
) -> np.ndarray:
    """alm of the T (spin 0) or the E and B (spin 2) fields of some channels.

    Parameters
    ----------
    maps : np.ndarray
        Checked maps in uK_CMB: ``(n_freq, npix)`` I, ``(n_freq, 3, npix)`` I, Q, U or
        ``(n_freq, 2, npix)`` Q, U (spin 2 needs Q, U).
    spin : {0, 2}
        0: analysis of the intensity; 2: spin-2 analysis of Q, U.
    channels : np.ndarray
        ``(n_ch,)`` indices of the channels (``arange(n_freq)``: the maps are not copied).
    lmax : int
        Maximum multipole.
    niter : int
        Iterations of the analysis.
    weight : np.ndarray or None
        ``(npix,)`` multiplying the maps before the analysis (e.g. a mask).

    Returns
    -------
    np.ndarray
        complex128 ``(1, n_ch, nalm(lmax))`` T alm or ``(2, n_ch, nalm(lmax))`` E, B alm, in
        uK_CMB.
    """
    if spin == 0:
        x = maps if maps.ndim == 2 else maps[:, 0]
    else:
        x = maps[:, -2:]
    if not np.array_equal(channels, np.arange(x.shape[0])):
        x = x[channels]
    if weight is not None:
        x = x * weight
    if spin == 0:
        return map2alm(x, lmax, niter=niter)[None]
    return np.swapaxes(map2alm_spin2(x, lmax, niter=niter), 0, 1)


def usable_channels(windows, beams, beam_criterion, mixing, channels, describe) -> np.ndarray:
    """Channels used per window (:func:`channels_in_use`), checked against the constraints.

    Parameters
    ----------
    windows : np.ndarray
        ``(n_windows, lmax + 1)`` needlet windows or harmonic bins.
    beams : np.ndarray
        ``(n_ch,)`` beam FWHMs, arcmin.
    beam_criterion : float or None
        PyILC's beam criterion (None: all channels everywhere).
    mixing : np.ndarray
        ``(n_ch, n_comp)`` mixing matrix of these channels.
    channels : np.ndarray
        ``(n_ch,)`` indices of these channels among the input maps (for messages).
    describe : callable
        ``describe(j)`` names window ``j`` in messages.

    Returns
    -------
    np.ndarray
        ``(n_windows, n_ch)`` bool.
    """
    use = channels_in_use(windows, beams, beam_criterion)
    n_comp = mixing.shape[1]
    for j, used in enumerate(use):
        if np.linalg.matrix_rank(mixing[used]) < n_comp:
            raise ValueError(
                f"{describe(j)} uses channels {channels[used].tolist()}: too few to preserve one "
                f"and deproject {n_comp - 1} components (beam_criterion={beam_criterion})"
            )
    return use


def check_mask(mask, npix: int) -> np.ndarray | None:
    """Validate an optional ``(npix,)`` mask; return it as float64 (or None)."""
    if mask is None:
        return None
    mask = np.asarray(mask, dtype=np.float64)
    if mask.shape != (npix,):
        raise ValueError(f"mask must have shape ({npix},) like the maps, got {mask.shape}")
    if not np.any(mask != 0):
        raise ValueError("mask has no unmasked (non-zero) pixel")
    return mask


def rebeam(
    beam_fwhm_arcmin: np.ndarray, output_fwhm_arcmin: float, lmax: int, *, spin: int = 0
) -> np.ndarray:
    """``b_out(l) / b_in(l)`` per channel, ``(n_freq, lmax + 1)``, without under/overflow 0/0.

    ``spin=2`` uses the Gaussian beam of E and B (healpy's, as the simulations):
    ``b_l = exp(-(l (l + 1) - 4) sigma^2 / 2)``.
    """
    if not output_fwhm_arcmin >= 0:
        raise ValueError(f"output_fwhm_arcmin must be >= 0, got {output_fwhm_arcmin}")
    ell = np.arange(lmax + 1)
    d_sigma2 = (output_fwhm_arcmin**2 - beam_fwhm_arcmin[:, None] ** 2) * _SIGMA_PER_FWHM_RAD**2
    return np.exp(-0.5 * (ell * (ell + 1) - spin**2) * d_sigma2)


@functools.lru_cache(maxsize=32)
def _sub_index(lmax: int, sub_lmax: int) -> np.ndarray:
    ell, m = hp.Alm.getlm(sub_lmax)
    return hp.Alm.getidx(lmax, ell, m)


def truncate_alm(alm: np.ndarray, lmax: int, sub_lmax: int) -> np.ndarray:
    """alm ``(..., nalm(lmax))`` restricted to ``l <= sub_lmax``."""
    if sub_lmax == lmax:
        return alm
    return alm[..., _sub_index(lmax, sub_lmax)]


def add_alm(target: np.ndarray, lmax: int, alm: np.ndarray, sub_lmax: int) -> None:
    """In place: ``target`` (lmax) += ``alm`` (sub_lmax <= lmax)."""
    if sub_lmax == lmax:
        target += alm
    else:
        target[..., _sub_index(lmax, sub_lmax)] += alm


def binary_mask_at(mask: np.ndarray | None, nside: int) -> np.ndarray | None:
    """PyILC's mask at another resolution: degrade by averaging, then non-zero -> 1."""
    if mask is None:
        return None
    if hp.npix2nside(mask.size) != nside:
        mask = hp.ud_grade(mask, nside)
    return (mask != 0).astype(np.float64)


def synthesise(alm: np.ndarray, nside: int, lmax: int) -> np.ndarray:
    """Maps from ``(1, nalm)`` T, ``(2, nalm)`` E, B or ``(3, nalm)`` T, E, B alm.

    Returns ``(npix,)`` I, ``(2, npix)`` Q, U or ``(3, npix)`` I, Q, U.
    """
    if alm.shape[0] == 1:
        return alm2map(alm[0], nside, lmax)
    if alm.shape[0] == 2:
        return alm2map_spin2(alm, nside, lmax)
    return alm2map(alm, nside, lmax, pol=True)
