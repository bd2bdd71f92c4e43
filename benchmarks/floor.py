"""Spherical-harmonic transform floor: the transforms an algorithm needs, counted and timed.

A :class:`Transform` is ``n`` single transforms of one kind (ducc0 ``synthesis`` or
``adjoint_synthesis``), at one ``nside``, ``lmax`` and spin (spin 2 transforms a Q, U pair).
The ``*_plan`` functions list what each algorithm needs, derived from its configuration by
hand (the structure of the algorithm, not a trace of the code); :class:`TransformLog` records
what the code actually calls (``tests/test_bench_floor.py`` checks that the two agree), and
:func:`time_plan` times exactly the planned transforms, single-threaded, on random inputs.
A benchmark's ``cpu_s / floor_cpu_s`` is then its cost over the transforms it cannot avoid.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Transform:
    """``n`` transforms of ``kind`` ("synthesis" or "adjoint") at ``nside``, ``lmax``, ``spin``."""

    kind: str
    nside: int
    lmax: int
    spin: int
    n: int = 1


def tally(plan) -> Counter:
    """``{(kind, nside, lmax, spin): total n}`` of a list of :class:`Transform`."""
    out = Counter()
    for t in plan:
        out[(t.kind, t.nside, t.lmax, t.spin)] += t.n
    return out


class TransformLog:
    """Records every ducc0 transform made through :mod:`cmbml.sphere` inside the block."""

    def __init__(self):
        self.calls: list[Transform] = []
        self._saved = {}

    def __enter__(self):
        from cmbml import sphere

        def wrap(kind, original):
            def logged(arr, nside, lmax, spin, *args):
                self.calls.append(Transform(kind, nside, lmax, spin, arr.shape[0]))
                return original(arr, nside, lmax, spin, *args)

            return logged

        for kind, name in (("synthesis", "_synthesis"), ("adjoint", "_adjoint")):
            self._saved[name] = getattr(sphere, name)
            setattr(sphere, name, wrap(kind, self._saved[name]))
        return self

    def __exit__(self, *exc):
        from cmbml import sphere

        for name, original in self._saved.items():
            setattr(sphere, name, original)


def _analysis(nside, lmax, spin, n, niter) -> list[Transform]:
    """``map2alm`` with ``niter`` Jacobi iterations: 1 + niter adjoints, niter syntheses."""
    out = [Transform("adjoint", nside, lmax, spin, n * (1 + niter))]
    if niter:
        out.append(Transform("synthesis", nside, lmax, spin, n * niter))
    return out


def _smoothing(nside, lmax, n) -> list[Transform]:
    """Gaussian smoothing of ``n`` maps: plain analysis and synthesis to the kernel's lmax."""
    return [Transform("adjoint", nside, lmax, 0, n), Transform("synthesis", nside, lmax, 0, n)]


def _output(nside, lmax, fields: str) -> list[Transform]:
    """The final synthesis of the combined T and/or E, B alm."""
    out = [Transform("synthesis", nside, lmax, 0, 1)] if "I" in fields else []
    if "Q" in fields:
        out.append(Transform("synthesis", nside, lmax, 2, 1))
    return out


def needlet_plan(
    nside, beams_arcmin, ellpeaks, *, polarised=None, niter=3, ilc_bias_tol=1e-3, masked=False
) -> list[Transform]:
    """Transforms of a cosine-needlet ILC of ``(n_freq, npix)`` (or I, Q, U with ``polarised``).

    Per field group (T with every channel; E and B with the polarised ones): one analysis per
    channel; per scale ``j`` one synthesis per field and channel used at ``nside_j``; per field,
    the covariance: smoothing of the channel maps and of the channel-pair products (and of the
    mask) at the kernel's lmax; the analysis of the combined map; finally one synthesis.
    """
    from cmbml.ilc.covariance import ilc_bias_fwhm, smoothing_lmax
    from cmbml.ilc.windows import (
        channels_in_use,
        cosine_needlet_windows,
        scale_nsides,
        window_ell_f,
        window_support,
    )

    windows = cosine_needlet_windows(ellpeaks)
    lmax = windows.shape[1] - 1
    support = window_support(windows)
    nsides = scale_nsides(window_ell_f(windows, 1e-3), support, nside)
    beams = np.asarray(beams_arcmin, dtype=float)
    groups = [(1, 0, np.arange(beams.size))]
    if polarised is not None:
        groups.append((2, 2, np.flatnonzero(polarised)))
    plan = []
    for n_fields, spin, channels in groups:
        plan += _analysis(nside, lmax, spin, channels.size, niter)
        use = channels_in_use(windows, beams[channels], 1e-3)
        for j, window in enumerate(windows):
            n_used, nside_j = int(use[j].sum()), int(nsides[j])
            lmax_j = int(min(support[j], 3 * nside_j - 1))
            plan.append(Transform("synthesis", nside_j, lmax_j, 0, n_fields * n_used))
            fwhm = ilc_bias_fwhm(window, n_used, ilc_bias_tol=ilc_bias_tol)
            lmax_s = smoothing_lmax(fwhm, nside_j)
            n_smoothed = n_used + n_used * (n_used + 1) // 2 + int(masked)
            plan += _smoothing(nside_j, lmax_s, n_fields * n_smoothed)
            plan += _analysis(nside_j, lmax_j, 0, n_fields, niter)
    return plan + _output(nside, lmax, "IQU" if polarised is not None else "I")


