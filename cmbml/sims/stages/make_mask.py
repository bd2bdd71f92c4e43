"""Stage ``make_mask``: the binary analysis mask and its apodised copy."""

from __future__ import annotations

import numpy as np
from omegaconf import OmegaConf

from cmbml.core import Stage
from cmbml.core.errors import ConfigError
from cmbml.sims.mask import apodize_c1, foreground_mask, read_planck_mask, source_holes
from cmbml.sims.stages.make_foregrounds import foreground_config, foreground_seed
from cmbml.sims.stages.make_instrument import scenario_detectors

OPTION = "model/sim/mask=planck"


class MakeMask(Stage):
    """Binary mask (1 kept, 0 masked) at ``scenario.nside`` and a C1-apodised copy.

    ``model.sim.mask.source``:

    - ``foreground``: the intensity of ``fg_map`` at ``reference_bands`` (foregrounds alone,
      uK_CMB), smoothed by ``smoothing_fwhm_arcmin`` and thresholded to the sky fraction
      ``fsky``; with ``point_sources.enabled``, holes are then cut around the synthetic
      sources (:func:`~cmbml.sims.mask.point_source_mask`) brighter than
      ``point_sources.flux_limits_mjy`` in any band of ``scenario.detectors`` (Planck's
      catalogue limits), of radius ``radius_fwhm`` times ``point_sources.fwhm_arcmin`` (Planck's
      beams), apodised over ``point_sources.apodization_deg`` (not with PySM3 presets);
    - ``planck``: the ``column`` (TMASK) of the Planck NILC file ``file``, averaged to
      ``scenario.nside`` and kept where >= ``threshold``.

    ``mask_apod`` is the C1 apodisation over ``apodization_deg`` (zero where the mask is zero),
    times that of the point-source holes over their own, smaller scale.

    Config: ``scenario``, ``model.sim.mask``. Reads ``fg_map`` (foreground source); writes
    ``mask`` and ``mask_apod``.
    """

    name = "make_mask"
    inputs = ("fg_map",)
    outputs = ("mask", "mask_apod")
    config_keys = ("scenario", "model.sim.mask", "model.sim.foregrounds", "model.sim.instrument")
    per_sim = False

    def run(self) -> None:
        """Write ``mask`` and ``mask_apod``."""
        mcfg = OmegaConf.to_container(self.cfg.model.sim.mask, resolve=True)
        nside = int(self.cfg.scenario.nside)
        source = mcfg.get("source")
        holes = None
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
            pcfg = mcfg.get("point_sources") or {}
            if pcfg.get("enabled", False):
                holes = self._source_holes(pcfg, nside)
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
        apod = apodize_c1(mask, float(mcfg["apodization_deg"]))
        if holes is not None:
            mask = mask * holes
            apod *= apodize_c1(holes, float(pcfg["apodization_deg"]))
        self.write("mask", mask, options={"unit": ""})
        self.write("mask_apod", apod, options={"unit": ""})
        self.log.info("mask (%s): sky fraction %.3f", source, mask.mean())

    def _source_holes(self, pcfg: dict, nside: int) -> np.ndarray | None:
        """Holes around the dataset's synthetic sources above each band's flux limit (None with
        PySM3 presets, whose catalogues are not read)."""
        fg_cfg = foreground_config(self.cfg)
        if fg_cfg.get("preset_strings"):
            self.log.warning("PySM3 presets: no source catalogue, no point-source holes")
            return None
        seed = foreground_seed(self, None, None)
        detectors = scenario_detectors(self)
        holes = source_holes(fg_cfg["components"], seed, pcfg, detectors, nside)
        self.log.info("point-source holes: %.4f of the sky", 1.0 - holes.mean())
        return holes
