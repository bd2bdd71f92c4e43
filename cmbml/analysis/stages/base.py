"""``AnalysisStage``: what the per-method analysis stages share (method config, epochs, I/O)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from omegaconf import OmegaConf

from cmbml.analysis import spectra
from cmbml.analysis.cmb_ml import TargetBeam, target_beams
from cmbml.analysis.fields import file_fields, parse_fields
from cmbml.analysis.master import Coupling
from cmbml.analysis.postprocess import Resolution
from cmbml.analysis.published import read_camb_spectrum, wmap_cosmology
from cmbml.analysis.tables import epoch_label
from cmbml.core import ConfigError, MissingInputError, Stage
from cmbml.core.catalog import placeholders
from cmbml.core.dataset import RECORD, observed_pixel_window
from cmbml.core.errors import BadInputError
from cmbml.core.manifests import Ledger
from cmbml.core.prediction import PREDICTION_UNIT, made_by, stale_reason
from cmbml.core.provenance import fingerprint
from cmbml.core.schema import as_number

__all__ = [
    "CMB_ML_PROTOCOLS",
    "PROTOCOLS",
    "AnalysisStage",
    "protocol_of",
    "resolution",
    "scorings",
]

ANALYSIS = "model.analysis"
PROTOCOLS = ("matched", "published", "iccv2025")
"""Scoring protocols: cmbml's (both maps at a common resolution), CMB-ML's main-branch table
(each prediction at its own beam) and CMB-ML's ICCV 2025 table (both at each target beam)."""
CMB_ML_PROTOCOLS = ("published", "iccv2025")
"""The protocols that reproduce CMB-ML's tables: the Planck TMASK, CMB-ML's spectra."""
_MISSING = object()
DATASET_WINDOW = "dataset"
"""``pixwin`` value of a method whose output keeps the observed maps' pixel window."""
#: ``model.analysis`` keys that define the spectra (and the stages built on them).
SPECTRUM_KEYS = ("common_beam", "truth_beam", "lmax", "bin_width", "beam_floor", "spectrum_lmin")
_SPIN2: dict[str, Coupling] = {}  # spin-2 matrices computed in this process, by weight content


def resolution(node: Any, key: str, observed: Callable[[], bool] | None = None) -> Resolution:
    """A :class:`Resolution` from a ``{fwhm_arcmin, pixwin}`` mapping (``key`` names it).

    ``pixwin`` is ``true``, ``false`` or, where ``observed`` is given, ``dataset``: the pixel
    window the dataset's observed maps carry (``observed()``, see :mod:`cmbml.core.dataset`).
    """
    if not isinstance(node, dict) or "fwhm_arcmin" not in node or "pixwin" not in node:
        raise ConfigError(f"{key} must be a mapping with fwhm_arcmin and pixwin, got {node!r}")
    pixwin = node["pixwin"]
    if pixwin == DATASET_WINDOW and observed is not None:
        pixwin = observed()
    if not isinstance(pixwin, bool):
        allowed = "true, false or 'dataset'" if observed is not None else "true or false"
        raise ConfigError(f"{key}.pixwin must be {allowed}, got {pixwin!r}")
    return Resolution(as_number(node["fwhm_arcmin"], f"{key}.fwhm_arcmin"), pixwin)


def protocol_of(cfg) -> str:
    """``model.analysis.protocol``, checked."""
    protocol = OmegaConf.select(cfg, f"{ANALYSIS}.protocol", default="matched")
    if protocol not in PROTOCOLS:
        raise ConfigError(f"{ANALYSIS}.protocol must be one of {PROTOCOLS}, got {protocol!r}")
    return str(protocol)


def scorings(cfg) -> list[tuple[str, TargetBeam | None]]:
    """The scorings of the maps under ``model.analysis.protocol``: ``(folder, target beam)``,
    the folder filling the catalog's ``{scoring}``. One, ``(protocol, None)``, for ``matched``
    and ``published``; one per ``model.analysis.cmb_ml.target_beams`` entry,
    ``("iccv2025/<name>", beam)``, for ``iccv2025``."""
    protocol = protocol_of(cfg)
    if protocol != "iccv2025":
        return [(protocol, None)]
    key = f"{ANALYSIS}.cmb_ml.target_beams"
    node = OmegaConf.select(cfg, key)
    try:
        beams = target_beams(OmegaConf.to_container(node, resolve=True) if node else [], key)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    return [(f"{protocol}/{beam.name}", beam) for beam in beams]


