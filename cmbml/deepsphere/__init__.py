"""DeepSphere: a spherical UNet of Chebyshev graph convolutions on the HEALPix pixel graph.

Pure functions and classes (no Hydra): the graph, its Laplacian, pooling and unpooling
(:mod:`cmbml.deepsphere.graph`), the network (:mod:`cmbml.deepsphere.unet`) and the RING <->
NEST layout (:mod:`cmbml.nn.nest`). No face edges: neighbouring pixels of different
base faces are neighbours in the graph. Training, resume, DDP, scaling and Monte-Carlo dropout
are those of :mod:`cmbml.nn`; stages live in :mod:`cmbml.deepsphere.stages`.
"""

from cmbml.deepsphere.graph import laplacian, pool, scaled_laplacian, unpool, weight_matrix
from cmbml.deepsphere.unet import ChebConv, SphereUNet
from cmbml.nn.nest import nest_to_ring, ring_to_nest

__all__ = [
    "ChebConv",
    "SphereUNet",
    "laplacian",
    "nest_to_ring",
    "pool",
    "ring_to_nest",
    "scaled_laplacian",
    "unpool",
    "weight_matrix",
]
