"""Synthetic, deterministic galactic foreground templates (offline stand-ins for PySM3 data).

Each component is a set of HEALPix RING maps at a reference frequency, in Galactic coordinates:

* **Intensity** ``I = A * G(l, b) * exp(s * g - s**2 / 2)``  [uK_RJ], positive everywhere.
  ``G`` is a galactic profile, ``G = (1 + c * exp((x - 1) / w)) / sqrt(sin(b)**2 + eps**2)``
  times ``sqrt(1 + eps**2)`` (a cosec-like plane-parallel slab, smooth at ``b = 0``, brighter
  towards the Galactic centre, ``x = cos(b) cos(l)``), so that ``A`` is the intensity at the
  poles. ``g`` is a unit-variance Gaussian random field with angular power law
  ``C_l ∝ l**alpha`` (``l >= 2``; ``alpha`` is the ``cl_slope`` of the config, a slope of
  **C_l**, not of D_l = l(l+1)C_l/2pi, which goes as ``l**(alpha + 2)``). A component may
  instead follow another one's intensity (``tracer``: AME follows dust), with its own extra
  log-normal modulation.
* **Polarisation** ``Q + iU = p * I * exp(2i psi)``: the angle ``psi`` is that of a spin-2
  Gaussian field with ``C_l^EE ∝ l**alpha_P`` and ``C_l^BB = r * C_l^EE``; the fraction
  ``p = p_max * (1 - exp(-u / u0))`` grows with the field's normalised squared amplitude ``u``
  (exponentially distributed, mean 1), ``u0 = p_max / p_mean - 1`` so that ``<p> = p_mean``.
* **Spectral parameters** (``beta``, ``temperature``, ...): ``mean + std * g`` with their own
  Gaussian fields, or scalars when ``std = 0`` (a spatially uniform SED).

Fields are drawn multipole by multipole (l-major), each from its own stream seeded by
(seed, component, field), and normalised to unit variance over ``l >= 2`` to infinity: the
same seed gives the same sky at every resolution (a lower ``nside`` sees the band-limited
version), and changing one component never changes another.

Default numbers (``cfg/model/sim/foregrounds/synthetic.yaml``) follow PySM3's d9/d10, s4/s5, f1
and a1 models: dust at 353 GHz (beta 1.53 ± 0.05, T 19.6 ± 1 K; C_l slopes -2.7 in intensity and
-2.42 in polarisation, Planck 2018 XI), synchrotron at 23 GHz (beta -3.1 ± 0.1, slope -3),
free-free at 30 GHz (beta -2.14), AME at 22.8 GHz tracing dust.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field

import healpy as hp
import numpy as np
from scipy.special import zeta

from cmbml import sphere

__all__ = [
    "LAWS",
    "ComponentTemplate",
    "galactic_profile",
    "gaussian_alm",
    "make_templates",
    "polarisation_from_field",
    "power_law_cl",
]

LAWS = {
    "mbb": ("beta", "temperature"),
    "power_law": ("beta",),
    "lognormal": ("freq_peak", "width"),
}
"""SED laws and the spectral parameters each needs (see :mod:`cmbml.sims.foregrounds`)."""


@dataclass
class ComponentTemplate:
    """One foreground component at its reference frequency.

    Attributes
    ----------
    name : str
        Component name (``dust``, ``synchrotron``, ...).
    law : str
        SED law, a key of :data:`LAWS`.
    freq_ref_ghz : float
        Reference frequency of ``maps``, GHz.
    maps : np.ndarray
        ``(1, npix)`` intensity or ``(3, npix)`` I, Q, U at ``freq_ref_ghz``, uK_RJ, RING.
    params : dict
        Spectral parameters: floats (uniform) or ``(npix,)`` maps (spatially varying).
    """

    name: str
    law: str
    freq_ref_ghz: float
    maps: np.ndarray
    params: dict = field(default_factory=dict)

    @property
    def nside(self) -> int:
        """HEALPix resolution of the maps."""
        return hp.npix2nside(self.maps.shape[-1])

    @property
    def polarised(self) -> bool:
        """Whether the component has Q and U."""
        return self.maps.shape[0] == 3

    @property
    def uniform_sed(self) -> bool:
        """True when every spectral parameter is a scalar (the SED is the same in every pixel)."""
        return all(np.ndim(v) == 0 for v in self.params.values())


def power_law_cl(slope: float, lmax: int, ell_min: int = 2) -> np.ndarray:
    """Angular power law ``C_l = l**slope / V`` with unit variance over ``ell_min <= l < inf``.

    Parameters
    ----------
    slope : float
        Power-law index of C_l (must be < -2 so that the variance converges).
    lmax : int
        Maximum multipole returned.
    ell_min : int
        Multipoles below it are zero.

    Returns
    -------
    np.ndarray
        ``(lmax + 1,)`` C_l; ``sum_l (2l + 1) C_l / 4pi`` tends to 1 as ``lmax`` grows.
    """
    if not slope < -2.0:
        raise ValueError(f"cl_slope must be < -2 (a convergent field variance), got {slope}")
    variance = (2.0 * zeta(-slope - 1.0, ell_min) + zeta(-slope, ell_min)) / (4.0 * np.pi)
    ell = np.arange(lmax + 1, dtype=np.float64)
    cl = np.zeros(lmax + 1)
    cl[ell_min:] = ell[ell_min:] ** slope / variance
    return cl


def gaussian_alm(cl: np.ndarray, lmax: int, rng: np.random.Generator) -> np.ndarray:
    """Gaussian alm with power ``cl``, drawn l-major so that low multipoles do not depend on lmax.

    Parameters
    ----------
    cl : np.ndarray
        ``(>= lmax + 1,)`` angular power spectrum.
    lmax : int
        Maximum multipole.
    rng : np.random.Generator
        Random stream; the first ``(L + 1)**2`` draws define the multipoles ``l <= L``.

    Returns
    -------
    np.ndarray
        complex128 ``(nalm,)`` alm in healpy ordering.
    """
    ell, real_idx, imag_idx, halve = _lmajor_indices(lmax)
    z = rng.standard_normal((lmax + 1) ** 2 + 1)
    z[-1] = 0.0  # the imaginary part of m = 0 coefficients
    alm = np.empty(ell.size, dtype=np.complex128)
    alm.real = z[real_idx]
    alm.imag = z[imag_idx]
    alm *= np.sqrt(np.asarray(cl, dtype=np.float64)[ell] * halve)
    return alm


@functools.lru_cache(maxsize=4)
def _lmajor_indices(lmax: int):
    """For healpy-ordered (l, m): l, the l-major draw indices of Re and Im, and 1/2 (m > 0) or 1.

    m = 0 points its imaginary part at an extra draw slot set to zero.
    """
    ell, m = hp.Alm.getlm(lmax)
    base = ell * ell
    real_idx = base + np.maximum(2 * m - 1, 0)
    imag_idx = np.where(m > 0, base + 2 * m, (lmax + 1) ** 2)
    halve = np.where(m > 0, 0.5, 1.0)
    return ell, real_idx, imag_idx, halve


def galactic_profile(
    nside: int,
    amplitude: float,
    disk_epsilon: float,
    center_boost: float = 0.0,
    center_width: float = 0.3,
) -> np.ndarray:
    """Smooth galactic intensity profile ``A * G(l, b)`` (see the module docstring).

    Parameters
    ----------
    nside : int
        HEALPix resolution (Galactic coordinates, RING).
    amplitude : float
        Value at the galactic poles (any unit; uK_RJ for templates).
    disk_epsilon : float
        Disk thickness (radians of latitude, > 0): the plane is ~``1 / eps`` times the poles.
    center_boost : float
        Extra brightness ``c`` at the Galactic centre (~``1 + c`` times the anticentre).
    center_width : float
        Angular extent ``w`` of the central boost: ``exp((cos(angle to centre) - 1) / w)``.

    Returns
    -------
    np.ndarray
        ``(npix,)`` profile.
    """
    if disk_epsilon <= 0 or center_width <= 0 or center_boost < 0:
        raise ValueError(
            "galactic profile needs disk_epsilon > 0, center_width > 0 and center_boost >= 0, "
            f"got {disk_epsilon}, {center_width}, {center_boost}"
        )
    x, z = _galactic_xz(nside)
    out = np.square(z)
    out += disk_epsilon**2
    np.divide(amplitude**2 * (1.0 + disk_epsilon**2), out, out=out)
    np.sqrt(out, out=out)  # amplitude * slab
    if center_boost:
        boost = np.subtract(x, 1.0)
        boost *= 1.0 / center_width
        np.exp(boost, out=boost)
        boost *= center_boost
        boost += 1.0
        out *= boost
        out /= 1.0 + center_boost * np.exp(-1.0 / center_width)
    return out


@functools.lru_cache(maxsize=2)
def _galactic_xz(nside: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit-vector x (towards the Galactic centre) and z (towards the north pole) of pixels."""
    x, _, z = hp.pix2vec(nside, np.arange(hp.nside2npix(nside)))
    return x, z


