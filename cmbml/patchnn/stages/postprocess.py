"""Stage patchnn_postprocess: predicted patches -> RING HEALPix maps in uK_CMB (I or I, Q, U)."""

from __future__ import annotations

import numpy as np

from cmbml.nn.fields import product, use_epochs
from cmbml.patchnn.patches import patches_to_sphere
from cmbml.patchnn.stages._common import METHOD, PatchnnStage


class PatchnnPostprocess(PatchnnStage):
    """Undo the target scaling and reassemble each field's predicted patches on the sphere.

    Config: ``model.patchnn.use_epochs``, ``fields``, ``mc_samples``. Reads ``patchnn_scale``
    and ``patchnn_pred_patches`` (and ``patchnn_sigma_patches``) / ``_pol``. Writes
    ``cmb_map_pred`` (split, sim, epoch): unbeamed CMB at the scenario's nside, RING, uK_CMB,
    ``(npix,)`` (I) or ``(3, npix)`` (I, Q, U); with Monte-Carlo samples also
    ``cmb_map_sigma``, its per-pixel standard deviation, same shape and unit.
    """

    name = "patchnn_postprocess"
    inputs = (
        "patchnn_scale",
        "patchnn_scale_pol",
        "patchnn_pred_patches",
        "patchnn_pred_patches_pol",
        "patchnn_sigma_patches",
        "patchnn_sigma_patches_pol",
    )
    outputs = ("cmb_map_pred", "cmb_map_sigma")
    config_keys = ("model.patchnn.use_epochs", "model.patchnn.mc_samples")
    per_sim = True
    splits = ("Test",)
    infer = True

    def process_sim(self, split: str, sim: int) -> None:
        fields = self.fields()
        targets = {}
        for field in fields:
            name, values = product("patchnn_scale", field)
            targets[field] = float(self.read(name, **values)["target"])
        outputs = {"patchnn_pred_patches": "cmb_map_pred"}
        if int(self.model.mc_samples or 0) >= 2:
            outputs["patchnn_sigma_patches"] = "cmb_map_sigma"
        for epoch in use_epochs(self.cfg, METHOD):
            for source, target in outputs.items():
                maps = []
                for field in fields:
                    name, values = product(source, field)
                    patches = self.read(name, split=split, sim=sim, epoch=epoch, **values)
                    sphere = patches_to_sphere(np.asarray(patches, dtype=np.float64))[0]
                    maps.append(sphere * targets[field])
                cmb = maps[0] if fields == ["I"] else np.stack(maps)
                self.write(
                    target, cmb, options={"unit": "uK_CMB"}, split=split, sim=sim, epoch=epoch
                )
