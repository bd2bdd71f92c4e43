"""Stage ``analysis_mask``: the analysis mask of a dataset, its weight and coupling matrix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from cmbml.analysis.fields import parse_fields
from cmbml.analysis.mask import apodize, c1_apodize, planck_tmask
from cmbml.analysis.master import Coupling
from cmbml.analysis.stages.base import CMB_ML_PROTOCOLS, protocol_of
from cmbml.core import BadInputError, ConfigError, Stage

__all__ = ["PLANCK_HINT", "AnalysisMask"]

PLANCK_HINT = "get it with: python get_data/get_planck_assets.py --only nilc"
SOURCES = ("auto", "dataset", "planck")


class AnalysisMask(Stage):
    """The binary mask every analysis of this dataset and protocol uses, and its weight.

    ``model.analysis.mask.source`` picks the binary mask: ``dataset`` (the simulation's
    ``mask``, from ``main_sims.py``), ``planck`` (the ``column`` of ``planck_file``, averaged to
    ``scenario.nside`` and kept where >= ``threshold``: CMB-ML's TMASK >= 0.9) or ``auto``: for
    the ``matched`` protocol the dataset's mask when it exists, else the Planck one; for CMB-ML's
    protocols (``published``, ``iccv2025``) the Planck one, always: without its file they fail,
    naming the file, the command that fetches it and ``model.analysis.mask.source=dataset`` (a
    score on another mask, which is then not CMB-ML's). The weight of the power spectra is the C1
    apodisation over ``apodization_deg``; its mode-coupling matrices are computed once here: TT,
    and the spin-2 ones (TE, EE/BB) when Q, U may be analysed (``model.analysis.fields`` is
    ``[I, Q, U]``, or ``auto`` with ``scenario.map_fields=IQU``). Under CMB-ML's protocols the
    weight is CMB-ML's (NaMaster's C1 over ``model.analysis.cmb_ml.apodization_arcmin``) and no
    coupling matrix is written (its spectra are not decoupled).

    Config: ``scenario.{nside, map_fields}``, ``model.analysis.{protocol, mask, fields,
    cmb_ml.apodization_arcmin}``. Reads
    ``mask`` (when the dataset's is used) or the Planck file (an external asset); writes
    ``analysis_mask``, ``analysis_mask_apod``, ``analysis_coupling`` and ``analysis_mask_info``.
    """

    name = "analysis_mask"
    inputs = ("mask",)
    outputs = ("analysis_mask", "analysis_mask_apod", "analysis_coupling", "analysis_mask_info")
    config_keys = (
        "scenario.nside",
        "scenario.map_fields",
        "model.analysis.protocol",
        "model.analysis.mask",
        "model.analysis.fields",
        "model.analysis.cmb_ml.apodization_arcmin",
    )
    per_sim = False

    def manifest_scope(self) -> str:
        """The scoring protocol (one mask per protocol)."""
        return protocol_of(self.cfg)

    def run(self) -> None:
        """Write the analysis mask, its weight, the coupling matrix and the provenance note."""
        protocol = protocol_of(self.cfg)
        mcfg = OmegaConf.to_container(self.cfg.model.analysis.mask, resolve=True)
        nside = int(self.cfg.scenario.nside)
        source = self._source(protocol, mcfg)
        info = {"protocol": protocol, "source": source, "nside": nside}
        if source == "planck":
            hint = PLANCK_HINT
            if protocol in CMB_ML_PROTOCOLS:
                hint += (
                    f" (CMB-ML's {protocol} protocol scores on the Planck TMASK), or score on the "
                    "dataset's own mask with model.analysis.mask.source=dataset"
                )
            elif not self.exists("mask"):
                hint += f"; the dataset has no mask of its own ({self.path('mask')})"
            path = self.asset(mcfg["planck_file"], hint=hint)
            binary = planck_tmask(
                path, nside, column=str(mcfg["column"]), threshold=float(mcfg["threshold"])
            )
            info.update(file=Path(path).name, column=mcfg["column"], threshold=mcfg["threshold"])
        else:
            binary = self.read("mask", options={"nside": nside})
            binary = np.where(np.atleast_2d(binary)[0] > 0, 1.0, 0.0)
            info["file"] = self.path("mask").name
        if not binary.any():
            raise BadInputError(f"stage '{self.name}': the {source} mask keeps no pixel")
        if protocol in CMB_ML_PROTOCOLS:
            radius = float(self.cfg.model.analysis.cmb_ml.apodization_arcmin)
            weight = c1_apodize(binary, radius / 60.0)
            info.update(apodization="NaMaster C1 (CMB-ML)", apodization_arcmin=radius)
        else:
            weight = apodize(binary, float(mcfg["apodization_deg"]))
            requested = parse_fields(self.cfg.model.analysis.fields)
            spin2 = "Q" in (requested or self.cfg.scenario.map_fields)
            coupling = Coupling.from_weight(weight, spin2=spin2)
            info.update(
                apodization="pspy C1",
                apodization_deg=float(mcfg["apodization_deg"]),
                coupling=list(coupling.kinds),
            )
            self.write("analysis_coupling", coupling.matrices)
        info.update(fsky=float(binary.mean()), fsky_weight_w2=float(np.mean(weight**2)))
        self.write("analysis_mask", binary, options={"unit": ""})
        self.write("analysis_mask_apod", weight, options={"unit": ""})
        self.write("analysis_mask_info", info)
        self.log.info("%s mask (%s): f_sky %.3f", protocol, source, info["fsky"])

    def _source(self, protocol: str, mcfg: dict) -> str:
        source = mcfg.get("source")
        if source not in SOURCES:
            raise ConfigError(
                f"model.analysis.mask.source must be one of {SOURCES}, got {source!r}"
            )
        if source != "auto":
            return source
        if protocol in CMB_ML_PROTOCOLS:
            return "planck"
        return "dataset" if self.exists("mask") else "planck"
