"""Stage ``make_cmb_spectra``: CAMB lensed spectra of each simulation's cosmology."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from cmbml.core import Stage
from cmbml.sims.cmb import (
    camb_accuracy,
    lensed_and_unlensed_cls,
    lensed_cls,
    spectrum_table,
    unlensed_spectrum_text,
)

REALISATIONS = ("gaussian", "pysm_lensed")
"""Values of ``model.sim.cmb.realisation``."""


def cmb_realisation(cfg: DictConfig) -> str:
    """``model.sim.cmb.realisation`` (default ``gaussian``), one of :data:`REALISATIONS`."""
    value = str(OmegaConf.select(cfg, "model.sim.cmb.realisation", default="gaussian"))
    if value not in REALISATIONS:
        raise ValueError(f"model.sim.cmb.realisation must be one of {REALISATIONS}, got '{value}'")
    return value


class MakeCmbSpectra(Stage):
    """Lensed CMB C_l (TT, EE, BB, TE; uK_CMB^2; l = 0..lmax in an explicit ``ell`` column).

    ``lmax = model.sim.cmb.lmax``, by default the band limit of the maps: 3 ``scenario.nside``
    (the sky is band-limited to 3 nside - 1), or 3 ``scenario.nside_sky`` for
    ``realisation: pysm_lensed``, whose Taylens lensing at ``nside_sky`` needs unlensed power
    beyond the maps' band limit. CAMB settings from ``model.sim.cmb.camb_accuracy``
    (:func:`cmbml.sims.cmb.camb_accuracy`; ``auto``: TT within 0.1 % for intensity-only
    Gaussian skies, all four spectra within 0.1 % otherwise). CAMB runs with
    ``parallel.threads_per_worker`` threads. With ``realisation: pysm_lensed`` the same CAMB run
    also gives the unlensed spectra and lensing potential (l = 2..lmax, CAMB
    ``lenspotentialCls`` format) that PySM3's ``CMBLensed`` lenses in ``make_sky``.

    Config: ``scenario.nside``, ``scenario.nside_sky``, ``scenario.map_fields``,
    ``model.sim.cmb``. Reads ``cosmo_params``; writes ``cmb_spectrum`` (CSV: ell, TT, EE, BB,
    TE) and, for ``pysm_lensed`` only, ``cmb_unlensed_spectrum`` (text: L TT EE BB TE PP TP EP).
    """

    name = "make_cmb_spectra"
    inputs = ("cosmo_params",)
    outputs = ("cmb_spectrum", "cmb_unlensed_spectrum")
    config_keys = (
        "scenario.nside",
        "scenario.nside_sky",
        "scenario.map_fields",
        "model.sim.cmb",
    )
    per_sim = True

    def process_sim(self, split: str, sim: int) -> None:
        """Write ``cmb_spectrum`` (and ``cmb_unlensed_spectrum``) of (split, sim)."""
        lensed = cmb_realisation(self.cfg) == "pysm_lensed"
        lmax, accuracy = spectra_settings(self.cfg)
        params = self.read("cosmo_params", split=split, sim=sim)["camb"]
        threads = int(OmegaConf.select(self.cfg, "parallel.threads_per_worker", default=0) or 0)
        if lensed:
            ell, cls, dls = lensed_and_unlensed_cls(
                params, lmax, accuracy=accuracy, threads=threads
            )
            text = unlensed_spectrum_text(ell, dls)
            self.write("cmb_unlensed_spectrum", text, split=split, sim=sim)
        else:
            ell, cls = lensed_cls(params, lmax, accuracy=accuracy, threads=threads)
        self.write("cmb_spectrum", spectrum_table(ell, cls), split=split, sim=sim)


def spectra_settings(cfg: DictConfig) -> tuple[int, dict]:
    """``(lmax, CAMB settings)`` of the spectra for this config (see :class:`MakeCmbSpectra`)."""
    ccfg = cfg.model.sim.cmb
    lensed = cmb_realisation(cfg) == "pysm_lensed"
    lmax = ccfg.get("lmax")
    if lmax is None:
        lmax = 3 * int(cfg.scenario.nside_sky if lensed else cfg.scenario.nside)
    setting = ccfg.get("camb_accuracy", "auto")
    if isinstance(setting, DictConfig):
        setting = OmegaConf.to_container(setting, resolve=True)
    # Taylens lenses the unlensed CMB with the lensing potential: both must be accurate
    fields = "IQU" if lensed else str(cfg.scenario.map_fields)
    return int(lmax), camb_accuracy(setting, int(lmax), map_fields=fields)
