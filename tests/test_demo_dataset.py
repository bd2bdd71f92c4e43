"""The shipped demo simulation runs through CNILC and its analysis with nothing simulated."""

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from cmbml.core import compose, run_pipeline

DEMO = Path(__file__).resolve().parents[1] / "assets" / "demo_simulation" / "CMB_ML_64_1-1"


def test_demo_dataset_runs_pyilc_and_analysis(tmp_path):
    shutil.copytree(DEMO, tmp_path / DEMO.name)
    cfg = compose("config_pyilc", ["splits=1-1", f"local_system.datasets_root={tmp_path}"])
    reports = run_pipeline(cfg)
    assert reports["pyilc_predict"].ran == 1
    assert not list((tmp_path / DEMO.name).rglob("Simulation_Working/Sky"))  # nothing simulated
    summary = pd.read_csv(
        tmp_path / DEMO.name / "PyILC_CNILC/Analysis/matched/Summary/Test_pixel_per_sim.csv"
    )
    assert len(summary) == 1
    assert np.isfinite(summary.select_dtypes("number").to_numpy()).all()
    assert 0.9 < summary["r2"].iloc[0] <= 1.0  # CNILC recovers the CMB on the demo sky
