"""The whole demo: ``python main_all.py`` (and the polarised demo) from an empty datasets root.

Reports the wall time of the command, the peak memory of its process and the time of its
slowest stages (from the run log). Targets: the intensity demo in under 3 minutes on 2 cores.
"""

import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.registry import benchmark

REPO = Path(__file__).resolve().parents[1]


def _main_all(*overrides: str) -> dict:
    with tempfile.TemporaryDirectory() as root:
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, str(REPO / "main_all.py"), f"local_system.datasets_root={root}"]
            + list(overrides),
            check=True,
            capture_output=True,
            cwd=root,
        )
        wall = time.perf_counter() - start
        log = next(Path(root).rglob("run.log")).read_text()
    stages = {m[0]: float(m[1]) for m in re.findall(r"stage (\w+) done in ([\d.]+) s", log)}
    slowest = dict(sorted(stages.items(), key=lambda kv: -kv[1])[:5])
    return {
        "wall_s": wall,
        "child_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0,
        "slowest_stages_s": slowest,
    }


@benchmark("demo.main_all")
def demo() -> dict:
    """``python main_all.py``: scenario demo, nside 64, Train 40 / Valid 4 / Test 4."""
    return _main_all()


@benchmark("demo.main_all.demo_pol")
def demo_pol() -> dict:
    """``python main_all.py scenario=demo_pol``: the same with I, Q, U."""
    return _main_all("scenario=demo_pol")