def polarisation_from_field(
    intensity: np.ndarray,
    q_field: np.ndarray,
    u_field: np.ndarray,
    mean_sq: float,
    frac_max: float,
    frac_mean: float,
) -> np.ndarray:
    """Q, U from an intensity map and the angle/amplitude of a spin-2 field.

    Parameters
    ----------
    intensity : np.ndarray
        ``(npix,)`` intensity, uK_RJ.
    q_field, u_field : np.ndarray
        ``(npix,)`` spin-2 Gaussian field.
    mean_sq : float
        Expected ``<q**2 + u**2>`` of the field (normalises its squared amplitude ``u``).
    frac_max, frac_mean : float
        Maximum and mean polarisation fraction, ``0 < frac_mean < frac_max < 1``.

    Returns
    -------
    np.ndarray
        ``(2, npix)`` Q, U in the unit of ``intensity``; ``sqrt(Q**2 + U**2) / I <= frac_max``.
    """
    if not 0.0 < frac_mean < frac_max < 1.0:
        raise ValueError(
            f"need 0 < frac_mean < frac_max < 1 for polarisation, got {frac_mean}, {frac_max}"
        )
    u0 = frac_max / frac_mean - 1.0
    amp = np.hypot(q_field, u_field)
    scale = np.square(amp)
    scale *= -1.0 / (mean_sq * u0)
    np.expm1(scale, out=scale)
    scale *= -frac_max
    scale *= intensity
    np.divide(scale, amp, out=scale, where=amp > 0)
    out = np.empty((2,) + amp.shape)
    np.multiply(scale, q_field, out=out[0])
    np.multiply(scale, u_field, out=out[1])
    return out


