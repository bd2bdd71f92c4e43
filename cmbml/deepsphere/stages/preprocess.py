"""Stage deepsphere_preprocess: HEALPix maps -> scaled NEST map stacks, one file per simulation."""

from __future__ import annotations

import numpy as np

from cmbml.deepsphere.stages._common import DeepsphereStage
from cmbml.nn.nest import ring_to_nest
from cmbml.nn.preprocess_stage import NetworkPreprocess
from cmbml.nn.stack_stages import entries


class DeepspherePreprocess(DeepsphereStage, NetworkPreprocess):
    """Reorder the observed and CMB maps of each Stokes field to NEST and scale them (all
    splits; :class:`~cmbml.nn.preprocess_stage.NetworkPreprocess`).

    Writes, per field, ``deepsphere_obs`` / ``_pol`` (float32 ``(1, n_detectors, npix)``,
    NEST) and ``deepsphere_cmb`` / ``_pol`` (float32 ``(1, 1, npix)``).
    """

    name = "deepsphere_preprocess"
    inputs = ("deepsphere_scale", "deepsphere_scale_pol", "obs_map", "cmb_map")
    outputs = entries("deepsphere", "obs", "cmb")
    config_keys = ("scenario.nside", "model.deepsphere.detectors")
    obs_entry = "deepsphere_obs"
    cmb_entry = "deepsphere_cmb"

    def arrange(self, maps: np.ndarray) -> np.ndarray:
        """The NEST stack ``(1, n, npix)`` of RING maps ``(n, npix)``."""
        return ring_to_nest(maps)
