"""The preprocess stage of a network method: HEALPix maps -> its scaled layout, per simulation."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from cmbml.core import ConfigError
from cmbml.core.splits import split_kinds
from cmbml.nn.fields import (
    STOKES,
    NetworkStage,
    product,
    read_channels,
    read_stokes,
)

__all__ = ["NetworkPreprocess"]


class NetworkPreprocess(NetworkStage):
    """Arrange the observed and CMB maps of each Stokes field into the network's scaled layout
    (all splits).

    A method sets ``obs_entry`` and ``cmb_entry`` (catalog entries; their ``_pol`` twins hold
    Q, U) and :meth:`arrange`, its layout of ``(n, npix)`` RING maps. Config:
    ``scenario.nside``, ``model.<method>.detectors``, ``fields``. Reads ``<method>_scale`` /
    ``<method>_scale_pol`` (each field's input channels and factors), ``obs_map`` (split, sim,
    freq; uK_CMB) and ``cmb_map`` (split, sim). Writes, per field, ``obs_entry`` (float32, the
    layout of the ``n_detectors`` maps, obs / feature scale) and ``cmb_entry`` (float32, the
    layout of the CMB / target scale); observation-only splits (real maps) have no CMB map and
    get observed maps only.
    """

    obs_entry: ClassVar[str]
    cmb_entry: ClassVar[str]
    per_sim = True
    observations = True  # also the observation-only splits (real maps: observed planes only)

    def arrange(self, maps: np.ndarray) -> np.ndarray:
        """The network's layout of RING maps ``(n, npix)``."""
        raise NotImplementedError

    def process_sim(self, split: str, sim: int) -> None:
        fields = self.fields()
        scales = {}
        for field in fields:
            name, values = product(f"{self.method}_scale", field)
            scales[field] = self.read(name, **values)
        channels = {field: [int(det) for det in scales[field]["features"]] for field in fields}
        self._check_detectors(channels["I"])
        maps = read_channels(self, channels, split=split, sim=sim)
        cmb = [None] * len(fields)
        if split_kinds(self.cfg)[split] != "observation":  # real maps: no truth
            stokes = [STOKES[field] for field in fields]
            cmb = read_stokes(self, "cmb_map", stokes, split=split, sim=sim)
        for field, cmb_map in zip(fields, cmb, strict=True):
            scale = scales[field]
            obs = np.stack(
                [maps[field, det] / scale["features"][str(det)] for det in channels[field]]
            )
            name, values = product(self.obs_entry, field)
            plane = self.arrange(obs).astype(np.float32)
            self.write(name, plane, split=split, sim=sim, **values)
            if cmb_map is None:
                continue
            name, values = product(self.cmb_entry, field)
            plane = self.arrange((cmb_map / scale["target"])[None]).astype(np.float32)
            self.write(name, plane, split=split, sim=sim, **values)

    def _check_detectors(self, detectors: list[int]) -> None:
        known = [int(det) for det in self.cfg.scenario.detectors]
        missing = [det for det in detectors if det not in known]
        if missing:
            raise ConfigError(
                f"model.{self.method}.detectors {missing} are not in scenario.detectors {known}"
            )
