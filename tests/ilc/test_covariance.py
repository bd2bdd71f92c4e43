"""Masked local covariance: pixels that no unmasked pixel reaches get the unmasked average."""

import healpy as hp
import numpy as np

from cmbml.ilc import local_covariance, pair_indices, smooth_maps


def test_pixels_out_of_reach_of_the_mask_get_the_covariance_of_all_unmasked_pixels():
    nside, fwhm = 16, 1200.0  # 20 deg kernel; the unmasked cap has a 30 deg radius
    theta, _ = hp.pix2ang(nside, np.arange(12 * nside**2))
    mask = (theta < np.radians(30)).astype(float)
    maps = np.random.default_rng(0).standard_normal((3, mask.size))
    cov = local_covariance(maps, fwhm, mask=mask)

    far = theta > np.radians(120)
    unmasked = mask > 0
    mean = smooth_maps(maps * mask, fwhm) / smooth_maps(mask, fwhm)
    resid = (maps - mean)[:, unmasked]
    rows, cols = pair_indices(3)
    expected = np.mean(resid[rows] * resid[cols], axis=1)
    np.testing.assert_allclose(cov[:, far], np.repeat(expected[:, None], far.sum(), axis=1))
    # inside the cap: local averages, normalised by the local unmasked fraction
    inside = theta < np.radians(10)
    assert np.all(cov[rows == cols][:, inside] > 0.5)
    assert np.all(np.isfinite(cov))
