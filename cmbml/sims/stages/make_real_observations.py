"""Stage ``make_real_observations``: the observed maps of observation-only splits (Planck PR3)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from cmbml import sphere
from cmbml.core import ConfigError, Stage
from cmbml.core.splits import split_kinds
from cmbml.sims.observed_maps import read_observed_map
from cmbml.sims.stages.make_instrument import scenario_detectors

HINT = "python get_data/get_planck_assets.py (the PR3 frequency maps)"


class MakeRealObservations(Stage):
    """Real frequency maps as the observed maps of the splits of ``kind: observation``.

    For every detector of ``scenario.detectors``, the file ``model.sim.observations.bands.<band>
    .file`` under ``model.sim.observations.dir`` (a Planck PR3 frequency map; its native beam
    ``fwhm_arcmin``; ``mjysr_per_kcmb`` for maps in MJy/sr) is converted to uK_CMB, brought to
    the detector's beam and pixel window at ``scenario.nside`` (I, or I, Q, U per the
    detector's fields) and written as ``obs_map``
    (:func:`cmbml.sphere.resample`). Such a split has no truth: no
    cosmology, CMB or sky is simulated for it; methods predict from these maps and the analysis
    compares the predictions with reference CMB maps.

    Config: ``scenario``, ``model.sim.observations``, ``model.sim.instrument``. Reads the files
    (declared assets); writes ``obs_map``.
    """

    name = "make_real_observations"
    outputs = ("obs_map",)
    config_keys = ("scenario", "model.sim.observations", "model.sim.instrument")
    observations = True

    def units(self):
        """Only the simulations of observation splits."""
        kinds = split_kinds(self.cfg)
        return ((split, sim) for split, sim in super().units() if kinds[split] == "observation")

    def process_sim(self, split: str, sim: int) -> None:
        """Write every detector's ``obs_map`` of (split, sim) from the real maps."""
        obs = OmegaConf.to_container(self.cfg.model.sim.observations, resolve=True)
        nside = int(self.cfg.scenario.nside)
        for band, det in scenario_detectors(self).items():
            entry = (obs.get("bands") or {}).get(int(band))
            if entry is None:
                raise ConfigError(f"model.sim.observations.bands has no entry for detector {band}")
            path = self.asset(Path(obs["dir"]) / entry["file"], hint=HINT)
            fields = det.fields(str(self.cfg.scenario.map_fields))
            maps = read_observed_map(path, fields, entry.get("mjysr_per_kcmb"))
            out = sphere.resample(maps, float(entry["fwhm_arcmin"]), det.fwhm_arcmin, nside)
            self.write("obs_map", out[0] if fields == "I" else out, split=split, sim=sim, freq=band)
        self.log.info("%s sim %d: observed maps from %s", split, sim, obs["dir"])
