"""Stage ``pyilc_predict``: needlet (CNILC) or harmonic (HILC) ILC of each Test simulation."""

from __future__ import annotations

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from cmbml.core import Stage
from cmbml.core.dataset import observed_pixel_window
from cmbml.core.errors import BadInputError, ConfigError
from cmbml.core.prediction import prediction_header
from cmbml.core.schema import as_number
from cmbml.ilc import dust_sed, harmonic_ilc, needlet_ilc, synchrotron_sed, tsz_sed

#: Config key of the ILC's settings.
KEY = "model.pyilc"
_SEDS = {"dust": dust_sed, "synchrotron": synchrotron_sed, "tsz": tsz_sed}


def _seds(model: dict, key: str, freqs_ghz) -> np.ndarray:
    """``(n_deproj, n_freq)`` SEDs of the components named in ``model.pyilc.<key>`` (may be 0)."""
    names = model.get(key) or []
    unknown = [name for name in names if name not in _SEDS]
    if unknown:
        raise ConfigError(
            f"model.pyilc.{key}: unknown component(s) {unknown}; choose from {sorted(_SEDS)}"
        )
    return np.array([_SEDS[name](freqs_ghz) for name in names]).reshape(
        len(names), np.size(freqs_ghz)
    )


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
    kwargs = {
        "output_fwhm_arcmin": as_number(model["output_fwhm_arcmin"], f"{KEY}.output_fwhm_arcmin"),
        "beam_criterion": model.get("beam_criterion"),
        "niter": as_number(model.get("niter", 3), f"{KEY}.niter", int),
        "deproject": _seds(model, "deproject", freqs_ghz),
        **presets[str(nside)],
    }
    if model.get("deproject_pol") is not None:
        kwargs["deproject_pol"] = _seds(model, "deproject_pol", freqs_ghz)
    if method == "cnilc":
        kwargs["ilc_bias_tol"] = as_number(model.get("ilc_bias_tol", 1e-3), f"{KEY}.ilc_bias_tol")
        kwargs["needlets"] = model.get("needlets", "cosine")
        kwargs["override_ilc_bias_tol"] = bool(model.get("override_ilc_bias_tol", True))
        if model.get("zero_masked_weights"):
            if not model.get("use_mask"):
                raise ConfigError(
                    "model.pyilc.zero_masked_weights=true needs model.pyilc.use_mask=true "
                    "(the weights are zeroed where the mask is 0)"
                )
            kwargs["zero_masked_weights"] = True
        return needlet_ilc, kwargs
    return harmonic_ilc, kwargs


