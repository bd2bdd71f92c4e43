"""Stage cmbnncs_import: a checkpoint published by CMB-ML in place of cmbml's training."""

from __future__ import annotations

from cmbml.cmbnncs.cmbml_checkpoints import (
    CMBML_SCALE_FEATURES,
    CMBML_SCALE_TARGET,
    load_into,
    read_cmbml_checkpoint,
)
from cmbml.cmbnncs.stages._common import CmbnncsStage, build_network, use_epochs
from cmbml.core import ConfigError

HINT = (
    "set model.cmbnncs.cmbml_checkpoint to a CMB-ML model_<epoch>.pth "
    "(python get_data/get_cmbnncs_checkpoints.py, docs/cmbml-compat.md)"
)


class CmbnncsImport(CmbnncsStage):
    """Write CMB-ML's CMBNNCS checkpoint ``model.cmbnncs.cmbml_checkpoint`` as cmbml's.

    The file is CMB-ML's ``{"epoch", "model_state_dict", ...}`` of cmbNNCS's UNet
    (:mod:`cmbml.cmbnncs.cmbml_checkpoints`); its parameters must fit
    ``model.cmbnncs.network`` with one input per ``model.cmbnncs.detectors`` (CMB-ML's UNet8:
    ``model/cmbnncs=paper``), its epoch must be one of ``model.cmbnncs.use_epochs``, and the
    scaling must be CMB-ML's (``scale_features`` 1, ``scale_target`` 5; temperature only).
    Writes ``cmbnncs_checkpoint`` (epoch) for ``cmbnncs_predict``.
    """

    name = "cmbnncs_import"
    inputs = ()
    outputs = ("cmbnncs_checkpoint",)
    config_keys = (
        "model.cmbnncs.cmbml_checkpoint",
        "model.cmbnncs.network",
        "model.cmbnncs.detectors",
        "model.cmbnncs.scale_features",
        "model.cmbnncs.scale_target",
    )
    per_sim = False

    def run(self) -> None:
        mc = self.cfg.model.cmbnncs
        self._check_config()
        path = self.asset(mc.get("cmbml_checkpoint") or "", hint=HINT)
        state, epoch = read_cmbml_checkpoint(path)
        epochs = use_epochs(self.cfg)
        if epoch not in epochs:
            raise ConfigError(
                f"{path} holds epoch {epoch}, model.cmbnncs.use_epochs is {epochs}: set "
                f"model.cmbnncs.num_epochs={epoch} (or use_epochs=[{epoch}])"
            )
        network = load_into(build_network(self.cfg), state, str(path))
        checkpoint = {"epoch": epoch, "model": network.state_dict(), "source": str(path)}
        self.write("cmbnncs_checkpoint", checkpoint, epoch=epoch)
        self.log.info("CMB-ML checkpoint %s (epoch %d) imported", path, epoch)

    def _check_config(self) -> None:
        """CMB-ML's checkpoints clean the intensity with inputs / 1 and target / 5."""
        mc = self.cfg.model.cmbnncs
        if not mc.get("cmbml_checkpoint"):
            raise ConfigError(f"model.cmbnncs.cmbml_checkpoint is not set: {HINT}")
        if self.fields() != ["I"]:
            raise ConfigError(
                "CMB-ML's CMBNNCS checkpoints clean the intensity only: set "
                "model.cmbnncs.fields=[I]"
            )
        factors = {"scale_features": CMBML_SCALE_FEATURES, "scale_target": CMBML_SCALE_TARGET}
        wrong = {k: mc.get(k) for k, v in factors.items() if mc.get(k) != v}
        if wrong:
            raise ConfigError(
                f"CMB-ML's checkpoints were trained with {factors}, got {wrong}: use "
                "model/cmbnncs=paper"
            )
