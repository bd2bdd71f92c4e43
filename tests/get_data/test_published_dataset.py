"""A dataset in CMB-ML's published layout, fetched with get_dataset.py and run through the ILC,
CMBNNCS, their analyses and the leaderboard with the real configs and nothing else.

The archives hold what CMB-ML's do: ``Simulation/<split>/simNNNN/cmb_map_fid.fits`` (IQU) and
``obs_<band>_map.fits`` (IQU at 30-353 GHz, I at 545/857, uK_CMB), the CAMB spectrum
``Simulation_Working/Simulation_CMB_Power_Spectra/<split>/simNNNN/cmb_ps_fid.txt`` (written by
CAMB's own writer) and the WMAP9 row ``Simulation_Working/Simulation_C_Configs/<split>/simNNNN/
wmap_params.yaml``; no detector table, no mask, no cmb_spectrum.csv. The mask is the Planck TMASK.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import healpy as hp
import numpy as np
import pandas as pd
import pytest
import yaml
from camb.results import save_cmb_power_array

from cmbml import sphere
from cmbml.core import compose, run_pipeline
from tests.sims.planck_files import write_planck_bintable

from .conftest import serve
from .test_download import make_tar_gz, serve_record
from .test_scripts import load_script

REPO = Path(__file__).resolve().parents[2]
NSIDE = 32
SPLITS = {"Train": 2, "Valid": 1, "Test": 2}
BANDS = {30: 75.0, 44: 65.0, 70: 55.0, 100: 43.0, 143: 32.4, 217: 22.3, 353: 22.0, 545: 21.5,
         857: 20.6}  # fmt: skip
CENTRES = {30: 28.4, 44: 44.1, 70: 70.4, 100: 100.89, 143: 142.876, 217: 221.156, 353: 357.5,
           545: 555.2, 857: 866.8}  # fmt: skip
DATASET = f"CMB_ML_{NSIDE}_1450"


def _overrides(root: Path, planck: Path) -> list[str]:
    return [
        "scenario=paper_128",
        f"scenario.nside={NSIDE}",
        "splits=1450",
        *(f"splits.{s}.n_sims={n}" for s, n in SPLITS.items()),
        f"local_system.datasets_root={root}",
        f"model.analysis.mask.planck_file={planck}",
        "model.analysis.protocol=published",
    ]


def _theory_dl(lmax: int) -> np.ndarray:
    """(lmax + 1, 7) CAMB columns TT EE BB TE PP PT PE (D_l, uK²) from healpy's totcls.dat."""
    table = np.loadtxt(Path(hp.__file__).parent / "data" / "totcls.dat")[: lmax + 1]
    out = np.zeros((lmax + 1, 7))
    out[:, :4] = table[:, 1:5]
    return out


def _dl_to_cl(dl: np.ndarray) -> np.ndarray:
    ell = np.arange(dl.size)
    cl = np.zeros_like(dl)
    cl[2:] = dl[2:] * 2 * np.pi / (ell[2:] * (ell[2:] + 1))
    return cl


