"""CMB-ML's analysis (cmbml.analysis.cmb_ml) against the same steps redone with healpy and numpy."""

from __future__ import annotations

import healpy as hp
import numpy as np
import pytest

from cmbml.analysis import cmb_ml
from cmbml.analysis.mask import c1_apodize
from cmbml.analysis.postprocess import Resolution

from .cmbml_format import post_by_hand

NSIDE = 16
LMAX = 2 * NSIDE


@pytest.fixture(scope="module")
def sky(theory_cl, gaussian_alm, cut_masks):
    rng = np.random.default_rng(11)
    band = 3 * NSIDE - 1
    alm = gaussian_alm(theory_cl[: band + 1], rng)
    truth = hp.alm2map(alm, NSIDE, band)
    beam = hp.gauss_beam(np.radians(20.6 / 60), band)
    prediction = hp.alm2map(hp.almxfl(alm, beam), NSIDE, band) + rng.normal(0, 3.0, truth.size)
    binary, _ = cut_masks(NSIDE)
    return truth, prediction, binary


@pytest.mark.parametrize("target", [None, 20.6, 60.0])
@pytest.mark.parametrize("source", [0.0, 20.6])
def test_maps_at_a_target_beam_are_cmb_mls(sky, source, target):
    truth, prediction, mask = sky
    m = truth if source == 0.0 else prediction
    beam = cmb_ml.TargetBeam("t", target)
    ours = cmb_ml.to_target_beam(m, mask, resolution=Resolution(source), target=beam, lmax=LMAX)
    np.testing.assert_allclose(ours[mask > 0], post_by_hand(m, source, target, mask), atol=1e-8)
    assert np.all(ours[mask == 0] == 0)


def test_the_window_of_the_source_is_divided_out(sky):
    """A map carrying the pixel window is brought to the target without it."""
    from cmbml import sphere

    _, _, mask = sky
    np.random.seed(5)  # healpy's synalm draws from numpy's global generator
    alm = hp.synalm(np.r_[0.0, 0.0, 1e3 / np.arange(2, LMAX) ** 2], lmax=LMAX - 1)  # l < lmax
    truth = hp.alm2map(alm, NSIDE, LMAX - 1)
    windowed = hp.alm2map(hp.almxfl(alm, sphere.pixel_window(NSIDE)), NSIDE, LMAX - 1)
    beam = cmb_ml.TargetBeam("20.6arcmin", 20.6)
    plain = cmb_ml.to_target_beam(truth, mask, resolution=Resolution(), target=beam, lmax=LMAX)
    undone = cmb_ml.to_target_beam(
        windowed, mask, resolution=Resolution(0.0, True), target=beam, lmax=LMAX
    )
    ignored = cmb_ml.to_target_beam(windowed, mask, resolution=Resolution(), target=beam, lmax=LMAX)
    error = np.std(undone - plain)
    assert error < 1e-3 * np.std(plain) and error < 0.05 * np.std(ignored - plain)


def test_c1_apodisation_is_namasters_by_brute_force(cut_masks):
    binary, _ = cut_masks(NSIDE)
    radius = 12.0
    ours = c1_apodize(binary, radius)
    vec = np.array(hp.pix2vec(NSIDE, np.arange(binary.size)))
    masked = vec[:, binary == 0]
    threshold = 1 - np.cos(np.radians(radius))
    expected = binary.copy()
    for pix in np.flatnonzero(binary):
        x2 = 1 - np.max(masked.T @ vec[:, pix])
        if x2 < threshold:
            x = np.sqrt(x2 / threshold)
            expected[pix] = x - np.sin(2 * np.pi * x) / (2 * np.pi)
    np.testing.assert_allclose(ours, expected, atol=1e-12)
    assert 0 < np.mean((ours > 0) & (ours < 1))  # some pixels are apodised


def test_spectra_are_cmb_mls(sky, cut_masks):
    truth, prediction, binary = sky
    weight = c1_apodize(binary, 12.0)
    out = cmb_ml.cmb_ml_spectra(
        truth,
        prediction,
        weight,
        lmax=LMAX,
        truth_resolution=Resolution(),
        prediction_resolution=Resolution(20.6),
    )
    ell = np.arange(LMAX + 1)
    to_dl = ell * (ell + 1) / (2 * np.pi)
    beam = hp.gauss_beam(np.radians(20.6 / 60), LMAX)
    mean = np.sum(prediction * weight) / np.sum(weight)
    fsky = np.sum(weight**2) / weight.size
    pred = hp.anafast(weight * (prediction - mean), lmax=LMAX) / fsky / beam**2
    np.testing.assert_allclose(out["truth"], hp.anafast(truth, lmax=LMAX) * to_dl, rtol=1e-10)
    np.testing.assert_allclose(out["prediction"], pred * to_dl, rtol=1e-10)
    assert list(out["ell"]) == list(ell)


def test_spectrum_statistics_by_hand():
    pred = np.array([0.0, 1.0, 3.0, 5.0])
    ref = np.array([0.0, 2.0, 2.0, 6.0, 9.0])  # longer: cut to the prediction's length
    stats = cmb_ml.spectrum_statistics(pred, ref, "real")
    diff = np.array([0.0, -1.0, 1.0, -1.0])
    mse = 0.75
    assert stats["real_mae"] == pytest.approx(0.75)
    assert stats["real_mse"] == pytest.approx(mse)
    assert stats["real_rmse"] == pytest.approx(np.sqrt(mse))
    assert stats["real_nrmse"] == pytest.approx(np.sqrt(3.0) / np.sqrt(4 + 4 + 36))
    assert stats["real_psnr"] == pytest.approx(10 * np.log10(6.0**2 / mse))
    assert stats["real_r2"] == pytest.approx(1 - np.sum(diff**2) / np.sum((ref[:4] - 2.5) ** 2))


def test_target_beams_are_checked():
    beams = cmb_ml.target_beams([{"name": "deconvolved", "fwhm_arcmin": None},
                                 {"name": "60arcmin", "fwhm_arcmin": 60}])  # fmt: skip
    assert beams[0].resolution == Resolution() and beams[1].fwhm_arcmin == 60.0
    with pytest.raises(ValueError, match="unique"):
        cmb_ml.target_beams([{"name": "a", "fwhm_arcmin": 1}, {"name": "a", "fwhm_arcmin": 2}])
    with pytest.raises(ValueError, match="empty"):
        cmb_ml.target_beams([])
