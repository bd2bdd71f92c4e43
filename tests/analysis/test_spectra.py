"""Masked power spectra: estimator normalisation, deconvolution, recovery of a known C_l."""

import healpy as hp
import numpy as np
import pandas as pd
import pytest

from cmbml import sphere
from cmbml.analysis import master
from cmbml.analysis import spectra as sp
from cmbml.analysis.postprocess import Resolution


def test_alm2cl_matches_healpy():
    rng = np.random.default_rng(0)
    lmax = 20
    alm = rng.normal(size=(3, hp.Alm.getsize(lmax))) + 1j * rng.normal(
        size=(3, hp.Alm.getsize(lmax))
    )
    alm[:, : lmax + 1] = alm[:, : lmax + 1].real  # m = 0 coefficients are real
    got = sp.alm2cl(alm)
    for i in range(3):
        np.testing.assert_allclose(got[i], hp.alm2cl(alm[i]), rtol=1e-12)


def test_binning_and_knox_match_loops():
    edges = sp.bin_edges(2, 30, 8)
    np.testing.assert_array_equal(edges, [2, 10, 18, 26, 31])
    rng = np.random.default_rng(1)
    dl = rng.uniform(100, 200, size=29)  # l = 2 .. 30
    fsky = 0.6
    binned = sp.bin_spectrum(dl, edges)
    sigma = sp.knox_sigma(dl, edges, fsky)
    for i in range(edges.size - 1):
        ells = range(edges[i], edges[i + 1])
        assert binned[i] == pytest.approx(sum(dl[ell - 2] for ell in ells) / len(ells))
        var = sum(2 * dl[ell - 2] ** 2 / ((2 * ell + 1) * fsky) for ell in ells) / len(ells) ** 2
        assert sigma[i] == pytest.approx(np.sqrt(var))
    np.testing.assert_allclose(sp.bin_centres(edges), [5.5, 13.5, 21.5, 28.0])
    with pytest.raises(ValueError, match="exceed"):
        sp.bin_spectrum(dl[:10], edges)


def test_cl_to_dl():
    cl = np.array([5.0, 5.0, 2 * np.pi, 2 * np.pi])
    np.testing.assert_allclose(sp.cl_to_dl(cl), [0.0, 10 / (2 * np.pi) * 1.0 * 1, 6.0, 12.0])


def test_full_sky_estimator_is_exact_and_weight_normalised(theory_cl, gaussian_alm):
    nside, lmax = 16, 32
    alm = gaussian_alm(theory_cl[: lmax + 1], np.random.default_rng(2))
    m = hp.alm2map(alm, nside, lmax)
    expected = hp.alm2cl(alm)
    full = sp.pseudo_cl(m, np.ones(m.size), lmax, niter=10)
    np.testing.assert_allclose(full[2:], expected[2:], rtol=1e-8)
    assert np.all(full[:2] < 1e-12 * expected[2])  # the theory has no monopole or dipole
    # a constant weight w is exactly undone by the mean(w^2) normalisation
    half = sp.pseudo_cl(m, np.full(m.size, 0.5), lmax, niter=10)
    np.testing.assert_allclose(half[2:], expected[2:], rtol=1e-8)


def test_residual_is_spectrum_of_difference_map(theory_cl, gaussian_alm, cut_masks):
    nside, lmax = 16, 32
    _, apod = cut_masks(nside)
    rng = np.random.default_rng(3)
    truth = hp.alm2map(gaussian_alm(theory_cl[: lmax + 1], rng), nside, lmax)
    pred = truth + rng.normal(0, 5.0, truth.size)
    res = Resolution(30.0, False)
    out = sp.masked_spectra(
        truth, pred, apod, lmax=lmax, truth_resolution=res, prediction_resolution=res
    )
    beam = sphere.gaussian_beam(30.0, 3 * nside - 1)
    for key, m in (("truth", truth), ("prediction", pred), ("residual", pred - truth)):
        direct = master.decoupled_spectra(m, apod, lmax=lmax, window_t=beam)["TT"]
        np.testing.assert_allclose(out[key], sp.cl_to_dl(direct)[2:], rtol=1e-10, err_msg=key)
    np.testing.assert_array_equal(out["ell"], np.arange(2, lmax + 1))
    # maps at different resolutions: each deconvolved by its own, the residual by neither
    other = sp.masked_spectra(
        truth, pred, apod, lmax=lmax, truth_resolution=Resolution(), prediction_resolution=res
    )
    np.testing.assert_allclose(other["prediction"], out["prediction"], rtol=1e-12)
    raw = master.decoupled_spectra(pred - truth, apod, lmax=lmax)["TT"]
    np.testing.assert_allclose(other["residual"], sp.cl_to_dl(raw)[2:], rtol=1e-10)


def test_floor_lmax():
    window = sphere.gaussian_beam(20.6, 1535) * sphere.pixel_window(512)
    last = sp.floor_lmax(window, 0.01, 1024)
    assert window[last] ** 2 >= 0.01 > window[last + 1] ** 2
    assert 700 < last < 850
    assert sp.floor_lmax(np.ones(100), 0.01, 64) == 64
    with pytest.raises(ValueError, match="floor"):
        sp.floor_lmax(window, 1.5, 10)


