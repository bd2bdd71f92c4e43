"""Pixel metrics against hand-computed values and independent formulas."""

import math

import numpy as np
import pytest

from cmbml.analysis import metrics

TRUTH = np.array([1.0, 2.0, 3.0, 4.0])
PRED = np.array([1.5, 2.0, 2.0, 5.0])  # differences 0.5, 0, -1, 1


def test_hand_computed_values():
    # worked by hand: |d| sum 2.5, d^2 sum 2.25, ||t||^2 = 30, joint range 5 - 1 = 4,
    # mean t = 2.5 so SS_tot = 2.25 + 0.25 + 0.25 + 2.25 = 5
    assert metrics.mae(TRUTH, PRED) == pytest.approx(0.625)
    assert metrics.mse(TRUTH, PRED) == pytest.approx(0.5625)
    assert metrics.rmse(TRUTH, PRED) == pytest.approx(0.75)
    assert metrics.nrmse(TRUTH, PRED) == pytest.approx(1.5 / math.sqrt(30.0))
    assert metrics.psnr(TRUTH, PRED) == pytest.approx(10 * math.log10(16 / 0.5625))
    assert metrics.r2(TRUTH, PRED) == pytest.approx(1 - 2.25 / 5.0)


def test_psnr_uses_joint_range_of_both_maps():
    truth = np.array([0.0, 1.0, 2.0])
    pred = np.array([-3.0, 1.0, 2.0])  # the prediction extends the range below the truth
    err = 9.0 / 3.0
    assert metrics.psnr(truth, pred) == pytest.approx(10 * math.log10((2.0 - -3.0) ** 2 / err))
    # swapping arguments keeps the joint range and the MSE
    assert metrics.psnr(pred, truth) == pytest.approx(metrics.psnr(truth, pred))


def _loop_reference(t, p):
    """Plain-Python loops, independent of numpy's vectorised reductions."""
    n = len(t)
    diff = [a - b for a, b in zip(t, p, strict=True)]
    mse = sum(d * d for d in diff) / n
    mean_t = sum(t) / n
    lo, hi = min(min(t), min(p)), max(max(t), max(p))
    return {
        "mae": sum(abs(d) for d in diff) / n,
        "mse": mse,
        "rmse": math.sqrt(mse),
        "nrmse": math.sqrt(sum(d * d for d in diff)) / math.sqrt(sum(a * a for a in t)),
        "psnr": 10 * math.log10((hi - lo) ** 2 / mse),
        "r2": 1 - sum(d * d for d in diff) / sum((a - mean_t) ** 2 for a in t),
    }


def test_random_maps_match_loop_formulas():
    rng = np.random.default_rng(3)
    truth = rng.normal(0, 100, size=500)
    pred = truth + rng.normal(5, 20, size=500)
    ref = _loop_reference(truth.tolist(), pred.tolist())
    got = metrics.pixel_metrics(truth, pred)
    assert list(got) == ["mae", "mse", "rmse", "nrmse", "psnr", "r2"]
    for name, value in ref.items():
        assert got[name] == pytest.approx(value, rel=1e-12), name


def test_nrmse_is_euclidean_norm_on_2d_input():
    truth = np.array([[3.0, 0.0], [0.0, 4.0]])  # Frobenius norm 5
    pred = np.array([[3.0, 1.0], [0.0, 4.0]])
    assert metrics.nrmse(truth, pred) == pytest.approx(1.0 / 5.0)


def test_perfect_prediction():
    assert metrics.mse(TRUTH, TRUTH) == 0.0
    assert metrics.r2(TRUTH, TRUTH) == 1.0
    assert metrics.psnr(TRUTH, TRUTH) == math.inf


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="equal shapes"):
        metrics.mae(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="constant"):
        metrics.r2(np.ones(3), np.arange(3.0))
    with pytest.raises(ValueError, match="zero"):
        metrics.nrmse(np.zeros(3), np.arange(3.0))
    with pytest.raises(ValueError, match="unknown pixel metric"):
        metrics.pixel_metrics(TRUTH, PRED, ["ssim"])
    assert metrics.HIGHER_IS_BETTER == {"psnr", "r2"}
