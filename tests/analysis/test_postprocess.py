"""Post-processing: monopole/dipole removal, re-beaming, masking."""

import healpy as hp
import numpy as np
import pytest

from cmbml import sphere
from cmbml.analysis import postprocess as pp
from cmbml.analysis.postprocess import Resolution


def _orthogonalise(signal, vec, good):
    """Project 1, x, y, z out of ``signal`` on the unmasked pixels with numpy's lstsq."""
    design = np.column_stack([np.ones(good.sum()), vec[:, good].T])
    coef, *_ = np.linalg.lstsq(design, signal[good], rcond=None)
    return signal - coef[0] - coef[1:] @ vec


def test_monopole_dipole_removal_returns_signal(cut_masks):
    nside = 32
    binary, _ = cut_masks(nside)
    good = binary > 0
    vec = np.array(hp.pix2vec(nside, np.arange(12 * nside**2)))
    rng = np.random.default_rng(1)
    signal = _orthogonalise(rng.normal(0.0, 100.0, vec.shape[1]), vec, good)
    monopole, dipole = 2725.0, np.array([-300.0, 1200.0, 50.0])
    # the masked band gets a wild offset the fit must ignore
    contaminated = signal + monopole + dipole @ vec + np.where(good, 0.0, 1e4)
    cleaned = pp.remove_monopole_dipole(contaminated, binary)
    assert np.max(np.abs(cleaned[good] - signal[good])) < 1e-6
    coef = pp.fit_monopole_dipole(contaminated, binary)
    np.testing.assert_allclose(coef, [monopole, *dipole], atol=1e-6)
    # batched input gives the same per-map result
    batch = pp.remove_monopole_dipole(np.stack([contaminated, 2 * contaminated]), binary)
    np.testing.assert_allclose(batch[1, good], 2 * signal[good], atol=1e-6)


def test_transfer_function_is_beam_ratio():
    lmax, nside = 200, 64
    fl = pp.transfer_function(nside, lmax, Resolution(10.0), Resolution(30.0))
    ell = np.arange(lmax + 1)
    sig = np.radians(np.array([10.0, 30.0]) / 60) / np.sqrt(8 * np.log(2))
    ratio = np.exp(-0.5 * ell * (ell + 1) * (sig[1] ** 2 - sig[0] ** 2))
    np.testing.assert_allclose(fl, ratio, rtol=1e-12)
    with pytest.raises(ValueError, match="narrower"):
        pp.transfer_function(nside, lmax, Resolution(30.0), Resolution(10.0))


def test_transfer_function_pixel_window_direction():
    nside, lmax = 16, 47
    window = sphere.pixel_window(nside)
    add = pp.transfer_function(nside, lmax, Resolution(0.0, False), Resolution(0.0, True))
    remove = pp.transfer_function(nside, lmax, Resolution(0.0, True), Resolution(0.0, False))
    np.testing.assert_allclose(add, window, rtol=1e-12)
    np.testing.assert_allclose(add * remove, 1.0, rtol=1e-12)


def test_rebeam_matches_healpy_smoothing_of_band_limited_map(theory_cl, gaussian_alm):
    nside, lmax = 32, 64  # band limit 2 nside; 10 iterations make the analysis exact
    alm = gaussian_alm(theory_cl[: lmax + 1], np.random.default_rng(2))
    native = hp.alm2map(hp.almxfl(alm, hp.gauss_beam(np.radians(20 / 60), lmax)), nside, lmax)
    expected = hp.alm2map(hp.almxfl(alm, hp.gauss_beam(np.radians(60 / 60), lmax)), nside, lmax)
    got = pp.rebeam(native, Resolution(20.0), Resolution(60.0), lmax=lmax, niter=10)
    assert np.max(np.abs(got - expected)) < 1e-6 * np.max(np.abs(expected))
    same = pp.rebeam(native, Resolution(20.0), Resolution(20.0))
    np.testing.assert_array_equal(same, native)


