"""Synthetic, deterministic galactic foreground templates (offline stand-ins for PySM3 data).

Each component is a set of HEALPix RING maps at a reference frequency, in Galactic coordinates:

* **Intensity** ``I = P(l, b) * exp(s * g - s**2 / 2)``  [uK_RJ], positive everywhere. ``P`` is
  the component's envelope (:func:`cmbml.sims.galaxy.galactic_profile`: a warped cosec slab, an
  off-centre inner Galaxy, clouds and Loop I, with ``P ~ amplitude`` at the poles). ``g`` is a
  unit-variance Gaussian random field with angular power law ``C_l ∝ l**alpha`` (``l >= 2``;
  ``alpha`` is the ``cl_slope`` of the config, a slope of **C_l**, not of
  D_l = l(l+1)C_l/2pi, which goes as ``l**(alpha + 2)``). A component may instead follow
  another one's intensity (``tracer``: AME follows dust), with its own extra log-normal
  modulation.
* **Polarisation** ``Q + iU = k * P * Pi`` with
  ``Pi = f * Pi_ord + sqrt(1 - f**2) * Pi_turb / sqrt(max(1, P / A))``: ``Pi_ord`` is the
  pattern of the ordered Galactic field (:func:`cmbml.sims.galaxy.ordered_polarisation`);
  ``Pi_turb`` a spin-2 Gaussian field (unit mean ``|Pi_turb|**2``), averaged down along long
  lines of sight (``P / A`` ~ the number of turbulent cells: in the plane the ordered field
  dominates, as Planck sees) whose E modes have ``C_l^EE ∝ l**alpha_P``, a coherence
  ``rho`` (``te_correlation``) with the log-intensity field ``g`` (so that TE > 0, as
  Planck 2018 XI measures for dust), and ``C_l^BB = r * C_l^EE``. The envelope ``P`` is smooth,
  so this modulation leaves the ratio BB/EE at the configured ``r`` where the sky is not masked.
  The polarisation fraction ``p = |Q + iU| / I`` is limited softly, ``p -> p_max tanh(p /
  p_max)``, and ``k`` is set so that the mean of ``p`` over the sky is ``frac_mean``.
* **Spectral parameters** (``beta``, ``temperature``, ...): ``mean + std * g`` with their own
  Gaussian fields, or scalars when ``std = 0`` (a spatially uniform SED).

Fields are drawn multipole by multipole (l-major), each from its own stream seeded by
(seed, component, field), and normalised to unit variance over ``l >= l_min`` to infinity
(``cl_ell_min``, default 2; larger scales are then the envelope's): the
same seed gives the same sky at every resolution (a lower ``nside`` sees the band-limited
version), and changing one component never changes another.

Default numbers (``cfg/model/sim/foregrounds/synthetic.yaml``) follow PySM3's d9/d10, s4/s5, f1
and a1 models: dust at 353 GHz (beta 1.53 ± 0.05, T 19.6 ± 1 K; C_l slopes -2.7 in intensity and
-2.42 in polarisation, BB/EE 0.5 and r_TE ~ 0.35, Planck 2018 XI), synchrotron at 23 GHz
(beta -3.1 ± 0.1, slope -3), free-free at 30 GHz (beta -2.14), AME at 22.8 GHz tracing dust.
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
from cmbml.sims.galaxy import galactic_profile, ordered_polarisation, require_key
from cmbml.sims.polarisation import (
    calibrate_bb_ee,
    cap_fraction,
    diffuse_window,
    limit_polarisation,
)

__all__ = [
    "LAWS",
    "ComponentTemplate",
    "field_stream",
    "gaussian_alm",
    "make_templates",
    "power_law_cl",
]

LAWS = {
    "mbb": ("beta", "temperature"),
    "power_law": ("beta",),
    "lognormal": ("freq_peak", "width"),
}
"""Laws of the galactic templates and the spectral parameters each needs (see
:mod:`cmbml.sims.foregrounds`, which also has the extragalactic SZ laws ``tsz`` and ``cmb``)."""

_UNITS = {"tsz": "y", "cmb": "uK_CMB"}
"""Unit of the maps of a law other than uK_RJ."""


@dataclass
class ComponentTemplate:
    """One foreground component at its reference frequency.

    Attributes
    ----------
    name : str
        Component name (``dust``, ``synchrotron``, ...).
    law : str
        SED law: a key of :data:`LAWS`, or ``tsz`` (Compton-y maps) or ``cmb`` (maps in uK_CMB)
        for the extragalactic SZ components.
    freq_ref_ghz : float
        Reference frequency of ``maps``, GHz.
    maps : np.ndarray
        ``(1, npix)`` intensity or ``(3, npix)`` I, Q, U at ``freq_ref_ghz``, RING, in ``unit``.
    params : dict
        Spectral parameters: floats (uniform) or ``(npix,)`` maps (spatially varying).
    kind : str
        ``galactic`` or the extragalactic kind (``cib``, ``tsz``, ``ksz``).
    """

    name: str
    law: str
    freq_ref_ghz: float
    maps: np.ndarray
    params: dict = field(default_factory=dict)
    kind: str = "galactic"

    @property
    def unit(self) -> str:
        """Unit of ``maps``: ``uK_RJ`` (laws mbb, power_law, lognormal), ``y`` (Compton
        parameter, law tsz) or ``uK_CMB`` (law cmb)."""
        return _UNITS.get(self.law, "uK_RJ")

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


def field_stream(seed: int, *keys: str) -> np.random.Generator:
    """Random stream of one field, seeded by (seed, key, ...): independent of every other key."""
    words = [int(seed) % 2**63] + [zlib.crc32(k.encode()) for k in keys]
    return np.random.default_rng(np.random.SeedSequence(words))


def _alm(slope, lmax, seed, *keys, ell_min: int = 2) -> np.ndarray:
    return gaussian_alm(power_law_cl(slope, lmax, ell_min), lmax, field_stream(seed, *keys))


def _envelope(name, tcfg, done, nside, galaxy) -> np.ndarray:
    """Galactic envelope, or ``ratio`` times an earlier component's intensity (``tracer``)."""
    where = f"{name}.template"
    if "tracer" in tcfg:
        tracer = tcfg["tracer"]
        if tracer not in done:
            raise ValueError(
                f"{where}.tracer={tracer!r} must name a component listed before {name!r}"
            )
        return float(require_key(tcfg, "ratio", where)) * done[tracer].maps[0]
    for key in ("amplitude", "disk_epsilon"):
        require_key(tcfg, key, where)
    return galactic_profile(nside, tcfg, galaxy)


