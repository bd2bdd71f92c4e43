"""Stages instrument, noise model, cosmology, CMB spectra, observations and mask, through the
real configs and the pipeline runner (nside 8)."""

import filecmp

import camb
import healpy as hp
import numpy as np
import pytest

from cmbml.core import BadInputError, Catalog, compose, run_pipeline
from cmbml.core.handlers import get_handler
from cmbml.core.seeds import make_rng
from cmbml.sims.noise import correlated_noise, white_noise_sigma
from tests.sims.fiducial import BANDS, tiny_sims_overrides
from tests.sims.planck_files import write_planck_bintable, write_wmap_chains

NSIDE = 8
read_map = get_handler("healpix_map").read


def make_cfg(root, *overrides):
    return compose(
        "config_sims",
        [
            *tiny_sims_overrides(root, NSIDE),
            # CAMB at its cheapest: these tests check the plumbing, test_cmb.py the accuracy
            "model.sim.cmb.camb_accuracy=temperature",
            *overrides,
        ],
    )


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """The whole sims pipeline (IQU, nside 8, Train 2 + Test 1), serial."""
    cfg = make_cfg(tmp_path_factory.mktemp("full"), "scenario.map_fields=IQU")
    reports = run_pipeline(cfg)
    return cfg, reports


def test_sims_pipeline_end_to_end_and_resume(full_run):
    cfg, reports = full_run
    assert reports["make_observations"].ran == 3 and reports["make_cmb_spectra"].ran == 3
    cat = Catalog.from_config(cfg)

    table = get_handler("csv").read(cat.path("detector_table"))
    assert table["band"].tolist() == BANDS
    assert table["fields"].tolist() == ["IQU"] * 7 + ["I"] * 2

    # cosmology: Planck 2018 draws, CAMB inputs with As and the fixed neutrino mass
    cosmo = get_handler("yaml").read(cat.path("cosmo_params", split="Train", sim=1))
    assert cosmo["source"] == "planck2018" and 66 < cosmo["derived"]["H0"] < 69
    drawn = cosmo["drawn"]
    expect_as = drawn["As_e2tau_x1e9"] * 1e-9 * np.exp(2 * drawn["tau"])
    assert cosmo["camb"]["As"] == pytest.approx(expect_as)
    assert cosmo["camb"]["mnu"] == 0.06
    other = get_handler("yaml").read(cat.path("cosmo_params", split="Train", sim=0))
    assert other["drawn"] != cosmo["drawn"]

    # spectra: l explicit from 0 to 3 nside, the band limit of the maps (not of nside_sky)
    spec = get_handler("csv").read(cat.path("cmb_spectrum", split="Test", sim=0))
    assert spec["ell"].tolist() == list(range(3 * NSIDE + 1))
    assert list(spec.columns) == ["ell", "TT", "EE", "BB", "TE"]

    # observations: obs - sky is white + 1/f noise of the sigma maps (uniform level x
    # scan-depth pattern) with the band's knee, drawn from the (split, sim, noise, band) seed
    for band in (30, 857):
        obs = read_map(cat.path("obs_map", split="Train", sim=0, freq=band))
        sky = read_map(cat.path("sky_map", split="Train", sim=0, freq=band))
        sigma = read_map(cat.path("noise_sigma", freq=band))
        assert obs.shape == sky.shape == sigma.shape
        row = table.set_index("band").loc[band]
        level = white_noise_sigma(row["noise_t_uk_arcmin"], NSIDE)
        assert np.sqrt(np.mean(np.atleast_2d(sigma)[0] ** 2)) == pytest.approx(level, rel=1e-6)
        rng = make_rng(int(cfg.seed), cfg.dataset_name, "Train", 0, "noise", band)
        expect = correlated_noise(sigma, rng, row["ell_knee"], row["alpha_knee"])
        # float32 files: the residual is the noise up to rounding of the sky
        scale = np.abs(sky).max() + np.abs(expect).max()
        np.testing.assert_allclose(obs - sky, expect, rtol=0, atol=2e-7 * scale)
    noise_a = read_map(cat.path("obs_map", split="Train", sim=0, freq=100)) - read_map(
        cat.path("sky_map", split="Train", sim=0, freq=100)
    )
    noise_b = read_map(cat.path("obs_map", split="Train", sim=1, freq=100)) - read_map(
        cat.path("sky_map", split="Train", sim=1, freq=100)
    )
    assert abs(np.corrcoef(noise_a.ravel(), noise_b.ravel())[0, 1]) < 0.2  # independent draws

    # mask: target sky fraction, galactic plane masked; apodised copy in [0, 1]
    mask = read_map(cat.path("mask"))
    apod = read_map(cat.path("mask_apod"))
    # the faintest 78 %, less the point-source holes (a few per cent of the sky)
    assert 0.78 - 0.06 < mask.mean() < round(0.78 * mask.size) / mask.size
    _, b = hp.pix2ang(NSIDE, np.arange(mask.size), lonlat=True)
    assert mask[np.abs(b) < 5].mean() < 0.1
    assert np.all(apod[mask == 0] == 0) and apod.min() >= 0 and apod.max() <= 1

    # resume: nothing to do
    again = run_pipeline(cfg)
    assert all(r.ran == 0 for r in again.values())


