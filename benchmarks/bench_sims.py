"""Simulation cost per sky: cmbml's sky + noise assembly against a PySM3 per-detector baseline.

For nside 64, 128 and 512 (``nside_sky = 2 * nside``, ``lmax = 3 * nside - 1``), the nine
CMB-ML detectors, intensity only (``I``) or with Q, U at 30-353 GHz (``IQU``), and the default
foreground sky (``cfg/model/sim/foregrounds/synthetic.yaml``: galactic components plus CIB,
tSZ, kSZ, radio and infrared sources):

* ``sims.sky.*``: the default pipeline. Foregrounds are the same for every simulation, so their
  beamed maps are made once per dataset (``fg_once_s``, of which ``fg_once_sht_s`` in
  transforms; not per simulation); one simulation is a Gaussian CMB realisation of given
  spectra, its truth map, nine beamed syntheses, plus the foreground maps and white noise
  (``wall_s``).
* ``sims.sky_varying_fg.*``: foregrounds regenerated for every simulation (templates and
  catalogues at ``nside_sky``, the B-mode calibration of the polarised templates, emission with
  varying beta/T per detector, batched analysis, syntheses).
* ``sims.sky_baseline_pysm3.*``: the obvious way, per detector: PySM3 ``get_emission`` of the
  galactic components (PySM3 classes fed the same synthetic templates, numba compiled
  beforehand) plus the same extragalactic maps and the CMB map at ``nside_sky``,
  ``pysm3.apply_smoothing_and_coord_transform`` (beam x pixel window, output nside), plus noise.
  The varying-foreground pipeline is timed again in the same process for a like-for-like ratio
  (``speedup``).

``sht_s`` is the time spent inside the spherical-harmonic transforms (:mod:`cmbml.sphere`,
ducc0) during the same runs, and ``wall_over_sht`` the ratio (target <= 2: everything else
costs no more than the transforms). ``sims.sky.*`` also times the transforms one simulation
needs (:func:`benchmarks.floor.sky_plan`, single-threaded, same process): ``floor_cpu_s`` and
``cpu_over_floor``, ``wall_over_floor``. The CMB spectra are a fixed analytic stand-in: CAMB
(2-3 s per spectrum) is not part of these timings, and neither is FITS I/O (see
``core.fits_map_roundtrip_nside512_9maps``). ``sims.per_sim.*.IQU``: one IQU simulation's sky
(CMB alm, truth map, nine beamed syntheses plus stored float32 foreground maps) and
observations (white + 1/f noise per detector) without file I/O, best of two, with its floor
(:func:`benchmarks.floor.sky_plan` + ``noise_plan``); it needs no foreground model, so it runs
to nside 1024. ``per_sim_numpy_peak_mb`` is the peak of numpy allocations during one simulation
(tracemalloc); ``peak_rss_mb`` is the whole process.
"""

from __future__ import annotations

import statistics
import time
import tracemalloc
from pathlib import Path

import numpy as np

from benchmarks.floor import noise_plan, over_floor, sky_plan
from benchmarks.registry import benchmark

BANDS = [30, 44, 70, 100, 143, 217, 353, 545, 857]
CONFIG = Path(__file__).resolve().parents[1] / "cfg/model/sim/foregrounds/synthetic.yaml"


class Setup:
    """Everything a simulation needs that does not change between simulations."""

    def __init__(self, nside: int, fields: str):
        from omegaconf import OmegaConf

        from cmbml import sphere
        from cmbml.sims.instrument import load_detectors
        from cmbml.sims.noise import sigma_maps
        from cmbml.sims.sky import detector_arrays

        self.nside, self.fields = nside, fields
        self.nside_sky = 2 * nside
        self.lmax = 3 * nside - 1
        self.detectors = load_detectors(bands=BANDS)
        self.freqs, self.fwhm, self.pol = detector_arrays(self.detectors.values(), fields)
        self.sigma = [
            sigma_maps(d.noise_levels(fields), nside)[:, :1] for d in self.detectors.values()
        ]
        self.fg_config = OmegaConf.to_container(OmegaConf.load(CONFIG))
        ell = np.arange(self.lmax + 1)
        tt = np.zeros(self.lmax + 1)
        tt[2:] = 2 * np.pi * 3e3 / (ell[2:] * (ell[2:] + 1.0)) * np.exp(-((ell[2:] / 1500) ** 2))
        self.cls = np.stack([tt, 0.02 * tt, 1e-4 * tt, 0.1 * tt])
        sphere.pixel_window(nside, self.lmax)  # cached per process (not a per-sim cost)

    def noise(self, rng, i):
        from cmbml.sims.noise import white_noise

        nfield = 3 if self.pol[i] else 1
        sigma = np.broadcast_to(self.sigma[i], (nfield, 12 * self.nside**2))
        return white_noise(sigma, rng)

    def cmb_alm(self, rng):
        from cmbml.sims.cmb import gaussian_cmb_alm

        return gaussian_cmb_alm(self.cls, self.lmax, rng, pol=bool(self.pol.any()))

    def foreground_model(self, seed, engine="numpy"):
        from cmbml.sims.foregrounds import model_from_config

        return model_from_config({**self.fg_config, "engine": engine}, self.nside_sky, seed)


