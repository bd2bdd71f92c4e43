"""Cost growth with nside: single transforms at ``lmax = 3 nside - 1`` (the reference).

``scaling.sht.nside{N}``: CPU seconds of one single-threaded ducc0 spin-0 synthesis, spin-0
adjoint synthesis and spin-2 synthesis on random input (best of three), for N = 64 ... 1024. A
transform costs O(lmax^3) ~ O(nside^3) at large nside. The stage benchmarks that run at every
nside (``sims.per_sim.*``, ``ilc.cnilc.*``, ``ilc.hilc.*``, ``analysis.per_sim.*``) are plotted
against them by ``python benchmarks/plot_scaling.py RESULTS.json docs/figures/scaling.png``.
"""

from __future__ import annotations

from benchmarks.floor import time_one
from benchmarks.registry import benchmark


def _sht(nside: int) -> dict:
    lmax = 3 * nside - 1
    out = {"nside": nside, "lmax": lmax}
    for label, kind, spin in (
        ("synthesis", "synthesis", 0),
        ("adjoint", "adjoint", 0),
        ("synthesis_spin2", "synthesis", 2),
    ):
        out[f"{label}_cpu_s"], out[f"{label}_wall_s"] = time_one(kind, nside, lmax, spin, 3)
    out["cpu_s"] = out["synthesis_cpu_s"]
    return out


for _nside in (64, 128, 256, 512, 1024):
    benchmark(f"scaling.sht.nside{_nside}")(lambda nside=_nside: _sht(nside))
