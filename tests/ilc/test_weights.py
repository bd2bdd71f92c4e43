"""Per-pixel ILC weights: the singular case by the pseudo-inverse."""

import numpy as np

from cmbml.ilc import weights


def test_duplicated_channel_splits_its_weight_by_the_pseudo_inverse():
    """Two identical channels make the covariance singular at every pixel: the weights are the
    minimum-norm solution (pseudo-inverse of the full symmetric matrix), computed by hand."""
    rng = np.random.default_rng(3)
    npix = 5
    base = rng.standard_normal((npix, 3, 6))
    cov = base @ base.transpose(0, 2, 1)
    full = np.empty((npix, 4, 4))
    picks = [0, 1, 2, 2]  # channel 3 repeats channel 2
    full[:] = cov[:, picks][:, :, picks]
    rows, cols = weights.pair_indices(4)
    pairs = full[:, rows, cols].T
    mixing = weights.mixing_matrix(4)
    got = weights.ilc_weights_from_pairs(pairs, mixing)
    for p in range(npix):
        y = np.linalg.pinv(full[p]) @ mixing[:, 0]
        np.testing.assert_allclose(got[:, p], y / (mixing[:, 0] @ y), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(got[2], got[3], rtol=1e-10)