def test_postprocess_pair_aligns_truth_and_prediction(theory_cl, gaussian_alm, cut_masks):
    nside, lmax = 32, 64
    binary, _ = cut_masks(nside)
    good = binary > 0
    alm = gaussian_alm(theory_cl[: lmax + 1], np.random.default_rng(4))
    truth = hp.alm2map(alm, nside, lmax)  # unbeamed truth
    beam30 = hp.gauss_beam(np.radians(30 / 60), lmax)
    vec = np.array(hp.pix2vec(nside, np.arange(12 * nside**2)))
    prediction = hp.alm2map(hp.almxfl(alm, beam30), nside, lmax) + 40.0 + [5.0, -8.0, 2.0] @ vec
    truth_pp, pred_pp = pp.postprocess_pair(
        truth,
        prediction,
        binary,
        prediction_resolution=Resolution(30.0),
        common_resolution=Resolution(45.0),
        lmax_compare=lmax,
        niter=10,
    )
    scale = np.std(truth_pp[good])  # (the accuracy of HEALPix analyses to l = 3 nside - 1)
    assert np.max(np.abs(truth_pp[good] - pred_pp[good])) < 2e-4 * scale
    assert np.all(truth_pp[~good] == 0.0) and np.all(pred_pp[~good] == 0.0)
    # the truth was smoothed to 45 arcmin: compare with healpy on the unmasked sky, up to the
    # monopole and dipole removed on that sky (and the accuracy of an analysis to 3 nside - 1)
    expected = hp.alm2map(hp.almxfl(alm, hp.gauss_beam(np.radians(45 / 60), lmax)), nside, lmax)
    expected = pp.remove_monopole_dipole(expected, binary)
    assert np.mean(np.abs(truth_pp[good] - expected[good])) < 1e-3 * scale
    assert np.max(np.abs(truth_pp[good] - expected[good])) < 1e-2 * scale


@pytest.mark.parametrize("niter", [1, 3])  # the analysis default and healpy's
def test_perfect_prediction_scores_zero_in_the_matched_protocol(
    theory_cl, gaussian_alm, cut_masks, niter
):
    """A truth band-limited at 3 nside - 1 (as simulated) and the prediction that is exactly that
    truth at the ILC's resolution (20.6 arcmin and pixel window): the matched protocol scores it
    MAE < 1e-3 of the CMB RMS (re-beaming the truth alone left ~3 %, about 2.6 uK here)."""
    nside = 64
    band = 3 * nside - 1
    binary, _ = cut_masks(nside)
    alm = gaussian_alm(theory_cl[: band + 1], np.random.default_rng(8))
    truth = sphere.alm2map(alm, nside, band)
    ilc = Resolution(20.6, True)
    window = sphere.gaussian_beam(20.6, band) * sphere.pixel_window(nside)[: band + 1]
    perfect = sphere.alm2map(sphere.almxfl(alm, window), nside, band)
    truth_pp, pred_pp = pp.postprocess_pair(
        truth, perfect, binary, prediction_resolution=ilc, common_resolution=ilc, niter=niter
    )
    good = binary > 0
    rms = np.std(truth[good])
    assert np.mean(np.abs(truth_pp[good] - pred_pp[good])) < 1e-3 * rms
    # and a CMBNNCS-like perfect prediction (the unbeamed truth itself) scores exactly 0
    truth_pp, pred_pp = pp.postprocess_pair(
        truth, truth, binary, prediction_resolution=Resolution(), common_resolution=ilc
    )
    np.testing.assert_array_equal(truth_pp, pred_pp)


def test_published_protocol_is_cmb_mls_post_processing(theory_cl, gaussian_alm, cut_masks):
    """CMB-ML's steps with healpy: each map masked (hp.ma), hp.remove_dipole (monopole and dipole
    fitted on the kept pixels), no beam handling; the kept pixels are compared."""
    nside = 32
    band = 3 * nside - 1
    binary, _ = cut_masks(nside)
    rng = np.random.default_rng(9)
    alm = gaussian_alm(theory_cl[: band + 1], rng)
    truth = hp.alm2map(alm, nside, band)
    pred = hp.alm2map(hp.almxfl(alm, hp.gauss_beam(np.radians(20.6 / 60), band)), nside, band)
    pred += 12.0 + rng.normal(0, 3.0, pred.size)
    truth_pp, pred_pp = pp.postprocess_pair(
        truth,
        pred,
        binary,
        prediction_resolution=Resolution(20.6, True),
        common_resolution=Resolution(20.6, True),
        protocol="published",
    )
    good = binary > 0
    for raw, ours in ((truth, truth_pp), (pred, pred_pp)):
        masked = hp.ma(raw)
        masked.mask = np.logical_not(binary)
        theirs = hp.remove_dipole(masked).compressed()
        np.testing.assert_allclose(ours[good], theirs, atol=1e-9 * np.abs(theirs).max())
    with pytest.raises(ValueError, match="protocol must be"):
        pp.postprocess_pair(
            truth, pred, binary, prediction_resolution=Resolution(), common_resolution=Resolution(),
            protocol="fair",
        )  # fmt: skip


def test_bad_mask_raises():
    with pytest.raises(ValueError, match="shape"):
        pp.apply_mask(np.zeros(12 * 4), np.ones(12 * 16))
    with pytest.raises(ValueError, match="no unmasked"):
        pp.remove_monopole_dipole(np.zeros(12 * 4), np.zeros(12 * 4))
