"""Notebook F (a network method from the PatchNN template, as a package) in a real Jupyter
kernel: before its last cell removes its temporary folder, what it wrote is checked here,
independently of the notebook: the installed method's prediction maps at the tutorial's nside,
its row in the leaderboard beside HILC and PatchNN, and a network that learnt (its final
checkpoint differs from its initial weights and predicts the Valid targets better)."""

import healpy as hp
import numpy as np
import pandas as pd
import torch

from tests.demonstrations.notebooks import DEMO, demo_module, run_notebook

NOTEBOOK = DEMO / "F_adding_a_network_method.ipynb"
NSIDE, EPOCHS, TEST_SIMS = 16, 2, 2  # the notebook's scenario
PATCH = 8  # its model.patchcnn.nside_patch
NETWORK = {"features": 8, "depth": 2, "dropout": 0.1}  # its model.patchcnn.network


def _valid_l1(module, checkpoint, work) -> float:
    """Mean L1 loss of ``checkpoint``'s PatchCNN on the Valid patches the notebook wrote."""
    folder = work / "Preprocessed" / "Valid" / "sim0000"
    features = torch.from_numpy(np.load(folder / "obs_patches.npy"))
    target = torch.from_numpy(np.load(folder / "cmb_patches.npy"))
    network = module.PatchCNN(features.shape[1], **NETWORK)
    network.load_state_dict(checkpoint["model"])
    network.eval()
    with torch.no_grad():
        return float(torch.mean(torch.abs(network(features) - target)))


# one run of the notebook: a small simulation, HILC, PatchNN and PatchCNN trained two epochs,
# their analyses and the leaderboard (nside 16)
def test_network_method_notebook_trains_predicts_and_ranks(tmp_path):
    found = {}

    def inspect():
        (work,) = tmp_path.glob("cmbml_demo_F_*")
        (dataset,) = (work / "data").iterdir()
        found["dataset"] = dataset
        method = dataset / "PatchCNN"
        for sim in range(TEST_SIMS):
            path = method / "Test" / f"sim{sim:04d}" / f"cmb_map_pred_e{EPOCHS:04d}.fits"
            prediction, header = hp.read_map(path, h=True)
            assert dict(header)["NSIDE"] == NSIDE and prediction.size == 12 * NSIDE**2
            assert np.isfinite(prediction).all() and np.std(prediction) > 0
        patches = np.load(method / "Preprocessed" / "Test" / "sim0000" / "obs_patches.npy")
        assert patches.shape[0] == 12 * (NSIDE // PATCH) ** 2 and patches.shape[2:] == (8, 8)

        board = pd.read_csv(dataset / "Comparison" / "matched" / "pixel_comparison.csv")
        assert list(board["model"]) == ["HILC", "PatchNN", "PatchCNN"]
        means = board.set_index("model").filter(like="_mean")
        coverage = means.pop("coverage_1sigma_mean")  # an optional column: sigma maps only
        assert coverage.isna().tolist() == [True, False, False]  # HILC has none
        assert means.shape[1] > 0 and np.isfinite(means.to_numpy(float)).all()

        module = demo_module("patchcnn_method")
        first, last = (
            torch.load(method / "Model" / f"model_e{e:04d}.pt", weights_only=False)
            for e in (0, EPOCHS)
        )
        changed = [
            name
            for name, value in first["model"].items()
            if not torch.equal(value, last["model"][name])
        ]
        assert changed == list(first["model"]), "some parameters did not change in training"
        assert _valid_l1(module, last, method) < 0.9 * _valid_l1(module, first, method)
        log = pd.read_csv(method / "Model" / "train_log.csv")
        assert list(log.epoch) == list(range(1, EPOCHS + 1)) and np.isfinite(log.train_loss).all()

    run_notebook(NOTEBOOK, tmp_path, before_last=inspect)
    assert found, "the notebook's data were not checked"
    assert not found["dataset"].exists()  # removed by the last cell
