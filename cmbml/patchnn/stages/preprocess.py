"""Stage patchnn_preprocess: HEALPix maps -> scaled PatchNN patches, one file per simulation."""

from __future__ import annotations

import numpy as np

from cmbml.nn.preprocess_stage import NetworkPreprocess
from cmbml.nn.stack_stages import entries
from cmbml.patchnn.patches import sphere_to_patches
from cmbml.patchnn.stages._common import PatchnnStage


class PatchnnPreprocess(PatchnnStage, NetworkPreprocess):
    """Cut the observed and CMB maps of each Stokes field into scaled patches (all splits;
    :class:`~cmbml.nn.preprocess_stage.NetworkPreprocess`).

    Config: ``model.patchnn.nside_patch`` (patch side, pixels). Writes, per field,
    ``patchnn_obs`` / ``_pol`` (float32 ``(n_patches, n_detectors, p, p)``) and
    ``patchnn_cmb`` / ``_pol`` (float32 ``(n_patches, 1, p, p)``).
    """

    name = "patchnn_preprocess"
    inputs = ("patchnn_scale", "patchnn_scale_pol", "obs_map", "cmb_map")
    outputs = entries("patchnn", "obs", "cmb")
    config_keys = ("scenario.nside", "model.patchnn.detectors", "model.patchnn.nside_patch")
    obs_entry = "patchnn_obs"
    cmb_entry = "patchnn_cmb"

    def arrange(self, maps: np.ndarray) -> np.ndarray:
        """Patches ``(n_patches, n, p, p)`` of RING maps ``(n, npix)``."""
        return sphere_to_patches(maps, int(self.model.nside_patch))
