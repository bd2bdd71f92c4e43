"""CMB power spectra (CAMB) and Gaussian CMB realisations.

Spectra are the **lensed** scalar C_l (TT, EE, BB, TE) in uK_CMB^2, returned from l = 0 (C_0 =
C_1 = 0) together with an explicit ``ell`` array: no l offset. CAMB computes the lensing
potential and unlensed spectra to ``lmax + lens_margin`` (lensed BB at l needs the unlensed
spectra well beyond l) and is asked for the lensed spectra once (no double lensing).

Realisations draw the alm directly from a ``np.random.Generator`` (not healpy's ``synalm`` and
its global RNG): for each (l, m) the T and E coefficients are correlated through the Cholesky
factor of [[TT, TE], [TE, EE]], B is independent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

import numpy as np

from cmbml import sphere

__all__ = [
    "DEFAULT_ACCURACY",
    "SPECTRA",
    "gaussian_cmb_alm",
    "lensed_cls",
    "spectrum_from_table",
    "spectrum_table",
]

logger = logging.getLogger(__name__)

SPECTRA = ("TT", "EE", "BB", "TE")
"""Order of the spectra in the arrays of this module."""

DEFAULT_ACCURACY: dict = {
    "lens_potential_accuracy": 2,
    "lens_margin": 500,
    "lAccuracyBoost": 1.5,
    "LensingBoost": 2.0,
    "IntkAccuracyBoost": 2.0,
    "SourcekAccuracyBoost": 1.5,
    "AccurateBB": True,
}
"""CAMB settings used by default (see :func:`lensed_cls`), the cheapest combination found that
stays within 0.1 % of a converged run (AccuracyBoost = lSampleBoost = lAccuracyBoost = 2,
lens_potential_accuracy = 4, margin 1500, AccurateBB) for l <= 400: TT, EE < 0.08 %, TE < 0.1 %
of sqrt(TT EE), BB < 0.2 % (``tests/sims/test_cmb.py::test_camb_accuracy``, slow). Cheaper
settings are off by more: lens_potential_accuracy = 1 with no boosts by 0.2 % in EE (l ~ 10-20)
and 1.8 % in BB, CAMB's own ``set_for_lmax`` default by 0.3 % (EE) and 10 % (BB, too small a
margin). Each boost targets one of those errors: LensingBoost and AccurateBB the lensed BB,
Intk/SourcekAccuracyBoost and lAccuracyBoost the low-l EE and TE. Cost: ~3x the unboosted
run, ~1.5x CAMB's default."""

_SET_COSMOLOGY = {"H0", "ombh2", "omch2", "tau", "mnu", "omk", "nnu", "YHe"}
_INIT_POWER = {"As", "ns", "r", "nrun"}
_GLOBAL_ACCURACY = ("AccuracyBoost", "lSampleBoost", "lAccuracyBoost")


