"""The HEALPix graph of DeepSphere: Laplacian properties, no face edges, pooling by NEST."""

import healpy as hp
import numpy as np
import pytest
import torch

from cmbml.deepsphere import (
    laplacian,
    nest_to_ring,
    pool,
    ring_to_nest,
    scaled_laplacian,
    unpool,
    weight_matrix,
)


def test_weights_join_true_neighbours_symmetrically():
    nside = 4
    weights = weight_matrix(nside)
    assert abs(weights - weights.T).max() < 1e-12
    degree = np.diff(weights.indptr)
    assert set(degree) == {7, 8}  # 7 for the 3 pixels at each of the 8 three-face corners
    assert (degree == 7).sum() == 24
    # every edge joins pixels whose centres are within two pixel sizes
    rows, cols = weights.nonzero()
    angle = hp.rotator.angdist(
        hp.pix2ang(nside, rows, nest=True), hp.pix2ang(nside, cols, nest=True)
    )
    assert angle.max() < 2.5 * hp.nside2resol(nside)


def test_graph_crosses_the_base_face_edges():
    """Every base face is joined to its neighbouring faces (a face layout would cut them)."""
    nside = 8
    rows, cols = weight_matrix(nside).nonzero()
    faces = nside**2
    crossing = rows // faces != cols // faces
    pairs = set(
        zip((rows[crossing] // faces).tolist(), (cols[crossing] // faces).tolist(), strict=True)
    )
    for face in range(12):
        assert len({b for a, b in pairs if a == face}) >= 4


def test_laplacian_is_a_laplacian_and_its_rescaling_lies_in_minus_one_one():
    lap = laplacian(4)
    np.testing.assert_allclose(np.asarray(lap.sum(axis=1)).ravel(), 0, atol=1e-12)
    eigen = np.linalg.eigvalsh(lap.toarray())
    assert eigen.min() > -1e-10
    dense = scaled_laplacian(4).to_dense().double().numpy()
    scaled = np.linalg.eigvalsh(dense)
    assert scaled.min() == pytest.approx(-1, abs=1e-5) and -1 - 1e-5 <= scaled.min()
    assert 0.95 < scaled.max() <= 1.0
    normalized = np.linalg.eigvalsh(laplacian(4, "normalized").toarray())
    assert normalized.min() == pytest.approx(0, abs=1e-10) and normalized.max() <= 2 + 1e-10
    with pytest.raises(ValueError, match="combinatorial"):
        laplacian(4, "random")


def test_pool_takes_the_four_nest_children_and_unpool_copies_back():
    nside = 4
    x = torch.arange(hp.nside2npix(nside), dtype=torch.float64)[None, :, None]
    pooled = pool(x)
    parents = np.arange(hp.nside2npix(nside // 2))
    np.testing.assert_array_equal(pooled[0, :, 0].numpy(), 4 * parents + 3)
    np.testing.assert_array_equal(unpool(pooled)[0, :, 0].numpy(), np.repeat(4 * parents + 3, 4))
    # the 4 children of a coarse NEST pixel lie inside it (healpy's own ud_grade)
    ring = np.random.default_rng(0).standard_normal(hp.nside2npix(nside))
    mean = ring_to_nest(ring[None])[0, 0].reshape(-1, 4).mean(axis=1)
    np.testing.assert_allclose(
        mean, hp.ud_grade(ring, nside // 2, order_in="RING", order_out="NEST")
    )


def test_layout_round_trip_is_exact():
    maps = np.random.default_rng(1).standard_normal((3, hp.nside2npix(8)))
    stack = ring_to_nest(maps)
    assert stack.shape == (1, 3, hp.nside2npix(8))
    np.testing.assert_array_equal(nest_to_ring(stack), maps)
    np.testing.assert_array_equal(stack[0, 0], hp.reorder(maps[0], r2n=True))
    with pytest.raises(ValueError, match="NEST stack"):
        nest_to_ring(maps)


def test_scaled_laplacian_is_copied_once_per_device_and_dtype():
    """A convolution asks for the Laplacian at every forward pass: the copy in its dtype is
    made once and equals the float32 matrix converted."""
    single = scaled_laplacian(4)
    double = scaled_laplacian(4, device="cpu", dtype=torch.float64)
    assert double.dtype == torch.float64 and double.layout == torch.sparse_csr
    assert scaled_laplacian(4, device=torch.device("cpu"), dtype=torch.float64) is double
    np.testing.assert_array_equal(double.to_dense().numpy(), single.to_dense().double().numpy())
