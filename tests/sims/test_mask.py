"""Masks: foreground threshold, Planck NILC TMASK file, C1 apodisation."""

import healpy as hp
import numpy as np
import pytest

from cmbml.sims.healpix_files import check_nside
from cmbml.sims.mask import (
    apodize_c1,
    foreground_mask,
    point_source_mask,
    read_planck_mask,
    threshold_fraction,
)
from tests.sims.planck_files import parents_ring, write_planck_bintable


def _galaxy(nside, seed=0):
    """Positive foreground-like intensity: bright disc (exp(-|b| / 8 deg)) plus clumps."""
    _, b = hp.pix2ang(nside, np.arange(12 * nside**2), lonlat=True)
    rng = np.random.default_rng(seed)
    return 100 * np.exp(-np.abs(b) / 8.0) + rng.lognormal(0.0, 0.5, b.size)


@pytest.mark.parametrize("fsky", [0.78, 0.5])
def test_foreground_mask_sky_fraction_and_location(fsky):
    nside = 32
    fg = _galaxy(nside)
    mask = foreground_mask(fg, fsky=fsky, smoothing_fwhm_arcmin=180.0)
    assert set(np.unique(mask)) == {0.0, 1.0}
    assert mask.mean() == pytest.approx(round(fsky * mask.size) / mask.size, abs=0)
    _, b = hp.pix2ang(nside, np.arange(mask.size), lonlat=True)
    # the galactic plane is masked, high latitudes kept
    assert np.all(mask[np.abs(b) < 5] == 0)
    assert np.all(mask[np.abs(b) > 45] == 1)


def test_foreground_mask_combines_bands():
    nside = 16
    l_deg, b = hp.pix2ang(nside, np.arange(12 * nside**2), lonlat=True)
    disc = 1.0 + 100 * np.exp(-np.abs(b) / 8.0)
    spur = 1.0 + 1e4 * ((np.abs(l_deg - 30) < 15) & (b > 30) & (b < 70))  # bright only at 30 GHz
    both = foreground_mask(np.stack([disc, spur]), fsky=0.6, smoothing_fwhm_arcmin=0)
    only_disc = foreground_mask(disc, fsky=0.6, smoothing_fwhm_arcmin=0)
    in_spur = spur > 1
    assert np.all(both[in_spur] == 0) and np.all(only_disc[in_spur] == 1)
    assert both.mean() == pytest.approx(0.6, abs=1 / both.size)


def test_threshold_fraction_keeps_faintest():
    values = np.random.default_rng(0).permutation(np.arange(768.0))
    mask = threshold_fraction(values, 0.4)
    kept = values[mask == 1]
    assert kept.size == round(0.4 * values.size)
    assert kept.max() <= values[mask == 0].min()
    with pytest.raises(ValueError, match="fsky"):
        threshold_fraction(values, 1.5)


def test_planck_nilc_tmask(tmp_path):
    nside_in, nside_out = 16, 8
    rng = np.random.default_rng(2)
    _, b = hp.pix2ang(nside_in, np.arange(12 * nside_in**2), lonlat=True)
    tmask = (np.abs(b) > 20).astype(float)
    flip = rng.random(tmask.size) < 0.1  # speckles: some parents end at 0.75 < 0.9
    tmask[flip] = 1 - tmask[flip]
    tmask = tmask.astype(np.float32).astype(np.float64)
    path = tmp_path / "COM_CMB_IQU-nilc_2048_R3.00_full.fits"
    zeros = np.zeros(tmask.size)
    write_planck_bintable(
        path,
        {"I_STOKES": zeros, "Q_STOKES": zeros, "U_STOKES": zeros, "TMASK": tmask, "PMASK": zeros},
        {"I_STOKES": "K_CMB"},
    )
    mask = read_planck_mask(path, nside_out, threshold=0.9)
    # independent: mean of children via pixel centres, then >= 0.9
    parents = parents_ring(nside_in, nside_out)
    mean = np.bincount(parents, weights=tmask, minlength=12 * nside_out**2) / 4
    np.testing.assert_array_equal(mask, (mean >= 0.9).astype(float))
    assert 0 < mask.mean() < 1
    # same resolution: the thresholded column itself
    np.testing.assert_array_equal(read_planck_mask(path, nside_in), (tmask >= 0.9).astype(float))
    with pytest.raises(ValueError, match="PMASKX"):
        read_planck_mask(path, nside_out, column="PMASKX")
    with pytest.raises(FileNotFoundError, match=r"nope.fits.*model/sim/mask=planck"):
        read_planck_mask(tmp_path / "nope.fits", 8, option="model/sim/mask=planck")