def _stream(seed: int, *keys: str) -> np.random.Generator:
    words = [int(seed) % 2**63] + [zlib.crc32(k.encode()) for k in keys]
    return np.random.default_rng(np.random.SeedSequence(words))


def _alm(slope, lmax, seed, *keys) -> np.ndarray:
    return gaussian_alm(power_law_cl(slope, lmax), lmax, _stream(seed, *keys))


def _require(cfg: Mapping, key: str, where: str):
    if key not in cfg:
        raise KeyError(f"foreground template config {where!r} lacks key {key!r}")
    return cfg[key]


def _base_intensity(name, tcfg, done, nside) -> np.ndarray:
    """Galactic profile, or ``ratio`` times an earlier component's intensity (``tracer``)."""
    where = f"{name}.template"
    if "tracer" in tcfg:
        tracer = tcfg["tracer"]
        if tracer not in done:
            raise ValueError(
                f"{where}.tracer={tracer!r} must name a component listed before {name!r}"
            )
        return float(_require(tcfg, "ratio", where)) * done[tracer].maps[0]
    return galactic_profile(
        nside,
        float(_require(tcfg, "amplitude", where)),
        float(_require(tcfg, "disk_epsilon", where)),
        float(tcfg.get("center_boost", 0.0)),
        float(tcfg.get("center_width", 0.3)),
    )


