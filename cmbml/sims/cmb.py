"""CMB power spectra (CAMB) and Gaussian CMB realisations.

Spectra are the **lensed** scalar C_l (TT, EE, BB, TE) in uK_CMB^2, returned from l = 0 (C_0 =
C_1 = 0) together with an explicit ``ell`` array: no l offset. CAMB computes the lensing
potential and unlensed spectra to ``lmax + lens_margin`` (lensed BB at l needs the unlensed
spectra well beyond l) and is asked for the lensed spectra once (no double lensing).

Realisations draw the alm directly from a ``np.random.Generator`` (not healpy's ``synalm`` and
its global RNG): for each (l, m) the T and E coefficients are correlated through the Cholesky
factor of [[TT, TE], [TE, EE]], B is independent.

Alternatively (``model.sim.cmb.realisation: pysm_lensed``) the CMB is PySM3's ``CMBLensed``:
Taylens lensing of a Gaussian unlensed CMB by a Gaussian lensing potential, from CAMB's unlensed
spectra and lensing potential (:func:`lensed_and_unlensed_cls`, :func:`unlensed_spectrum_text`,
:func:`pysm_lensed_cmb_map`).
"""

from __future__ import annotations

import functools
import io
import logging
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from cmbml import sphere

__all__ = [
    "ACCURACY_PRESETS",
    "CAMB_PARAMS",
    "INIT_POWER",
    "SET_COSMOLOGY",
    "SPECTRA",
    "UNLENSED_COLUMNS",
    "camb_accuracy",
    "gaussian_cmb_alm",
    "lensed_and_unlensed_cls",
    "lensed_cls",
    "pysm_lensed_cmb_map",
    "spectrum_from_table",
    "spectrum_table",
    "unlensed_spectrum_text",
]

logger = logging.getLogger(__name__)

SPECTRA = ("TT", "EE", "BB", "TE")
"""Order of the spectra in the arrays of this module."""

UNLENSED_COLUMNS = ("TT", "EE", "BB", "TE", "PP", "TP", "EP")
"""Order of the unlensed spectra and lensing potential (CAMB's ``lenspotentialCls``)."""

ACCURACY_PRESETS = ("temperature", "polarization")
"""Named CAMB settings of :func:`camb_accuracy`."""

_TEMPERATURE = {"lens_margin": 500, "IntkAccuracyBoost": 2.0, "IntTolBoost": 0.7}
_POLARIZATION = {
    "lens_potential_accuracy": 3,
    "lens_margin": 3000,
    "IntkAccuracyBoost": 2.0,
    "SourcekAccuracyBoost": 2.0,
    "lSampleBoost": 2.0,
    "AccurateBB": True,
    "IntTolBoost": 0.7,
}
_NONLINEAR_LMAX = 1000


