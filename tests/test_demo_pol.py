"""main_all.py on scenario=demo_pol at tiny size: CNILC and CMBNNCS clean I, Q, U and the
leaderboard has a block per Stokes field and per spectrum, with finite values."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from cmbml.core.handlers import get_handler

REPO = Path(__file__).resolve().parents[1]


def test_main_all_demo_pol_tiny(tmp_path):
    overrides = [
        "scenario=demo_pol",
        "scenario.nside=32",
        "splits.Train.n_sims=3",
        "splits.Valid.n_sims=1",
        "splits.Test.n_sims=2",
        "num_epochs=1",
        "model.cmbnncs.batch_size=2",
        "model.sim.cmb.camb_accuracy=temperature",
        f"local_system.datasets_root={tmp_path}",
    ]
    proc = subprocess.run(
        [sys.executable, str(REPO / "main_all.py"), *overrides],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    dataset = tmp_path / "CMB_ML_32_demo_IQU"
    for working, name in (
        ("PyILC_CNILC", "cmb_map_pred.fits"),
        ("CMBNNCS", "cmb_map_pred_e0001.fits"),
    ):
        pred = get_handler("healpix_map").read(dataset / working / "Test" / "sim0001" / name)
        assert pred.shape == (3, 12 * 32**2)
    comparison = dataset / "Comparison" / "matched"
    pixel = pd.read_csv(comparison / "pixel_comparison.csv")
    assert set(pixel["model"]) == {"CNILC", "CMBNNCS"}
    assert {"I", "Q", "U"} <= set(pixel["field"])
    ps = pd.read_csv(comparison / "ps_comparison.csv")
    assert {"TT", "EE", "BB", "TE"} <= set(ps["spectrum"])
    for frame in (pixel, ps):
        values = frame.select_dtypes("number").to_numpy(dtype=float)
        assert np.isfinite(values).all()
    board = (comparison / "pixel_comparison.md").read_text()
    assert all(block in board for block in ("I", "Q", "U"))
