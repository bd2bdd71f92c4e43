"""Stage hybrid_train: train the network correcting the ILC map on Train, validate on Valid."""

from __future__ import annotations

from cmbml.hybrid.stages._common import HybridStage
from cmbml.nn.stack_stages import TRAIN_KEYS, StackTrain, entries


class HybridTrain(HybridStage, StackTrain):
    """Train ``model.hybrid.network`` to predict the ILC's error (truth - ILC) from the ILC
    map and the frequency maps of the Train simulations
    (:class:`~cmbml.nn.stack_stages.StackTrain`; ``batch_size``: simulations per step).

    Config: ``model.hybrid`` keys ``network``, ``detectors``, ``fields``,
    ``num_epochs``, ``batch_size``, ``repeat_n``, ``lr``, ``lr_min``, ``lr_decay``, ``amp``,
    ``checkpoint_every``, ``checkpoint_epochs``; ``restart_epoch``, ``device``, ``num_workers``
    (execution only). Reads ``hybrid_obs`` and ``hybrid_cmb`` (``_pol`` for Q, U) of the
    Train* and Valid* splits. Writes ``hybrid_checkpoint`` and ``hybrid_train_log`` (/
    ``_pol``).
    """

    name = "hybrid_train"
    inputs = entries("hybrid", "obs", "cmb", "checkpoint")
    outputs = entries("hybrid", "checkpoint", "train_log")
    config_keys = tuple(f"model.hybrid.{key}" for key in TRAIN_KEYS)
