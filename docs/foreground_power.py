"""Foreground and CMB power per band at l ~ 100 and l ~ 1000 on the default sky (docs/sky-model.md).

Usage: ``python docs/foreground_power.py [--nside 512] [--seed 1] [--out table.md]``

The default synthetic foregrounds (``cfg/model/sim/foregrounds/synthetic.yaml``) are built at
``nside_sky = 2 * nside``; each component's unbeamed intensity (uK_CMB, delta bandpass at the
CMB-ML detector centres) is analysed to ``lmax = 1100`` on the default analysis mask (the
faintest 78 % of the smoothed 353 GHz foregrounds, 3 deg C1 apodisation; pseudo-C_l divided by
the mean squared window). The CMB is CAMB's lensed TT for the Planck 2018 best fit. ``D_l`` is
averaged over 90 <= l <= 110 and 950 <= l <= 1050. Needs ``nside >= 512`` for l ~ 1000 (the
synthetic fields are band-limited at ``3 * nside``); it takes a few minutes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import healpy as hp
import numpy as np
from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cmbml import sphere  # noqa: E402
from cmbml.sims.foregrounds import model_from_config  # noqa: E402
from cmbml.sims.instrument import load_detectors  # noqa: E402
from cmbml.sims.mask import apodize_c1, foreground_mask, source_holes  # noqa: E402

CONFIG = ROOT / "cfg/model/sim/foregrounds/synthetic.yaml"
MASK_CONFIG = ROOT / "cfg/model/sim/mask/foreground.yaml"
BANDS = [30, 44, 70, 100, 143, 217, 353, 545, 857]
BINS = {"100": (90, 110), "1000": (950, 1050)}
LMAX = 1100
PLANCK_2018 = {"H0": 67.36, "ombh2": 0.02237, "omch2": 0.12, "tau": 0.0544, "ns": 0.9649}


def cmb_dl(lmax: int) -> np.ndarray:
    """Lensed TT D_l (uK^2) of the Planck 2018 best fit, l = 0..lmax."""
    import camb

    pars = camb.set_params(As=2.1e-9, lmax=lmax + 500, lens_potential_accuracy=1, **PLANCK_2018)
    results = camb.get_results(pars)
    return results.get_cmb_power_spectra(pars, CMB_unit="muK")["total"][: lmax + 1, 0]


def band_mean(dl: np.ndarray, key: str) -> float:
    lo, hi = BINS[key]
    return float(dl[lo : hi + 1].mean())


def analysis_window(cfg: dict, nside_sky: int, seed: int, detectors: dict) -> np.ndarray:
    """The default analysis mask (``cfg/model/sim/mask/foreground.yaml``), apodised, at
    ``nside_sky``: the faintest 78 % at 353 GHz, less the point-source holes."""
    mcfg = OmegaConf.to_container(OmegaConf.load(MASK_CONFIG))
    model = model_from_config(cfg, nside_sky, seed)
    low = hp.ud_grade(model.emission(detectors[353].center_ghz, pol=False)[0], 128)
    mask = foreground_mask(low, mcfg["fsky"], mcfg["smoothing_fwhm_arcmin"])
    window = hp.ud_grade(apodize_c1(mask, mcfg["apodization_deg"]), nside_sky)
    pcfg = mcfg["point_sources"]
    holes = source_holes(cfg["components"], seed, pcfg, detectors, nside_sky)
    return window * apodize_c1(holes, pcfg["apodization_deg"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nside", type=int, default=512, help="output nside (sky at 2 x)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="write the Markdown table here")
    args = parser.parse_args(argv)
    nside_sky = 2 * args.nside
    if 3 * args.nside < LMAX:
        parser.error(f"--nside {args.nside} does not reach l = {LMAX}: use >= 512")
    cfg = OmegaConf.to_container(OmegaConf.load(CONFIG))
    detectors = load_detectors(bands=BANDS)
    freqs = {b: d.center_ghz for b, d in detectors.items()}
    window = analysis_window(cfg, nside_sky, args.seed, detectors)
    norm = np.mean(window**2)
    ell = np.arange(LMAX + 1)
    to_dl = ell * (ell + 1) / (2 * np.pi) / norm
    total = {b: np.zeros(sphere.nalm(LMAX), dtype=np.complex128) for b in BANDS}
    parts: dict[int, dict[str, float]] = {b: {} for b in BANDS}
    for name, comp in cfg["components"].items():
        if not comp.get("enabled", True):
            continue
        alone = {n: {**c, "enabled": n == name} for n, c in cfg["components"].items()}
        model = model_from_config({**cfg, "components": alone}, nside_sky, args.seed)
        for b in BANDS:
            alm = sphere.map2alm(model.emission(freqs[b], pol=False)[0] * window, LMAX)
            total[b] += alm
            parts[b][name] = band_mean(hp.alm2cl(alm) * to_dl, "1000")
        del model
        print(f"{name} done", file=sys.stderr)
    cmb = cmb_dl(LMAX)
    lines = [
        "| band (GHz) | fg D_100 (uK²) | fg / CMB at l ~ 100 | fg D_1000 (uK²) "
        "| fg / CMB at l ~ 1000 | largest at l ~ 1000 |",
        "|---|---|---|---|---|---|",
    ]
    for b in BANDS:
        dl = hp.alm2cl(total[b]) * to_dl
        d100, d1000 = band_mean(dl, "100"), band_mean(dl, "1000")
        top = max(parts[b], key=parts[b].get)
        share = parts[b][top] / sum(parts[b].values())
        lines.append(
            f"| {b} | {d100:.3g} | {d100 / band_mean(cmb, '100'):.3g} | {d1000:.3g} "
            f"| {d1000 / band_mean(cmb, '1000'):.3g} | {top} ({share:.0%}) |"
        )
    lines.append(
        f"\nCMB (Planck 2018 lensed TT): D_100 = {band_mean(cmb, '100'):.0f} uK², "
        f"D_1000 = {band_mean(cmb, '1000'):.0f} uK²; mean squared window {norm:.3f} (78 % "
        f"less the point-source holes), nside {args.nside}, seed {args.seed}."
    )
    table = "\n".join(lines)
    print(table)
    if args.out:
        args.out.write_text(table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
