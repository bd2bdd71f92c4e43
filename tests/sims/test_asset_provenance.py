"""External inputs are provenance: editing the instrument table, a Planck variance map, the
NILC TMASK, a WMAP chain file or a PySM template recomputes exactly the units that read it, and
the result equals a clean run with the edited file (real configs, files in the real formats)."""

import filecmp
from pathlib import Path

import healpy as hp
import numpy as np
import pandas as pd
from astropy.io import fits

from cmbml.core import Catalog, compose, run_pipeline
from cmbml.core.handlers import get_handler
from tests.sims.fiducial import tiny_sims_overrides
from tests.sims.planck_files import write_planck_bintable, write_wmap_chains
from tests.sims.test_foregrounds import _write_pysm_file

NSIDE = 8
DETECTOR_TABLE = Path(__file__).parents[2] / "assets" / "instrument" / "planck_detectors.csv"


def _cfg(root, *overrides):
    return compose(
        "config_sims",
        [
            *tiny_sims_overrides(root, NSIDE),
            "model.sim.cmb.camb_accuracy=temperature",
            *overrides,
        ],
    )


def _ran(cfg) -> dict[str, int]:
    return {name: r.ran for name, r in run_pipeline(cfg).items()}


def test_edited_beam_recomputes_every_unit_that_used_the_table(tmp_path):
    table = tmp_path / "detectors.csv"
    pd.read_csv(DETECTOR_TABLE).to_csv(table, index=False)
    cfg = _cfg(tmp_path / "a", f"model.sim.instrument.table={table}")
    run_pipeline(cfg)
    edited = pd.read_csv(table)
    edited.loc[edited["band"] == 143, "fwhm_arcmin"] = 40.0
    edited.to_csv(table, index=False)
    ran = _ran(cfg)
    assert ran["make_instrument"] == 1 and ran["make_foregrounds"] == 1
    assert ran["make_sky"] == 3 and ran["make_observations"] == 3
    assert ran["make_cosmology"] == 0 and ran["make_cmb_spectra"] == 0
    # nothing mixed: the same files as a clean run with the edited table
    clean = _cfg(tmp_path / "b", f"model.sim.instrument.table={table}")
    run_pipeline(clean)
    a, b = Catalog.from_config(cfg), Catalog.from_config(clean)
    for name, values in [
        ("detector_table", {}),
        ("fg_map", {"freq": 143}),
        ("sky_map", {"split": "Train", "sim": 1, "freq": 143}),
        ("obs_map", {"split": "Test", "sim": 0, "freq": 143}),
    ]:
        assert filecmp.cmp(a.path(name, **values), b.path(name, **values), shallow=False), name


def test_edited_planck_variance_map_recomputes_the_noise(tmp_path):
    planck = tmp_path / "planck"
    planck.mkdir()
    npix = 12 * 16**2
    for band, var in ((100, 1e-10), (143, 2e-10)):
        write_planck_bintable(
            planck / f"HFI_{band}.fits",
            {"I_STOKES": np.zeros(npix), "II_COV": np.full(npix, var)},
            {"I_STOKES": "K_CMB", "II_COV": "K_CMB^2"},
        )
    cfg = _cfg(
        tmp_path / "data",
        "model/sim/noise=planck_variance",
        f"model.sim.noise.planck_dir={planck}",
        "model.sim.noise.files={100: HFI_100.fits, 143: HFI_143.fits}",
        "scenario.detectors=[100,143]",
        "pipeline.stages=[make_instrument,make_noise_model]",
    )
    run_pipeline(cfg)
    sigma = get_handler("healpix_map").read(Catalog.from_config(cfg).path("noise_sigma", freq=143))
    write_planck_bintable(
        planck / "HFI_143.fits",
        {"I_STOKES": np.zeros(npix), "II_COV": np.full(npix, 8e-10)},
        {"I_STOKES": "K_CMB", "II_COV": "K_CMB^2"},
    )
    assert _ran(cfg)["make_noise_model"] == 1
    again = get_handler("healpix_map").read(Catalog.from_config(cfg).path("noise_sigma", freq=143))
    np.testing.assert_allclose(again, 2.0 * sigma, rtol=1e-6)


def test_edited_tmask_recomputes_the_mask(tmp_path):
    _, b = hp.pix2ang(16, np.arange(12 * 16**2), lonlat=True)
    nilc = tmp_path / "nilc.fits"

    def write(cut_deg):
        tmask = (np.abs(b) > cut_deg).astype(float)
        write_planck_bintable(nilc, {"I_STOKES": 0 * tmask, "TMASK": tmask}, {"I_STOKES": "K_CMB"})

    write(20)
    cfg = _cfg(
        tmp_path / "data",
        "model/sim/mask=planck",
        f"model.sim.mask.file={nilc}",
        "pipeline.stages=[make_mask]",
    )
    run_pipeline(cfg)
    path = Catalog.from_config(cfg).path("mask")
    before = get_handler("healpix_map").read(path).mean()
    write(40)
    assert _ran(cfg)["make_mask"] == 1
    assert get_handler("healpix_map").read(path).mean() < before


def test_edited_chain_file_recomputes_the_cosmologies(tmp_path):
    chains = tmp_path / "chains"
    write_wmap_chains(chains, 50, np.random.default_rng(0))
    cfg = _cfg(
        tmp_path / "data",
        "model/sim/cmb=wmap9_chains",
        f"model.sim.cmb.chain_dir={chains}",
        "pipeline.stages=[make_cosmology]",
    )
    run_pipeline(cfg)
    rows = np.loadtxt(chains / "H0")
    rows[:, 1] += 1.0
    np.savetxt(chains / "H0", rows, fmt="%10d  %.10e")
    assert _ran(cfg)["make_cosmology"] == 3
    assert _ran(cfg)["make_cosmology"] == 0


def test_edited_pysm_template_recomputes_the_foregrounds(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    npix = 12 * 16**2
    ff = tmp_path / "pysm" / "pysm_2" / "ff_t_new.fits"
    _write_pysm_file(ff, np.abs(rng.normal(5, 1, npix)))
    monkeypatch.setenv("PYSM_LOCAL_DATA", str(tmp_path / "pysm"))
    cfg = _cfg(
        tmp_path / "data",
        "model/sim/foregrounds=pysm_presets",
        "model.sim.foregrounds.preset_strings=[f1]",
        "pipeline.stages=[make_instrument,make_foregrounds]",
    )
    run_pipeline(cfg)
    path = Catalog.from_config(cfg).path("fg_map", freq=30)
    before = get_handler("healpix_map").read(path)
    with fits.open(ff, mode="update") as hdul:
        hdul[1].data.field(0)[:] *= 2.0
    assert _ran(cfg)["make_foregrounds"] == 1
    np.testing.assert_allclose(get_handler("healpix_map").read(path), 2.0 * before, rtol=1e-5)
