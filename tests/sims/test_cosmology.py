"""Cosmological parameters: Planck 2018 Gaussian draws and WMAP-style chain files."""

import csv
import math

import numpy as np
import pytest

from cmbml.sims.cosmology import (
    DEFAULT_PARAMS,
    WMAP9_TO_CAMB,
    camb_inputs,
    chain_length,
    default_planck_table,
    draw_gaussian,
    load_gaussian_prior,
    read_chain_rows,
    select_chain_rows,
)
from tests.sims.fiducial import PLANCK2018
from tests.sims.planck_files import write_wmap_chains


def test_prior_table():
    assert load_gaussian_prior() == PLANCK2018
    assert list(load_gaussian_prior()) == list(DEFAULT_PARAMS)
    with open(default_planck_table(), newline="") as fh:
        assert {r["camb_name"] for r in csv.DictReader(fh)} >= set(PLANCK2018)


def test_gaussian_draws_have_configured_mean_and_sigma():
    prior = load_gaussian_prior()
    rng = np.random.default_rng(42)
    n = 3000
    draws = [draw_gaussian(prior, rng) for _ in range(n)]
    for name, (mean, sigma) in PLANCK2018.items():
        x = np.array([d[name] for d in draws])
        assert abs(x.mean() - mean) < 4 * sigma / np.sqrt(n)
        assert abs(x.std(ddof=1) / sigma - 1) < 4 / np.sqrt(2 * (n - 1))
    # independent draws: no strong correlation between parameters
    corr = np.corrcoef([[d[k] for d in draws] for k in PLANCK2018])
    assert np.max(np.abs(corr - np.eye(len(PLANCK2018)))) < 5 / np.sqrt(n)


def test_draws_are_reproducible_and_positive():
    prior = {"tau": (0.01, 0.02)}  # half the mass below zero: redrawn until positive
    a = [draw_gaussian(prior, np.random.default_rng(7))["tau"] for _ in range(3)]
    assert a[0] == a[1] == a[2]
    many = [draw_gaussian(prior, np.random.default_rng(s))["tau"] for s in range(300)]
    assert min(many) > 0


def test_camb_inputs():
    out = camb_inputs({"ln10_10As": 3.044, "H0": 67.0}, fixed={"mnu": 0.06, "H0": 70.0})
    assert out == {"mnu": 0.06, "H0": 67.0, "As": pytest.approx(math.exp(3.044) / 1e10)}
    with pytest.raises(ValueError, match="sigma8"):
        camb_inputs({"sigma8": 0.8})


def test_chain_rows_read_back(tmp_path):
    rng = np.random.default_rng(3)
    values = write_wmap_chains(tmp_path / "chains", 500, rng)
    names = list(WMAP9_TO_CAMB)
    assert chain_length(tmp_path / "chains", names) == 500
    rows = select_chain_rows(500, 40, np.random.default_rng(11))
    assert len(set(rows.tolist())) == 40  # unique
    got = read_chain_rows(tmp_path / "chains", names, rows)
    for r, d in zip(rows, got, strict=True):
        assert d["chain_step"] == r + 1
        for name in names:
            assert d[name] == pytest.approx(values[name][r], rel=1e-9)
    # seeded: same generator seed -> same rows; all rows can be drawn exactly once
    np.testing.assert_array_equal(rows, select_chain_rows(500, 40, np.random.default_rng(11)))
    assert sorted(select_chain_rows(500, 500, np.random.default_rng(0))) == list(range(500))
    # renamed to CAMB names
    cosmo = camb_inputs({WMAP9_TO_CAMB[k]: v for k, v in got[0].items() if k != "chain_step"})
    assert set(cosmo) == {"H0", "omch2", "ombh2", "ns", "tau", "mnu"}


def test_chain_errors(tmp_path):
    write_wmap_chains(tmp_path / "chains", 50, np.random.default_rng(0))
    with pytest.raises(FileNotFoundError, match=r"chains/a002.*model/sim/cmb=wmap9_chains"):
        read_chain_rows(
            tmp_path / "chains", ["H0", "a002"], [0], option="model/sim/cmb=wmap9_chains"
        )
    with pytest.raises(ValueError, match="distinct rows"):
        select_chain_rows(50, 51, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"\[0, 50\)"):
        read_chain_rows(tmp_path / "chains", ["H0"], [50])
    (tmp_path / "chains" / "short").write_text("1 2.0\n2 3.0\n")
    with pytest.raises(ValueError, match="different lengths"):
        chain_length(tmp_path / "chains", ["H0", "short"])
    (tmp_path / "chains" / "bad").write_text("1 2.0 5.0\n")
    with pytest.raises(ValueError, match="two columns"):
        chain_length(tmp_path / "chains", ["bad"])