class SHTClock:
    """Accumulates the wall time spent in :func:`cmbml.sphere.map2alm` and ``alm2map``."""

    def __init__(self):
        self.seconds = 0.0
        self._saved = {}

    def __enter__(self):
        from cmbml import sphere

        for name in ("map2alm", "alm2map"):
            original = getattr(sphere, name)
            self._saved[name] = original

            def timed(*args, _original=original, **kwargs):
                start = time.perf_counter()
                try:
                    return _original(*args, **kwargs)
                finally:
                    self.seconds += time.perf_counter() - start

            setattr(sphere, name, timed)
        return self

    def __exit__(self, *exc):
        from cmbml import sphere

        for name, original in self._saved.items():
            setattr(sphere, name, original)


def _timed(fn, repeats, cpu_out=None):
    """Median wall and transform times of ``fn(i)`` over repeats, and the numpy peak (MB);
    the median CPU time is appended to ``cpu_out`` if given."""
    walls, cpus, shts, peak = [], [], [], None
    for i in range(repeats):
        if i == 0:
            tracemalloc.start()
        with SHTClock() as clock:
            start, cpu = time.perf_counter(), time.process_time()
            fn(i)
            walls.append(time.perf_counter() - start)
            cpus.append(time.process_time() - cpu)
        shts.append(clock.seconds)
        if i == 0:
            peak = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
    if cpu_out is not None:
        cpu_out.append(statistics.median(cpus))
    return statistics.median(walls), statistics.median(shts), peak


def _simulate_fixed(s: Setup, fg_maps, sim):
    from cmbml.sims.sky import cmb_truth_map, sky_maps

    rng = np.random.default_rng(sim)
    alm = s.cmb_alm(rng)
    truth = cmb_truth_map(alm, s.nside, s.lmax)
    maps = sky_maps(alm, s.fwhm, s.pol, s.nside, s.lmax, fg_maps=fg_maps)
    return truth, [m + s.noise(rng, i) for i, m in enumerate(maps)]


def _simulate_varying(s: Setup, sim):
    from cmbml.sims.sky import cmb_truth_map, foreground_alms, sky_maps

    rng = np.random.default_rng(sim)
    alm = s.cmb_alm(rng)
    truth = cmb_truth_map(alm, s.nside, s.lmax)
    fg_alms = foreground_alms(s.foreground_model(1000 + sim), s.freqs, s.pol, s.lmax)
    maps = sky_maps(alm, s.fwhm, s.pol, s.nside, s.lmax, fg_alms=fg_alms)
    return truth, [m + s.noise(rng, i) for i, m in enumerate(maps)]


def _repeats(nside):
    """Timed repetitions (median): the machine is shared, small cases need more."""
    return {64: 10, 128: 5}.get(nside, 2)


def _register(nside, fields):
    tag = f"nside{nside}.{fields}"

    @benchmark(f"sims.sky.{tag}")
    def fixed() -> dict:
        from cmbml.sims.sky import beamed_foreground_maps

        s = Setup(nside, fields)
        with SHTClock() as clock:
            start = time.perf_counter()
            model = s.foreground_model(1)
            fg_maps = beamed_foreground_maps(model, s.freqs, s.fwhm, s.pol, nside, s.lmax)
            fg_once = time.perf_counter() - start
        del model
        cpu = []
        wall, sht, peak = _timed(lambda i: _simulate_fixed(s, fg_maps, i), _repeats(nside), cpu)
        result = {
            "wall_s": wall,
            "cpu_s": cpu[0],
            "sht_s": sht,
            "wall_over_sht": wall / sht,
            "fg_once_s": fg_once,
            "fg_once_sht_s": clock.seconds,
            "per_sim_numpy_peak_mb": peak,
        }
        return over_floor(result, sky_plan(nside, s.lmax, s.pol))

    @benchmark(f"sims.sky_varying_fg.{tag}")
    def varying() -> dict:
        s = Setup(nside, fields)
        wall, sht, peak = _timed(lambda i: _simulate_varying(s, i), _repeats(nside))
        return {
            "wall_s": wall,
            "sht_s": sht,
            "wall_over_sht": wall / sht,
            "per_sim_numpy_peak_mb": peak,
        }

    @benchmark(f"sims.sky_baseline_pysm3.{tag}")
    def baseline() -> dict:
        s = Setup(nside, fields)
        sim = _BaselinePySM3(s)
        start = time.perf_counter()
        sim.warm_up()
        compile_s = time.perf_counter() - start
        wall, _, _ = _timed(sim.simulate, _repeats(nside))
        ours, _, _ = _timed(lambda i: _simulate_varying(s, i), _repeats(nside))
        return {
            "wall_s": wall,
            "numba_compile_s": compile_s,
            "ours_varying_fg_s": ours,
            "speedup": wall / ours,
        }


