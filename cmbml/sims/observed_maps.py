"""Real observed frequency maps (Planck PR3) brought to a dataset's detectors.

Planck's PR3 frequency maps (``LFI_SkyMap_030-BPassCorrected_1024_R3.00_full.fits``,
``HFI_SkyMap_143_2048_R3.01_full.fits`` ...) are HEALPix binary tables (HDU 1, NESTED) with
columns ``I_STOKES``, ``Q_STOKES``, ``U_STOKES`` (and hits and covariances), in ``K_CMB`` at
30–353 GHz and ``MJy/sr`` at 545 and 857 GHz (``I_STOKES`` only). An observation-only split
uses them as its observed maps: converted to uK_CMB, their native beam replaced by the
detector's beam, band-limited to ``3 nside - 1`` and synthesised at the dataset's ``nside``
with its pixel window, as the simulated observations are (:func:`cmbml.sphere.resample`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cmbml.sims.healpix_files import read_bintable

__all__ = ["STOKES_COLUMNS", "read_observed_map"]

STOKES_COLUMNS = ("I_STOKES", "Q_STOKES", "U_STOKES")
"""Column names of PR3 frequency and CMB maps."""


def read_observed_map(
    path: str | Path, fields: str, mjysr_per_kcmb: float | None = None
) -> np.ndarray:
    """One PR3 frequency map in uK_CMB.

    Parameters
    ----------
    path : str or Path
        The FITS file.
    fields : str
        ``"I"`` or ``"IQU"``.
    mjysr_per_kcmb : float, optional
        MJy/sr per K_CMB of the band (Planck's bandpass-integrated factor), needed for maps in
        MJy/sr (545, 857 GHz).

    Returns
    -------
    np.ndarray
        ``(n_fields, npix)`` float64 RING at the file's nside, uK_CMB; pixels without data
        (UNSEEN, NaN) are 0.

    Raises
    ------
    ValueError
        An unknown unit, or MJy/sr without ``mjysr_per_kcmb`` (the message names the file).
    """
    columns = STOKES_COLUMNS[: len(fields)]
    table = read_bintable(path, columns)
    maps = np.stack([table[c] for c in columns])
    unit = table.units[columns[0]].replace(" ", "").upper()
    if unit in ("K_CMB", "KCMB", "K"):
        factor = 1e6
    elif unit in ("MJY/SR", "MJYSR-1"):
        if not mjysr_per_kcmb:
            raise ValueError(f"{path} is in MJy/sr: its band needs mjysr_per_kcmb")
        factor = 1e6 / float(mjysr_per_kcmb)
    else:
        raise ValueError(f"{path}: unit {table.units[columns[0]]!r}, expected K_CMB or MJy/sr")
    return np.nan_to_num(maps * factor, nan=0.0)
