"""Shared test maps for the analysis tests: Gaussian skies and galactic-cut masks."""

from pathlib import Path

import healpy as hp
import numpy as np
import pytest


def _gaussian_alm(cl: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gaussian alm of spectrum ``cl`` (l = 0 .. lmax): a_l0 real, a_lm complex, m > 0."""
    lmax = cl.size - 1
    ell, m = hp.Alm.getlm(lmax)
    std = np.sqrt(cl[ell])
    re, im = rng.standard_normal((2, ell.size))
    return np.where(m == 0, std * re, std * (re + 1j * im) / np.sqrt(2.0))


def _cut_masks(nside: int, z_cut: float = 0.3, taper: float = 0.15):
    """Binary mask |z| > z_cut (f_sky = 1 - z_cut) and a cosine taper inside it in |z|."""
    z = np.abs(hp.pix2vec(nside, np.arange(12 * nside * nside))[2])
    binary = (z > z_cut).astype(np.float64)
    x = np.clip((z - z_cut) / taper, 0.0, 1.0)
    apod = binary * 0.5 * (1.0 - np.cos(np.pi * x))
    return binary, apod


@pytest.fixture(scope="session")
def theory_dl() -> np.ndarray:
    """A CMB TT D_l (uK_CMB², l = 0 .. 2000) from healpy's bundled totcls.dat."""
    table = np.loadtxt(Path(hp.__file__).parent / "data" / "totcls.dat")
    return table[:, 1]


@pytest.fixture(scope="session")
def theory_cl(theory_dl) -> np.ndarray:
    ell = np.arange(theory_dl.size)
    cl = np.zeros_like(theory_dl)
    cl[2:] = theory_dl[2:] * 2 * np.pi / (ell[2:] * (ell[2:] + 1))
    return cl


@pytest.fixture(scope="session")
def gaussian_alm():
    return _gaussian_alm


@pytest.fixture(scope="session")
def cut_masks():
    return _cut_masks


def _galactic_cut(nside: int, b_deg: float = 20.0, taper_deg: float = 8.0):
    """Binary |b| > b_deg and a cosine taper in latitude over taper_deg inside it."""
    lat = np.degrees(np.arcsin(hp.pix2vec(nside, np.arange(12 * nside * nside))[2]))
    binary = (np.abs(lat) > b_deg).astype(float)
    x = np.clip((np.abs(lat) - b_deg) / taper_deg, 0.0, 1.0)
    return binary, binary * 0.5 * (1.0 - np.cos(np.pi * x))


def _exact_realisation(cls: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gaussian alm rescaled per l so that the full-sky spectrum equals ``cls`` exactly (no
    cosmic variance left: any bias of a cut-sky estimator shows up in the mean)."""
    lmax = cls.size - 1
    ell, m = hp.Alm.getlm(lmax)
    re, im = rng.standard_normal((2, ell.size))
    alm = np.where(m == 0, re + 0j, (re + 1j * im) / np.sqrt(2.0))
    realised = hp.alm2cl(alm)
    scale = np.zeros(lmax + 1)
    scale[2:] = np.sqrt(cls[2:] / realised[2:])
    return hp.almxfl(alm, scale)


def _binned(spectrum: np.ndarray, edges) -> np.ndarray:
    """Mean of ``spectrum`` (indexed from l = 0) over [edges[i], edges[i+1])."""
    return np.array([spectrum[lo:hi].mean() for lo, hi in zip(edges[:-1], edges[1:], strict=True)])


@pytest.fixture(scope="session")
def galactic_cut():
    return _galactic_cut


@pytest.fixture(scope="session")
def exact_realisation():
    return _exact_realisation


@pytest.fixture(scope="session")
def binned():
    return _binned
