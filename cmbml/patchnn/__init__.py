"""PatchNN: a UNet on square HEALPix patches (CMB-ML's template for a new network method).

Pure functions and classes (no Hydra): the sphere <-> patches look-up table
(:mod:`cmbml.patchnn.patches`) and the network (:mod:`cmbml.patchnn.unet`). The dataset
(:class:`cmbml.nn.stack.StackDataset`), training, resume, DDP and scaling are those of
:mod:`cmbml.nn`.
Pipeline stages live in :mod:`cmbml.patchnn.stages`.
"""

from cmbml.patchnn.patches import n_patches, patch_index, patches_to_sphere, sphere_to_patches
from cmbml.patchnn.unet import PatchUNet

__all__ = [
    "PatchUNet",
    "n_patches",
    "patch_index",
    "patches_to_sphere",
    "sphere_to_patches",
]
