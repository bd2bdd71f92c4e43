"""Stage cmbnncs_preprocess: HEALPix maps -> scaled CMBNNCS planes, one file per simulation."""

from __future__ import annotations

import numpy as np

from cmbml.cmbnncs.layout import sphere_to_plane
from cmbml.cmbnncs.stages._common import map_read_options
from cmbml.core import ConfigError, Stage


class CmbnncsPreprocess(Stage):
    """Rearrange the observed and CMB temperature maps into scaled planes (all splits).

    Config: ``scenario.nside``, ``model.cmbnncs.detectors``. Reads ``cmbnncs_scale``,
    ``obs_map`` (split, sim, freq; field I, uK_CMB) and ``cmb_map`` (split, sim; field I).
    Writes ``cmbnncs_obs_plane`` (float32, ``(n_detectors, 4*nside, 3*nside)``, obs / feature
    scale) and ``cmbnncs_cmb_plane`` (float32, ``(1, 4*nside, 3*nside)``, CMB / target scale).
    """

    name = "cmbnncs_preprocess"
    inputs = ("cmbnncs_scale", "obs_map", "cmb_map")
    outputs = ("cmbnncs_obs_plane", "cmbnncs_cmb_plane")
    config_keys = ("scenario.nside", "model.cmbnncs.detectors")
    per_sim = True

    def process_sim(self, split: str, sim: int) -> None:
        scale = self.read("cmbnncs_scale")
        read_opts = map_read_options(self.cfg)
        detectors = list(self.cfg.model.cmbnncs.detectors)
        missing = [det for det in detectors if det not in list(self.cfg.scenario.detectors)]
        if missing:
            raise ConfigError(
                f"model.cmbnncs.detectors {missing} are not in scenario.detectors "
                f"{list(self.cfg.scenario.detectors)}"
            )
        obs = np.stack(
            [
                self.read("obs_map", options=read_opts, split=split, sim=sim, freq=det)
                / scale["features"][str(det)]
                for det in detectors
            ]
        )
        self.write(
            "cmbnncs_obs_plane", sphere_to_plane(obs).astype(np.float32), split=split, sim=sim
        )
        cmb = self.read("cmb_map", options=read_opts, split=split, sim=sim) / scale["target"]
        self.write(
            "cmbnncs_cmb_plane",
            sphere_to_plane(cmb[None]).astype(np.float32),
            split=split,
            sim=sim,
        )
