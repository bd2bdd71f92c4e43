"""Reproduce the paper_512 leaderboard of docs/results.md: CNILC and HILC in both scoring protocols.

Simulates ``scenario=paper_512`` with only Test simulations (Train 0 / Valid 0 / Test N), cleans
them with the needlet (CNILC) and harmonic (HILC) ILC at CMB-ML's settings, analyses both in the
``matched`` and the ``published`` protocol, and prints one Markdown table (mean ± std over the
Test simulations) next to the CMB-ML paper's published rows. Every step is one of the documented
commands; finished steps are skipped when run again.

Usage::

    python benchmarks/leaderboard_paper512.py [--n-test 5] [--workers 2] [--root DIR]

It takes tens of minutes on a laptop (nside 512: ~1 min of CAMB and 1 min of sky per
simulation, 12-60 s per ILC, a few s per analysis). The published protocol uses the Planck NILC
TMASK when ``<assets_dir>/planck/COM_CMB_IQU-nilc_2048_R3.00_full.fits`` is there
(``python get_data/get_planck_assets.py --only nilc``), the simulation's own mask otherwise.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cmbml.core import Catalog, compose  # noqa: E402

METRICS = ("mae", "rmse", "nrmse", "psnr")
PUBLISHED = {  # CMB-ML (Amato et al.), TQU-512-1450 Test split, its published protocol
    "CMBNNCS": {"mae": (25.40, 0.29), "rmse": (31.88, 0.36), "nrmse": (0.3057, 0.0040),
                "psnr": (30.20, 0.33)},
    "CNILC": {"mae": (32.15, 0.44), "rmse": (40.35, 0.55), "nrmse": (0.3869, 0.0043),
              "psnr": (28.57, 0.52)},
}  # fmt: skip
METHODS = {"CNILC": "cnilc", "HILC": "hilc"}


def _run(script: str, overrides: list[str]) -> None:
    cmd = [sys.executable, str(REPO / script), *overrides]
    print("$", " ".join(cmd[1:]), flush=True)
    subprocess.run(cmd, cwd=REPO, check=True)


def _overrides(args) -> list[str]:
    out = [
        "scenario=paper_512",
        "splits=1450",
        "splits.Train.n_sims=0",
        "splits.Valid.n_sims=0",
        f"splits.Test.n_sims={args.n_test}",
    ]
    if args.workers > 1:
        out += ["parallel=processes", f"parallel.n_workers={args.workers}"]
    if args.root:
        out.append(f"local_system.datasets_root={args.root}")
    return out


def _cell(mean: float, std: float, digits: int) -> str:
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def table(board: pd.DataFrame) -> str:
    """Markdown rows: CMB-ML's published ones, then cmbml's per protocol."""
    digits = {"mae": 2, "rmse": 2, "nrmse": 4, "psnr": 2}
    lines = [
        "| source | protocol | model | MAE (uK) | RMSE (uK) | NRMSE | PSNR (dB) |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for model, values in PUBLISHED.items():
        cells = [_cell(*values[m], digits[m]) for m in METRICS]
        lines.append(f"| CMB-ML paper | published | {model} | " + " | ".join(cells) + " |")
    for _, row in board.iterrows():
        cells = [_cell(row[f"{m}_mean"], row[f"{m}_std"], digits[m]) for m in METRICS]
        lines.append(f"| cmbml | {row['protocol']} | {row['model']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-test", type=int, default=5, help="Test simulations (default 5)")
    parser.add_argument("--workers", type=int, default=2, help="processes for the simulation")
    parser.add_argument("--root", help="datasets root (default: local_system.datasets_root)")
    args = parser.parse_args(argv)
    common = _overrides(args)
    _run("main_sims.py", common)
    single = [o for o in common if not o.startswith("parallel")]  # the ILC threads itself
    models = []
    for name, option in METHODS.items():
        _run("main_pyilc_predict.py", [*single, f"model/pyilc={option}"])
        models.append(f"{{model: {name}, working: PyILC_{name}, epoch: null}}")
        for protocol in ("matched", "published"):
            opts = [*single, f"model/pyilc={option}", f"model.analysis.protocol={protocol}"]
            _run("main_pyilc_analysis.py", opts)
    boards = []
    for protocol in ("matched", "published"):
        opts = [
            *single,
            f"model.analysis.protocol={protocol}",
            f"model.analysis.compare.models=[{','.join(models)}]",
        ]
        _run("main_analysis_compare.py", opts)
        catalog = Catalog.from_config(compose("config_comp_models", opts))
        boards.append(pd.read_csv(catalog.path("comparison_pixel")))
    print(table(pd.concat(boards, ignore_index=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
