"""The analysis of I, Q, U predictions through the pipeline stages.

1. A simulated I, Q, U dataset (the real simulation stages at nside 16, scenario.map_fields=IQU,
   the shipped detector table with its noise levels divided by 10, white noise only), cleaned
   by the real CNILC (pyilc_predict), beside an intensity-only method; every analysis stage and
   the leaderboard run on it.
2. E-only skies (no B mode) through analysis_mask, post-processing and power spectra: the B
   power the mask creates is removed by the spin-2 mode-coupling correction.
"""

import logging
import shutil

import healpy as hp
import numpy as np
import pandas as pd
import pytest

from cmbml import sphere
from cmbml.analysis import master
from cmbml.core import Catalog, ConfigError, compose, run_pipeline
from cmbml.core.pipeline import build_stages
from tests.sims.fiducial import SIMS_STAGES, quiet_detector_table

SIMS = [*SIMS_STAGES, "make_mask"]
METHOD_STAGES = ["postprocess", "pixel_metrics", "power_spectra", "summaries"]
ANALYSIS = [
    "analysis_mask",
    *(f"{m}_analysis_{s}" for m in ("pyilc", "cmbnncs") for s in METHOD_STAGES),
    "analysis_compare",
]
PIXEL = ["mae", "mse", "rmse", "nrmse", "psnr", "r2"]


def _put(catalog, name, data, **where):
    path = catalog.path(name, **where)
    catalog.handler(name).write(path, data, **catalog.entry(name).options)


def _compose_iqu(root, table, stages, *extra):
    nside = 16
    return compose(
        "config_all",
        [
            f"local_system.datasets_root={root}",
            f"scenario.nside={nside}",
            f"scenario.nside_sky={2 * nside}",
            "splits.Train.n_sims=0",
            "splits.Valid.n_sims=0",
            "splits.Test.n_sims=2",
            "model.sim.cmb.camb_accuracy=temperature",
            f"model.sim.instrument.table={table}",
            "model.sim.noise.correlated.enabled=false",
            "scenario.map_fields=IQU",
            "model/pyilc=cnilc",
            "model.analysis.methods.cmbnncs.epochs=[1]",
            "model.analysis.compare.models.1.epoch=1",
            "model.analysis.n_show_cap=1",
            "model.analysis.bin_width=4",
            "model.analysis.spectrum_lmin.BB=20",  # the default 40 is beyond l = 2 nside here
            f"pipeline.stages=[{','.join(stages)}]",
            *extra,
        ],
    )


@pytest.fixture(scope="module")
def iqu_analysis(tmp_path_factory):
    """The simulated dataset, CNILC's I, Q, U predictions, an I-only method, every analysis."""
    root = tmp_path_factory.mktemp("iqu_analysis")
    detectors = quiet_detector_table(root)
    run_pipeline(_compose_iqu(root, detectors, [*SIMS, "pyilc_predict"]))
    cfg = _compose_iqu(root, detectors, ANALYSIS)
    catalog = Catalog.from_config(cfg)
    rng = np.random.default_rng(3)
    for sim in range(2):  # an intensity-only method: the truth's I plus 20 uK white noise
        truth = catalog.handler("cmb_map").read(catalog.path("cmb_map", split="Test", sim=sim))
        assert truth.shape[0] == 3
        pred = truth[0] + rng.normal(0, 20.0, truth.shape[1])
        _put(catalog, "cmb_map_pred", pred, split="Test", sim=sim, epoch=1, working="CMBNNCS")
    return root / cfg.dataset_name, cfg


@pytest.fixture(scope="module")
def analysed_iqu(iqu_analysis):
    data, cfg = iqu_analysis
    logger = logging.getLogger("cmbml")
    records, level = [], logger.level
    handler = logging.Handler()
    handler.emit = records.append
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        reports = run_pipeline(cfg)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    return data, cfg, reports, [r.getMessage() for r in records]


def test_every_stage_ran_and_an_intensity_only_method_is_scored_on_i(analysed_iqu):
    data, _, reports, messages = analysed_iqu
    assert all(reports[s].ran >= 1 for s in ANALYSIS)
    said = [m for m in messages if "CMBNNCS" in m and "scored on I only" in m]
    assert said and "no Q, U" in said[0] and "cmb_map_pred_e0001.fits" in said[0]
    rows = pd.read_csv(data / "CMBNNCS/Analysis/matched/Test/sim0000/pixel_metrics.csv")
    assert list(rows.columns) == ["sim", "epoch", *PIXEL]  # the intensity-only table
    spectra = pd.read_csv(data / "CMBNNCS/Analysis/matched/Test/sim0000/spectra_epoch1.csv")
    assert list(spectra.columns) == ["ell", "theory", "truth", "prediction", "residual"]


