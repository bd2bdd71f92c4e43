"""CMB-ML's own analysis, for the protocols that reproduce its tables (``published``,
``iccv2025``).

Facts from CMB-ML's code (branch ``archive-iccv2025``: ``cfg/model/analysis/
basic_analysis.yaml``, ``D_common_map_post.py``, ``K_make_pred_ps.py``, ``L_ps_analysis.py``,
``L_make_mask.py``):

- **Maps** (:func:`to_target_beam`, ICCV 2025 table): the truth (unbeamed) and each prediction
  (at its own beam) are analysed to ``lmax = 2 nside`` (healpy's 3 Jacobi iterations), their
  harmonics multiplied by ``b_target / b_source`` on ``l < lmax`` (the beams are sliced to
  ``lmax`` values, so ``l = lmax`` is zeroed) and synthesised; target beams are a Gaussian (20.6',
  60') or none (the prediction deconvolved). Then the monopole and dipole fitted on the kept
  pixels (TMASK >= 0.9) are removed and only the kept pixels are scored. Here ``b_source``
  also holds the pixel window when the map carries one (the dataset's record); CMB-ML's maps
  carry none, so on its data the two are the same.
- **Spectra** (:func:`cmb_ml_spectra`): the truth's D_l is healpy's ``anafast`` of the full-sky
  map; the prediction's is ``anafast`` of ``w (m - <m>_w)`` divided by ``mean(w²)`` (its
  ``fsky``), ``w`` the TMASK apodised with NaMaster's C1 window over 20.6'
  (:func:`cmbml.analysis.mask.c1_apodize`),
  ``<m>_w`` the ``w``-weighted mean, then divided by the squared beam of the prediction; both to
  ``lmax = 2 nside``, not binned. The six pixel metrics (:mod:`cmbml.analysis.metrics`) compare
  the prediction's D_l (l = 0 .. lmax) with the theory's and with the truth's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import healpy as hp
import numpy as np

from cmbml.analysis.metrics import pixel_metrics
from cmbml.analysis.postprocess import Resolution, filter_maps, remove_dipole_and_mask
from cmbml.analysis.spectra import cl_to_dl, window_function

__all__ = [
    "PS_STATISTICS",
    "TargetBeam",
    "cmb_ml_spectra",
    "spectrum_statistics",
    "target_beams",
    "target_filter",
    "to_target_beam",
]

PS_STATISTICS: tuple[str, ...] = ("mae", "mse", "rmse", "nrmse", "psnr", "r2")
"""The metrics CMB-ML computes on D_l (its ``ps_functions``: the pixel metrics)."""


@dataclass(frozen=True)
class TargetBeam:
    """A resolution of the ICCV 2025 table.

    Attributes
    ----------
    name : str
        Folder and block title (``deconvolved``, ``20.6arcmin``, ``60arcmin``).
    fwhm_arcmin : float or None
        Gaussian FWHM (arcmin); ``None`` for no beam (the maps deconvolved).
    """

    name: str
    fwhm_arcmin: float | None = None

    @property
    def resolution(self) -> Resolution:
        """The target as a :class:`Resolution` (no pixel window, as CMB-ML's)."""
        return Resolution(float(self.fwhm_arcmin or 0.0), False)


def target_beams(entries: Sequence[dict], key: str = "target_beams") -> list[TargetBeam]:
    """Target beams from config entries ``{name, fwhm_arcmin}`` (``fwhm_arcmin`` null: none).

    Raises
    ------
    ValueError
        Empty list, an entry without a name, a repeated name or a negative FWHM.
    """
    if not entries:
        raise ValueError(f"{key} is empty: the iccv2025 protocol needs at least one target beam")
    beams = []
    for i, entry in enumerate(entries):
        name = str(entry.get("name") or "")
        fwhm = entry.get("fwhm_arcmin")
        if not name or "/" in name:
            raise ValueError(f"{key}[{i}] needs a 'name' (a folder name), got {entry!r}")
        if fwhm is not None and float(fwhm) < 0:
            raise ValueError(f"{key}[{i}].fwhm_arcmin must be >= 0 or null, got {fwhm}")
        beams.append(TargetBeam(name, None if fwhm is None else float(fwhm)))
    names = [b.name for b in beams]
    if len(set(names)) != len(names):
        raise ValueError(f"{key}: names must be unique, got {names}")
    return beams


def target_filter(
    nside: int, lmax: int, source: Resolution, target: TargetBeam, *, pol: bool = False
) -> np.ndarray:
    """``b_target / b_source`` on ``l < lmax`` and 0 at ``l = lmax``, ``(lmax + 1,)``.

    ``b_source`` is the map's transfer function (Gaussian beam, and the pixel window when the map
    carries one; the spin-2 beam with ``pol``).
    """
    ratio = window_function(nside, lmax, target.resolution, pol=pol) / window_function(
        nside, lmax, source, pol=pol
    )
    ratio[lmax] = 0.0
    return ratio


def to_target_beam(
    maps: np.ndarray,
    mask: np.ndarray,
    *,
    resolution: Resolution,
    target: TargetBeam,
    lmax: int,
    niter: int = 3,
    nthreads: int = 0,
) -> np.ndarray:
    """One map brought to a target beam as CMB-ML's ICCV 2025 analysis does (module docstring),
    its intensity's monopole and dipole removed on the kept pixels, masked pixels zero.

    Parameters
    ----------
    maps : np.ndarray
        ``(npix,)`` or ``(3, npix)`` RING map (uK_CMB); Q, U go through E, B with the spin-2 beams.
    mask : np.ndarray
        ``(npix,)`` binary mask (1 = kept).
    resolution : Resolution
        The map's own resolution.
    target : TargetBeam
        The resolution to score at.
    lmax : int
        Band limit (CMB-ML: 2 nside).
    niter, nthreads
        Transform settings (CMB-ML: healpy's default, 3 iterations).

    Returns
    -------
    np.ndarray
        float64 map of the shape of ``maps``.
    """
    nside = hp.npix2nside(np.shape(maps)[-1])
    spin0 = target_filter(nside, lmax, resolution, target)
    spin2 = target_filter(nside, lmax, resolution, target, pol=True)
    filtered = filter_maps(maps, spin0, spin2, niter=niter, nthreads=nthreads)
    return remove_dipole_and_mask(filtered, mask)


def cmb_ml_spectra(
    truth: np.ndarray,
    prediction: np.ndarray,
    weight: np.ndarray,
    *,
    lmax: int,
    truth_resolution: Resolution,
    prediction_resolution: Resolution,
    niter: int = 3,
) -> dict[str, np.ndarray]:
    """TT D_l of the truth, the prediction and their difference as CMB-ML computes them.

    Parameters
    ----------
    truth, prediction : np.ndarray
        ``(npix,)`` intensity RING maps (uK_CMB), as stored (not post-processed).
    weight : np.ndarray
        ``(npix,)`` apodised mask (:func:`cmbml.analysis.mask.c1_apodize` of the TMASK).
    lmax : int
        Maximum multipole (CMB-ML: 2 nside).
    truth_resolution, prediction_resolution : Resolution
        Transfer functions divided out (squared) of each map's spectrum.
    niter : int
        Jacobi iterations of ``anafast`` (healpy's default 3, as CMB-ML).

    Returns
    -------
    dict
        ``ell`` (0 .. lmax) and D_l (uK_CMB²): ``truth`` (full sky), ``prediction`` and
        ``residual`` (prediction - truth, weighted like the prediction and deconvolved with its
        transfer function).
    """
    truth = np.asarray(truth, dtype=np.float64)
    prediction = np.asarray(prediction, dtype=np.float64)
    weight = np.asarray(weight, dtype=np.float64)
    if truth.ndim != 1 or truth.shape != prediction.shape or weight.shape != truth.shape:
        raise ValueError(
            "cmb_ml_spectra needs intensity maps and a weight of equal size, got "
            f"{truth.shape}, {prediction.shape} and {weight.shape}"
        )
    nside = hp.npix2nside(truth.size)
    fsky = np.mean(weight**2)

    def weighted(m: np.ndarray) -> np.ndarray:
        cl = hp.anafast(weight * (m - np.sum(m * weight) / np.sum(weight)), lmax=lmax, iter=niter)
        return cl / fsky / window_function(nside, lmax, prediction_resolution) ** 2

    truth_cl = hp.anafast(truth, lmax=lmax, iter=niter)
    truth_cl = truth_cl / window_function(nside, lmax, truth_resolution) ** 2
    return {
        "ell": np.arange(lmax + 1),
        "truth": cl_to_dl(truth_cl),
        "prediction": cl_to_dl(weighted(prediction)),
        "residual": cl_to_dl(weighted(prediction - truth)),
    }


def spectrum_statistics(
    prediction_dl: np.ndarray, reference_dl: np.ndarray, prefix: str
) -> dict[str, float]:
    """:data:`PS_STATISTICS` of a prediction's D_l against a reference's, on the prediction's
    multipoles (the reference cut to its length, as CMB-ML does); ``{f"{prefix}_{name}": value}``.
    """
    prediction_dl = np.asarray(prediction_dl, dtype=np.float64)
    reference_dl = np.asarray(reference_dl, dtype=np.float64)[: prediction_dl.size]
    values = pixel_metrics(reference_dl, prediction_dl, PS_STATISTICS)
    return {f"{prefix}_{name}": value for name, value in values.items()}
