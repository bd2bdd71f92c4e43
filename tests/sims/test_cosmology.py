"""Cosmological parameters: Planck 2018 Gaussian draws and WMAP-style chain files."""

import csv
import math

import numpy as np
import pytest
from scipy.integrate import quad

from cmbml.core import Catalog, compose, run_pipeline
from cmbml.core.handlers import get_handler
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
from tests.sims.fiducial import PLANCK2018, tiny_sims_overrides
from tests.sims.planck_files import write_wmap_chains

BASIS = ("cosmomc_theta_x100", "ombh2", "omch2", "ns", "tau", "As_e2tau_x1e9")


def test_prior_table():
    assert set(DEFAULT_PARAMS) == set(BASIS)
    prior = load_gaussian_prior()
    assert list(prior) == list(DEFAULT_PARAMS)
    assert prior == {k: PLANCK2018[k] for k in DEFAULT_PARAMS}
    everything = load_gaussian_prior(params=list(PLANCK2018))
    assert everything == PLANCK2018
    with open(default_planck_table(), newline="") as fh:
        assert {r["name"] for r in csv.DictReader(fh)} >= set(PLANCK2018)


def test_gaussian_draws_have_configured_mean_and_sigma():
    prior = load_gaussian_prior()
    rng = np.random.default_rng(42)
    n = 3000
    draws = [draw_gaussian(prior, rng) for _ in range(n)]
    for name in DEFAULT_PARAMS:
        mean, sigma = PLANCK2018[name]
        x = np.array([d[name] for d in draws])
        assert abs(x.mean() - mean) < 4 * sigma / np.sqrt(n)
        assert abs(x.std(ddof=1) / sigma - 1) < 4 / np.sqrt(2 * (n - 1))
    # independent draws: no strong correlation between parameters
    corr = np.corrcoef([[d[k] for d in draws] for k in DEFAULT_PARAMS])
    assert np.max(np.abs(corr - np.eye(len(DEFAULT_PARAMS)))) < 5 / np.sqrt(n)


def theta_mc_x100(h0, ombh2, omch2, mnu=0.06, nnu=3.046):
    """100 theta_MC = 100 r_s(z*) / D_M(z*), written independently of CAMB.

    CosmoMC's approximation: z* from the Hu & Sugiyama (1996) fit, sound speed with
    R = 3e4 a omega_b; background with photons (T = 2.7255 K) and nnu relativistic neutrinos
    plus the neutrino mass as matter. Its absolute value is ~7e-4 below CAMB's (radiation
    approximations) but its derivatives agree to 0.1 %: good for spreads.
    """
    om_r = 2.4728e-5 * (1.0 + 7.0 / 8.0 * (4.0 / 11.0) ** (4.0 / 3.0) * nnu)
    om_m = ombh2 + omch2 + mnu / 93.14
    om_l = (h0 / 100.0) ** 2 - om_m - om_r
    g1 = 0.0783 * ombh2**-0.238 / (1 + 39.5 * ombh2**0.763)
    g2 = 0.560 / (1 + 21.1 * ombh2**1.81)
    astar = 1 / (1 + 1048 * (1 + 0.00124 * ombh2**-0.738) * (1 + g1 * (ombh2 + omch2) ** g2))

    def a2h(a):  # a^2 H(a) / (100 km/s/Mpc)
        return np.sqrt(om_r + om_m * a + om_l * a**4)

    rs = quad(lambda a: 1 / (a2h(a) * np.sqrt(3 * (1 + 3e4 * a * ombh2))), 0, astar)[0]
    return 100 * rs / quad(lambda a: 1 / a2h(a), astar, 1)[0]


def test_theta_reference_formula():
    # its derivative against H_0 matches CAMB's cosmomc_theta (0.00149 per 0.5 km/s/Mpc)
    d = theta_mc_x100(67.86, 0.02237, 0.12) - theta_mc_x100(67.36, 0.02237, 0.12)
    assert d == pytest.approx(0.0014926, rel=5e-3)
    assert theta_mc_x100(67.36, 0.02237, 0.12) == pytest.approx(1.04092, abs=1e-3)


