"""Noise: sigma maps, Planck variance files, white and correlated realisations."""

import astropy.units as u
import healpy as hp
import numpy as np
import pytest

from cmbml import sphere
from cmbml.sims.healpix_files import downgrade_variance
from cmbml.sims.instrument import T_CMB_K
from cmbml.sims.noise import (
    correlated_noise,
    pixel_area_arcmin2,
    read_planck_variance,
    scan_depth_weights,
    sigma_maps,
    white_noise,
    white_noise_sigma,
)
from tests.sims.planck_files import parents_ring, write_planck_bintable


@pytest.mark.parametrize("nside", [1, 16, 512])
def test_sigma_from_sensitivity(nside):
    area_arcmin2 = hp.nside2pixarea(nside, degrees=True) * 3600.0
    assert pixel_area_arcmin2(nside) == pytest.approx(area_arcmin2, rel=1e-12)
    assert white_noise_sigma(33.0, nside) == pytest.approx(33.0 / np.sqrt(area_arcmin2))
    # nside 2048 pixel side is 1.72 arcmin: 33 uK.arcmin -> ~19.2 uK per pixel
    assert white_noise_sigma(33.0, 2048) == pytest.approx(33.0 / 1.7177, rel=1e-3)


def test_scan_depth_preserves_mean_variance_and_is_deep_at_ecliptic_poles():
    nside = 32
    w = scan_depth_weights(nside, contrast=4.0, width_deg=15.0)
    assert w.mean() == pytest.approx(1.0, rel=1e-12)
    sig = sigma_maps([100.0, 150.0, 150.0], nside, depth_weights=w)
    assert sig.shape == (3, 12 * nside**2)
    for s, level in zip(sig, [100.0, 150.0, 150.0], strict=True):
        assert np.mean(s**2) == pytest.approx(white_noise_sigma(level, nside) ** 2, rel=1e-12)
    # north ecliptic pole in galactic coordinates: (l, b) = (96.38, 29.81) deg
    nep = hp.ang2pix(nside, 96.38, 29.81, lonlat=True)
    ecl_plane = hp.ang2pix(nside, 0.0, 0.0, lonlat=True)  # Galactic centre, ecliptic lat ~ -5.6
    assert w[nep] < 1.01 * w.min()
    assert w[ecl_plane] / w[nep] == pytest.approx(5.0, rel=0.02)  # 1 + contrast
    # smooth on the 15 deg scale: neighbours (<= 2.6 deg apart at nside 32) differ little
    neigh = hp.get_all_neighbours(nside, np.arange(w.size))
    diffs = np.abs(w[neigh] - w)[neigh >= 0]
    assert diffs.max() < 0.25 * (w.max() - w.min())


def test_white_noise_pixel_variance_matches_sigma_map():
    nside = 32
    sig = sigma_maps([50.0], nside, depth_weights=scan_depth_weights(nside, contrast=8.0))[0]
    rng = np.random.default_rng(1)
    n_real = 20
    noise = np.stack([white_noise(sig, rng) for _ in range(n_real)])
    # per pixel-group of similar sigma: empirical variance vs mean sigma^2, within sampling error
    order = np.argsort(sig)
    for group in np.array_split(order, 8):
        var = np.mean(noise[:, group] ** 2)
        expect = np.mean(sig[group] ** 2)
        n = noise[:, group].size
        # relative error of a variance estimate from n samples: sqrt(2/n) (sigma spread is small)
        assert abs(var / expect - 1) < 5 * np.sqrt(2.0 / n)
    z = noise / sig
    assert abs(z.mean()) < 5 / np.sqrt(z.size)


