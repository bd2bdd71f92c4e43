"""Stage ``make_observations``: observed map = noiseless sky + noise, per detector."""

from __future__ import annotations

import numpy as np
from omegaconf import OmegaConf

from cmbml.core import Stage
from cmbml.core.errors import BadInputError
from cmbml.core.splits import split_config
from cmbml.sims.noise import correlated_noise, white_noise


class MakeObservations(Stage):
    """Add a seeded noise realisation to each detector's noiseless beamed sky.

    For every detector of ``scenario.detectors``: ``obs_map = sky_map + noise`` with noise drawn
    from ``noise_sigma``: white, plus 1/f noise when ``model.sim.noise.correlated.enabled``
    (N_l = white x (1 + (l_knee / l)^alpha), knee and slope from the detector table unless
    ``correlated.ell_knee`` / ``correlated.alpha`` set them for every band), from the generator
    of (split, sim, "noise", band). ``model.sim.noise.white_scale`` (default 1) multiplies
    sigma; with the knee and slope it gives a split another noise model (a split's own
    ``sim.noise`` settings, :mod:`cmbml.core.splits`). Sky and sigma must have the same fields
    (I or IQU) and ``scenario.nside``.

    Config: ``scenario``, ``model.sim.noise``. Reads ``sky_map``, ``noise_sigma`` and
    ``detector_table``; writes ``obs_map`` (uK_CMB).
    """

    name = "make_observations"
    inputs = ("sky_map", "noise_sigma", "detector_table")
    outputs = ("obs_map",)
    config_keys = ("scenario", "model.sim.noise")
    per_sim = True

    def process_sim(self, split: str, sim: int) -> None:
        """Write every detector's ``obs_map`` for (split, sim)."""
        nside = int(self.cfg.scenario.nside)
        cfg = split_config(self.cfg, split)
        corr = OmegaConf.select(cfg, "model.sim.noise.correlated", default=None) or {}
        scale = float(OmegaConf.select(cfg, "model.sim.noise.white_scale", default=1.0))
        knees = self._knees(corr) if corr.get("enabled") else {}
        for band in self.cfg.scenario.detectors:
            band = int(band)
            sky = self.read("sky_map", split=split, sim=sim, freq=band, options={"nside": nside})
            sigma = scale * _sigma(self, band, nside)  # x 1.0 is exact: default unchanged
            if sky.shape != sigma.shape:
                path = self.path("sky_map", split=split, sim=sim, freq=band)
                raise BadInputError(
                    f"detector {band}: sky_map {path} has shape {sky.shape} but noise_sigma has "
                    f"{sigma.shape} (fields differ?)"
                )
            rng = self.rng(split, sim, "noise", band)
            if band in knees:
                noise = correlated_noise(sigma, rng, *knees[band])
            else:
                noise = white_noise(sigma, rng)
            noise += sky
            self.write("obs_map", noise, split=split, sim=sim, freq=band)

    def _knees(self, corr) -> dict[int, tuple[float, float]]:
        """Band -> (l_knee, alpha) of the 1/f noise: the detector table's or the config's."""
        table = self.read("detector_table").set_index("band")
        missing = {"ell_knee", "alpha_knee"} - set(table.columns)
        if missing:
            raise BadInputError(
                f"{self.path('detector_table')} has no column(s) {sorted(missing)}: written by "
                "an older make_instrument; rerun it "
                "(pipeline.only=[make_instrument] pipeline.force=true)"
            )
        out = {}
        for band in self.cfg.scenario.detectors:
            band = int(band)
            if band not in table.index:
                path = self.path("detector_table")
                raise BadInputError(f"detector {band} is not in {path}")
            ell_knee = corr.get("ell_knee")
            alpha = corr.get("alpha")
            out[band] = (
                float(table.loc[band, "ell_knee"] if ell_knee is None else ell_knee),
                float(table.loc[band, "alpha_knee"] if alpha is None else alpha),
            )
        return out


def _sigma(stage: Stage, band: int, nside: int) -> np.ndarray:
    """``noise_sigma`` of ``band``, read once per process and recorded by every unit."""
    return stage.read("noise_sigma", freq=band, options={"nside": nside}, cached=True)
