"""Foreground emission at detector frequencies (delta bandpass), in uK_CMB.

Laws (brightness temperature ``T_RJ(nu) = T_RJ(nu_ref) * s(nu)``, as in PySM3):

* ``mbb`` (thermal dust, PySM3 ``ModifiedBlackBody``):
  ``s = (nu / nu_ref)**(beta - 2) * B_nu(T_d) / B_nu_ref(T_d)
  = (nu / nu_ref)**(beta + 1) * (exp(x_ref) - 1) / (exp(x) - 1)``, ``x = h nu / k T_d``.
* ``power_law`` (synchrotron, free-free, PySM3 ``PowerLaw``): ``s = (nu / nu_ref)**beta``.
* ``lognormal`` (spinning dust / AME): flux density log-normal in frequency,
  ``I_nu ∝ exp(-ln(nu / nu_peak)**2 / (2 W**2))``, i.e.
  ``s = (nu_ref / nu)**2 * exp(-(ln(nu / nu_peak)**2 - ln(nu_ref / nu_peak)**2) / (2 W**2))``.
  An analytic stand-in for PySM3's ``SpDust`` (whose spdust2 emissivity table is downloaded
  data); ``W = 0.5`` gives a peak about a factor 3 wide at half maximum, like spdust2's CNM.
* ``tsz`` (thermal SZ, maps of Compton y): ``dT_CMB = T_CMB y (x coth(x / 2) - 4)``.
* ``cmb`` (kinetic SZ, maps in uK_CMB): the CMB's own SED, flat in uK_CMB.

K_RJ -> K_CMB at frequency nu: ``(exp(x) - 1)**2 / (x**2 exp(x))`` with ``x = h nu / k T_CMB``,
``T_CMB = 2.7255 K`` (the factor PySM3 uses for a delta bandpass).

Engines: ``numpy`` (default) evaluates these laws vectorised over pixels; ``pysm3`` feeds the
galactic templates, in memory, to PySM3's ``ModifiedBlackBody``, ``PowerLaw`` and ``SpDust``
(with a tabulated log-normal emissivity) classes; extragalactic components stay on numpy.
Both agree to < 1e-6 (tested). numpy is the default because PySM3's classes compile with numba
in every new process (~13 s), which dominates a per-simulation worker at nside <= 128. Point
sources (:class:`cmbml.sims.extragalactic.PointSources`) are added in uK_CMB.
:class:`cmbml.sims.pysm_presets.PresetForegroundModel` runs PySM3's own presets (``d9``,
``s4``, ``f1``, ``a1``, ``cib1``, ``tsz1``, ``ksz1``, ``rg1`` ...) from local data files (it and
:func:`~cmbml.sims.pysm_presets.preset_data_files` are importable from here too).
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from cmbml.sims.extragalactic import PointSources, make_extragalactic, sz_spectral_function
from cmbml.sims.instrument import H_OVER_K_GHZ, T_CMB_K, kcmb_to_krj
from cmbml.sims.pysm_presets import PresetForegroundModel, preset_data_files
from cmbml.sims.templates import ComponentTemplate, make_templates

__all__ = [
    "ENGINES",
    "H_OVER_K_GHZ",
    "T_CMB",
    "ForegroundModel",
    "PresetForegroundModel",
    "krj_to_kcmb",
    "lognormal_sed",
    "mbb_sed",
    "model_from_config",
    "power_law_sed",
    "preset_data_files",
    "pysm3_model",
    "sed",
    "cmb_sed",
    "tsz_sed",
]

T_CMB = T_CMB_K
"""CMB monopole temperature, K."""
ENGINES = ("numpy", "pysm3")
_AME_TABLE_PEAK_GHZ = 30.0


def krj_to_kcmb(freq_ghz) -> np.ndarray:
    """Conversion factor from K_RJ to K_CMB at ``freq_ghz`` (GHz, float or array; delta bandpass).

    ``dT_CMB / dT_RJ = (e**x - 1)**2 / (x**2 e**x)``, ``x = h nu / k T_CMB`` (> 1): the inverse of
    :func:`cmbml.sims.instrument.kcmb_to_krj`.
    """
    return 1.0 / kcmb_to_krj(freq_ghz)


def mbb_sed(freq_ghz: float, freq_ref_ghz: float, beta, temperature):
    """Modified-black-body scaling of brightness temperature from ``freq_ref_ghz``.

    Parameters
    ----------
    freq_ghz, freq_ref_ghz : float
        Target and reference frequencies, GHz.
    beta : float or np.ndarray
        Emissivity index (per pixel ``(npix,)`` or scalar).
    temperature : float or np.ndarray
        Dust temperature, K.

    Returns
    -------
    float or np.ndarray
        ``T_RJ(nu) / T_RJ(nu_ref)``.
    """
    inv_t = H_OVER_K_GHZ / np.asarray(temperature, dtype=np.float64)
    ratio = float(freq_ghz) / float(freq_ref_ghz)
    return np.exp((np.asarray(beta) + 1.0) * np.log(ratio)) * (
        np.expm1(freq_ref_ghz * inv_t) / np.expm1(freq_ghz * inv_t)
    )


def power_law_sed(freq_ghz: float, freq_ref_ghz: float, beta):
    """Power-law scaling ``(nu / nu_ref)**beta`` of brightness temperature (beta scalar or map)."""
    return np.exp(np.asarray(beta, dtype=np.float64) * np.log(float(freq_ghz) / freq_ref_ghz))


def lognormal_sed(freq_ghz: float, freq_ref_ghz: float, freq_peak, width):
    """Log-normal (AME-like) scaling of brightness temperature from ``freq_ref_ghz``.

    Parameters
    ----------
    freq_ghz, freq_ref_ghz : float
        Target and reference frequencies, GHz.
    freq_peak : float or np.ndarray
        Peak frequency of the flux density, GHz.
    width : float or np.ndarray
        Width ``W`` of the log-normal in ``ln(nu)``.

    Returns
    -------
    float or np.ndarray
        ``T_RJ(nu) / T_RJ(nu_ref)``.
    """
    log_peak = np.log(np.asarray(freq_peak, dtype=np.float64))
    a = np.log(freq_ghz) - log_peak
    b = np.log(freq_ref_ghz) - log_peak
    return (freq_ref_ghz / freq_ghz) ** 2 * np.exp(
        -(a * a - b * b) / (2.0 * np.asarray(width) ** 2)
    )


def tsz_sed(freq_ghz: float, freq_ref_ghz: float):
    """uK_RJ per unit Compton y at ``freq_ghz``: ``1e6 T_CMB (x coth(x / 2) - 4) dT_RJ/dT_CMB``."""
    return 1e6 * T_CMB * sz_spectral_function(freq_ghz) * kcmb_to_krj(freq_ghz)


def cmb_sed(freq_ghz: float, freq_ref_ghz: float):
    """uK_RJ per uK_CMB at ``freq_ghz`` (maps already in uK_CMB: the kinetic SZ)."""
    return kcmb_to_krj(freq_ghz)


_SEDS = {
    "mbb": mbb_sed,
    "power_law": power_law_sed,
    "lognormal": lognormal_sed,
    "tsz": tsz_sed,
    "cmb": cmb_sed,
}


def sed(template: ComponentTemplate, freq_ghz: float):
    """Brightness-temperature scaling of ``template`` from its reference to ``freq_ghz``.

    Returns
    -------
    float or np.ndarray
        Scalar for a uniform SED, ``(npix,)`` otherwise.
    """
    return _SEDS[template.law](float(freq_ghz), template.freq_ref_ghz, **template.params)


class ForegroundModel:
    """Sum of foreground components, evaluated at any frequency in uK_CMB.

    Parameters
    ----------
    templates : Mapping[str, ComponentTemplate] or Sequence[ComponentTemplate]
        Components at their reference frequencies (in each template's unit), all at one nside.
    engine : str
        ``numpy`` (vectorised laws) or ``pysm3`` (PySM3 model classes fed the same maps, for
        the galactic templates).
    sources : Sequence[PointSources]
        Point-source catalogues, added to the intensity.
    nside : int, optional
        Resolution of the emission (needed when there is no template).
    """

    def __init__(
        self,
        templates=(),
        engine: str = "numpy",
        sources: Sequence[PointSources] = (),
        nside: int | None = None,
    ):
        self.templates = list(templates.values() if isinstance(templates, Mapping) else templates)
        self.sources = list(sources)
        if engine not in ENGINES:
            raise ValueError(f"foreground engine={engine!r}: expected one of {ENGINES}")
        sides = {t.nside for t in self.templates} | ({nside} if nside else set())
        if len(sides) != 1:
            raise ValueError(
                "component templates have different nside values (or none is given): "
                f"{sorted(sides)}"
            )
        self.nside = sides.pop()
        self.engine = engine
        self._pysm_models = None
        self._mbb_cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    @property
    def polarised(self) -> bool:
        """Whether any component has Q, U."""
        return any(t.polarised for t in self.templates) or any(s.polarised for s in self.sources)

    @property
    def uniform_components(self) -> list[ComponentTemplate] | None:
        """The templates if every SED is spatially uniform (numpy engine, no sources), else None.

        Then the emission at any frequency is ``sum_c krj_to_kcmb * sed_c(nu) * maps_c``, so
        the spherical-harmonic transform of each component can be done once and scaled.
        """
        if (
            self.engine == "numpy"
            and self.templates
            and not self.sources
            and all(t.uniform_sed for t in self.templates)
        ):
            return self.templates
        return None

    def emission(self, freq_ghz: float, pol: bool = True, out: np.ndarray | None = None):
        """Total emission at ``freq_ghz`` (delta bandpass).

        Parameters
        ----------
        freq_ghz : float
            Frequency, GHz.
        pol : bool
            Return I, Q, U (True) or I only.
        out : np.ndarray, optional
            ``(3, npix)`` or ``(1, npix)`` float64 array to write into.

        Returns
        -------
        np.ndarray
            ``(3, npix)`` or ``(1, npix)`` float64, uK_CMB.
        """
        freq_ghz = float(freq_ghz)
        shape = (3 if pol else 1, 12 * self.nside**2)
        if out is None:
            out = np.empty(shape)
        elif out.shape != shape:
            raise ValueError(f"out has shape {out.shape}, expected {shape}")
        out[:] = 0.0
        templates = self.templates
        if self.engine == "pysm3":
            templates = [t for t in templates if t.kind != "galactic"]
        scratch = np.empty(shape[1])
        for t in templates:
            scaling = self._sed(t, freq_ghz)
            for f in range(min(shape[0], t.maps.shape[0])):
                np.multiply(t.maps[f], scaling, out=scratch)
                out[f] += scratch
        out *= krj_to_kcmb(freq_ghz)
        if self.engine == "pysm3":
            out += self._emission_pysm3(freq_ghz)[: shape[0]]
        for s in self.sources:
            fields = shape[0] if s.polarised else 1
            out[:fields] += s.emission(freq_ghz, self.nside, pol=fields == 3)
        return out

    def _sed(self, t: ComponentTemplate, freq_ghz: float):
        """:func:`sed`, evaluated in place (varying MBB: from cached per-pixel constants)."""
        if t.uniform_sed or t.law not in ("mbb", "power_law"):
            return sed(t, freq_ghz)
        if t.law == "power_law":
            out = np.multiply(t.params["beta"], np.log(freq_ghz / t.freq_ref_ghz))
            return np.exp(out, out=out)
        if t.name not in self._mbb_cache:
            inv_t = H_OVER_K_GHZ / np.asarray(t.params["temperature"], dtype=np.float64)
            self._mbb_cache[t.name] = (inv_t, np.expm1(t.freq_ref_ghz * inv_t))
        inv_t, expm1_ref = self._mbb_cache[t.name]
        log_ratio = np.log(freq_ghz / t.freq_ref_ghz)
        out = np.multiply(t.params["beta"], log_ratio)
        out += log_ratio
        np.exp(out, out=out)
        out *= expm1_ref
        den = np.multiply(inv_t, freq_ghz)
        np.expm1(den, out=den)
        out /= den
        return out

    def _emission_pysm3(self, freq_ghz):
        """Galactic templates through PySM3's classes: ``(3, npix)`` uK_CMB."""
        import pysm3.units as u

        if self._pysm_models is None:
            self._pysm_models = [pysm3_model(t) for t in self.templates if t.kind == "galactic"]
        out = np.zeros((3, 12 * self.nside**2))
        for model in self._pysm_models:
            out += np.atleast_2d(model.get_emission(freq_ghz * u.GHz).value)
        out *= (1.0 * u.uK_RJ).to_value(
            u.uK_CMB, equivalencies=u.cmb_equivalencies(freq_ghz * u.GHz)
        )
        return out


def _lognormal_spdust(imap, params: dict, freq_ref: str, nside: int):
    """PySM3 ``SpDust`` with a log-normal emissivity table of ``params["width"]``, peaking at
    :data:`_AME_TABLE_PEAK_GHZ` and shifted to ``params["freq_peak"]`` (GHz). The table goes
    through a temporary folder that is removed once PySM3 has read it."""
    import pysm3
    import pysm3.units as u

    nu = np.geomspace(0.05, 5000.0, 20001)
    flux = np.exp(-(np.log(nu / _AME_TABLE_PEAK_GHZ) ** 2) / (2.0 * float(params["width"]) ** 2))
    with tempfile.TemporaryDirectory(prefix="cmbml_pysm3_") as folder:
        table = Path(folder) / "lognormal_emissivity.txt"
        np.savetxt(table, np.column_stack([nu, flux]))
        return pysm3.SpDust(
            map_I=imap,
            freq_ref_I=freq_ref,
            emissivity=str(table),
            freq_peak=params["freq_peak"] * u.GHz,
            freq_ref_peak=f"{_AME_TABLE_PEAK_GHZ} GHz",
            nside=nside,
        )


def pysm3_model(t: ComponentTemplate):
    """A PySM3 model object (``ModifiedBlackBody``, ``PowerLaw`` or ``SpDust``) fed ``t``'s maps.

    The maps are passed in memory as astropy Quantities (uK_RJ); spatially varying spectral
    parameters as arrays. The log-normal law uses ``SpDust`` with a tabulated log-normal
    emissivity peaking at 30 GHz, shifted to ``freq_peak``.
    """
    import pysm3
    import pysm3.units as u

    ref = f"{t.freq_ref_ghz} GHz"
    maps = t.maps * u.uK_RJ
    imap = maps if t.polarised else maps[0]
    params = {k: np.asarray(v, dtype=np.float64) for k, v in t.params.items()}
    if t.law == "mbb":
        if not t.polarised:
            raise ValueError(f"{t.name}: PySM3 ModifiedBlackBody needs I, Q, U templates")
        return pysm3.ModifiedBlackBody(
            map_I=imap,
            freq_ref_I=ref,
            freq_ref_P=ref,
            map_mbb_index=params["beta"],
            map_mbb_temperature=params["temperature"] * u.K,
            nside=t.nside,
        )
    if t.law == "power_law":
        return pysm3.PowerLaw(
            map_I=imap,
            freq_ref_I=ref,
            freq_ref_P=ref if t.polarised else None,
            map_pl_index=params["beta"],
            nside=t.nside,
            has_polarization=t.polarised,
        )
    if t.polarised:
        raise ValueError(f"{t.name}: the log-normal (SpDust) law has no polarisation in PySM3")
    if params["width"].ndim:
        raise ValueError(f"{t.name}: PySM3 SpDust needs a uniform log-normal width")
    return _lognormal_spdust(imap, params, ref, t.nside)


def model_from_config(fg_cfg: Mapping, nside_sky: int, seed: int, freqs_ghz=None):
    """The foreground model a ``model.sim.foregrounds`` config describes.

    Parameters
    ----------
    fg_cfg : Mapping
        ``preset_strings`` (PySM3 presets from local data), or ``components`` (galactic
        templates, see :func:`cmbml.sims.templates.make_templates`, and extragalactic ones with
        a ``kind``, see :func:`cmbml.sims.extragalactic.make_extragalactic`; an entry with
        ``enabled: false`` is left out), ``galaxy`` (shared geometry) and ``engine``.
    nside_sky : int
        Resolution at which the emission is computed.
    seed : int
        Seed of the synthetic components.
    freqs_ghz : Sequence[float], optional
        Frequencies that will be asked for (presets then need only the maps around them).

    Returns
    -------
    ForegroundModel or PresetForegroundModel
    """
    presets = fg_cfg.get("preset_strings")
    if presets:
        return PresetForegroundModel(list(presets), nside_sky, freqs_ghz=freqs_ghz)
    if fg_cfg.get("components") is None:
        raise ValueError("model.sim.foregrounds needs 'components' or 'preset_strings'")
    comps = fg_cfg["components"]
    enabled = {n: c for n, c in comps.items() if c.get("enabled", True)}
    # a component that is off still shapes the ones tracing it (AME follows the dust template)
    traced = {(c.get("template") or {}).get("tracer") for c in enabled.values()}
    galactic = {n: c for n, c in comps.items() if "kind" not in c and (n in enabled or n in traced)}
    templates = make_templates(galactic, nside_sky, seed, galaxy=fg_cfg.get("galaxy"))
    templates = {n: t for n, t in templates.items() if n in enabled}
    extra, sources = make_extragalactic(comps, nside_sky, seed)  # skips galactic and disabled
    return ForegroundModel(
        {**templates, **extra},
        engine=fg_cfg.get("engine", "numpy"),
        sources=sources,
        nside=nside_sky,
    )
