"""E-to-B leakage of the analysis mask: the B power that E-only skies show after the analysis.

A dataset's mask (``make_mask``: the faintest 78 % of the foreground sky) and its analysis weight
and coupling matrices (``analysis_mask``, scenario.map_fields=IQU) are made by the real stages;
then skies with the simulation's lensed EE and no B mode go through the analysis's own path
(matched post-processing of an unbeamed truth, MASTER spectra with the spin-2 coupling). MASTER
removes the mean of the leaked B power; its scatter stays. Per bin of ``bin_width`` the script
prints the lensing BB of the simulation, the mean and standard deviation of the leaked BB and
their ratios to the lensing BB and to EE; docs/analysis.md quotes the results.

    python benchmarks/eb_leakage.py --nside 128 --n-real 30 [--out leakage.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

STAGES = [
    "make_instrument",
    "make_cosmology",
    "make_cmb_spectra",
    "make_foregrounds",
    "make_mask",
    "analysis_mask",
]


def measure(nside: int, n_real: int, root: Path, bin_width: int = 10, seed: int = 1) -> dict:
    """Leakage table of ``n_real`` E-only skies through the analysis of a dataset at ``nside``."""
    import healpy as hp

    from cmbml import sphere
    from cmbml.analysis import spectra
    from cmbml.analysis.master import Coupling
    from cmbml.analysis.postprocess import Resolution, postprocess_map
    from cmbml.core import Catalog, compose, run_pipeline

    cfg = compose(
        "config_all",
        [
            f"local_system.datasets_root={root}",
            f"scenario.nside={nside}",
            "scenario.map_fields=IQU",
            "splits.Train.n_sims=0",
            "splits.Valid.n_sims=0",
            "splits.Test.n_sims=1",
            f"pipeline.stages=[{','.join(STAGES)}]",
        ],
    )
    run_pipeline(cfg)
    catalog = Catalog.from_config(cfg)

    def read(name, **where):
        return catalog.handler(name).read(catalog.path(name, **where))

    spectrum = read("cmb_spectrum", split="Test", sim=0)
    mask = read("analysis_mask")
    weight = read("analysis_mask_apod")
    coupling = Coupling(read("analysis_coupling"))
    analysis = cfg.model.analysis
    common = Resolution(float(analysis.common_beam.fwhm_arcmin), bool(analysis.common_beam.pixwin))
    band, lmax = 3 * nside - 1, int(analysis.lmax)
    ee = spectrum["EE"].to_numpy()[: band + 1]
    rng = np.random.default_rng(seed)
    ell, m = hp.Alm.getlm(band)
    leaked, start = [], time.perf_counter()
    for _ in range(n_real):
        re, im = rng.standard_normal((2, ell.size))
        e = np.where(m == 0, re + 0j, (re + 1j * im) / np.sqrt(2.0)) * np.sqrt(ee[ell])
        iqu = sphere.alm2map(
            np.stack([np.zeros_like(e), e, np.zeros_like(e)]), nside, band, pol=True
        )
        pp = postprocess_map(iqu, mask, resolution=Resolution(), common_resolution=common, niter=1)
        out = spectra.masked_field_spectra(
            pp, pp, weight, lmax=lmax, truth_resolution=common, prediction_resolution=common,
            coupling=coupling,
        )  # fmt: skip
        leaked.append(out["BB"]["truth"])
    per_sky = (time.perf_counter() - start) / n_real
    edges = spectra.bin_edges(spectra.LMIN, lmax, bin_width)
    binned = spectra.bin_spectrum(np.array(leaked), edges)
    lensing = spectra.bin_spectrum(spectra.theory_dl(spectrum, lmax, spectrum="BB"), edges)
    e_power = spectra.bin_spectrum(spectra.theory_dl(spectrum, lmax, spectrum="EE"), edges)
    mean, std = binned.mean(axis=0), binned.std(axis=0, ddof=1)
    above = np.flatnonzero(std >= lensing)
    return {
        "nside": nside,
        "n_real": n_real,
        "fsky": float(mask.mean()),
        "apodization_deg": float(analysis.mask.apodization_deg),
        "bin_width": bin_width,
        "seconds_per_sky": per_sky,
        "ell_min": edges[:-1].tolist(),
        "lensing_bb_dl": lensing.tolist(),
        "leak_mean_dl": mean.tolist(),
        "leak_std_dl": std.tolist(),
        "std_over_lensing": (std / lensing).tolist(),
        "abs_mean_over_ee": (np.abs(mean) / e_power).tolist(),
        "first_bin_std_below_lensing": int(edges[above[-1] + 1]) if above.size else 2,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nside", type=int, default=128)
    parser.add_argument("--n-real", type=int, default=30)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        result = measure(args.nside, args.n_real, Path(root))
    print(
        f"nside {result['nside']}, f_sky {result['fsky']:.3f}, {result['n_real']} E-only skies, "
        f"{result['seconds_per_sky']:.2f} s each"
    )
    print("  l_min  lensing BB   leak mean   leak std  std/lensing  |mean|/EE")
    for k, lo in enumerate(result["ell_min"]):
        print(
            f"{lo:7d} {result['lensing_bb_dl'][k]:11.3e} {result['leak_mean_dl'][k]:11.2e} "
            f"{result['leak_std_dl'][k]:10.3e} {result['std_over_lensing'][k]:12.3f} "
            f"{result['abs_mean_over_ee'][k]:10.1e}"
        )
    print(f"leak std below the lensing BB from l = {result['first_bin_std_below_lensing']}")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