def test_cnilc_is_scored_on_i_q_u_and_p(analysed_iqu):
    data, _, _, _ = analysed_iqu
    folder = data / "PyILC_CNILC/Analysis/matched"
    truth_pp = hp.read_map(folder / "Test/sim0000/cmb_truth_pp.fits", field=None)
    assert truth_pp.shape[0] == 3
    rows = pd.read_csv(folder / "Test/sim0001/pixel_metrics.csv").set_index("field")
    assert list(rows.index) == ["I", "Q", "U", "P"]
    assert np.all(np.isfinite(rows[PIXEL].to_numpy()))
    # the quiet-detector ILC recovers Q and U (its test: correlation > 0.85 with the truth)
    assert rows.loc["I", "r2"] > 0.9
    for f in ("Q", "U"):
        assert rows.loc[f, "r2"] > 0.5 and rows.loc[f, "nrmse"] < 0.7, f
    spectra = pd.read_csv(folder / "Test/sim0000/spectra_epochnone.csv")
    assert list(spectra["spectrum"].unique()) == ["TT", "EE", "BB", "TE"]
    ps = pd.read_csv(folder / "Test/sim0000/ps_metrics.csv").set_index("spectrum")
    assert list(ps.index) == ["TT", "EE", "BB", "TE"]
    assert ps.loc["BB", "ell_min"] == 20 and ps.loc["EE", "ell_min"] == 2
    summary = pd.read_csv(folder / "Summary/Test_pixel_summary.csv")
    assert list(summary["field"]) == ["I", "Q", "U", "P"] and set(summary["n_sims"]) == {2}
    mean = pd.read_csv(folder / "Summary/Test_ps_mean_epochnone.csv")
    assert set(mean["spectrum"]) == {"TT", "EE", "BB", "TE"}
    assert np.all(np.isfinite(mean["theory_sigma"]))


def test_leaderboard_has_a_block_per_field_and_per_spectrum(analysed_iqu):
    data, _, _, _ = analysed_iqu
    board = pd.read_csv(data / "Comparison/matched/pixel_comparison.csv")
    assert list(board.columns[:3]) == ["field", "model", "protocol"]
    assert list(zip(board["field"], board["model"], strict=True)) == [
        ("I", "CNILC"),
        ("I", "CMBNNCS"),
        ("Q", "CNILC"),
        ("U", "CNILC"),
        ("P", "CNILC"),
    ]
    assert np.all(np.isfinite(board.filter(regex="_(mean|std)$").to_numpy(dtype=float)))
    ps = pd.read_csv(data / "Comparison/matched/ps_comparison.csv")
    assert list(zip(ps["spectrum"], ps["model"], strict=True)) == [
        ("TT", "CNILC"),
        ("TT", "CMBNNCS"),
        ("EE", "CNILC"),
        ("BB", "CNILC"),
        ("TE", "CNILC"),
    ]
    assert np.all(np.isfinite(ps.filter(regex="_(mean|std)$").to_numpy(dtype=float)))
    md = (data / "Comparison/matched/pixel_comparison.md").read_text().splitlines()
    assert [line for line in md if line.startswith("**")] == ["**I**", "**Q**", "**U**", "**P**"]
    ps_md = (data / "Comparison/matched/ps_comparison.md").read_text().splitlines()
    blocks = [line for line in ps_md if line.startswith("**")]
    assert [b.split()[0] for b in blocks] == ["**TT", "**EE", "**BB", "**TE"]
    assert "20 <= l <= 32" in blocks[2]
    for stem in ("spectra_overlay", "spectra_overlay_pol"):
        assert (data / f"Comparison/matched/{stem}.pdf").read_bytes()[:5] == b"%PDF-"


def test_published_protocol_scores_q_and_u_too(iqu_analysis):
    data, cfg = iqu_analysis
    stages = ["analysis_mask", *(f"pyilc_analysis_{s}" for s in METHOD_STAGES)]
    run_pipeline(
        _compose_iqu(
            data.parent,
            data.parent / "quiet_detectors.csv",
            stages,
            "model.analysis.protocol=published",
            "model.analysis.mask.source=dataset",
        )
    )
    folder = data / "PyILC_CNILC/Analysis/published"
    rows = pd.read_csv(folder / "Test/sim0000/pixel_metrics.csv").set_index("field")
    assert list(rows.index) == ["I", "Q", "U", "P"]
    matched = pd.read_csv(data / "PyILC_CNILC/Analysis/matched/Test/sim0000/pixel_metrics.csv")
    # at its own 20.6 arcmin beam against the unbeamed truth, CNILC's Q error is larger
    assert rows.loc["Q", "rmse"] > matched.set_index("field").loc["Q", "rmse"]


