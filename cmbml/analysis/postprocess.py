"""Common post-processing of truth and predicted CMB maps before they are compared.

Two scoring protocols (:func:`postprocess_map`, :func:`postprocess_pair`):

- ``matched``: both maps are brought to one common resolution (a Gaussian beam and, optionally,
  the HEALPix pixel window) and kept to multipoles ``l <= lmax_compare`` (2 nside by default).
  Both go through the same analysis and synthesis, so a prediction equal to the truth at the
  common resolution scores ~0 (a HEALPix analysis is inexact near l = 3 nside: at 3 nside the
  truth alone re-beamed left ~3 % of the CMB RMS);
- ``published``: CMB-ML's, no filtering at all (each map at its own resolution).

(CMB-ML's ICCV 2025 protocol, ``iccv2025``, brings both maps to each of several target beams:
:func:`cmbml.analysis.cmb_ml.to_target_beam`, built on :func:`filter_maps` and
:func:`remove_dipole_and_mask`.)

Then, in both, the monopole and dipole fitted on the unmasked pixels are removed from the
intensity and the masked pixels set to zero. Maps are HEALPix RING maps in uK_CMB: intensity
``(npix,)`` or I, Q, U ``(3, npix)``. Q and U are one spin-2 field: they are filtered through
their E and B harmonics with the spin-2 Gaussian beam (the pixel window is the intensity one, as
the simulation applies it to all three fields), and nothing is fitted to them (a spin-2 field
has no l < 2 modes; a scalar monopole or dipole fitted to Q or U would remove E and B power).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import healpy as hp
import numpy as np

from cmbml import sphere
from cmbml.analysis.fields import is_iqu

__all__ = [
    "Resolution",
    "apply_mask",
    "filter_maps",
    "fit_monopole_dipole",
    "postprocess_map",
    "postprocess_pair",
    "rebeam",
    "remove_dipole_and_mask",
    "remove_monopole_dipole",
    "transfer_function",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Resolution:
    """Effective resolution of a map.

    Attributes
    ----------
    fwhm_arcmin : float
        Gaussian beam FWHM (arcmin); 0 for an unbeamed map.
    pixwin : bool
        Whether the map carries the HEALPix pixel window of its nside.
    """

    fwhm_arcmin: float = 0.0
    pixwin: bool = False


def transfer_function(
    nside: int, lmax: int, source: Resolution, target: Resolution, *, pol: bool = False
) -> np.ndarray:
    """Harmonic filter f_l taking a map from the ``source`` to the ``target`` resolution.

    The Gaussian part is the beam of FWHM ``sqrt(target**2 - source**2)`` (exact for Gaussian
    beams, spin 0 and spin 2 alike, and free of the 0/0 that the ratio of two narrow beams gives
    at high l).

    Parameters
    ----------
    nside : int
        Resolution of the maps (for the pixel window).
    lmax : int
        Maximum multipole.
    source, target : Resolution
        Native and wanted resolutions.
    pol : bool
        The filter of the E and B harmonics of Q, U maps (the spin-2 Gaussian beam).

    Returns
    -------
    np.ndarray
        ``(lmax + 1,)`` filter.

    Raises
    ------
    ValueError
        If the target beam is narrower than the source beam (a deconvolution that amplifies
        small scales without bound).
    """
    if target.fwhm_arcmin < source.fwhm_arcmin:
        raise ValueError(
            f"cannot re-beam from {source.fwhm_arcmin} arcmin to the narrower "
            f"{target.fwhm_arcmin} arcmin: the common beam must be at least the native beam"
        )
    fwhm = float(np.sqrt(target.fwhm_arcmin**2 - source.fwhm_arcmin**2))
    fl = sphere.gaussian_beam(fwhm, lmax, pol=True)[int(pol)]
    if source.pixwin != target.pixwin:
        window = _pixel_window(nside)[: lmax + 1]
        fl = fl * window if target.pixwin else fl / window
    return fl


def _pixel_window(nside: int) -> np.ndarray:
    # always the full 3 nside - 1 range, so that cmbml.sphere's cache is hit whatever lmax is
    return sphere.pixel_window(nside)


def rebeam(
    maps: np.ndarray,
    source: Resolution,
    target: Resolution,
    *,
    lmax: int | None = None,
    niter: int = 3,
    nthreads: int = 0,
) -> np.ndarray:
    """Change the resolution of maps by filtering their spherical harmonics.

    Parameters
    ----------
    maps : np.ndarray
        ``(npix,)`` or ``(n_maps, npix)`` RING maps (uK_CMB), all at the same ``source``.
    source, target : Resolution
        Native and wanted resolution.
    lmax : int, optional
        Band limit of the transforms (default ``3 nside - 1``).
    niter : int
        Iterations of the analysis (see :func:`cmbml.sphere.map2alm`).
    nthreads : int
        Threads for the transforms (0: default).

    Returns
    -------
    np.ndarray
        float64 maps with the shape of ``maps``; a copy without transform if the resolutions are
        equal.
    """
    maps = np.asarray(maps, dtype=np.float64)
    if source == target:
        return maps.copy()
    nside = hp.npix2nside(maps.shape[-1])
    lmax = 3 * nside - 1 if lmax is None else int(lmax)
    fl = transfer_function(nside, lmax, source, target)
    alm = sphere.map2alm(maps, lmax, niter=niter, nthreads=nthreads)
    return sphere.alm2map(sphere.almxfl(alm, fl), nside, lmax, nthreads=nthreads)


def _binary(mask: np.ndarray, npix: int) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.shape != (npix,):
        raise ValueError(f"mask must have shape ({npix},) like the maps, got {mask.shape}")
    good = mask > 0
    if not good.any():
        raise ValueError("mask has no unmasked pixel (all values <= 0)")
    return good


@functools.lru_cache(maxsize=2)
def _pixel_vectors(nside: int) -> np.ndarray:
    """``(3, npix)`` unit vectors of the RING pixel centres (read-only, cached)."""
    vec = np.array(hp.pix2vec(nside, np.arange(12 * nside * nside)))
    vec.setflags(write=False)
    return vec


def fit_monopole_dipole(maps: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Least-squares fit of ``a0 + a1 x + a2 y + a3 z`` on the unmasked pixels.

    Parameters
    ----------
    maps : np.ndarray
        ``(npix,)`` or ``(n_maps, npix)`` RING maps (uK_CMB).
    mask : np.ndarray
        ``(npix,)`` mask; pixels with value > 0 are used.

    Returns
    -------
    np.ndarray
        ``(4,)`` or ``(n_maps, 4)`` coefficients (monopole, dipole x, y, z) in uK_CMB; (x, y, z)
        is the pixel-centre unit vector.
    """
    maps = np.asarray(maps, dtype=np.float64)
    good = _binary(mask, maps.shape[-1]).astype(np.float64)
    vec = _pixel_vectors(hp.npix2nside(maps.shape[-1]))
    # normal equations of the design [1, x, y, z] restricted to the unmasked pixels
    masked_vec = vec * good
    normal = np.empty((4, 4))
    normal[0, 0] = good.sum()
    normal[0, 1:] = normal[1:, 0] = masked_vec.sum(axis=1)
    normal[1:, 1:] = masked_vec @ vec.T
    masked_maps = maps * good
    rhs = np.concatenate([masked_maps.sum(axis=-1)[..., None], masked_maps @ vec.T], axis=-1)
    return np.linalg.solve(normal, rhs.T).T


