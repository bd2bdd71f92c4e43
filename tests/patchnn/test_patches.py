"""PatchNN patches: the look-up table against HEALPix's own face coordinates, exact round trip."""

import healpy as hp
import numpy as np
import pytest

from cmbml.patchnn import n_patches, patch_index, patches_to_sphere, sphere_to_patches


@pytest.mark.parametrize(("nside", "side"), [(8, 8), (16, 4), (32, 8), (8, 1)])
def test_patch_pixels_are_the_face_squares_of_healpix(nside, side):
    """Patch p, row y, column x is the pixel at (x0 + x, y0 + y) in the face of the coarse
    pixel p (RING order at nside // side), from healpy's pix2xyf."""
    index = patch_index(nside, side)
    coarse = nside // side
    assert index.shape == (12 * coarse**2, side, side) == (n_patches(nside, side), side, side)
    x, y, face = hp.pix2xyf(nside, index, nest=False)
    cx, cy, cface = hp.pix2xyf(coarse, np.arange(12 * coarse**2), nest=False)
    assert (face == cface[:, None, None]).all()
    cols, rows = np.meshgrid(np.arange(side), np.arange(side))
    np.testing.assert_array_equal(x, cx[:, None, None] * side + cols[None])
    np.testing.assert_array_equal(y, cy[:, None, None] * side + rows[None])


def test_patches_cover_the_sphere_once():
    index = patch_index(16, 4)
    np.testing.assert_array_equal(np.sort(index.ravel()), np.arange(hp.nside2npix(16)))


def test_round_trip_is_exact():
    rng = np.random.default_rng(3)
    maps = rng.standard_normal((3, hp.nside2npix(32)))
    patches = sphere_to_patches(maps, 8)
    assert patches.shape == (192, 3, 8, 8)
    np.testing.assert_array_equal(patches_to_sphere(patches), maps)
    single = sphere_to_patches(maps[0], 8)
    assert single.shape == (192, 1, 8, 8)
    np.testing.assert_array_equal(patches_to_sphere(single)[0], maps[0])


def test_bad_sizes_are_named():
    with pytest.raises(ValueError, match="nside_patch must be a power of 2"):
        patch_index(16, 3)
    with pytest.raises(ValueError, match="exceeds"):
        patch_index(8, 16)
    with pytest.raises(ValueError, match="do not tile"):
        patches_to_sphere(np.zeros((5, 1, 4, 4)))
    with pytest.raises(ValueError, match="n_patches, n, p, p"):
        patches_to_sphere(np.zeros((12, 4, 4)))
