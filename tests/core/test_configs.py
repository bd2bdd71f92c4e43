"""Every primary config composes, validates, and every catalog entry and stage resolves."""

import os

import pytest

from cmbml.core import Catalog, build_stages, compose, get_splits, validate_config

PRIMARY = [
    "config_sims",
    "config_pyilc",
    "config_cmbnncs",
    "config_patchnn",
    "config_deepsphere",
    "config_hybrid",
    "config_comp_models",
    "config_all",
    "config_all_methods",
]


@pytest.mark.parametrize("name", PRIMARY)
def test_primary_config_composes_and_resolves(name):
    cfg = compose(name)
    validate_config(cfg)
    catalog = Catalog.from_config(cfg)
    assert catalog.entries
    for entry in catalog.entries:
        catalog.check(entry)
    stages = build_stages(cfg)
    listed = list(cfg.pipeline.stages) + [
        s for t in cfg.pipeline.get("tasks", {}).values() for s in t
    ]
    assert set(listed) <= set(stages)


@pytest.mark.parametrize(
    ("overrides", "dataset", "counts"),
    [
        ([], "CMB_ML_64_demo", {"Train": 40, "Valid": 4, "Test": 4}),
        (
            ["scenario=paper_512", "splits=1450"],
            "CMB_ML_512_1450",
            {"Train": 1000, "Valid": 250, "Test": 200},
        ),
        (["scenario=paper_128", "splits=1-1"], "CMB_ML_128_1-1", {"Test": 1}),
        (
            ["scenario=paper_1024", "splits=1450"],
            "CMB_ML_1024_1450",
            {"Train": 1000, "Valid": 250, "Test": 200},
        ),
    ],
)
def test_scenarios_and_splits(overrides, dataset, counts):
    cfg = compose("config_sims", overrides)
    assert cfg.dataset_name == dataset
    assert {s.name: s.n_sims for s in get_splits(cfg)} == counts
    assert cfg.scenario.nside_sky == 2 * cfg.scenario.nside


def test_datasets_root_from_env_and_command_line(monkeypatch, tmp_path):
    monkeypatch.setenv("CMBML_DATA_ROOT", str(tmp_path / "env"))
    assert compose("config_sims").local_system.datasets_root == str(tmp_path / "env")
    cfg = compose("config_sims", [f"local_system.datasets_root={tmp_path / 'cli'}"])
    assert cfg.local_system.datasets_root == str(tmp_path / "cli")
    monkeypatch.delenv("CMBML_DATA_ROOT")
    default = compose("config_sims").local_system.datasets_root
    assert default.endswith(os.path.join("data", "datasets"))


@pytest.mark.parametrize("method", ["cnilc", "hilc"])
def test_ilc_presets_at_nside_1024(method):
    """CNILC and HILC resolve at paper_1024, and every needlet scale or multipole bin has a
    channel whose beam passes the beam criterion (the check the ILC makes before any work)."""
    from omegaconf import OmegaConf

    from cmbml.ilc import harmonic_bin_edges, needlet_windows
    from cmbml.ilc.stages.pyilc_predict import ilc_call
    from cmbml.ilc.windows import channels_in_use, tophat_windows
    from cmbml.sims.instrument import load_detectors

    cfg = compose("config_pyilc", ["scenario=paper_1024", f"model/pyilc={method}"])
    model = OmegaConf.to_container(cfg.model.pyilc, resolve=True)
    nside = int(cfg.scenario.nside)
    _, kwargs = ilc_call(model, nside, [100.0] * len(model["detectors"]))
    if method == "cnilc":
        windows = needlet_windows(ellpeaks=kwargs["ellpeaks"])
    else:
        windows = tophat_windows(harmonic_bin_edges(kwargs["bin_size"], kwargs["lmax"]))
    assert windows.shape[1] - 1 <= 3 * nside - 1
    detectors = load_detectors(bands=model["detectors"])
    beams = [d.fwhm_arcmin for d in detectors.values()]
    use = channels_in_use(windows, beams, kwargs["beam_criterion"])
    assert use.any(axis=1).all()
