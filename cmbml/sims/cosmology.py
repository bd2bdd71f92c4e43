"""Per-simulation cosmological parameters.

Sources:

- a Gaussian draw from the Planck 2018 LCDM posterior (TT,TE,EE+lowE+lensing), by default in
  the basis the CMB constrains: 100 theta_MC, omega_b h^2, omega_c h^2, n_s, tau and
  10^9 A_s e^(-2 tau) (:data:`DEFAULT_PARAMS`; means and 1 sigma in
  ``assets/cosmology/planck2018_lcdm.csv``, Planck 2018 VI Table 2). Planck 2018 VI tabulates
  marginal means and sigmas only, so the parameters are drawn independently; in this basis the
  strongest correlations of the posterior (H_0 with omega_c through theta, A_s with tau) are
  absent by construction and H_0 follows from theta (CAMB's ``cosmomc_theta``);
- a multivariate Gaussian with the covariance of a CosmoMC ``.covmat`` file (as shipped with
  the Planck chains; :func:`load_covariance_prior`), means from the same table;
- rows of the WMAP9 MCMC chains (the public chain directory has one ASCII file per parameter,
  named after it -- ``H0``, ``omegach2``, ``omegabh2``, ``ns002``, ``tau``, ``mnu``, ``a002``
  ... -- each with two columns: step index and value). Each simulation takes one row of all
  files; rows are unique across the whole dataset and chosen from a seed. ``a002`` is the
  amplitude 10^9 Delta^2_R of the curvature power at WMAP's pivot k = 0.002/Mpc
  (:func:`wmap_amplitude`).

:func:`camb_inputs` turns drawn values into CAMB's names (``H0`` or ``cosmomc_theta``,
``ombh2``, ``omch2``, ``tau``, ``ns``, ``As`` at CAMB's pivot 0.05/Mpc, ``mnu``, ``nnu``):
``cosmomc_theta_x100`` -> ``cosmomc_theta = value / 100``; ``As_e2tau_x1e9`` ->
``As = value 1e-9 e^(2 tau)``; ``ln10_10As`` -> ``As = exp(value) / 1e10``.
"""

from __future__ import annotations

import csv
import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from cmbml.sims.cmb import CAMB_PARAMS, SET_COSMOLOGY
from cmbml.sims.healpix_files import require_file

__all__ = [
    "CMBML_FIXED_AS",
    "COSMOMC_NAMES",
    "DEFAULT_PARAMS",
    "WMAP9_TO_CAMB",
    "camb_inputs",
    "chain_length",
    "default_planck_table",
    "derived_h0",
    "draw_correlated",
    "draw_gaussian",
    "load_best_fit",
    "load_covariance_prior",
    "load_gaussian_prior",
    "read_chain_rows",
    "select_chain_rows",
    "wmap_amplitude",
]

DEFAULT_PARAMS = ("cosmomc_theta_x100", "ombh2", "omch2", "ns", "tau", "As_e2tau_x1e9")
"""Parameters drawn by default: 100 theta_MC, omega_b h^2, omega_c h^2, n_s, tau and
10^9 A_s e^(-2 tau), the combinations the CMB power spectra measure."""

COSMOMC_NAMES = {
    "omegabh2": "ombh2",
    "omegach2": "omch2",
    "theta": "cosmomc_theta_x100",
    "tau": "tau",
    "logA": "ln10_10As",
    "ns": "ns",
}
"""CosmoMC parameter name (``.covmat`` header) -> name in the prior table."""

CMBML_FIXED_AS = 2.0e-9
"""A_s of every CMB-ML simulation drawn from the WMAP9 chains (CAMB's pivot 0.05/Mpc)."""

WMAP_PIVOT_MPC = 0.002
"""Pivot scale of the WMAP chains' ``a002`` and ``ns002``, 1/Mpc."""

CAMB_PIVOT_MPC = 0.05
"""CAMB's default scalar pivot scale, 1/Mpc (``As`` of :func:`camb_inputs` is defined there)."""

