"""Stage cmbnncs_postprocess: predicted planes -> RING HEALPix maps in uK_CMB (I or I, Q, U)."""

from __future__ import annotations

import numpy as np

from cmbml.cmbnncs.layout import plane_to_sphere
from cmbml.cmbnncs.stages._common import CmbnncsStage, product, use_epochs
from cmbml.core.prediction import prediction_header


class CmbnncsPostprocess(CmbnncsStage):
    """Undo the target scaling and the plane layout of each field's predicted CMB plane.

    Config: ``model.cmbnncs.use_epochs``, ``fields``. Reads ``cmbnncs_scale`` /
    ``cmbnncs_scale_pol`` and ``cmbnncs_pred_plane`` / ``cmbnncs_pred_plane_pol`` (split, sim,
    epoch). Writes ``cmb_map_pred`` (split, sim, epoch): unbeamed CMB at the scenario's nside,
    RING, uK_CMB, like the truth ``cmb_map``: ``(npix,)`` (I) or ``(3, npix)`` (columns
    I_STOKES, Q_STOKES, U_STOKES) when Q, U are cleaned; the header records the unit of work
    that made it and that the map is unbeamed, without pixel window.
    """

    name = "cmbnncs_postprocess"
    inputs = ("cmbnncs_scale", "cmbnncs_scale_pol", "cmbnncs_pred_plane", "cmbnncs_pred_plane_pol")
    outputs = ("cmb_map_pred",)
    config_keys = ("model.cmbnncs.use_epochs",)
    per_sim = True
    splits = ("Test",)
    observations = True  # also the observation-only splits (real maps)
    infer = True

    def process_sim(self, split: str, sim: int) -> None:
        fields = self.fields()
        targets = {}
        for field in fields:
            name, values = product("cmbnncs_scale", field)
            targets[field] = float(self.read(name, **values)["target"])
        for epoch in use_epochs(self.cfg):
            maps = []
            for field in fields:
                name, values = product("cmbnncs_pred_plane", field)
                plane = self.read(name, split=split, sim=sim, epoch=epoch, **values)
                maps.append(
                    plane_to_sphere(np.asarray(plane, dtype=np.float64)[0]) * targets[field]
                )
            cmb = maps[0] if fields == ["I"] else np.stack(maps)
            header = prediction_header(self, (split, sim), fwhm_arcmin=0.0, pixwin=False)
            options = {"unit": "uK_CMB", "header": header}
            self.write("cmb_map_pred", cmb, options=options, split=split, sim=sim, epoch=epoch)
