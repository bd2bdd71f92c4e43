"""Uncertainty scores against Gaussian theory: coverage of +-1 sigma and the z spread."""

import numpy as np
import pytest
from scipy.special import erf

from cmbml.analysis.uncertainty import uncertainty_metrics


@pytest.mark.parametrize("scale", [0.5, 1.0, 2.0])
def test_gaussian_errors_give_the_gaussian_coverage(scale):
    """Errors of std s scored with sigma = s / scale: coverage erf(1 / (scale sqrt 2)), z_std
    scale (within the sampling error of 10^6 pixels)."""
    rng = np.random.default_rng(4)
    sigma = rng.uniform(1.0, 30.0, 1_000_000)
    truth = rng.standard_normal(sigma.size) * 70
    prediction = truth + rng.standard_normal(sigma.size) * sigma
    scores = uncertainty_metrics(truth, prediction, sigma / scale)
    assert scores["coverage_1sigma"] == pytest.approx(erf(1 / (scale * np.sqrt(2))), abs=2e-3)
    assert scores["z_std"] == pytest.approx(scale, rel=3e-3)


def test_zero_sigma_covers_exact_pixels_only_and_bad_input_is_named():
    scores = uncertainty_metrics([1.0, 2.0, 3.0], [1.0, 2.5, 3.0], [0.0, 1.0, 0.0])
    assert scores["coverage_1sigma"] == pytest.approx(1.0)
    assert scores["z_std"] == 0.0
    with pytest.raises(ValueError, match="equal non-empty shapes"):
        uncertainty_metrics([1.0], [1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="finite and >= 0"):
        uncertainty_metrics([1.0], [1.0], [-1.0])
