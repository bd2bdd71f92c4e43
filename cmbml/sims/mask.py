"""Analysis masks: binary masks from foreground intensity or a Planck mask file, and apodisation.

- :func:`foreground_mask`: smooth a foreground intensity map with a Gaussian beam and keep the
  ``fsky`` fraction of pixels with the faintest smoothed emission (default 0.78, the sky
  fraction of the Planck common intensity mask).
- :func:`read_planck_mask`: the ``TMASK`` column of the Planck NILC CMB map file (or any mask
  column), averaged to the target nside and thresholded (kept where >= 0.9).
- :func:`point_source_mask`: holes around the sources brighter than a flux limit in any band
  (as Planck's masks cut the sources of its compact-source catalogue), each of radius
  ``radius_fwhm`` times that band's beam FWHM (Planck 2015 XI: 3 sigma, 1.27 FWHM); a hole
  removes the pixels whose centres lie within it, so holes smaller than a pixel vanish.
- :func:`apodize_c1`: C1 apodisation (as NaMaster's ``C1``): with d the angular distance to the
  nearest masked pixel and x = sqrt((1 - cos d) / (1 - cos d_apo)), the weight is
  ``x - sin(2 pi x) / (2 pi)`` for x < 1 and 1 beyond; values in [0, 1], zero where the binary
  mask is zero.
"""

from __future__ import annotations

from pathlib import Path

import healpy as hp
import numpy as np

from cmbml import sphere
from cmbml.sims.healpix_files import check_nside, downgrade_mean, read_bintable

__all__ = [
    "apodize_c1",
    "foreground_mask",
    "point_source_mask",
    "source_holes",
    "read_planck_mask",
    "smooth_map",
    "threshold_fraction",
]


def smooth_map(values: np.ndarray, fwhm_arcmin: float, *, nthreads: int = 0) -> np.ndarray:
    """Gaussian smoothing of RING maps ``(..., npix)`` (band limit 3 nside - 1)."""
    nside = hp.npix2nside(values.shape[-1])
    lmax = 3 * nside - 1
    alm = sphere.map2alm(values, lmax, niter=1, nthreads=nthreads)
    alm = sphere.almxfl(alm, sphere.gaussian_beam(fwhm_arcmin, lmax))
    return sphere.alm2map(alm, nside, lmax, nthreads=nthreads)


def threshold_fraction(values: np.ndarray, fsky: float) -> np.ndarray:
    """Binary mask (float64 0/1) keeping the ``round(fsky * npix)`` pixels of lowest value."""
    if not 0.0 < fsky <= 1.0:
        raise ValueError(f"fsky must be in (0, 1], got {fsky}")
    values = np.asarray(values, dtype=np.float64)
    n_keep = int(round(fsky * values.size))
    mask = np.zeros(values.size)
    mask[np.argsort(values, kind="stable")[:n_keep]] = 1.0
    return mask


def foreground_mask(
    intensity: np.ndarray,
    fsky: float = 0.78,
    smoothing_fwhm_arcmin: float = 180.0,
    *,
    nthreads: int = 0,
) -> np.ndarray:
    """Binary mask of the faintest ``fsky`` of the sky in smoothed foreground intensity.

    Parameters
    ----------
    intensity : np.ndarray
        ``(npix,)`` foreground intensity (any unit; e.g. uK_CMB at 353 GHz), or
        ``(n_band, npix)``: each band is smoothed and divided by its median, and the pixel-wise
        maximum over bands is thresholded (a pixel bright in any band is masked).
    fsky : float
        Target unmasked fraction.
    smoothing_fwhm_arcmin : float
        Gaussian smoothing before thresholding, arcmin (0: none).

    Returns
    -------
    np.ndarray
        ``(npix,)`` 1 (kept) / 0 (masked), sky fraction ``round(fsky npix) / npix``.
    """
    values = np.atleast_2d(np.asarray(intensity, dtype=np.float64))
    if not np.all(np.isfinite(values)):
        raise ValueError("foreground intensity map has NaN or infinite pixels")
    if smoothing_fwhm_arcmin > 0:
        values = smooth_map(values, smoothing_fwhm_arcmin, nthreads=nthreads)
    if values.shape[0] > 1:
        median = np.median(values, axis=1, keepdims=True)
        if (median <= 0).any():
            raise ValueError("combining bands needs a positive median intensity in each band")
        values = values / median
    return threshold_fraction(values.max(axis=0), fsky)


def point_source_mask(nside: int, catalogues, bands, radius_fwhm: float = 1.27) -> np.ndarray:
    """Binary mask with a hole around every source above a band's flux limit.

    Parameters
    ----------
    nside : int
        Output resolution (RING).
    catalogues : Sequence[cmbml.sims.extragalactic.PointSources]
        Source catalogues (Galactic coordinates).
    bands : Sequence[tuple[float, float, float]]
        ``(freq_ghz, flux_limit_jy, fwhm_arcmin)`` per band: sources with flux density above
        ``flux_limit_jy`` at ``freq_ghz`` are cut.
    radius_fwhm : float
        Hole radius in units of the band's beam FWHM (> 0).

    Returns
    -------
    np.ndarray
        ``(12 nside^2,)`` float64, 0 in the holes, 1 elsewhere.
    """
    if radius_fwhm <= 0:
        raise ValueError(f"radius_fwhm must be > 0, got {radius_fwhm}")
    mask = np.ones(12 * nside * nside)
    for freq_ghz, limit_jy, fwhm_arcmin in bands:
        radius = np.radians(radius_fwhm * fwhm_arcmin / 60.0)
        for cat in catalogues:
            for vec in cat.vectors[cat.fluxes(freq_ghz) > limit_jy]:
                mask[hp.query_disc(nside, vec, radius)] = 0.0
    return mask