@pytest.fixture(scope="module")
def planck_draws(tmp_path_factory):
    """``cosmo_params`` of 200 simulations drawn by the default config."""
    n = 200
    cfg = compose(
        "config_sims",
        [
            *tiny_sims_overrides(tmp_path_factory.mktemp("cosmo"), 8),
            f"splits.Train.n_sims={n}",
            "splits.Test.n_sims=0",
            "pipeline.stages=[make_cosmology]",
        ],
    )
    run_pipeline(cfg)
    cat = Catalog.from_config(cfg)
    read = get_handler("yaml").read
    return [read(cat.path("cosmo_params", split="Train", sim=i)) for i in range(n)]


def test_planck_draws_have_planck_spreads_of_theta_and_amplitude(planck_draws):
    """The combinations the CMB measures best scatter by Planck's sigmas, not by 4-7 times more.

    100 theta_MC is recomputed from each simulation's H_0, omega_b, omega_c (an independent
    formula) and A_s e^(-2 tau) from its CAMB A_s and tau; spreads within 30 % of Planck 2018.
    """
    theta, amp, h0 = [], [], []
    for p in planck_draws:
        camb, derived = p["camb"], p.get("derived", {})
        h = camb["H0"] if "H0" in camb else derived["H0"]
        h0.append(h)
        theta.append(theta_mc_x100(h, camb["ombh2"], camb["omch2"], camb["mnu"]))
        amp.append(1e9 * camb["As"] * math.exp(-2 * camb["tau"]))
    for name, values in (("cosmomc_theta_x100", theta), ("As_e2tau_x1e9", amp)):
        mean, sigma = PLANCK2018[name]
        spread = np.std(values, ddof=1)
        assert 0.7 < spread / sigma < 1.3, f"{name}: spread {spread:.3g}, Planck sigma {sigma}"
    assert np.mean(amp) == pytest.approx(PLANCK2018["As_e2tau_x1e9"][0], abs=0.005)
    # H_0 follows from theta and the densities: Planck's mean and spread come out again
    assert np.mean(h0) == pytest.approx(67.36, abs=0.3)
    assert 0.7 < np.std(h0, ddof=1) / PLANCK2018["H0"][1] < 1.3


def test_planck_draws_camb_inputs(planck_draws):
    p = planck_draws[0]
    camb = p["camb"]
    assert camb["cosmomc_theta"] == pytest.approx(p["drawn"]["cosmomc_theta_x100"] / 100)
    expect_as = p["drawn"]["As_e2tau_x1e9"] * 1e-9 * math.exp(2 * p["drawn"]["tau"])
    assert camb["As"] == pytest.approx(expect_as, rel=1e-12)
    assert "H0" not in camb and camb["nnu"] == 3.046 and camb["mnu"] == 0.06
    # the derived H_0 is CAMB's solution for this theta: CAMB gives theta back from it
    import camb as camb_module

    pars = camb_module.CAMBparams()
    pars.set_cosmology(
        H0=p["derived"]["H0"], ombh2=camb["ombh2"], omch2=camb["omch2"], mnu=0.06, nnu=3.046
    )
    theta = camb_module.get_background(pars).cosmomc_theta()
    assert theta == pytest.approx(camb["cosmomc_theta"], rel=1e-5)  # 3 % of Planck's sigma


def write_covmat(path, names, cov):
    """A CosmoMC ``.covmat`` (as in the Planck chain archives): ``# name ...``, then the matrix."""
    with open(path, "w") as fh:
        fh.write("# " + " ".join(names) + "\n")
        for row in cov:
            fh.write(" ".join(f"{v:.8e}" for v in row) + "\n")


