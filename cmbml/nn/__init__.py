"""The training core shared by the network methods (CMBNNCS, PatchNN, DeepSphere, Hybrid).

Network-neutral pieces, no Hydra: the training loop with checkpoints that resume exactly
(:mod:`cmbml.nn.training`), data-parallel helpers (:mod:`cmbml.nn.ddp`), loaders and device
selection (:mod:`cmbml.nn.data`). The stage helpers every method shares (Stokes fields,
checkpoint epochs, seeds, the resumable train stage) are :mod:`cmbml.nn.fields` and
:mod:`cmbml.nn.train_stage`. A method package keeps only its data layout, its network and its
stages.
"""

from cmbml.nn.data import make_loader, select_device
from cmbml.nn.training import TrainConfig, Trainer, predict_batches

__all__ = ["TrainConfig", "Trainer", "make_loader", "predict_batches", "select_device"]
