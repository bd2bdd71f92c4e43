"""The analysis stages end to end on small fake method outputs, then the comparison."""

import shutil
import statistics

import healpy as hp
import matplotlib.image
import numpy as np
import pandas as pd
import pytest
import yaml
from omegaconf import OmegaConf

from cmbml import sphere
from cmbml.analysis.stages.power_spectra import PS_METRICS
from cmbml.core import Catalog, compose, run_pipeline

from .cmbml_format import metrics_by_hand

NSIDE = 16
METHOD_STAGES = ["postprocess", "pixel_metrics", "power_spectra", "summaries"]
STAGES = [
    "analysis_mask",
    *(f"{m}_analysis_{s}" for m in ("pyilc", "cmbnncs") for s in METHOD_STAGES),
]
INPUTS = {  # the ILC's prediction entry, in case the ILC package does not declare it yet
    "pyilc_cmb_map_pred": (
        "{root}/{dataset}/{working}/{split}/sim{sim:04d}/cmb_pred.fits",
        "healpix_map",
    ),
}
PIXEL = ["mae", "mse", "rmse", "nrmse", "psnr", "r2"]


def _group(group, option, config="config_all"):
    """Select a config group option, adding the group if ``config`` does not list it yet."""
    listed = OmegaConf.select(compose(config), group.replace("/", ".")) is not None
    return f"{group}={option}" if listed else f"+{group}={option}"


def _config(root, *extra, stages=(*STAGES, "analysis_compare")):
    overrides = [
        _group("model/analysis", "default"),
        _group("model/cmbnncs", "demo"),
        _group("model/pyilc", "cnilc"),
        f"local_system.datasets_root={root}",
        f"scenario.nside={NSIDE}",
        "splits.Train.n_sims=0",
        "splits.Valid.n_sims=0",
        "splits.Test.n_sims=3",
        "model.analysis.methods.cmbnncs.epochs=[1,2]",
        "model.analysis.compare.models.1.epoch=2",
        "model.analysis.bin_width=8",
        "dataset.pixel_window=true",  # maps written below as cmbml's: with the pixel window
        f"pipeline.stages=[{','.join(stages)}]",
    ]
    for name, (path, handler) in INPUTS.items():
        overrides += [f"++catalog.{name}.path='{path}'", f"++catalog.{name}.handler={handler}"]
    return compose("config_all", overrides + list(extra))


def _write_inputs(cfg, theory_cl, gaussian_alm, cut_masks):
    """Truth maps, masks, spectra and two methods' predictions of known quality."""
    catalog = Catalog.from_config(cfg)

    def put(name, data, **where):
        path = catalog.path(name, **where)
        catalog.handler(name).write(path, data, **catalog.entry(name).options)

    binary, apod = cut_masks(NSIDE)
    put("mask", binary)
    put("mask_apod", apod)
    lmax = 3 * NSIDE - 1
    beam = hp.gauss_beam(np.radians(20.6 / 60), lmax) * sphere.pixel_window(NSIDE)
    rng = np.random.default_rng(5)
    for sim in range(3):
        where = {"split": "Test", "sim": sim}
        ell = np.arange(4 * NSIDE + 1)
        cl = theory_cl[: ell.size]
        table = pd.DataFrame({"ell": ell, "TT": cl, "EE": 0 * cl, "BB": 0 * cl, "TE": 0 * cl})
        put("cmb_spectrum", table, **where)
        alm = gaussian_alm(theory_cl[: lmax + 1], rng)
        truth = hp.alm2map(alm, NSIDE, lmax)
        put("cmb_map", truth, **where)
        # CNILC-like: at the common beam and pixel window, plus noise and an offset
        ilc = hp.alm2map(hp.almxfl(alm, beam), NSIDE, lmax) + rng.normal(0, 1.0, truth.size)
        put("pyilc_cmb_map_pred", ilc + 30.0, working="PyILC_CNILC", **where)
        for epoch, noise in ((1, 60.0), (2, 30.0)):  # unbeamed, epoch 2 better than epoch 1
            pred = truth + rng.normal(0, noise, truth.size)
            put("cmb_map_pred", pred, working="CMBNNCS", epoch=epoch, **where)


@pytest.fixture(scope="module")
def analysed(tmp_path_factory, theory_cl, gaussian_alm, cut_masks):
    root = tmp_path_factory.mktemp("analysis")
    cfg = _config(root)
    _write_inputs(cfg, theory_cl, gaussian_alm, cut_masks)
    reports = run_pipeline(cfg)
    return root / cfg.dataset_name, cfg, reports


def test_every_stage_ran(analysed):
    _, _, reports = analysed
    assert all(reports[s].ran >= 1 for s in STAGES + ["analysis_compare"])