def _describe(res: Resolution) -> str:
    window = "with" if res.pixwin else "without"
    return f"a {res.fwhm_arcmin:g} arcmin beam {window} pixel window"


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
        return (*self.fixed_inputs, RECORD, *extra)

    @property
    def config_keys(self) -> tuple[str, ...]:  # type: ignore[override]
        """The protocol, the analysis settings this stage uses and the method's entry."""
        keys = ("protocol", "cmb_ml", *self.analysis_keys)
        return (*(f"{ANALYSIS}.{k}" for k in keys), self.method_key, "dataset.pixel_window")

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
        """The scoring protocol (``matched``, ``published`` or ``iccv2025``)."""
        return protocol_of(self.cfg)

    @property
    def cmb_ml(self) -> bool:
        """Whether the protocol is one of CMB-ML's (its mask weight and spectra)."""
        return self.protocol in CMB_ML_PROTOCOLS

    def scorings(self) -> list[tuple[str, TargetBeam | None]]:
        """The scorings of the maps (:func:`scorings`)."""
        return scorings(self.cfg)

    @property
    def epochs(self) -> list:
        """Epochs of the method (``None`` for a method without epochs)."""
        return list(self.method["epochs"])

    @property
    def requested_fields(self) -> tuple[str, ...] | None:
        """``model.analysis.fields``: ``None`` (auto) or the requested Stokes fields."""
        return parse_fields(self.option("fields"))

    def prediction_resolution(self) -> Resolution:
        """The method's output resolution (``beam``; ``pixwin: dataset`` reads the dataset's
        record, :func:`cmbml.core.dataset.observed_pixel_window`)."""
        key = f"{self.method_key}.beam"
        return resolution(self.method["beam"], key, lambda: observed_pixel_window(self))

    def resolutions(self) -> tuple[Resolution, Resolution]:
        """Resolutions of the post-processed truth and prediction under the protocol."""
        if self.protocol == "matched":
            common = resolution(self.option("common_beam"), f"{ANALYSIS}.common_beam")
            return common, common
        truth = resolution(self.option("truth_beam"), f"{ANALYSIS}.truth_beam")
        return truth, self.prediction_resolution()

    def metric_range(self, spectrum: str = "TT") -> tuple[int, int]:
        """First and last multipole of a spectrum's metrics (CMB-ML's protocols: 2 and
        ``model.analysis.cmb_ml.lmax``; its statistics also count D_0 = 0 and D_1). Else from
        ``model.analysis.spectrum_lmin[spectrum]`` (2 when absent) to the last multipole where
        the transfer functions divided out of that spectrum (``b_T²``, ``b_P²`` or ``b_T b_P``)
        keep ``>= model.analysis.beam_floor``, at most ``model.analysis.lmax``."""
        if self.cmb_ml:  # CMB-ML's statistics: unbinned D_l to its lmax (from l = 0)
            return spectra.LMIN, int(self.option("cmb_ml.lmax"))
        nside = int(self.cfg.scenario.nside)
        lmax = int(self.option("lmax"))
        windows = [
            np.sqrt(spectra.spectrum_windows(nside, lmax, r)[spectrum]) for r in self.resolutions()
        ]
        last = spectra.floor_lmax(np.minimum(*windows), float(self.option("beam_floor")), lmax)
        first = int((self.option("spectrum_lmin") or {}).get(spectrum, spectra.LMIN))
        if not spectra.LMIN <= first < last:
            raise ConfigError(
                f"{ANALYSIS}.spectrum_lmin.{spectrum}={first} must be in [{spectra.LMIN}, "
                f"{last}): the {spectrum} metrics end at l = {last} (beam floor, lmax)"
            )
        return first, last

    def metric_lmax(self) -> int:
        """Last multipole of the TT metrics (:meth:`metric_range`)."""
        return self.metric_range("TT")[1]

    def path(self, name: str, /, **values: Any) -> Path:
        """Catalog path with ``{working}`` defaulting to the method's working directory and
        ``epoch`` dropped when the template has no ``{epoch}`` (methods without epochs)."""
        template = placeholders(self.catalog.entry(name).path)
        if "working" in template and "working" not in values:
            values["working"] = self.method["working"]
        if "scoring" in template and "scoring" not in values:
            values["scoring"] = self.protocol
        if "epoch" in values:
            if "epoch" not in template:
                if values["epoch"] is not None:
                    raise ConfigError(
                        f"catalog entry '{name}' has no {{epoch}} placeholder but method "
                        f"{self.method['name']} has epoch {values['epoch']}"
                    )
                del values["epoch"]
            elif name not in (self.method["prediction"], self.method.get("sigma")):
                values["epoch"] = epoch_label(values["epoch"])
        return super().path(name, **values)

    def read_maps(
        self, name: str, unit: str | None = None, **values: Any
    ) -> tuple[np.ndarray, tuple[str, ...]]:
        """Read a HEALPix map file (checked to be in ``unit`` when given); return
        ``(n_fields, npix)`` maps and their field names (``("I",)`` or ``("I", "Q", "U")``)."""
        options = {"nside": int(self.cfg.scenario.nside), "unit": unit}
        data = np.atleast_2d(self.read(name, options=options, **values))
        return data, file_fields(data.shape[0], str(self.path(name, **values)))

    def read_prediction(self, **where: Any) -> tuple[np.ndarray, tuple[str, ...], Resolution]:
        """The method's prediction at ``where`` (split, sim, epoch), checked before it is scored
        (unit uK_CMB, then :meth:`check_prediction`).

        Returns
        -------
        maps : np.ndarray
            ``(n_fields, npix)``, uK_CMB.
        fields : tuple of str
            ``("I",)`` or ``("I", "Q", "U")``.
        resolution : Resolution
            The map's beam and pixel window.

        Raises
        ------
        BadInputError
            The map is not in uK_CMB, or :meth:`check_prediction` refuses it.
        """
        name = self.method["prediction"]
        maps, fields = self.read_maps(name, unit=PREDICTION_UNIT, **where)
        return maps, fields, self.check_prediction(self.path(name, **where))

    def check_prediction(self, path: Path) -> Resolution:
        """The beam and pixel window of the prediction at ``path``: those its header records
        (:mod:`cmbml.core.prediction`), else (a map made elsewhere) the method's ``beam``.

        Raises
        ------
        BadInputError
            The unit of work that wrote it is no longer up to date (an input changed, its rerun
            failed), or it was made at another beam or pixel window than the method's ``beam``
            expects. The message names the file and the stage to rerun.
        """
        expected = self.prediction_resolution()
        made = made_by(path)
        if made is None:
            return expected
        hint = f"stage '{made.stage_name}' ({self.rerun_hint(made.stage_name)})"
        ledger = Ledger(self.catalog, verify=bool(self.cfg.pipeline.get("verify")), writable=False)
        why = stale_reason(ledger, made, path)
        if why is not None:
            raise BadInputError(
                f"{path} is out of date: {made.unit} of stage '{made.stage}' wrote it, but {why}; "
                f"rerun {hint} before the analysis"
            )
        found = Resolution(made.fwhm_arcmin, made.pixwin)
        if abs(found.fwhm_arcmin - expected.fwhm_arcmin) > 1e-6 or found.pixwin != expected.pixwin:
            raise BadInputError(
                f"{path} was made at {_describe(found)} but {self.method_key}.beam expects "
                f"{_describe(expected)}: analyse it with the settings it was made with, or rerun "
                f"{hint} with the analysis's settings"
            )
        return found

    def read_mask(self, name: str) -> np.ndarray:
        """Read a mask map (``(npix,)``, first field), checked against ``scenario.nside``."""
        data = self.read(name, options={"nside": int(self.cfg.scenario.nside)})
        return data if data.ndim == 1 else data[0]

    def read_coupling(self, spin2: bool = False) -> Coupling:
        """The coupling matrices of the analysis weight (``analysis_coupling``), cached.

        With ``spin2``, matrices written for temperature only (``analysis_mask`` under
        ``scenario.map_fields=I`` or ``model.analysis.fields=[I]``) are completed from the
        weight (``analysis_mask_apod``) in this process, once, and the log says so.
        """
        path = self.require("analysis_coupling")
        coupling = _load_coupling(str(path), fingerprint(path).digest)
        if not spin2 or coupling.has_spin2:
            return coupling
        digest = fingerprint(self.require("analysis_mask_apod")).digest
        if digest not in _SPIN2:
            self.log.warning(
                "%s holds temperature matrices only: computing the spin-2 ones for Q, U in this "
                "process (analysis_mask stores them under scenario.map_fields=IQU or "
                "%s.fields=[I, Q, U])",
                path,
                ANALYSIS,
            )
            _SPIN2.clear()
            weight = self.read_mask("analysis_mask_apod")
            _SPIN2[digest] = Coupling.from_weight(weight, spin2=True)
        return _SPIN2[digest]

    def read_theory_table(self, split: str, sim: int):
        """C_l table (``ell``, ``TT``, ``EE``, ``BB``, ``TE``) of a simulation and its file:
        cmbml's ``cmb_spectrum``, or a published dataset's ``cmb_ps_fid`` (CAMB text)."""
        if self.exists("cmb_spectrum", split=split, sim=sim):
            source = str(self.path("cmb_spectrum", split=split, sim=sim))
            return self.read("cmb_spectrum", split=split, sim=sim), source
        if self.exists("cmb_ps_fid", split=split, sim=sim):
            source = str(self.path("cmb_ps_fid", split=split, sim=sim))
            return read_camb_spectrum(self.read("cmb_ps_fid", split=split, sim=sim), source), source
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
