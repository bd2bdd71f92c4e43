"""The NEST layout of the graph networks: one map stack per simulation, ``(1, n, npix)``."""

from __future__ import annotations

import healpy as hp
import numpy as np

__all__ = ["nest_to_ring", "ring_to_nest"]


def ring_to_nest(maps: np.ndarray) -> np.ndarray:
    """The NEST stack ``(1, n, npix)`` of RING maps ``(n, npix)``."""
    maps = np.atleast_2d(maps)
    nside = hp.npix2nside(maps.shape[-1])
    return maps[:, hp.nest2ring(nside, np.arange(maps.shape[-1]))][None]


def nest_to_ring(stack: np.ndarray) -> np.ndarray:
    """RING maps ``(n, npix)`` of a NEST stack ``(1, n, npix)``."""
    stack = np.asarray(stack)
    if stack.ndim != 3 or stack.shape[0] != 1:
        raise ValueError(f"expected a NEST stack (1, n, npix), got shape {stack.shape}")
    nside = hp.npix2nside(stack.shape[-1])
    return stack[0][:, hp.ring2nest(nside, np.arange(stack.shape[-1]))]