def test_postprocessed_truth_is_shared_and_masked(analysed, cut_masks):
    data, _, _ = analysed
    a = hp.read_map(data / "PyILC_CNILC/Analysis/matched/Test/sim0001/cmb_truth_pp.fits")
    b = hp.read_map(data / "CMBNNCS/Analysis/matched/Test/sim0001/cmb_truth_pp.fits")
    binary, _ = cut_masks(NSIDE)
    np.testing.assert_array_equal(a, b)
    assert np.all(a[binary == 0] == 0) and np.std(a[binary > 0]) > 10.0
    # no monopole or dipole left on the unmasked sky
    vec = np.array(hp.pix2vec(NSIDE, np.flatnonzero(binary)))
    design = np.vstack([np.ones(vec.shape[1]), vec])
    assert np.max(np.abs(design @ a[binary > 0])) < 1e-3 * np.sum(np.abs(a))


@pytest.mark.parametrize(
    "working,kind",
    [("PyILC_CNILC", "pixel"), ("CMBNNCS", "pixel"), ("PyILC_CNILC", "ps"), ("CMBNNCS", "ps")],
)
def test_summary_is_mean_and_std_of_per_sim_rows(analysed, working, kind):
    data, _, _ = analysed
    summary_dir = data / working / "Analysis" / "matched" / "Summary"
    summary = pd.read_csv(summary_dir / f"Test_{kind}_summary.csv", dtype={"epoch": str})
    metrics = PIXEL if kind == "pixel" else list(PS_METRICS)
    per_sim = [
        pd.read_csv(
            data / working / f"Analysis/matched/Test/sim{s:04d}/{kind}_metrics.csv",
            dtype={"epoch": str},
        )
        for s in range(3)
    ]
    assert set(summary["protocol"]) == {"matched"}
    for _, row in summary.iterrows():
        values = {
            m: [t.loc[t["epoch"] == row["epoch"], m].item() for t in per_sim] for m in metrics
        }
        assert row["n_sims"] == 3
        for m in metrics:
            assert row[f"{m}_mean"] == pytest.approx(statistics.fmean(values[m]), rel=1e-12)
            assert row[f"{m}_std"] == pytest.approx(statistics.stdev(values[m]), rel=1e-12)
    md = (summary_dir / f"Test_{kind}_summary.md").read_text()
    assert md.count("**") >= 2 and md.startswith("*") and "Protocol: matched" in md


def test_metrics_rank_the_methods_as_constructed(analysed):
    data, _, _ = analysed
    cmbnncs = pd.read_csv(data / "CMBNNCS/Analysis/matched/Summary/Test_pixel_summary.csv")
    by_epoch = cmbnncs.set_index("epoch")
    assert by_epoch.loc[2, "rmse_mean"] < by_epoch.loc[1, "rmse_mean"]
    ilc = pd.read_csv(data / "PyILC_CNILC/Analysis/matched/Summary/Test_pixel_summary.csv")
    assert list(ilc["epoch"]) == ["none"]
    assert ilc["r2_mean"].item() > 0.95  # the 30 uK offset is removed as a monopole
    assert ilc["rmse_mean"].item() < by_epoch.loc[2, "rmse_mean"]


def test_comparison_leaderboard(analysed):
    data, _, _ = analysed
    board = pd.read_csv(data / "Comparison/matched/pixel_comparison.csv")
    assert list(board.columns) == ["model", "protocol"] + [
        f"{m}_{s}" for m in PIXEL for s in ("mean", "std")
    ]
    assert list(board["model"]) == ["CNILC", "CMBNNCS"]
    assert list(board["protocol"]) == ["matched", "matched"]
    cmbnncs = pd.read_csv(data / "CMBNNCS/Analysis/matched/Summary/Test_pixel_summary.csv")
    assert board.loc[1, "mae_mean"] == pytest.approx(
        cmbnncs.loc[cmbnncs.epoch == 2, "mae_mean"].item()
    )
    md = (data / "Comparison/matched/pixel_comparison.md").read_text().splitlines()
    assert md[0].startswith("*Protocol: matched (")
    assert md[4].startswith("| CNILC | **") and md[5].count("**") == 0  # CNILC best everywhere
    ps = pd.read_csv(data / "Comparison/matched/ps_comparison.csv")
    assert list(ps["model"]) == ["CNILC", "CMBNNCS"]
    ps_md = (data / "Comparison/matched/ps_comparison.md").read_text().splitlines()
    assert ps_md[4].count("**") == 2 * len(PS_METRICS) and "**" not in ps_md[5]
    tex = (data / "Comparison/matched/ps_comparison.tex").read_text()
    assert r"\textbf" in tex and tex.startswith("% Protocol: matched")