def camb_accuracy(setting=None, lmax: int = 0, map_fields: str = "IQU") -> dict:
    """CAMB settings that keep the lensed spectra within 0.1 % of a converged run to ``lmax``.

    The reference is CAMB with every boost at 3, lens_potential_accuracy 6 and 2000 extra
    multipoles (``tests/sims/test_cmb.py``, slow); measured at l <= 192, 384, 1536:

    - ``"temperature"``: TT within 0.07 % (others not guaranteed: EE ~1 % low in its trough at
      l ~ 15, TE 0.15 % of sqrt(TT EE), lensed BB up to 30 % low). 500 multipoles beyond
      ``lmax`` (CAMB's own 200 leave TT 0.2 % low at the top of the range),
      ``IntkAccuracyBoost`` 2 (0.1 % at l ~ 16-34 otherwise), linear lensing below
      l = 1000 and non-linear (``lens_potential_accuracy`` 1) above (0.13 % at l ~ 1450
      otherwise); ``IntTolBoost`` 0.7 saves 20 % of the time and changes TT by < 0.005 %.
      ~0.5 s per spectrum at nside 64 on one core.
    - ``"polarization"``: TT, EE, TE (relative to sqrt(TT EE)) within 0.07 % and lensed BB
      within 0.08 %. Lensed BB at every l and the EE trough are fed by E modes and the
      lensing potential up to l ~ 3000: 3000 extra multipoles, non-linear lensing to
      k eta = 54 000 (``lens_potential_accuracy`` 3), ``AccurateBB``; EE and TE at l ~ 15-25
      need ``SourcekAccuracyBoost`` 2 and ``lSampleBoost`` 2; ``IntTolBoost`` 0.7 saves ~13 %
      of the time (7.7 s instead of 8.7-9.0 s CPU at l <= 1536 on one core) and moves every
      spectrum by < 0.006 % (``tests/sims/test_camb_settings.py``, slow). Cheaper settings
      tried at l <= 1536 leave lensed BB off by more than 0.1 % of this one: 2000 extra
      multipoles (0.18 %), ``lens_potential_accuracy`` 2 (0.11 %).

    Parameters
    ----------
    setting : None, str or mapping
        ``None`` (``"polarization"``), ``"auto"`` (``"temperature"`` when ``map_fields`` is
        ``"I"``, else ``"polarization"``), a preset name, or explicit settings (returned as
        given; keys as :func:`lensed_cls` accepts).
    lmax : int
        Maximum multipole of the output.
    map_fields : str
        Stokes fields of the maps the spectra feed (``"I"`` or ``"IQU"``).

    Returns
    -------
    dict
        Settings for :func:`lensed_cls`.
    """
    if isinstance(setting, Mapping):
        return dict(setting)
    if setting is None:
        setting = "polarization"
    if setting == "auto":
        setting = "temperature" if map_fields == "I" else "polarization"
    if setting == "temperature":
        lpa = 0 if lmax < _NONLINEAR_LMAX else 1
        return {"lens_potential_accuracy": lpa, **_TEMPERATURE}
    if setting == "polarization":
        return dict(_POLARIZATION)
    raise ValueError(
        f"camb_accuracy must be 'auto', one of {ACCURACY_PRESETS} or a mapping of CAMB "
        f"settings, got {setting!r}"
    )


SET_COSMOLOGY = frozenset(
    {"H0", "cosmomc_theta", "ombh2", "omch2", "tau", "mnu", "omk", "nnu", "YHe"}
)
"""Background parameters :func:`lensed_cls` passes to CAMB's ``set_cosmology``."""
INIT_POWER = frozenset({"As", "ns", "r", "nrun"})
"""Primordial-power parameters :func:`lensed_cls` passes to CAMB's ``InitPower.set_params``."""
CAMB_PARAMS = SET_COSMOLOGY | INIT_POWER
"""Every CAMB parameter :func:`lensed_cls` accepts."""
_GLOBAL_ACCURACY = ("AccuracyBoost", "lSampleBoost", "lAccuracyBoost")


