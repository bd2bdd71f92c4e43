"""Stage hybrid_preprocess: ILC map, frequency maps and ILC error -> scaled NEST stacks."""

from __future__ import annotations

import healpy as hp
import numpy as np

from cmbml import sphere
from cmbml.hybrid.stages._common import HybridStage
from cmbml.nn.fields import read_channels, read_stokes
from cmbml.nn.nest import ring_to_nest
from cmbml.nn.preprocess_stage import NetworkPreprocess
from cmbml.nn.stack_stages import entries


class HybridPreprocess(HybridStage, NetworkPreprocess):
    """Write the Hybrid's inputs and target of every simulation (all splits), NEST.

    Inputs ``(1, 1 + n_detectors, npix)``: the ILC map divided by the target factor, then
    each detector's map divided by its factor. Target ``(1, 1, npix)``: (truth - ILC) divided
    by the target factor, the truth at ``model.hybrid.target_beam`` (``{fwhm_arcmin, pixwin}``,
    by default the ILC map's own resolution, so that the network corrects the ILC's errors and
    not its beam; null: the unbeamed truth). Config: ``model.hybrid.detectors``,
    ``ilc_working``, ``target_beam``. Reads
    ``hybrid_scale``, ``pyilc_cmb_map_pred``, ``obs_map`` and ``cmb_map``. Writes
    ``hybrid_obs`` and ``hybrid_cmb``.
    """

    name = "hybrid_preprocess"
    inputs = ("hybrid_scale", "pyilc_cmb_map_pred", "obs_map", "cmb_map")
    outputs = entries("hybrid", "obs", "cmb")
    config_keys = (
        "scenario.nside",
        "model.hybrid.detectors",
        "model.hybrid.ilc_working",
        "model.hybrid.target_beam",
        "dataset.pixel_window",
    )

    def process_sim(self, split: str, sim: int) -> None:
        self.fields()  # I only
        scale = self.read("hybrid_scale")
        detectors = [int(det) for det in scale["features"]]
        self._check_detectors(detectors)
        maps = read_channels(self, {"I": detectors}, split=split, sim=sim)
        ilc = self.ilc_map(split, sim)
        truth = self._beamed(read_stokes(self, "cmb_map", [0], split=split, sim=sim)[0])
        target = float(scale["target"])
        features = [
            ilc / target,
            *(maps["I", det] / scale["features"][str(det)] for det in detectors),
        ]
        self.write("hybrid_obs", self.arrange(np.stack(features)), split=split, sim=sim)
        self.write("hybrid_cmb", self.arrange(((truth - ilc) / target)[None]), split=split, sim=sim)

    def arrange(self, maps: np.ndarray) -> np.ndarray:
        """The float32 NEST stack ``(1, n, npix)`` of RING maps ``(n, npix)``."""
        return ring_to_nest(maps).astype(np.float32)

    def _beamed(self, truth: np.ndarray) -> np.ndarray:
        """The unbeamed truth ``(npix,)`` at ``model.hybrid.target_beam`` (Gaussian beam and,
        with its pixel window, :meth:`output_resolution`), band-limited to 3 nside - 1."""
        if self.model.get("target_beam") is None:
            return truth
        fwhm, pixwin = self.output_resolution()
        nside = hp.npix2nside(truth.size)
        lmax = 3 * nside - 1
        fl = sphere.gaussian_beam(fwhm, lmax)
        if pixwin:
            fl = fl * sphere.pixel_window(nside)[: lmax + 1]
        alm = sphere.map2alm(truth, lmax, niter=3)
        return sphere.alm2map(sphere.almxfl(alm, fl), nside, lmax)
