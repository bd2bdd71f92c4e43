"""Writers of small files in the Planck and WMAP formats, for the real-asset tests."""

from __future__ import annotations

import healpy as hp
import numpy as np
from astropy.io import fits

from cmbml.pixwin import pixel_window

#: PR3 full-mission frequency maps: file (Planck Legacy Archive name), native beam FWHM (arcmin,
#: Planck 2018 I) and, for the MJy/sr maps, MJy/sr per K_CMB (Planck 2015 VIII).
PR3_FILES = {
    band: f"LFI_SkyMap_{band:03d}-BPassCorrected_1024_R3.00_full.fits" for band in (30, 44, 70)
}
PR3_FILES |= {band: f"HFI_SkyMap_{band}_2048_R3.01_full.fits" for band in (100, 143, 217, 545, 857)}
PR3_FILES[353] = "HFI_SkyMap_353-psb_2048_R3.01_full.fits"
PR3_NATIVE_FWHM = {30: 32.29, 44: 27.94, 70: 13.08, 100: 9.66, 143: 7.22, 217: 4.90, 353: 4.92}
PR3_NATIVE_FWHM |= {545: 4.67, 857: 4.22}
PR3_MJYSR_PER_KCMB = {545: 58.04, 857: 2.27}


def write_planck_bintable(
    path,
    columns: dict[str, np.ndarray],
    units: dict[str, str],
    *,
    nest: bool = True,
    per_row: int = 1024,
) -> None:
    """Write RING maps as a Planck-style binary table (HDU 1).

    ``columns``: name -> RING ``(npix,)`` map; stored NESTED if ``nest`` (as Planck does), in
    rows of ``per_row`` pixels (Planck's 1024E layout), with TUNITn, NSIDE, ORDERING keys.
    """
    first = next(iter(columns.values()))
    nside = hp.npix2nside(first.size)
    per_row = min(per_row, first.size)
    cols = []
    for name, values in columns.items():
        v = hp.reorder(values, r2n=True) if nest else np.asarray(values)
        cols.append(
            fits.Column(
                name=name,
                format=f"{per_row}E",
                unit=units.get(name, ""),
                array=v.astype(np.float32).reshape(-1, per_row),
            )
        )
    hdu = fits.BinTableHDU.from_columns(cols)
    hdu.header["PIXTYPE"] = "HEALPIX"
    hdu.header["ORDERING"] = "NESTED" if nest else "RING"
    hdu.header["NSIDE"] = nside
    hdu.header["COORDSYS"] = "GALACTIC"
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path, overwrite=True)


def parents_ring(nside_in: int, nside_out: int) -> np.ndarray:
    """RING parent at ``nside_out`` of every RING pixel at ``nside_in``, via pixel centres."""
    theta, phi = hp.pix2ang(nside_in, np.arange(12 * nside_in**2))
    return hp.ang2pix(nside_out, theta, phi)


WMAP9_CENTRES = {
    "H0": 70.0,
    "omegach2": 0.114,
    "omegabh2": 0.0226,
    "ns002": 0.97,
    "tau": 0.089,
    "mnu": 0.3,
    "a002": 2.41,  # 10^9 Delta^2_R at k = 0.002/Mpc (Hinshaw et al. 2013, Table 2: 2.41 +- 0.10)
}