def lensed_cls(
    params: Mapping[str, float],
    lmax: int,
    *,
    accuracy: Mapping[str, float] | None = None,
    threads: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Lensed CMB spectra from CAMB.

    Parameters
    ----------
    params : mapping
        CAMB parameters (``H0, ombh2, omch2, tau, mnu, omk, nnu, YHe`` for the background;
        ``As, ns, r, nrun`` for the primordial power), e.g. from
        :func:`cmbml.sims.cosmology.camb_inputs`. Others take CAMB's defaults (mnu = 0.06 eV).
    lmax : int
        Maximum multipole of the output.
    accuracy : mapping, optional
        CAMB settings (default :data:`DEFAULT_ACCURACY`): ``lens_potential_accuracy`` (>= 1 sets
        non-linear lensing and k_max), ``lens_margin`` (extra multipoles computed beyond
        ``lmax``, on top of CAMB's own ``lens_output_margin`` of 200; >= 500 keeps lensed BB
        right up to ``lmax``), the global ``AccuracyBoost``,
        ``lSampleBoost``, ``lAccuracyBoost``, and any field of ``CAMBparams.Accuracy``
        (``LensingBoost``, ``AccurateBB``, ...).
    threads : int
        OpenMP threads for CAMB (0: CAMB's default, all cores).

    Returns
    -------
    ell : np.ndarray
        ``(lmax + 1,)`` multipoles 0..lmax.
    cls : np.ndarray
        ``(4, lmax + 1)`` lensed C_l TT, EE, BB, TE in uK_CMB^2 (zero at l = 0, 1).
    """
    import camb

    unknown = sorted(set(params) - _SET_COSMOLOGY - _INIT_POWER)
    if unknown:
        raise ValueError(f"unknown CAMB parameter(s) {unknown}")
    acc = dict(DEFAULT_ACCURACY if accuracy is None else accuracy)
    lens_margin = int(acc.pop("lens_margin", 500))
    lens_potential_accuracy = float(acc.pop("lens_potential_accuracy", 1))
    if lens_margin < 0 or lmax < 2:
        raise ValueError(f"need lmax >= 2 and lens_margin >= 0, got {lmax}, {lens_margin}")
    pars = camb.CAMBparams()
    pars.set_cosmology(**{k: float(v) for k, v in params.items() if k in _SET_COSMOLOGY})
    pars.InitPower.set_params(**{k: float(v) for k, v in params.items() if k in _INIT_POWER})
    pars.set_for_lmax(lmax + lens_margin, lens_potential_accuracy=lens_potential_accuracy)
    pars.set_accuracy(**{k: float(acc.pop(k)) for k in _GLOBAL_ACCURACY if k in acc})
    for key, value in acc.items():
        if not hasattr(pars.Accuracy, key):
            raise ValueError(f"CAMB has no accuracy setting '{key}'")
        setattr(pars.Accuracy, key, value)
    pars.WantTransfer = False
    pars.WantTensors = False
    if threads > 0:
        camb.config.ThreadNum = int(threads)
    start = time.perf_counter()
    results = camb.get_results(pars)
    cls = results.get_lensed_scalar_cls(lmax=lmax, CMB_unit="muK", raw_cl=True)
    logger.debug("CAMB lensed spectra to lmax %d in %.2f s", lmax, time.perf_counter() - start)
    return np.arange(lmax + 1), np.ascontiguousarray(cls[: lmax + 1, :4].T)


def spectrum_table(ell: np.ndarray, cls: np.ndarray):
    """A DataFrame with columns ``ell, TT, EE, BB, TE`` (C_l, uK_CMB^2) for storage."""
    import pandas as pd

    cls = np.asarray(cls)
    if cls.shape != (4, len(ell)):
        raise ValueError(f"cls must be (4, {len(ell)}) TT, EE, BB, TE, got {cls.shape}")
    return pd.DataFrame(
        {"ell": np.asarray(ell, dtype=np.int64), **dict(zip(SPECTRA, cls, strict=True))}
    )


def spectrum_from_table(table, source: str = "spectrum table") -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`spectrum_table`: ``(ell, cls (4, lmax + 1))``.

    Raises
    ------
    ValueError
        Missing column, or ``ell`` not exactly 0, 1, ..., lmax.
    """
    missing = [c for c in ("ell",) + SPECTRA if c not in table.columns]
    if missing:
        raise ValueError(f"{source}: missing column(s) {', '.join(missing)}")
    ell = table["ell"].to_numpy()
    if not np.array_equal(ell, np.arange(ell.size)):
        raise ValueError(f"{source}: column 'ell' must be 0, 1, ..., lmax without gaps")
    return ell, np.stack([table[s].to_numpy(dtype=np.float64) for s in SPECTRA])


def gaussian_cmb_alm(
    cls: np.ndarray, lmax: int, rng: np.random.Generator, pol: bool = True
) -> np.ndarray:
    """Gaussian T (, E, B) alm with the given spectra.

    Parameters
    ----------
    cls : np.ndarray
        ``(4, >= lmax + 1)`` C_l TT, EE, BB, TE (uK_CMB^2) from l = 0, or ``(1, ...)``/``(n,)``
        TT only when ``pol=False``.
    lmax : int
        Band limit of the alm.
    rng : np.random.Generator
        Source of randomness. Draws, in order: real parts ``(3, nalm)``, imaginary parts
        ``(3, nalm)`` (``(1, nalm)`` each without polarisation).
    pol : bool
        Return T, E, B (True) or T only.

    Returns
    -------
    np.ndarray
        complex128 ``(3, nalm)`` T, E, B or ``(1, nalm)`` T, healpy ordering, uK_CMB.
        <|a_lm|^2> = C_l; a_l0 real.
    """
    cls = np.atleast_2d(np.asarray(cls, dtype=np.float64))
    if cls.shape[-1] < lmax + 1:
        raise ValueError(f"spectra reach l = {cls.shape[-1] - 1}, alm need lmax = {lmax}")
    if pol and cls.shape[0] != 4:
        raise ValueError(f"pol=True needs (4, n_ell) TT, EE, BB, TE spectra, got {cls.shape}")
    cls = cls[:, : lmax + 1]
    if (cls[: 3 if pol else 1] < 0).any():
        raise ValueError("auto-spectra must be non-negative")
    ncomp = 3 if pol else 1
    n = sphere.nalm(lmax)
    ell, m = _alm_lm(lmax)
    z = rng.standard_normal((ncomp, n)) + 1j * rng.standard_normal((ncomp, n))
    z[:, m == 0] = z[:, m == 0].real * np.sqrt(2.0)  # real a_l0 with unit variance
    z *= np.sqrt(0.5)
    tt = cls[0]
    sq_tt = np.sqrt(tt)
    alm = np.empty((ncomp, n), dtype=np.complex128)
    alm[0] = sq_tt[ell] * z[0]
    if pol:
        ee, bb, te = cls[1], cls[2], cls[3]
        with np.errstate(divide="ignore", invalid="ignore"):
            te_coef = np.where(tt > 0, te / sq_tt, 0.0)
            ee_rest = np.sqrt(np.clip(ee - np.where(tt > 0, te**2 / tt, 0.0), 0.0, None))
        alm[1] = te_coef[ell] * z[0] + ee_rest[ell] * z[1]
        alm[2] = np.sqrt(bb)[ell] * z[2]
    return alm


def _alm_lm(lmax: int) -> tuple[np.ndarray, np.ndarray]:
    import healpy as hp

    return hp.Alm.getlm(lmax)