WMAP9_TO_CAMB = {
    "H0": "H0",
    "omegach2": "omch2",
    "omegabh2": "ombh2",
    "ns002": "ns",
    "tau": "tau",
    "mnu": "mnu",
}
"""WMAP9 chain file name -> CAMB parameter (CMB-ML's choice of parameters)."""

_DRAWN_ONLY = {"ln10_10As", "cosmomc_theta_x100", "As_e2tau_x1e9"}


def default_planck_table() -> Path:
    """Path of the shipped Planck 2018 table (``assets/cosmology/planck2018_lcdm.csv``)."""
    return Path(__file__).resolve().parents[2] / "assets" / "cosmology" / "planck2018_lcdm.csv"


def load_gaussian_prior(
    path: str | Path | None = None, params: Iterable[str] = DEFAULT_PARAMS
) -> dict[str, tuple[float, float]]:
    """Means and standard deviations of ``params`` from a CSV (``name,mean,sigma`` columns).

    Returns
    -------
    dict[str, tuple[float, float]]
        Parameter -> (mean, sigma), in the order of ``params``.
    """
    path = require_file(default_planck_table() if path is None else path)
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"name", "mean", "sigma"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        rows = {r["name"]: r for r in reader}
    out = {}
    for p in params:
        if p not in rows:
            raise ValueError(f"{path}: no row with name '{p}'; rows: {', '.join(rows)}")
        mean, sigma = float(rows[p]["mean"]), float(rows[p]["sigma"])
        if not sigma > 0:
            raise ValueError(f"{path}: parameter '{p}' has sigma {sigma}, expected > 0")
        out[p] = (mean, sigma)
    return out


def load_best_fit(path: str | Path, params: Iterable[str]) -> dict[str, float]:
    """Best-fit values of ``params`` from a CSV with ``name`` and ``value`` columns.

    Raises
    ------
    ValueError
        A column or a parameter is missing (the message names the file).
    """
    path = require_file(path)
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"name", "value"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        rows = {r["name"]: float(r["value"]) for r in reader}
    absent = [p for p in params if p not in rows]
    if absent:
        raise ValueError(f"{path}: no row with name {absent}; rows: {', '.join(rows)}")
    return {p: rows[p] for p in params}


def draw_gaussian(
    prior: Mapping[str, tuple[float, float]], rng: np.random.Generator
) -> dict[str, float]:
    """One independent Gaussian draw per parameter, in the prior's order.

    Draws are redrawn (per parameter) until positive, a constraint that is 4 sigma or more away
    for every Planck 2018 parameter.
    """
    out = {}
    for name, (mean, sigma) in prior.items():
        value = rng.normal(mean, sigma)
        while value <= 0:
            value = rng.normal(mean, sigma)
        out[name] = float(value)
    return out


