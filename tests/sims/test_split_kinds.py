"""Test splits of several kinds, simulated through the shipped demo_generalisation splits."""

import numpy as np
import pytest

from cmbml.core import Catalog, ConfigError, build_stages, compose, get_splits, run_pipeline
from cmbml.core.handlers import get_handler
from cmbml.core.splits import evaluation_splits, split_config, split_kinds
from cmbml.sims.stages import make_sky
from tests.sims.fiducial import SIMS_STAGES
from tests.sims.test_sky_stages import write_spectra

NSIDE = 8
SIZES = {"Train": 0, "Valid": 0, "Test": 1, "TestF1": 2, "TestFP": 2, "TestFgShift": 2}
SIZES["TestNoiseShift"] = 1
read_map = get_handler("healpix_map").read
read_yaml = get_handler("yaml").read

# Planck 2018 VI Table 2, best-fit column (TT,TE,EE+lowE+lensing), written out here independently
# of the asset table
PLANCK_BEST_FIT = {"ombh2": 0.022383, "omch2": 0.12011, "ns": 0.96605, "tau": 0.0543}


def make_cfg(root, *overrides):
    return compose(
        "config_sims",
        [
            f"local_system.datasets_root={root}",
            "splits=demo_generalisation",
            f"scenario.nside={NSIDE}",
            f"scenario.nside_sky={2 * NSIDE}",
            "model.sim.cmb.camb_accuracy=temperature",
            f"pipeline.stages=[{','.join(SIMS_STAGES)}]",
            *(f"splits.{name}.n_sims={n}" for name, n in SIZES.items()),
            *overrides,
        ],
    )


@pytest.fixture(scope="module")
def flex_run(tmp_path_factory):
    """The sims of every kind of split, foregrounds drawn per simulation (nside 8)."""
    cfg = make_cfg(
        tmp_path_factory.mktemp("kinds"),
        "model/sim/foregrounds=synthetic_flex",
        "splits.TestFP.n_sims=1",
        "splits.TestFgShift.n_sims=0",
    )
    run_pipeline(cfg)
    return cfg, Catalog.from_config(cfg)


def test_kinds_and_settings_from_the_shipped_config(tmp_path):
    cfg = make_cfg(tmp_path)
    assert evaluation_splits(cfg) == ["Test", "TestF1", "TestFP", "TestFgShift", "TestNoiseShift"]
    kinds = split_kinds(cfg)
    assert kinds["Train"] == "train" and kinds["Test"] == "in_distribution"
    assert kinds["TestF1"] == kinds["TestFP"] == "fixed_spectrum"
    assert kinds["TestFgShift"] == "foreground_shift"
    assert split_config(cfg, "Test") is cfg
    shifted = split_config(cfg, "TestFgShift").model.sim.foregrounds.components
    assert shifted.dust_cold.enabled and shifted.synchrotron.params.beta.mean == -2.9
    assert (
        shifted.synchrotron.params.beta.std
        == cfg.model.sim.foregrounds.components["synchrotron"].params.beta.std
    )
    bad = make_cfg(tmp_path, "splits.TestF1.kind=fixed")
    with pytest.raises(ConfigError, match="splits.TestF1.kind must be one of"):
        get_splits(bad)


