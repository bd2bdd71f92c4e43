"""Stage ``pyilc_predict``: needlet (CNILC) or harmonic (HILC) ILC of each Test simulation."""

from __future__ import annotations

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from cmbml.core import Stage
from cmbml.core.errors import BadInputError, ConfigError
from cmbml.ilc import dust_sed, harmonic_ilc, needlet_ilc, synchrotron_sed, tsz_sed

_SEDS = {"dust": dust_sed, "synchrotron": synchrotron_sed, "tsz": tsz_sed}


def ilc_call(model: dict, nside: int, freqs_ghz) -> tuple:
    """The ILC function and its keyword arguments from ``model.pyilc`` at ``nside``.

    Parameters
    ----------
    model : dict
        The resolved ``model.pyilc`` config.
    nside : int
        ``scenario.nside`` (selects ``presets[nside]``).
    freqs_ghz : array_like
        Centre frequencies of the used detectors (for the deprojected SEDs).

    Returns
    -------
    (callable, dict)
        :func:`cmbml.ilc.needlet_ilc` or :func:`cmbml.ilc.harmonic_ilc` and its keywords
        (everything but the maps and beams).
    """
    method = model.get("method")
    if method not in ("cnilc", "hilc"):
        raise ConfigError(f"model.pyilc.method must be 'cnilc' or 'hilc', got {method!r}")
    presets = model.get("presets") or {}
    if str(nside) not in presets:
        raise ConfigError(
            f"model.pyilc.presets has no entry for nside {nside} (has {sorted(presets)}); "
            f"add model.pyilc.presets.'{nside}'"
        )
    unknown = [name for name in model.get("deproject") or [] if name not in _SEDS]
    if unknown:
        raise ConfigError(
            f"model.pyilc.deproject: unknown component(s) {unknown}; choose from {sorted(_SEDS)}"
        )
    seds = [_SEDS[name](freqs_ghz) for name in model.get("deproject") or []]
    kwargs = {
        "output_fwhm_arcmin": float(model["output_fwhm_arcmin"]),
        "beam_criterion": model.get("beam_criterion"),
        "niter": int(model.get("niter", 3)),
        "deproject": np.array(seds) if seds else None,
        **presets[str(nside)],
    }
    if method == "cnilc":
        kwargs["ilc_bias_tol"] = float(model.get("ilc_bias_tol", 1e-3))
        kwargs["needlets"] = model.get("needlets", "cosine")
        return needlet_ilc, kwargs
    return harmonic_ilc, kwargs


class PyilcPredict(Stage):
    """Clean each Test simulation with the needlet or harmonic ILC (``model.pyilc.method``).

    Reads the intensity of ``obs_map`` for every band of ``model.pyilc.detectors`` (uK_CMB, at
    ``scenario.nside``), their beams and centre frequencies from the scenario's instrument table
    (``model.sim.instrument.table``, columns ``band``, ``center_ghz``, ``fwhm_arcmin``: no
    simulation stage is needed, so a downloaded dataset runs as it is) and, with
    ``model.pyilc.use_mask``, the binary ``mask``; runs :func:`cmbml.ilc.needlet_ilc` (``cnilc``)
    or :func:`cmbml.ilc.harmonic_ilc` (``hilc``) with the preset of ``scenario.nside`` and writes
    ``pyilc_cmb_map_pred``: the CMB estimate at the Gaussian beam
    ``model.pyilc.output_fwhm_arcmin`` (uK_CMB; it keeps the inputs' pixel window).

    Config: ``scenario``, ``model.pyilc``, ``model.sim.instrument``.
    """

    name = "pyilc_predict"
    inputs = ("obs_map", "mask")
    outputs = ("pyilc_cmb_map_pred",)
    config_keys = ("scenario", "model.pyilc", "model.sim.instrument")
    per_sim = True
    splits = ("Test",)

    def process_sim(self, split: str, sim: int) -> None:
        """Write ``pyilc_cmb_map_pred`` for (split, sim)."""
        model = OmegaConf.to_container(self.cfg.model.pyilc, resolve=True)
        nside = int(self.cfg.scenario.nside)
        bands, freqs, beams = self._detectors(model)
        ilc, kwargs = ilc_call(model, nside, freqs)
        maps = np.stack(
            [
                self.read(
                    "obs_map",
                    split=split,
                    sim=sim,
                    freq=band,
                    options={"field": 0, "nside": nside, "unit": "uK_CMB"},
                )
                for band in bands
            ]
        )
        if model.get("use_mask"):
            kwargs["mask"] = self.read("mask", options={"nside": nside})
        self.log.info("%s of %s sim %d with %d detectors", model["method"], split, sim, len(bands))
        self.write("pyilc_cmb_map_pred", ilc(maps, beams, **kwargs), split=split, sim=sim)

    def _detectors(self, model: dict) -> tuple[list[int], np.ndarray, np.ndarray]:
        """Bands, centre frequencies (GHz) and beam FWHMs (arcmin) of the used detectors."""
        path = self.asset(
            self.cfg.model.sim.instrument.table, hint="set model.sim.instrument.table"
        )
        table = pd.read_csv(path)
        absent = [c for c in ("band", "center_ghz", "fwhm_arcmin") if c not in table.columns]
        if absent:
            raise BadInputError(f"detector table {path} lacks column(s) {absent}")
        bands = [int(b) for b in model["detectors"]]
        missing = [b for b in bands if b not in set(table["band"].astype(int))]
        if missing:
            raise BadInputError(
                f"model.pyilc.detectors {missing} are not in the detector table "
                f"{path} (bands {table['band'].tolist()})"
            )
        rows = table.set_index(table["band"].astype(int)).loc[bands]
        return bands, rows["center_ghz"].to_numpy(float), rows["fwhm_arcmin"].to_numpy(float)