def test_partial_dataset_in_process_pool_is_identical(full_run, tmp_path):
    cfg, _ = full_run
    cat = Catalog.from_config(cfg)
    # a partial dataset (Train sim 1 left out) made by a process pool: identical files
    part = make_cfg(
        tmp_path / "b",
        "scenario.map_fields=IQU",
        "splits.Train.n_sims=1",
        "parallel=processes",
        "parallel.n_workers=2",
    )
    run_pipeline(part)
    cat_b = Catalog.from_config(part)
    for split in ("Train", "Test"):
        names = [("cosmo_params", {}), ("cmb_spectrum", {})]
        names += [("obs_map", {"freq": band}) for band in BANDS]
        for name, extra in names:
            kw = {"split": split, "sim": 0, **extra}
            assert filecmp.cmp(cat.path(name, **kw), cat_b.path(name, **kw), shallow=False), kw
    for name in ("noise_sigma", "mask", "mask_apod"):
        kw = {"freq": 70} if name == "noise_sigma" else {}
        assert filecmp.cmp(cat.path(name, **kw), cat_b.path(name, **kw), shallow=False), name


def test_wrong_nside_sky_map_is_named(tmp_path):
    cfg = make_cfg(tmp_path, "pipeline.stages=[make_instrument,make_noise_model,make_observations]")
    cat = Catalog.from_config(cfg)
    for band in BANDS:
        get_handler("healpix_map").write(
            cat.path("sky_map", split="Train", sim=0, freq=band), np.zeros(12 * 4**2)
        )
    with pytest.raises(BadInputError, match=r"sky_30_map.fits.*nside 4, expected nside 8"):
        run_pipeline(cfg)


