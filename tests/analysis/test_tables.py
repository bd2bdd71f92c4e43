"""Summaries (mean ± sample std) and the cross-method leaderboard."""

import statistics

import pandas as pd
import pytest

from cmbml.analysis import tables


def _rows():
    return pd.DataFrame(
        {
            "sim": [0, 1, 2, 0, 1, 2],
            "epoch": [10, 10, 10, 20, 20, 20],
            "mae": [1.0, 2.0, 4.0, 0.5, 0.7, 0.6],
            "psnr": [30.0, 31.0, 35.0, 40.0, 38.0, 39.5],
        }
    )


def test_summary_equals_mean_and_sample_std_of_rows():
    rows = _rows()
    summary = tables.summarise(rows, ["mae", "psnr"], by="epoch")
    assert list(summary.columns) == [
        "epoch",
        "n_sims",
        "mae_mean",
        "mae_std",
        "psnr_mean",
        "psnr_std",
    ]
    for _, out in summary.iterrows():
        group = rows[rows["epoch"] == out["epoch"]]
        assert out["n_sims"] == len(group)
        for m in ("mae", "psnr"):
            assert out[f"{m}_mean"] == pytest.approx(statistics.fmean(group[m]))
            assert out[f"{m}_std"] == pytest.approx(statistics.stdev(group[m]))  # ddof = 1


def test_summary_markdown_and_latex_bold_best_epoch():
    summary = tables.summarise(_rows(), ["mae", "psnr"], by="epoch")
    md = tables.to_markdown(summary, "epoch").splitlines()
    assert md[0] == "| epoch | mae | psnr |"
    row10, row20 = md[2], md[3]
    # epoch 20 has the lower MAE (0.6 vs 2.33) and the higher PSNR (39.2 vs 32)
    assert row20.count("**") == 4 and "**" not in row10
    assert "0.6 ± 0.1**" in row20
    tex = tables.to_latex(summary, "epoch")
    assert tex.count(r"\textbf") == 2 and r"$\pm$" in tex and r"\end{tabular}" in tex


def _write_method(path, epochs, mae, psnr, protocol="matched"):
    pd.DataFrame(
        {
            "epoch": epochs,
            "protocol": protocol,
            "n_sims": [5] * len(epochs),
            "mae_mean": mae,
            "mae_std": [0.1] * len(epochs),
            "psnr_mean": psnr,
            "psnr_std": [1.0] * len(epochs),
        }
    ).to_csv(path, index=False)


def test_leaderboard_from_two_methods_with_best_in_column(tmp_path):
    _write_method(tmp_path / "a.csv", ["60", "120"], [9.0, 3.0], [20.0, 30.0])
    _write_method(tmp_path / "b.csv", ["none"], [5.0], [33.0])
    board = tables.build_leaderboard(
        [("UNet", tmp_path / "a.csv", 120), ("CNILC", tmp_path / "b.csv", None)],
        ["mae", "psnr"],
        "matched",
    )
    columns = ["model", "protocol", "mae_mean", "mae_std", "psnr_mean", "psnr_std"]
    assert list(board.columns) == columns and set(board["protocol"]) == {"matched"}
    assert list(board["model"]) == ["UNet", "CNILC"]
    assert list(board["mae_mean"]) == [3.0, 5.0]  # epoch 120 of UNet was selected
    assert tables.best_index(board, "mae") == 0  # lower error wins
    assert tables.best_index(board, "psnr") == 1  # higher PSNR wins
    md = tables.to_markdown(board, "model").splitlines()
    assert md[2] == "| UNet | **3 ± 0.1** | 30 ± 1 |"
    assert md[3] == "| CNILC | 5 ± 0.1 | **33 ± 1** |"
    tex = tables.to_latex(board, "model").splitlines()
    assert r"UNet & \textbf{3 $\pm$ 0.1} & 30 $\pm$ 1 \\" in tex
    assert r"CNILC & 5 $\pm$ 0.1 & \textbf{33 $\pm$ 1} \\" in tex
    caption = tables.protocol_caption("published")
    assert caption.startswith("Protocol: published (CMB-ML's: each prediction at its own beam")
    md = tables.to_markdown(board, "model", caption=caption).splitlines()
    assert md[:2] == [f"*{caption}*", ""] and md[4] == "| UNet | **3 ± 0.1** | 30 ± 1 |"
    assert tables.to_latex(board, "model", caption=caption).startswith(f"% {caption}\n")
    with pytest.raises(ValueError, match="scored with protocol 'matched'"):
        tables.build_leaderboard([("UNet", tmp_path / "a.csv", 120)], ["mae"], "published")


def test_higher_is_better_by_metric_suffix():
    assert tables.higher_is_better("psnr") and tables.higher_is_better("r2")
    assert not tables.higher_is_better("theory_rmse") and not tables.higher_is_better("mae")


def test_missing_method_result_names_method_and_file(tmp_path):
    _write_method(tmp_path / "a.csv", ["120"], [3.0], [30.0])
    missing = tmp_path / "nowhere" / "summary.csv"
    with pytest.raises(FileNotFoundError, match="CNILC") as err:
        tables.build_leaderboard(
            [("UNet", tmp_path / "a.csv", 120), ("CNILC", missing, None)], ["mae"], "matched"
        )
    assert str(missing) in str(err.value)
    with pytest.raises(ValueError, match=r"UNet.*epoch '7'.*\['120'\]"):
        tables.build_leaderboard([("UNet", tmp_path / "a.csv", 7)], ["mae"], "matched")
    with pytest.raises(ValueError, match="r2_mean"):
        tables.build_leaderboard([("UNet", tmp_path / "a.csv", 120)], ["r2"], "matched")