def write_wmap_chains(directory, n_rows: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """WMAP9-style chain directory: one ASCII file per parameter, columns (step, value).

    Parameters as in the LAMBDA chains: ``H0``, ``omegach2``, ``omegabh2``, ``ns002`` (n_s at
    k = 0.002/Mpc), ``tau``, ``mnu`` and ``a002`` (10^9 Delta^2_R at k = 0.002/Mpc).

    Returns the values written, parameter -> ``(n_rows,)``.
    """
    directory.mkdir()
    steps = np.arange(1, n_rows + 1)
    values = {}
    for name, centre in WMAP9_CENTRES.items():
        values[name] = centre * (1 + 0.01 * rng.standard_normal(n_rows))
        with open(directory / name, "w") as fh:
            for step, value in zip(steps, values[name], strict=True):
                fh.write(f"{step:10d}  {value:.10e}\n")
    return values


def flat_cmb_alm(lmax: int, seed: int) -> np.ndarray:
    """A band-limited (l <= lmax) T, E, B sky ``(3, n_alm)``, uK_CMB: C_l^TT =
    2 pi 2000 / (l (l + 1)) uK^2, EE, BB and TE 5 %, 1 % and 10 % of it (numpy's global
    generator seeded with ``seed``, which healpy's synalm draws from)."""
    ell = np.arange(lmax + 1)
    cl = np.zeros(lmax + 1)
    cl[2:] = 2 * np.pi * 2000.0 / (ell[2:] * (ell[2:] + 1.0))
    np.random.seed(seed)
    return hp.synalm([cl, 0.05 * cl, 0.01 * cl, 0.1 * cl], lmax=lmax, new=True)


def _beamed_iqu(alm: np.ndarray, fwhm_arcmin: float, nside: int) -> np.ndarray:
    """``(3, npix)`` RING I, Q, U of ``alm`` through a Gaussian beam and the pixel window."""
    lmax = hp.Alm.getlmax(alm.shape[-1])
    bl = hp.gauss_beam(np.radians(fwhm_arcmin / 60), lmax, pol=True)
    window = pixel_window(nside, lmax)
    beamed = [hp.almxfl(alm[k], bl[:, min(k, 1)] * window) for k in range(3)]
    return hp.alm2map(beamed, nside, lmax=lmax)


def write_pr3_frequency_maps(folder, alm, bands, nside: int, noise_uk: float = 0.0) -> None:
    """Each band's full-mission map in the PR3 layout (:data:`PR3_FILES` under ``folder``).

    The sky ``alm`` (uK_CMB, ``(3, n_alm)``) at the band's native beam and the pixel window of
    ``nside``, plus white noise of ``noise_uk`` per pixel on I, Q, U (seeded). Columns as PR3:
    ``I_STOKES``, ``Q_STOKES``, ``U_STOKES`` (K_CMB), ``HITS``, ``II_COV``, ``IQ_COV``,
    ``IU_COV``, ``QQ_COV``, ``QU_COV``, ``UU_COV`` (K_CMB^2: the noise's variance); 545 and
    857 GHz ``I_STOKES`` (MJy/sr), ``HITS``, ``II_COV`` ((MJy/sr)^2).
    """
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(11)
    for band in bands:
        iqu = _beamed_iqu(alm, PR3_NATIVE_FWHM[band], nside)
        iqu = (iqu + noise_uk * rng.standard_normal(iqu.shape)) * 1e-6  # K_CMB
        hits = np.ones(iqu.shape[1])
        variance = np.full(iqu.shape[1], (noise_uk * 1e-6) ** 2)
        if band in PR3_MJYSR_PER_KCMB:
            to_mjysr = PR3_MJYSR_PER_KCMB[band]
            columns = {"I_STOKES": iqu[0] * to_mjysr, "HITS": hits}
            columns |= {"II_COV": variance * to_mjysr**2}
            units = {"I_STOKES": "MJy/sr", "HITS": "", "II_COV": "(MJy/sr)^2"}
        else:
            names = ("I_STOKES", "Q_STOKES", "U_STOKES")
            columns = dict(zip(names, iqu, strict=True)) | {"HITS": hits}
            for pair in ("II", "IQ", "IU", "QQ", "QU", "UU"):
                columns[f"{pair}_COV"] = variance if pair[0] == pair[1] else 0 * variance
            units = {name: "K_CMB" for name in names} | {"HITS": ""}
            units |= {name: "K_CMB^2" for name in columns if name.endswith("_COV")}
        write_planck_bintable(folder / PR3_FILES[band], columns, units)


def write_pr3_cmb_maps(folder, alm, tmask: np.ndarray, extra_rms: dict[str, float]) -> None:
    """PR3 CMB-map files ``COM_CMB_IQU-<name>_2048_R3.00_full.fits`` under ``folder``.

    Each holds ``I_STOKES``, ``Q_STOKES``, ``U_STOKES`` (K_CMB): the sky ``alm`` (uK_CMB) at 5'
    and the pixel window of the mask's nside, its I plus an independent large-scale (10 deg)
    field of ``extra_rms[name]`` uK rms; and ``TMASK``, ``PMASK`` (``tmask``, RING).
    """
    folder.mkdir(parents=True, exist_ok=True)
    nside = hp.npix2nside(tmask.size)
    iqu = _beamed_iqu(alm, 5.0, nside)
    rng = np.random.default_rng(5)
    smooth = hp.smoothing(rng.standard_normal(iqu.shape[1]), fwhm=np.radians(10.0))
    smooth /= smooth.std()
    units = dict.fromkeys(("I_STOKES", "Q_STOKES", "U_STOKES"), "K_CMB")
    for name, rms in extra_rms.items():
        columns = {"I_STOKES": 1e-6 * (iqu[0] + rms * smooth)}
        columns |= {"Q_STOKES": 1e-6 * iqu[1], "U_STOKES": 1e-6 * iqu[2]}
        columns |= {"TMASK": tmask, "PMASK": tmask}
        file = f"COM_CMB_IQU-{name.lower()}_2048_R3.00_full.fits"
        write_planck_bintable(folder / file, columns, units)
