"""Reruns of the real pipeline after a change: exactly what depends on it recomputes, within the
same run, a run killed while recomputing under another config leaves nothing mixed behind, the
training does not depend on what ran before it in the process, and the analysis refuses a
prediction in another unit, made at another beam or older than its inputs.

One tiny dataset (nside 32, Train 2 / Valid 1 / Test 2, one CMBNNCS epoch) is made once through
``config_all``; each test works on a copy (mtimes kept, so the copy is up to date).
"""

import filecmp
import os
import shutil
import subprocess
import sys
from pathlib import Path

import healpy as hp
import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from cmbml.core import BadInputError, compose, run_pipeline
from tests.core.crash_run import products, run_killed

DATASET = "CMB_ML_32_demo"
TINY = [
    "scenario.nside=32",
    "splits.Train.n_sims=2",
    "splits.Valid.n_sims=1",
    "splits.Test.n_sims=2",
    "num_epochs=1",
    "model.cmbnncs.batch_size=2",
    # CAMB's quickest setting: this file checks reruns, tests/sims the spectra
    "model.sim.cmb.camb_accuracy=temperature",
]


def _cfg(root: Path, *extra: str, config: str = "config_all"):
    return compose(config, [*TINY, f"local_system.datasets_root={root}", *extra])


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("all")
    run_pipeline(_cfg(root))
    return root


@pytest.fixture
def copy(dataset, tmp_path) -> Path:
    root = tmp_path / "data"
    shutil.copytree(dataset, root)
    return root


def _ran(reports) -> dict[str, int]:
    return {name: r.ran for name, r in reports.items()}


def _board(root: Path) -> pd.DataFrame:
    path = root / DATASET / "Comparison" / "matched" / "pixel_comparison.csv"
    return pd.read_csv(path).set_index("model")


def _summary(root: Path, working: str) -> pd.DataFrame:
    path = root / DATASET / working / "Analysis" / "matched" / "Summary" / "Test_pixel_summary.csv"
    return pd.read_csv(path)


def test_up_to_date_dataset_recomputes_nothing(copy):
    assert set(_ran(run_pipeline(_cfg(copy))).values()) == {0}


def test_retraining_recomputes_that_method_and_the_leaderboard_in_the_same_run(copy):
    before = _board(copy)
    ran = _ran(run_pipeline(_cfg(copy, "model.cmbnncs.lr=0.02")))
    assert ran["cmbnncs_train"] == 1 and ran["cmbnncs_predict"] == 1
    for stage in ("postprocess", "pixel_metrics", "power_spectra"):
        assert ran[f"cmbnncs_analysis_{stage}"] == 2, stage  # this method's analysis ...
        assert ran[f"pyilc_analysis_{stage}"] == 0, stage  # ... and not the other's
    assert ran["cmbnncs_analysis_summaries"] == 1 and ran["analysis_compare"] == 1
    board, summary = _board(copy), _summary(copy, "CMBNNCS")
    assert board.loc["CMBNNCS", "mae_mean"] == pytest.approx(summary["mae_mean"].iloc[0])
    assert board.loc["CMBNNCS", "mae_mean"] != pytest.approx(before.loc["CMBNNCS", "mae_mean"])
    assert board.loc["CNILC", "mae_mean"] == before.loc["CNILC", "mae_mean"]


def test_growing_the_test_split_recomputes_whole_dataset_stages(copy):
    ran = _ran(run_pipeline(_cfg(copy, "splits.Test.n_sims=3")))
    assert ran["make_sky"] == 1 and ran["pyilc_predict"] == 1
    assert ran["cmbnncs_train"] == 0  # Train and Valid did not change
    assert ran["cmbnncs_predict"] == 1 and ran["cmbnncs_postprocess"] == 1
    assert ran["pyilc_analysis_summaries"] == 1 and ran["cmbnncs_analysis_summaries"] == 1
    summary = copy / DATASET / "CMBNNCS" / "Analysis" / "matched" / "Summary"
    table = summary / "Test_pixel_per_sim.csv"
    assert sorted(pd.read_csv(table)["sim"]) == [0, 1, 2]
    assert ran["analysis_compare"] == 1


