"""Stage cmbnncs_train: train one CMBNNCS UNet per Stokes field on Train, validate on Valid."""

from __future__ import annotations

from cmbml.cmbnncs.data import PlaneDataset
from cmbml.cmbnncs.stages._common import (
    CmbnncsStage,
    build_network,
    existing_paths,
    product,
    split_sims,
)
from cmbml.nn.train_stage import TRAIN_KEYS, NetworkTrain


class CmbnncsTrain(CmbnncsStage, NetworkTrain):
    """Train one ``model.cmbnncs.network`` per Stokes field (L1 loss, Adam, exponential
    learning-rate decay): I, then Q and U when ``model.cmbnncs.fields`` has them.

    Config: ``model.cmbnncs`` keys ``network``, ``detectors``, ``fields``, ``num_epochs``,
    ``batch_size``, ``repeat_n``, ``lr``, ``lr_min``, ``lr_decay``, ``amp``,
    ``checkpoint_every``, ``checkpoint_epochs`` (these define the result) and ``restart_epoch``,
    ``device``, ``num_workers`` (execution only). Every field's network has the same
    hyper-parameters and one input channel per plane of its field. Reads, per field,
    ``cmbnncs_obs_plane`` and ``cmbnncs_cmb_plane`` (I) or their ``*_pol`` entries (Q, U) of
    the Train* and Valid* splits. Writes, per field, ``cmbnncs_checkpoint`` /
    ``cmbnncs_checkpoint_pol`` (epoch 0 = init, configured epochs, last epoch) and
    ``cmbnncs_train_log`` / ``cmbnncs_train_log_pol`` (CSV: epoch, train_loss, valid_loss, lr;
    rewritten every epoch).

    One unit trains every field in turn (the pipeline's units are simulations or whole
    stages); each field resumes on its own, exactly (:class:`~cmbml.nn.train_stage.NetworkTrain`),
    also under ``torchrun``.
    """

    name = "cmbnncs_train"
    inputs = (
        "cmbnncs_obs_plane",
        "cmbnncs_obs_plane_pol",
        "cmbnncs_cmb_plane",
        "cmbnncs_cmb_plane_pol",
        "cmbnncs_checkpoint",
        "cmbnncs_checkpoint_pol",
    )
    outputs = (
        "cmbnncs_checkpoint",
        "cmbnncs_checkpoint_pol",
        "cmbnncs_train_log",
        "cmbnncs_train_log_pol",
    )
    config_keys = tuple(f"model.cmbnncs.{key}" for key in TRAIN_KEYS)

    def _dataset(self, prefix: str, field: str) -> PlaneDataset:
        sims = split_sims(self.cfg, prefix)
        obs, values = product("cmbnncs_obs_plane", field)
        cmb, _ = product("cmbnncs_cmb_plane", field)
        return PlaneDataset(
            existing_paths(self, obs, sims, **values), existing_paths(self, cmb, sims, **values)
        )

    def run(self) -> None:
        for field in self.fields():
            self._train(field)

    def _train(self, field: str) -> None:
        """Train (or resume, or skip when done) the network of Stokes ``field``."""
        train_set, valid_set = self._dataset("Train", field), self._dataset("Valid", field)
        self.train_field(field, train_set, valid_set, lambda n: build_network(self.cfg, n))
