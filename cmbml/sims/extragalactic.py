"""Extragalactic foregrounds, synthetic and offline: CIB, thermal and kinetic SZ, point sources.

Synthetic equivalents of PySM3's ``cib1``, ``tsz1``, ``ksz1`` and ``rg1`` (the WebSky maps
CMB-ML uses), each with its published amplitude and SED, correlated with nothing galactic:

* **CIB** (``kind: cib``): the sum of populations ``k``, each a Gaussian field ``g_k`` (clustered
  power ``A_k s(l)`` and/or white shot power ``S_k``, Jy^2/sr at ``freq_ref_ghz``) times a
  modified black body ``I_nu ∝ nu**beta_k B_nu(T_k)`` (effective, observer frame). Two
  clustered and three shot populations reproduce the Planck 2013 XXX CIB spectra (best-fit
  halo model at l ~ 1000; shot noise of Table 6) at 143-857 GHz: auto-spectra within 7 % (3 %
  for the shot noise), cross-correlation coefficients within 0.001 (0.01), i.e. the partial
  decorrelation between bands (r ~ 0.92 between 217 and 857 GHz); ``s(l)`` is the shape of that
  model at 545 GHz.
* **tSZ** (``kind: tsz``): a Compton-y map, log-normal (positive, skewed: clusters), whose
  spectrum is ``D_l^yy = D_1000 (l / 1000) exp(-(l - 1000) / l_c)``, a fit to the Planck 2015
  XXII y-spectrum (Bolliet et al. 2018). Its SED is exact (non-relativistic):
  ``dT / T_CMB = y (x coth(x / 2) - 4)``, ``x = h nu / k T_CMB``, null at 217.5 GHz.
* **kSZ** (``kind: ksz``): a Gaussian map in uK_CMB (flat SED), ``D_l = D_3000 (l / 3000)**n``
  (ACT and SPT: D_3000 ~ 2-3 uK^2).
* **Point sources** (``kind: point_sources``): a Poisson population drawn from number counts
  ``S**2.5 dN/dS = 2 K / ((S / S_0)**-a + (S / S_0)**-b)`` (Jy^1.5/sr at ``freq_ref_ghz``),
  isotropic positions, and per-source spectra with scatter: ``S ∝ nu**alpha`` (radio) or
  ``S ∝ nu**beta B_nu(T)`` (dusty IR galaxies). Each source is added to the pixel that holds it.
  With a ``polarisation`` block each source is linearly polarised with a frequency-independent
  fraction, log-normal (``frac_median``, ``frac_log_sigma``), at a uniform random angle:
  radio sources are a few per cent polarised at 20-143 GHz (Massardi et al. 2013; Bonavera et
  al. 2017).

The log-normal y-field: for a target ``C_l^y`` and mean ``ybar``, the Gaussian field ``g`` has
``xi_g = ln(1 + xi_y / ybar**2)`` (correlation functions by Gauss-Legendre quadrature), and
``y = ybar exp(g - var_g / 2)``. Every field and catalogue is drawn from its own stream seeded
by (seed, component, field).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field

import healpy as hp
import numpy as np
from scipy.special import roots_legendre

from cmbml import sphere
from cmbml.pixwin import legendre_table
from cmbml.sims.galaxy import require_key
from cmbml.sims.instrument import H_OVER_K_GHZ, T_CMB_K, kcmb_to_krj, kcmb_to_mjysr
from cmbml.sims.templates import ComponentTemplate, field_stream, gaussian_alm

__all__ = [
    "KINDS",
    "PointSources",
    "lognormal_gaussian_cl",
    "make_extragalactic",
    "make_point_sources",
    "number_counts",
    "sz_spectral_function",
]

KINDS = ("cib", "tsz", "ksz", "point_sources")
"""Extragalactic component kinds (``kind`` of a ``model.sim.foregrounds.components`` entry)."""


def sz_spectral_function(freq_ghz):
    """Thermal SZ ``dT / (T_CMB y) = x coth(x / 2) - 4``, ``x = h nu / k T_CMB`` (float, array)."""
    x = H_OVER_K_GHZ * np.asarray(freq_ghz, dtype=np.float64) / T_CMB_K
    return x / np.tanh(0.5 * x) - 4.0


def _jy_sr_per_uk_rj(freq_ghz):
    """Jy/sr per uK_RJ at ``freq_ghz`` (delta bandpass; MJy/sr per K of ``kcmb_to_mjysr``)."""
    return kcmb_to_mjysr(freq_ghz) / kcmb_to_krj(freq_ghz)


def _tabulated_shape(shape: Mapping, lmax: int, where: str) -> np.ndarray:
    """``(lmax + 1,)`` log-log interpolation of ``{ell: [...], relative: [...]}``.

    Constant below the first point; the last segment's power law beyond the last one.
    """
    ell_t = np.asarray(require_key(shape, "ell", where), dtype=np.float64)
    rel = np.asarray(require_key(shape, "relative", where), dtype=np.float64)
    if (
        ell_t.size < 2
        or ell_t.shape != rel.shape
        or np.any(np.diff(ell_t) <= 0)
        or np.any(rel <= 0)
    ):
        raise ValueError(f"{where}: need >= 2 increasing ell with positive relative values")
    ell = np.arange(lmax + 1, dtype=np.float64)
    log_ell = np.log(np.maximum(ell, ell_t[0]))
    out = np.interp(log_ell, np.log(ell_t), np.log(rel))
    slope = np.log(rel[-1] / rel[-2]) / np.log(ell_t[-1] / ell_t[-2])
    beyond = ell > ell_t[-1]
    out[beyond] = np.log(rel[-1]) + slope * (log_ell[beyond] - np.log(ell_t[-1]))
    return np.exp(out)


def _cib(name, cfg, nside, lmax, seed) -> list[ComponentTemplate]:
    """One uniform-SED template per population; all fields in one batched synthesis."""
    freq_ref = float(require_key(cfg, "freq_ref_ghz", name))
    shape = _tabulated_shape(require_key(cfg, "cl_shape", name), lmax, f"{name}.cl_shape")
    pops = require_key(cfg, "populations", name)
    if not pops:
        raise ValueError(f"{name}.populations is empty")
    to_rj2 = _jy_sr_per_uk_rj(freq_ref) ** -2.0
    alms, params = [], []
    for pop, pcfg in pops.items():
        where = f"{name}.populations.{pop}"
        cl = float(pcfg.get("clustered_jy2_sr", 0.0)) * shape
        cl += float(pcfg.get("shot_jy2_sr", 0.0))
        cl[:2] = 0.0
        if not cl.any():
            raise ValueError(f"{where} needs clustered_jy2_sr or shot_jy2_sr > 0")
        alms.append(gaussian_alm(cl * to_rj2, lmax, field_stream(seed, name, pop)))
        params.append(
            {
                "beta": float(require_key(pcfg, "beta", where)),
                "temperature": float(require_key(pcfg, "temperature", where)),
            }
        )
    maps = sphere.alm2map(np.stack(alms), nside, lmax)
    return [
        ComponentTemplate(
            name=f"{name}_{pop}",
            law="mbb",
            freq_ref_ghz=freq_ref,
            maps=maps[k : k + 1],
            params=params[k],
            kind="cib",
        )
        for k, pop in enumerate(pops)
    ]


@functools.lru_cache(maxsize=4)
def _legendre_nodes(n: int):
    return roots_legendre(n)


def lognormal_gaussian_cl(cl: np.ndarray, mean: float) -> np.ndarray:
    """Spectrum of the Gaussian ``g`` for which ``mean * exp(g - var_g / 2)`` has spectrum ``cl``.

    Parameters
    ----------
    cl : np.ndarray
        ``(lmax + 1,)`` target spectrum of the log-normal field (``lmax >= 1``).
    mean : float
        Its mean (> 0).

    Returns
    -------
    np.ndarray
        ``(lmax + 1,)`` spectrum of ``g`` (negative values, from the truncation at lmax, set to 0).
    """
    lmax = cl.size - 1
    x, w = _legendre_nodes(2 * lmax + 2)
    legendre = legendre_table(x, lmax)  # (lmax + 1, x.size) P_l(x)
    xi = np.zeros_like(x)
    for ell, p in enumerate(legendre):
        xi += (2 * ell + 1) * cl[ell] / (4 * np.pi) * p
    ratio = xi / mean**2
    if ratio.min() <= -1.0:
        raise ValueError("a log-normal field cannot have this spectrum at this mean (xi < -mean^2)")
    weighted = np.log1p(ratio) * w
    out = np.array([2 * np.pi * (weighted @ p) for p in legendre])  # row by row, not P @ w
    return np.maximum(out, 0.0)


def _tsz(name, cfg, nside, lmax, seed) -> ComponentTemplate:
    d_1000 = float(require_key(cfg, "d_ell_1000", name))
    ell_cut = float(require_key(cfg, "ell_cut", name))
    mean = float(require_key(cfg, "mean_y", name))
    if d_1000 <= 0 or ell_cut <= 0 or mean <= 0:
        raise ValueError(f"{name}: d_ell_1000, ell_cut and mean_y must be > 0")
    ell = np.arange(lmax + 1, dtype=np.float64)
    cl = np.zeros(lmax + 1)
    cl[2:] = (
        2
        * np.pi
        * d_1000
        * (ell[2:] / 1000.0)
        * np.exp(-(ell[2:] - 1000.0) / ell_cut)
        / (ell[2:] * (ell[2:] + 1.0))
    )
    cl_g = lognormal_gaussian_cl(cl, mean)
    var_g = np.sum((2 * ell + 1) * cl_g) / (4 * np.pi)
    g = sphere.alm2map(gaussian_alm(cl_g, lmax, field_stream(seed, name, "g")), nside, lmax)
    g -= 0.5 * var_g
    y = mean * np.exp(g)
    return ComponentTemplate(name=name, law="tsz", freq_ref_ghz=0.0, maps=y[None], kind="tsz")


def _ksz(name, cfg, nside, lmax, seed) -> ComponentTemplate:
    d_3000 = float(require_key(cfg, "d_ell_3000", name))
    slope = float(require_key(cfg, "slope", name))
    ell = np.arange(lmax + 1, dtype=np.float64)
    cl = np.zeros(lmax + 1)
    cl[2:] = 2 * np.pi * d_3000 * (ell[2:] / 3000.0) ** slope / (ell[2:] * (ell[2:] + 1.0))
    alm = gaussian_alm(cl, lmax, field_stream(seed, name, "dT"))
    return ComponentTemplate(
        name=name,
        law="cmb",
        freq_ref_ghz=0.0,
        maps=sphere.alm2map(alm, nside, lmax)[None],
        kind="ksz",
    )


def number_counts(flux_jy, counts: Mapping):
    """Differential counts ``dN/dS`` (Jy^-1 sr^-1) of the double power law (module docstring).

    ``counts``: ``k_jy1p5_sr`` (K), ``s0_jy`` (S_0), ``slope_faint`` (a), ``slope_bright`` (b).
    """
    s = np.asarray(flux_jy, dtype=np.float64)
    k = float(require_key(counts, "k_jy1p5_sr", "counts"))
    s0 = float(require_key(counts, "s0_jy", "counts"))
    a = float(require_key(counts, "slope_faint", "counts"))
    b = float(require_key(counts, "slope_bright", "counts"))
    x = s / s0
    return 2.0 * k / (x**-a + x**-b) * s**-2.5


_SOURCE_LAWS = {"power_law": ("alpha",), "mbb": ("beta", "temperature")}


@dataclass
class PointSources:
    """A catalogue of point sources with their own spectra.

    Attributes
    ----------
    name : str
        Component name.
    freq_ref_ghz : float
        Frequency of ``flux_ref_jy``, GHz.
    vectors : np.ndarray
        ``(n, 3)`` unit vectors (Galactic coordinates).
    flux_ref_jy : np.ndarray
        ``(n,)`` flux densities at ``freq_ref_ghz``, Jy.
    law : str
        ``power_law`` (``S ∝ nu**alpha``) or ``mbb`` (``S ∝ nu**beta B_nu(T)``).
    params : dict
        ``(n,)`` spectral parameters of each source.
    polarisation : np.ndarray, optional
        ``(n,)`` complex ``p exp(2 i psi)``: polarisation fraction ``p`` and angle ``psi``
        (HEALPix / COSMO convention), the same at every frequency; None: unpolarised.
    """

    name: str
    freq_ref_ghz: float
    vectors: np.ndarray
    flux_ref_jy: np.ndarray
    law: str
    params: dict = field(default_factory=dict)
    polarisation: np.ndarray | None = None
    _pixels: dict = field(default_factory=dict, repr=False)

    @property
    def size(self) -> int:
        """Number of sources."""
        return self.flux_ref_jy.size

    @property
    def polarised(self) -> bool:
        """Whether the sources carry Q, U."""
        return self.polarisation is not None

    def fluxes(self, freq_ghz: float) -> np.ndarray:
        """``(n,)`` flux densities at ``freq_ghz``, Jy."""
        ratio = float(freq_ghz) / self.freq_ref_ghz
        if self.law == "power_law":
            return self.flux_ref_jy * np.exp(self.params["alpha"] * np.log(ratio))
        inv_t = H_OVER_K_GHZ / self.params["temperature"]
        return (
            self.flux_ref_jy
            * np.exp((self.params["beta"] + 3.0) * np.log(ratio))
            * np.expm1(self.freq_ref_ghz * inv_t)
            / np.expm1(freq_ghz * inv_t)
        )

    def emission(self, freq_ghz: float, nside: int, pol: bool = False) -> np.ndarray:
        """Each source's flux in its pixel, divided by the pixel area, in uK_CMB.

        Returns ``(npix,)`` intensity, or ``(3, npix)`` I, Q, U with ``pol`` (Q = U = 0 for
        unpolarised sources).
        """
        if nside not in self._pixels:
            self._pixels[nside] = hp.vec2pix(nside, *self.vectors.T)
        npix = 12 * nside * nside
        flux = self.fluxes(freq_ghz)
        weights = [flux]
        if pol:
            qu = flux * (self.polarisation if self.polarised else 0.0)
            weights += [np.real(qu), np.imag(qu)]
        out = np.stack([np.bincount(self._pixels[nside], w, minlength=npix) for w in weights])
        out *= 1.0 / (hp.nside2pixarea(nside) * kcmb_to_mjysr(float(freq_ghz)))  # Jy/sr per uK_CMB
        return out if pol else out[0]


def _flux_sampler(counts: Mapping, s_min: float, s_max: float, where: str):
    """Mean number per steradian and the inverse CDF of the flux, on a log grid."""
    if not 0 < s_min < s_max:
        raise ValueError(f"{where}: need 0 < flux_min_jy < flux_max_jy")
    log_s = np.linspace(np.log(s_min), np.log(s_max), 4001)
    density = number_counts(np.exp(log_s), counts) * np.exp(log_s)  # dN / dln S
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (density[1:] + density[:-1]) * np.diff(log_s))])
    return cdf[-1], lambda u: np.exp(np.interp(u * cdf[-1], cdf, log_s))


def make_point_sources(cfg: Mapping, name: str, seed: int) -> PointSources:
    """Draw a Poisson population of sources over the whole sky (see the module docstring).

    Parameters
    ----------
    cfg : Mapping
        ``freq_ref_ghz``, ``counts`` (:func:`number_counts`), ``flux_min_jy``, ``flux_max_jy``
        and ``sed`` (``law``: ``power_law`` with ``alpha``, or ``mbb`` with ``beta`` and
        ``temperature``; each ``{mean, std}``, Gaussian scatter).
    name : str
        Component name (names the random streams and errors).
    seed : int
        Base seed.
    """
    where = name
    s_min = float(require_key(cfg, "flux_min_jy", where))
    s_max = float(require_key(cfg, "flux_max_jy", where))
    per_sr, inverse_cdf = _flux_sampler(require_key(cfg, "counts", where), s_min, s_max, where)
    rng = field_stream(seed, name, "catalogue")
    n = int(rng.poisson(4 * np.pi * per_sr))
    flux = inverse_cdf(rng.random(n))
    z = rng.uniform(-1.0, 1.0, n)
    phi = rng.uniform(0.0, 2 * np.pi, n)
    rho = np.sqrt(1.0 - z * z)
    vectors = np.stack([rho * np.cos(phi), rho * np.sin(phi), z], axis=1)
    sed = require_key(cfg, "sed", where)
    law = require_key(sed, "law", f"{where}.sed")
    if law not in _SOURCE_LAWS:
        raise ValueError(f"{where}.sed.law={law!r}: expected one of {sorted(_SOURCE_LAWS)}")
    params = {}
    for pname in _SOURCE_LAWS[law]:
        spec = require_key(sed, pname, f"{where}.sed")
        mean = float(require_key(spec, "mean", f"{where}.sed.{pname}"))
        std = float(spec.get("std", 0.0))
        params[pname] = mean + std * field_stream(seed, name, pname).standard_normal(n)
    if "temperature" in params:
        params["temperature"] = np.maximum(params["temperature"], 5.0)
    return PointSources(
        name=name,
        freq_ref_ghz=float(require_key(cfg, "freq_ref_ghz", where)),
        vectors=vectors,
        flux_ref_jy=flux,
        law=law,
        params=params,
        polarisation=_source_polarisation(cfg.get("polarisation"), n, seed, name),
    )


def _source_polarisation(pcfg: Mapping | None, n: int, seed: int, name: str):
    """``(n,)`` complex ``p exp(2 i psi)``: log-normal ``p``, uniform ``psi``; None without pcfg."""
    if not pcfg:
        return None
    where = f"{name}.polarisation"
    median = float(require_key(pcfg, "frac_median", where))
    log_sigma = float(require_key(pcfg, "frac_log_sigma", where))
    if not 0 < median < 1 or log_sigma < 0:
        raise ValueError(f"{where}: need 0 < frac_median < 1 and frac_log_sigma >= 0")
    rng = field_stream(seed, name, "polarisation")
    frac = np.minimum(median * np.exp(log_sigma * rng.standard_normal(n)), 1.0)
    return frac * np.exp(2j * np.pi * rng.random(n))


def make_extragalactic(
    components: Mapping, nside: int, seed: int, lmax: int | None = None
) -> tuple[dict[str, ComponentTemplate], list[PointSources]]:
    """Build every extragalactic component of ``components`` (entries with a ``kind``).

    Parameters
    ----------
    components : Mapping
        ``{name: config}``; entries without ``kind`` (galactic) or with ``enabled: false`` are
        skipped.
    nside : int
        Resolution of the maps (``nside_sky``).
    seed : int
        Base seed.
    lmax : int, optional
        Band limit of the fields (default ``3 * nside // 2``, as the galactic templates).

    Returns
    -------
    tuple
        Templates ``{name: ComponentTemplate}`` (CIB populations, y map, kSZ map) and the
        point-source catalogues.
    """
    lmax = 3 * nside // 2 if lmax is None else int(lmax)
    templates: dict[str, ComponentTemplate] = {}
    sources: list[PointSources] = []
    for name, cfg in components.items():
        kind = cfg.get("kind")
        if kind is None or not cfg.get("enabled", True):
            continue
        if kind == "cib":
            templates.update({t.name: t for t in _cib(name, cfg, nside, lmax, seed)})
        elif kind == "tsz":
            templates[name] = _tsz(name, cfg, nside, lmax, seed)
        elif kind == "ksz":
            templates[name] = _ksz(name, cfg, nside, lmax, seed)
        elif kind == "point_sources":
            sources.append(make_point_sources(cfg, name, seed))
        else:
            raise ValueError(f"{name}.kind={kind!r}: expected one of {list(KINDS)}")
    return templates, sources