def _intensity_and_pol(name, cfg, done, nside, lmax, seed):
    """Intensity ``(npix,)`` and, for polarised components, Q, U ``(2, npix)`` (else None).

    The log-intensity field and the spin-2 angle field share one synthesis (T, E, B slots).
    """
    tcfg = _require(cfg, "template", name)
    sigma = float(_require(tcfg, "log_sigma", f"{name}.template"))
    t_alm = None
    if sigma != 0:
        t_alm = _alm(float(_require(tcfg, "cl_slope", f"{name}.template")), lmax, seed, name, "I")
    pcfg = cfg.get("polarisation")
    q_field = u_field = None
    if pcfg:
        where = f"{name}.polarisation"
        cl = power_law_cl(float(_require(pcfg, "cl_slope", where)), lmax)
        ratio = float(pcfg.get("bb_ee_ratio", 1.0))
        teb = np.stack(
            [
                np.zeros(sphere.nalm(lmax), dtype=np.complex128) if t_alm is None else t_alm,
                gaussian_alm(cl, lmax, _stream(seed, name, "E")),
                gaussian_alm(ratio * cl, lmax, _stream(seed, name, "B")),
            ]
        )
        g, q_field, u_field = sphere.alm2map(teb, nside, lmax, pol=True)
    elif t_alm is not None:
        g = sphere.alm2map(t_alm, nside, lmax)
    intensity = _base_intensity(name, tcfg, done, nside)
    if sigma != 0:
        intensity = intensity * np.exp(sigma * g - 0.5 * sigma**2)
    if not pcfg:
        return intensity, None
    qu = polarisation_from_field(
        intensity,
        q_field,
        u_field,
        1.0 + ratio,
        float(_require(pcfg, "frac_max", where)),
        float(_require(pcfg, "frac_mean", where)),
    )
    return intensity, qu


def _parameter(name, pname, pcfg, nside, lmax, seed):
    where = f"{name}.params.{pname}"
    mean = float(_require(pcfg, "mean", where))
    std = float(pcfg.get("std", 0.0))
    if std < 0:
        raise ValueError(f"{where}.std must be >= 0, got {std}")
    if std == 0:
        return mean
    alm = _alm(float(_require(pcfg, "cl_slope", where)), lmax, seed, name, pname)
    return mean + std * sphere.alm2map(alm, nside, lmax)


def make_templates(
    config: Mapping, nside: int, seed: int, lmax: int | None = None
) -> dict[str, ComponentTemplate]:
    """Generate every configured component's template at ``nside``.

    Parameters
    ----------
    config : Mapping
        ``{component_name: component_config}`` in order (a tracer must come after the component
        it follows). Each component config has ``law`` (a key of :data:`LAWS`),
        ``freq_ref_ghz``, ``template`` (``amplitude``, ``disk_epsilon``, ``center_boost``,
        ``center_width``, ``log_sigma``, ``cl_slope``; or ``tracer``, ``ratio``, ``log_sigma``,
        ``cl_slope``), optional ``polarisation`` (``frac_max``, ``frac_mean``, ``cl_slope``,
        ``bb_ee_ratio``) and ``params`` (``{name: {mean, std, cl_slope}}``, the names
        :data:`LAWS` requires).
    nside : int
        HEALPix resolution of the templates (the simulation's ``nside_sky``).
    seed : int
        Base seed; every field has its own stream derived from (seed, component, field).
    lmax : int, optional
        Band limit of the Gaussian fields (default ``3 * nside // 2``: with the simulation's
        ``nside_sky = 2 * nside``, the output band limit ``3 * nside - 1``; finer structure
        would reach the output only through the non-linear transforms of the templates).

    Returns
    -------
    dict[str, ComponentTemplate]
        Templates in uK_RJ at each component's reference frequency.
    """
    if not hp.isnsideok(nside):
        raise ValueError(f"template nside={nside} is not a valid HEALPix resolution")
    lmax = 3 * nside // 2 if lmax is None else int(lmax)
    done: dict[str, ComponentTemplate] = {}
    for name, cfg in config.items():
        law = _require(cfg, "law", name)
        if law not in LAWS:
            raise ValueError(f"{name}.law={law!r}: expected one of {sorted(LAWS)}")
        pcfg = cfg.get("params") or {}
        missing = [p for p in LAWS[law] if p not in pcfg]
        if missing:
            raise KeyError(f"{name}.params lacks {missing} needed by law {law!r}")
        intensity, qu = _intensity_and_pol(name, cfg, done, nside, lmax, seed)
        maps = intensity[None] if qu is None else np.concatenate([intensity[None], qu])
        params = {p: _parameter(name, p, pcfg[p], nside, lmax, seed) for p in LAWS[law]}
        done[name] = ComponentTemplate(
            name=name,
            law=law,
            freq_ref_ghz=float(_require(cfg, "freq_ref_ghz", name)),
            maps=maps,
            params=params,
        )
    return done
