"""The all-methods demo at its shipped size: every method learns, the Hybrid beats the ILC it
corrects, the spherical UNet has no face-edge excess and a Monte-Carlo sigma is calibrated.

Slow (several minutes on 2 cores): ``python -m pytest -m slow tests/test_all_methods_demo.py``.
"""

import pandas as pd
import pytest

from tests.test_main_all import run_main_all

NETWORKS = ["CMBNNCS", "PatchNN", "DeepSphere", "Hybrid"]


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    root = tmp_path_factory.mktemp("all_methods")
    run_main_all(root, "--config-name", "config_all_methods", timeout=3600)
    table = pd.read_csv(root / "CMB_ML_64_demo" / "Comparison" / "matched" / "pixel_comparison.csv")
    return table.set_index("model")


@pytest.mark.slow
def test_every_method_learns(board):
    assert list(board.index) == ["CNILC", *NETWORKS]
    assert (board["r2_mean"] >= 0.98).all(), board["r2_mean"].to_dict()


@pytest.mark.slow
def test_hybrid_beats_the_ilc_it_corrects(board):
    assert board.loc["Hybrid", "rmse_mean"] < board.loc["CNILC", "rmse_mean"]


@pytest.mark.slow
def test_spherical_unet_has_no_face_edge_excess(board):
    """Residual power within 2 pixels of the 12 base-face edges over the kept sky's: within
    20 % of 1 for the graph UNet (CMBNNCS's, on the face layout, is reported beside it)."""
    assert board["face_edge_ratio_mean"].notna().all()
    assert 0.8 <= board.loc["DeepSphere", "face_edge_ratio_mean"] <= 1.2


@pytest.mark.slow
def test_a_network_sigma_covers_68_percent(board):
    coverage = board["coverage_1sigma_mean"].dropna()
    assert not coverage.empty
    assert ((coverage - 0.6827).abs() <= 0.05).any(), coverage.to_dict()