class PyilcPredict(Stage):
    """Clean each Test simulation with the needlet or harmonic ILC (``model.pyilc.method``).

    Reads ``obs_map`` for every band of ``model.pyilc.detectors`` (uK_CMB, at
    ``scenario.nside``), their beams and centre frequencies from the scenario's instrument table
    (``model.sim.instrument.table``, columns ``band``, ``center_ghz``, ``fwhm_arcmin``,
    ``has_pol``: no simulation stage is needed, so a downloaded dataset runs as it is) and, with
    ``model.pyilc.use_mask``, the binary ``mask``; runs :func:`cmbml.ilc.needlet_ilc` (``cnilc``)
    or :func:`cmbml.ilc.harmonic_ilc` (``hilc``) with the preset of ``scenario.nside`` and writes
    ``pyilc_cmb_map_pred``: the CMB estimate at the Gaussian beam
    ``model.pyilc.output_fwhm_arcmin`` (uK_CMB). Only the Gaussian beams are divided out, so the
    estimate keeps the pixel window of the observed maps, whatever the dataset records for them
    (``dataset.yaml``: cmbml's carry it, CMB-ML's do not; :mod:`cmbml.core.dataset`). Its header
    records that beam, that pixel window and the unit of work that made it
    (:func:`cmbml.core.prediction.prediction_header`), which the analysis checks.

    With ``scenario.map_fields=I`` the intensity (field 0) is read and the prediction is one
    I map. With ``IQU`` the detectors with ``has_pol`` give I, Q, U (their Q, U enter the E and B
    ILCs, deprojecting ``model.pyilc.deproject_pol``), the others I only, and the prediction has
    the three fields I, Q, U (Q, U at the spin-2 Gaussian beam of the same FWHM).

    Config: ``scenario``, ``model.pyilc``, ``model.sim.instrument``.
    """

    name = "pyilc_predict"
    inputs = ("obs_map", "mask")
    outputs = ("pyilc_cmb_map_pred",)
    # dataset.pixel_window: the window the output's header records (an override of the record)
    config_keys = ("scenario", "model.pyilc", "model.sim.instrument", "dataset.pixel_window")
    per_sim = True
    splits = ("Test",)
    observations = True  # also the observation-only splits (real maps)

    def process_sim(self, split: str, sim: int) -> None:
        """Write ``pyilc_cmb_map_pred`` for (split, sim)."""
        model = OmegaConf.to_container(self.cfg.model.pyilc, resolve=True)
        nside = int(self.cfg.scenario.nside)
        bands, freqs, beams, polarised = self._detectors(model)
        ilc, kwargs = ilc_call(model, nside, freqs)
        maps = self._read_maps(split, sim, bands, polarised, nside)
        if polarised is not None:
            kwargs["polarised"] = polarised
        if model.get("use_mask"):
            kwargs["mask"] = self.read("mask", options={"nside": nside})
        self.log.info(
            "%s of %s sim %d with %d detectors (%d with Q, U)",
            model["method"],
            split,
            sim,
            len(bands),
            0 if polarised is None else int(polarised.sum()),
        )
        # only the Gaussian beams are divided out: the output keeps the inputs' pixel window
        pixwin = observed_pixel_window(self)
        header = prediction_header(self, (split, sim), kwargs["output_fwhm_arcmin"], pixwin)
        self.write(
            "pyilc_cmb_map_pred",
            ilc(maps, beams, **kwargs),
            options={"header": header},
            split=split,
            sim=sim,
        )

    def _read_maps(self, split, sim, bands, polarised, nside) -> np.ndarray:
        """``(n_det, npix)`` I or ``(n_det, 3, npix)`` I, Q, U (Q, U zero if absent), uK_CMB."""
        options = {"nside": nside, "unit": "uK_CMB"}
        has_pol = [False] * len(bands) if polarised is None else polarised
        maps = np.zeros((len(bands), 1 if polarised is None else 3, 12 * nside**2))
        for k, (band, pol) in enumerate(zip(bands, has_pol, strict=True)):
            fields = {} if pol else {"field": 0}
            data = self.read("obs_map", split=split, sim=sim, freq=band, options=options | fields)
            if pol and data.shape[0] != 3:
                raise BadInputError(
                    f"{self.path('obs_map', split=split, sim=sim, freq=band)}: expected I, Q, U "
                    f"maps ({band} GHz has Q, U in the instrument table), found shape {data.shape}"
                )
            maps[k, : 3 if pol else 1] = data
        return maps[:, 0] if polarised is None else maps

    def _detectors(
        self, model: dict
    ) -> tuple[list[int], np.ndarray, np.ndarray, np.ndarray | None]:
        """Bands, centre frequencies (GHz), beam FWHMs (arcmin) of the used detectors and, for
        ``scenario.map_fields=IQU``, which have Q, U (else None)."""
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
        return (
            bands,
            rows["center_ghz"].to_numpy(float),
            rows["fwhm_arcmin"].to_numpy(float),
            self._polarised(rows, path),
        )

    def _polarised(self, rows, path) -> np.ndarray | None:
        """``(n_det,)`` whether each detector has Q, U (``has_pol`` column), for IQU scenarios."""
        map_fields = str(self.cfg.scenario.map_fields)
        if map_fields == "I":  # else "IQU" (validate_config allows no other value)
            return None
        if "has_pol" not in rows.columns:
            raise BadInputError(
                f"{path}: no 'has_pol' column (1 for detectors with Q, U), needed with "
                "scenario.map_fields=IQU"
            )
        polarised = rows["has_pol"].astype(bool).to_numpy()
        if not polarised.any():
            raise ConfigError(
                f"scenario.map_fields=IQU but none of model.pyilc.detectors {rows.index.tolist()} "
                f"has Q, U in {path}"
            )
        return polarised
