"""Leaderboards per test split and the generalisation table, from per-simulation metric rows."""

import numpy as np
import pandas as pd
import pytest

from cmbml.analysis import tables
from cmbml.analysis.generalisation import COLUMNS, generalisation_table
from cmbml.analysis.stages.power_spectra import PS_METRICS
from cmbml.core import Catalog, ConfigError, compose, run_pipeline

PIXEL = ["mae", "mse", "rmse", "nrmse", "psnr", "r2"]
SPLITS = {"Test": 0, "TestF1": 0, "TestFgShift": 3}  # split -> extra error of CMBNNCS there
MODELS = {"CNILC": ("PyILC_CNILC", "none"), "CMBNNCS": ("CMBNNCS", "2")}


def _rows(rng, n, scale):
    """Per-simulation metric rows (3 sims) with errors of ``scale``."""
    frame = pd.DataFrame({m: scale * (1 + 0.1 * rng.random(n)) for m in PIXEL + list(PS_METRICS)})
    frame["r2"] = 1 - 0.01 * scale
    return frame


def _write_summaries(cfg):
    """Each method's pixel and spectrum summaries per split, as the summary stage writes them:
    ``epoch, n_sims, <metric>_mean, <metric>_std, protocol``. CMBNNCS is 4x worse on the shift
    split; CNILC the same everywhere."""
    catalog = Catalog.from_config(cfg)
    rng = np.random.default_rng(0)
    expected = {}
    for split, extra in SPLITS.items():
        for model, (working, epoch) in MODELS.items():
            rows = _rows(rng, 3, 1.0 + (extra if model == "CMBNNCS" else 0))
            rows["epoch"] = epoch
            summary = tables.summarise(rows, list(rows.columns[:-1]))
            summary["protocol"] = "matched"
            expected[(model, split)] = summary
            for kind in ("pixel", "ps"):
                where = {"split": split, "working": working, "scoring": "matched"}
                path = catalog.path(f"analysis_{kind}_summary", **where)
                path.parent.mkdir(parents=True, exist_ok=True)
                summary.to_csv(path, index=False)
    return expected


def _cfg(root, *extra):
    return compose(
        "config_all",
        [
            f"local_system.datasets_root={root}",
            "splits.Test.n_sims=3",
            "+splits.TestF1={n_sims: 3, kind: fixed_spectrum}",
            "+splits.TestFgShift={n_sims: 3, kind: foreground_shift}",
            "+splits.TestEmpty={n_sims: 0, kind: noise_shift}",
            "model.analysis.compare.models.1.epoch=2",
            "pipeline.stages=[analysis_generalisation]",
            *extra,
        ],
    )


def test_generalisation_table_against_hand_computed_ratios(tmp_path):
    cfg = _cfg(tmp_path)
    expected = _write_summaries(cfg)
    assert run_pipeline(cfg)["analysis_generalisation"].ran == 1
    out = tmp_path / cfg.dataset_name / "Comparison" / "matched"
    table = pd.read_csv(out / "generalisation.csv")
    assert list(table.columns) == COLUMNS
    assert set(table["split"]) == {"TestF1", "TestFgShift"}  # not Test, not the empty split
    assert len(table) == 2 * 2 * (len(PIXEL) + len(PS_METRICS))
    for model in MODELS:
        for split in ("TestF1", "TestFgShift"):
            row = table[(table.model == model) & (table.split == split) & (table.metric == "rmse")]
            ref = expected[(model, "Test")]["rmse_mean"].item()
            value = expected[(model, split)]["rmse_mean"].item()
            assert row["in_distribution"].item() == pytest.approx(ref)
            assert row["value"].item() == pytest.approx(value)
            assert row["ratio"].item() == pytest.approx(value / ref)
    shifted = table[(table.split == "TestFgShift") & (table.metric == "rmse")]
    ratios = dict(zip(shifted.model, shifted.ratio, strict=True))
    assert ratios["CMBNNCS"] > 3 and 0.8 < ratios["CNILC"] < 1.25
    md = (out / "generalisation.md").read_text()
    assert "| model | split | metric | in_distribution | value | ratio |" in md
    assert "TestFgShift (foreground_shift)" in md
    for split in SPLITS:
        board = pd.read_csv(out / "splits" / split / "pixel_comparison.csv")
        assert list(board["model"]) == list(MODELS)
        rmse = expected[("CMBNNCS", split)]["rmse_mean"].item()
        assert board.set_index("model").loc["CMBNNCS", "rmse_mean"] == pytest.approx(rmse)
        assert (out / "splits" / split / "ps_comparison.md").is_file()
    assert run_pipeline(cfg)["analysis_generalisation"].ran == 0


def test_missing_in_distribution_split_is_named(tmp_path):
    cfg = _cfg(tmp_path, "model.analysis.compare.split=TestEmpty")
    with pytest.raises(ConfigError, match="'TestEmpty' is not a test split with simulations"):
        run_pipeline(cfg)


def test_blocks_name_the_field():
    board = pd.DataFrame(
        {"field": ["I", "Q"], "model": ["A", "A"], "protocol": "matched", "rmse_mean": [2.0, 1.0]}
    )
    shifted = board.assign(rmse_mean=[3.0, 4.0])
    table = generalisation_table({"Test": board, "TestX": shifted}, "Test", ["rmse"], "field")
    assert list(table["metric"]) == ["rmse (I)", "rmse (Q)"]
    assert list(table["ratio"]) == [1.5, 4.0]