@pytest.mark.slow
def test_polarised_figures_of_a_method(iqu_analysis, analysed_iqu):
    """Q, U maps and EE, BB, TE spectra per shown simulation; metric distributions per field
    and spectrum (about 20 s of drawing on 2 cores)."""
    data, cfg = iqu_analysis
    detectors = data.parent / "quiet_detectors.csv"
    reports = run_pipeline(_compose_iqu(data.parent, detectors, ["pyilc_analysis_figures"]))
    assert reports["pyilc_analysis_figures"].ran == 1
    folder = data / "PyILC_CNILC/Analysis/matched/Figures"
    for stem in (
        "Test_sim0000_maps_epochnone",
        "Test_sim0000_maps_pol_epochnone",
        "Test_sim0000_ps_epochnone",
        "Test_sim0000_ps_pol_epochnone",
        "Test_pixel_metric_distributions",
        "Test_ps_metric_distributions",
    ):
        assert (folder / f"{stem}.png").read_bytes()[:4] == b"\x89PNG", stem
        assert (folder / f"{stem}.pdf").read_bytes()[:5] == b"%PDF-", stem
    assert not (folder / "Test_sim0001_maps_pol_epochnone.png").exists()  # n_show_cap = 1


N_EONLY = 12
NSIDE_E = 32


def _eonly_config(root, *extra):
    stages = ["analysis_mask", "pyilc_analysis_postprocess", "pyilc_analysis_power_spectra"]
    return compose(
        "config_all",
        [
            f"local_system.datasets_root={root}",
            f"scenario.nside={NSIDE_E}",
            "scenario.map_fields=IQU",
            "splits.Train.n_sims=0",
            "splits.Valid.n_sims=0",
            f"splits.Test.n_sims={N_EONLY}",
            "model.analysis.bin_width=8",
            "dataset.pixel_window=true",  # the prediction below carries it, as cmbml's
            f"pipeline.stages=[{','.join(stages)}]",
            *extra,
        ],
    )


@pytest.fixture(scope="module")
def e_only(tmp_path_factory, theory_cl, gaussian_alm, cut_masks):
    """T and E skies without B (E of 1 % of TT's shape), their analysis; root and config."""
    root = tmp_path_factory.mktemp("e_only")
    cfg = _eonly_config(root)
    catalog = Catalog.from_config(cfg)
    binary, _ = cut_masks(NSIDE_E)
    _put(catalog, "mask", binary)
    band = 3 * NSIDE_E - 1
    cl_tt = theory_cl[: band + 1]
    cl_ee = 0.01 * cl_tt
    ilc = sphere.gaussian_beam(20.6, band, pol=True) * sphere.pixel_window(NSIDE_E)[: band + 1]
    rng = np.random.default_rng(19)
    ell = np.arange(4 * NSIDE_E + 1)
    spectrum = pd.DataFrame(
        {"ell": ell, "TT": theory_cl[: ell.size], "EE": 0.01 * theory_cl[: ell.size], "BB": 0.0}
    ).assign(TE=0.0)
    for sim in range(N_EONLY):
        where = {"split": "Test", "sim": sim}
        alm = np.stack([gaussian_alm(cl_tt, rng), gaussian_alm(cl_ee, rng)])
        alm = np.stack([alm[0], alm[1], np.zeros_like(alm[0])])
        _put(catalog, "cmb_spectrum", spectrum, **where)
        _put(catalog, "cmb_map", sphere.alm2map(alm, NSIDE_E, band, pol=True), **where)
        beamed = sphere.almxfl(alm, ilc[[0, 1, 1]])
        pred = sphere.alm2map(beamed, NSIDE_E, band, pol=True)
        _put(catalog, "pyilc_cmb_map_pred", pred, working="PyILC_CNILC", **where)
    reports = run_pipeline(cfg)
    assert reports["pyilc_analysis_power_spectra"].ran == N_EONLY
    return root, cfg


