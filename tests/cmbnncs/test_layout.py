"""sphere_to_plane / plane_to_sphere against independent specifications of the layout."""

import healpy as hp
import numpy as np
import pytest

from cmbml.cmbnncs import plane_ring_index, plane_to_sphere, sphere_to_plane

BLOCKS = [[2, 6, 9], [3, 7, 10], [0, 4, 11], [1, 5, 8]]

# DESIGN.md section 6 (cmbNNCS's layout): RING map arange(48) at nside 2.
DESIGN_NSIDE2 = np.array(
    [
        [2, 8, 16, 23, 31, 38],
        [9, 17, 24, 32, 39, 45],
        [3, 10, 18, 25, 33, 40],
        [11, 19, 26, 34, 41, 46],
        [0, 4, 12, 27, 35, 42],
        [5, 13, 20, 28, 43, 47],
        [1, 6, 14, 21, 29, 36],
        [7, 15, 22, 30, 37, 44],
    ]
)


def quadtree_ordinals(nside):
    """cmbNNCS's in-face NEST ordinals, built by recursive quadrant expansion.

    Start from [[3, 1], [2, 0]] and repeatedly place copies offset by 3q, q / 2q, 0 (q = size of
    the smaller array) in the four quadrants; the face image is the transpose.
    """
    if nside == 1:
        return np.zeros((1, 1), dtype=int)
    arr = np.array([[3, 1], [2, 0]])
    while arr.shape[0] < nside:
        q = arr.size
        arr = np.block([[arr + 3 * q, arr + q], [arr + 2 * q, arr]])
    return arr


def spec_plane_by_quadtree(nside):
    """RING index at each plane position: quad-tree ordinals + healpy nest2ring per face."""
    plane = np.empty((4 * nside, 3 * nside), dtype=np.int64)
    face_nest = quadtree_ordinals(nside).T
    for rb, row in enumerate(BLOCKS):
        for cb, face in enumerate(row):
            nest = face * nside**2 + face_nest
            plane[rb * nside : (rb + 1) * nside, cb * nside : (cb + 1) * nside] = hp.nest2ring(
                nside, nest
            )
    return plane


def spec_plane_by_xyf(nside):
    """Plane position of every NEST pixel from healpy's (x, y, face) coordinates, pixel by pixel."""
    plane = np.full((4 * nside, 3 * nside), -1, dtype=np.int64)
    where = {face: (rb, cb) for rb, row in enumerate(BLOCKS) for cb, face in enumerate(row)}
    for nest in range(12 * nside**2):
        ix, iy, face = hp.pix2xyf(nside, nest, nest=True)
        rb, cb = where[int(face)]
        plane[rb * nside + nside - 1 - iy, cb * nside + nside - 1 - ix] = hp.nest2ring(nside, nest)
    return plane


@pytest.mark.parametrize("nside", [1, 2, 4, 8])
def test_every_nest_pixel_position(nside):
    by_quadtree = spec_plane_by_quadtree(nside)
    by_xyf = spec_plane_by_xyf(nside)
    np.testing.assert_array_equal(by_quadtree, by_xyf)
    np.testing.assert_array_equal(plane_ring_index(nside), by_quadtree)
    npix = 12 * nside**2
    np.testing.assert_array_equal(sphere_to_plane(np.arange(npix)), by_quadtree)


def test_design_nside2_vector():
    np.testing.assert_array_equal(sphere_to_plane(np.arange(48)), DESIGN_NSIDE2)
    np.testing.assert_array_equal(plane_to_sphere(DESIGN_NSIDE2), np.arange(48))


@pytest.mark.parametrize("nside", [1, 2, 4, 8, 16, 32, 64, 128, 256, 512])
def test_round_trip_exact(nside):
    rng = np.random.default_rng(nside)
    maps = rng.standard_normal((2, 12 * nside**2))
    planes = sphere_to_plane(maps)
    assert planes.shape == (2, 4 * nside, 3 * nside)
    assert planes.dtype == maps.dtype
    np.testing.assert_array_equal(plane_to_sphere(planes), maps)
    # a permutation: every pixel value appears exactly once
    np.testing.assert_array_equal(np.sort(planes[0].ravel()), np.sort(maps[0]))


def test_batched_leading_axes_and_dtype():
    nside = 4
    maps = np.arange(2 * 3 * 12 * nside**2, dtype=np.float32).reshape(2, 3, -1)
    planes = sphere_to_plane(maps)
    assert planes.shape == (2, 3, 16, 12) and planes.dtype == np.float32
    for i in range(2):
        for j in range(3):
            np.testing.assert_array_equal(planes[i, j], sphere_to_plane(maps[i, j]))
    np.testing.assert_array_equal(plane_to_sphere(planes), maps)


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="npix"):
        sphere_to_plane(np.zeros(50))
    with pytest.raises(ValueError, match="power of 2"):
        sphere_to_plane(np.zeros(12 * 3**2))
    with pytest.raises(ValueError, match="4\\*nside, 3\\*nside"):
        plane_to_sphere(np.zeros((8, 7)))
    with pytest.raises(ValueError, match="4\\*nside, 3\\*nside"):
        plane_to_sphere(np.zeros((9, 6)))