def _write_sim(stage: Path, split: str, sim: int, rng: np.random.Generator) -> None:
    """One simulation's files under ``stage`` (the archive's root = the dataset folder)."""
    lmax = 3 * NSIDE - 1
    spectra = _theory_dl(4 * NSIDE) * (1.0 + 0.05 * sim)
    folder = stage / f"Simulation/{split}/sim{sim:04d}"
    folder.mkdir(parents=True)
    cls = [_dl_to_cl(spectra[: lmax + 1, i]) for i in range(4)]
    np.random.seed(int(rng.integers(2**31)))  # healpy's synalm draws from numpy's global one
    alm = hp.synalm(cls, lmax=lmax, new=True)
    cmb = sphere.alm2map(alm, NSIDE, lmax, pol=True)
    names = ["I_STOKES", "Q_STOKES", "U_STOKES"]
    hp.write_map(folder / "cmb_map_fid.fits", cmb, column_names=names,
                 column_units=["uK_CMB"] * 3, dtype=np.float32)  # fmt: skip
    dust = hp.alm2map(hp.synalm(np.r_[0, 0, 1e4 / np.arange(2, lmax + 1) ** 2.4], lmax=lmax), NSIDE)
    dust = np.abs(dust) * 3.0 + 20.0 * (1 - np.abs(hp.pix2vec(NSIDE, np.arange(cmb.shape[1]))[2]))
    for band, fwhm in BANDS.items():  # PySM3's smoothing: the beam, no pixel window
        beam = sphere.gaussian_beam(fwhm, lmax, pol=True)
        beamed = sphere.alm2map(alm * beam[[0, 1, 1]][:, hp.Alm.getlm(lmax)[0]], NSIDE, lmax,
                                pol=True)  # fmt: skip
        fg = dust * (CENTRES[band] / 353.0) ** 3.5
        obs = beamed + fg * np.array([1.0, 0.1, 0.1])[:, None] + rng.normal(0, 5.0, cmb.shape)
        fields = slice(0, 3) if band <= 353 else slice(0, 1)
        hp.write_map(folder / f"obs_{band}_map.fits", obs[fields], column_names=names[fields],
                     column_units=["uK_CMB"] * len(names[fields]), dtype=np.float32)  # fmt: skip
    work = stage / "Simulation_Working"
    ps = work / f"Simulation_CMB_Power_Spectra/{split}/sim{sim:04d}/cmb_ps_fid.txt"
    ps.parent.mkdir(parents=True)
    save_cmb_power_array(str(ps), spectra, "TT EE BB TE PP PT PE")  # CAMB's writer
    params = work / f"Simulation_C_Configs/{split}/sim{sim:04d}/wmap_params.yaml"
    params.parent.mkdir(parents=True)
    wmap = {"H0": 70.0 + sim, "chain_idx": 1000 + sim, "mnu": 0.1, "ns002": 0.97,
            "omegabh2": 0.0226, "omegach2": 0.113, "tau": 0.08}  # fmt: skip
    params.write_text(yaml.dump(wmap, default_flow_style=False))


def _publish(tmp_path: Path, file_server) -> Path:
    """Archives and records of the dataset on the local server; returns the records file."""
    rng = np.random.default_rng(7)
    records = {}
    for split, n in SPLITS.items():
        for sim in range(n):
            stage = tmp_path / "stage" / f"{split}{sim}"
            _write_sim(stage, split, sim, rng)
            members = {
                p.relative_to(stage).as_posix(): p.read_bytes()
                for p in sorted(stage.rglob("*"))
                if p.is_file()
            }
            key = f"{split}_sim{sim:04d}"
            records[key] = serve_record(file_server, key, make_tar_gz(members))
    path = tmp_path / f"upload_records_CMB-ML_{NSIDE}_1450.json"
    path.write_text(json.dumps(records, indent=2))
    return path


@pytest.fixture(scope="module")
def downloaded(tmp_path_factory):
    """The published dataset fetched by get_dataset.py into a datasets root."""
    tmp = tmp_path_factory.mktemp("published")
    root = tmp / "datasets"
    with serve(tmp / "www") as server:
        records = _publish(tmp, server)
        status = load_script("get_dataset").main(
            [
                "--records",
                str(records),
                "--base-url",
                server.url,
                "--dest",
                str(root / DATASET),
                "--no-progress",
            ]  # fmt: skip
        )
    assert status == 0
    planck = tmp / "planck" / "COM_CMB_IQU-nilc_2048_R3.00_full.fits"
    return root, planck


def _write_tmask(path: Path) -> np.ndarray:
    nside = 2 * NSIDE  # a finer file, averaged down as CMB-ML does
    lat = np.degrees(np.arcsin(hp.pix2vec(nside, np.arange(12 * nside**2))[2]))
    tmask = (np.abs(lat) > 20).astype(float)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_planck_bintable(path, {"I_STOKES": 0 * tmask, "TMASK": tmask}, {"I_STOKES": "K_CMB"})
    return tmask


def test_layout_is_cmb_mls(downloaded):
    root, _ = downloaded
    sim = root / DATASET / "Simulation/Test/sim0001"
    assert sorted(p.name for p in sim.iterdir()) == sorted(
        ["cmb_map_fid.fits", *(f"obs_{b}_map.fits" for b in BANDS)]
    )
    assert not (root / DATASET / "Simulation_Working/Instrument").exists()
    assert not list((root / DATASET).rglob("cmb_spectrum.csv"))
    assert not list((root / DATASET).rglob("mask.fits"))
    record = yaml.safe_load((root / DATASET / "dataset.yaml").read_text())
    assert record["pixel_window"] is False and record["units"] == "uK_CMB"


