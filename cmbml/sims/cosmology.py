"""Per-simulation cosmological parameters.

Two sources:

- a Gaussian draw from the Planck 2018 LCDM posterior (means and 1 sigma of
  ``assets/cosmology/planck2018_lcdm.csv``, TT,TE,EE+lowE+lensing), each parameter drawn
  independently (the posterior's correlations are not modelled);
- rows of the WMAP9 MCMC chains (the public chain directory has one ASCII file per parameter,
  named after it -- ``H0``, ``omegach2``, ``omegabh2``, ``ns002``, ``tau``, ``mnu`` ... -- each
  with two columns: step index and value). Each simulation takes one row of all files; rows are
  unique across the whole dataset and chosen from a seed.

Parameters are returned with CAMB's names (``H0``, ``ombh2``, ``omch2``, ``tau``, ``ns``, ``As``,
``mnu``); ``ln10_10As`` is converted to ``As = exp(ln10_10As) / 1e10``.
"""

from __future__ import annotations

import csv
import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from cmbml.sims.healpix_files import require_file

__all__ = [
    "DEFAULT_PARAMS",
    "WMAP9_TO_CAMB",
    "camb_inputs",
    "chain_length",
    "default_planck_table",
    "draw_gaussian",
    "load_gaussian_prior",
    "read_chain_rows",
    "select_chain_rows",
]

DEFAULT_PARAMS = ("H0", "ombh2", "omch2", "tau", "ln10_10As", "ns")
"""Parameters drawn by default (CAMB names; ``ln10_10As`` = ln(10^10 A_s))."""

WMAP9_TO_CAMB = {
    "H0": "H0",
    "omegach2": "omch2",
    "omegabh2": "ombh2",
    "ns002": "ns",
    "tau": "tau",
    "mnu": "mnu",
}
"""WMAP9 chain file name -> CAMB parameter (CMB-ML's choice of parameters)."""

_CAMB_KEYS = {"H0", "ombh2", "omch2", "tau", "ns", "As", "mnu", "omk", "nnu", "YHe", "r", "nrun"}


def default_planck_table() -> Path:
    """Path of the shipped Planck 2018 table (``assets/cosmology/planck2018_lcdm.csv``)."""
    return Path(__file__).resolve().parents[2] / "assets" / "cosmology" / "planck2018_lcdm.csv"


def load_gaussian_prior(
    path: str | Path | None = None, params: Iterable[str] = DEFAULT_PARAMS
) -> dict[str, tuple[float, float]]:
    """Means and standard deviations of ``params`` from a CSV (``camb_name,mean,sigma`` columns).

    Returns
    -------
    dict[str, tuple[float, float]]
        Parameter -> (mean, sigma), in the order of ``params``.
    """
    path = require_file(default_planck_table() if path is None else path)
    with open(path, newline="") as fh:
        rows = {r["camb_name"]: r for r in csv.DictReader(fh)}
    out = {}
    for p in params:
        if p not in rows:
            raise ValueError(f"{path}: no row with camb_name '{p}'; rows: {', '.join(rows)}")
        mean, sigma = float(rows[p]["mean"]), float(rows[p]["sigma"])
        if not sigma > 0:
            raise ValueError(f"{path}: parameter '{p}' has sigma {sigma}, expected > 0")
        out[p] = (mean, sigma)
    return out


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


def camb_inputs(params: Mapping[str, float], fixed: Mapping[str, float] | None = None) -> dict:
    """CAMB keyword values from drawn parameters plus fixed ones.

    ``ln10_10As`` becomes ``As``; every other key must be a CAMB ``set_cosmology`` /
    ``InitPower.set_params`` name. Drawn values take precedence over ``fixed``.
    """
    out = dict(fixed or {})
    for key, value in params.items():
        if key == "ln10_10As":
            out["As"] = math.exp(float(value)) * 1e-10
        else:
            out[key] = float(value)
    unknown = sorted(set(out) - _CAMB_KEYS)
    if unknown:
        raise ValueError(
            f"unknown cosmological parameter(s) {unknown}; "
            f"known: {sorted(_CAMB_KEYS | {'ln10_10As'})}"
        )
    return out


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
