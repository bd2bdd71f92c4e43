"""Method packages (entry points ``cmbml.methods``): an installed package's configs join every
primary config (stages, catalog, its config group, analysis, leaderboard row, main_all's stages);
``methods=`` chooses; a broken declaration is named. The package is pip-installed into a
temporary folder put on ``sys.path`` (tests/test_method_package.py installs it into a venv and
runs the scripts)."""

import sys
from pathlib import Path

import pytest
from hydra.utils import get_class

from cmbml.core import ConfigError, Stage, compose, validate_config
from cmbml.core.methods import ENTRY_POINT_GROUP, installed_methods, register_methods
from tests.method_package import pip_install, write_method_package


@pytest.fixture
def on_path(monkeypatch):
    """Put folders on ``sys.path`` as installed site folders (compose registers what they
    hold); forget them afterwards."""
    yield lambda folder: monkeypatch.syspath_prepend(str(folder))
    monkeypatch.undo()
    register_methods()


def _dist_info(site: Path, dist: str, entry_points: str) -> None:
    """The metadata pip writes for an installed distribution (name, version, entry points)."""
    info = site / f"{dist}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{entry_points}\n")


def test_installed_package_joins_the_configs(tmp_path, on_path):
    project = write_method_package(tmp_path / "project", "onechan", "cmbml_onechan")
    pip_install(Path(sys.executable), project, "--target", str(tmp_path / "site"))
    assert "onechan" not in [m.name for m in installed_methods()]
    on_path(tmp_path / "site")
    [method] = [m for m in installed_methods() if m.name == "onechan"]
    assert method.config_dir == tmp_path / "site" / "cmbml_onechan" / "cfg"
    cfg = compose("config_all")
    assert cfg.model.onechan.band == 143
    assert cfg.catalog.onechan_cmb_map_pred.handler == "healpix_map"
    assert cfg.model.analysis.methods.onechan.beam.fwhm_arcmin == 32.4
    assert dict(cfg.model.analysis.compare.extra_models.onechan) == {
        "model": "OneChannel",
        "working": "OneChannel",
        "epoch": None,
    }
    stages = list(cfg.pipeline.stages)
    assert stages.index("onechan_analysis_summaries") < stages.index("analysis_compare")
    stage = cfg.stages.onechan_predict
    assert stage.working == "OneChannel"
    assert issubclass(get_class(stage._target_), Stage)  # imported from the installed package
    assert compose("config_all", ["model.onechan.band=217"]).model.onechan.band == 217
    without = compose("config_all", ["methods=[]"])
    assert "onechan" not in without.model and "onechan_predict" not in without.stages
    assert list(without.model.analysis.compare.extra_models) == []


def test_bad_declarations_are_named(tmp_path, on_path):
    site = tmp_path / "site"
    _dist_info(site, "cmbml_ghost", "ghost = cmbml_ghost_package")
    on_path(site)
    with pytest.raises(ConfigError, match="ghost = cmbml_ghost_package.*not an importable"):
        installed_methods()
    (site / "cmbml_ghost_package").mkdir()
    with pytest.raises(ConfigError, match=r"no .*cmbml_ghost_package/cfg/methods/ghost\.yaml"):
        compose("config_sims")


def test_entry_config_without_global_package_is_named(tmp_path, on_path):
    project = write_method_package(tmp_path / "project", "nohead", "cmbml_nohead")
    entry = project / "cmbml_nohead" / "cfg" / "methods" / "nohead.yaml"
    entry.write_text(entry.read_text().replace("# @package _global_\n", ""))
    _dist_info(project, "cmbml_nohead", "nohead = cmbml_nohead")
    on_path(project)
    with pytest.raises(ConfigError, match="@package _global_"):
        validate_config(compose("config_sims", ["methods=[nohead]"]))
