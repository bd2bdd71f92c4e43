"""Foreground parameters drawn per simulation: distributions, seeds, records, regeneration."""

import filecmp

import numpy as np
import pytest
from omegaconf import OmegaConf
from scipy import stats

from cmbml.core import ConfigError, compose, run_pipeline
from cmbml.core.handlers import get_handler
from cmbml.core.seeds import make_rng
from cmbml.sims.fg_variation import draw_value, resolve_distributions
from cmbml.sims.templates import make_templates
from tests.sims.test_sky_stages import UNITS, make_cfg, write_spectra

N_DRAWS = 3000


def _draws(block, n=N_DRAWS):
    """``n`` draws of ``block``, one per simulation of a split, through the seed scheme."""
    comps = {"c": {"x": block}}
    values = []
    for sim in range(n):
        _, drawn = resolve_distributions(
            comps, lambda path, sim=sim: make_rng(1, "ds", "Train", sim, "fg_param", path)
        )
        values.append(drawn["c.x"])
    return np.array(values)


@pytest.mark.parametrize(
    ("block", "reference"),
    [
        # CMB-ML's development-branch draws (sim_flex_fgs.yaml): dust beta 1.48 +- 10 %,
        # T_d 19.6 K +- 10 %, synchrotron beta N(-3.1, 0.31)
        ({"dist": "uniform", "low": 1.332, "high": 1.628}, stats.uniform(1.332, 1.628 - 1.332)),
        ({"dist": "uniform", "low": 17.64, "high": 21.56}, stats.uniform(17.64, 21.56 - 17.64)),
        ({"dist": "normal", "loc": -3.1, "scale": 0.31}, stats.norm(-3.1, 0.31)),
        ({"dist": "lognormal", "median": 12.0, "sigma": 0.3}, stats.lognorm(0.3, scale=12.0)),
    ],
)
def test_draws_across_simulations_follow_the_distribution(block, reference):
    values = _draws(block)
    # Kolmogorov-Smirnov against scipy's distribution: a wrong law or parameter gives p ~ 0
    assert stats.kstest(values, reference.cdf).pvalue > 1e-3
    assert values.mean() == pytest.approx(reference.mean(), abs=4 * reference.std() / 50)
    assert values.std() == pytest.approx(reference.std(), rel=0.06)


def test_each_block_has_its_own_stream_and_plain_values_stay():
    comps = {
        "dust": {"params": {"beta": {"mean": {"dist": "normal", "loc": 1.5, "scale": 0.1}}}},
        "sync": {"params": {"beta": {"mean": -3.0, "std": 0.0}}},
    }
    rng_for = lambda path: make_rng(5, "ds", "Test", 3, "fg_param", path)  # noqa: E731
    resolved, drawn = resolve_distributions(comps, rng_for)
    assert resolved["sync"] == comps["sync"]
    assert comps["dust"]["params"]["beta"]["mean"]["dist"] == "normal"  # input unchanged
    assert resolved["dust"]["params"]["beta"]["mean"] == drawn["dust.params.beta.mean"]
    more = {**comps, "cib": {"amplitude": {"dist": "uniform", "low": 0.0, "high": 1.0}}}
    _, drawn_more = resolve_distributions(more, rng_for)
    assert drawn_more["dust.params.beta.mean"] == drawn["dust.params.beta.mean"]
    assert set(drawn_more) == {"dust.params.beta.mean", "cib.amplitude"}


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"dist": "cauchy", "loc": 0, "scale": 1}, "dust.x.dist must be one of"),
        ({"dist": "normal", "loc": 0}, r"dust.x \(normal\) lacks key\(s\) \['scale'\]"),
        ({"dist": "uniform", "low": 2, "high": 1}, "high > low"),
        ({"dist": "lognormal", "median": -1, "sigma": 1}, "median must be > 0"),
    ],
)
def test_bad_distribution_blocks_are_named(block, message):
    with pytest.raises(ConfigError, match=message):
        draw_value(block, np.random.default_rng(0), "dust.x")


def test_drawn_index_sets_the_template_parameter_map():
    fg = OmegaConf.to_container(
        compose("config_sims", ["model/sim/foregrounds=synthetic_flex"]).model.sim.foregrounds,
        resolve=True,
    )
    resolved, drawn = resolve_distributions(
        fg["components"], lambda path: make_rng(2, "ds", "Train", 0, "fg_param", path)
    )
    templates = make_templates({"dust": resolved["dust"]}, 16, seed=3, galaxy=fg["galaxy"])
    beta = templates["dust"].params["beta"]
    # spatial fluctuations (std 0.05) around the drawn mean
    assert beta.mean() == pytest.approx(drawn["dust.params.beta.mean"], abs=0.03)
    assert 1.332 <= drawn["dust.params.beta.mean"] < 1.628


def test_flex_sky_recorded_per_simulation_and_regenerated_alone(tmp_path):
    cfg = make_cfg(tmp_path, "model/sim/foregrounds=synthetic_flex")
    catalog = write_spectra(cfg, UNITS)
    run_pipeline(cfg)
    read_yaml = get_handler("yaml").read
    records = {u: read_yaml(catalog.path("fg_params", split=u[0], sim=u[1])) for u in UNITS}
    for (split, sim), rec in records.items():
        assert rec["vary_per_sim"] is True
        expected = make_rng(
            int(cfg.seed), cfg.dataset_name, split, sim, "fg_param", "dust.params.beta.mean"
        ).uniform(1.332, 1.628)
        assert rec["drawn"]["dust.params.beta.mean"] == expected
    seeds = {rec["template_seed"] for rec in records.values()}
    assert len(seeds) == len(UNITS)
    target = catalog.path("sky_map", split="Train", sim=1, freq=353)
    record = catalog.path("fg_params", split="Train", sim=1)
    saved = tmp_path / "saved.fits"
    saved.write_bytes(target.read_bytes())
    for path in (target, record):
        path.unlink()
    assert run_pipeline(cfg)["make_sky"].ran == 1
    assert filecmp.cmp(target, saved, shallow=False)
    assert read_yaml(record) == records[("Train", 1)]


def test_shared_sky_records_one_draw_for_every_simulation(tmp_path):
    cfg = make_cfg(
        tmp_path, "model/sim/foregrounds=synthetic_flex", "model.sim.foregrounds.vary_per_sim=false"
    )
    catalog = write_spectra(cfg, UNITS)
    run_pipeline(cfg)
    read_yaml = get_handler("yaml").read
    records = [read_yaml(catalog.path("fg_params", split=s, sim=i)) for s, i in UNITS]
    assert all(r == records[0] for r in records) and records[0]["vary_per_sim"] is False
    assert catalog.path("fg_map", freq=857).is_file()
