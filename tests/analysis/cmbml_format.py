"""A small dataset in CMB-ML's published format, for the analysis tests of CMB-ML's data.

CMB-ML's maps are PySM3's ``apply_smoothing_and_coord_transform`` output: each band's sky
smoothed by its Gaussian beam and synthesised with ``pixwin=False`` (no HEALPix pixel window),
plus noise, in uK_CMB; the truth ``cmb_map_fid.fits`` is the unbeamed CMB, ``cmb_ps_fid.txt``
its CAMB spectrum. Here the sky is the CMB alone (a Gaussian realisation of healpy's bundled
spectrum) and the noise white at ``noise_scale`` times the Planck level of each band (the
detector table's sensitivity).
``get_data/get_dataset.py`` writes the dataset's record (``dataset.yaml``: no pixel window).
"""

from __future__ import annotations

from pathlib import Path

import healpy as hp
import numpy as np
from camb.results import save_cmb_power_array

from cmbml import sphere
from cmbml.sims.instrument import default_detector_table, load_detectors
from cmbml.sims.noise import white_noise_sigma
from tests.get_data.test_scripts import load_script
from tests.sims.planck_files import write_planck_bintable

PLANCK_NAME = "COM_CMB_IQU-nilc_2048_R3.00_full.fits"


def theory_cl(lmax: int) -> np.ndarray:
    """TT C_l (uK_CMB², l = 0 .. lmax) of healpy's bundled ``totcls.dat``."""
    dl = np.loadtxt(Path(hp.__file__).parent / "data" / "totcls.dat")[: lmax + 1, 1]
    ell = np.arange(lmax + 1)
    cl = np.zeros(lmax + 1)
    cl[2:] = dl[2:] * 2 * np.pi / (ell[2:] * (ell[2:] + 1))
    return cl


def overrides(root: Path, planck: Path, nside: int, n_test: int, *extra: str) -> list[str]:
    """Config overrides of a CMB-ML-format dataset (paper_128 layout at ``nside``, Test only)
    under ``root``, the Planck NILC file ``planck`` giving the TMASK."""
    return [
        "scenario=paper_128",
        f"scenario.nside={nside}",
        "splits=1450",
        "splits.Train.n_sims=0",
        "splits.Valid.n_sims=0",
        f"splits.Test.n_sims={n_test}",
        f"local_system.datasets_root={root}",
        f"model.analysis.mask.planck_file={planck}",
        *extra,
    ]


def write_camb_spectrum(folder: Path, sim: int, lmax: int) -> None:
    """The simulation's ``cmb_ps_fid.txt``, written by CAMB's own writer (D_l in uK², l >= 0)."""
    table = np.loadtxt(Path(hp.__file__).parent / "data" / "totcls.dat")[: lmax + 1]
    spectra = np.zeros((lmax + 1, 7))
    spectra[:, :4] = table[:, 1:5]
    path = folder / f"Simulation_Working/Simulation_CMB_Power_Spectra/Test/sim{sim:04d}"
    path.mkdir(parents=True, exist_ok=True)
    save_cmb_power_array(str(path / "cmb_ps_fid.txt"), spectra, "TT EE BB TE PP PT PE")


def write_map(path: Path, data: np.ndarray) -> None:
    """An intensity map as CMB-ML writes it (float32, I_STOKES, uK_CMB)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    hp.write_map(path, data, column_names=["I_STOKES"], column_units=["uK_CMB"], dtype=np.float32)


def _gaussian_alm(cl: np.ndarray, lmax: int, rng: np.random.Generator) -> np.ndarray:
    """A Gaussian realisation of ``cl`` (healpy's alm order), drawn from ``rng`` (unlike
    ``hp.synalm``, which draws from numpy's global generator)."""
    ell, m = hp.Alm.getlm(lmax)
    sd = np.sqrt(cl[ell])
    re, im = rng.normal(size=(2, ell.size)) * sd
    return np.where(m == 0, re + 0j, (re + 1j * im) / np.sqrt(2.0))


def write_dataset(
    folder: Path, nside: int, n_test: int, *, noise_scale: float = 0.3, seed: int = 3
) -> None:
    """Test simulations (intensity) in CMB-ML's layout under ``folder`` and its record."""
    rng = np.random.default_rng(seed)
    lmax = 3 * nside - 1
    detectors = load_detectors(default_detector_table())
    for sim in range(n_test):
        sim_dir = folder / f"Simulation/Test/sim{sim:04d}"
        alm = _gaussian_alm(theory_cl(lmax), lmax, rng)
        write_map(sim_dir / "cmb_map_fid.fits", sphere.alm2map(alm, nside, lmax))
        write_camb_spectrum(folder, sim, 4 * nside)
        for band, det in detectors.items():
            beam = sphere.gaussian_beam(det.fwhm_arcmin, lmax)
            sky = sphere.alm2map(sphere.almxfl(alm, beam), nside, lmax)
            sigma = noise_scale * white_noise_sigma(det.noise_t_uk_arcmin, nside)
            write_map(sim_dir / f"obs_{band}_map.fits", sky + rng.normal(0.0, sigma, sky.size))
    load_script("get_dataset").write_record(folder)


def write_tmask(path: Path, nside: int, b_deg: float = 20.0) -> np.ndarray:
    """A Planck-format NILC file whose TMASK keeps |b| > ``b_deg`` (at 2 ``nside``, NESTED)."""
    fine = 2 * nside
    lat = np.degrees(np.arcsin(hp.pix2vec(fine, np.arange(12 * fine**2))[2]))
    tmask = (np.abs(lat) > b_deg).astype(float)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_planck_bintable(path, {"I_STOKES": 0 * tmask, "TMASK": tmask}, {"I_STOKES": "K_CMB"})
    return tmask


def post_by_hand(m, source_fwhm, target_fwhm, mask):
    """CMB-ML's D_common_map_post with healpy: map2alm at 2 nside, b_target[:lmax] /
    b_source[:lmax] (healpy's almxfl zero-pads the filter beyond), alm2map, hp.ma and
    hp.remove_dipole; returns the kept pixels."""
    nside = hp.npix2nside(np.size(m))
    lmax = 2 * nside
    ones = np.ones(lmax + 1)
    source = hp.gauss_beam(np.radians(source_fwhm / 60), lmax) if source_fwhm else ones
    target = hp.gauss_beam(np.radians(target_fwhm / 60), lmax) if target_fwhm else ones
    alm = hp.almxfl(hp.map2alm(m, lmax=lmax), target[:lmax] / source[:lmax])
    post = hp.ma(hp.alm2map(alm, nside))
    post.mask = np.logical_not(mask)
    return hp.remove_dipole(post).compressed()


def metrics_by_hand(t: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """scikit-learn's and scikit-image's definitions, as CMB-ML calls them, written out."""
    mse = np.mean((t - p) ** 2)
    data_range = max(t.max(), p.max()) - min(t.min(), p.min())
    return {
        "mae": np.mean(np.abs(t - p)),
        "mse": mse,
        "rmse": np.sqrt(mse),
        "nrmse": np.sqrt(np.sum((t - p) ** 2)) / np.sqrt(np.sum(t**2)),
        "psnr": 10 * np.log10(data_range**2 / mse),
        "r2": 1 - np.sum((t - p) ** 2) / np.sum((t - t.mean()) ** 2),
    }