def load_covariance_prior(
    covmat: str | Path, table: str | Path | None = None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Means (from the prior table) and covariance (from a CosmoMC ``.covmat``) of the LCDM
    parameters.

    The ``.covmat`` format (Planck Legacy Archive chains): a first line ``# name1 name2 ...``
    with CosmoMC's parameter names, then the symmetric matrix, one row per line. The rows of
    :data:`COSMOMC_NAMES` (``omegabh2, omegach2, theta, tau, logA, ns``) are kept, nuisance
    parameters dropped.

    Returns
    -------
    means : np.ndarray
        ``(n,)`` means of the table (``name`` column), in the file's order.
    cov : np.ndarray
        ``(n, n)`` covariance.
    params : list[str]
        The ``n`` parameter names (table names: ``ombh2``, ``cosmomc_theta_x100``,
        ``ln10_10As`` ...).
    """
    path = require_file(covmat)
    with open(path) as fh:
        header = fh.readline()
        if not header.startswith("#"):
            raise ValueError(f"{path}: expected a '# name1 name2 ...' header line (CosmoMC covmat)")
        names = header[1:].split()
        try:
            matrix = np.loadtxt(fh, ndmin=2)
        except ValueError as exc:
            raise ValueError(f"{path}: not a numeric matrix ({exc})") from exc
    if matrix.shape != (len(names), len(names)) or not np.allclose(matrix, matrix.T):
        raise ValueError(
            f"{path}: expected a symmetric {len(names)} x {len(names)} matrix for the header's "
            f"{len(names)} names, got shape {matrix.shape}"
        )
    keep = [i for i, n in enumerate(names) if n in COSMOMC_NAMES]
    if not keep:
        raise ValueError(f"{path}: none of {sorted(COSMOMC_NAMES)} in its header")
    params = [COSMOMC_NAMES[names[i]] for i in keep]
    cov = matrix[np.ix_(keep, keep)]
    if np.linalg.eigvalsh(cov).min() <= 0:
        raise ValueError(f"{path}: the covariance of {params} is not positive definite")
    prior = load_gaussian_prior(table, params)
    return np.array([prior[p][0] for p in params]), cov, params


def draw_correlated(
    means: np.ndarray, cov: np.ndarray, params: Sequence[str], rng: np.random.Generator
) -> dict[str, float]:
    """One multivariate Gaussian draw, redrawn until every parameter is positive."""
    chol = np.linalg.cholesky(np.asarray(cov, dtype=np.float64))
    value = means + chol @ rng.standard_normal(len(params))
    while (value <= 0).any():
        value = means + chol @ rng.standard_normal(len(params))
    return {p: float(v) for p, v in zip(params, value, strict=True)}


def wmap_amplitude(a002: float, ns: float, scale: float = 1e-9) -> dict[str, float]:
    """CAMB's ``As`` (pivot 0.05/Mpc) from the WMAP chains' amplitude at k = 0.002/Mpc.

    A_s(k) = A(k0) (k / k0)^(n_s - 1) for a power law (no running): with ``a002 * scale``
    = Delta^2_R(0.002/Mpc), ``As = a002 scale (0.05 / 0.002)^(n_s - 1)``.

    Parameters
    ----------
    a002 : float
        Value of the chain file ``a002`` (10^9 Delta^2_R at k = 0.002/Mpc, as WMAP tabulates it).
    ns : float
        Scalar spectral index (``ns002``).
    scale : float
        Factor turning ``a002`` into Delta^2_R (1e-9).

    Raises
    ------
    ValueError
        The amplitude is outside (1e-10, 1e-8): the file's values do not match ``scale``.
    """
    amp = float(a002) * float(scale)
    if not 1e-10 < amp < 1e-8:
        raise ValueError(
            f"WMAP chain value a002 = {a002} times scale {scale} gives Delta^2_R = {amp:.3g} at "
            "k = 0.002/Mpc, expected ~2.4e-9: set model.sim.cmb.amplitude.scale to match the file"
        )
    return {"As": amp * (CAMB_PIVOT_MPC / WMAP_PIVOT_MPC) ** (float(ns) - 1.0)}


def camb_inputs(params: Mapping[str, float], fixed: Mapping[str, float] | None = None) -> dict:
    """CAMB keyword values from drawn parameters plus fixed ones.

    ``ln10_10As`` becomes ``As = exp(value) / 1e10``; ``cosmomc_theta_x100`` becomes
    ``cosmomc_theta = value / 100``; ``As_e2tau_x1e9`` becomes ``As = value 1e-9 e^(2 tau)``
    (``tau`` drawn or fixed). Every other key must be a CAMB ``set_cosmology`` /
    ``InitPower.set_params`` name. Drawn values take precedence over ``fixed``.

    Raises
    ------
    ValueError
        Unknown name, ``As_e2tau_x1e9`` without ``tau``, or both ``H0`` and ``cosmomc_theta``.
    """
    out = dict(fixed or {})
    out.update({k: float(v) for k, v in params.items()})
    if "ln10_10As" in out:
        out["As"] = math.exp(out.pop("ln10_10As")) * 1e-10
    if "cosmomc_theta_x100" in out:
        out["cosmomc_theta"] = out.pop("cosmomc_theta_x100") / 100.0
    if "As_e2tau_x1e9" in out:
        if "tau" not in out:
            raise ValueError("As_e2tau_x1e9 (10^9 A_s e^-2tau) needs tau, drawn or fixed")
        out["As"] = out.pop("As_e2tau_x1e9") * 1e-9 * math.exp(2.0 * out["tau"])
    unknown = sorted(set(out) - CAMB_PARAMS)
    if unknown:
        known = sorted(CAMB_PARAMS | _DRAWN_ONLY)
        raise ValueError(f"unknown cosmological parameter(s) {unknown}; known: {known}")
    if "H0" in out and "cosmomc_theta" in out:
        raise ValueError("give either H0 or cosmomc_theta (100 theta_MC), not both")
    return out


def derived_h0(params: Mapping[str, float]) -> float:
    """H_0 (km/s/Mpc) that CAMB solves for from ``cosmomc_theta`` and the other parameters.

    ``params`` are CAMB inputs (:func:`camb_inputs`) with ``cosmomc_theta``; the background only
    is computed (~10 ms).
    """
    import camb

    background = SET_COSMOLOGY - {"H0"}  # H0 is what CAMB solves for
    pars = camb.CAMBparams()
    pars.set_cosmology(**{k: float(v) for k, v in params.items() if k in background})
    return float(pars.H0)


@functools.lru_cache(maxsize=32)
def _chain_file(path: str) -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd

    try:
        table = pd.read_csv(path, sep=r"\s+", header=None, comment="#", dtype=np.float64)
    except (ValueError, pd.errors.ParserError) as exc:
        raise ValueError(f"chain file {path}: not two numeric columns ({exc})") from exc
    if table.shape[1] != 2 or table.shape[0] == 0:
        raise ValueError(
            f"chain file {path}: expected two columns (step, value), got {table.shape}"
        )
    return table[0].to_numpy(), table[1].to_numpy()


def _chain_path(directory: str | Path, name: str, option: str | None) -> str:
    return str(require_file(Path(directory) / name, option))


def chain_length(directory: str | Path, names: Sequence[str], *, option: str | None = None) -> int:
    """Number of rows of the chain files ``names`` in ``directory`` (all must agree)."""
    lengths = {n: _chain_file(_chain_path(directory, n, option))[0].size for n in names}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"chain files in {directory} have different lengths: {lengths}")
    return next(iter(lengths.values()))


def select_chain_rows(n_rows: int, n_draws: int, rng: np.random.Generator) -> np.ndarray:
    """``n_draws`` distinct row indices (0-based) among ``n_rows``, in random order."""
    if n_draws > n_rows:
        raise ValueError(f"cannot draw {n_draws} distinct rows from a chain of {n_rows}")
    return rng.choice(n_rows, size=n_draws, replace=False)


def read_chain_rows(
    directory: str | Path,
    names: Sequence[str],
    rows: Sequence[int],
    *,
    option: str | None = None,
) -> list[dict[str, float]]:
    """Values of the chain files ``names`` at 0-based ``rows``.

    Returns
    -------
    list[dict]
        One dict per row: file name -> value, plus ``chain_step`` (the step index of the first
        file's first column).
    """
    files = {n: _chain_file(_chain_path(directory, n, option)) for n in names}
    n = chain_length(directory, names, option=option)
    rows = np.asarray(rows, dtype=np.int64)
    if rows.size and (rows.min() < 0 or rows.max() >= n):
        raise ValueError(f"row indices must lie in [0, {n}) for the chains in {directory}")
    steps = files[names[0]][0]
    return [
        {"chain_step": int(steps[r]), **{k: float(v[1][r]) for k, v in files.items()}} for r in rows
    ]
