"""Plot cost against nside (log-log) from a ``benchmarks/run.py`` results file.

Usage: ``python benchmarks/plot_scaling.py RESULTS.json OUT.png``

Per-simulation CPU seconds of the sky + observations (``sims.per_sim.*``), CNILC and HILC
(``ilc.*``) and the analysis (``analysis.per_sim.*``), and one spin-0 transform
(``scaling.sht.*``), with the nside^3 (lmax^3) transform scaling drawn through the nside-512
transform for reference. Series missing from the file are left out.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

SERIES = {
    "sky + observations per simulation (IQU)": r"sims\.per_sim\.nside(\d+)\.IQU",
    "CNILC per simulation (I)": r"ilc\.cnilc\.nside(\d+)",
    "HILC per simulation (I)": r"ilc\.hilc\.nside(\d+)",
    "analysis per simulation (I, matched)": r"analysis\.per_sim\.nside(\d+)",
    "one spin-0 synthesis, lmax = 3 nside - 1": r"scaling\.sht\.nside(\d+)",
}


def series(results: dict) -> dict[str, list[tuple[int, float]]]:
    """``{label: [(nside, cpu_s), ...]}`` of the benchmarks present without error."""
    out = {}
    for label, pattern in SERIES.items():
        points = []
        for name, r in results.items():
            match = re.fullmatch(pattern, name)
            if match and "error" not in r:
                points.append((int(match.group(1)), float(r.get("cpu_s", r["wall_s"]))))
        if points:
            out[label] = sorted(points)
    return out


def plot(results: dict, out: Path) -> None:
    """Write the log-log figure of :func:`series` to ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    data = series(results)
    for label, points in data.items():
        ax.loglog(*zip(*points, strict=True), "o-", label=label)
    ref = dict(data.get(list(SERIES)[-1], []))
    if 512 in ref:
        nsides = [64, 1024]
        ax.loglog(nsides, [ref[512] * (n / 512) ** 3 for n in nsides], "k--", label="∝ nside³ (ℓ³)")
    ax.set_xlabel("nside")
    ax.set_ylabel("CPU seconds (one thread)")
    ax.set_xticks([64, 128, 256, 512, 1024], ["64", "128", "256", "512", "1024"])
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    plot(json.loads(args.results.read_text()), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