def remove_monopole_dipole(maps: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Subtract, over the full sky, the monopole and dipole fitted on the unmasked pixels.

    Parameters
    ----------
    maps : np.ndarray
        ``(npix,)`` or ``(n_maps, npix)`` RING maps (uK_CMB).
    mask : np.ndarray
        ``(npix,)`` mask; pixels with value > 0 define the fit.

    Returns
    -------
    np.ndarray
        float64 maps, same shape.
    """
    maps = np.asarray(maps, dtype=np.float64)
    coef = fit_monopole_dipole(maps, mask)
    vec = _pixel_vectors(hp.npix2nside(maps.shape[-1]))
    fitted = coef[..., 1:] @ vec
    fitted += coef[..., :1]
    return np.subtract(maps, fitted, out=fitted)


def apply_mask(maps: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Zero the masked pixels (mask value <= 0) of ``(npix,)`` or ``(n_maps, npix)`` maps."""
    maps = np.asarray(maps, dtype=np.float64)
    good = _binary(mask, maps.shape[-1])
    return np.where(good, maps, 0.0)


def postprocess_map(
    maps: np.ndarray,
    mask: np.ndarray,
    *,
    resolution: Resolution,
    common_resolution: Resolution,
    protocol: str = "matched",
    lmax_compare: int | None = None,
    niter: int = 3,
    nthreads: int = 0,
) -> np.ndarray:
    """Post-process one map (intensity or I, Q, U) under a scoring protocol.

    ``matched``: analyse the map to ``3 nside - 1`` (T, or T, E, B), multiply by the filters
    taking it from ``resolution`` to ``common_resolution`` (the spin-2 ones for E and B) and zero
    ``l > lmax_compare``, synthesise. ``published``: no transform. Then remove the monopole and
    dipole of the intensity fitted on the unmasked pixels and zero the masked pixels.

    Parameters
    ----------
    maps : np.ndarray
        ``(npix,)`` intensity or ``(3, npix)`` I, Q, U RING map (uK_CMB).
    mask : np.ndarray
        ``(npix,)`` binary mask (1 = kept).
    resolution : Resolution
        Native resolution of the map.
    common_resolution : Resolution
        Resolution maps are compared at (``matched``).
    protocol : str
        ``matched`` or ``published``.
    lmax_compare : int, optional
        Band limit of the ``matched`` comparison (default ``2 nside``).
    niter, nthreads
        Transform settings, see :func:`rebeam`.

    Returns
    -------
    np.ndarray
        float64 map of the shape of ``maps``, zero on masked pixels.
    """
    maps = np.asarray(maps, dtype=np.float64)
    if protocol not in ("matched", "published"):
        raise ValueError(f"protocol must be 'matched' or 'published', got {protocol!r}")
    if protocol == "matched":
        nside = hp.npix2nside(maps.shape[-1])
        band = 3 * nside - 1
        lmax_compare = 2 * nside if lmax_compare is None else int(lmax_compare)
        if not 2 <= lmax_compare <= band:
            raise ValueError(f"lmax_compare={lmax_compare} must be in [2, 3 nside - 1 = {band}]")
        keep = np.arange(band + 1) <= lmax_compare
        spin0 = transfer_function(nside, band, resolution, common_resolution) * keep
        spin2 = transfer_function(nside, band, resolution, common_resolution, pol=True) * keep
        maps = filter_maps(maps, spin0, spin2, niter=niter, nthreads=nthreads)
    return remove_dipole_and_mask(maps, mask)


def filter_maps(
    maps: np.ndarray,
    spin0: np.ndarray,
    spin2: np.ndarray | None = None,
    *,
    niter: int = 3,
    nthreads: int = 0,
) -> np.ndarray:
    """Multiply the harmonics of a map by a filter: T by ``spin0``, E and B by ``spin2``.

    Parameters
    ----------
    maps : np.ndarray
        ``(npix,)`` intensity or ``(3, npix)`` I, Q, U RING map (uK_CMB).
    spin0, spin2 : np.ndarray
        ``(band + 1,)`` filters; the transforms stop at ``band`` (``spin2`` is used for I, Q, U
        maps only).
    niter, nthreads
        Transform settings, see :func:`rebeam`.

    Returns
    -------
    np.ndarray
        float64 map of the shape of ``maps``.
    """
    maps = np.asarray(maps, dtype=np.float64)
    pol = is_iqu(maps, "the map")
    nside = hp.npix2nside(maps.shape[-1])
    band = spin0.size - 1
    alm = sphere.map2alm(maps, band, pol=pol, niter=niter, nthreads=nthreads)
    alm = sphere.almxfl(alm, np.stack([spin0, spin2, spin2]) if pol else spin0)
    return sphere.alm2map(alm, nside, band, pol=pol, nthreads=nthreads)


def remove_dipole_and_mask(maps: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Remove the intensity's monopole and dipole fitted on the kept pixels, zero the masked
    pixels (Q and U are not fitted); a new float64 array of the shape of ``maps``."""
    maps = np.asarray(maps, dtype=np.float64)
    if is_iqu(maps, "the map"):
        maps = np.concatenate([remove_monopole_dipole(maps[:1], mask), maps[1:]])
    else:
        maps = remove_monopole_dipole(maps, mask)
    return apply_mask(maps, mask)


def postprocess_pair(
    truth: np.ndarray,
    prediction: np.ndarray,
    mask: np.ndarray,
    *,
    prediction_resolution: Resolution,
    common_resolution: Resolution,
    truth_resolution: Resolution = Resolution(),
    protocol: str = "matched",
    lmax_compare: int | None = None,
    niter: int = 3,
    nthreads: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Post-process a truth and a predicted map under a scoring protocol
    (:func:`postprocess_map` of each).

    Parameters
    ----------
    truth, prediction : np.ndarray
        ``(npix,)`` intensity or ``(3, npix)`` I, Q, U RING maps (uK_CMB), of equal shapes.
    mask : np.ndarray
        ``(npix,)`` binary mask (1 = kept).
    prediction_resolution : Resolution
        Native resolution of the prediction (the method's output beam).
    common_resolution : Resolution
        Resolution both maps are compared at (``matched``).
    truth_resolution : Resolution
        Native resolution of the truth (default unbeamed, no pixel window).
    protocol : str
        ``matched`` or ``published``.
    lmax_compare : int, optional
        Band limit of the ``matched`` comparison (default ``2 nside``).
    niter, nthreads
        Transform settings, see :func:`rebeam`.

    Returns
    -------
    truth_pp, prediction_pp : np.ndarray
        float64 post-processed maps of the inputs' shape, zero on masked pixels.
    """
    truth = np.asarray(truth, dtype=np.float64)
    prediction = np.asarray(prediction, dtype=np.float64)
    is_iqu(truth, "truth")
    if truth.shape != prediction.shape:
        raise ValueError(
            f"truth and prediction must have equal shapes, got {truth.shape} and {prediction.shape}"
        )
    options = dict(
        common_resolution=common_resolution,
        protocol=protocol,
        lmax_compare=lmax_compare,
        niter=niter,
        nthreads=nthreads,
    )
    return (
        postprocess_map(truth, mask, resolution=truth_resolution, **options),
        postprocess_map(prediction, mask, resolution=prediction_resolution, **options),
    )