def test_masked_beamed_pixelised_map_recovers_theory(theory_dl, theory_cl, gaussian_alm, cut_masks):
    """Gaussian skies of a known C_l, beamed (2 deg), pixelised by averaging nside-128 maps down to
    nside 32 (a real pixel window, independent of cmbml.sphere.pixel_window), masked with an
    apodised galactic cut (binary f_sky = 0.7). The mean estimate of 4 skies agrees with the
    theory within the Knox scatter per bin; skipping the beam or pixel-window deconvolution
    fails."""
    nside, nside_hi, fwhm, n_real = 32, 128, 120.0, 4
    lgen = 3 * nside_hi - 1
    rng = np.random.default_rng(7)
    alms = np.stack([gaussian_alm(theory_cl[: lgen + 1], rng) for _ in range(n_real)])
    maps_hi = [
        hp.alm2map(hp.almxfl(a, hp.gauss_beam(np.radians(fwhm / 60), lgen)), nside_hi, lgen)
        for a in alms
    ]
    maps = [hp.ud_grade(m, nside) for m in maps_hi]
    binary, apod = cut_masks(nside)
    assert np.mean(binary) == pytest.approx(0.7, abs=0.01)
    lmax = 2 * nside
    edges = sp.bin_edges(2, lmax, 8)
    fsky = sp.effective_fsky(apod)
    theory = sp.bin_spectrum(theory_dl[2 : lmax + 1], edges)
    sigma = sp.knox_sigma(theory_dl[2 : lmax + 1], edges, fsky) / np.sqrt(n_real)

    def zscores(fwhm_deconv, pixwin):
        est = [
            sp.masked_spectra(
                m,
                m,
                apod,
                lmax=lmax,
                truth_resolution=Resolution(fwhm_deconv, pixwin),
                prediction_resolution=Resolution(fwhm_deconv, pixwin),
            )["truth"]
            for m in maps
        ]
        return (sp.bin_spectrum(np.mean(est, axis=0), edges) - theory) / sigma

    z = zscores(fwhm, True)
    assert np.max(np.abs(z)) < 3.0, z
    assert np.mean(z**2) < 3.0, z
    assert zscores(fwhm, False)[-1] < -4.0  # pixel window left in: high-l power too low
    assert zscores(0.0, True)[-1] < -4.0  # beam left in


def test_spectrum_metrics_names_and_values():
    ref = np.array([100.0, 200.0])
    est = np.array([110.0, 180.0])
    got = sp.spectrum_metrics(est, ref, "theory")
    assert got == pytest.approx(
        {
            "theory_mae": 15.0,
            "theory_rmse": np.sqrt((100 + 400) / 2),
            "theory_nrmse": np.sqrt(500) / np.sqrt(100**2 + 200**2),
        }
    )


def test_theory_dl_from_spectrum_table():
    ell = np.arange(11)
    table = pd.DataFrame({"ell": ell, "TT": 2 * np.pi / np.maximum(ell * (ell + 1), 1)})
    np.testing.assert_allclose(sp.theory_dl(table, 8), np.ones(7))  # D_l = 1 for l = 2..8
    with pytest.raises(ValueError, match="lmax = 20"):
        sp.theory_dl(table, 20, "sim7.csv")
    with pytest.raises(ValueError, match="'TT'"):
        sp.theory_dl(table.drop(columns="TT"), 8)
    with pytest.raises(ValueError, match="without gaps"):
        sp.theory_dl(table.iloc[1:], 5)


def test_masked_spectra_are_mode_coupling_corrected(
    theory_cl, galactic_cut, exact_realisation, binned
):
    """The analysis estimator on a 20 deg galactic cut: the mean of 50 skies (each with the input
    spectrum on the full sky) is within 1 % of the input from l = 30, for the truth and for the
    residual of a prediction with known extra (white) power."""
    nside, n_real = 64, 50
    band, lmax = 3 * nside - 1, 2 * nside
    _, weight = galactic_cut(nside)
    rng = np.random.default_rng(21)
    cls = theory_cl[: band + 1]
    noise_cl = np.where(np.arange(band + 1) >= 2, 50.0 * cls[40], 0.0)
    coupling = master.Coupling.from_weight(weight)
    res = Resolution()
    got = {"truth": [], "residual": []}
    for _ in range(n_real):
        truth = hp.alm2map(exact_realisation(cls, rng), nside, band)
        noise = hp.alm2map(exact_realisation(noise_cl, rng), nside, band)
        out = sp.masked_spectra(
            truth,
            truth + noise,
            weight,
            lmax=lmax,
            truth_resolution=res,
            prediction_resolution=res,
            coupling=coupling,
        )
        for key in got:
            got[key].append(np.r_[0.0, 0.0, out[key]])
    edges = np.array([30, 46, 62, 78, 94, 110, lmax + 1])
    for key, cl in (("truth", cls), ("residual", noise_cl)):
        expected = binned(sp.cl_to_dl(cl), edges)
        ratio = binned(np.mean(got[key], axis=0), edges) / expected
        assert np.all(np.abs(ratio - 1) < 0.01), (key, ratio)


