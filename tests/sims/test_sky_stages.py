"""Stages make_foregrounds and make_sky through the real configs and the pipeline runner."""

import filecmp

import healpy as hp
import numpy as np
import pytest

from cmbml import sphere
from cmbml.core import Catalog, MissingInputError, compose, run_pipeline
from cmbml.core.handlers import get_handler
from cmbml.sims.cmb import spectrum_table
from tests.sims.fiducial import tiny_sims_overrides

NSIDE = 8
LMAX = 3 * NSIDE - 1


def make_cfg(root, *overrides):
    return compose(
        "config_sims",
        [
            *tiny_sims_overrides(root, NSIDE),
            "pipeline.stages=[make_foregrounds,make_sky]",
            *overrides,
        ],
    )


def write_spectra(cfg, units, lmax=4 * NSIDE):
    """Stand-in CAMB spectra (uK_CMB^2, from l = 0) for the given (split, sim) units."""
    ell = np.arange(lmax + 1)
    tt = np.zeros(lmax + 1)
    tt[2:] = 2 * np.pi * 1e3 / (ell[2:] * (ell[2:] + 1.0))
    cls = np.stack([tt, 0.05 * tt, 0.001 * tt, 0.1 * tt])

    catalog = Catalog.from_config(cfg)
    for split, sim in units:
        get_handler("csv").write(
            catalog.path("cmb_spectrum", split=split, sim=sim), spectrum_table(ell, cls)
        )
    return catalog


UNITS = [("Train", 0), ("Train", 1), ("Test", 0)]


def test_sky_stages_write_truth_and_beamed_sky(tmp_path):
    cfg = make_cfg(tmp_path, "scenario.map_fields=IQU")
    catalog = write_spectra(cfg, UNITS)
    reports = run_pipeline(cfg)
    assert reports["make_foregrounds"].ran == 1 and reports["make_sky"].ran == 3
    read = get_handler("healpix_map").read
    for name in ("dust", "synchrotron", "free_free", "ame"):
        t = read(catalog.path("fg_template", name=name))
        assert t.shape[-1] == hp.nside2npix(2 * NSIDE) and np.all(np.atleast_2d(t)[0] > 0)
    beta = read(catalog.path("fg_parameter", name="dust", field="beta"))
    assert 1.3 < beta.mean() < 1.7
    truth = read(catalog.path("cmb_map", split="Train", sim=0))
    assert truth.shape == (3, hp.nside2npix(NSIDE))
    window = sphere.pixel_window(NSIDE, LMAX)
    for band, fwhm in ((30, 75.0), (353, 22.0), (857, 20.6)):
        sky = read(catalog.path("sky_map", split="Train", sim=0, freq=band))
        fg = read(catalog.path("fg_map", freq=band))
        assert sky.shape == fg.shape == ((3, 12 * NSIDE**2) if band <= 353 else (12 * NSIDE**2,))
        cmb_part = np.atleast_2d(sky - fg)
        # the CMB in the sky map is the truth with the detector's beam and pixel window
        alm = hp.map2alm(truth if band <= 353 else truth[0], lmax=LMAX, iter=10, pol=band <= 353)
        bl = hp.gauss_beam(np.radians(fwhm / 60), LMAX, pol=True)
        alm = np.atleast_2d(alm)
        beamed = [hp.almxfl(alm[k], bl[:, k] * window) for k in range(alm.shape[0])]
        expected = np.atleast_2d(
            hp.alm2map(beamed if band <= 353 else beamed[0], NSIDE, lmax=LMAX, pol=band <= 353)
        )
        scale = np.abs(expected).max()
        tol = 1e-6 * np.abs(np.atleast_2d(sky)).max() + 2e-3 * scale
        assert np.allclose(cmb_part, expected, atol=tol), band
    # one foreground sky for the dataset: sky - CMB differs between sims only through the CMB
    a = read(catalog.path("sky_map", split="Train", sim=0, freq=143))
    b = read(catalog.path("sky_map", split="Train", sim=1, freq=143))
    assert not np.allclose(a, b)


