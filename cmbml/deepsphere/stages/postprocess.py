"""Stage deepsphere_postprocess: predicted NEST maps -> RING HEALPix maps in uK_CMB."""

from __future__ import annotations

from cmbml.deepsphere.stages._common import DeepsphereStage
from cmbml.nn.stack_stages import StackPostprocess, entries


class DeepspherePostprocess(DeepsphereStage, StackPostprocess):
    """Undo the target scaling and the NEST order of each field's prediction (and its
    Monte-Carlo sigma) (:class:`~cmbml.nn.stack_stages.StackPostprocess`).

    Config: ``model.deepsphere.use_epochs``, ``fields``, ``mc_samples``. Reads ``deepsphere_scale``,
    ``deepsphere_pred``, ``deepsphere_sigma`` (/ ``_pol``). Writes ``cmb_map_pred`` and
    ``cmb_map_sigma``.
    """

    name = "deepsphere_postprocess"
    inputs = entries("deepsphere", "scale", "pred", "sigma")
    config_keys = ("model.deepsphere.use_epochs", "model.deepsphere.mc_samples")
