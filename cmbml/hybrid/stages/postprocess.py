"""Stage hybrid_postprocess: the ILC map plus the predicted correction, RING, uK_CMB."""

from __future__ import annotations

from cmbml.hybrid.stages._common import HybridStage
from cmbml.nn.stack_stages import StackPostprocess, entries


class HybridPostprocess(HybridStage, StackPostprocess):
    """Undo the target scaling and the NEST order of the predicted correction (and its
    Monte-Carlo sigma) and add the ILC map (:class:`~cmbml.nn.stack_stages.StackPostprocess`).

    Config: ``model.hybrid.use_epochs``, ``mc_samples``, ``ilc_working``. Reads
    ``hybrid_scale``, ``hybrid_pred``, ``hybrid_sigma`` and ``pyilc_cmb_map_pred``. Writes
    ``cmb_map_pred`` (ILC + correction) and ``cmb_map_sigma``.
    """

    name = "hybrid_postprocess"
    inputs = (*entries("hybrid", "scale", "pred", "sigma"), "pyilc_cmb_map_pred")
    config_keys = (
        "model.hybrid.use_epochs",
        "model.hybrid.mc_samples",
        "model.hybrid.ilc_working",
    )