def test_figures_are_png_and_pdf(analysed):
    data, _, _ = analysed
    reports = run_pipeline(
        _config(data.parent, "model.analysis.n_show_cap=1", stages=["pyilc_analysis_figures"])
    )
    assert reports["pyilc_analysis_figures"].ran == 1
    figs = [
        "PyILC_CNILC/Analysis/matched/Figures/Test_sim0000_maps_epochnone",
        "PyILC_CNILC/Analysis/matched/Figures/Test_sim0000_ps_epochnone",
        "PyILC_CNILC/Analysis/matched/Figures/Test_pixel_metric_distributions",
        "PyILC_CNILC/Analysis/matched/Figures/Test_ps_metric_distributions",
        "Comparison/matched/spectra_overlay",
    ]
    for stem in figs:
        png, pdf = (data / f"{stem}.png"), (data / f"{stem}.pdf")
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", stem
        assert pdf.read_bytes()[:5] == b"%PDF-", stem
        assert matplotlib.image.imread(png).shape[0] > 100
    assert not (
        data / "PyILC_CNILC/Analysis/matched/Figures/Test_sim0001_maps_epochnone.png"
    ).exists()


def test_missing_method_result_is_a_clear_error(analysed):
    data, cfg, _ = analysed
    bad = _config(
        data.parent,
        "model.analysis.compare.models=[{model: CNILC, working: PyILC_CNILC, epoch: null},"
        "{model: UNetX, working: UNetX_dir, epoch: 7}]",
        stages=["analysis_compare"],
    )
    with pytest.raises(FileNotFoundError, match="UNetX") as err:
        run_pipeline(bad)
    assert "UNetX_dir" in str(err.value) and "Test_pixel_summary.csv" in str(err.value)


def test_compare_runs_from_config_comp_models_and_follows_method_results(analysed, tmp_path):
    """config_comp_models needs no simulation or method config; a changed method summary
    recomputes the leaderboard, an unchanged one is skipped."""
    data, cfg, _ = analysed
    root = tmp_path / "copy"
    shutil.copytree(data, root / cfg.dataset_name)
    comp = compose(
        "config_comp_models",
        [
            _group("model/analysis", "default", config="config_comp_models"),
            f"local_system.datasets_root={root}",
            f"scenario.nside={NSIDE}",
            "splits.Train.n_sims=0",
            "splits.Valid.n_sims=0",
            "splits.Test.n_sims=3",
            "model.analysis.compare.models=[{model: ILC, working: PyILC_CNILC, epoch: null},"
            "{model: NN, working: CMBNNCS, epoch: 2}]",
            "pipeline.stages=[analysis_compare]",
        ],
    )
    assert run_pipeline(comp)["analysis_compare"].ran == 1
    assert run_pipeline(comp)["analysis_compare"].ran == 0
    summary_path = (
        root / cfg.dataset_name / "CMBNNCS/Analysis/matched/Summary/Test_pixel_summary.csv"
    )
    summary = pd.read_csv(summary_path)
    summary["mae_mean"] = 0.0  # the NN now wins MAE
    summary.to_csv(summary_path, index=False)
    assert run_pipeline(comp)["analysis_compare"].ran == 1
    md = (root / cfg.dataset_name / "Comparison/matched/pixel_comparison.md").read_text()
    assert md.splitlines()[5].startswith("| NN | **0 ± ")


def _published_metrics_by_hand(data, cfg, sim, prediction_path, mask):
    """CMB-ML's pixel analysis with healpy and numpy: hp.ma + hp.remove_dipole of each map on
    the kept pixels, then the sklearn/skimage definitions of the metrics."""
    truth = hp.read_map(data / f"Simulation/Test/sim{sim:04d}/cmb_map_fid.fits")
    pred = hp.read_map(prediction_path)
    post = []
    for m in (truth, pred):
        masked = hp.ma(m)
        masked.mask = np.logical_not(mask)
        post.append(hp.remove_dipole(masked).compressed())
    return metrics_by_hand(*post)


@pytest.fixture(scope="module")
def published(analysed):
    data, _, _ = analysed
    opts = ["model.analysis.protocol=published", "model.analysis.mask.source=dataset"]
    cfg = _config(data.parent, *opts)
    reports = run_pipeline(cfg)
    return data, cfg, reports


