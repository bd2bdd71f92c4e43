"""The base of the Hybrid stages: settings ``model.hybrid``, its network, its ILC input."""

from __future__ import annotations

import numpy as np

from cmbml.analysis.stages.base import resolution
from cmbml.core import ConfigError
from cmbml.core.dataset import observed_pixel_window
from cmbml.nn.stack_stages import NestStage

__all__ = ["METHOD", "HybridStage"]

#: The method's name: its settings are ``model.hybrid``, its seeds are drawn under it.
METHOD = "hybrid"


class HybridStage(NestStage):
    """A Hybrid stage (settings ``model.hybrid``; items: one NEST stack per simulation)."""

    method = METHOD

    def fields(self) -> list[str]:
        """``["I"]``: the Hybrid corrects the intensity.

        Raises
        ------
        ConfigError
            ``model.hybrid.fields`` asks for Q, U.
        """
        fields = super().fields()
        if fields != ["I"]:
            raise ConfigError(f"model.hybrid.fields: the Hybrid cleans I only, got {fields}")
        return fields

    def output_resolution(self) -> tuple[float, bool]:
        """``model.hybrid.target_beam`` (the resolution its targets were brought to: FWHM in
        arcmin and pixel window, ``pixwin: dataset`` the dataset's record as the ILC map's), or
        the unbeamed CMB without one."""
        beam = self.model.get("target_beam")
        if beam is None:
            return 0.0, False
        node = {"fwhm_arcmin": beam.get("fwhm_arcmin"), "pixwin": beam.get("pixwin")}
        target = resolution(node, "model.hybrid.target_beam", lambda: observed_pixel_window(self))
        return float(target.fwhm_arcmin), bool(target.pixwin)

    def ilc_map(self, split: str, sim: int) -> np.ndarray:
        """The ILC prediction (``pyilc_cmb_map_pred`` of ``model.hybrid.ilc_working``), I,
        RING ``(npix,)``, uK_CMB."""
        options = {"field": 0, "nside": int(self.cfg.scenario.nside), "unit": "uK_CMB"}
        return self.read(
            "pyilc_cmb_map_pred",
            options=options,
            split=split,
            sim=sim,
            working=str(self.model.ilc_working),
        )

    def baseline(self, split: str, sim: int, field: str) -> np.ndarray:
        """The ILC map: the network predicts its correction."""
        return self.ilc_map(split, sim)
