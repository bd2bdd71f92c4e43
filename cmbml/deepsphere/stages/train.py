"""Stage deepsphere_train: train one spherical UNet per Stokes field on Train, validate on Valid."""

from __future__ import annotations

from cmbml.deepsphere.stages._common import DeepsphereStage
from cmbml.nn.stack_stages import TRAIN_KEYS, StackTrain, entries


class DeepsphereTrain(DeepsphereStage, StackTrain):
    """Train one ``model.deepsphere.network`` per Stokes field on the Train simulations' NEST
    maps (:class:`~cmbml.nn.stack_stages.StackTrain`; ``batch_size``: simulations per step).

    Config: ``model.deepsphere`` keys ``network``, ``detectors``, ``fields``,
    ``num_epochs``, ``batch_size``, ``repeat_n``, ``lr``, ``lr_min``, ``lr_decay``, ``amp``,
    ``checkpoint_every``, ``checkpoint_epochs``; ``restart_epoch``, ``device``, ``num_workers``
    (execution only). Reads ``deepsphere_obs`` and ``deepsphere_cmb`` (``_pol`` for Q, U) of the
    Train* and Valid* splits. Writes ``deepsphere_checkpoint`` and ``deepsphere_train_log`` (/
    ``_pol``).
    """

    name = "deepsphere_train"
    inputs = entries("deepsphere", "obs", "cmb", "checkpoint")
    outputs = entries("deepsphere", "checkpoint", "train_log")
    config_keys = tuple(f"model.deepsphere.{key}" for key in TRAIN_KEYS)