def test_any_simulation_regenerates_bit_for_bit(tmp_path):
    cfg = make_cfg(tmp_path)
    catalog = write_spectra(cfg, UNITS)
    run_pipeline(cfg)
    target = catalog.path("sky_map", split="Train", sim=1, freq=100)
    truth = catalog.path("cmb_map", split="Train", sim=1)
    saved = tmp_path / "saved.fits"
    saved.write_bytes(target.read_bytes())
    saved_truth = tmp_path / "saved_truth.fits"
    saved_truth.write_bytes(truth.read_bytes())
    target.unlink()
    truth.unlink()
    reports = run_pipeline(cfg)
    assert reports["make_sky"].ran == 1 and reports["make_foregrounds"].ran == 0
    assert filecmp.cmp(target, saved, shallow=False)
    assert filecmp.cmp(truth, saved_truth, shallow=False)


def test_foregrounds_varying_per_simulation(tmp_path):
    cfg = make_cfg(tmp_path, "model.sim.foregrounds.vary_per_sim=true")
    catalog = write_spectra(cfg, UNITS)
    run_pipeline(cfg)
    read = get_handler("healpix_map").read
    # at 857 GHz the sky is foreground-dominated: different foreground realisations per sim
    a = read(catalog.path("sky_map", split="Train", sim=0, freq=857))
    b = read(catalog.path("sky_map", split="Train", sim=1, freq=857))
    fg = read(catalog.path("fg_map", freq=857))
    assert np.std(a - b) > 0.1 * np.std(a)
    assert np.std(a - fg) > 0.1 * np.std(a)


def test_missing_spectrum_and_presets_without_data_are_named(tmp_path, monkeypatch):
    cfg = make_cfg(tmp_path)
    with pytest.raises(MissingInputError, match="cmb_spectrum"):
        run_pipeline(cfg)
    monkeypatch.delenv("PYSM_LOCAL_DATA", raising=False)
    cfg = make_cfg(tmp_path / "presets", "model/sim/foregrounds=pysm_presets")
    with pytest.raises(FileNotFoundError, match="preset_strings"):
        run_pipeline(cfg)


COMPONENTS = [
    "dust",
    "synchrotron",
    "free_free",
    "ame",
    "cib",
    "tsz",
    "ksz",
    "radio_sources",
    "ir_sources",
]


def _fg_maps(root, *overrides):
    cfg = compose(
        "config_sims",
        [
            *tiny_sims_overrides(root, NSIDE),
            "scenario.map_fields=IQU",
            "pipeline.stages=[make_foregrounds]",
            *overrides,
        ],
    )
    run_pipeline(cfg)
    catalog = Catalog.from_config(cfg)
    read = get_handler("healpix_map").read
    return {b: np.atleast_2d(read(catalog.path("fg_map", freq=b))) for b in (30, 143, 353, 857)}


def test_every_component_switches_off_and_fg_map_is_their_sum(tmp_path):
    total = _fg_maps(tmp_path / "all")
    parts = {
        name: _fg_maps(
            tmp_path / name,
            *[
                f"model.sim.foregrounds.components.{o}.enabled=false"
                for o in COMPONENTS
                if o != name
            ],
        )
        for name in COMPONENTS
    }
    for band, maps in total.items():
        summed = sum(p[band].astype(np.float64) for p in parts.values())
        scale = np.abs(maps).max(axis=1, keepdims=True)
        assert np.allclose(summed, maps, rtol=0, atol=1e-5 * scale.max()), band
        for name, p in parts.items():
            assert np.abs(p[band][0]).max() > 0, (name, band)  # each is on when alone
    # the same dataset regenerates bit for bit in another folder
    again = _fg_maps(tmp_path / "again")
    for band in total:
        assert np.array_equal(again[band], total[band])