def test_apodize_c1_matches_brute_force():
    nside, scale = 16, 10.0
    theta, _ = hp.pix2ang(nside, np.arange(12 * nside**2))
    mask = (np.degrees(theta) > 30.0).astype(float)  # north cap masked
    mask[hp.ang2pix(nside, np.radians(120.0), 1.0)] = 0  # and one isolated pixel
    apo = apodize_c1(mask, scale)
    vec = np.array(hp.pix2vec(nside, np.arange(mask.size))).T
    masked = vec[mask == 0]
    expect = np.zeros(mask.size)
    for p in np.flatnonzero(mask == 1):
        d = np.arccos(np.clip(masked @ vec[p], -1, 1)).min()
        x = np.sqrt((1 - np.cos(d)) / (1 - np.cos(np.radians(scale))))
        expect[p] = x - np.sin(2 * np.pi * x) / (2 * np.pi) if x < 1 else 1.0
    np.testing.assert_allclose(apo, expect, atol=1e-12)
    assert np.all((apo >= 0) & (apo <= 1))
    assert np.all(apo[mask == 0] == 0)
    # far (> scale + 2 pixels) from every masked pixel the weight is exactly 1
    far = (np.degrees(theta) > 45.0) & (np.abs(np.degrees(theta) - 120.0) > 20.0)
    assert np.all(apo[far] == 1)
    with pytest.raises(ValueError, match="binary"):
        apodize_c1(apo, scale)


def test_nside_check_names_file():
    with pytest.raises(ValueError, match=r"obs_100_map.fits: map has nside 8, expected nside 16"):
        check_nside(np.zeros(12 * 8**2), 16, "obs_100_map.fits")
    with pytest.raises(ValueError, match="1000 pixels"):
        check_nside(np.zeros(1000), 16, "x.fits")
    check_nside(np.zeros((3, 12 * 16**2)), 16, "ok.fits")


def test_point_source_mask_cuts_sources_above_the_limit_only():
    from cmbml.sims.extragalactic import PointSources

    vectors = np.array(hp.ang2vec([10.0, 100.0, 200.0], [40.0, -20.0, 60.0], lonlat=True))
    cat = PointSources("s", 100.0, vectors, np.array([1.0, 0.1, 2.0]), "power_law", {"alpha": 0})
    nside, fwhm = 64, 60.0
    mask = point_source_mask(nside, [cat], [(100.0, 0.5, fwhm)], radius_fwhm=1.27)
    dist = np.degrees(
        np.arccos(np.clip(np.array(hp.pix2vec(nside, np.arange(mask.size))).T @ vectors.T, -1, 1))
    )
    radius = 1.27 * fwhm / 60.0
    expected = ~((dist[:, 0] <= radius) | (dist[:, 2] <= radius))
    assert np.array_equal(mask == 1, expected)
    assert mask[(dist[:, 1] <= radius)].all()  # below the limit: kept
    with pytest.raises(ValueError, match="radius_fwhm"):
        point_source_mask(nside, [cat], [(100.0, 0.5, fwhm)], radius_fwhm=0)


def _stage_masks(root, extra):
    from cmbml.core import Catalog, compose, run_pipeline
    from cmbml.core.handlers import get_handler
    from tests.sims.fiducial import tiny_sims_overrides

    cfg = compose(
        "config_sims",
        [
            *tiny_sims_overrides(root, 64),
            "pipeline.stages=[make_instrument,make_foregrounds,make_mask]",
            *extra,
        ],
    )
    run_pipeline(cfg)
    cat = Catalog.from_config(cfg)
    fits_map = get_handler("healpix_map")
    fg30 = np.atleast_2d(fits_map.read(cat.path("fg_map", freq=30)))[0]
    return fits_map.read(cat.path("mask")), fits_map.read(cat.path("mask_apod")), fg30


def test_default_mask_cuts_the_catalogued_sources(tmp_path):
    """The stage's holes sit on the bright sources of the dataset's sky (30 GHz foregrounds
    above the high-latitude median there), cut a few per cent of the sky, and their own small
    apodisation leaves the apodised sky almost whole."""
    mask, apod, fg30 = _stage_masks(tmp_path / "a", [])
    plain, plain_apod, _ = _stage_masks(
        tmp_path / "b", ["model.sim.mask.point_sources.enabled=false"]
    )
    holes = (plain == 1) & (mask == 0)
    assert np.all(mask <= plain)
    assert 0.01 < holes.mean() < 0.06
    _, b = hp.pix2ang(64, np.arange(mask.size), lonlat=True)
    high = (np.abs(b) > 30) & (plain == 1)
    # radio holes are bright at 30 GHz (75' beam); infrared ones (857 GHz sources) are not
    assert np.median(fg30[holes & high]) > 1.5 * np.median(fg30[high & ~holes])
    assert apod.mean() > 0.9 * plain_apod.mean()
    assert np.all(apod[mask == 0] == 0)
