"""Residuals of the networks against the 12 HEALPix base faces (docs/networks.md).

Usage: ``python docs/face_edges_figure.py DATASET_DIR OUT.png [--methods CMBNNCS PatchNN ...]``

``DATASET_DIR`` is a dataset after ``python main_all.py --config-name config_all_methods`` (e.g.
``data/datasets/CMB_ML_64_demo``). For each method, the RMS over the Test simulations of the
matched-protocol residual (post-processed prediction minus post-processed truth, uK_CMB) is
drawn in Mollweide with the base-face boundaries; the last panel is ``face_edge_ratio``
(:func:`cmbml.analysis.face_edges.face_edge_ratio` of each simulation's residual, kept pixels of
the analysis mask) against the width of the edge band, mean over the Test simulations.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import healpy as hp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cmbml.analysis.face_edges import face_edge_ratio  # noqa: E402

WIDTHS = (1, 2, 4, 8)


def residuals(dataset: Path, method: str) -> list[np.ndarray]:
    """The matched-protocol residual maps ``(npix,)`` of every Test simulation of ``method``
    (its last epoch), uK_CMB."""
    sims = sorted((dataset / method / "Analysis" / "matched" / "Test").glob("sim*"))
    if not sims:
        raise FileNotFoundError(f"no matched-protocol Test analysis of {method} under {dataset}")
    out = []
    for sim in sims:
        preds = sorted(sim.glob("cmb_pred_pp*.fits"))
        if not preds:
            raise FileNotFoundError(f"no post-processed prediction in {sim}")
        truth = hp.read_map(sim / "cmb_truth_pp.fits", dtype=np.float64)
        out.append(hp.read_map(preds[-1], dtype=np.float64) - truth)
    return out


def draw_face_edges(nside: int = 1) -> None:
    """Outline the 12 base faces on the current Mollweide axes."""
    for face in range(12):
        vectors = hp.boundaries(nside, face, step=32)
        theta, phi = hp.vec2ang(vectors.T)
        hp.projplot(np.append(theta, theta[0]), np.append(phi, phi[0]), "k-", lw=0.5)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--methods", nargs="+", default=["CMBNNCS", "PatchNN", "DeepSphere"])
    args = parser.parse_args(argv)
    good = hp.read_map(args.dataset / "Analysis_Mask" / "matched" / "mask.fits") > 0.5
    maps = {m: residuals(args.dataset, m) for m in args.methods}
    rms = {m: np.sqrt(np.mean(np.square(r), axis=0)) for m, r in maps.items()}
    vmax = max(float(np.percentile(r[good], 99)) for r in rms.values())
    fig = plt.figure(figsize=(4.4 * (len(rms) + 1), 3.2))
    for i, (method, values) in enumerate(rms.items()):
        shown = np.where(good, values, hp.UNSEEN)
        hp.mollview(
            shown, fig=fig.number, sub=(1, len(rms) + 1, i + 1), min=0, max=vmax,
            title=f"{method}: RMS residual (uK)", cmap="magma", cbar=True, format="%.0f",
        )  # fmt: skip
        draw_face_edges()
    ax = fig.add_subplot(1, len(rms) + 1, len(rms) + 1)
    for method, sims in maps.items():
        ratios = [np.mean([face_edge_ratio(r, good, w) for r in sims]) for w in WIDTHS]
        ax.plot(WIDTHS, ratios, "o-", label=method)
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set(xscale="log", xlabel="edge band width (pixels)", ylabel="face_edge_ratio")
    ax.set_xticks(WIDTHS, [str(w) for w in WIDTHS])
    ax.minorticks_off()
    ax.legend()
    fig.subplots_adjust(left=0.01, right=0.99, wspace=0.3, bottom=0.18)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)


if __name__ == "__main__":
    main()