class _BaselinePySM3:
    """Per detector: PySM3 emission + CMB at nside_sky, PySM3 smoothing to the output nside."""

    def __init__(self, s: Setup):
        self.s = s

    def warm_up(self):
        self.s.foreground_model(0, engine="pysm3").emission(100.0)

    def simulate(self, sim):
        import healpy as hp
        import pysm3
        import pysm3.units as u

        from cmbml import sphere

        s = self.s
        rng = np.random.default_rng(sim)
        alm = s.cmb_alm(rng)
        truth = hp.alm2map(alm if s.pol.any() else alm[0], s.nside, lmax=s.lmax)
        cmb_sky = hp.alm2map(alm if s.pol.any() else alm[0], s.nside_sky, lmax=s.lmax)
        cmb_sky = np.atleast_2d(cmb_sky)
        model = s.foreground_model(1000 + sim, engine="pysm3")
        window = sphere.pixel_window(s.nside, s.lmax)
        out = []
        for i, f in enumerate(s.freqs):
            nfield = 3 if s.pol[i] else 1
            total = model.emission(f, pol=nfield == 3) + cmb_sky[:nfield]
            if nfield == 3:  # beam x pixel window
                beam = hp.gauss_beam(np.radians(s.fwhm[i] / 60), s.lmax, pol=True).T[:3] * window
                kwargs = {"beam_window": beam}
            else:  # PySM3's beam_window needs I, Q, U: the plain beam (same cost)
                total, kwargs = total[0], {"fwhm": s.fwhm[i] * u.arcmin}
            smoothed = pysm3.apply_smoothing_and_coord_transform(
                total, lmax=s.lmax, output_nside=s.nside, **kwargs
            )
            out.append(np.atleast_2d(smoothed) + s.noise(rng, i))
        return truth, out


for _nside in (64, 128, 512):
    for _fields in ("I", "IQU"):
        _register(_nside, _fields)


def _per_sim(nside: int) -> dict:
    """One IQU simulation's sky and observation compute, as the stages do it, without I/O."""
    from cmbml.sims.noise import correlated_noise
    from cmbml.sims.sky import cmb_truth_map, sky_maps

    s = Setup(nside, "IQU")
    npix = 12 * nside**2
    fg_maps = [np.zeros((3 if p else 1, npix), np.float32) for p in s.pol]
    knees = [(d.ell_knee, d.alpha_knee) for d in s.detectors.values()]
    sky_cpu, obs_cpu, walls = [], [], []
    for sim in range(2):
        rng = np.random.default_rng(sim)
        start, cpu = time.perf_counter(), time.process_time()
        alm = s.cmb_alm(rng)
        cmb_truth_map(alm, nside, s.lmax)
        maps = sky_maps(alm, s.fwhm, s.pol, nside, s.lmax, fg_maps=fg_maps)
        sky_cpu.append(time.process_time() - cpu)
        cpu = time.process_time()
        for i, m in enumerate(maps):
            sigma = np.broadcast_to(s.sigma[i], m.shape)
            m += correlated_noise(sigma, rng, *knees[i])
        obs_cpu.append(time.process_time() - cpu)
        walls.append(time.perf_counter() - start)
        del maps
    result = {
        "wall_s": min(walls),
        "cpu_s": min(sky_cpu) + min(obs_cpu),
        "sky_cpu_s": min(sky_cpu),
        "obs_cpu_s": min(obs_cpu),
        "nside": nside,
    }
    return over_floor(result, sky_plan(nside, s.lmax, s.pol) + noise_plan(nside, s.pol))


for _nside in (64, 128, 256, 512, 1024):
    benchmark(f"sims.per_sim.nside{_nside}.IQU")(lambda nside=_nside: _per_sim(nside))
