"""Reproduce the paper_512 leaderboard of docs/results.md: the ILC methods in cmbml's and CMB-ML's
protocols.

Simulates ``scenario=paper_512`` with only Test simulations (Train 0 / Valid 0 / Test N), cleans
them with each ILC configuration (``--pyilc``: ``model/pyilc`` options, default the needlet CNILC
and the harmonic HILC), analyses each in every protocol of ``--protocols`` (default ``matched``,
``published`` and ``iccv2025``), and prints one Markdown table (mean ± std over the Test
simulations) next to CMB-ML's published rows: its main-branch table for ``published``, its ICCV
2025 table (one block per target beam) for ``iccv2025``. Every step is one of the documented
commands; finished steps are skipped when run again.

Usage::

    python benchmarks/leaderboard_paper512.py [--n-test 5] [--workers 2] [--root DIR]
        [--pyilc cnilc hilc] [--protocols matched published iccv2025] [KEY=VALUE ...]

It takes tens of minutes on a laptop (nside 512: ~1 min of CAMB and 1 min of sky per
simulation, 12-60 s per ILC, a few s per analysis). CMB-ML's protocols score on the Planck NILC
TMASK, ``<assets_dir>/planck/COM_CMB_IQU-nilc_2048_R3.00_full.fits``
(``python get_data/get_planck_assets.py --only nilc``); without it they stop and say so, unless
``model.analysis.mask.source=dataset`` is passed (then the tables name the dataset's mask).
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
PUBLISHED = {  # CMB-ML (Amato et al.), TQU-512-1450 Test split, its main-branch table
    "CMBNNCS": {"mae": (25.40, 0.29), "rmse": (31.88, 0.36), "nrmse": (0.3057, 0.0040),
                "psnr": (30.20, 0.33)},
    "CNILC": {"mae": (32.15, 0.44), "rmse": (40.35, 0.55), "nrmse": (0.3869, 0.0043),
              "psnr": (28.57, 0.52)},
}  # fmt: skip
ICCV2025 = {  # CMB-ML's ICCV 2025 table (branch archive-iccv2025, README "Comparing Results")
    "deconvolved": {
        "CMBNNCS": {"mae": (18.50, 0.19), "rmse": (23.26, 0.23), "nrmse": (0.2280, 0.0030),
                    "psnr": (32.72, 0.36)},
        "CNILC": {"mae": (59.83, 0.12), "rmse": (76.45, 0.15), "nrmse": (0.7492, 0.0138),
                  "psnr": (33.29, 0.26)},
    },
    "20.6arcmin": {
        "CMBNNCS": {"mae": (3.314, 0.017), "rmse": (4.235, 0.023), "nrmse": (0.04920, 0.0009),
                    "psnr": (45.71, 0.41)},
        "CNILC": {"mae": (6.391, 0.420), "rmse": (8.686, 0.555), "nrmse": (0.1009, 0.0062),
                  "psnr": (41.42, 0.77)},
    },
    "60arcmin": {
        "CMBNNCS": {"mae": (0.594, 0.005), "rmse": (0.788, 0.008), "nrmse": (0.01265, 0.00037),
                    "psnr": (56.81, 0.48)},
        "CNILC": {"mae": (3.870, 0.63), "rmse": (5.887, 0.777), "nrmse": (0.09439, 0.01168),
                  "psnr": (39.43, 1.12)},
    },
}  # fmt: skip
DIGITS = {"mae": 3, "rmse": 3, "nrmse": 5, "psnr": 2}


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


def _cells(values: dict) -> str:
    return " | ".join(
        f"{values[m][0]:.{DIGITS[m]}f} ± {values[m][1]:.{DIGITS[m]}f}" for m in METRICS
    )


def table(board: pd.DataFrame) -> str:
    """Markdown rows: CMB-ML's published ones, then cmbml's, per protocol (and target beam)."""
    lines = [
        "| source | protocol | beam | model | MAE (uK) | RMSE (uK) | NRMSE | PSNR (dB) |",
        "| --- | --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for model, values in PUBLISHED.items():
        lines.append(f"| CMB-ML main | published | own | {model} | {_cells(values)} |")
    for beam, rows in ICCV2025.items():
        for model, values in rows.items():
            lines.append(f"| CMB-ML ICCV 2025 | iccv2025 | {beam} | {model} | {_cells(values)} |")
    for _, row in board.iterrows():
        values = {m: (row[f"{m}_mean"], row[f"{m}_std"]) for m in METRICS}
        beam = row.get("beam") if isinstance(row.get("beam"), str) else "-"
        lines.append(f"| cmbml | {row['protocol']} | {beam} | {row['model']} | {_cells(values)} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-test", type=int, default=5, help="Test simulations (default 5)")
    parser.add_argument("--workers", type=int, default=2, help="processes for the simulation")
    parser.add_argument("--root", help="datasets root (default: local_system.datasets_root)")
    parser.add_argument("--pyilc", nargs="+", default=["cnilc", "hilc"],
                        help="model/pyilc options to run (default: cnilc hilc)")  # fmt: skip
    parser.add_argument("--protocols", nargs="+", default=["matched", "published", "iccv2025"],
                        choices=["matched", "published", "iccv2025"])  # fmt: skip
    parser.add_argument("overrides", nargs="*",
                        help="Hydra overrides for every step, e.g. model.analysis.mask.source="
                             "dataset where the Planck TMASK is not available")  # fmt: skip
    args = parser.parse_args(argv)
    common = [*_overrides(args), *args.overrides]
    _run("main_sims.py", common)
    single = [o for o in common if not o.startswith("parallel")]  # the ILC threads itself
    models = []
    for option in args.pyilc:
        method = [*single, f"model/pyilc={option}"]
        pyilc = compose("config_pyilc", method).model.pyilc
        _run("main_pyilc_predict.py", method)
        name = pyilc.name if all(f"model: {pyilc.name}," not in m for m in models) else option
        models.append(f"{{model: {name}, working: {pyilc.working}, epoch: null}}")
        for protocol in args.protocols:
            _run("main_pyilc_analysis.py", [*method, f"model.analysis.protocol={protocol}"])
    boards = []
    for protocol in args.protocols:
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
