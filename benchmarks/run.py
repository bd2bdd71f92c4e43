"""Run cmbml's benchmarks and write their speeds and peak memory as JSON.

Usage: ``python benchmarks/run.py --out results.json [--only SUBSTRING ...] [--list]
[--threads N]``

Each benchmark runs in a fresh subprocess, so its peak resident memory (``peak_rss_mb``) is its
own. Benchmarks live in ``benchmarks/bench_*.py`` and register with ``@benchmark("name")``.
The subprocess runs with ``--threads`` threads (default 1: OpenMP, BLAS, PyTorch and the
transforms, ``CMBML_NTHREADS``), so that ``cpu_s`` is the single-threaded cost; every result
records the process CPU time (``process_cpu_s``) and the machine's load average before and
after it (``load_before``, ``load_after``), which says how far its wall times can be trusted.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.registry import BENCHMARKS  # noqa: E402


def load_all() -> None:
    """Import every ``benchmarks/bench_*.py`` so that they register."""
    for module in pkgutil.iter_modules([str(HERE)]):
        if module.name.startswith("bench_"):
            importlib.import_module(f"benchmarks.{module.name}")


def run_one(name: str) -> dict:
    """Run benchmark ``name`` in this process; return its measurements."""
    import resource

    load_all()
    load = os.getloadavg()[0]
    start, cpu = time.perf_counter(), time.process_time()
    result = dict(BENCHMARKS[name]() or {})
    result.setdefault("wall_s", time.perf_counter() - start)
    result["process_cpu_s"] = time.process_time() - cpu
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    result["load_before"], result["load_after"] = load, os.getloadavg()[0]
    return result


def thread_env(threads: int) -> dict:
    """Environment limiting every thread pool of a benchmark process to ``threads``."""
    names = ["OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"]
    return {**{n: str(threads) for n in names}, "CMBML_NTHREADS": str(threads)}


def run_isolated(name: str, timeout: float, threads: int = 1) -> dict:
    """Run one benchmark in a subprocess; failures are reported, not raised."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name]
    try:
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **thread_env(threads), "PYTHONPATH": str(HERE.parent)},
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="JSON file to write")
    parser.add_argument("--only", nargs="*", default=[], help="run names containing these")
    parser.add_argument("--list", action="store_true", help="list benchmark names and exit")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per benchmark")
    parser.add_argument("--threads", type=int, default=1, help="threads per benchmark")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run_one(args.child)))
        return 0
    load_all()
    names = [n for n in BENCHMARKS if not args.only or any(s in n for s in args.only)]
    if args.list:
        print("\n".join(names))
        return 0
    if args.out is None:
        parser.error("--out is required")
    results = {}
    for name in names:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        results[name] = run_isolated(name, args.timeout, args.threads)
        print(f"  {json.dumps(results[name])}", file=sys.stderr, flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=2) + "\n")
    tmp.replace(args.out)
    failed = [n for n, r in results.items() if "error" in r]
    print(f"wrote {args.out} ({len(results)} benchmarks, {len(failed)} failed)", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