def harmonic_plan(nside, n_freq, lmax, *, polarised=None, niter=3, masked=False) -> list[Transform]:
    """Transforms of a harmonic ILC: one analysis per channel and field group (two with a
    mask: the covariance comes from the masked maps), one synthesis of the result."""
    groups = [(0, n_freq)] + ([(2, int(np.sum(polarised)))] if polarised is not None else [])
    plan = []
    for spin, n in groups:
        plan += _analysis(nside, lmax, spin, n * (1 + int(masked)), niter)
    return plan + _output(nside, lmax, "IQU" if polarised is not None else "I")


def sky_plan(nside, lmax, polarised) -> list[Transform]:
    """One simulation's sky with fixed foreground maps: the CMB truth map and one beamed
    synthesis per detector (spin 0, plus spin 2 for polarised detectors)."""
    n_pol = int(np.sum(polarised))
    truth = [Transform("synthesis", nside, lmax, 0, 1)]
    if n_pol:
        truth.append(Transform("synthesis", nside, lmax, 2, 1))
    detectors = [Transform("synthesis", nside, lmax, 0, len(polarised))]
    if n_pol:
        detectors.append(Transform("synthesis", nside, lmax, 2, n_pol))
    return truth + detectors


def noise_plan(nside, polarised) -> list[Transform]:
    """One simulation's noise with 1/f: one synthesis of the 1/f field per detector."""
    n_pol = int(np.sum(polarised))
    lmax = 3 * nside - 1
    plan = [Transform("synthesis", nside, lmax, 0, len(polarised))]
    if n_pol:
        plan.append(Transform("synthesis", nside, lmax, 2, n_pol))
    return plan


def time_one(kind, nside, lmax, spin, repeats) -> tuple[float, float]:
    """Best (CPU, wall) seconds of one single-threaded ducc0 transform on random input."""
    import ducc0

    from cmbml.sphere import nalm

    geom = ducc0.healpix.Healpix_Base(nside, "RING").sht_info()
    ncomp = 2 if spin else 1
    rng = np.random.default_rng(0)
    alm = rng.standard_normal((ncomp, nalm(lmax))) + 0j
    maps = rng.standard_normal((ncomp, 12 * nside * nside))
    best = (np.inf, np.inf)
    for _ in range(repeats):
        cpu, wall = time.process_time(), time.perf_counter()
        if kind == "synthesis":
            ducc0.sht.synthesis(alm=alm, lmax=lmax, spin=spin, nthreads=1, map=maps, **geom)
        else:
            ducc0.sht.adjoint_synthesis(map=maps, lmax=lmax, spin=spin, nthreads=1, alm=alm, **geom)
        best = min(best, (time.process_time() - cpu, time.perf_counter() - wall))
    return best


def time_plan(plan, repeats: int = 3) -> dict:
    """Time each distinct planned transform (best of ``repeats``) and add them up.

    Returns
    -------
    dict
        ``floor_cpu_s``, ``floor_wall_s`` (single-threaded seconds of the whole plan) and
        ``n_transforms``.
    """
    cpu = wall = 0.0
    counts = tally(plan)
    for key, n in counts.items():
        c, w = time_one(*key, repeats)
        cpu += n * c
        wall += n * w
    return {"floor_cpu_s": cpu, "floor_wall_s": wall, "n_transforms": sum(counts.values())}


def over_floor(result: dict, plan, repeats: int = 3) -> dict:
    """``result`` (with ``cpu_s`` and ``wall_s``) plus the floor of ``plan`` and the ratios."""
    floor = time_plan(plan, repeats)
    return {
        **result,
        **floor,
        "cpu_over_floor": result["cpu_s"] / floor["floor_cpu_s"],
        "wall_over_floor": result["wall_s"] / floor["floor_wall_s"],
    }
