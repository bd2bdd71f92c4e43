"""Spherical-harmonic utilities shared by every cmbml package.

Fast, threaded, batched transforms on HEALPix RING maps (ducc0), the Gaussian beam and a pixel
window function computed locally, so that nothing needs a download (``healpy.pixwin`` fetches its
tables from the web at run time).

All alm arrays use healpy's ordering (m-major, ``healpy.Alm.getidx``) with ``mmax = lmax``.
"""

from __future__ import annotations

import functools

import ducc0
import healpy as hp
import numpy as np

from cmbml.core.numeric import default_threads
from cmbml.pixwin import pixel_window

__all__ = [
    "alm2map",
    "alm2map_spin2",
    "almxfl",
    "gaussian_beam",
    "map2alm",
    "map2alm_spin2",
    "n_threads",
    "nalm",
    "pixel_window",
    "resample",
]


def n_threads(nthreads: int = 0) -> int:
    """Threads for the transforms: ``nthreads`` if > 0, else ``CMBML_NTHREADS`` or the CPUs this
    process may run on (:func:`cmbml.core.numeric.default_threads`)."""
    return nthreads if nthreads > 0 else default_threads()


def nalm(lmax: int) -> int:
    """Number of alm coefficients for ``lmax`` (``mmax = lmax``)."""
    return (lmax + 1) * (lmax + 2) // 2


@functools.lru_cache(maxsize=32)
def _geometry(nside: int) -> dict:
    return ducc0.healpix.Healpix_Base(nside, "RING").sht_info()


def _as_batch(arr: np.ndarray, n_last_dims: int) -> tuple[np.ndarray, tuple]:
    lead = arr.shape[: arr.ndim - n_last_dims]
    return arr.reshape((-1,) + arr.shape[arr.ndim - n_last_dims :]), lead


def _synthesis(
    alm: np.ndarray, nside: int, lmax: int, spin: int, nthreads: int, dtype=np.float64
) -> np.ndarray:
    """alm (ntrans, ncomp, nalm) -> maps (ntrans, ncomp, npix) of ``dtype`` (float32: the
    transform runs in single precision)."""
    geom = _geometry(nside)
    out = np.empty(alm.shape[:2] + (12 * nside * nside,), dtype=dtype)
    if out.dtype == np.float32:
        alm = alm.astype(np.complex64, copy=False)
    for i in range(alm.shape[0]):
        ducc0.sht.synthesis(alm=alm[i], lmax=lmax, spin=spin, nthreads=nthreads, map=out[i], **geom)
    return out


def _adjoint(maps: np.ndarray, nside: int, lmax: int, spin: int, nthreads: int) -> np.ndarray:
    """maps (ntrans, ncomp, npix) -> alm (ntrans, ncomp, nalm), quadrature weight 4 pi / npix."""
    geom = _geometry(nside)
    out = np.empty(maps.shape[:2] + (nalm(lmax),), dtype=np.complex128)
    weight = 4.0 * np.pi / maps.shape[-1]
    for i in range(maps.shape[0]):
        ducc0.sht.adjoint_synthesis(
            map=maps[i] * weight, lmax=lmax, spin=spin, nthreads=nthreads, alm=out[i], **geom
        )
    return out


def _check_npix(maps: np.ndarray) -> int:
    npix = maps.shape[-1]
    if not hp.isnpixok(npix):
        raise ValueError(f"last axis has {npix} pixels, which is not a valid HEALPix size")
    return hp.npix2nside(npix)


def map2alm(
    maps: np.ndarray, lmax: int, *, pol: bool = False, niter: int = 0, nthreads: int = 0
) -> np.ndarray:
    """Spherical-harmonic analysis of RING maps.

    Parameters
    ----------
    maps : np.ndarray
        ``(..., npix)`` spin-0 maps, or with ``pol=True`` ``(..., 3, npix)`` I, Q, U maps.
    lmax : int
        Maximum multipole (``mmax = lmax``).
    pol : bool
        Treat the second-to-last axis as (I, Q, U) and return (T, E, B) alm.
    niter : int
        Jacobi iterations refining the quadrature (as healpy's ``iter``); 0 is fastest.
    nthreads : int
        Threads (0: see :func:`n_threads`).

    Returns
    -------
    np.ndarray
        complex128 alm of shape ``(..., nalm)`` or ``(..., 3, nalm)``.
    """
    maps = np.asarray(maps, dtype=np.float64)
    nside = _check_npix(maps)
    nthreads = n_threads(nthreads)
    if pol:
        if maps.ndim < 2 or maps.shape[-2] != 3:
            raise ValueError(f"pol=True needs (..., 3, npix) maps, got shape {maps.shape}")
        batch, lead = _as_batch(maps, 2)
        alm = np.empty(batch.shape[:2] + (nalm(lmax),), dtype=np.complex128)
        alm[:, :1] = _map2alm_spin(batch[:, :1], nside, lmax, 0, niter, nthreads)
        alm[:, 1:] = _map2alm_spin(batch[:, 1:], nside, lmax, 2, niter, nthreads)
        return alm.reshape(lead + (3, -1))
    batch, lead = _as_batch(maps, 1)
    alm = _map2alm_spin(batch[:, None], nside, lmax, 0, niter, nthreads)
    return alm.reshape(lead + (-1,))