def test_published_protocol_is_cmb_mls_scoring(published, cut_masks):
    """Published protocol on the dataset's mask (asked for): each method's pixel metrics
    equal CMB-ML's pipeline redone by hand; CNILC, at 20.6 arcmin against the unbeamed truth,
    scores far worse than in the matched protocol, whose results are kept beside."""
    data, cfg, reports = published
    assert reports["analysis_mask"].ran == 1
    info = yaml.safe_load((data / "Analysis_Mask/published/mask_info.yaml").read_text())
    assert info["source"] == "dataset" and info["protocol"] == "published"
    binary, _ = cut_masks(NSIDE)
    for working, name, epoch in (("PyILC_CNILC", "cmb_pred.fits", "none"), ("CMBNNCS", None, 2)):
        rows = pd.read_csv(
            data / working / "Analysis/published/Test/sim0001/pixel_metrics.csv",
            dtype={"epoch": str},
        ).set_index("epoch")
        pred_file = (
            data / working / f"Test/sim0001/{name}"
            if name
            else data / working / "Test/sim0001/cmb_map_pred_e0002.fits"
        )
        expected = _published_metrics_by_hand(data, cfg, 1, pred_file, binary)
        for metric, value in expected.items():
            assert rows.loc[str(epoch), metric] == pytest.approx(value, rel=1e-5), metric
    matched = pd.read_csv(data / "Comparison/matched/pixel_comparison.csv").set_index("model")
    board = pd.read_csv(data / "Comparison/published/pixel_comparison.csv").set_index("model")
    assert set(board["protocol"]) == {"published"}
    assert board.loc["CNILC", "mae_mean"] > 3 * matched.loc["CNILC", "mae_mean"]
    md = (data / "Comparison/published/pixel_comparison.md").read_text()
    assert md.startswith("*Protocol: published (CMB-ML's")


def test_leaderboard_refuses_summaries_of_another_protocol(published, tmp_path):
    data, cfg, _ = published
    root = tmp_path / "copy"
    shutil.copytree(data, root / cfg.dataset_name)
    summary = root / cfg.dataset_name / "CMBNNCS/Analysis/published/Summary/Test_pixel_summary.csv"
    table = pd.read_csv(summary)
    table["protocol"] = "matched"
    table.to_csv(summary, index=False)
    with pytest.raises(ValueError, match="scored with protocol 'matched'.*protocol=published"):
        opts = ["model.analysis.protocol=published", "model.analysis.mask.source=dataset"]
        run_pipeline(_config(root, *opts, stages=["analysis_compare"]))


def test_planck_tmask_is_the_published_mask_and_its_absence_names_the_fetcher(analysed, tmp_path):
    from cmbml.analysis.mask import planck_tmask
    from cmbml.core import MissingInputError
    from tests.sims.planck_files import write_planck_bintable

    data, cfg, _ = analysed
    planck = tmp_path / "COM_CMB_IQU-nilc_2048_R3.00_full.fits"
    lat = np.degrees(np.arcsin(hp.pix2vec(32, np.arange(12 * 32**2))[2]))
    write_planck_bintable(planck, {"TMASK": (np.abs(lat) > 25).astype(float)}, {})
    root = tmp_path / "copy"
    shutil.copytree(data, root / cfg.dataset_name)
    opts = ["model.analysis.protocol=published", f"model.analysis.mask.planck_file={planck}"]
    run_pipeline(_config(root, *opts, stages=["analysis_mask"]))
    mask_dir = root / cfg.dataset_name / "Analysis_Mask/published"
    info = yaml.safe_load((mask_dir / "mask_info.yaml").read_text())
    assert info["source"] == "planck" and info["column"] == "TMASK"
    np.testing.assert_array_equal(hp.read_map(mask_dir / "mask.fits"), planck_tmask(planck, NSIDE))

    gone = ["model.analysis.mask.source=planck", f"model.analysis.mask.planck_file={tmp_path}/no"]
    with pytest.raises(MissingInputError, match="get_data/get_planck_assets.py --only nilc"):
        run_pipeline(_config(root, *gone, stages=["analysis_mask"]))


@pytest.mark.parametrize("protocol", ["published", "iccv2025"])
def test_cmb_ml_protocols_without_the_tmask_fail_unless_the_dataset_mask_is_asked_for(
    analysed, tmp_path, protocol
):
    """No silent fallback to the dataset's mask: CMB-ML's protocols need the Planck TMASK."""
    from cmbml.core import MissingInputError

    data, cfg, _ = analysed
    root = tmp_path / "copy"
    shutil.copytree(data, root / cfg.dataset_name)
    absent = tmp_path / "planck" / "COM_CMB_IQU-nilc_2048_R3.00_full.fits"
    opts = [f"model.analysis.protocol={protocol}", f"model.analysis.mask.planck_file={absent}"]
    with pytest.raises(MissingInputError) as err:
        run_pipeline(_config(root, *opts, stages=["analysis_mask"]))
    for text in (str(absent), "get_data/get_planck_assets.py --only nilc", "mask.source=dataset"):
        assert text in str(err.value)
    run_pipeline(
        _config(root, *opts, "model.analysis.mask.source=dataset", stages=["analysis_mask"])
    )
    info = yaml.safe_load(
        (root / cfg.dataset_name / f"Analysis_Mask/{protocol}/mask_info.yaml").read_text()
    )
    assert info["source"] == "dataset"
