"""Stage ``make_sky``: per simulation, the CMB truth map and the noiseless beamed sky."""

from __future__ import annotations

import numpy as np

from cmbml import sphere
from cmbml.core import Stage
from cmbml.sims.cmb import gaussian_cmb_alm, pysm_lensed_cmb_map, spectrum_from_table
from cmbml.sims.sky import cmb_truth_map, detector_arrays, foreground_alms, sky_maps
from cmbml.sims.stages.make_cmb_spectra import cmb_realisation
from cmbml.sims.stages.make_foregrounds import (
    foreground_config,
    foreground_model,
    foreground_seed,
)
from cmbml.sims.stages.make_instrument import scenario_detectors

_FG_CACHE: dict = {}


class MakeSky(Stage):
    """CMB realisation plus foregrounds, beamed per detector, for one simulation.

    The CMB alm are a Gaussian realisation (seeded by split and sim) of the simulation's lensed
    CAMB spectra (``cmb_spectrum``), band-limited to ``lmax = 3 * scenario.nside - 1``. The
    truth map ``cmb_map`` is their synthesis at ``scenario.nside`` with no beam and no pixel
    window (I or IQU per ``scenario.map_fields``). With ``model.sim.cmb.realisation:
    pysm_lensed`` the CMB alm are instead those (to the same ``lmax``, 3 Jacobi iterations) of
    PySM3's ``CMBLensed`` IQU map at ``scenario.nside_sky``, lensed by Taylens from
    ``cmb_unlensed_spectrum``; its seed is drawn from the same (split, sim) generator, and
    CMBLensed seeds numpy's global RNG with it (saved and restored around the call), so each
    simulation stays reproducible and independent of process and order. Each detector's
    ``sky_map`` is ``(CMB alm * b_l * p_l)`` synthesised at ``nside`` plus the dataset's beamed
    foreground map (``fg_map``); with ``model.sim.foregrounds.vary_per_sim`` the foregrounds are
    instead made for this simulation (templates seeded by split and sim, emission at
    ``nside_sky``) and added to the CMB alm before the beam. All maps in uK_CMB.

    Config: ``scenario``, ``model.sim.cmb.realisation``, ``model.sim.foregrounds``,
    ``model.sim.instrument``. Reads ``cmb_spectrum`` (``gaussian``) or ``cmb_unlensed_spectrum``
    (``pysm_lensed``) and ``fg_map``; writes ``cmb_map`` and ``sky_map``.
    """

    name = "make_sky"
    inputs = ("cmb_spectrum", "cmb_unlensed_spectrum", "fg_map")
    outputs = ("cmb_map", "sky_map")
    config_keys = ("scenario", "model.sim.foregrounds", "model.sim.instrument")
    per_sim = True

    def process_sim(self, split: str, sim: int) -> None:
        """Write ``cmb_map`` and every detector's ``sky_map`` for (split, sim)."""
        scen = self.cfg.scenario
        nside = int(scen.nside)
        lmax = 3 * nside - 1
        fg_cfg = foreground_config(self.cfg)
        batch = int(fg_cfg.get("max_batch_mb", 256)) << 20
        detectors = scenario_detectors(self)
        freqs, fwhm, pol = detector_arrays(detectors.values(), str(scen.map_fields))
        any_pol = bool(pol.any())
        if cmb_realisation(self.cfg) == "pysm_lensed":
            alm = self._pysm_lensed_alm(split, sim, lmax, any_pol)
        else:
            source = f"cmb_spectrum of {split} sim {sim}"
            _, cls = spectrum_from_table(self.read("cmb_spectrum", split=split, sim=sim), source)
            if cls.shape[-1] < lmax + 1:
                raise ValueError(f"{source} reaches l = {cls.shape[-1] - 1}, the sky needs {lmax}")
            alm = gaussian_cmb_alm(cls, lmax, self.rng(split, sim, "cmb"), pol=any_pol)
        # the maps are stored as float32: synthesised in single precision (within 1e-7)
        truth = cmb_truth_map(alm, nside, lmax, dtype=np.float32)
        self.write("cmb_map", _squeeze(truth), split=split, sim=sim)
        del truth
        if fg_cfg.get("vary_per_sim"):
            model = foreground_model(self, fg_cfg, foreground_seed(self, split, sim), freqs)
            fg_alms = foreground_alms(model, freqs, pol, lmax, max_batch_bytes=batch)
            fg = {"fg_alms": fg_alms}
        else:
            fg = {"fg_maps": self._fg_maps(list(detectors), nside)}
        maps = sky_maps(alm, fwhm, pol, nside, lmax, max_batch_bytes=batch, dtype=np.float32, **fg)
        for band, m in zip(detectors, maps, strict=True):
            self.write("sky_map", _squeeze(m), split=split, sim=sim, freq=band)

    def _pysm_lensed_alm(self, split: str, sim: int, lmax: int, pol: bool) -> np.ndarray:
        """PySM3 ``CMBLensed`` IQU at ``nside_sky`` analysed to ``lmax``: (3 or 1, nalm) uK_CMB."""
        nside_sky = int(self.cfg.scenario.nside_sky)
        if lmax > 3 * nside_sky - 1:
            raise ValueError(f"scenario.nside_sky = {nside_sky} cannot carry the sky's l = {lmax}")
        seed = int(self.rng(split, sim, "cmb").integers(2**32))
        path = self.require("cmb_unlensed_spectrum", split=split, sim=sim)
        maps = pysm_lensed_cmb_map(path, nside_sky, seed)
        alm = sphere.map2alm(maps, lmax, pol=True, niter=3)
        return alm if pol else alm[:1]

    def _fg_maps(self, bands: list[int], nside: int) -> list[np.ndarray]:
        """The dataset's beamed foreground maps, read once per process (float32 in memory); each
        unit still records them as inputs."""
        paths = [self.require("fg_map", freq=b) for b in bands]
        key = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in paths)
        if _FG_CACHE.get("key") != key:
            _FG_CACHE.clear()
            maps = [
                np.atleast_2d(self.read("fg_map", freq=b, options={"nside": nside})).astype(
                    np.float32
                )
                for b in bands
            ]
            _FG_CACHE.update(key=key, maps=maps)
        return _FG_CACHE["maps"]


def _squeeze(maps: np.ndarray) -> np.ndarray:
    """``(1, npix)`` -> ``(npix,)`` for single-field files."""
    return maps[0] if maps.shape[0] == 1 else maps
