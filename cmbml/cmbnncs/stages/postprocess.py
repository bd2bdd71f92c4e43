"""Stage cmbnncs_postprocess: predicted planes -> RING HEALPix maps in uK_CMB."""

from __future__ import annotations

import numpy as np

from cmbml.cmbnncs.layout import plane_to_sphere
from cmbml.cmbnncs.stages._common import use_epochs
from cmbml.core import Stage


class CmbnncsPostprocess(Stage):
    """Undo the target scaling and the plane layout of each predicted CMB plane.

    Config: ``model.cmbnncs.use_epochs``. Reads ``cmbnncs_scale`` and ``cmbnncs_pred_plane``
    (split, sim, epoch). Writes ``cmb_map_pred`` (split, sim, epoch): RING map ``(npix,)`` at
    the scenario's nside, uK_CMB.
    """

    name = "cmbnncs_postprocess"
    inputs = ("cmbnncs_scale", "cmbnncs_pred_plane")
    outputs = ("cmb_map_pred",)
    config_keys = ("model.cmbnncs.use_epochs",)
    per_sim = True
    splits = ("Test",)
    infer = True

    def process_sim(self, split: str, sim: int) -> None:
        target_scale = float(self.read("cmbnncs_scale")["target"])
        for epoch in use_epochs(self.cfg):
            plane = self.read("cmbnncs_pred_plane", split=split, sim=sim, epoch=epoch)
            cmb = plane_to_sphere(np.asarray(plane, dtype=np.float64)[0]) * target_scale
            self.write(
                "cmb_map_pred", cmb, options={"unit": "uK_CMB"}, split=split, sim=sim, epoch=epoch
            )
