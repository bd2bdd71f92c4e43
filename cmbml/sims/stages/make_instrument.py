"""Stage ``make_instrument``: the scenario's detector table as a working product."""

from __future__ import annotations

import pandas as pd
from omegaconf import OmegaConf

from cmbml.core import ConfigError, Stage
from cmbml.core.dataset import dataset_record, pixel_window_override
from cmbml.sims.instrument import default_detector_table, load_detectors
from cmbml.sims.noise import white_noise_sigma


def scenario_detectors(stage: Stage):
    """The detectors of ``scenario.detectors`` from ``model.sim.instrument.table`` (default: the
    shipped table), declared as an input of the stage's unit: an edited table (a beam, a noise
    level) recomputes every unit that used it."""
    cfg = stage.cfg
    table = OmegaConf.select(cfg, "model.sim.instrument.table", default=None)
    path = stage.asset(
        default_detector_table() if table is None else table, hint="model.sim.instrument.table"
    )
    return load_detectors(path, bands=list(cfg.scenario.detectors))


class MakeInstrument(Stage):
    """Write the scenario's detectors with their fields and per-pixel white-noise levels.

    One row per detector of ``scenario.detectors``: band, centre frequency (GHz), beam FWHM
    (arcmin), Stokes fields in this scenario (``I`` or ``IQU`` per ``scenario.map_fields``),
    noise levels (uK_CMB arcmin), the matching uniform per-pixel sigma at ``scenario.nside``
    (uK_CMB) and the knee multipole and slope of the 1/f noise. Also the dataset's record
    (:mod:`cmbml.core.dataset`): cmbml's observed maps carry the beam and the HEALPix pixel window
    of ``scenario.nside`` (:mod:`cmbml.sims.sky`), in ``scenario.units``.

    Config: ``scenario``, ``model.sim.instrument`` (``table``). Reads the instrument table (an
    asset); writes ``detector_table`` (CSV) and ``dataset_info`` (YAML).
    """

    name = "make_instrument"
    inputs = ()
    outputs = ("detector_table", "dataset_info")
    config_keys = ("scenario", "model.sim.instrument")
    per_sim = False

    def run(self) -> None:
        """Write ``detector_table`` and ``dataset_info``."""
        if pixel_window_override(self.cfg) is False:
            raise ConfigError(
                "dataset.pixel_window=false describes data made elsewhere: cmbml's simulations "
                "always apply the pixel window (leave dataset.pixel_window null or true)"
            )
        nside = int(self.cfg.scenario.nside)
        map_fields = str(self.cfg.scenario.map_fields)
        rows = []
        for det in scenario_detectors(self).values():
            fields = det.fields(map_fields)
            noise_p = det.noise_p_uk_arcmin if fields == "IQU" else None
            rows.append(
                {
                    "band": det.band,
                    "center_ghz": det.center_ghz,
                    "fwhm_arcmin": det.fwhm_arcmin,
                    "fields": fields,
                    "noise_t_uk_arcmin": det.noise_t_uk_arcmin,
                    "noise_p_uk_arcmin": noise_p,
                    "sigma_t_uk_pixel": white_noise_sigma(det.noise_t_uk_arcmin, nside),
                    "sigma_p_uk_pixel": None
                    if noise_p is None
                    else white_noise_sigma(noise_p, nside),
                    "ell_knee": det.ell_knee,
                    "alpha_knee": det.alpha_knee,
                }
            )
        self.write("detector_table", pd.DataFrame(rows))
        record = dataset_record(
            pixel_window=True,
            units=str(self.cfg.scenario.units),
            beams_fwhm_arcmin={row["band"]: row["fwhm_arcmin"] for row in rows},
            made_by="cmbml main_sims.py (beam x HEALPix pixel window, cmbml.sims.sky)",
        )
        self.write("dataset_info", record)
        self.log.info("%d detectors at nside %d (%s)", len(rows), nside, map_fields)
