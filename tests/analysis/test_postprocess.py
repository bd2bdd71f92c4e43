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


def _iqu_alm(theory_cl, gaussian_alm, lmax, seed):
    """T, E, B alm: T and E of the TT spectrum's shape (E 1 % of it), B 10 % of E."""
    rng = np.random.default_rng(seed)
    cl = theory_cl[: lmax + 1]
    return np.stack([gaussian_alm(c, rng) for c in (cl, 0.01 * cl, 0.001 * cl)])


def test_spin2_transfer_function_is_the_polarised_beam_ratio():
    lmax, nside = 191, 64
    fl = pp.transfer_function(nside, lmax, Resolution(10.0), Resolution(30.0, True), pol=True)
    pol = [hp.gauss_beam(np.radians(f / 60), lmax, pol=True)[:, 1] for f in (10.0, 30.0)]
    np.testing.assert_allclose(fl, pol[1] / pol[0] * sphere.pixel_window(nside)[: lmax + 1])
    spin0 = pp.transfer_function(nside, lmax, Resolution(10.0), Resolution(30.0, True))
    assert np.all(fl[2:] > spin0[2:])  # the spin-2 Gaussian beam is slightly wider in l


def test_iqu_matched_postprocessing_filters_e_and_b(theory_cl, gaussian_alm, cut_masks):
    """I, Q, U truth band-limited at 2 nside, compared at l <= 24 at 45 arcmin and the pixel
    window: Q and U are healpy's synthesis of the E and B alm cut at l = 24 and multiplied by the
    spin-2 beam (filtering Q and U as two scalar maps cuts other modes); I has its monopole and
    dipole removed, Q and U not (a spin-2 field has no l < 2 modes)."""
    nside, lmax, lcut = 16, 32, 24
    binary, _ = cut_masks(nside)
    good = binary > 0
    alm = _iqu_alm(theory_cl, gaussian_alm, lmax, 12)
    truth = hp.alm2map(alm, nside, lmax, pol=True)
    common = Resolution(45.0, True)
    truth_pp, pred_pp = pp.postprocess_pair(
        truth,
        truth,
        binary,
        prediction_resolution=Resolution(),
        common_resolution=common,
        lmax_compare=lcut,
        niter=10,
    )
    assert truth_pp.shape == (3, truth.shape[1])
    np.testing.assert_array_equal(truth_pp, pred_pp)
    window = (
        hp.gauss_beam(np.radians(45 / 60), lmax, pol=True)
        * sphere.pixel_window(nside)[: lmax + 1, None]
    )
    keep = np.arange(lmax + 1) <= lcut
    filtered = [hp.almxfl(alm[k], window[:, min(k, 1)] * keep) for k in range(3)]
    expected = hp.alm2map(filtered, nside, lmax, pol=True)
    expected[0] = pp.remove_monopole_dipole(expected[0], binary)
    for k in range(3):
        scale = np.std(expected[k][good])
        assert np.max(np.abs(truth_pp[k][good] - expected[k][good])) < 1e-3 * scale, k
        assert np.all(truth_pp[k][~good] == 0.0)
    scalar = hp.alm2map(hp.almxfl(hp.map2alm(expected[1], lmax, iter=10), keep), nside, lmax)
    assert np.max(np.abs(scalar[good] - expected[1][good])) > 1e-2 * np.std(expected[1][good])


def test_iqu_published_postprocessing_leaves_q_and_u(theory_cl, gaussian_alm, cut_masks):
    nside, lmax = 16, 47
    binary, _ = cut_masks(nside)
    good = binary > 0
    truth = hp.alm2map(_iqu_alm(theory_cl, gaussian_alm, lmax, 13), nside, lmax, pol=True)
    pred = truth + np.array([[5.0], [1.0], [-1.0]])
    inputs = truth.copy(), pred.copy()
    truth_pp, pred_pp = pp.postprocess_pair(
        truth,
        pred,
        binary,
        prediction_resolution=Resolution(20.6, True),
        common_resolution=Resolution(20.6, True),
        protocol="published",
    )
    np.testing.assert_array_equal(truth, inputs[0])  # the caller's maps are left as they were
    np.testing.assert_array_equal(pred, inputs[1])
    for k in (1, 2):
        np.testing.assert_array_equal(pred_pp[k], np.where(good, pred[k], 0.0))
        np.testing.assert_array_equal(truth_pp[k], np.where(good, truth[k], 0.0))
    np.testing.assert_allclose(pred_pp[0], truth_pp[0], atol=1e-9)  # the offset was a monopole
    with pytest.raises(ValueError, match=r"\(3, npix\)"):
        pp.postprocess_pair(
            truth[:2], pred[:2], binary, prediction_resolution=Resolution(),
            common_resolution=Resolution(),
        )  # fmt: skip
