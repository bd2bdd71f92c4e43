"""Method packages (entry points ``cmbml.methods``): an installed package's configs join every
primary config (stages, catalog, its config group, analysis, leaderboard row, main_all's stages);
``methods=`` chooses; a broken declaration is named. The package (docs/adding-a-method.md) is
pip-installed into a temporary folder put on ``sys.path``; tests/test_method_package.py installs
it into a venv and runs the scripts."""

import sys
from pathlib import Path

import pytest
from hydra.utils import get_class

from cmbml.core import ConfigError, Stage, compose, validate_config
from cmbml.core.methods import ENTRY_POINT_GROUP, installed_methods, register_methods
from tests.method_package import pip_install, write_method_package

PACKAGE = "cmbml_onechannel"


@pytest.fixture
def on_path(monkeypatch, tmp_path):
    """Put folders on ``sys.path`` as installed site folders (compose registers what they
    hold); afterwards forget them and the modules imported from them."""
    yield lambda folder: monkeypatch.syspath_prepend(str(folder))
    monkeypatch.undo()
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(str(tmp_path)):
            del sys.modules[name]
    register_methods()


def _dist_info(site: Path, dist: str, entry_points: str) -> None:
    """The metadata pip writes for an installed distribution (name, version, entry points)."""
    info = site / f"{dist}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{entry_points}\n")


def test_installed_package_joins_the_configs(tmp_path, on_path):
    project = write_method_package(tmp_path)
    pip_install(Path(sys.executable), project, "--target", str(tmp_path / "site"))
    assert "onechannel" not in [m.name for m in installed_methods()]
    on_path(tmp_path / "site")
    [method] = [m for m in installed_methods() if m.name == "onechannel"]
    assert method.config_dir == tmp_path / "site" / PACKAGE / "cfg"
    cfg = compose("config_all")
    assert dict(cfg.model.onechannel) == {"band": 143, "fwhm_arcmin": 20.6}
    assert cfg.catalog.onechannel_cmb_map_pred.handler == "healpix_map"
    assert cfg.model.analysis.methods.onechannel.beam.fwhm_arcmin == 20.6
    assert dict(cfg.model.analysis.compare.extra_models.onechannel) == {
        "model": "OneChannel",
        "working": "OneChannel",
        "epoch": None,
    }
    stages = list(cfg.pipeline.stages)
    assert stages.index("onechannel_analysis_figures") < stages.index("analysis_compare")
    stage = cfg.stages.onechannel_predict
    assert stage.working == "OneChannel"
    assert issubclass(get_class(stage._target_), Stage)  # imported from the installed package
    assert compose("config_all", ["model.onechannel.band=217"]).model.onechannel.band == 217
    without = compose("config_all", ["methods=[]"])
    assert "onechannel" not in without.model and "onechannel_predict" not in without.stages
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
    project = write_method_package(tmp_path)
    entry = project / PACKAGE / "cfg" / "methods" / "onechannel.yaml"
    entry.write_text(entry.read_text().replace("# @package _global_\n", ""))
    _dist_info(project, "cmbml_onechannel", f"onechannel = {PACKAGE}")
    on_path(project)
    with pytest.raises(ConfigError, match="@package _global_"):
        validate_config(compose("config_sims", ["methods=[onechannel]"]))