def _simulation_products(root: Path) -> dict[str, Path]:
    folder = root / DATASET
    return {
        str(p.relative_to(folder)): p
        for part in ("Simulation", "Simulation_Working")
        for p in sorted((folder / part).rglob("*"))
        if p.is_file()
    }


def test_run_killed_under_another_noise_config_leaves_no_mixed_dataset(copy, dataset):
    spec = {
        "config": "config_sims",
        "overrides": [
            *TINY,
            f"local_system.datasets_root={copy}",
            "model.sim.noise.scan_depth.contrast=2.0",
        ],
        "match": "obs_",
        "nth": 12,  # the third detector of the second Train simulation
        "phase": "renamed",
    }
    run_killed(spec, 600)
    ran = _ran(run_pipeline(_cfg(copy, config="config_sims")))
    assert ran["make_noise_model"] == 1 and ran["make_observations"] >= 1
    got, want = _simulation_products(copy), _simulation_products(dataset)
    assert got.keys() == want.keys()
    assert not [k for k in want if not filecmp.cmp(got[k], want[k], shallow=False)]


def test_alternating_methods_and_protocols_keep_each_others_results(copy):
    """CNILC and HILC, matched and published write to different folders: each keeps its
    manifests, so switching back recomputes nothing."""
    published = ["model.analysis.protocol=published", "model.analysis.mask.source=dataset"]
    for extra in (["model/pyilc=hilc"], published):
        first = _ran(run_pipeline(_cfg(copy, *extra, config="config_pyilc")))
        assert first["pyilc_analysis_summaries"] == 1
        back = _ran(run_pipeline(_cfg(copy, config="config_pyilc")))
        assert set(back.values()) == {0}, back
        again = _ran(run_pipeline(_cfg(copy, *extra, config="config_pyilc")))
        assert set(again.values()) == {0}, again


def _training(root: Path) -> tuple[dict, bytes]:
    import torch

    model = root / DATASET / "CMBNNCS" / "Model"
    checkpoints = {p.name: torch.load(p, weights_only=True) for p in sorted(model.glob("*.pt"))}
    return checkpoints, (model / "train_log.csv").read_bytes()


