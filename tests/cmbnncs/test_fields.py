"""``model.cmbnncs.fields``: which Stokes fields CMBNNCS cleans, and clear errors for bad ones."""

import pytest

from cmbml.cmbnncs.stages._common import stokes_fields
from cmbml.core import BadInputError, ConfigError, compose, run_pipeline
from tests.cmbnncs.tiny import IQU, make_cfg, write_sims


@pytest.mark.parametrize(
    ("map_fields", "spec", "expected"),
    [
        ("I", "auto", ["I"]),
        ("IQU", "auto", ["I", "Q", "U"]),
        ("IQU", "[I]", ["I"]),
        ("IQU", "[I,Q,U]", ["I", "Q", "U"]),
        ("IQU", "[U,I,Q]", ["I", "Q", "U"]),
        ("I", "[I]", ["I"]),
    ],
)
def test_fields_resolve_from_the_scenario(map_fields, spec, expected):
    cfg = compose(
        "config_cmbnncs", [f"scenario.map_fields={map_fields}", f"model.cmbnncs.fields={spec}"]
    )
    assert stokes_fields(cfg) == expected


def test_shipped_settings_follow_the_scenario():
    for settings in ("demo", "paper"):
        cfg = compose("config_cmbnncs", [f"model/cmbnncs={settings}"])
        assert cfg.model.cmbnncs.fields == "auto"
        assert cfg.model.cmbnncs.scale_features_pol == "train_std"
        assert cfg.model.cmbnncs.scale_target_pol == "match_intensity"


@pytest.mark.parametrize(
    ("map_fields", "spec", "message"),
    [
        ("I", "[I,Q,U]", r"fields.*needs scenario.map_fields=IQU"),
        ("IQU", "[Q,U]", r"fields=\['Q', 'U'\].*expected 'auto', \[I\] or \[I, Q, U\]"),
        ("IQU", "[I,Q]", r"fields=\['I', 'Q'\].*expected"),
        ("IQU", "[I,V]", r"fields=\['I', 'V'\].*expected"),
        ("IQU", "[I,I]", r"fields=\['I', 'I'\].*expected"),
        ("IQU", "all", r"fields='all'.*expected"),
        ("QU", "auto", r"scenario.map_fields must be"),
    ],
)
def test_bad_fields_fail_before_anything_runs(tmp_path, map_fields, spec, message):
    cfg = make_cfg(tmp_path, f"scenario.map_fields={map_fields}", f"model.cmbnncs.fields={spec}")
    with pytest.raises(ConfigError, match=message):
        run_pipeline(cfg)
    assert not (tmp_path / cfg.dataset_name / "CMBNNCS").exists()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.cmbnncs.scale_target_pol=std", r"scale_target_pol='std'.*'train_std' or 'match"),
        ("model.cmbnncs.scale_target_pol=0", "scale_target_pol must be a finite number > 0"),
        ("model.cmbnncs.scale_target=match_intensity", r"scale_target=.*or 'train_std'$"),
        ("model.cmbnncs.scale_features_pol={100:2.0}", "scale_features_pol has no factor"),
    ],
)
def test_bad_polarisation_scales_name_the_key(tmp_path, override, message):
    cfg = make_cfg(tmp_path, *IQU, "pipeline.only=[cmbnncs_scale]", override)
    write_sims(cfg, "IQU")
    with pytest.raises(ConfigError, match=message):
        run_pipeline(cfg)


def test_q_u_need_a_detector_that_measures_them(tmp_path):
    cfg = make_cfg(
        tmp_path, *IQU, "model.cmbnncs.detectors=[545,857]", "pipeline.only=[cmbnncs_scale]"
    )
    with pytest.raises(ConfigError, match=r"none of model.cmbnncs.detectors \[545, 857\].*has_pol"):
        run_pipeline(cfg)


def test_an_intensity_only_truth_in_an_iqu_scenario_names_the_file(tmp_path):
    cfg = make_cfg(tmp_path, *IQU, "pipeline.only=[cmbnncs_scale]")
    write_sims(cfg, "I")  # the CMB truth has the intensity only
    with pytest.raises(BadInputError, match=r"cmb_map_fid.fits.*expected I, Q, U"):
        run_pipeline(cfg)