def lensed_cls(
    params: Mapping[str, float],
    lmax: int,
    *,
    accuracy: str | Mapping[str, float] | None = None,
    threads: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Lensed CMB spectra from CAMB.

    Parameters
    ----------
    params : mapping
        CAMB parameters (``H0`` or ``cosmomc_theta``, ``ombh2, omch2, tau, mnu, omk, nnu, YHe``
        for the background; ``As, ns, r, nrun`` for the primordial power), e.g. from
        :func:`cmbml.sims.cosmology.camb_inputs`. Others take CAMB's defaults (mnu = 0.06 eV).
    lmax : int
        Maximum multipole of the output.
    accuracy : str or mapping, optional
        A preset of :func:`camb_accuracy` (default ``"polarization"``: all four spectra within
        0.1 % of a converged run) or CAMB settings: ``lens_potential_accuracy`` (> 0 sets
        non-linear lensing and k eta_max = 18 000 times it), ``lens_margin`` (multipoles
        computed beyond ``lmax``, CAMB's ``lens_output_margin``; default 200), the global
        ``AccuracyBoost``, ``lSampleBoost``, ``lAccuracyBoost``, and any field of
        ``CAMBparams.Accuracy`` (``IntkAccuracyBoost``, ``AccurateBB``, ...).
    threads : int
        OpenMP threads for CAMB (0: CAMB's default, all cores).

    Returns
    -------
    ell : np.ndarray
        ``(lmax + 1,)`` multipoles 0..lmax.
    cls : np.ndarray
        ``(4, lmax + 1)`` lensed C_l TT, EE, BB, TE in uK_CMB^2 (zero at l = 0, 1).
    """
    start = time.perf_counter()
    results = _camb_results(params, lmax, accuracy, threads)
    cls = results.get_lensed_scalar_cls(lmax=lmax, CMB_unit="muK", raw_cl=True)
    logger.debug("CAMB lensed spectra to lmax %d in %.2f s", lmax, time.perf_counter() - start)
    return np.arange(lmax + 1), np.ascontiguousarray(cls[: lmax + 1, :4].T)


def _camb_results(params: Mapping[str, float], lmax: int, accuracy, threads: int):
    """CAMB results with lensing computed for output up to ``lmax`` (see :func:`lensed_cls`)."""
    import camb

    unknown = sorted(set(params) - CAMB_PARAMS)
    if unknown:
        raise ValueError(f"unknown CAMB parameter(s) {unknown}")
    acc = camb_accuracy(accuracy, lmax)
    lens_margin = int(acc.pop("lens_margin", 200))
    lens_potential_accuracy = float(acc.pop("lens_potential_accuracy", 0))
    if lens_margin < 0 or lmax < 2:
        raise ValueError(f"need lmax >= 2 and lens_margin >= 0, got {lmax}, {lens_margin}")
    pars = camb.CAMBparams()
    pars.set_cosmology(**{k: float(v) for k, v in params.items() if k in SET_COSMOLOGY})
    pars.InitPower.set_params(**{k: float(v) for k, v in params.items() if k in INIT_POWER})
    pars.set_for_lmax(
        lmax, lens_potential_accuracy=lens_potential_accuracy, lens_output_margin=lens_margin
    )
    pars.set_accuracy(**{k: float(acc.pop(k)) for k in _GLOBAL_ACCURACY if k in acc})
    for key, value in acc.items():
        if not hasattr(pars.Accuracy, key):
            raise ValueError(f"CAMB has no accuracy setting '{key}'")
        setattr(pars.Accuracy, key, value)
    pars.WantTransfer = False
    pars.WantTensors = False
    if threads > 0:
        camb.config.ThreadNum = int(threads)
    return camb.get_results(pars)


def lensed_and_unlensed_cls(
    params: Mapping[str, float],
    lmax: int,
    *,
    accuracy: str | Mapping[str, float] | None = None,
    threads: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lensed spectra as :func:`lensed_cls` plus the unlensed ones and the lensing potential.

    One CAMB run (same settings as :func:`lensed_cls`, whose lensed output it reproduces).

    Parameters
    ----------
    params, lmax, accuracy, threads
        As for :func:`lensed_cls`.

    Returns
    -------
    ell : np.ndarray
        ``(lmax + 1,)`` multipoles 0..lmax.
    cls : np.ndarray
        ``(4, lmax + 1)`` lensed C_l TT, EE, BB, TE in uK_CMB^2.
    dls : np.ndarray
        ``(7, lmax + 1)`` unlensed scalar spectra and lensing potential in CAMB's
        ``lenspotentialCls`` normalisation (columns :data:`UNLENSED_COLUMNS`): TT, EE, BB, TE as
        l(l+1) C_l / 2pi (uK_CMB^2; BB = 0, no tensors), PP = [l(l+1)]^2 C_l^phiphi / 2pi
        (dimensionless), TP, EP = [l(l+1)]^(3/2) C_l^(T,E phi) / 2pi (uK_CMB); zero at l = 0, 1.
    """
    start = time.perf_counter()
    results = _camb_results(params, lmax, accuracy, threads)
    lensed = results.get_lensed_scalar_cls(lmax=lmax, CMB_unit="muK", raw_cl=True)
    unlensed = results.get_unlensed_scalar_cls(lmax=lmax, CMB_unit="muK", raw_cl=False)
    phi = results.get_lens_potential_cls(lmax=lmax, CMB_unit="muK", raw_cl=False)
    logger.debug("CAMB (un)lensed spectra to lmax %d in %.2f s", lmax, time.perf_counter() - start)
    dls = np.vstack([unlensed[: lmax + 1, :4].T, phi[: lmax + 1, :3].T])
    dls[:, :2] = 0.0
    return (
        np.arange(lmax + 1),
        np.ascontiguousarray(lensed[: lmax + 1, :4].T),
        np.ascontiguousarray(dls),
    )


def unlensed_spectrum_text(ell: np.ndarray, dls: np.ndarray) -> str:
    """CAMB ``lenspotentialCls`` text (as PySM3's ``CMBLensed`` reads it) of l >= 2.

    Parameters
    ----------
    ell : np.ndarray
        ``(n,)`` multipoles 0, 1, ..., lmax.
    dls : np.ndarray
        ``(7, n)`` spectra of :func:`lensed_and_unlensed_cls` (``UNLENSED_COLUMNS``).

    Returns
    -------
    str
        A ``#`` header line, then one row per l = 2..lmax: ``L TT EE BB TE PP TP EP``.
    """
    ell = np.asarray(ell)
    dls = np.asarray(dls, dtype=np.float64)
    if not np.array_equal(ell, np.arange(ell.size)) or dls.shape != (7, ell.size):
        raise ValueError(
            f"need ell = 0..lmax and dls (7, {ell.size}) {', '.join(UNLENSED_COLUMNS)}, "
            f"got ell {ell[:3]}... and dls {dls.shape}"
        )
    rows = np.column_stack([ell[2:], dls[:, 2:].T])
    buf = io.StringIO()
    np.savetxt(buf, rows, fmt=["%d"] + ["%.10e"] * 7, header="L " + " ".join(UNLENSED_COLUMNS))
    return buf.getvalue()


def pysm_lensed_cmb_map(path: str | Path, nside: int, seed: int) -> np.ndarray:
    """A lensed CMB realisation by PySM3's ``CMBLensed`` (Taylens) from an unlensed spectrum file.

    ``CMBLensed`` draws T, E, B and phi with ``healpy.synalm`` after ``np.random.seed(seed)``
    (numpy's global RNG): the same seed gives the same map. The global RNG state is saved and
    restored around the call so that other users of it are unaffected. The unlensed CMB is
    band-limited to l < 3 ``nside``, phi to min(8 ``nside``, the file's lmax).

    Parameters
    ----------
    path : str or Path
        Text file of :func:`unlensed_spectrum_text` (must exist: PySM3 would otherwise try to
        download a file of that name).
    nside : int
        HEALPix resolution of the lensed map.
    seed : int
        Seed, 0 <= seed < 2**32.

    Returns
    -------
    np.ndarray
        float64 ``(3, npix)`` I, Q, U, RING, uK_CMB, pixel values (no pixel window).
    """
    from pysm3.models.cmb import CMBLensed

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"unlensed spectrum file {path} does not exist")
    if not 0 <= int(seed) < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed}")
    state = np.random.get_state()
    try:
        start = time.perf_counter()
        model = CMBLensed(int(nside), str(path.resolve()), cmb_seed=int(seed))
        logger.debug("CMBLensed at nside %d in %.2f s", nside, time.perf_counter() - start)
    finally:
        np.random.set_state(state)
    return np.asarray(model.map.value, dtype=np.float64)


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
    ell = _alm_ell(lmax)
    # real parts, then imaginary parts; the m = 0 entries (healpy order: the first lmax + 1)
    # are real with unit variance: the same draws and arithmetic as complex z, in place
    z = rng.standard_normal((2, ncomp, n))
    z[0, :, : lmax + 1] *= np.sqrt(2.0)
    z[1, :, : lmax + 1] = 0.0
    z *= np.sqrt(0.5)
    tt = cls[0]
    sq_tt = np.sqrt(tt)
    alm = np.empty((ncomp, n), dtype=np.complex128)
    _scaled(alm[0], sq_tt[ell], z[:, 0])
    if pol:
        ee, bb, te = cls[1], cls[2], cls[3]
        with np.errstate(divide="ignore", invalid="ignore"):
            te_coef = np.where(tt > 0, te / sq_tt, 0.0)
            ee_rest = np.sqrt(np.clip(ee - np.where(tt > 0, te**2 / tt, 0.0), 0.0, None))
        _scaled(alm[1], te_coef[ell], z[:, 0])
        alm[1] += _scaled(np.empty(n, np.complex128), ee_rest[ell], z[:, 1])
        _scaled(alm[2], np.sqrt(bb)[ell], z[:, 2])
    return alm


def _scaled(out: np.ndarray, coef: np.ndarray, z: np.ndarray) -> np.ndarray:
    """``out = coef * (z[0] + 1j z[1])`` written into complex ``out``; returns ``out``."""
    np.multiply(coef, z[0], out=out.real)
    np.multiply(coef, z[1], out=out.imag)
    return out


@functools.lru_cache(maxsize=4)
def _alm_ell(lmax: int) -> np.ndarray:
    """Multipole of each alm (healpy order), computed once per ``lmax`` (read-only)."""
    import healpy as hp

    ell = hp.Alm.getlm(lmax)[0]
    ell.setflags(write=False)
    return ell
