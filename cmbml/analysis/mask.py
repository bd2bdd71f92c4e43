"""The analysis mask: the Planck NILC confidence mask (TMASK) as CMB-ML uses it, and its weight.

CMB-ML's analysis (``basic_analysis.yaml``) keeps the pixels where the ``TMASK`` column of the
Planck 2018 NILC CMB map (``COM_CMB_IQU-nilc_2048_R3.00_full.fits``), averaged to the map's
nside, is at least 0.9 (the threshold of Planck 2015 results IX). :func:`planck_tmask` does the
same; :func:`apodize` turns a binary mask into the weight of the power spectra with pspy's C1
window (``(1 - cos(pi d / d_apo)) / 2`` at distance ``d`` from the nearest masked pixel);
:func:`c1_apodize` is NaMaster's C1 window, which CMB-ML's spectra use.
"""

from __future__ import annotations

from pathlib import Path

import healpy as hp
import numpy as np

from cmbml.core.errors import BadInputError

__all__ = ["apodize", "c1_apodize", "planck_column", "planck_tmask"]


def planck_column(path: str | Path, column: str) -> tuple[np.ndarray, str, str]:
    """One column of a Planck HEALPix table: values, ordering (``RING``/``NESTED``) and unit.

    Raises
    ------
    BadInputError
        The file has no such column, or the column is not a HEALPix map.
    """
    from astropy.io import fits

    path = Path(path)
    with fits.open(path, memmap=True) as hdul:
        tables = [h for h in hdul[1:] if getattr(h, "columns", None) is not None]
        found = [h for h in tables if column in h.columns.names]
        if not found:
            names = sorted({n for h in tables for n in h.columns.names})
            raise BadInputError(f"{path} has no column {column!r} (columns: {names})")
        hdu = found[0]
        values = np.asarray(hdu.data[column], dtype=np.float64).ravel()
        ordering = str(hdu.header.get("ORDERING", "RING")).strip().upper()
        unit = str(hdu.columns[column].unit or "").strip()
    if not hp.isnpixok(values.size) or ordering not in ("RING", "NESTED"):
        raise BadInputError(
            f"{path} ({column}): {values.size} values in {ordering} ordering is not a HEALPix map"
        )
    return values, ordering, unit


def planck_tmask(
    path: str | Path, nside: int, *, column: str = "TMASK", threshold: float = 0.9
) -> np.ndarray:
    """Binary mask from a column of a Planck HEALPix table, averaged to ``nside``, thresholded.

    Parameters
    ----------
    path : str or Path
        FITS file with a binary-table HDU holding ``column`` (RING or NESTED, any nside).
    nside : int
        Output resolution (RING).
    column : str
        Mask column (``TMASK`` in the NILC CMB map file).
    threshold : float
        Pixels whose averaged value is >= ``threshold`` are kept.

    Returns
    -------
    np.ndarray
        ``(12 nside^2,)`` float64, 1 kept and 0 masked.

    Raises
    ------
    BadInputError
        The file has no such column, or the column is not a HEALPix map.
    """
    values, ordering, _ = planck_column(path, column)
    mean = hp.ud_grade(values, int(nside), order_in=ordering, order_out="RING")
    return np.where(mean >= threshold, 1.0, 0.0)


def apodize(binary: np.ndarray, radius_deg: float) -> np.ndarray:
    """pspy's C1 apodisation of a binary RING mask (0 where masked, 1 beyond ``radius_deg``).

    Parameters
    ----------
    binary : np.ndarray
        ``(npix,)`` mask of zeros and ones.
    radius_deg : float
        Apodisation radius, degrees (0: the binary mask itself).

    Returns
    -------
    np.ndarray
        ``(npix,)`` weight in [0, 1].
    """
    binary = _binary(binary, "apodize", radius_deg)
    if radius_deg == 0 or binary.all():
        return binary.copy()
    from pspy import so_map, so_window

    template = so_map.healpix_template(ncomp=1, nside=hp.npix2nside(binary.size))
    template.data[:] = binary
    window = so_window.create_apodization(template, "C1", float(radius_deg)).data
    return np.clip(np.asarray(window, dtype=np.float64), 0.0, 1.0) * binary


def c1_apodize(binary: np.ndarray, radius_deg: float) -> np.ndarray:
    """NaMaster's C1 apodisation of a binary RING mask (``nmt.mask_apodization(.., "C1")``).

    A kept pixel at angular distance ``d`` from the nearest masked pixel (searched within
    ``1.2 radius``) is weighted ``x - sin(2 pi x) / (2 pi)`` with
    ``x = sqrt((1 - cos d) / (1 - cos radius))`` when ``x < 1``; masked pixels stay 0.

    Parameters
    ----------
    binary : np.ndarray
        ``(npix,)`` mask of zeros and ones.
    radius_deg : float
        Apodisation scale, degrees (CMB-ML: 20.6 arcmin; 0: the binary mask itself).

    Returns
    -------
    np.ndarray
        ``(npix,)`` weight in [0, 1].
    """
    binary = _binary(binary, "c1_apodize", radius_deg)
    if radius_deg == 0 or binary.all() or not binary.any():
        return binary.copy()
    nside = hp.npix2nside(binary.size)
    radius = np.radians(radius_deg)
    search = 1.2 * radius
    kept = binary > 0
    vec = np.array(hp.pix2vec(nside, np.arange(binary.size)))
    neighbours = hp.get_all_neighbours(nside, np.arange(binary.size))
    edge = ~kept & (kept[neighbours] & (neighbours >= 0)).any(axis=0)
    # kept pixels that may have a masked pixel within the search radius
    reach = search + 2 * hp.max_pixrad(nside)
    discs = [hp.query_disc(nside, vec[:, p], reach, inclusive=True) for p in np.flatnonzero(edge)]
    near = np.unique(np.concatenate(discs))
    near = near[kept[near]]
    weight = binary.copy()
    threshold = 1.0 - np.cos(radius)
    for pix in near:
        disc = hp.query_disc(nside, vec[:, pix], search, inclusive=True)
        disc = disc[~kept[disc]]
        if disc.size == 0:
            continue
        x2 = 1.0 - np.max(vec[:, disc].T @ vec[:, pix])
        if x2 < threshold:
            x = np.sqrt(max(x2, 0.0) / threshold)
            weight[pix] = x - np.sin(2 * np.pi * x) / (2 * np.pi)
    return weight


def _binary(binary: np.ndarray, who: str, radius_deg: float) -> np.ndarray:
    """``binary`` as float64 zeros and ones, checked with the apodisation radius (degrees)."""
    binary = np.asarray(binary, dtype=np.float64)
    if not np.isin(binary, (0.0, 1.0)).all():
        raise ValueError(f"{who} needs a binary mask of zeros and ones")
    if radius_deg < 0:
        raise ValueError(f"apodisation radius must be >= 0 deg, got {radius_deg}")
    return binary
