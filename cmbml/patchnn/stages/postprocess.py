"""Stage patchnn_postprocess: predicted patches -> RING HEALPix maps in uK_CMB (I or I, Q, U)."""

from __future__ import annotations

from cmbml.nn.stack_stages import StackPostprocess, entries
from cmbml.patchnn.stages._common import PatchnnStage


class PatchnnPostprocess(PatchnnStage, StackPostprocess):
    """Undo the target scaling and reassemble each field's predicted patches (and their
    Monte-Carlo sigma) on the sphere (:class:`~cmbml.nn.stack_stages.StackPostprocess`).

    Config: ``model.patchnn.use_epochs``, ``fields``, ``mc_samples``. Reads ``patchnn_scale``,
    ``patchnn_pred``, ``patchnn_sigma`` (/ ``_pol``). Writes ``cmb_map_pred`` and
    ``cmb_map_sigma``.
    """

    name = "patchnn_postprocess"
    inputs = entries("patchnn", "scale", "pred", "sigma")
    config_keys = ("model.patchnn.use_epochs", "model.patchnn.mc_samples")
