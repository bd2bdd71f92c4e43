"""The transform floor of the benchmarks counts the transforms the code really makes.

Each algorithm runs at a small size under :class:`benchmarks.floor.TransformLog` (every ducc0
call through :mod:`cmbml.sphere`); the recorded transforms must equal the plan derived from
the configuration, and a few totals are also counted here by hand.
"""

import numpy as np
import pytest

from benchmarks.bench_ilc import BEAMS_ARCMIN, POLARISED, synthetic_sky_iqu
from benchmarks.floor import (
    TransformLog,
    harmonic_plan,
    needlet_plan,
    noise_plan,
    sky_plan,
    tally,
    time_plan,
)
from cmbml.ilc import harmonic_ilc, needlet_ilc

NSIDE, ELLPEAKS = 32, [30, 60, 96]
LMAX = ELLPEAKS[-1] - 1


@pytest.fixture(scope="module")
def maps():
    return synthetic_sky_iqu(NSIDE, LMAX)


def _counted(fn):
    with TransformLog() as log:
        fn()
    return tally(log.calls)


@pytest.mark.parametrize("pol", [False, True])
def test_needlet_ilc_makes_the_planned_transforms(maps, pol):
    kwargs = {"polarised": POLARISED} if pol else {}
    x = maps if pol else maps[:, 0]
    counted = _counted(
        lambda: needlet_ilc(x, BEAMS_ARCMIN, ellpeaks=ELLPEAKS, output_fwhm_arcmin=20.6, **kwargs)
    )
    plan = needlet_plan(NSIDE, BEAMS_ARCMIN, ELLPEAKS, **kwargs)
    assert counted == tally(plan)


def test_needlet_plan_by_hand_intensity():
    # 8 channels, niter 3: 8 x 4 adjoints + 8 x 3 syntheses at (32, 95); 3 peaks make 4 cosine
    # needlet scales, all at nside 32 here, each with every channel: 8 syntheses, smoothing of
    # 8 maps + 36 pairs (44 adjoints + 44 syntheses), the combined map's 4 adjoints + 3
    # syntheses; 1 output synthesis.
    plan = tally(needlet_plan(NSIDE, BEAMS_ARCMIN, ELLPEAKS))
    adjoints = sum(n for (kind, *_), n in plan.items() if kind == "adjoint")
    syntheses = sum(n for (kind, *_), n in plan.items() if kind == "synthesis")
    assert adjoints == 32 + 4 * (44 + 4)
    assert syntheses == 24 + 4 * (8 + 44 + 3) + 1


@pytest.mark.parametrize("pol", [False, True])
def test_harmonic_ilc_makes_the_planned_transforms(maps, pol):
    kwargs = {"polarised": POLARISED} if pol else {}
    x = maps if pol else maps[:, 0]
    counted = _counted(
        lambda: harmonic_ilc(
            x, BEAMS_ARCMIN, bin_size=20, output_fwhm_arcmin=20.6, lmax=LMAX, **kwargs
        )
    )
    assert counted == tally(harmonic_plan(NSIDE, 8, LMAX, **kwargs))
    # by hand: 8 (+ 6 spin-2) analyses of 4 adjoints and 3 syntheses, one output synthesis each
    assert sum(counted.values()) == 8 * 7 + 1 + (6 * 7 + 1 if pol else 0)


def test_sky_and_noise_make_the_planned_transforms():
    from cmbml.sims.cmb import gaussian_cmb_alm
    from cmbml.sims.noise import correlated_noise
    from cmbml.sims.sky import cmb_truth_map, sky_maps

    nside, lmax = 16, 47
    pol = np.array([True] * 7 + [False] * 2)
    fwhm = np.linspace(60.0, 10.0, pol.size)
    cls = np.zeros((4, lmax + 1))
    cls[:3, 2:] = 1.0
    rng = np.random.default_rng(0)
    alm = gaussian_cmb_alm(cls, lmax, rng, pol=True)
    fg_maps = [np.zeros((3 if p else 1, 12 * nside**2)) for p in pol]

    def sky():
        cmb_truth_map(alm, nside, lmax)
        sky_maps(alm, fwhm, pol, nside, lmax, fg_maps=fg_maps)

    def noise():
        for p in pol:
            correlated_noise(np.ones((3 if p else 1, 12 * nside**2)), rng, 30.0, 1.5)

    assert _counted(sky) == tally(sky_plan(nside, lmax, pol))
    assert _counted(noise) == tally(noise_plan(nside, pol))
    # by hand: truth (spin 0 + spin 2) + 9 spin-0 + 7 spin-2 detector syntheses
    assert sum(tally(sky_plan(nside, lmax, pol)).values()) == 2 + 9 + 7


def test_time_plan_adds_up_the_transforms():
    plan = sky_plan(16, 47, [True, False])
    floor = time_plan(plan, repeats=1)
    assert floor["n_transforms"] == 5
    assert 0.0 < floor["floor_cpu_s"] < 5.0