def _turbulent_alm(name, pcfg, t_alm, cl_t, lmax, seed, ell_min) -> tuple[np.ndarray, float]:
    """E, B alm ``(2, nalm)`` of the turbulent field (E partly coherent with ``t_alm``), BB/EE.

    ``cl_t`` is the power of ``t_alm`` (both None when the intensity has no fluctuations).
    """
    where = f"{name}.polarisation"
    cl_e = power_law_cl(float(require_key(pcfg, "cl_slope", where)), lmax, ell_min)
    ratio = float(pcfg.get("bb_ee_ratio", 1.0))
    rho = float(pcfg.get("te_correlation", 0.0))
    if not -1.0 <= rho <= 1.0 or ratio < 0:
        raise ValueError(f"{where}: need -1 <= te_correlation <= 1 and bb_ee_ratio >= 0")
    e_alm = gaussian_alm(cl_e, lmax, field_stream(seed, name, "E"))
    if rho and t_alm is not None:
        coupling = np.sqrt(np.divide(cl_e, cl_t, out=np.zeros_like(cl_e), where=cl_t > 0))
        e_alm *= np.sqrt(1.0 - rho**2)
        e_alm += rho * sphere.almxfl(t_alm, coupling)
    b_alm = gaussian_alm(ratio * cl_e, lmax, field_stream(seed, name, "B"))
    return np.stack([e_alm, b_alm]), ratio


def _intensity_and_pol(name, cfg, done, nside, lmax, seed, galaxy):
    """Intensity ``(npix,)`` and, for polarised components, Q, U ``(2, npix)`` (else None).

    The log-intensity field and the turbulent spin-2 field share one synthesis (T, E, B slots).
    """
    tcfg = require_key(cfg, "template", name)
    sigma = float(require_key(tcfg, "log_sigma", f"{name}.template"))
    ell_min = int(tcfg.get("cl_ell_min", 2))
    if ell_min < 2:
        raise ValueError(f"{name}.template.cl_ell_min must be >= 2, got {ell_min}")
    t_alm = cl_t = None
    if sigma != 0:
        cl_t = power_law_cl(float(require_key(tcfg, "cl_slope", f"{name}.template")), lmax, ell_min)
        t_alm = gaussian_alm(cl_t, lmax, field_stream(seed, name, "I"))
    pcfg = cfg.get("polarisation")
    g = None
    if pcfg:
        eb, ratio = _turbulent_alm(name, pcfg, t_alm, cl_t, lmax, seed, ell_min)
        zero = np.zeros(sphere.nalm(lmax), dtype=np.complex128)
        teb = np.concatenate([(zero if t_alm is None else t_alm)[None], eb])
        g, q_t, u_t = sphere.alm2map(teb, nside, lmax, pol=True)
    elif t_alm is not None:
        g = sphere.alm2map(t_alm, nside, lmax)
    envelope = _envelope(name, tcfg, done, nside, galaxy)
    intensity = envelope if g is None else envelope * np.exp(sigma * g - 0.5 * sigma**2)
    if not pcfg:
        return intensity, None
    where = f"{name}.polarisation"
    ordered = float(pcfg.get("ordered_fraction", 0.0))
    if not 0.0 <= ordered <= 1.0:
        raise ValueError(f"{where}.ordered_fraction must be in [0, 1], got {ordered}")
    pol = (q_t + 1j * u_t) * (np.sqrt(1.0 - ordered**2) / np.sqrt(1.0 + ratio))
    if "tracer" not in tcfg:
        # long lines of sight average many turbulent cells: sqrt(N) depolarisation, N ∝ column
        column = envelope / float(tcfg["amplitude"])
        pol /= np.sqrt(np.maximum(column, 1.0))
    if ordered:
        field = require_key(galaxy or {}, "magnetic_field", "galaxy")
        q_o, u_o = ordered_polarisation(
            nside,
            float(require_key(field, "l_deg", "galaxy.magnetic_field")),
            float(require_key(field, "b_deg", "galaxy.magnetic_field")),
        )
        pol += ordered * (q_o + 1j * u_o)
    frac_max = float(require_key(pcfg, "frac_max", where))
    qu = limit_polarisation(
        envelope, intensity, pol, float(require_key(pcfg, "frac_mean", where)), frac_max
    )
    shapes = (galaxy or {}).get("structures") or {}
    clouds = {n: shapes[n] for n, a in (tcfg.get("structures") or {}).items() if a}
    calibrate_bb_ee(qu, diffuse_window(nside, clouds), ratio, lmax)
    return intensity, cap_fraction(qu, intensity, frac_max)


