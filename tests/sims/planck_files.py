"""Writers of small files in the Planck and WMAP formats, for the real-asset tests."""

from __future__ import annotations

import healpy as hp
import numpy as np
from astropy.io import fits


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
