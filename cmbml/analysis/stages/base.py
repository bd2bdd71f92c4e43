"""``AnalysisStage``: what the per-method analysis stages share (method config, epochs, I/O)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from omegaconf import OmegaConf

from cmbml.analysis import spectra
from cmbml.analysis.master import Coupling
from cmbml.analysis.postprocess import Resolution
from cmbml.analysis.published import read_camb_spectrum, wmap_cosmology
from cmbml.analysis.tables import epoch_label
from cmbml.core import ConfigError, MissingInputError, Stage
from cmbml.core.catalog import placeholders
from cmbml.core.provenance import fingerprint

__all__ = ["PROTOCOLS", "AnalysisStage", "protocol_of", "resolution"]

ANALYSIS = "model.analysis"
PROTOCOLS = ("matched", "published")
"""Scoring protocols: the truth brought to the prediction's resolution, or CMB-ML's."""
_MISSING = object()


def resolution(node: Any, key: str) -> Resolution:
    """A :class:`Resolution` from a ``{fwhm_arcmin, pixwin}`` mapping (``key`` names it)."""
    if not isinstance(node, dict) or "fwhm_arcmin" not in node or "pixwin" not in node:
        raise ConfigError(f"{key} must be a mapping with fwhm_arcmin and pixwin, got {node!r}")
    return Resolution(float(node["fwhm_arcmin"]), bool(node["pixwin"]))


def protocol_of(cfg) -> str:
    """``model.analysis.protocol``, checked."""
    protocol = OmegaConf.select(cfg, f"{ANALYSIS}.protocol", default="matched")
    if protocol not in PROTOCOLS:
        raise ConfigError(f"{ANALYSIS}.protocol must be one of {PROTOCOLS}, got {protocol!r}")
    return str(protocol)


@functools.lru_cache(maxsize=2)
def _load_coupling(path: str, digest: str) -> Coupling:
    """The coupling matrices of a file, cached per process by content (inverses included)."""
    return Coupling(np.load(path))


class AnalysisStage(Stage):
    """Base of the analysis stages of one method.

    The registry entry's ``method`` setting names the method's entry in
    ``model.analysis.methods``: ``name`` (display name), ``working`` (working directory, fills
    ``{working}`` in every catalog path of this stage), ``prediction`` (catalog entry of the
    predicted CMB map, with ``{split}``, ``{sim}`` and, for trained models, ``{epoch}``),
    ``beam`` (``{fwhm_arcmin, pixwin}`` of the prediction) and ``epochs`` (list; ``[null]`` for a
    method without epochs). Analysis runs on the Test splits, inference-capped, under the
    scoring protocol ``model.analysis.protocol``.
    """

    splits = ("Test",)
    infer = True
    #: Catalog entries read besides the method's prediction asset.
    fixed_inputs: ClassVar[tuple[str, ...]] = ()
    #: Whether the stage reads the method's prediction asset.
    reads_prediction: ClassVar[bool] = False
    #: ``model.analysis`` keys (besides the method's entry) that define this stage's outputs.
    analysis_keys: ClassVar[tuple[str, ...]] = ()

    @property
    def inputs(self) -> tuple[str, ...]:  # type: ignore[override]
        """Catalog entries read: the fixed ones plus the method's prediction when used."""
        extra = (self.method["prediction"],) if self.reads_prediction else ()
        return (*self.fixed_inputs, *extra)

    @property
    def config_keys(self) -> tuple[str, ...]:  # type: ignore[override]
        """The protocol, the analysis settings this stage uses and the method's entry."""
        keys = ("protocol", *self.analysis_keys)
        return (*(f"{ANALYSIS}.{k}" for k in keys), self.method_key)

    @property
    def method_key(self) -> str:
        """Config key of this stage's method entry."""
        method = self.settings.get("method")
        if not method:
            raise ConfigError(
                f"stages.{self.name} needs a 'method' setting (a key of {ANALYSIS}.methods)"
            )
        return f"{ANALYSIS}.methods.{method}"

    @functools.cached_property
    def method(self) -> dict:
        """The resolved method entry (name, working, prediction, beam, epochs)."""
        node = OmegaConf.select(self.cfg, self.method_key)
        if node is None:
            raise ConfigError(f"stage '{self.name}': config has no '{self.method_key}'")
        method = OmegaConf.to_container(node, resolve=True)
        missing = [
            k for k in ("name", "working", "prediction", "beam", "epochs") if k not in method
        ]
        if missing:
            raise ConfigError(f"{self.method_key} is missing key(s) {missing}")
        if not method["epochs"]:
            raise ConfigError(f"{self.method_key}.epochs is empty (use [null] for no epochs)")
        return method

    def working_dir(self) -> str:
        """The analysed method's working folder (fills ``{working}``)."""
        return self.method["working"]

    def manifest_scope(self) -> str:
        """The method's working folder and the scoring protocol."""
        return f"{self.working_dir()}/{protocol_of(self.cfg)}"

    def option(self, key: str) -> Any:
        """Resolved ``model.analysis.<key>``; a missing key raises :class:`ConfigError`."""
        node = OmegaConf.select(self.cfg, f"{ANALYSIS}.{key}", default=_MISSING)
        if node is _MISSING:
            raise ConfigError(
                f"stage '{self.name}': config has no '{ANALYSIS}.{key}' (is model/analysis in "
                "the primary config's defaults?)"
            )
        return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node

    @property
    def protocol(self) -> str:
        """The scoring protocol (``matched`` or ``published``)."""
        return protocol_of(self.cfg)

    @property
    def epochs(self) -> list:
        """Epochs of the method (``None`` for a method without epochs)."""
        return list(self.method["epochs"])

    def resolutions(self) -> tuple[Resolution, Resolution]:
        """Resolutions of the post-processed truth and prediction under the protocol."""
        if self.protocol == "matched":
            common = resolution(self.option("common_beam"), f"{ANALYSIS}.common_beam")
            return common, common
        truth = resolution(self.option("truth_beam"), f"{ANALYSIS}.truth_beam")
        return truth, resolution(self.method["beam"], f"{self.method_key}.beam")

    def metric_lmax(self) -> int:
        """Last multipole of the spectrum metrics: where the transfer functions divided out of
        the spectra keep ``b_l² >= model.analysis.beam_floor``, at most ``model.analysis.lmax``."""
        nside = int(self.cfg.scenario.nside)
        lmax = int(self.option("lmax"))
        windows = [spectra.window_function(nside, lmax, r) for r in self.resolutions()]
        return spectra.floor_lmax(np.minimum(*windows), float(self.option("beam_floor")), lmax)

    def path(self, name: str, /, **values: Any) -> Path:
        """Catalog path with ``{working}`` defaulting to the method's working directory and
        ``epoch`` dropped when the template has no ``{epoch}`` (methods without epochs)."""
        template = placeholders(self.catalog.entry(name).path)
        if "working" in template and "working" not in values:
            values["working"] = self.method["working"]
        if "epoch" in values:
            if "epoch" not in template:
                if values["epoch"] is not None:
                    raise ConfigError(
                        f"catalog entry '{name}' has no {{epoch}} placeholder but method "
                        f"{self.method['name']} has epoch {values['epoch']}"
                    )
                del values["epoch"]
            elif name != self.method["prediction"]:
                values["epoch"] = epoch_label(values["epoch"])
        return super().path(name, **values)

    def read_field(self, name: str, **values: Any) -> np.ndarray:
        """Read a HEALPix map; return the analysed field (``model.analysis.field``), ``(npix,)``."""
        nside = int(self.cfg.scenario.nside)
        data = self.read(name, options={"nside": nside}, **values)
        if data.ndim == 1:
            return data
        field = int(self.option("field"))
        if field >= data.shape[0]:
            path = self.path(name, **values)
            raise ConfigError(f"{ANALYSIS}.field={field} but {path} has {data.shape[0]} fields")
        return data[field]

    def read_mask(self, name: str) -> np.ndarray:
        """Read a mask map (``(npix,)``, first field), checked against ``scenario.nside``."""
        data = self.read(name, options={"nside": int(self.cfg.scenario.nside)})
        return data if data.ndim == 1 else data[0]

    def read_coupling(self) -> Coupling:
        """The coupling matrices of the analysis weight (``analysis_coupling``), cached."""
        path = self.require("analysis_coupling")
        return _load_coupling(str(path), fingerprint(path).digest)

    def read_theory(self, split: str, sim: int, lmax: int) -> np.ndarray:
        """Theory D_l^TT (uK_CMB², l = 2 .. lmax) of a simulation: cmbml's ``cmb_spectrum``, or
        a published dataset's ``cmb_ps_fid`` (CAMB text)."""
        if self.exists("cmb_spectrum", split=split, sim=sim):
            source = str(self.path("cmb_spectrum", split=split, sim=sim))
            return spectra.theory_dl(self.read("cmb_spectrum", split=split, sim=sim), lmax, source)
        if self.exists("cmb_ps_fid", split=split, sim=sim):
            source = str(self.path("cmb_ps_fid", split=split, sim=sim))
            table = read_camb_spectrum(self.read("cmb_ps_fid", split=split, sim=sim), source)
            return spectra.theory_dl(table, lmax, source)
        raise MissingInputError(
            f"stage '{self.name}' needs the theory spectrum of {split} sim {sim}: neither "
            f"{self.path('cmb_spectrum', split=split, sim=sim)} (python main_sims.py) nor "
            f"{self.path('cmb_ps_fid', split=split, sim=sim)} (a published dataset, "
            "python get_data/get_dataset.py) exists"
        )

    def read_cosmology(self, split: str, sim: int) -> dict[str, float]:
        """Numeric CAMB parameters of a simulation (``cosmo_params`` or a published
        ``wmap_params``); empty when the dataset has neither."""
        if self.exists("cosmo_params", split=split, sim=sim):
            camb = self.read("cosmo_params", split=split, sim=sim).get("camb") or {}
            numeric = (int, float)
            return {k: float(v) for k, v in camb.items() if isinstance(v, numeric)}
        if self.exists("wmap_params", split=split, sim=sim):
            source = str(self.path("wmap_params", split=split, sim=sim))
            return wmap_cosmology(self.read("wmap_params", split=split, sim=sim), source)
        return {}
