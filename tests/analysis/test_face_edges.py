"""Face-edge residual ratio: which pixels are on a face edge, and the ratio on known residuals."""

import healpy as hp
import numpy as np
import pytest

from cmbml.analysis.face_edges import face_edge_pixels, face_edge_ratio


def test_edge_pixels_are_the_outer_rings_of_every_face():
    nside, width = 16, 2
    edge = face_edge_pixels(nside, width)
    # per face: all pixels but the inner (nside - 2 width)^2 square
    assert edge.sum() == 12 * (nside**2 - (nside - 2 * width) ** 2)
    # a pixel on an edge has a neighbour in another face, an inner one has none
    nest_faces = np.arange(hp.nside2npix(nside)) // nside**2
    ring_face = nest_faces[hp.ring2nest(nside, np.arange(hp.nside2npix(nside)))]
    neighbours = hp.get_all_neighbours(nside, np.arange(hp.nside2npix(nside)))
    crosses = ((ring_face[neighbours] != ring_face[None]) & (neighbours >= 0)).any(axis=0)
    assert not (crosses & ~face_edge_pixels(nside, 1)).any()
    assert crosses[face_edge_pixels(nside, 1)].mean() > 0.99
    with pytest.raises(ValueError, match="face edge width"):
        face_edge_pixels(4, 3)


def test_ratio_of_white_and_of_edge_only_residuals():
    nside, width = 32, 2
    good = np.ones(hp.nside2npix(nside), dtype=bool)
    white = np.random.default_rng(0).standard_normal(good.size)
    assert face_edge_ratio(white, good, width) == pytest.approx(1.0, abs=0.03)
    edge = face_edge_pixels(nside, width)
    only_edges = np.where(edge, 1.0, 0.0)
    assert face_edge_ratio(only_edges, good, width) == pytest.approx(good.size / edge.sum())
