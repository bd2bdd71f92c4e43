"""Readers of the files a published CMB-ML dataset ships besides its maps.

Each simulation of CMB-ML's datasets (CMB_ML_128_1450, CMB_ML_512_1450) comes with

- ``Simulation_Working/Simulation_CMB_Power_Spectra/<split>/simNNNN/cmb_ps_fid.txt``: CAMB's
  ``save_cmb_power_spectra`` text, a ``#  L TT EE BB TE PP PT PE`` header then one row per
  multipole from l = 0, the lensed CMB columns as ``D_l = l (l + 1) C_l / (2 pi)`` in uK²;
- ``Simulation_Working/Simulation_C_Configs/<split>/simNNNN/wmap_params.yaml``: the WMAP9 chain
  row the simulation was drawn from, keys ``H0``, ``omegabh2``, ``omegach2``, ``ns002``, ``tau``,
  ``mnu`` (the ``lcdm_mnu`` chains) and ``chain_idx``.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from cmbml.core.errors import BadInputError

__all__ = ["CAMB_COLUMNS", "WMAP_TO_CAMB", "read_camb_spectrum", "wmap_cosmology"]

CAMB_COLUMNS: tuple[str, ...] = ("TT", "EE", "BB", "TE")
"""The lensed CMB columns of a CAMB ``save_cmb_power_spectra`` file used here."""

WMAP_TO_CAMB: dict[str, str] = {
    "H0": "H0",
    "omegabh2": "ombh2",
    "omegach2": "omch2",
    "ns002": "ns",
    "tau": "tau",
    "mnu": "mnu",
}
"""WMAP9 chain parameter -> CAMB parameter (``mnu`` only in the ``lcdm_mnu`` chains)."""


def read_camb_spectrum(text: str, source: str = "CAMB spectrum") -> pd.DataFrame:
    """C_l table from the text of a CAMB ``save_cmb_power_spectra`` file (``cmb_ps_fid.txt``).

    Parameters
    ----------
    text : str
        File content: a ``#``-prefixed header naming the columns (``L TT EE BB TE ...``), then
        rows of ``L`` and D_l in uK². Rows may start at l = 0 or l = 2 (l < 2 is then zero).
    source : str
        The file, for error messages.

    Returns
    -------
    pandas.DataFrame
        Columns ``ell`` (0, 1, ..., lmax) and ``TT``, ``EE``, ``BB``, ``TE`` as C_l in uK²
        (the layout of cmbml's ``cmb_spectrum``).

    Raises
    ------
    BadInputError
        No header with ``L`` and the CMB columns, non-numeric rows, or gaps in ``L``.
    """
    first = text.lstrip().splitlines()[0] if text.strip() else ""
    names = first.lstrip("#").split()
    missing = [c for c in ("L", *CAMB_COLUMNS) if c not in names]
    if not first.startswith("#") or missing:
        raise BadInputError(
            f"{source}: expected CAMB's header '#  L TT EE BB TE ...', missing {missing} "
            f"in {first[:80]!r}"
        )
    try:
        table = pd.read_csv(io.StringIO(text), comment="#", sep=r"\s+", header=None, names=names)
        ell = table["L"].to_numpy(dtype=np.int64)
        dl = {c: table[c].to_numpy(dtype=np.float64) for c in CAMB_COLUMNS}
    except (ValueError, KeyError) as exc:
        raise BadInputError(f"{source}: not a numeric CAMB spectrum table ({exc})") from exc
    if ell.size == 0 or ell[0] not in (0, 2) or np.any(np.diff(ell) != 1):
        raise BadInputError(f"{source}: column L must run 0 (or 2), 1, 2, ... without gaps")
    lmax = int(ell[-1])
    out = {"ell": np.arange(lmax + 1)}
    factor = np.zeros(lmax + 1)
    factor[2:] = 2.0 * np.pi / (out["ell"][2:] * (out["ell"][2:] + 1.0))
    for c in CAMB_COLUMNS:
        full = np.zeros(lmax + 1)
        full[ell] = dl[c]
        out[c] = full * factor
    return pd.DataFrame(out)


def wmap_cosmology(params: dict, source: str = "wmap_params.yaml") -> dict[str, float]:
    """CAMB parameters of a ``wmap_params.yaml`` mapping.

    Parameters
    ----------
    params : dict
        The YAML content (``H0``, ``omegabh2``, ``omegach2``, ``ns002``, ``tau``, optionally
        ``mnu`` and ``chain_idx``).
    source : str
        The file, for error messages.

    Returns
    -------
    dict
        ``{H0, ombh2, omch2, ns, tau[, mnu]}`` as floats.

    Raises
    ------
    BadInputError
        Not a mapping, a required key missing, or a non-numeric value.
    """
    if not isinstance(params, dict):
        raise BadInputError(f"{source}: expected a mapping of WMAP chain parameters")
    required = [k for k in WMAP_TO_CAMB if k != "mnu"]
    missing = [k for k in required if k not in params]
    if missing:
        raise BadInputError(f"{source}: missing WMAP parameter(s) {missing}")
    try:
        return {camb: float(params[wmap]) for wmap, camb in WMAP_TO_CAMB.items() if wmap in params}
    except (TypeError, ValueError) as exc:
        raise BadInputError(f"{source}: non-numeric WMAP parameter ({exc})") from exc