def test_planck_variance_noise_model(tmp_path):
    planck = tmp_path / "planck"
    planck.mkdir()
    nside_file = 16
    npix = 12 * nside_file**2
    var_kcmb2 = 1e-10
    write_planck_bintable(
        planck / "HFI_100.fits",
        {
            "I_STOKES": np.zeros(npix),
            "II_COV": np.full(npix, var_kcmb2),
            "QQ_COV": np.full(npix, 2 * var_kcmb2),
            "UU_COV": np.full(npix, 3 * var_kcmb2),
        },
        {"I_STOKES": "K_CMB", "II_COV": "K_CMB^2", "QQ_COV": "K_CMB^2", "UU_COV": "K_CMB^2"},
    )
    write_planck_bintable(
        planck / "HFI_857.fits",
        {"I_STOKES": np.zeros(npix), "II_COV": np.full(npix, 1e-4)},
        {"I_STOKES": "MJy/sr", "II_COV": "(MJy/sr)^2"},
    )
    overrides = [
        "model/sim/noise=planck_variance",
        f"model.sim.noise.planck_dir={planck}",
        "scenario.detectors=[100,857]",
        "scenario.map_fields=IQU",
        "pipeline.stages=[make_instrument,make_noise_model]",
    ]
    cfg = make_cfg(
        tmp_path / "data",
        *overrides,
        "model.sim.noise.files={100: HFI_100.fits, 857: HFI_857.fits}",
    )
    run_pipeline(cfg)
    cat = Catalog.from_config(cfg)
    k4 = (nside_file // NSIDE) ** 4
    sigma_100 = read_map(cat.path("noise_sigma", freq=100))
    expect = np.sqrt(np.array([1, 2, 3]) * var_kcmb2 * 1e12 * 4 / k4)  # 4 = k^2 children
    np.testing.assert_allclose(sigma_100, np.repeat(expect[:, None], 12 * NSIDE**2, 1), rtol=1e-6)
    sigma_857 = read_map(cat.path("noise_sigma", freq=857))
    mjysr_per_kcmb = 1.264385  # delta bandpass at 866.8 GHz
    expect_857 = np.sqrt(1e-4 * 4 / k4) / mjysr_per_kcmb * 1e6
    np.testing.assert_allclose(sigma_857, expect_857, rtol=1e-5)

    missing = make_cfg(tmp_path / "data2", *overrides)  # default Planck file names
    with pytest.raises(
        FileNotFoundError,
        match=r"planck/HFI_SkyMap_100_2048_R3.01_full.fits\b.*model/sim/noise=planck_variance",
    ):
        run_pipeline(missing)


def _chain_cfg(root, chain_dir, *overrides):
    return make_cfg(
        root,
        "model/sim/cmb=wmap9_chains",
        f"model.sim.cmb.chain_dir={chain_dir}",
        "pipeline.stages=[make_cosmology]",
        *overrides,
    )


def test_wmap9_chain_cosmology(tmp_path):
    values = write_wmap_chains(tmp_path / "chains", 100, np.random.default_rng(0))
    sizes = {"Train": 20, "Valid": 10, "Test": 10}
    cfg = _chain_cfg(
        tmp_path / "data",
        tmp_path / "chains",
        "splits.Valid.n_sims=10",
        "splits.Train.n_sims=20",
        "splits.Test.n_sims=10",
    )
    run_pipeline(cfg)
    cat = Catalog.from_config(cfg)
    rows = {}
    for split, n in sizes.items():
        for sim in range(n):
            p = get_handler("yaml").read(cat.path("cosmo_params", split=split, sim=sim))
            r = p["chain_row"]
            rows[split, sim] = r
            assert p["chain_step"] == r + 1
            assert p["camb"]["omch2"] == pytest.approx(values["omegach2"][r], rel=1e-7)
            assert p["camb"]["ns"] == pytest.approx(values["ns002"][r], rel=1e-7)
            assert p["camb"]["mnu"] == pytest.approx(values["mnu"][r], rel=1e-7)
            # A_s from the row's a002 (10^9 Delta^2_R at k = 0.002/Mpc): CAMB's power there
            power = camb.CAMBparams()
            power.InitPower.set_params(As=p["camb"]["As"], ns=p["camb"]["ns"])
            assert power.scalar_power(0.002) == pytest.approx(values["a002"][r] * 1e-9, rel=1e-7)
    assert len(set(rows.values())) == 40  # distinct across the dataset
    amplitudes = [
        get_handler("yaml").read(cat.path("cosmo_params", split="Train", sim=i))["camb"]["As"]
        for i in range(3)
    ]
    assert len(set(amplitudes)) == 3  # varies with the chain row

    # as_fixed: CMB-ML's fixed amplitude, A_s = 2e-9 at CAMB's pivot (0.05/Mpc)
    fixed = _chain_cfg(tmp_path / "fixed", tmp_path / "chains", "model.sim.cmb.as_fixed=true")
    run_pipeline(fixed)
    p = get_handler("yaml").read(
        Catalog.from_config(fixed).path("cosmo_params", split="Test", sim=0)
    )
    assert p["camb"]["As"] == 2.0e-9

    # a split's size does not move the other simulations' rows (resumable growth)
    smaller = _chain_cfg(tmp_path / "data2", tmp_path / "chains", "splits.Train.n_sims=3")
    run_pipeline(smaller)
    cat2 = Catalog.from_config(smaller)
    for split, sim in (("Train", 2), ("Test", 0)):
        p = get_handler("yaml").read(cat2.path("cosmo_params", split=split, sim=sim))
        assert p["chain_row"] == rows[split, sim]

    too_many = _chain_cfg(tmp_path / "data3", tmp_path / "chains", "splits.Train.n_sims=40")
    with pytest.raises(ValueError, match="have 100 rows; Train sim 34 needs row index 102"):
        run_pipeline(too_many)
    missing = _chain_cfg(tmp_path / "data4", tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"nowhere/H0\b.*model/sim/cmb=wmap9_chains"):
        run_pipeline(missing)


def test_planck_nilc_mask_stage(tmp_path):
    nside_file = 16
    _, b = hp.pix2ang(nside_file, np.arange(12 * nside_file**2), lonlat=True)
    tmask = (np.abs(b) > 25).astype(float)
    nilc = tmp_path / "nilc.fits"
    write_planck_bintable(nilc, {"I_STOKES": 0 * tmask, "TMASK": tmask}, {"I_STOKES": "K_CMB"})
    cfg = make_cfg(
        tmp_path / "data",
        "model/sim/mask=planck",
        f"model.sim.mask.file={nilc}",
        "pipeline.stages=[make_mask]",
    )
    run_pipeline(cfg)
    cat = Catalog.from_config(cfg)
    mask = read_map(cat.path("mask"))
    _, b8 = hp.pix2ang(NSIDE, np.arange(mask.size), lonlat=True)
    assert np.all(mask[np.abs(b8) > 35] == 1) and np.all(mask[np.abs(b8) < 15] == 0)
    missing = make_cfg(
        tmp_path / "data2",
        "model/sim/mask=planck",
        "pipeline.stages=[make_mask]",
        f"local_system.assets_dir={tmp_path / 'assets'}",
    )
    with pytest.raises(FileNotFoundError, match=r"COM_CMB_IQU-nilc.*model/sim/mask=planck"):
        run_pipeline(missing)
