"""Bad configuration and missing files fail early with messages naming the culprit."""

import pytest
from hydra.errors import ConfigCompositionException

from cmbml.core import (
    Catalog,
    CatalogError,
    ConfigError,
    MissingInputError,
    build_stages,
    compose,
    run_pipeline,
)


def test_unknown_override_key_is_named():
    with pytest.raises(ConfigCompositionException, match="scenario.nsid"):
        compose("config_sims", ["scenario.nsid=32"])


def test_unknown_catalog_name_is_named(toy_cfg):
    catalog = Catalog.from_config(toy_cfg())
    with pytest.raises(CatalogError, match="unknown catalog entry 'toy_c'"):
        catalog.path("toy_c", split="Test", sim=0)


def test_missing_placeholder_is_named(toy_cfg):
    catalog = Catalog.from_config(toy_cfg())
    with pytest.raises(CatalogError, match=r"toy_a.*\{sim\}"):
        catalog.path("toy_a", split="Test")
    with pytest.raises(CatalogError, match="no placeholder.*freq"):
        catalog.path("toy_a", split="Test", sim=0, freq=100)


def test_unknown_placeholder_in_template_fails_before_running(toy_cfg, tmp_path):
    cfg = toy_cfg("catalog.toy_a.path='{root}/{dataset}/{detector}/a.npy'")
    with pytest.raises(CatalogError, match=r"unknown placeholder.*\{detector\}"):
        run_pipeline(cfg)
    assert not (tmp_path / "data").exists()  # nothing ran, nothing written


def test_missing_input_names_path_and_producer(toy_cfg):
    with pytest.raises(MissingInputError) as err:
        run_pipeline(toy_cfg("pipeline.only=[toy_read]"))
    message = str(err.value)
    assert "Train/sim0000/a.npy" in message
    assert "stage 'toy_write'" in message and "toy_read" in message


def test_unknown_stage_is_named(toy_cfg):
    with pytest.raises(ConfigError, match="toy_nope"):
        build_stages(toy_cfg(), ["toy_nope"])
    with pytest.raises(ConfigError, match="toy_nope"):
        run_pipeline(toy_cfg("pipeline.only=[toy_nope]"))


def test_missing_stage_config_key_is_named(toy_cfg):
    with pytest.raises(ConfigError, match="config key 'toy'"):
        run_pipeline(toy_cfg("~toy"))


def test_invalid_scenario_is_named(toy_cfg):
    with pytest.raises(ConfigError, match="scenario.nside must be a power of 2"):
        run_pipeline(toy_cfg("scenario.nside=48"))
