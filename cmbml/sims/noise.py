"""Instrument noise: per-pixel sigma maps and noise realisations (uK_CMB, RING).

Sigma maps come either from a white-noise sensitivity s (uK_CMB·arcmin): sigma = s / sqrt(Omega_pix)
with Omega_pix the pixel solid angle in arcmin^2 (optionally modulated by a smooth synthetic
scan-depth pattern), or from the variance columns of Planck frequency maps (II_COV, QQ_COV,
UU_COV), converted to uK_CMB^2 at the detector centre frequency (delta bandpass) and downgraded
as the variance of the mean of the children pixels.

Realisations are white (sigma times a standard normal per pixel) or white plus 1/f noise whose
power is (l_knee / l)^alpha times the white level (total N_l = white x (1 + (l_knee/l)^alpha)),
both drawn from a given ``np.random.Generator``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import healpy as hp
import numpy as np

from cmbml import sphere
from cmbml.sims.cmb import gaussian_cmb_alm
from cmbml.sims.healpix_files import downgrade_variance, read_bintable
from cmbml.sims.instrument import parse_unit, unit_factor

__all__ = [
    "VARIANCE_COLUMNS",
    "correlated_noise",
    "one_over_f_shape",
    "pixel_area_arcmin2",
    "read_planck_variance",
    "scan_depth_weights",
    "sigma_maps",
    "white_noise",
    "white_noise_sigma",
]

VARIANCE_COLUMNS = {"I": "II_COV", "Q": "QQ_COV", "U": "UU_COV"}
"""Planck frequency-map column holding the noise variance of each Stokes field."""


def pixel_area_arcmin2(nside: int) -> float:
    """Solid angle of one HEALPix pixel at ``nside``, arcmin^2."""
    return 4.0 * np.pi / (12 * nside * nside) * (180.0 * 60.0 / np.pi) ** 2


def white_noise_sigma(sensitivity_uk_arcmin: float, nside: int) -> float:
    """Per-pixel white-noise sigma (uK_CMB) of a map with sensitivity ``s`` (uK_CMB·arcmin).

    sigma = s / sqrt(Omega_pix / arcmin^2): the noise of a pixel whose side is sqrt(Omega_pix).
    """
    if sensitivity_uk_arcmin < 0:
        raise ValueError(f"sensitivity must be >= 0 uK·arcmin, got {sensitivity_uk_arcmin}")
    return float(sensitivity_uk_arcmin) / np.sqrt(pixel_area_arcmin2(nside))


def scan_depth_weights(
    nside: int, contrast: float = 4.0, width_deg: float = 15.0, coord: str = "G"
) -> np.ndarray:
    """Smooth, deterministic relative variance pattern of a Planck-like scan (mean 1).

    Hits grow towards the ecliptic poles, as for a spin axis near the ecliptic plane:
    ``hits = 1 + contrast * exp(-(90 deg - |beta|)^2 / (2 width^2))`` with beta the ecliptic
    latitude. The variance weight is ``1 / hits`` normalised to mean 1 over the sphere, so
    ``sigma_map = sigma_uniform * sqrt(weights)`` keeps the mean pixel variance unchanged.

    Parameters
    ----------
    nside : int
        Resolution.
    contrast : float
        Extra hits at the ecliptic poles relative to the ecliptic (>= 0; 0 gives uniform depth).
    width_deg : float
        Gaussian width of the deep regions around the poles, degrees.
    coord : str
        Coordinate system of the maps (``"G"`` galactic, ``"E"`` ecliptic, ``"C"`` equatorial).

    Returns
    -------
    np.ndarray
        ``(npix,)`` positive weights with mean exactly 1.
    """
    if contrast < 0 or width_deg <= 0:
        raise ValueError(f"need contrast >= 0 and width_deg > 0, got {contrast}, {width_deg}")
    vec = np.array(hp.pix2vec(nside, np.arange(12 * nside * nside)))
    if coord != "E":
        vec = hp.Rotator(coord=[coord, "E"])(vec)
    beta = np.degrees(np.arcsin(np.clip(vec[2], -1.0, 1.0)))
    hits = 1.0 + contrast * np.exp(-0.5 * ((90.0 - np.abs(beta)) / width_deg) ** 2)
    weights = 1.0 / hits
    return weights / weights.mean()


def sigma_maps(
    levels_uk_arcmin: Sequence[float], nside: int, depth_weights: np.ndarray | None = None
) -> np.ndarray:
    """Per-pixel sigma maps from white-noise levels.

    Parameters
    ----------
    levels_uk_arcmin : sequence of float
        ``(n_fields,)`` sensitivities, uK_CMB·arcmin (e.g. T, P, P for I, Q, U).
    nside : int
        Resolution.
    depth_weights : np.ndarray, optional
        ``(npix,)`` relative variance pattern with mean 1 (:func:`scan_depth_weights`).

    Returns
    -------
    np.ndarray
        ``(n_fields, npix)`` sigma, uK_CMB.
    """
    npix = 12 * nside * nside
    sig = np.array([white_noise_sigma(s, nside) for s in levels_uk_arcmin], dtype=np.float64)
    out = np.repeat(sig[:, None], npix, axis=1)
    if depth_weights is not None:
        w = np.asarray(depth_weights, dtype=np.float64)
        if w.shape != (npix,) or (w <= 0).any():
            raise ValueError(f"depth_weights must be positive with shape ({npix},), got {w.shape}")
        out *= np.sqrt(w)
    return out


def read_planck_variance(
    path: str | Path,
    nside: int,
    freq_ghz: float,
    fields: str = "I",
    *,
    option: str | None = None,
) -> np.ndarray:
    """Noise variance maps (uK_CMB^2) from a Planck frequency-map FITS file.

    Reads the ``II_COV`` (and ``QQ_COV``, ``UU_COV`` for ``fields="IQU"``) columns of HDU 1,
    converts them from the file's unit (``TUNITn``: K_CMB^2, (MJy/sr)^2, ...; if the column has
    no unit, the square of the ``I_STOKES`` unit) to uK_CMB^2 at ``freq_ghz`` (delta bandpass),
    reorders NESTED to RING and downgrades to ``nside`` (variance of the mean of the children:
    ``mean(var) / k^2`` for k^2 children).

    Parameters
    ----------
    path : str or Path
        Planck frequency map (e.g. ``HFI_SkyMap_100_2048_R3.01_full.fits``).
    nside : int
        Output resolution (<= the file's).
    freq_ghz : float
        Detector centre frequency for the unit conversion, GHz.
    fields : str
        ``"I"`` or ``"IQU"``.
    option : str, optional
        Configuration choice that asked for the file (named if the file is missing).

    Returns
    -------
    np.ndarray
        ``(n_fields, npix)`` variance, uK_CMB^2.

    Raises
    ------
    FileNotFoundError
        Missing file (message names it and ``option``).
    ValueError
        Missing column, unknown unit, non-positive variance, or an nside it cannot reach.
    """
    if fields not in ("I", "IQU"):
        raise ValueError(f"fields must be 'I' or 'IQU', got {fields!r}")
    out = np.empty((len(fields), 12 * nside * nside))
    for i, col in enumerate(VARIANCE_COLUMNS[f] for f in fields):
        table = read_bintable(path, [col], option=option)  # one column at a time: memory
        unit_text = table.units[col] or table.units.get("I_STOKES", "")
        if not unit_text:
            raise ValueError(f"{table.path}: column {col} and I_STOKES have no TUNIT")
        try:
            unit, _ = parse_unit(unit_text)
        except ValueError as exc:
            raise ValueError(f"{table.path}, column {col}: {exc}") from exc
        factor2 = unit_factor(unit, "uK_CMB", freq_ghz) ** 2
        var = table[col] * factor2
        if (var[np.isfinite(var)] <= 0).any():
            raise ValueError(f"{table.path}: column {col} has non-positive variances")
        out[i] = downgrade_variance(var, nside, source=f"{table.path} ({col})")
    return out


def white_noise(sigma: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """White noise realisation: ``sigma * N(0, 1)`` per pixel and field.

    Parameters
    ----------
    sigma : np.ndarray
        ``(..., npix)`` per-pixel sigma, uK_CMB.
    rng : np.random.Generator
        Source of randomness.
    """
    sigma = np.asarray(sigma, dtype=np.float64)
    noise = rng.standard_normal(sigma.shape)
    noise *= sigma
    return noise


def one_over_f_shape(lmax: int, ell_knee: float, alpha: float) -> np.ndarray:
    """Correlated-to-white power ratio ``(l_knee / l)^alpha``, zero at l = 0, 1.

    Returns
    -------
    np.ndarray
        ``(lmax + 1,)``.
    """
    if ell_knee < 0 or alpha < 0:
        raise ValueError(f"need ell_knee >= 0 and alpha >= 0, got {ell_knee}, {alpha}")
    ell = np.arange(lmax + 1, dtype=np.float64)
    out = np.zeros(lmax + 1)
    out[2:] = (ell_knee / ell[2:]) ** alpha
    return out


def correlated_noise(
    sigma: np.ndarray,
    rng: np.random.Generator,
    ell_knee: float,
    alpha: float,
    lmax: int | None = None,
    *,
    nthreads: int = 0,
) -> np.ndarray:
    """White noise plus 1/f noise: N_l = white x (1 + (l_knee/l)^alpha).

    The white part is ``sigma * g`` (g standard normal per pixel). The 1/f part is ``sigma * u``
    with u an isotropic Gaussian field of spectrum Omega_pix (l_knee/l)^alpha (I; E and B for
    Q, U), synthesised from its alm: it follows the same depth pattern as the white part, and for
    a uniform ``sigma`` the total spectrum is exactly sigma^2 Omega_pix (1 + (l_knee/l)^alpha).
    Monopole and dipole of the 1/f part are zero.

    Parameters
    ----------
    sigma : np.ndarray
        ``(npix,)``, ``(1, npix)`` or ``(3, npix)`` (I, Q, U) sigma, uK_CMB.
    rng : np.random.Generator
        Source of randomness: the white noise ``sigma.shape``, then the alm of u.
    ell_knee, alpha : float
        Knee multipole and slope.
    lmax : int, optional
        Band limit of the 1/f part (default ``3 nside - 1``).
    nthreads : int
        Threads of the transform (0: all).

    Returns
    -------
    np.ndarray
        Noise of the shape of ``sigma``, uK_CMB.
    """
    sigma = np.asarray(sigma, dtype=np.float64)
    nside = hp.npix2nside(sigma.shape[-1])
    lmax = 3 * nside - 1 if lmax is None else int(lmax)
    white = white_noise(sigma, rng)
    pol = sigma.ndim == 2 and sigma.shape[0] == 3
    cl = one_over_f_shape(lmax, ell_knee, alpha) * (4.0 * np.pi / sigma.shape[-1])
    spectra = np.stack([cl, cl, cl, np.zeros_like(cl)]) if pol else cl
    alm = gaussian_cmb_alm(spectra, lmax, rng, pol=pol)
    # single-precision synthesis of the unit field (within ~5e-8 of its RMS), scaled in place
    unit = sphere.alm2map(
        alm if pol else alm[0], nside, lmax, pol=pol, nthreads=nthreads, dtype=np.float32
    )
    white += np.multiply(sigma, unit.reshape(sigma.shape))
    return white
