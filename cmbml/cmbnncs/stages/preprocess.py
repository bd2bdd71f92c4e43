"""Stage cmbnncs_preprocess: HEALPix maps -> scaled CMBNNCS planes, one file per simulation."""

from __future__ import annotations

import numpy as np

from cmbml.cmbnncs.layout import sphere_to_plane
from cmbml.cmbnncs.stages._common import (
    STOKES,
    CmbnncsStage,
    product,
    read_channels,
    read_stokes,
)
from cmbml.core import ConfigError
from cmbml.core.splits import split_kinds


class CmbnncsPreprocess(CmbnncsStage):
    """Rearrange the observed and CMB maps of each Stokes field into scaled planes (all splits).

    Config: ``scenario.nside``, ``model.cmbnncs.detectors``, ``fields``. Reads
    ``cmbnncs_scale`` / ``cmbnncs_scale_pol`` (each field's input channels and factors),
    ``obs_map`` (split, sim, freq; uK_CMB) and ``cmb_map`` (split, sim). Writes, per field,
    ``cmbnncs_obs_plane`` / ``cmbnncs_obs_plane_pol`` (float32, ``(n_detectors, 4*nside,
    3*nside)``, obs / feature scale) and ``cmbnncs_cmb_plane`` / ``cmbnncs_cmb_plane_pol``
    (float32, ``(1, 4*nside, 3*nside)``, CMB / target scale); observation-only splits (real
    maps) have no CMB map and get observed planes only.
    """

    name = "cmbnncs_preprocess"
    inputs = ("cmbnncs_scale", "cmbnncs_scale_pol", "obs_map", "cmb_map")
    outputs = (
        "cmbnncs_obs_plane",
        "cmbnncs_obs_plane_pol",
        "cmbnncs_cmb_plane",
        "cmbnncs_cmb_plane_pol",
    )
    config_keys = ("scenario.nside", "model.cmbnncs.detectors")
    per_sim = True
    observations = True  # also the observation-only splits (real maps)

    def process_sim(self, split: str, sim: int) -> None:
        fields = self.fields()
        scales = {}
        for field in fields:
            name, values = product("cmbnncs_scale", field)
            scales[field] = self.read(name, **values)
        channels = {field: [int(det) for det in scales[field]["features"]] for field in fields}
        self._check_detectors(channels["I"])
        maps = read_channels(self, channels, split=split, sim=sim)
        observed = split_kinds(self.cfg)[split] == "observation"  # real maps: no truth
        cmb = [None] * len(fields)
        if not observed:
            stokes = [STOKES[field] for field in fields]
            cmb = read_stokes(self, "cmb_map", stokes, split=split, sim=sim)
        for field, cmb_map in zip(fields, cmb, strict=True):
            scale = scales[field]
            obs = np.stack(
                [maps[field, det] / scale["features"][str(det)] for det in channels[field]]
            )
            name, values = product("cmbnncs_obs_plane", field)
            plane = sphere_to_plane(obs).astype(np.float32)
            self.write(name, plane, split=split, sim=sim, **values)
            if cmb_map is None:
                continue
            name, values = product("cmbnncs_cmb_plane", field)
            plane = sphere_to_plane((cmb_map / scale["target"])[None]).astype(np.float32)
            self.write(name, plane, split=split, sim=sim, **values)

    def _check_detectors(self, detectors: list[int]) -> None:
        known = [int(det) for det in self.cfg.scenario.detectors]
        missing = [det for det in detectors if det not in known]
        if missing:
            raise ConfigError(
                f"model.cmbnncs.detectors {missing} are not in scenario.detectors {known}"
            )
