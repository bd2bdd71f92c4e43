"""A method package pip-installed into a virtual environment runs end to end through the
scripts: its stage runs in main_all.py's pipeline and its prediction reaches the leaderboard
of main_all.py and main_analysis_compare.py, beside HILC (tiny: nside 16, one Test simulation).
"""

import os
import re
import subprocess
from pathlib import Path

import healpy as hp
import numpy as np
import pandas as pd

from cmbml.core.handlers import get_handler
from tests.method_package import layered_venv, pip_install, write_method_package
from tests.sims.fiducial import SIMS_STAGES

REPO = Path(__file__).resolve().parents[1]
SIMS = [*SIMS_STAGES, "make_mask"]
ANALYSIS = ["postprocess", "pixel_metrics", "power_spectra", "summaries"]
METHOD = ["onechannel_predict", *(f"onechannel_analysis_{s}" for s in ANALYSIS)]
BEAMS = {"native": 32.4, "common": 20.6}  # arcmin: 143 GHz (assets/instrument), the prediction
HILC = ["pyilc_predict", "analysis_mask", *(f"pyilc_analysis_{s}" for s in ANALYSIS)]
TINY = [
    "scenario.nside=16",
    "scenario.nside_sky=32",
    "splits=1-1",
    "model.sim.cmb.camb_accuracy=temperature",
    "model/pyilc=hilc",
    "model.analysis.compare.models=[{model: HILC, working: PyILC_HILC, epoch: null}]",
]


def _script(python: Path, script: str, root: Path, *overrides: str) -> dict[str, int]:
    """Run ``script`` with ``python``; return the units each stage computed."""
    proc = subprocess.run(
        [str(python), str(REPO / script), *TINY, f"local_system.datasets_root={root}", *overrides],
        cwd=root.parent,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    found = re.findall(r"stage (\w+): (\d+) to compute", proc.stdout)
    return {name: int(ran) for name, ran in found}


# a venv, a pip install and two script runs (~30 s idle, ~60 s loaded)
def test_installed_method_runs_through_the_scripts_to_the_leaderboard(tmp_path):
    project = write_method_package(tmp_path)
    python = layered_venv(tmp_path / "venv")
    pip_install(python, project)
    root = tmp_path / "data"
    # main_all.py's own stage list (pipeline.only must name stages of it): the method is in it
    compare = ["analysis_compare", "analysis_generalisation", "analysis_report"]
    stages = [*SIMS, *HILC, *METHOD, *compare]
    only = f"pipeline.only=[{','.join(stages)}]"
    ran = _script(python, "main_all.py", root, only)
    assert ran["onechannel_predict"] == 1 and ran["onechannel_analysis_summaries"] == 1
    assert ran["analysis_compare"] == 1 and ran["analysis_report"] == 1
    dataset = root / "CMB_ML_16_1-1"
    read = get_handler("healpix_map").read
    prediction = read(dataset / "OneChannel" / "Test" / "sim0000" / "cmb_map_pred.fits")
    observed = read(dataset / "Simulation" / "Test" / "sim0000" / "obs_143_map.fits", field=0)
    np.testing.assert_allclose(prediction, _rebeamed(observed), atol=1e-6 * np.abs(observed).max())
    board = pd.read_csv(dataset / "Comparison" / "matched" / "pixel_comparison.csv")
    assert list(board["model"]) == ["HILC", "OneChannel"]
    means = board.set_index("model").filter(like="_mean")
    assert np.isfinite(means.to_numpy(float)).all()
    # one raw channel keeps its foregrounds and noise: the ILC beats it
    assert means.loc["OneChannel", "mae_mean"] > means.loc["HILC", "mae_mean"]
    # the HTML report lists the installed method's provenance beside HILC's
    page = (dataset / "Comparison" / "report.html").read_text()
    assert "onechannel_predict" in page and "pyilc_predict" in page
    # the comparison script sees the same leaderboard rows: nothing to recompute
    assert _script(python, "main_analysis_compare.py", root) == {
        "analysis_compare": 0,
        "analysis_generalisation": 0,
        "analysis_report": 0,
    }
    # and without the installed methods (methods=[]) it compares HILC alone
    assert _script(python, "main_analysis_compare.py", root, "methods=[]") == {
        "analysis_compare": 1,
        "analysis_generalisation": 1,
        "analysis_report": 1,
    }
    board = pd.read_csv(dataset / "Comparison" / "matched" / "pixel_comparison.csv")
    assert list(board["model"]) == ["HILC"]


def _rebeamed(observed: np.ndarray) -> np.ndarray:
    """``observed`` from the 143 GHz beam to the common beam, with healpy (nside 16)."""
    lmax = 3 * 16 - 1
    ratio = hp.gauss_beam(np.radians(BEAMS["common"] / 60), lmax) / hp.gauss_beam(
        np.radians(BEAMS["native"] / 60), lmax
    )
    alm = hp.almxfl(hp.map2alm(observed, lmax, iter=3), ratio)
    return hp.alm2map(alm, 16, lmax)
