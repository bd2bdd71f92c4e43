"""Stage ``make_noise_model``: per-detector noise sigma maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from cmbml.core import Stage
from cmbml.core.errors import ConfigError
from cmbml.sims.noise import read_planck_variance, scan_depth_weights, sigma_maps

OPTION = "model/sim/noise=planck_variance"
PLANCK_HINT = f"python get_data/get_planck_assets.py (needed by {OPTION})"


class MakeNoiseModel(Stage):
    """Per-pixel noise sigma (uK_CMB) of every detector, I or I, Q, U.

    ``model.sim.noise.source``:

    - ``sensitivity``: sigma = s / sqrt(pixel area in arcmin^2) from the table's noise levels,
      times ``sqrt(scan_depth_weights)`` when ``scan_depth.enabled`` (mean variance unchanged);
    - ``planck_variance``: sqrt of the Planck frequency maps' II_COV (QQ_COV, UU_COV) in
      ``planck_dir/files[band]``, converted to uK_CMB^2 at the centre frequency and downgraded
      to ``scenario.nside``. A missing file raises MissingInputError naming it and the option.

    Config: ``scenario``, ``model.sim.noise``. Reads ``detector_table``; writes ``noise_sigma``
    (one map per detector, ``freq`` = band).
    """

    name = "make_noise_model"
    inputs = ("detector_table",)
    outputs = ("noise_sigma",)
    config_keys = ("scenario", "model.sim.noise")
    per_sim = False

    def run(self) -> None:
        """Write ``noise_sigma`` for every detector."""
        ncfg = OmegaConf.to_container(self.cfg.model.sim.noise, resolve=True)
        nside = int(self.cfg.scenario.nside)
        rows = self.read("detector_table").to_dict("records")
        source = ncfg.get("source")
        if source == "sensitivity":
            weights = None
            depth = ncfg.get("scan_depth") or {}
            if depth.get("enabled"):
                weights = scan_depth_weights(
                    nside,
                    contrast=float(depth["contrast"]),
                    width_deg=float(depth["width_deg"]),
                    coord=str(depth.get("coord", "G")),
                )
            for row in rows:
                levels = [row["noise_t_uk_arcmin"]]
                if row["fields"] == "IQU":
                    levels += [row["noise_p_uk_arcmin"]] * 2
                sigma = sigma_maps(levels, nside, depth_weights=weights)
                self.write("noise_sigma", _squeeze(sigma), freq=int(row["band"]))
        elif source == "planck_variance":
            files = {int(k): v for k, v in (ncfg.get("files") or {}).items()}
            for row in rows:
                band = int(row["band"])
                if band not in files:
                    raise ConfigError(
                        f"model.sim.noise.files has no Planck map for detector {band} "
                        f"(needed by {OPTION})"
                    )
                path = self.asset(Path(ncfg["planck_dir"]) / files[band], hint=PLANCK_HINT)
                var = read_planck_variance(
                    path, nside, float(row["center_ghz"]), row["fields"], option=OPTION
                )
                self.write("noise_sigma", _squeeze(np.sqrt(var)), freq=band)
        else:
            raise ConfigError(
                f"model.sim.noise.source must be 'sensitivity' or 'planck_variance', got {source!r}"
            )
        self.log.info("noise sigma maps (%s) for %d detectors", source, len(rows))


def _squeeze(maps: np.ndarray) -> np.ndarray:
    return maps[0] if maps.shape[0] == 1 else maps