def test_e_only_skies_show_no_b_power_after_the_spin2_correction(e_only):
    """E-only skies through the stage path: truth unbeamed, prediction the same sky at the
    ILC's 20.6 arcmin and pixel window. Averaged over the simulations, the decoupled BB of both
    is below 1 % of the input EE in every bin, while the pseudo-spectrum of the same masked maps
    (no correction) has B power above 3 % of EE."""
    tmp_path, cfg = e_only
    folder = tmp_path / cfg.dataset_name / "PyILC_CNILC/Analysis/matched/Test"
    tables = [pd.read_csv(folder / f"sim{s:04d}/spectra_epochnone.csv") for s in range(N_EONLY)]
    ee = tables[0].loc[tables[0]["spectrum"] == "EE", "theory"].to_numpy()
    lmax = 2 * NSIDE_E
    edges = np.arange(2, lmax + 2, 8)

    def binned(values):
        return np.array(
            [values[lo - 2 : hi - 2].mean() for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
        )

    for column in ("truth", "prediction"):
        bb = np.mean([t.loc[t["spectrum"] == "BB", column].to_numpy() for t in tables], axis=0)
        ratio = binned(bb) / binned(ee)
        assert np.all(np.abs(ratio) < 0.01), (column, ratio)
    # the same masked truth maps under the same weight, without the mode-coupling correction
    apod = hp.read_map(tmp_path / cfg.dataset_name / "Analysis_Mask/matched/mask_apod.fits")
    pseudo = []
    for sim in range(N_EONLY):
        truth_pp = hp.read_map(folder / f"sim{sim:04d}/cmb_truth_pp.fits", field=None)
        cl = master.pseudo_spectra(truth_pp, apod, lmax)["BB"] / np.mean(apod**2)
        pseudo.append(cl * np.arange(lmax + 1) * (np.arange(lmax + 1) + 1) / (2 * np.pi))
    ratio = binned(np.mean(pseudo, axis=0)[2:]) / binned(ee)
    assert np.max(ratio) > 0.03, ratio


def test_spin2_matrices_missing_from_the_mask_stage_are_computed_with_a_warning(e_only, tmp_path):
    """The same dataset analysed under scenario.map_fields=I: analysis_mask stores the TT matrix
    only; the spectrum stage completes the spin-2 ones from the weight, says so, and finds the
    same spectra."""
    root, cfg = e_only
    shutil.copytree(root / cfg.dataset_name, tmp_path / cfg.dataset_name)
    logger = logging.getLogger("cmbml")
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger.addHandler(handler)
    try:
        reports = run_pipeline(_eonly_config(tmp_path, "scenario.map_fields=I"))
    finally:
        logger.removeHandler(handler)
    assert reports["analysis_mask"].ran == 1
    assert reports["pyilc_analysis_power_spectra"].ran == N_EONLY
    coupling = np.load(tmp_path / cfg.dataset_name / "Analysis_Mask/matched/coupling.npy")
    assert coupling.shape[0] == 1
    said = [r.getMessage() for r in records if "spin-2" in r.getMessage()]
    assert len(said) == 1 and "coupling.npy holds temperature matrices only" in said[0]
    sub = "PyILC_CNILC/Analysis/matched/Test/sim0003/spectra_epochnone.csv"
    ours = pd.read_csv(tmp_path / cfg.dataset_name / sub)
    stored = pd.read_csv(root / cfg.dataset_name / sub)
    assert list(ours["spectrum"].unique()) == ["TT", "EE", "BB", "TE"]
    scale = np.abs(stored[["truth", "prediction"]].to_numpy()).max()
    np.testing.assert_allclose(ours[["truth", "prediction", "residual"]], stored[["truth",
        "prediction", "residual"]], atol=1e-6 * scale)  # fmt: skip


def test_a_spectrum_range_beyond_the_scored_multipoles_is_a_config_error(tmp_path):
    """At nside 16 the metrics end at l = 32 (2 nside): BB from the default l = 40 is refused,
    naming the key; EE keeps its range."""
    cfg = compose(
        "config_all",
        [f"local_system.datasets_root={tmp_path}", "scenario.nside=16", "scenario.map_fields=IQU"],
    )
    name = "pyilc_analysis_power_spectra"
    stage = build_stages(cfg, [name])[name]
    with pytest.raises(ConfigError, match=r"model.analysis.spectrum_lmin.BB=40.*l = 32"):
        stage.metric_range("BB")
    assert stage.metric_range("EE") == (2, 32)


def test_fields_i_keeps_an_iqu_dataset_to_intensity(e_only, tmp_path):
    root, cfg = e_only
    shutil.copytree(root / cfg.dataset_name, tmp_path / cfg.dataset_name)
    reports = run_pipeline(_eonly_config(tmp_path, "model.analysis.fields=[I]"))
    assert reports["pyilc_analysis_postprocess"].ran == N_EONLY
    folder = tmp_path / cfg.dataset_name / "PyILC_CNILC/Analysis/matched/Test/sim0000"
    assert hp.read_map(folder / "cmb_truth_pp.fits", field=None).ndim == 1
    assert hp.read_map(folder / "cmb_pred_pp_epochnone.fits", field=None).ndim == 1
    spectra = pd.read_csv(folder / "spectra_epochnone.csv")
    assert list(spectra.columns) == ["ell", "theory", "truth", "prediction", "residual"]