def source_holes(components, seed: int, pcfg, detectors, nside: int) -> np.ndarray:
    """:func:`point_source_mask` of the synthetic sources of a foreground config.

    Parameters
    ----------
    components : Mapping
        ``model.sim.foregrounds.components``; the enabled ``kind: point_sources`` entries are
        drawn (:func:`cmbml.sims.extragalactic.make_point_sources`).
    seed : int
        Seed of the synthetic foregrounds.
    pcfg : Mapping
        ``model.sim.mask.point_sources``: ``flux_limits_mjy`` and ``fwhm_arcmin`` per band,
        ``radius_fwhm``.
    detectors : Mapping[int, cmbml.sims.instrument.Detector]
        Bands (with their centre frequencies); those without a flux limit are skipped.
    nside : int
        Output resolution.
    """
    from cmbml.sims.extragalactic import make_point_sources

    catalogues = [
        make_point_sources(c, name, seed)
        for name, c in components.items()
        if c.get("kind") == "point_sources" and c.get("enabled", True)
    ]
    limits = {int(b): float(v) / 1e3 for b, v in pcfg["flux_limits_mjy"].items()}
    fwhm = {int(b): float(v) for b, v in pcfg["fwhm_arcmin"].items()}
    bands = [
        (d.center_ghz, limits[int(band)], fwhm[int(band)])
        for band, d in detectors.items()
        if int(band) in limits and int(band) in fwhm
    ]
    return point_source_mask(nside, catalogues, bands, float(pcfg["radius_fwhm"]))


def read_planck_mask(
    path: str | Path,
    nside: int,
    threshold: float = 0.9,
    column: str = "TMASK",
    *,
    option: str | None = None,
) -> np.ndarray:
    """Binary mask from a Planck mask column (e.g. ``TMASK`` of the NILC CMB map file).

    The column is averaged (or repeated) to ``nside`` and kept where ``>= threshold``.

    Parameters
    ----------
    path : str or Path
        FITS binary table (HDU 1) with the mask column (RING or NESTED).
    nside : int
        Output resolution.
    threshold : float
        Keep pixels whose averaged mask value is >= threshold.
    column : str
        Column name.
    option : str, optional
        Configuration choice that asked for the file (named if the file is missing).

    Returns
    -------
    np.ndarray
        ``(12 nside^2,)`` float64 0/1, RING.
    """
    table = read_bintable(path, [column], option=option)
    values = downgrade_mean(table[column], nside, source=f"{table.path} ({column})")
    check_nside(values, nside, str(table.path))
    return np.where(np.nan_to_num(values, nan=0.0) >= threshold, 1.0, 0.0)


def apodize_c1(mask: np.ndarray, scale_deg: float) -> np.ndarray:
    """C1 apodisation of a binary mask.

    Parameters
    ----------
    mask : np.ndarray
        ``(npix,)`` binary mask (1 kept, 0 masked), RING.
    scale_deg : float
        Apodisation scale d_apo, degrees (> 0).

    Returns
    -------
    np.ndarray
        ``(npix,)`` weights in [0, 1]: 0 where ``mask`` is 0, rising to 1 at distance
        ``scale_deg`` from the nearest masked pixel.
    """
    from scipy.spatial import cKDTree

    if scale_deg <= 0:
        raise ValueError(f"apodisation scale must be > 0 deg, got {scale_deg}")
    mask = np.asarray(mask, dtype=np.float64)
    if not np.isin(mask, (0.0, 1.0)).all():
        raise ValueError("apodize_c1 needs a binary (0/1) mask")
    nside = hp.npix2nside(mask.size)
    out = mask.copy()
    masked = np.flatnonzero(mask == 0)
    if masked.size == 0:
        return out
    kept = np.flatnonzero(mask == 1)
    vec_masked = np.array(hp.pix2vec(nside, masked)).T
    vec_kept = np.array(hp.pix2vec(nside, kept)).T
    one_minus_cos_apo = 1.0 - np.cos(np.radians(scale_deg))
    # chord |u - v| = sqrt(2 (1 - cos d)); pixels farther than the scale get weight 1
    bound = np.sqrt(2.0 * one_minus_cos_apo) * (1.0 + 1e-9)
    chord, _ = cKDTree(vec_masked).query(vec_kept, distance_upper_bound=bound)
    x = np.minimum(np.sqrt(0.5 * chord**2 / one_minus_cos_apo), 1.0)  # inf (far) -> 1
    out[kept] = x - np.sin(2.0 * np.pi * x) / (2.0 * np.pi)
    return out