def _map2alm_spin(maps, nside, lmax, spin, niter, nthreads):
    alm = _adjoint(maps, nside, lmax, spin, nthreads)
    for _ in range(niter):
        residual = maps - _synthesis(alm, nside, lmax, spin, nthreads)
        alm += _adjoint(residual, nside, lmax, spin, nthreads)
    return alm


def alm2map(
    alms: np.ndarray,
    nside: int,
    lmax: int,
    *,
    pol: bool = False,
    nthreads: int = 0,
    dtype=np.float64,
) -> np.ndarray:
    """Spherical-harmonic synthesis onto HEALPix RING maps.

    Parameters
    ----------
    alms : np.ndarray
        complex ``(..., nalm)`` spin-0 alm, or with ``pol=True`` ``(..., 3, nalm)`` T, E, B alm.
    nside : int
        Output resolution.
    lmax : int
        Maximum multipole of ``alms``.
    pol : bool
        Synthesise (I, Q, U) from (T, E, B).
    nthreads : int
        Threads (0: see :func:`n_threads`).
    dtype : {np.float64, np.float32}
        Output type; float32 synthesises in single precision (~1.3x faster, maps within
        ~5e-8 of their RMS: for maps that are stored as float32).

    Returns
    -------
    np.ndarray
        Maps ``(..., npix)`` or ``(..., 3, npix)`` of ``dtype``.
    """
    single = np.dtype(dtype) == np.float32
    alms = np.asarray(alms, dtype=np.complex64 if single else np.complex128)
    if alms.shape[-1] != nalm(lmax):
        raise ValueError(f"alm last axis has {alms.shape[-1]} entries, expected {nalm(lmax)}")
    nthreads = n_threads(nthreads)
    if pol:
        if alms.ndim < 2 or alms.shape[-2] != 3:
            raise ValueError(f"pol=True needs (..., 3, nalm) alm, got shape {alms.shape}")
        batch, lead = _as_batch(alms, 2)
        out = np.empty(batch.shape[:2] + (12 * nside * nside,), dtype=dtype)
        out[:, :1] = _synthesis(batch[:, :1], nside, lmax, 0, nthreads, dtype)
        out[:, 1:] = _synthesis(batch[:, 1:], nside, lmax, 2, nthreads, dtype)
        return out.reshape(lead + (3, -1))
    batch, lead = _as_batch(alms, 1)
    return _synthesis(batch[:, None], nside, lmax, 0, nthreads, dtype).reshape(lead + (-1,))


def map2alm_spin2(maps: np.ndarray, lmax: int, *, niter: int = 0, nthreads: int = 0) -> np.ndarray:
    """Spin-2 analysis: Stokes Q, U RING maps to E, B alm (healpy's convention).

    Parameters
    ----------
    maps : np.ndarray
        ``(..., 2, npix)`` Q and U maps.
    lmax : int
        Maximum multipole (``mmax = lmax``).
    niter : int
        Jacobi iterations refining the quadrature (as healpy's ``iter``).
    nthreads : int
        Threads (0: see :func:`n_threads`).

    Returns
    -------
    np.ndarray
        complex128 ``(..., 2, nalm)`` E and B alm (zero for ``l < 2``).
    """
    maps = np.asarray(maps, dtype=np.float64)
    nside = _check_npix(maps)
    if maps.ndim < 2 or maps.shape[-2] != 2:
        raise ValueError(f"spin-2 analysis needs (..., 2, npix) Q, U maps, got shape {maps.shape}")
    batch, lead = _as_batch(maps, 2)
    alm = _map2alm_spin(batch, nside, lmax, 2, niter, n_threads(nthreads))
    return alm.reshape(lead + (2, -1))


