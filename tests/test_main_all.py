"""main_all.py end to end at tiny size: both methods reach the leaderboard with finite metrics,
in temperature (scenario demo) and in I, Q, U (scenario demo_pol)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from cmbml.core.handlers import get_handler

REPO = Path(__file__).resolve().parents[1]
TINY = ["scenario.nside=32", "splits.Test.n_sims=2", "num_epochs=1"]


def run_main_all(root: Path, *args: str, timeout: float = 1200) -> str:
    """Run ``main_all.py *args`` with its datasets under ``root``; return its standard output
    (the test fails with the end of its standard error if it fails)."""
    proc = subprocess.run(
        [sys.executable, str(REPO / "main_all.py"), *args, f"local_system.datasets_root={root}"],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def _main_all(tmp_path: Path, *overrides: str) -> str:
    """Run main_all.py at tiny size under ``tmp_path``; return its standard output."""
    return run_main_all(tmp_path, *TINY, *overrides)


def test_main_all_tiny(tmp_path):
    stdout = _main_all(tmp_path, "splits.Train.n_sims=3", "splits.Valid.n_sims=2")
    comparison = tmp_path / "CMB_ML_32_demo" / "Comparison" / "matched"
    assert str(comparison / "pixel_comparison.md") in stdout
    for table in ("pixel_comparison", "ps_comparison"):
        frame = pd.read_csv(comparison / f"{table}.csv")
        assert list(frame["model"]) == ["CNILC", "CMBNNCS"]
        assert set(frame["protocol"]) == {"matched"}
        values = frame.drop(columns=["model", "protocol"]).to_numpy(dtype=float)
        assert np.isfinite(values).all()
        assert (comparison / f"{table}.md").read_text().count("**") > 0
    assert (comparison / "spectra_overlay.png").stat().st_size > 0
    report = comparison.parent / "report.html"
    assert f"Report (open in a browser): {report}" in stdout
    assert all(f'<td class="text">{model}</td>' in report.read_text() for model in frame["model"])


def test_main_all_demo_pol_tiny(tmp_path):
    _main_all(
        tmp_path,
        "scenario=demo_pol",
        "splits.Train.n_sims=3",
        "splits.Valid.n_sims=1",
        "model.cmbnncs.batch_size=2",
        "model.sim.cmb.camb_accuracy=temperature",
    )
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
