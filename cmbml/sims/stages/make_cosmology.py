"""Stage ``make_cosmology``: the cosmological parameters of each simulation (YAML)."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from cmbml.core import Stage, get_splits
from cmbml.core.errors import ConfigError
from cmbml.core.splits import split_config
from cmbml.sims.cosmology import (
    CMBML_FIXED_AS,
    WMAP_PIVOT_MPC,
    camb_inputs,
    chain_length,
    derived_h0,
    draw_correlated,
    draw_gaussian,
    load_best_fit,
    load_covariance_prior,
    load_gaussian_prior,
    read_chain_rows,
    select_chain_rows,
    wmap_amplitude,
)

OPTION = "model/sim/cmb=wmap9_chains"
FIXED_SPECTRUM = (None, "per_split", "best_fit")
"""``model.sim.cmb.fixed_spectrum``: a cosmology per simulation, one per split, or the best fit."""
BEST_FIT_TABLE = "cosmology/planck2018_bestfit.csv"
"""Planck 2018's best-fit LCDM parameters, under ``local_system.assets_dir``."""
CHAIN_HINT = f"python get_data/get_wmap_chains.py --only lcdm_mnu (needed by {OPTION})"


class MakeCosmology(Stage):
    """Draw one set of cosmological parameters per simulation.

    ``model.sim.cmb.source``:

    - ``planck2018``: Gaussian draws seeded by (split, sim). Without ``covariance``, independent
      draws of ``params`` (means and sigma from ``prior_table``; by default 100 theta_MC,
      omega_b, omega_c, n_s, tau, 10^9 A_s e^(-2 tau)); with ``covariance`` (a CosmoMC
      ``.covmat``), one multivariate draw of its LCDM parameters, means from ``prior_table``.
      When theta is drawn, the H_0 CAMB solves for is recorded under ``derived``;
    - ``wmap9_chains``: one row of the WMAP9 chain files in ``chain_dir`` per simulation, renamed
      by ``chain_to_camb``, with A_s from the row's ``amplitude.file`` (``a002``: 10^9
      Delta^2_R at k = 0.002/Mpc, times ``amplitude.scale``) at CAMB's pivot, or
      A_s = 2e-9 for every simulation with ``as_fixed: true`` (CMB-ML's choice). Rows are
      distinct across the dataset: simulation ``sim`` of the ``k``-th of ``n`` splits takes
      entry ``sim * n + k`` of a permutation of all chain rows seeded per dataset, so a
      simulation's row does not depend on the splits' sizes (growing a split keeps every
      existing simulation).

    ``model.sim.cmb.fixed_spectrum`` (usually a split's own setting, :mod:`cmbml.core.splits`)
    fixes the spectrum of a whole split: ``per_split`` makes every simulation take the draw of
    the split (seeded by the split alone; for chains, the row of simulation 0), ``best_fit``
    takes Planck 2018's best-fit parameters (``best_fit_table``, default
    ``assets/cosmology/planck2018_bestfit.csv``) for ``planck2018``.

    The YAML holds ``source``, the drawn values (``drawn``; for chains also ``chain_row``,
    ``chain_step`` and the raw ``chain_values``), the CAMB inputs (``camb``: drawn values
    converted, plus ``fixed``) and ``derived`` values.

    Config: ``model.sim.cmb`` (and, for chains, the split names). Reads no catalog entry (the
    prior table, covariance and chain files are declared assets); writes ``cosmo_params``.
    """

    name = "make_cosmology"
    inputs = ()
    outputs = ("cosmo_params",)
    config_keys = ("model.sim.cmb",)
    per_sim = True

    def process_sim(self, split: str, sim: int) -> None:
        """Write ``cosmo_params`` of (split, sim)."""
        ccfg = OmegaConf.to_container(split_config(self.cfg, split).model.sim.cmb, resolve=True)
        fixed = ccfg.get("fixed") or {}
        source = ccfg.get("source")
        mode = ccfg.get("fixed_spectrum")
        if mode not in FIXED_SPECTRUM:
            raise ConfigError(
                f"model.sim.cmb.fixed_spectrum must be one of {FIXED_SPECTRUM}, got {mode!r}"
            )
        if mode == "best_fit" and source != "planck2018":
            raise ConfigError("model.sim.cmb.fixed_spectrum=best_fit needs source planck2018")
        if mode == "best_fit":
            out = self._best_fit(ccfg)
        elif source == "planck2018":
            out = self._planck(ccfg, split, None if mode else sim)
        elif source == "wmap9_chains":
            out = self._wmap(ccfg, split, 0 if mode else sim)
        else:
            raise ConfigError(
                f"model.sim.cmb.source must be 'planck2018' or 'wmap9_chains', got {source!r}"
            )
        if mode:
            out["fixed_spectrum"] = mode
        camb = camb_inputs(out["drawn"], fixed)
        if "As" in out:
            camb["As"] = out.pop("As")
        out["camb"] = camb
        if "cosmomc_theta" in camb:
            out["derived"] = {"H0": derived_h0(camb)}
        self.write("cosmo_params", out, split=split, sim=sim)

    def _best_fit(self, ccfg: dict) -> dict:
        default = Path(str(self.cfg.local_system.assets_dir)) / BEST_FIT_TABLE
        table = str(self.asset(ccfg.get("best_fit_table") or default, hint="best_fit_table"))
        return {"source": "planck2018_best_fit", "drawn": load_best_fit(table, ccfg["params"])}

    def _planck(self, ccfg: dict, split: str, sim: int | None) -> dict:
        table = str(self.asset(ccfg["prior_table"], hint="model.sim.cmb.prior_table"))
        rng = self.rng(split, sim, "cosmology")
        covariance = ccfg.get("covariance")
        if covariance:
            path = str(self.asset(covariance, hint="model.sim.cmb.covariance: a CosmoMC .covmat"))
            means, cov, params = _covariance_prior(path, table)
            drawn = draw_correlated(means, cov, params, rng)
        else:
            drawn = draw_gaussian(_prior(table, tuple(ccfg["params"])), rng)
        return {"source": "planck2018", "drawn": drawn}

    def _wmap(self, ccfg: dict, split: str, sim: int) -> dict:
        chain_dir = ccfg["chain_dir"]
        mapping = ccfg["chain_to_camb"]
        amplitude = ccfg.get("amplitude") or {}
        as_fixed = bool(ccfg.get("as_fixed", False))
        names = list(mapping)
        if not as_fixed:
            if not amplitude.get("file"):
                raise ConfigError("model.sim.cmb.amplitude.file is needed unless as_fixed: true")
            names.append(str(amplitude["file"]))
        for name in names:
            self.asset(Path(chain_dir) / name, hint=CHAIN_HINT)
        row = self._chain_row(chain_dir, tuple(names), split, sim)
        values = read_chain_rows(chain_dir, names, [row], option=OPTION)[0]
        step = values.pop("chain_step")
        drawn = {mapping[k]: v for k, v in values.items() if k in mapping}
        out = {
            "source": "wmap9_chains",
            "chain_row": int(row),
            "chain_step": step,
            "chain_values": values,
            "drawn": drawn,
        }
        if as_fixed:
            out["As"] = CMBML_FIXED_AS
        else:
            if "ns" not in drawn:
                raise ConfigError("model.sim.cmb.chain_to_camb must map a chain file to 'ns'")
            a0 = values[str(amplitude["file"])]
            out["As"] = wmap_amplitude(a0, drawn["ns"], float(amplitude.get("scale", 1e-9)))["As"]
            out["amplitude_pivot_mpc"] = WMAP_PIVOT_MPC
        return out

    def stage_config(self) -> dict:
        """Config hash input; chain rows also depend on the list of splits (not their sizes)."""
        config = super().stage_config()
        if self.cfg.model.sim.cmb.get("source") == "wmap9_chains":
            config["split_names"] = [s.name for s in get_splits(self.cfg)]
        return config

    def _chain_row(self, chain_dir: str, names: tuple[str, ...], split: str, sim: int) -> int:
        split_names = [s.name for s in get_splits(self.cfg)]
        index = sim * len(split_names) + split_names.index(split)
        n_rows = chain_length(chain_dir, names, option=OPTION)
        if index >= n_rows:
            raise ValueError(
                f"the chains in {chain_dir} have {n_rows} rows; {split} sim {sim} needs row "
                f"index {index} (sim x {len(split_names)} splits + split position)"
            )
        seed = int(self.rng(None, None, "cosmology_chain_rows").integers(2**63))
        return int(_permutation(n_rows, seed)[index])


@functools.lru_cache(maxsize=4)
def _prior(path: str, params: tuple[str, ...]):
    return load_gaussian_prior(path, params)


@functools.lru_cache(maxsize=4)
def _covariance_prior(path: str, table: str):
    return load_covariance_prior(path, table)


@functools.lru_cache(maxsize=4)
def _permutation(n_rows: int, seed: int) -> np.ndarray:
    return select_chain_rows(n_rows, n_rows, np.random.default_rng(seed))