def alm2map_spin2(alms: np.ndarray, nside: int, lmax: int, *, nthreads: int = 0) -> np.ndarray:
    """Spin-2 synthesis: E, B alm to Stokes Q, U RING maps (healpy's convention).

    Parameters
    ----------
    alms : np.ndarray
        complex ``(..., 2, nalm)`` E and B alm.
    nside : int
        Output resolution.
    lmax : int
        Maximum multipole of ``alms``.
    nthreads : int
        Threads (0: see :func:`n_threads`).

    Returns
    -------
    np.ndarray
        float64 ``(..., 2, npix)`` Q and U maps.
    """
    alms = np.asarray(alms, dtype=np.complex128)
    if alms.ndim < 2 or alms.shape[-2] != 2 or alms.shape[-1] != nalm(lmax):
        raise ValueError(
            f"spin-2 synthesis needs (..., 2, {nalm(lmax)}) E, B alm for lmax {lmax}, "
            f"got shape {alms.shape}"
        )
    batch, lead = _as_batch(alms, 2)
    return _synthesis(batch, nside, lmax, 2, n_threads(nthreads)).reshape(lead + (2, -1))


def almxfl(alm: np.ndarray, fl: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Multiply alm ``(..., nalm)`` by a filter ``fl`` ``(..., lmax + 1)`` (broadcast over ...),
    into ``out`` if given (e.g. a row of a batch, or complex64 for a single-precision synthesis).
    """
    alm = np.asarray(alm)
    fl = np.asarray(fl)
    lmax = hp.Alm.getlmax(alm.shape[-1])
    if fl.shape[-1] < lmax + 1:
        raise ValueError(f"filter has {fl.shape[-1]} multipoles, alm need {lmax + 1}")
    ell = _alm_ell(lmax)
    return np.multiply(alm, fl[..., ell], out=out)


@functools.lru_cache(maxsize=16)
def _alm_ell(lmax: int) -> np.ndarray:
    return hp.Alm.getlm(lmax)[0]


def gaussian_beam(fwhm_arcmin: float, lmax: int, pol: bool = False) -> np.ndarray:
    """Gaussian beam transfer function b_l.

    Parameters
    ----------
    fwhm_arcmin : float
        Full width at half maximum, arcmin (0 gives b_l = 1).
    lmax : int
        Maximum multipole.
    pol : bool
        If True return ``(2, lmax + 1)``: temperature and spin-2 (E/B) beams.

    Returns
    -------
    np.ndarray
        ``(lmax + 1,)`` or ``(2, lmax + 1)``.
    """
    if fwhm_arcmin < 0:
        raise ValueError(f"beam FWHM must be >= 0 arcmin, got {fwhm_arcmin}")
    sigma = np.radians(fwhm_arcmin / 60.0) / np.sqrt(8.0 * np.log(2.0))
    ell = np.arange(lmax + 1)
    bl_t = np.exp(-0.5 * ell * (ell + 1) * sigma**2)
    if not pol:
        return bl_t
    return np.stack([bl_t, bl_t * np.exp(2.0 * sigma**2)])


def resample(maps: np.ndarray, fwhm_in: float, fwhm_out: float, nside: int) -> np.ndarray:
    """Replace the Gaussian beam and pixel window of a map and synthesise it at ``nside``.

    Parameters
    ----------
    maps : np.ndarray
        ``(1, npix_in)`` I or ``(3, npix_in)`` I, Q, U RING maps at resolution ``nside_in``
        (>= ``nside``), with beam ``fwhm_in`` and the ``nside_in`` pixel window.
    fwhm_in, fwhm_out : float
        Beam FWHM of the input and of the output, arcmin (``fwhm_out >= fwhm_in``).
    nside : int
        Output resolution.

    Returns
    -------
    np.ndarray
        ``(n_fields, 12 nside**2)``: ``alm * b_out p_nside / (b_in p_nside_in)`` to
        ``lmax = 3 nside - 1`` (E and B with the spin-2 beams).
    """
    if fwhm_out < fwhm_in:
        raise ValueError(f"cannot sharpen a {fwhm_in}' beam to {fwhm_out}'")
    maps = np.atleast_2d(np.asarray(maps, dtype=np.float64))
    lmax = 3 * nside - 1
    nside_in = hp.npix2nside(maps.shape[-1])
    ratio = gaussian_beam(fwhm_out, lmax, pol=True) / gaussian_beam(fwhm_in, lmax, pol=True)
    window = pixel_window(nside, lmax) / pixel_window(nside_in, lmax)
    pol = maps.shape[0] == 3
    alm = np.atleast_2d(map2alm(maps if pol else maps[0], lmax, pol=pol, niter=3))
    fl = [ratio[0], ratio[1], ratio[1]][: alm.shape[0]]
    out = np.stack([almxfl(a, f * window) for a, f in zip(alm, fl, strict=True)])
    return np.atleast_2d(alm2map(out if pol else out[0], nside, lmax, pol=pol))
