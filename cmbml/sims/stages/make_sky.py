"""Stage ``make_sky``: per simulation, the CMB truth map and the noiseless beamed sky."""

from __future__ import annotations

import json

import numpy as np

from cmbml import sphere
from cmbml.core import Stage
from cmbml.core.splits import split_config, split_sim
from cmbml.sims.cmb import gaussian_cmb_alm, pysm_lensed_cmb_map, spectrum_from_table
from cmbml.sims.sky import (
    beamed_foreground_maps,
    cmb_truth_map,
    detector_arrays,
    foreground_alms,
    sky_maps,
)
from cmbml.sims.stages.make_cmb_spectra import cmb_realisation
from cmbml.sims.stages.make_foregrounds import (
    drawn_foregrounds,
    foreground_config,
    foreground_model,
    foreground_seed,
)
from cmbml.sims.stages.make_instrument import scenario_detectors

_FG_CACHE: dict = {}
_SPLIT_FG_CACHE: dict = {}


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
    instead made for this simulation (templates, extragalactic realisations and the components'
    distribution blocks, :mod:`cmbml.sims.fg_variation`, seeded by split and sim; emission at
    ``nside_sky``) and added to the CMB alm before the beam. A split with foreground settings of
    its own (``splits.<name>.sim.foregrounds``, :mod:`cmbml.core.splits`) has its own sky,
    seeded by the split (a foreground-shift test split). All maps in uK_CMB. ``fg_params``
    records the foreground sky of the simulation: whether it varies per simulation, the seed
    of its templates and the drawn parameter values.

    Config: ``scenario``, ``model.sim.cmb.realisation``, ``model.sim.foregrounds``,
    ``model.sim.instrument``. Reads ``cmb_spectrum`` (``gaussian``) or ``cmb_unlensed_spectrum``
    (``pysm_lensed``) and ``fg_map``; writes ``cmb_map``, ``sky_map`` and ``fg_params``.
    """

    name = "make_sky"
    inputs = ("cmb_spectrum", "cmb_unlensed_spectrum", "fg_map")
    outputs = ("cmb_map", "sky_map", "fg_params")
    config_keys = ("scenario", "model.sim.foregrounds", "model.sim.instrument")
    per_sim = True

    def process_sim(self, split: str, sim: int) -> None:
        """Write ``cmb_map`` and every detector's ``sky_map`` for (split, sim)."""
        scen = self.cfg.scenario
        nside = int(scen.nside)
        lmax = 3 * nside - 1
        batch = int(foreground_config(self.cfg).get("max_batch_mb", 256)) << 20
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
        fg = self._foregrounds(split, sim, freqs, fwhm, pol, batch)
        maps = sky_maps(alm, fwhm, pol, nside, lmax, max_batch_bytes=batch, dtype=np.float32, **fg)
        for band, m in zip(detectors, maps, strict=True):
            self.write("sky_map", _squeeze(m), split=split, sim=sim, freq=band)

    def _foregrounds(self, split: str, sim: int, freqs, fwhm, pol, batch: int) -> dict:
        """The foregrounds of (split, sim) as ``sky_maps`` keywords, recorded in ``fg_params``.

        One sky for the dataset (``fg_map``); one for the split when the split has foreground
        settings of its own (templates seeded by the split, made once per process); or one per
        simulation with ``vary_per_sim``.
        """
        fg_cfg = foreground_config(split_config(self.cfg, split))
        vary = bool(fg_cfg.get("vary_per_sim"))
        own = "foregrounds" in split_sim(self.cfg, split)
        scope = (split, sim) if vary else (split, None) if own else (None, None)
        seed = foreground_seed(self, *scope)
        fg_cfg, drawn = drawn_foregrounds(self, fg_cfg, *scope)
        sky = "simulation" if vary else "split" if own else "dataset"
        record = {"vary_per_sim": vary, "sky": sky, "template_seed": seed, "drawn": drawn}
        self.write("fg_params", record, split=split, sim=sim)
        nside = int(self.cfg.scenario.nside)
        lmax = 3 * nside - 1
        if vary:
            model = foreground_model(self, fg_cfg, seed, freqs)
            return {"fg_alms": foreground_alms(model, freqs, pol, lmax, max_batch_bytes=batch)}
        if not own:
            return {"fg_maps": self._fg_maps(list(scenario_detectors(self)), nside)}
        key = (split, json.dumps(fg_cfg, sort_keys=True), seed, nside, tuple(pol))
        if _SPLIT_FG_CACHE.get("key") != key:
            _SPLIT_FG_CACHE.clear()
            model = foreground_model(self, fg_cfg, seed, freqs)
            maps = beamed_foreground_maps(
                model, freqs, fwhm, pol, nside, lmax, max_batch_bytes=batch
            )
            _SPLIT_FG_CACHE.update(key=key, maps=[np.atleast_2d(m) for m in maps])
        return {"fg_maps": _SPLIT_FG_CACHE["maps"]}

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