def test_fixed_spectrum_split_shares_cosmology_not_realisations(flex_run):
    cfg, cat = flex_run
    split = "TestF1"
    cosmo = [read_yaml(cat.path("cosmo_params", split=split, sim=i)) for i in range(2)]
    assert cosmo[0]["camb"] == cosmo[1]["camb"] and cosmo[0]["fixed_spectrum"]
    read_csv = get_handler("csv").read
    spectra = [read_csv(cat.path("cmb_spectrum", split=split, sim=i)) for i in (0, 1)]
    assert spectra[0].equals(spectra[1])
    cmb = [read_map(cat.path("cmb_map", split=split, sim=i)) for i in (0, 1)]
    assert np.std(cmb[0] - cmb[1]) > 0.5 * np.std(cmb[0])
    fg = [read_yaml(cat.path("fg_params", split=split, sim=i)) for i in (0, 1)]
    assert fg[0]["template_seed"] != fg[1]["template_seed"]
    assert fg[0]["drawn"] != fg[1]["drawn"]
    sky = [read_map(cat.path("sky_map", split=split, sim=i, freq=857)) for i in (0, 1)]
    assert np.std(sky[0] - sky[1]) > 0.1 * np.std(sky[0])  # 857 GHz: foregrounds differ
    noise = [
        read_map(cat.path("obs_map", split=split, sim=i, freq=30))
        - read_map(cat.path("sky_map", split=split, sim=i, freq=30))
        for i in (0, 1)
    ]
    assert abs(np.corrcoef(noise[0], noise[1])[0, 1]) < 0.3
    test = read_yaml(cat.path("cosmo_params", split="Test", sim=0))
    f1 = read_yaml(cat.path("cosmo_params", split="TestF1", sim=0))
    assert f1["camb"] != test["camb"]
    best = read_yaml(cat.path("cosmo_params", split="TestFP", sim=0))
    for name, value in PLANCK_BEST_FIT.items():
        assert best["camb"][name] == pytest.approx(value)
    assert best["derived"]["H0"] == pytest.approx(67.32, abs=0.05)  # Planck's best-fit H_0


def test_foreground_shift_split_has_its_own_sky(tmp_path):
    cfg = make_cfg(
        tmp_path, "pipeline.stages=[make_foregrounds,make_sky]", "splits.TestF1.n_sims=0"
    )
    cat = Catalog.from_config(cfg)
    units = [(s, i) for s, n in SIZES.items() if s not in ("TestF1",) for i in range(n)]
    write_spectra(cfg, units)
    run_pipeline(cfg)
    rec = [read_yaml(cat.path("fg_params", split="TestFgShift", sim=i)) for i in (0, 1)]
    assert rec[0] == rec[1] and rec[0]["sky"] == "split"
    assert read_yaml(cat.path("fg_params", split="Test", sim=0))["sky"] == "dataset"
    fg_shared = read_map(cat.path("fg_map", freq=353))
    for split, same in (("Test", True), ("TestFgShift", False)):
        sky = read_map(cat.path("sky_map", split=split, sim=0, freq=353))
        cmb_free = sky - fg_shared
        # the CMB at 353 GHz is a small part of the sky: only the shift split's foregrounds differ
        assert (np.std(cmb_free) < 0.2 * np.std(sky)) == same
    target = cat.path("sky_map", split="TestFgShift", sim=1, freq=353)
    saved = target.read_bytes()
    target.unlink()
    make_sky._SPLIT_FG_CACHE.clear()  # as in a new process
    assert run_pipeline(cfg)["make_sky"].ran == 1  # regenerated alone
    assert target.read_bytes() == saved
    stages = build_stages(cfg, ["make_sky", "make_observations", "make_cosmology"])
    base = {n: s.config_hash() for n, s in stages.items()}
    moved = make_cfg(
        tmp_path,
        "pipeline.stages=[make_foregrounds,make_sky]",
        "splits.TestFgShift.sim.foregrounds.components.synchrotron.params.beta.mean=-2.8",
    )
    again = {n: s.config_hash() for n, s in build_stages(moved, list(base)).items()}
    assert again["make_sky"] != base["make_sky"]
    assert again["make_observations"] == base["make_observations"]
    assert again["make_cosmology"] == base["make_cosmology"]


def test_noise_shift_split_has_louder_noise(flex_run):
    cfg, cat = flex_run
    std = {}
    for split in ("Test", "TestNoiseShift"):
        obs = read_map(cat.path("obs_map", split=split, sim=0, freq=143))
        sky = read_map(cat.path("sky_map", split=split, sim=0, freq=143))
        std[split] = np.std(obs - sky)
    assert std["TestNoiseShift"] > 1.4 * std["Test"]