def _assert_equal(a, b, where: str = "") -> None:
    """Equal bit for bit: tensors by value and dtype, containers item by item."""
    import torch

    if isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            _assert_equal(a[key], b[key], f"{where}/{key}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_equal(x, y, f"{where}[{i}]")
    else:
        assert a == b or (a != a and b != b), where  # NaN (no validation loss) equals NaN


def _run_in_fresh_process(root: Path, *extra: str) -> None:
    code = "import sys; from tests.test_rerun import _cfg, run_pipeline; "
    code += "run_pipeline(_cfg(sys.argv[1], *sys.argv[2:]))"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    subprocess.run([sys.executable, "-c", code, str(root), *extra], check=True, env=env)


def test_training_after_other_stages_equals_training_in_a_fresh_process(copy):
    """CAMB (make_cmb_spectra) changes OpenMP's thread count, which torch shares; the ILC runs
    the spherical transforms on threads. The training after either, in this process, equals
    the training alone in a fresh process, bit for bit."""
    _run_in_fresh_process(copy, "pipeline.force=true", "pipeline.only=[cmbnncs_train]")
    alone, log = _training(copy)
    assert len(alone) == 2  # epochs 0 and 1
    for before in ("make_cmb_spectra", "pyilc_predict"):
        only = f"pipeline.only=[{before},cmbnncs_train]"
        run_pipeline(_cfg(copy, "pipeline.force=true", only))
        checkpoints, other_log = _training(copy)
        _assert_equal(checkpoints, alone, before)
        assert other_log == log, before


ANALYSE_CNILC = "pipeline.only=[pyilc_analysis_postprocess]"


def _cnilc_prediction(root: Path) -> Path:
    return root / DATASET / "PyILC_CNILC" / "Test" / "sim0000" / "cmb_map_pred.fits"


def test_a_prediction_in_another_unit_is_refused_naming_file_and_unit(copy):
    path = _cnilc_prediction(copy)
    kelvin = hp.read_map(path, field=None) * 1e-6
    hp.write_map(path, kelvin, column_units="K_CMB", dtype=np.float32, overwrite=True)
    with pytest.raises(BadInputError, match="'K_CMB', expected 'uK_CMB'") as err:
        run_pipeline(_cfg(copy, ANALYSE_CNILC))
    assert str(path) in str(err.value)


def test_a_prediction_made_at_another_beam_is_refused_naming_the_setting(copy):
    run_pipeline(_cfg(copy, "model.pyilc.output_fwhm_arcmin=0", "pipeline.only=[pyilc_predict]"))
    header = fits.getheader(_cnilc_prediction(copy), 1)
    assert header["BEAMFWHM"] == 0.0 and header["PIXWIN"] is True
    with pytest.raises(BadInputError) as err:
        run_pipeline(_cfg(copy, ANALYSE_CNILC))
    message = str(err.value)
    assert str(_cnilc_prediction(copy)) in message
    assert "0 arcmin" in message and "20.6 arcmin" in message
    assert "model.analysis.methods.pyilc.beam" in message
    assert "python main_pyilc_predict.py" in message
    ran = _ran(run_pipeline(_cfg(copy, "model.pyilc.output_fwhm_arcmin=0", ANALYSE_CNILC)))
    assert ran["pyilc_analysis_postprocess"] == 2  # analysed as it was made


def test_a_prediction_older_than_its_inputs_is_refused_naming_the_stage(copy):
    """An observed map replaced by one with UNSEEN pixels: the ILC refuses it, and the analysis
    then refuses the prediction written from the former map."""
    obs = copy / DATASET / "Simulation" / "Test" / "sim0000" / "obs_100_map.fits"
    maps = hp.read_map(obs, field=None)
    maps[..., 5] = hp.UNSEEN
    hp.write_map(obs, maps, column_units="uK_CMB", dtype=np.float32, overwrite=True)
    with pytest.raises(BadInputError, match="UNSEEN") as err:
        run_pipeline(_cfg(copy, "pipeline.only=[pyilc_predict]"))
    assert str(obs) in str(err.value)
    with pytest.raises(BadInputError) as err:
        run_pipeline(_cfg(copy, ANALYSE_CNILC))
    message = str(err.value)
    assert str(_cnilc_prediction(copy)) in message
    assert "pyilc_predict" in message and "python main_pyilc_predict.py" in message


@pytest.mark.slow
def test_every_stage_after_a_disturbed_process_equals_a_fresh_process(tmp_path):
    """The whole pipeline, forced, in this process after its thread count, global generators,
    default dtype and torch flags were changed, rewrites the dataset of a fresh process: every
    simulation and CMBNNCS product equal (checkpoints tensor for tensor, other files byte for
    byte). The ILC's maps were seen to differ in their last float32 bit between two runs on a
    loaded machine, also without any disturbance: they are compared to 1e-4 uK, and what is
    derived from them (their analysis, the leaderboard) is left out."""
    import torch

    from tests.core.test_numeric import _pollute

    fresh = tmp_path / "fresh"
    _run_in_fresh_process(fresh)
    threads, dtype = torch.get_num_threads(), torch.get_default_dtype()
    try:
        _pollute()
        run_pipeline(_cfg(tmp_path / "here"))
    finally:
        torch.set_num_threads(threads)
        torch.set_default_dtype(dtype)
        torch.backends.cudnn.benchmark = False
        torch.set_float32_matmul_precision("highest")
    got, want = products(tmp_path / "here" / DATASET), products(fresh / DATASET)
    assert got.keys() == want.keys()
    for key, path in want.items():
        if path.suffix == ".pt":
            _assert_equal(torch.load(got[key], weights_only=True), torch.load(path), key)
        elif key.startswith("PyILC_CNILC/Test/"):
            diff = hp.read_map(got[key], field=None) - hp.read_map(path, field=None)
            assert np.abs(diff).max() < 1e-4, key
        elif not key.startswith(("PyILC_CNILC/", "Comparison/")):
            assert filecmp.cmp(got[key], path, shallow=False), key
