"""Stage cmbnncs_preprocess: HEALPix maps -> scaled CMBNNCS planes, one file per simulation."""

from __future__ import annotations

import numpy as np

from cmbml.cmbnncs.layout import sphere_to_plane
from cmbml.cmbnncs.stages._common import CmbnncsStage
from cmbml.nn.preprocess_stage import NetworkPreprocess


class CmbnncsPreprocess(CmbnncsStage, NetworkPreprocess):
    """Rearrange the observed and CMB maps of each Stokes field into scaled planes (all splits;
    :class:`~cmbml.nn.preprocess_stage.NetworkPreprocess`).

    Writes, per field, ``cmbnncs_obs_plane`` / ``cmbnncs_obs_plane_pol`` (float32,
    ``(n_detectors, 4*nside, 3*nside)``, obs / feature scale) and ``cmbnncs_cmb_plane`` /
    ``cmbnncs_cmb_plane_pol`` (float32, ``(1, 4*nside, 3*nside)``, CMB / target scale);
    observation-only splits (real maps) have no CMB map and get observed planes only.
    """

    name = "cmbnncs_preprocess"
    inputs = ("cmbnncs_scale", "cmbnncs_scale_pol", "obs_map", "cmb_map")
    outputs = (
        "cmbnncs_obs_plane",
        "cmbnncs_obs_plane_pol",
        "cmbnncs_cmb_plane",
        "cmbnncs_cmb_plane_pol",
    )
    config_keys = ("scenario.nside", "model.cmbnncs.detectors")
    obs_entry = "cmbnncs_obs_plane"
    cmb_entry = "cmbnncs_cmb_plane"

    def arrange(self, maps: np.ndarray) -> np.ndarray:
        """The (n, 4*nside, 3*nside) planes of RING maps (n, npix)."""
        return sphere_to_plane(maps)
