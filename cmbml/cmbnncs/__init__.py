"""CMBNNCS: CMB foreground cleaning with a UNet on the 12 HEALPix base faces (Wang et al. 2022).

Pure functions and classes (no Hydra): the sphere <-> plane rearrangement, the UNet5/UNet8
networks and the plane dataset; the training/inference loop is the shared one of
:mod:`cmbml.nn` (re-exported here). Pipeline stages live in :mod:`cmbml.cmbnncs.stages`.
"""

from cmbml.cmbnncs.data import PlaneDataset
from cmbml.cmbnncs.layout import plane_ring_index, plane_to_sphere, sphere_to_plane
from cmbml.cmbnncs.unet import UNet, UNet5, UNet8
from cmbml.nn import TrainConfig, Trainer, make_loader, predict_batches, select_device

__all__ = [
    "PlaneDataset",
    "TrainConfig",
    "Trainer",
    "UNet",
    "UNet5",
    "UNet8",
    "make_loader",
    "plane_ring_index",
    "plane_to_sphere",
    "predict_batches",
    "select_device",
    "sphere_to_plane",
]
