"""Stage ``make_foregrounds``: the dataset's foreground templates and beamed foreground maps."""

from __future__ import annotations

import numpy as np
from omegaconf import OmegaConf

from cmbml.core import Stage
from cmbml.sims.fg_variation import resolve_distributions
from cmbml.sims.foregrounds import ForegroundModel, model_from_config
from cmbml.sims.sky import beamed_foreground_maps, detector_arrays
from cmbml.sims.stages.make_instrument import scenario_detectors

PARAMETER_UNITS = {"beta": "", "temperature": "K", "freq_peak": "GHz", "width": ""}
"""FITS unit of each spectral-parameter map."""

PYSM_HINT = "set PYSM_LOCAL_DATA to a copy of PySM3's data tree (nothing is downloaded)"


def foreground_seed(stage: Stage, split: str | None, sim: int | None) -> int:
    """Seed of the synthetic templates: per dataset, or per simulation when they vary."""
    return int(stage.rng(split, sim, "foreground_templates").integers(2**63))


def foreground_config(cfg) -> dict:
    """``model.sim.foregrounds`` as a plain dict."""
    return OmegaConf.to_container(cfg.model.sim.foregrounds, resolve=True)


def drawn_foregrounds(stage: Stage, fg_cfg: dict, split: str | None, sim: int | None):
    """``fg_cfg`` with its distribution blocks drawn for one foreground sky.

    Parameters
    ----------
    stage : Stage
        The running stage (its seeds).
    fg_cfg : dict
        ``model.sim.foregrounds`` (:func:`foreground_config`).
    split, sim : str or None, int or None
        The sky's scope: ``None, None`` for the dataset's shared sky, a split and a simulation
        when the foregrounds vary per simulation. Each block's generator is seeded by
        (split, sim, ``"fg_param"``, its path), see :mod:`cmbml.sims.fg_variation`.

    Returns
    -------
    tuple
        The config with plain values and ``{path: drawn value}``.
    """
    if not fg_cfg.get("components"):
        return fg_cfg, {}
    comps, drawn = resolve_distributions(
        fg_cfg["components"], lambda path: stage.rng(split, sim, "fg_param", path)
    )
    return {**fg_cfg, "components": comps}, drawn


def foreground_model(stage: Stage, fg_cfg: dict, seed: int, freqs_ghz):
    """The foreground model of ``fg_cfg`` at ``scenario.nside_sky``, its data files declared.

    Parameters
    ----------
    stage : Stage
        The running stage: every file a PySM3 preset reads becomes an input of its unit.
    fg_cfg : dict
        ``model.sim.foregrounds`` (:func:`foreground_config`).
    seed : int
        Seed of the synthetic templates (:func:`foreground_seed`).
    freqs_ghz : Sequence[float]
        Detector frequencies, GHz.

    Returns
    -------
    ForegroundModel or PresetForegroundModel
        As :func:`cmbml.sims.foregrounds.model_from_config`.
    """
    model = model_from_config(fg_cfg, int(stage.cfg.scenario.nside_sky), seed, freqs_ghz=freqs_ghz)
    for path in getattr(model, "files", ()):
        stage.asset(path, hint=PYSM_HINT)
    return model


class MakeForegrounds(Stage):
    """Generate the foreground sky once per dataset.

    Synthetic templates at ``scenario.nside_sky`` (galactic: :mod:`cmbml.sims.templates`;
    extragalactic: :mod:`cmbml.sims.extragalactic`) are written as working products
    (``fg_template``: I or IQU at each component's reference frequency, in uK_RJ, or Compton y
    for the tSZ and uK_CMB for the kSZ; ``fg_parameter``: spatially varying spectral
    parameters); point-source catalogues are redrawn from the seed, not written. With
    ``model.sim.foregrounds.preset_strings`` PySM3 presets are read from local data instead,
    and every file they read is declared as an input of the unit. Distribution blocks of the
    components' parameters (:mod:`cmbml.sims.fg_variation`) are drawn once for the dataset here
    (and per simulation by ``make_sky`` when ``vary_per_sim``).
    The emission at every detector (delta bandpass, uK_CMB) is band-limited to
    ``3 * scenario.nside - 1``, beamed, pixel-windowed and synthesised at ``scenario.nside``
    (``fg_map``, I or IQU per ``scenario.map_fields``); the sky stage adds it to each
    simulation's beamed CMB.

    Config: ``scenario`` (nside, nside_sky, detectors, map_fields), ``model.sim.foregrounds``,
    ``model.sim.instrument`` (detector table). Reads no catalog entry; writes ``fg_template``,
    ``fg_parameter``, ``fg_map``.
    """

    name = "make_foregrounds"
    inputs = ()
    outputs = ("fg_template", "fg_parameter", "fg_map")
    config_keys = ("scenario", "model.sim.foregrounds", "model.sim.instrument")
    per_sim = False

    def run(self) -> None:
        """Write the templates and the beamed foreground map of every detector."""
        scen = self.cfg.scenario
        fg_cfg, _ = drawn_foregrounds(self, foreground_config(self.cfg), None, None)
        detectors = scenario_detectors(self)
        freqs, fwhm, pol = detector_arrays(detectors.values(), str(scen.map_fields))
        model = foreground_model(self, fg_cfg, foreground_seed(self, None, None), freqs)
        if isinstance(model, ForegroundModel):
            for t in model.templates:
                self.write("fg_template", t.maps, name=t.name, options={"unit": t.unit})
                for pname, value in t.params.items():
                    if np.ndim(value):
                        unit = PARAMETER_UNITS.get(pname, "")
                        self.write(
                            "fg_parameter", value, name=t.name, field=pname, options={"unit": unit}
                        )
        nside = int(scen.nside)
        maps = beamed_foreground_maps(
            model,
            freqs,
            fwhm,
            pol,
            nside,
            3 * nside - 1,
            max_batch_bytes=int(fg_cfg.get("max_batch_mb", 256)) << 20,
        )
        for band, fg in zip(detectors, maps, strict=True):
            self.write("fg_map", fg, freq=band)
        self.log.info("foregrounds for %d detectors at nside %d", len(maps), nside)
