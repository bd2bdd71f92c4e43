"""Reading real-asset HEALPix files (Planck frequency maps, Planck masks) and changing nside.

Planck products are FITS binary tables in HDU 1, one column per field (``I_STOKES``, ``II_COV``,
``TMASK``, ...), with ``NSIDE``, ``ORDERING`` (usually ``NESTED``) and ``TUNITn`` header keys.
Columns may be stored as one value per row or as vectors of e.g. 1024 pixels per row. Everything
returned here is RING ordered, float64.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import healpy as hp
import numpy as np

__all__ = [
    "BinTable",
    "check_nside",
    "downgrade_mean",
    "downgrade_variance",
    "read_bintable",
    "require_file",
]

logger = logging.getLogger(__name__)


def require_file(path: str | Path, option: str | None = None) -> Path:
    """Return ``path`` as a Path; raise FileNotFoundError naming it (and ``option``) if absent.

    Parameters
    ----------
    path : str or Path
        The file that must exist.
    option : str, optional
        The configuration choice that asked for the file (e.g.
        ``"model/sim/noise=planck_variance"``), quoted in the message.
    """
    path = Path(path)
    if not path.is_file():
        why = f" (needed by {option})" if option else ""
        raise FileNotFoundError(f"file {path} does not exist{why}")
    return path


def check_nside(maps: np.ndarray, nside: int, source: str) -> None:
    """Raise ValueError naming ``source`` if ``maps`` (``(..., npix)``) is not at ``nside``."""
    npix = np.shape(maps)[-1]
    if npix != 12 * nside * nside:
        found = f"nside {hp.npix2nside(npix)}" if hp.isnpixok(npix) else f"{npix} pixels"
        raise ValueError(f"{source}: map has {found}, expected nside {nside}")


class BinTable(dict):
    """Columns of a HEALPix binary table (name -> RING float64 ``(npix,)``) with metadata.

    Attributes
    ----------
    path : Path
        The file read.
    nside : int
        Resolution of the columns.
    units : dict[str, str]
        Upper-case name of every column in the file -> its TUNIT value ('' when absent).
    """

    def __init__(self, path: Path, nside: int, columns: dict, units: dict) -> None:
        super().__init__(columns)
        self.path = path
        self.nside = nside
        self.units = units


def read_bintable(
    path: str | Path, columns: Sequence[str], *, option: str | None = None
) -> BinTable:
    """Read columns of a HEALPix FITS binary table (HDU 1) into RING float64 maps.

    Parameters
    ----------
    path : str or Path
        FITS file.
    columns : sequence of str
        Column names (case-insensitive).
    option : str, optional
        Configuration choice that asked for the file (named in the missing-file error).

    Returns
    -------
    BinTable
        Column name (as requested) -> ``(npix,)`` float64 RING; ``.units`` (of every column),
        ``.nside``, ``.path``.
        Pixels flagged as bad (healpy UNSEEN, NaN) are returned as NaN.

    Raises
    ------
    FileNotFoundError
        The file does not exist (message names it and ``option``).
    ValueError
        Not a binary table, a missing column, inconsistent NSIDE or unknown ORDERING.
    """
    from astropy.io import fits

    path = require_file(path, option)
    with fits.open(path, memmap=True) as hdul:
        if len(hdul) < 2 or not isinstance(hdul[1], fits.BinTableHDU):
            raise ValueError(f"{path}: expected a HEALPix binary table in HDU 1")
        hdu = hdul[1]
        header = hdu.header
        names = {n.upper(): n for n in hdu.columns.names}
        missing = [c for c in columns if c.upper() not in names]
        if missing:
            raise ValueError(
                f"{path}: column(s) {', '.join(missing)} not found; columns present: "
                f"{', '.join(hdu.columns.names)}"
            )
        ordering = str(header.get("ORDERING", "RING")).strip().upper()
        if ordering not in ("RING", "NESTED"):
            raise ValueError(f"{path}: ORDERING is {ordering!r}, expected 'RING' or 'NESTED'")
        if "ORDERING" not in header:
            logger.warning("%s has no ORDERING key; assuming RING", path)
        units = {
            n.upper(): str(header.get(f"TUNIT{i}", "")).strip()
            for i, n in enumerate(hdu.columns.names, start=1)
        }
        data = {c: np.array(hdu.data[names[c.upper()]], dtype=np.float64).ravel() for c in columns}
    npix = data[columns[0]].size
    if not hp.isnpixok(npix) or any(v.size != npix for v in data.values()):
        raise ValueError(f"{path}: columns do not hold one valid HEALPix map each ({npix} values)")
    nside = hp.npix2nside(npix)
    if "NSIDE" in header and int(header["NSIDE"]) != nside:
        raise ValueError(
            f"{path}: NSIDE header is {header['NSIDE']} but the data have nside {nside}"
        )
    for col, values in data.items():
        bad = ~np.isfinite(values) | np.isclose(values, hp.UNSEEN)
        values[bad] = np.nan
        if ordering == "NESTED":
            data[col] = hp.reorder(values, n2r=True)
    return BinTable(path, nside, data, units)


def _children(nest_map: np.ndarray, nside_in: int, nside_out: int, source: str) -> np.ndarray:
    """NESTED map at ``nside_in`` -> ``(npix_out, k^2)`` children of each output pixel."""
    if nside_out > nside_in or nside_in % nside_out:
        raise ValueError(
            f"{source}: cannot downgrade nside {nside_in} to nside {nside_out} "
            "(need nside_out <= nside_in, both powers of 2)"
        )
    ratio2 = (nside_in // nside_out) ** 2
    return nest_map.reshape(12 * nside_out * nside_out, ratio2)


def downgrade_variance(
    variance: np.ndarray, nside_out: int, source: str = "variance map"
) -> np.ndarray:
    """Per-pixel noise variance of the mean of the children pixels at a lower nside.

    Independent noise in k^2 = (nside_in / nside_out)^2 children averaged into one pixel has
    variance ``sum(var_children) / n^2`` with n valid (finite) children, i.e. ``mean(var)/k^2``
    when all are valid.

    Parameters
    ----------
    variance : np.ndarray
        ``(npix_in,)`` RING variance (NaN marks missing pixels).
    nside_out : int
        Target resolution (<= input nside).
    source : str
        Name of the data (file) for error messages.

    Returns
    -------
    np.ndarray
        ``(12 nside_out^2,)`` RING variance.

    Raises
    ------
    ValueError
        Upgrading, or an output pixel without any valid child.
    """
    nside_in = hp.npix2nside(variance.size)
    if nside_in == nside_out:
        out = np.asarray(variance, dtype=np.float64).copy()
        if np.isnan(out).any():
            raise ValueError(f"{source}: {int(np.isnan(out).sum())} pixels have no variance")
        return out
    nest = hp.reorder(np.asarray(variance, dtype=np.float64), r2n=True)
    kids = _children(nest, nside_in, nside_out, source)
    valid = np.isfinite(kids)
    n_valid = valid.sum(axis=1)
    if (n_valid == 0).any():
        raise ValueError(
            f"{source}: {int((n_valid == 0).sum())} pixels at nside {nside_out} have no valid "
            "input pixel"
        )
    out = np.where(valid, kids, 0.0).sum(axis=1) / n_valid.astype(np.float64) ** 2
    return hp.reorder(out, n2r=True)


def downgrade_mean(values: np.ndarray, nside_out: int, source: str = "map") -> np.ndarray:
    """Average of the valid children pixels (RING in, RING out); upgrading repeats values.

    Parameters
    ----------
    values : np.ndarray
        ``(npix_in,)`` RING map (NaN marks missing pixels).
    nside_out : int
        Target resolution.
    source : str
        Name of the data (file) for error messages.
    """
    nside_in = hp.npix2nside(values.size)
    values = np.asarray(values, dtype=np.float64)
    if nside_out >= nside_in:
        if nside_out % nside_in:
            raise ValueError(f"{source}: cannot change nside {nside_in} to {nside_out}")
        nest = np.repeat(hp.reorder(values, r2n=True), (nside_out // nside_in) ** 2)
        return hp.reorder(nest, n2r=True)
    kids = _children(hp.reorder(values, r2n=True), nside_in, nside_out, source)
    valid = np.isfinite(kids)
    n_valid = valid.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(valid, kids, 0.0).sum(axis=1) / n_valid
    return hp.reorder(out, n2r=True)
