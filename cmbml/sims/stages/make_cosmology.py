"""Stage ``make_cosmology``: the cosmological parameters of each simulation (YAML)."""

from __future__ import annotations

import functools

import numpy as np
from omegaconf import OmegaConf

from cmbml.core import Stage, get_splits
from cmbml.core.errors import ConfigError
from cmbml.sims.cosmology import (
    camb_inputs,
    chain_length,
    draw_gaussian,
    load_gaussian_prior,
    read_chain_rows,
    select_chain_rows,
)

OPTION = "model/sim/cmb=wmap9_chains"


class MakeCosmology(Stage):
    """Draw one set of cosmological parameters per simulation.

    ``model.sim.cmb.source``:

    - ``planck2018``: independent Gaussian draws of ``params`` (means and sigma from
      ``prior_table``), seeded by (split, sim);
    - ``wmap9_chains``: one row of the WMAP9 chain files in ``chain_dir`` per simulation, renamed
      by ``chain_to_camb``. Rows are distinct across the dataset: simulation ``sim`` of the
      ``k``-th of ``n`` splits takes entry ``sim * n + k`` of a permutation of all chain rows
      seeded per dataset, so a simulation's row does not depend on the splits' sizes (growing
      a split keeps every existing simulation).

    The YAML holds ``source``, the drawn values (``drawn``; for chains also ``chain_row`` and
    ``chain_step``) and the CAMB inputs (``camb``: drawn values plus ``fixed``).

    Config: ``model.sim.cmb`` (and, for chains, the split names). Reads no catalog entry;
    writes ``cosmo_params``.
    """

    name = "make_cosmology"
    inputs = ()
    outputs = ("cosmo_params",)
    config_keys = ("model.sim.cmb",)
    per_sim = True

    def process_sim(self, split: str, sim: int) -> None:
        """Write ``cosmo_params`` of (split, sim)."""
        ccfg = OmegaConf.to_container(self.cfg.model.sim.cmb, resolve=True)
        fixed = ccfg.get("fixed") or {}
        source = ccfg.get("source")
        if source == "planck2018":
            prior = _prior(ccfg["prior_table"], tuple(ccfg["params"]))
            drawn = draw_gaussian(prior, self.rng(split, sim, "cosmology"))
            out = {"source": source, "drawn": drawn}
        elif source == "wmap9_chains":
            names = list(ccfg["chain_to_camb"])
            row = self._chain_row(ccfg["chain_dir"], tuple(names), split, sim)
            values = read_chain_rows(ccfg["chain_dir"], names, [row], option=OPTION)[0]
            step = values.pop("chain_step")
            drawn = {ccfg["chain_to_camb"][k]: v for k, v in values.items()}
            out = {"source": source, "chain_row": int(row), "chain_step": step, "drawn": drawn}
        else:
            raise ConfigError(
                f"model.sim.cmb.source must be 'planck2018' or 'wmap9_chains', got {source!r}"
            )
        out["camb"] = camb_inputs(drawn, fixed)
        self.write("cosmo_params", out, split=split, sim=sim)

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
def _permutation(n_rows: int, seed: int) -> np.ndarray:
    return select_chain_rows(n_rows, n_rows, np.random.default_rng(seed))