def test_theory_dl_of_each_spectrum_and_knox_of_a_cross_spectrum():
    ell = np.arange(11)
    base = 2 * np.pi / np.maximum(ell * (ell + 1), 1)
    table = pd.DataFrame({"ell": ell, "TT": base, "EE": 2 * base, "BB": 0 * base, "TE": -base})
    for key, value in (("TT", 1.0), ("EE", 2.0), ("BB", 0.0), ("TE", -1.0)):
        np.testing.assert_allclose(sp.theory_dl(table, 8, spectrum=key), np.full(7, value))
    with pytest.raises(ValueError, match="'EE'"):
        sp.theory_dl(table.drop(columns="EE"), 8, "sim3.csv", spectrum="EE")
    # Knox for a cross-spectrum: var(D_TE) = (D_TE^2 + D_TT D_EE) / ((2 l + 1) f_sky)
    rng = np.random.default_rng(4)
    tt, ee, te = rng.uniform(100, 200, 29), rng.uniform(1, 2, 29), rng.uniform(-9, 9, 29)
    edges = sp.bin_edges(2, 30, 8)
    sigma = sp.knox_sigma(te, edges, 0.6, auto=(tt, ee))
    for i in range(edges.size - 1):
        ells = range(edges[i], edges[i + 1])
        var = (
            sum((te[k - 2] ** 2 + tt[k - 2] * ee[k - 2]) / ((2 * k + 1) * 0.6) for k in ells)
            / len(ells) ** 2
        )
        assert sigma[i] == pytest.approx(np.sqrt(var))


def test_iqu_masked_spectra_recover_tt_ee_bb_te_within_cosmic_variance(cut_masks):
    """Gaussian I, Q, U skies of healpy's bundled TT, EE, BB, TE (drawn by healpy's synalm),
    beamed (2 deg, spin-0 and spin-2 beams) with the pixel window, under an apodised cut
    (f_sky 0.7): the mean of 24 skies agrees with the input spectra within 3 standard errors per
    bin, and EE and TE scatter like cosmic variance (Knox, within a factor 1.6); the residual of a
    perfect prediction is zero."""
    nside, n_real, fwhm = 32, 24, 120.0
    band, lmax = 3 * nside - 1, 2 * nside
    table = np.loadtxt(hp.__path__[0] + "/data/totcls.dat")[: band + 1]
    ell = np.arange(band + 1)
    to_cl = np.zeros(band + 1)
    to_cl[2:] = 2 * np.pi / (ell[2:] * (ell[2:] + 1))
    cls = [table[:, k] * to_cl for k in (1, 2, 3, 4)]  # TT EE BB TE
    beam = hp.gauss_beam(np.radians(fwhm / 60), band, pol=True)
    window = beam * sphere.pixel_window(nside)[: band + 1, None]
    _, apod = cut_masks(nside)
    coupling = master.Coupling.from_weight(apod, spin2=True)
    res = Resolution(fwhm, True)
    np.random.seed(17)  # healpy's synalm draws from numpy's global generator
    got = {k: [] for k in ("TT", "EE", "BB", "TE")}
    for _ in range(n_real):
        alm = hp.synalm(cls, lmax=band, new=True)
        alm = [hp.almxfl(alm[k], window[:, min(k, 1)]) for k in range(3)]
        iqu = hp.alm2map(alm, nside, band, pol=True)
        out = sp.masked_field_spectra(
            iqu, iqu, apod, lmax=lmax, truth_resolution=res, prediction_resolution=res,
            coupling=coupling,
        )  # fmt: skip
        np.testing.assert_array_equal(out["ell"], np.arange(2, lmax + 1))
        for key in got:
            got[key].append(out[key]["truth"])
            np.testing.assert_array_equal(out[key]["prediction"], out[key]["truth"])
            assert np.all(np.abs(out[key]["residual"]) < 1e-20)
    edges = sp.bin_edges(2, lmax, 8)
    fsky = sp.effective_fsky(apod)
    theory = {k: sp.cl_to_dl(c)[2 : lmax + 1] for k, c in zip(got, cls, strict=True)}
    for key, values in got.items():
        binned = sp.bin_spectrum(np.array(values), edges)
        stderr = binned.std(axis=0, ddof=1) / np.sqrt(n_real)
        expected = sp.bin_spectrum(theory[key], edges)
        z = (binned.mean(axis=0) - expected) / stderr
        assert np.max(np.abs(z)) < 3.0, (key, z)
        auto = (theory["TT"], theory["EE"]) if key == "TE" else None
        knox = sp.knox_sigma(theory[key], edges, fsky, auto=auto)
        if key in ("EE", "TE"):
            ratio = binned.std(axis=0, ddof=1) / knox
            assert np.all((ratio > 1 / 1.6) & (ratio < 1.6)), (key, ratio)