def test_ilc_analysis_and_leaderboard_in_process(downloaded, tmp_path):
    """config_pyilc (prediction and analysis) and config_comp_models, composed as the scripts
    compose them: the TMASK is the mask, the theory is cmb_ps_fid.txt (CAMB's D_l), the
    cosmology wmap_params.yaml."""
    root, _ = downloaded
    planck = tmp_path / "planck" / "COM_CMB_IQU-nilc_2048_R3.00_full.fits"
    tmask = _write_tmask(planck)
    opts = _overrides(root, planck)
    data = root / DATASET
    run_pipeline(compose("config_pyilc", opts))

    info = yaml.safe_load((data / "Analysis_Mask/published/mask_info.yaml").read_text())
    assert info["source"] == "planck"
    expected = hp.reorder(hp.reorder(tmask, r2n=True).reshape(-1, 4).mean(axis=1), n2r=True)
    mask = hp.read_map(data / "Analysis_Mask/published/mask.fits")
    np.testing.assert_array_equal(mask, expected >= 0.9)

    analysis = data / "PyILC_CNILC/Analysis/published"
    spectra = pd.read_csv(analysis / "Test/sim0001/spectra_epochnone.csv")
    dl = _theory_dl(4 * NSIDE)[:, 0] * 1.05
    np.testing.assert_allclose(spectra["theory"], dl[2 : 2 * NSIDE + 1], rtol=1e-6)
    per_sim = pd.read_csv(analysis / "Summary/Test_ps_per_sim.csv")
    assert per_sim["cosmo_H0"].tolist() == [70.0, 71.0] and set(per_sim["cosmo_mnu"]) == {0.1}
    summary = pd.read_csv(analysis / "Summary/Test_pixel_summary.csv")
    assert summary["protocol"].item() == "published" and summary["n_sims"].item() == 2

    only_ilc = "model.analysis.compare.models=[{model: CNILC, working: PyILC_CNILC, epoch: null}]"
    run_pipeline(compose("config_comp_models", [*opts, only_ilc]))
    board = pd.read_csv(data / "Comparison/published/pixel_comparison.csv")
    assert list(board["model"]) == ["CNILC"] and board["protocol"].item() == "published"
    assert 0.0 < board["nrmse_mean"].item() < 1.0


@pytest.mark.slow
def test_the_four_scripts_run_on_the_published_dataset(downloaded, tmp_path):
    root, _ = downloaded
    planck = tmp_path / "planck" / "COM_CMB_IQU-nilc_2048_R3.00_full.fits"
    opts = _overrides(root, planck)
    data = root / DATASET

    # 1. the ILC, as a real script: the detector table comes from the scenario
    proc = subprocess.run(
        [sys.executable, str(REPO / "main_pyilc_predict.py"), *opts],
        capture_output=True, text=True, cwd=root, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    for sim in range(SPLITS["Test"]):
        assert (data / f"PyILC_CNILC/Test/sim{sim:04d}/cmb_map_pred.fits").is_file()

    # 2. its analysis without the Planck mask: a message naming the fetching script
    script = [sys.executable, str(REPO / "main_pyilc_analysis.py"), *opts]
    proc = subprocess.run(script, capture_output=True, text=True, cwd=root, timeout=600)
    assert proc.returncode != 0
    assert "get_data/get_planck_assets.py --only nilc" in proc.stdout + proc.stderr
    assert str(planck) in proc.stdout + proc.stderr
    # ... and with it
    _write_tmask(planck)
    proc = subprocess.run(script, capture_output=True, text=True, cwd=root, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]

    # 3. CMBNNCS (one epoch) and its analysis
    script = [sys.executable, str(REPO / "main_cmbnncs.py"), *opts, "num_epochs=1"]
    proc = subprocess.run(script, capture_output=True, text=True, cwd=root, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (data / "CMBNNCS/Analysis/published/Summary/Test_pixel_summary.csv").is_file()

    # 4. the leaderboard
    script = [sys.executable, str(REPO / "main_analysis_compare.py"), *opts, "num_epochs=1"]
    proc = subprocess.run(script, capture_output=True, text=True, cwd=root, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    board = pd.read_csv(data / "Comparison/published/pixel_comparison.csv")
    assert list(board["model"]) == ["CNILC", "CMBNNCS"]
    assert set(board["protocol"]) == {"published"}
    assert np.isfinite(board.drop(columns=["model", "protocol"]).to_numpy(float)).all()
    md = (data / "Comparison/published/pixel_comparison.md").read_text()
    assert md.startswith("*Protocol: published (CMB-ML's")