def test_white_noise_spectrum_is_flat_at_sigma2_omega():
    nside, lmax = 16, 47
    sigma = 30.0
    omega = 4 * np.pi / (12 * nside**2)
    cls = []
    for seed in range(4):
        noise = white_noise(np.full(12 * nside**2, sigma), np.random.default_rng(seed))
        alm = sphere.map2alm(noise, lmax)  # adjoint synthesis: unbiased for white noise
        cls.append(hp.alm2cl(alm))
    cl = np.mean(cls, axis=0)[2:]
    ell = np.arange(2, lmax + 1)
    level = sigma**2 * omega
    nmodes = 4 * (2 * ell + 1)
    # each l: mean of nmodes |a|^2 -> relative sd sqrt(2 / nmodes); check a chi2 over l
    chi2 = np.sum((cl / level - 1) ** 2 / (2.0 / nmodes))
    assert chi2 < ell.size + 5 * np.sqrt(2 * ell.size)
    low, high = cl[: ell.size // 2].mean(), cl[ell.size // 2 :].mean()
    err = level * np.sqrt(2.0 / nmodes[: ell.size // 2].sum())
    assert abs(low - high) < 5 * np.sqrt(2) * err  # flat: no trend across l
    assert abs(cl.mean() / level - 1) < 5 * np.sqrt(2.0 / nmodes.sum())


def test_correlated_noise_spectrum():
    nside, lmax = 16, 47
    sigma = np.full(12 * nside**2, 10.0)
    level = 100.0 * 4 * np.pi / (12 * nside**2)
    ell_knee, alpha = 12.0, 2.0
    cls = []
    for seed in range(6):
        n = correlated_noise(sigma, np.random.default_rng(seed), ell_knee, alpha)
        cls.append(hp.alm2cl(sphere.map2alm(n, lmax, niter=3)))
    cl = np.mean(cls, axis=0)
    ell = np.arange(lmax + 1)
    expect = level * (1 + (ell_knee / np.maximum(ell, 1)) ** alpha)
    sl = slice(2, 2 * nside)
    rel_sd = np.sqrt(2.0 / (6 * (2 * ell[sl] + 1)))
    chi2 = np.sum((cl[sl] / expect[sl] - 1) ** 2 / rel_sd**2)
    assert chi2 < ell[sl].size + 5 * np.sqrt(2 * ell[sl].size)
    assert cl[2] / level > 10  # the 1/f rise is there: 1 + 36 expected at l = 2


def test_correlated_noise_polarised_shape_and_white_part():
    nside = 8
    sigma = np.full((3, 12 * nside**2), 5.0)
    n = correlated_noise(sigma, np.random.default_rng(0), ell_knee=0.0, alpha=1.0)
    # ell_knee = 0: pure white noise of the given sigma (first draw of the generator)
    expect = 5.0 * np.random.default_rng(0).standard_normal(sigma.shape)
    assert n.shape == sigma.shape
    np.testing.assert_allclose(n, expect, atol=1e-10)


def _variance_maps(nside, rng):
    npix = 12 * nside**2
    base = rng.uniform(0.5, 2.0, size=(3, npix))
    return base


@pytest.mark.parametrize(
    "band_ghz, unit, scale",
    [(100.89, "Kcmb^2", 1e-10), (866.8, "(MJy/sr)^2", 1e-4)],
)
def test_planck_variance_file_read_converted_downgraded(tmp_path, band_ghz, unit, scale):
    nside_in, nside_out = 16, 4
    rng = np.random.default_rng(5)
    var = (_variance_maps(nside_in, rng) * scale).astype(np.float32).astype(np.float64)
    base_unit = "K_CMB" if "K" in unit else "MJy/sr"
    path = tmp_path / "HFI_SkyMap_test.fits"
    write_planck_bintable(
        path,
        {
            "I_STOKES": np.zeros(var.shape[1]),
            "Q_STOKES": np.zeros(var.shape[1]),
            "U_STOKES": np.zeros(var.shape[1]),
            "HITS": np.ones(var.shape[1]),
            "II_COV": var[0],
            "IQ_COV": np.zeros(var.shape[1]),
            "IU_COV": np.zeros(var.shape[1]),
            "QQ_COV": var[1],
            "QU_COV": np.zeros(var.shape[1]),
            "UU_COV": var[2],
        },
        {"I_STOKES": base_unit, "II_COV": unit, "QQ_COV": unit, "UU_COV": unit},
    )
    out = read_planck_variance(path, nside_out, band_ghz, fields="IQU")
    # independent: astropy conversion, parents from pixel centres, explicit sum / k^4
    if base_unit == "K_CMB":
        to_uk2 = 1e12
    else:
        equiv = u.thermodynamic_temperature(band_ghz * u.GHz, T_cmb=T_CMB_K * u.K)
        to_uk2 = (1 * u.MJy / u.sr).to(u.uK, equivalencies=equiv).value ** 2
    parents = parents_ring(nside_in, nside_out)
    k2 = (nside_in // nside_out) ** 2
    for f in range(3):
        expect = np.zeros(12 * nside_out**2)
        np.add.at(expect, parents, var[f] * to_uk2)
        expect /= k2**2
        np.testing.assert_allclose(out[f], expect, rtol=1e-10)
    # and intensity only
    np.testing.assert_allclose(
        read_planck_variance(path, nside_out, band_ghz, fields="I")[0], out[0]
    )


def test_planck_variance_unit_fallback_and_errors(tmp_path):
    nside = 8
    var = np.full(12 * nside**2, 2e-12)
    path = tmp_path / "LFI_SkyMap_030.fits"
    write_planck_bintable(path, {"I_STOKES": var * 0, "II_COV": var}, {"I_STOKES": "K_CMB"})
    out = read_planck_variance(path, nside, 28.4)
    np.testing.assert_allclose(out, 2.0, rtol=1e-6)  # K_CMB^2 from I_STOKES' unit
    with pytest.raises(ValueError, match="QQ_COV"):
        read_planck_variance(path, nside, 28.4, fields="IQU")
    with pytest.raises(ValueError, match=r"LFI_SkyMap_030.fits.*nside 16"):
        read_planck_variance(path, 16, 28.4)
    missing = tmp_path / "HFI_SkyMap_100_2048_R3.01_full.fits"
    with pytest.raises(FileNotFoundError, match=r"HFI_SkyMap_100.*model/sim/noise=planck_var"):
        read_planck_variance(missing, 8, 100.89, option="model/sim/noise=planck_variance")


def test_downgrade_variance_with_missing_children():
    nside_in, nside_out = 4, 2
    var = np.ones(12 * nside_in**2)
    nest = hp.reorder(var, r2n=True)
    nest[:2] = np.nan  # two of the four children of NEST parent 0 are missing
    out = downgrade_variance(hp.reorder(nest, n2r=True), nside_out)
    parent0 = hp.nest2ring(nside_out, 0)
    assert out[parent0] == pytest.approx(2.0 / 4.0)  # sum of 2 valid / 2^2
    others = np.delete(out, parent0)
    np.testing.assert_allclose(others, 0.25)  # mean(var)/k^2 with k^2 = 4
    nest[:4] = np.nan
    with pytest.raises(ValueError, match="no valid"):
        downgrade_variance(hp.reorder(nest, n2r=True), nside_out)


def test_default_noise_has_each_bands_one_over_f_spectrum(tmp_path):
    """The default observations carry each band's 1/f noise, N_l = white x (1 + (l_knee / l)^alpha)
    with the knee and slope of the detector table the pipeline wrote, within sampling error
    (uniform depth; obs - sky is the noise). The table's shape is compared with Planck's FFP10
    noise in ``test_published_sky.py``."""
    from cmbml.core import Catalog, compose, run_pipeline
    from cmbml.core.handlers import get_handler
    from tests.sims.fiducial import tiny_sims_overrides

    nside, n_sims = 16, 4
    cfg = compose(
        "config_sims",
        [
            *tiny_sims_overrides(tmp_path, nside),
            f"splits.Train.n_sims={n_sims}",
            "splits.Test.n_sims=0",
            "model.sim.noise.scan_depth.enabled=false",
            "pipeline.stages=[make_instrument,make_noise_model,make_observations]",
        ],
    )
    cat = Catalog.from_config(cfg)
    fits_map = get_handler("healpix_map")
    bands = [30, 44, 70, 100, 143, 217, 353, 545, 857]
    for sim in range(n_sims):
        for band in bands:
            fits_map.write(
                cat.path("sky_map", split="Train", sim=sim, freq=band), np.zeros(12 * nside**2)
            )
    run_pipeline(cfg)
    table = get_handler("csv").read(cat.path("detector_table")).set_index("band")
    lmax = 2 * nside
    ell = np.arange(lmax + 1)
    sl = slice(2, lmax + 1)
    omega = 4 * np.pi / (12 * nside**2)
    rel_sd = np.sqrt(2.0 / (n_sims * (2 * ell[sl] + 1)))
    for band in bands:
        ell_knee, alpha = table.loc[band, ["ell_knee", "alpha_knee"]]
        cls = []
        for sim in range(n_sims):
            noise = fits_map.read(cat.path("obs_map", split="Train", sim=sim, freq=band))
            cls.append(hp.alm2cl(sphere.map2alm(noise, lmax, niter=3)))
        cl = np.mean(cls, axis=0)
        white = table.loc[band, "sigma_t_uk_pixel"] ** 2 * omega
        expect = white * (1 + (ell_knee / np.maximum(ell, 1)) ** alpha)
        chi2 = np.sum((cl[sl] / expect[sl] - 1) ** 2 / rel_sd**2)
        dof = ell[sl].size
        assert chi2 < dof + 5 * np.sqrt(2 * dof), f"{band} GHz: chi2 {chi2:.0f} for {dof} l"
