"""Stage ``make_mask``: the binary analysis mask and its apodised copy."""

from __future__ import annotations

import numpy as np
from omegaconf import OmegaConf

from cmbml.core import Stage
from cmbml.core.errors import ConfigError
from cmbml.sims.mask import apodize_c1, foreground_mask, read_planck_mask

OPTION = "model/sim/mask=planck"


class MakeMask(Stage):
    """Binary mask (1 kept, 0 masked) at ``scenario.nside`` and a C1-apodised copy.

    ``model.sim.mask.source``:

    - ``foreground``: the intensity of ``fg_map`` at ``reference_bands`` (foregrounds alone,
      uK_CMB), smoothed by ``smoothing_fwhm_arcmin`` and thresholded to the sky fraction
      ``fsky``;
    - ``planck``: the ``column`` (TMASK) of the Planck NILC file ``file``, averaged to
      ``scenario.nside`` and kept where >= ``threshold``.

    ``mask_apod`` is the C1 apodisation over ``apodization_deg`` (zero where the mask is zero).

    Config: ``scenario``, ``model.sim.mask``. Reads ``fg_map`` (foreground source); writes
    ``mask`` and ``mask_apod``.
    """

    name = "make_mask"
    inputs = ("fg_map",)
    outputs = ("mask", "mask_apod")
    config_keys = ("scenario", "model.sim.mask")
    per_sim = False

    def run(self) -> None:
        """Write ``mask`` and ``mask_apod``."""
        mcfg = OmegaConf.to_container(self.cfg.model.sim.mask, resolve=True)
        nside = int(self.cfg.scenario.nside)
        source = mcfg.get("source")
        if source == "foreground":
            bands = [int(b) for b in mcfg["reference_bands"]]
            missing = [b for b in bands if b not in [int(d) for d in self.cfg.scenario.detectors]]
            if missing:
                raise ConfigError(
                    f"model.sim.mask.reference_bands {missing} are not in scenario.detectors"
                )
            intensity = np.stack(
                [
                    np.atleast_2d(self.read("fg_map", freq=b, options={"nside": nside}))[0]
                    for b in bands
                ]
            )
            mask = foreground_mask(
                intensity, float(mcfg["fsky"]), float(mcfg["smoothing_fwhm_arcmin"])
            )
        elif source == "planck":
            path = self.asset(
                mcfg["file"],
                hint=f"python get_data/get_planck_assets.py --only nilc (needed by {OPTION})",
            )
            mask = read_planck_mask(
                path, nside, float(mcfg["threshold"]), str(mcfg["column"]), option=OPTION
            )
        else:
            raise ConfigError(
                f"model.sim.mask.source must be 'foreground' or 'planck', got {source!r}"
            )
        self.write("mask", mask, options={"unit": ""})
        apod = apodize_c1(mask, float(mcfg["apodization_deg"]))
        self.write("mask_apod", apod, options={"unit": ""})
        self.log.info("mask (%s): sky fraction %.3f", source, mask.mean())
