"""Input checks and harmonic helpers shared by the needlet and harmonic ILC."""

from __future__ import annotations

import functools

import healpy as hp
import numpy as np

_SIGMA_PER_FWHM_RAD = np.radians(1.0 / 60.0) / np.sqrt(8.0 * np.log(2.0))


def check_maps(maps, beam_fwhm_arcmin) -> tuple[np.ndarray, np.ndarray, int]:
    """Validate ``(n_freq, npix)`` maps and their ``(n_freq,)`` beams; return them and nside."""
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 2 or maps.shape[0] < 2:
        raise ValueError(f"maps must be (n_freq >= 2, npix), got shape {maps.shape}")
    if not hp.isnpixok(maps.shape[1]):
        raise ValueError(f"maps have {maps.shape[1]} pixels, not a valid HEALPix size")
    if not np.all(np.isfinite(maps)):
        raise ValueError("maps contain NaN or infinite values (fill masked pixels first)")
    beams = np.atleast_1d(np.asarray(beam_fwhm_arcmin, dtype=float))
    if beams.shape != (maps.shape[0],) or np.any(~(beams >= 0)):
        raise ValueError(
            f"beam_fwhm_arcmin must hold {maps.shape[0]} non-negative FWHMs (one per map), "
            f"got {beam_fwhm_arcmin!r}"
        )
    return maps, beams, hp.npix2nside(maps.shape[1])


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


def rebeam(beam_fwhm_arcmin: np.ndarray, output_fwhm_arcmin: float, lmax: int) -> np.ndarray:
    """``b_out(l) / b_in(l)`` per channel, ``(n_freq, lmax + 1)``, without under/overflow 0/0."""
    if not output_fwhm_arcmin >= 0:
        raise ValueError(f"output_fwhm_arcmin must be >= 0, got {output_fwhm_arcmin}")
    ell = np.arange(lmax + 1)
    d_sigma2 = (output_fwhm_arcmin**2 - beam_fwhm_arcmin[:, None] ** 2) * _SIGMA_PER_FWHM_RAD**2
    return np.exp(-0.5 * ell * (ell + 1) * d_sigma2)


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
