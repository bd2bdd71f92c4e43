"""main_all.py end to end at tiny size: both methods reach the leaderboard with finite metrics."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]


def test_main_all_tiny(tmp_path):
    overrides = [
        "scenario.nside=32",
        "splits.Train.n_sims=3",
        "splits.Valid.n_sims=2",
        "splits.Test.n_sims=2",
        "num_epochs=1",
        f"local_system.datasets_root={tmp_path}",
    ]
    proc = subprocess.run(
        [sys.executable, str(REPO / "main_all.py"), *overrides],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    comparison = tmp_path / "CMB_ML_32_demo" / "Comparison" / "matched"
    assert str(comparison / "pixel_comparison.md") in proc.stdout
    for table in ("pixel_comparison", "ps_comparison"):
        frame = pd.read_csv(comparison / f"{table}.csv")
        assert list(frame["model"]) == ["CNILC", "CMBNNCS"]
        assert set(frame["protocol"]) == {"matched"}
        values = frame.drop(columns=["model", "protocol"]).to_numpy(dtype=float)
        assert np.isfinite(values).all()
        assert (comparison / f"{table}.md").read_text().count("**") > 0
    assert (comparison / "spectra_overlay.png").stat().st_size > 0