def test_draws_from_a_covariance_file(tmp_path):
    """Means from the table, covariance from a CosmoMC covmat (extra parameters ignored)."""
    from cmbml.sims.cosmology import draw_correlated, load_covariance_prior

    names = ["omegabh2", "omegach2", "theta", "tau", "logA", "ns", "calPlanck"]
    sig = np.array([0.00015, 0.0012, 0.00031, 0.0073, 0.014, 0.0042, 0.0025])
    corr = np.eye(7)
    corr[3, 4] = corr[4, 3] = 0.9  # tau - logA
    corr[1, 5] = corr[5, 1] = -0.5  # omega_c - n_s
    write_covmat(tmp_path / "base.covmat", names, corr * np.outer(sig, sig))
    means, cov, params = load_covariance_prior(tmp_path / "base.covmat")
    assert params == ["ombh2", "omch2", "cosmomc_theta_x100", "tau", "ln10_10As", "ns"]
    assert means == pytest.approx([PLANCK2018[p][0] for p in params])
    rng = np.random.default_rng(5)
    n = 4000
    draws = np.array(
        [
            [d[p] for p in params]
            for d in (draw_correlated(means, cov, params, rng) for _ in range(n))
        ]
    )
    got = np.corrcoef(draws.T)
    assert got[3, 4] == pytest.approx(0.9, abs=4 * (1 - 0.81) / np.sqrt(n))
    assert got[1, 5] == pytest.approx(-0.5, abs=4 * (1 - 0.25) / np.sqrt(n))
    assert np.std(draws, axis=0, ddof=1) == pytest.approx(sig[:6], rel=0.1)
    # A_s e^(-2 tau) follows the correlation: narrower than independent draws would give
    amp = np.exp(draws[:, 4] - 2 * draws[:, 3])
    indep = math.sqrt(0.014**2 + 4 * 0.0073**2)
    assert np.std(np.log(amp)) < 0.6 * indep
    (tmp_path / "bad.covmat").write_text("# omegabh2 omegach2\n1 0\n0\n")
    with pytest.raises(ValueError, match="bad.covmat"):
        load_covariance_prior(tmp_path / "bad.covmat")


def test_draws_are_reproducible_and_positive():
    prior = {"tau": (0.01, 0.02)}  # half the mass below zero: redrawn until positive
    a = [draw_gaussian(prior, np.random.default_rng(7))["tau"] for _ in range(3)]
    assert a[0] == a[1] == a[2]
    many = [draw_gaussian(prior, np.random.default_rng(s))["tau"] for s in range(300)]
    assert min(many) > 0


def test_camb_inputs():
    out = camb_inputs({"ln10_10As": 3.044, "H0": 67.0}, fixed={"mnu": 0.06, "H0": 70.0})
    assert out == {"mnu": 0.06, "H0": 67.0, "As": pytest.approx(math.exp(3.044) / 1e10)}
    out = camb_inputs({"cosmomc_theta_x100": 1.04, "tau": 0.05, "As_e2tau_x1e9": 1.9})
    assert out == {
        "cosmomc_theta": pytest.approx(0.0104),
        "tau": 0.05,
        "As": pytest.approx(1.9e-9 * math.exp(0.1)),
    }
    with pytest.raises(ValueError, match="sigma8"):
        camb_inputs({"sigma8": 0.8})
    with pytest.raises(ValueError, match="tau"):
        camb_inputs({"As_e2tau_x1e9": 1.9})
    with pytest.raises(ValueError, match="H0.*cosmomc_theta|cosmomc_theta.*H0"):
        camb_inputs({"cosmomc_theta_x100": 1.04}, fixed={"H0": 67.0})


def test_wmap_amplitude_at_its_pivot():
    """a002 is 10^9 Delta^2_R at k = 0.002/Mpc: CAMB's primordial power there must equal it."""
    import camb

    from cmbml.sims.cosmology import wmap_amplitude

    for a002, ns in ((2.41, 0.972), (2.2, 0.95), (2.6, 1.0)):
        out = camb_inputs({"ns": ns, **wmap_amplitude(a002, ns)})
        power = camb.CAMBparams()
        power.InitPower.set_params(As=out["As"], ns=ns)  # CAMB's pivot: 0.05/Mpc
        assert power.scalar_power(0.002) == pytest.approx(a002 * 1e-9, rel=1e-10)
    with pytest.raises(ValueError, match="a002.*scale"):
        wmap_amplitude(2.41e-9, 0.97)  # already in units of 1, with the default 1e-9 scale


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
    with pytest.raises(FileNotFoundError, match=r"chains/omegamh2.*model/sim/cmb=wmap9_chains"):
        read_chain_rows(
            tmp_path / "chains", ["H0", "omegamh2"], [0], option="model/sim/cmb=wmap9_chains"
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
