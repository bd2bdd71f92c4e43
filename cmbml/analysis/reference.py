"""Predictions on the real sky compared with reference CMB maps (not a truth).

On an observation-only split (Planck's own frequency maps) there is no true CMB. A method's
prediction is compared with Planck's published CMB maps (SMICA, NILC, Commander PR3,
``COM_CMB_IQU-<method>_2048_R3.00_full.fits``: ``I_STOKES`` in K_CMB at 5' FWHM): the RMS of
their difference and their correlation on the kept pixels, and pseudo-spectra (the apodised
mask's, divided by its mean squared weight) of prediction x reference, reference x reference
and prediction x prediction. These are reference comparisons: the references differ from one
another by their own residual foregrounds and noise.
"""

from __future__ import annotations

from pathlib import Path

import healpy as hp
import numpy as np
import pandas as pd

from cmbml.analysis.mask import planck_column
from cmbml.core.errors import BadInputError

__all__ = ["pseudo_cross_spectra", "read_reference_map", "reference_scores"]

UNITS_TO_UK = {"K_CMB": 1e6, "KCMB": 1e6, "K": 1e6, "UK_CMB": 1.0}


def read_reference_map(path: str | Path) -> np.ndarray:
    """``I_STOKES`` of a Planck CMB map file, RING, uK_CMB, at the file's nside.

    Raises
    ------
    BadInputError
        No ``I_STOKES`` column or an unknown unit (the message names the file).
    """
    values, ordering, unit = planck_column(path, "I_STOKES")
    factor = UNITS_TO_UK.get(unit.replace(" ", "").upper())
    if factor is None:
        raise BadInputError(f"{path}: I_STOKES unit {unit!r}, expected K_CMB")
    if ordering == "NESTED":
        values = hp.reorder(values, n2r=True)
    values = np.where(np.isclose(values, hp.UNSEEN) | ~np.isfinite(values), 0.0, values)
    return values * factor


def reference_scores(prediction: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> dict:
    """RMS of prediction - reference and their correlation over the kept pixels.

    Parameters
    ----------
    prediction, reference : np.ndarray
        ``(npix,)`` uK_CMB, post-processed alike (same resolution, monopole and dipole removed).
    mask : np.ndarray
        ``(npix,)`` binary mask (1 kept).

    Returns
    -------
    dict
        ``residual_rms`` (uK_CMB), ``correlation`` (Pearson), ``reference_rms`` (uK_CMB).
    """
    kept = mask > 0
    p, r = prediction[kept], reference[kept]
    return {
        "residual_rms": float(np.sqrt(np.mean((p - r) ** 2))),
        "correlation": float(np.corrcoef(p, r)[0, 1]),
        "reference_rms": float(np.sqrt(np.mean(r**2))),
    }


def pseudo_cross_spectra(
    prediction: np.ndarray, reference: np.ndarray, weight: np.ndarray, lmax: int, bin_width: int
) -> pd.DataFrame:
    """Binned pseudo-D_l of prediction x reference, reference x reference, prediction x
    prediction on the apodised ``weight`` (divided by its mean squared value), l >= 2.

    Returns
    -------
    pandas.DataFrame
        ``ell_min, ell_max, ell, dl_pred_ref, dl_ref_ref, dl_pred_pred`` (uK_CMB^2) and
        ``cross_ratio = dl_pred_ref / dl_ref_ref``.
    """
    w2 = float(np.mean(weight**2))
    a, b = prediction * weight, reference * weight
    ell = np.arange(lmax + 1)
    scale = ell * (ell + 1) / (2 * np.pi) / w2
    spectra = {
        "dl_pred_ref": hp.anafast(a, b, lmax=lmax) * scale,
        "dl_ref_ref": hp.anafast(b, lmax=lmax) * scale,
        "dl_pred_pred": hp.anafast(a, lmax=lmax) * scale,
    }
    rows = []
    for lo in range(2, lmax + 1, bin_width):
        hi = min(lo + bin_width - 1, lmax)
        row = {"ell_min": lo, "ell_max": hi, "ell": 0.5 * (lo + hi)}
        row.update({k: float(v[lo : hi + 1].mean()) for k, v in spectra.items()})
        rows.append(row)
    table = pd.DataFrame(rows)
    table["cross_ratio"] = table["dl_pred_ref"] / table["dl_ref_ref"]
    return table