def _parameter(name, pname, pcfg, nside, lmax, seed):
    where = f"{name}.params.{pname}"
    mean = float(require_key(pcfg, "mean", where))
    std = float(pcfg.get("std", 0.0))
    if std < 0:
        raise ValueError(f"{where}.std must be >= 0, got {std}")
    if std == 0:
        return mean
    alm = _alm(float(require_key(pcfg, "cl_slope", where)), lmax, seed, name, pname)
    return mean + std * sphere.alm2map(alm, nside, lmax)


def make_templates(
    config: Mapping,
    nside: int,
    seed: int,
    lmax: int | None = None,
    galaxy: Mapping | None = None,
) -> dict[str, ComponentTemplate]:
    """Generate every configured galactic component's template at ``nside``.

    Parameters
    ----------
    config : Mapping
        ``{component_name: component_config}`` in order (a tracer must come after the component
        it follows). Each component config has ``law`` (a key of :data:`LAWS`),
        ``freq_ref_ghz``, ``template`` (envelope: ``amplitude``, ``disk_epsilon``,
        ``slab_index``, ``center_boost``, ``center_width_deg``, ``structures``, see
        :func:`cmbml.sims.galaxy.galactic_profile`; or ``tracer`` and ``ratio``; fluctuations:
        ``log_sigma``, ``cl_slope`` and ``cl_ell_min``, the lowest multipole of the Gaussian
        fields, default 2: larger scales are the envelope's), optional ``polarisation``
        (``frac_max``, ``frac_mean``, ``cl_slope``, ``bb_ee_ratio``, ``te_correlation``,
        ``ordered_fraction``) and ``params`` (``{name: {mean, std, cl_slope}}``, the names
        :data:`LAWS` requires).
    nside : int
        HEALPix resolution of the templates (the simulation's ``nside_sky``).
    seed : int
        Base seed; every field has its own stream derived from (seed, component, field).
    lmax : int, optional
        Band limit of the Gaussian fields (default ``3 * nside // 2``: with the simulation's
        ``nside_sky = 2 * nside``, the output band limit ``3 * nside - 1``; finer structure
        would reach the output only through the non-linear transforms of the templates).
    galaxy : Mapping, optional
        Shared Galactic geometry (``warp``, ``inner_galaxy``, ``structures``,
        ``magnetic_field``; :mod:`cmbml.sims.galaxy`).

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
        law = require_key(cfg, "law", name)
        if law not in LAWS:
            raise ValueError(f"{name}.law={law!r}: expected one of {sorted(LAWS)}")
        pcfg = cfg.get("params") or {}
        missing = [p for p in LAWS[law] if p not in pcfg]
        if missing:
            raise KeyError(f"{name}.params lacks {missing} needed by law {law!r}")
        intensity, qu = _intensity_and_pol(name, cfg, done, nside, lmax, seed, galaxy)
        maps = intensity[None] if qu is None else np.concatenate([intensity[None], qu])
        params = {p: _parameter(name, p, pcfg[p], nside, lmax, seed) for p in LAWS[law]}
        done[name] = ComponentTemplate(
            name=name,
            law=law,
            freq_ref_ghz=float(require_key(cfg, "freq_ref_ghz", name)),
            maps=maps,
            params=params,
        )
    return done
