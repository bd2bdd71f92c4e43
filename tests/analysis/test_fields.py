"""Which Stokes fields are scored, and the pixel metrics of each field, against hand computation."""

import math

import numpy as np
import pytest

from cmbml.analysis import fields as fl
from cmbml.analysis.metrics import field_metrics
from cmbml.core import BadInputError, ConfigError


def test_requested_fields_are_auto_or_i_or_iqu():
    assert fl.parse_fields("auto") is None
    assert fl.parse_fields(["I"]) == ("I",)
    assert fl.parse_fields(["I", "Q", "U"]) == ("I", "Q", "U")
    for bad in (["Q", "U"], ["I", "Q"], ["T"], [], "IQU", 0):
        with pytest.raises(ConfigError, match="model.analysis.fields"):
            fl.parse_fields(bad)


def test_fields_of_a_file_and_of_the_scoring():
    assert fl.file_fields(1, "a.fits") == ("I",)
    assert fl.file_fields(3, "a.fits") == ("I", "Q", "U")
    with pytest.raises(BadInputError, match=r"b\.fits.*2 fields"):
        fl.file_fields(2, "b.fits")
    iqu, i = ("I", "Q", "U"), ("I",)
    # auto: every field of the truth; an explicit list must be in the truth
    assert fl.truth_fields(None, iqu, "cmb.fits") == iqu
    assert fl.truth_fields(i, iqu, "cmb.fits") == i
    assert fl.truth_fields(None, i, "cmb.fits") == i
    with pytest.raises(ConfigError, match=r"model.analysis.fields.*cmb\.fits.*I only"):
        fl.truth_fields(iqu, i, "cmb.fits")
    # a prediction scores the fields it shares with the truth
    assert fl.scored_fields(iqu, iqu) == iqu
    assert fl.scored_fields(iqu, i) == i
    assert fl.scored_fields(i, iqu) == i
    assert fl.spectra_of(i) == ("TT",)
    assert fl.spectra_of(iqu) == ("TT", "EE", "BB", "TE")


TRUTH = np.array(
    [[1.0, 2.0, 3.0, 4.0, 100.0], [3.0, 0.0, -1.0, 2.0, 50.0], [4.0, 1.0, 0.0, 0.0, -50.0]]
)
PRED = np.array(
    [[1.0, 3.0, 2.0, 6.0, -100.0], [3.0, 1.0, -1.0, 1.0, 0.0], [3.0, 1.0, 1.0, 0.0, 0.0]]
)
GOOD = np.array([True, True, True, True, False])  # the last pixel is masked


def _expected(t, p):
    """CMB-ML's metric definitions written out with the standard library."""
    n = len(t)
    err = [b - a for a, b in zip(t, p, strict=True)]
    mse = sum(e * e for e in err) / n
    mean_t = sum(t) / n
    data_range = max(max(t), max(p)) - min(min(t), min(p))
    return {
        "mae": sum(abs(e) for e in err) / n,
        "mse": mse,
        "rmse": math.sqrt(mse),
        "nrmse": math.sqrt(sum(e * e for e in err)) / math.sqrt(sum(a * a for a in t)),
        "psnr": 10 * math.log10(data_range**2 / mse),
        "r2": 1 - sum(e * e for e in err) / sum((a - mean_t) ** 2 for a in t),
    }


def test_pixel_metrics_per_field_by_hand():
    got = field_metrics(TRUTH, PRED, GOOD, ("I", "Q", "U"), amplitude=True)
    assert list(got) == ["I", "Q", "U", "P"]
    # I: errors 0, 1, -1, 2 over the four kept pixels
    assert got["I"] == pytest.approx(
        {
            "mae": 1.0,
            "mse": 1.5,
            "rmse": math.sqrt(1.5),
            "nrmse": math.sqrt(6 / 30),
            "psnr": 10 * math.log10(25 / 1.5),
            "r2": 1 - 6 / 5,
        }
    )
    # Q: errors 0, 1, 0, -1; U: errors -1, 0, 1, 0
    assert got["Q"] == pytest.approx(
        {
            "mae": 0.5,
            "mse": 0.5,
            "rmse": math.sqrt(0.5),
            "nrmse": math.sqrt(2 / 14),
            "psnr": 10 * math.log10(16 / 0.5),
            "r2": 1 - 2 / 10,
        }
    )
    assert got["U"] == pytest.approx(
        {
            "mae": 0.5,
            "mse": 0.5,
            "rmse": math.sqrt(0.5),
            "nrmse": math.sqrt(2 / 17),
            "psnr": 10 * math.log10(16 / 0.5),
            "r2": 1 - 2 / 10.75,
        }
    )
    # P = sqrt(Q^2 + U^2): truth 5, 1, 1, 2 and prediction sqrt(18), sqrt(2), sqrt(2), 1
    p_truth = [5.0, 1.0, 1.0, 2.0]
    p_pred = [math.sqrt(18), math.sqrt(2), math.sqrt(2), 1.0]
    assert got["P"] == pytest.approx(_expected(p_truth, p_pred))


def test_pixel_metrics_of_intensity_only_and_of_a_metric_subset():
    got = field_metrics(TRUTH[:1], PRED[:1], GOOD, ("I",), ["mae", "r2"], amplitude=True)
    assert got == {"I": pytest.approx({"mae": 1.0, "r2": -0.2})}  # no P without Q, U
    no_p = field_metrics(TRUTH, PRED, GOOD, ("I", "Q", "U"), ["mae"])
    assert list(no_p) == ["I", "Q", "U"]
    with pytest.raises(ValueError, match="3 fields"):
        field_metrics(TRUTH[:2], PRED[:2], GOOD, ("I", "Q", "U"))