def _write_fields(path, fields, mae, protocol="matched"):
    pd.DataFrame(
        {
            "epoch": ["none"] * len(fields),
            "field": fields,
            "protocol": protocol,
            "n_sims": [3] * len(fields),
            "mae_mean": mae,
            "mae_std": [0.1] * len(fields),
        }
    ).to_csv(path, index=False)


def test_summary_per_epoch_and_field():
    rows = pd.concat([_rows().assign(field="I"), _rows().assign(field="Q", mae=_rows()["mae"] * 2)])
    summary = tables.summarise(rows, ["mae"], by=["epoch", "field"])
    assert list(summary.columns[:3]) == ["epoch", "field", "n_sims"]
    assert list(zip(summary["epoch"], summary["field"], strict=True)) == [
        (10, "I"),
        (20, "I"),
        (10, "Q"),
        (20, "Q"),
    ]
    assert summary["mae_mean"].tolist() == pytest.approx([7 / 3, 0.6, 14 / 3, 1.2])


def test_polarised_leaderboard_has_a_block_per_field(tmp_path):
    """An I, Q, U method beside an intensity-only one: the I block ranks both, the Q, U and P
    blocks list the polarised method only; best values are bold within each block."""
    _write_fields(tmp_path / "ilc.csv", ["I", "Q", "U", "P"], [5.0, 0.4, 0.5, 0.6])
    _write_method(tmp_path / "nn.csv", ["none"], [3.0], [30.0])  # no field column: I only
    board = tables.build_leaderboard(
        [("CNILC", tmp_path / "ilc.csv", None), ("NN", tmp_path / "nn.csv", None)],
        ["mae"],
        "matched",
        block="field",
    )
    assert list(board.columns) == ["field", "model", "protocol", "mae_mean", "mae_std"]
    assert list(zip(board["field"], board["model"], strict=True)) == [
        ("I", "CNILC"),
        ("I", "NN"),
        ("Q", "CNILC"),
        ("U", "CNILC"),
        ("P", "CNILC"),
    ]
    md = tables.to_markdown(board, "model", caption="Protocol: matched.", block="field")
    lines = md.splitlines()
    assert lines[:2] == ["*Protocol: matched.*", ""]
    assert [line for line in lines if line.startswith("**")] == ["**I**", "**Q**", "**U**", "**P**"]
    i_block = lines[lines.index("**I**") + 2 : lines.index("**Q**") - 1]
    assert i_block[2:] == ["| CNILC | 5 ± 0.1 |", "| NN | **3 ± 0.1** |"]
    q_block = lines[lines.index("**Q**") + 2 : lines.index("**U**") - 1]
    assert q_block[2:] == ["| CNILC | **0.4 ± 0.1** |"]
    titles = {"Q": "Q (uK_CMB)"}
    md = tables.to_markdown(board, "model", block="field", block_titles=titles)
    assert "**Q (uK_CMB)**" in md.splitlines()
    tex = tables.to_latex(board, "model", block="field")
    assert tex.count(r"\multicolumn{2}{l}{\textit{") == 4
    assert r"NN & \textbf{3 $\pm$ 0.1} \\" in tex and tex.count(r"\textbf") == 4
    # without the block, intensity-only summaries give the intensity-only table
    plain = tables.build_leaderboard([("NN", tmp_path / "nn.csv", None)], ["mae"], "matched")
    assert list(plain.columns) == ["model", "protocol", "mae_mean", "mae_std"]
    same = tables.build_leaderboard(
        [("NN", tmp_path / "nn.csv", None)], ["mae"], "matched", block="field"
    )
    pd.testing.assert_frame_equal(same, plain)


def test_leaderboard_optional_metrics_blank_where_a_method_lacks_them(tmp_path):
    """Coverage (a network's σ) and the face-edge ratio are extra columns: a method without
    them gets a blank cell, and the best is the value closest to its ideal (68.27 %, 1)."""
    _write_method(tmp_path / "ilc.csv", ["none"], [5.0], [33.0])
    net = pd.read_csv(tmp_path / "ilc.csv").assign(epoch="10")
    wide = net.assign(
        coverage_1sigma_mean=0.80,
        coverage_1sigma_std=0.01,
        face_edge_ratio_mean=1.9,
        face_edge_ratio_std=0.2,
    )
    wide.to_csv(tmp_path / "a.csv", index=False)
    wide.assign(coverage_1sigma_mean=0.70, face_edge_ratio_mean=0.95).to_csv(
        tmp_path / "b.csv", index=False
    )
    board = tables.build_leaderboard(
        [
            ("CNILC", tmp_path / "ilc.csv", None),
            ("UNetA", tmp_path / "a.csv", 10),
            ("UNetB", tmp_path / "b.csv", 10),
        ],
        ["mae"],
        "matched",
        optional_metrics=["coverage_1sigma", "face_edge_ratio"],
    )
    assert list(board.columns)[-4:] == [
        "coverage_1sigma_mean",
        "coverage_1sigma_std",
        "face_edge_ratio_mean",
        "face_edge_ratio_std",
    ]
    assert board["coverage_1sigma_mean"].isna().tolist() == [True, False, False]
    assert tables.best_index(board, "coverage_1sigma") == 2  # |0.70 - 0.6827| < |0.80 - 0.6827|
    assert tables.best_index(board, "face_edge_ratio") == 2  # 0.95 is closer to 1 than 1.9
    md = tables.to_markdown(board, "model").splitlines()
    assert md[2] == "| CNILC | **5 ± 0.1** | – | – |"
    assert md[4] == "| UNetB | 5 ± 0.1 | **0.7 ± 0.01** | **0.95 ± 0.2** |"
    with pytest.raises(ValueError, match="lacks column"):
        tables.build_leaderboard(
            [("CNILC", tmp_path / "ilc.csv", None)], ["coverage_1sigma"], "matched"
        )
