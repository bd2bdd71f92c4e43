"""Planck-like instrument: the detector table and unit conversions.

The detector table (``assets/instrument/planck_detectors.csv``) is the CMB-ML one: Planck bands
with their delta-bandpass centre frequencies, the enlarged CMB-ML beams, the polarisation flag,
the Planck 2018 white-noise levels in uK_CMB·arcmin (545/857 GHz converted from kJy/sr·deg with
the same delta bandpass) and the knee multipole and slope of each band's 1/f noise (fits to
the FFP10 noise simulations).

Unit conversions assume a **delta bandpass at the detector centre frequency**: thermodynamic
(K_CMB) to Rayleigh-Jeans (K_RJ) or to surface brightness (MJy/sr) through dB_nu/dT at
T_CMB = 2.7255 K. At 545/857 GHz these differ from Planck's band-integrated factors (see
``assets/instrument/README.md``).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "H_OVER_K_GHZ",
    "T_CMB_K",
    "Detector",
    "default_detector_table",
    "kcmb_to_krj",
    "kcmb_to_mjysr",
    "load_detectors",
    "parse_unit",
    "unit_factor",
]

T_CMB_K = 2.7255
"""CMB monopole temperature, K (Fixsen 2009)."""

_H = 6.62607015e-34  # Planck constant, J s
_K_B = 1.380649e-23  # Boltzmann constant, J / K
_C = 299792458.0  # speed of light, m / s

H_OVER_K_GHZ = _H / _K_B * 1e9
"""h / k_B in K per GHz."""

_COLUMNS = (
    "band",
    "center_ghz",
    "fwhm_arcmin",
    "has_pol",
    "noise_t_uk_arcmin",
    "noise_p_uk_arcmin",
    "native_unit",
    "mjysr_per_kcmb_delta",
    "ell_knee",
    "alpha_knee",
)


@dataclass(frozen=True)
class Detector:
    """One detector (frequency band) of the instrument.

    Attributes
    ----------
    band : int
        Nominal band, GHz (the detector's name, e.g. 100).
    center_ghz : float
        Centre frequency of the delta bandpass, GHz.
    fwhm_arcmin : float
        Gaussian beam FWHM, arcmin.
    has_pol : bool
        Whether the band measures Q and U.
    noise_t_uk_arcmin : float
        Temperature white-noise level, uK_CMB·arcmin.
    noise_p_uk_arcmin : float or None
        Polarisation (Q, U) white-noise level, uK_CMB·arcmin; None without polarisation.
    native_unit : str
        Unit of the published Planck frequency maps (``"K_CMB"`` or ``"MJy/sr"``).
    ell_knee : float
        Knee multipole of the 1/f noise: N_l = white x (1 + (ell_knee / l)^alpha_knee).
    alpha_knee : float
        Slope of the 1/f noise spectrum.
    """

    band: int
    center_ghz: float
    fwhm_arcmin: float
    has_pol: bool
    noise_t_uk_arcmin: float
    noise_p_uk_arcmin: float | None
    native_unit: str
    ell_knee: float
    alpha_knee: float

    def fields(self, map_fields: str = "IQU") -> str:
        """Stokes fields this detector provides among ``map_fields`` (``"I"`` or ``"IQU"``)."""
        if map_fields not in ("I", "IQU"):
            raise ValueError(f"map_fields must be 'I' or 'IQU', got {map_fields!r}")
        return "IQU" if (map_fields == "IQU" and self.has_pol) else "I"

    def noise_levels(self, map_fields: str = "IQU") -> list[float]:
        """White-noise levels (uK_CMB·arcmin) for each field of :meth:`fields`."""
        fields = self.fields(map_fields)
        if fields == "I":
            return [self.noise_t_uk_arcmin]
        return [self.noise_t_uk_arcmin, self.noise_p_uk_arcmin, self.noise_p_uk_arcmin]


def default_detector_table() -> Path:
    """Path of the shipped CMB-ML detector table (``assets/instrument/planck_detectors.csv``)."""
    return Path(__file__).resolve().parents[2] / "assets" / "instrument" / "planck_detectors.csv"


def load_detectors(
    path: str | Path | None = None, bands: Iterable[int] | None = None
) -> dict[int, Detector]:
    """Read the detector table.

    Parameters
    ----------
    path : str or Path, optional
        CSV with the columns of ``assets/instrument/planck_detectors.csv`` (default: that file).
    bands : iterable of int, optional
        Bands to return, in this order (default: all rows, in file order).

    Returns
    -------
    dict[int, Detector]
        Band (GHz) -> detector.

    Raises
    ------
    FileNotFoundError
        The table does not exist.
    ValueError
        A column is missing, a value is malformed, or a requested band is not in the table.
    """
    path = default_detector_table() if path is None else Path(path)
    if not path.exists():
        raise FileNotFoundError(f"detector table {path} does not exist")
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in _COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"detector table {path} lacks column(s) {', '.join(missing)}")
        table = {}
        for i, row in enumerate(reader, start=2):
            try:
                det = _parse_row(row)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"detector table {path}, line {i}: {exc}") from exc
            table[det.band] = det
    if bands is None:
        return table
    unknown = [b for b in bands if int(b) not in table]
    if unknown:
        raise ValueError(f"detector(s) {unknown} not in {path}; known bands: {sorted(table)}")
    return {int(b): table[int(b)] for b in bands}


def _parse_row(row: dict) -> Detector:
    has_pol = bool(int(row["has_pol"]))
    noise_p = row["noise_p_uk_arcmin"].strip()
    if has_pol and not noise_p:
        raise ValueError(f"band {row['band']} has polarisation but no noise_p_uk_arcmin")
    det = Detector(
        band=int(row["band"]),
        center_ghz=float(row["center_ghz"]),
        fwhm_arcmin=float(row["fwhm_arcmin"]),
        has_pol=has_pol,
        noise_t_uk_arcmin=float(row["noise_t_uk_arcmin"]),
        noise_p_uk_arcmin=float(noise_p) if noise_p else None,
        native_unit=parse_unit(row["native_unit"])[0],
        ell_knee=float(row["ell_knee"]),
        alpha_knee=float(row["alpha_knee"]),
    )
    if det.center_ghz <= 0 or det.fwhm_arcmin < 0 or det.noise_t_uk_arcmin <= 0:
        raise ValueError(f"band {det.band}: non-physical centre frequency, beam or noise level")
    if det.ell_knee < 0 or det.alpha_knee < 0:
        raise ValueError(f"band {det.band}: ell_knee and alpha_knee must be >= 0")
    return det


# Unit conversions ----------------------------------------------------------------------------


def kcmb_to_krj(freq_ghz):
    """K_RJ per K_CMB at ``freq_ghz`` (delta bandpass): ``x^2 e^x / (e^x - 1)^2``, x = h nu/kT.

    ``freq_ghz`` may be a float or an array of frequencies (GHz); the result has its shape.
    """
    x = _H * np.asarray(freq_ghz, dtype=np.float64) * 1e9 / (_K_B * T_CMB_K)
    return x * x * np.exp(x) / np.expm1(x) ** 2


def kcmb_to_mjysr(freq_ghz: float) -> float:
    """MJy/sr per K_CMB at ``freq_ghz`` (delta bandpass): ``dB_nu/dT`` at T_CMB, times 1e20."""
    nu = freq_ghz * 1e9
    return 2.0 * _K_B * nu * nu / _C**2 * kcmb_to_krj(freq_ghz) * 1e20


# canonical name -> (kind, scale to the kind's base unit)
_UNITS = {
    "K_CMB": ("cmb", 1.0),
    "mK_CMB": ("cmb", 1e-3),
    "uK_CMB": ("cmb", 1e-6),
    "K_RJ": ("rj", 1.0),
    "mK_RJ": ("rj", 1e-3),
    "uK_RJ": ("rj", 1e-6),
    "MJy/sr": ("mjysr", 1.0),
    "kJy/sr": ("mjysr", 1e-3),
    "Jy/sr": ("mjysr", 1e-6),
}
_ALIASES = {
    "kcmb": "K_CMB",
    "k_cmb": "K_CMB",
    "kcmb_thermo": "K_CMB",
    "mkcmb": "mK_CMB",
    "mk_cmb": "mK_CMB",
    "ukcmb": "uK_CMB",
    "uk_cmb": "uK_CMB",
    "muk_cmb": "uK_CMB",
    "krj": "K_RJ",
    "k_rj": "K_RJ",
    "mk_rj": "mK_RJ",
    "uk_rj": "uK_RJ",
    "mjy/sr": "MJy/sr",
    "kjy/sr": "kJy/sr",
    "jy/sr": "Jy/sr",
}


def parse_unit(text: str) -> tuple[str, int]:
    """Canonical unit name and power of a FITS unit string.

    Accepts the spellings found in Planck files and in this project (``K_CMB``, ``Kcmb``,
    ``uK_CMB``, ``K_RJ``, ``MJy/sr``, ...) and squared forms for variances (``Kcmb^2``,
    ``(K_CMB)^2``, ``K_CMB**2``, ``(MJy/sr)^2``, ``MJy^2/sr^2``).

    Returns
    -------
    tuple[str, int]
        Canonical name (a key of the supported units) and power (1 or 2).

    Raises
    ------
    ValueError
        Unknown unit.
    """
    raw = str(text).strip()
    s = raw.replace(" ", "").replace("**", "^")
    power = 1
    m = re.fullmatch(r"\((.*)\)\^?2", s) or re.fullmatch(r"(.*)\^2", s)
    if re.fullmatch(r"[a-zA-Z]*Jy\^2/sr\^2", s):
        s, power = s.replace("^2", ""), 2
    elif m:
        s, power = m.group(1), 2
    name = _ALIASES.get(s.lower())
    if name is None:
        raise ValueError(
            f"unknown unit {raw!r}; known: {', '.join(_UNITS)} (and their squares for variances)"
        )
    return name, power


def unit_factor(from_unit: str, to_unit: str, freq_ghz: float) -> float:
    """Multiplicative factor converting values in ``from_unit`` to ``to_unit`` at ``freq_ghz``.

    Parameters
    ----------
    from_unit, to_unit : str
        Units accepted by :func:`parse_unit` (not squared; square the factor for variances).
    freq_ghz : float
        Frequency of the delta bandpass, GHz.

    Returns
    -------
    float
        ``value_in_to_unit = factor * value_in_from_unit``.
    """
    src, p_src = parse_unit(from_unit)
    dst, p_dst = parse_unit(to_unit)
    if p_src != 1 or p_dst != 1:
        raise ValueError(
            f"unit_factor converts plain units; got {from_unit!r} -> {to_unit!r} "
            "(square the factor for variances)"
        )
    kind_src, scale_src = _UNITS[src]
    kind_dst, scale_dst = _UNITS[dst]
    per_kcmb = {"cmb": 1.0, "rj": kcmb_to_krj(freq_ghz), "mjysr": kcmb_to_mjysr(freq_ghz)}
    # value [from] * scale_src -> base of kind_src -> K_CMB -> base of kind_dst -> to
    return scale_src / per_kcmb[kind_src] * per_kcmb[kind_dst] / scale_dst
