"""Stage patchnn_train: train one PatchNN UNet per Stokes field on Train, validate on Valid."""

from __future__ import annotations

from cmbml.nn.stack_stages import TRAIN_KEYS, StackTrain, entries
from cmbml.patchnn.stages._common import PatchnnStage


class PatchnnTrain(PatchnnStage, StackTrain):
    """Train one ``model.patchnn.network`` per Stokes field on every patch of the Train
    simulations (:class:`~cmbml.nn.stack_stages.StackTrain`; ``batch_size``: patches per step).

    Config: ``model.patchnn`` keys ``network``, ``nside_patch``, ``detectors``, ``fields``,
    ``num_epochs``, ``batch_size``, ``repeat_n``, ``lr``, ``lr_min``, ``lr_decay``, ``amp``,
    ``checkpoint_every``, ``checkpoint_epochs``; ``restart_epoch``, ``device``, ``num_workers``
    (execution only). Reads ``patchnn_obs`` and ``patchnn_cmb`` (``_pol`` for Q, U) of the
    Train* and Valid* splits. Writes ``patchnn_checkpoint`` and ``patchnn_train_log`` (/
    ``_pol``).
    """

    name = "patchnn_train"
    inputs = entries("patchnn", "obs", "cmb", "checkpoint")
    outputs = entries("patchnn", "checkpoint", "train_log")
    config_keys = tuple(f"model.patchnn.{key}" for key in (*TRAIN_KEYS, "nside_patch"))
