"""Stage ``make_cmb_spectra``: CAMB lensed spectra of each simulation's cosmology."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from cmbml.core import Stage
from cmbml.sims.cmb import (
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

    ``lmax = model.sim.cmb.lmax_factor * scenario.nside_sky``; CAMB settings from
    ``model.sim.cmb.camb_accuracy`` (null: :data:`cmbml.sims.cmb.DEFAULT_ACCURACY`). CAMB runs with
    ``parallel.threads_per_worker`` threads. With ``model.sim.cmb.realisation: pysm_lensed`` the
    same CAMB run also gives the unlensed spectra and lensing potential (l = 2..lmax, CAMB
    ``lenspotentialCls`` format) that PySM3's ``CMBLensed`` lenses in ``make_sky``.

    Config: ``scenario.nside_sky``, ``model.sim.cmb``. Reads ``cosmo_params``; writes
    ``cmb_spectrum`` (CSV: ell, TT, EE, BB, TE) and, for ``pysm_lensed`` only,
    ``cmb_unlensed_spectrum`` (text: L TT EE BB TE PP TP EP).
    """

    name = "make_cmb_spectra"
    inputs = ("cosmo_params",)
    outputs = ("cmb_spectrum", "cmb_unlensed_spectrum")
    config_keys = ("scenario.nside_sky", "model.sim.cmb")
    per_sim = True

    def process_sim(self, split: str, sim: int) -> None:
        """Write ``cmb_spectrum`` (and ``cmb_unlensed_spectrum``) of (split, sim)."""
        ccfg = self.cfg.model.sim.cmb
        lmax = int(ccfg.lmax_factor) * int(self.cfg.scenario.nside_sky)
        accuracy = ccfg.get("camb_accuracy")
        accuracy = None if accuracy is None else OmegaConf.to_container(accuracy, resolve=True)
        params = self.read("cosmo_params", split=split, sim=sim)["camb"]
        threads = int(OmegaConf.select(self.cfg, "parallel.threads_per_worker", default=0) or 0)
        if cmb_realisation(self.cfg) == "pysm_lensed":
            ell, cls, dls = lensed_and_unlensed_cls(
                params, lmax, accuracy=accuracy, threads=threads
            )
            text = unlensed_spectrum_text(ell, dls)
            self.write("cmb_unlensed_spectrum", text, split=split, sim=sim)
        else:
            ell, cls = lensed_cls(params, lmax, accuracy=accuracy, threads=threads)
        self.write("cmb_spectrum", spectrum_table(ell, cls), split=split, sim=sim)
