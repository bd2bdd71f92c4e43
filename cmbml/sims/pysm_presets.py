"""PySM3 presets read from local data (``PYSM_LOCAL_DATA``), in uK_CMB, never downloading.

:func:`preset_data_files` lists the files each preset reads, following the layouts of PySM3's
classes (``pysm3/data/presets.cfg``):

* template models (``d9``, ``s4``, ``f1``, ``a1`` ...): the ``.fits``/``.txt`` values of the
  preset, ``{nside}`` resolved to the nearest ``available_nside``;
* ``WebSkyCIB`` (``cib1``) and ``WebSkyRadioGalaxies`` (``rg1``): one map per WebSky frequency,
  ``websky/<version>/cib/cib_<f:06.1f>.fits`` and ``websky/<version>/radio/radio_<f:06.1f>.fits``;
  for a delta bandpass PySM3 reads the map at that frequency or the two around it (linear
  interpolation), none outside 17-1080 GHz;
* ``SimpleSZ`` (``tsz1``, ``ksz1``): its ``template_name`` (``websky/0.4/tsz_8192_hp.fits``,
  ``websky/0.4/ksz.fits``);
* ``COLines`` (``co1``...): ``co/HFI_CompMap_CO-Type1_<512|2048>_R2.00_ring.fits`` (512 up to
  nside 512), plus the polarisation-angle and depolarisation maps when polarised and the
  high-latitude cloud map when asked for. With delta bandpasses CO is seen only at a line's
  exact frequency (115.271, 230.538, 345.796 GHz), so it adds nothing at the Planck centres.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["WEBSKY_GHZ", "PresetForegroundModel", "preset_data_files"]

WEBSKY_GHZ = (
    17.0, 18.7, 21.6, 24.5, 27.3, 30.0, 35.9, 41.7, 44.0, 47.4, 63.9, 67.8, 70.0, 73.7, 79.6,
    90.2, 100.0, 111.0, 129.0, 143.0, 153.0, 164.0, 189.0, 210.0, 217.0, 232.0, 256.0, 275.0,
    294.0, 306.0, 314.0, 340.0, 353.0, 375.0, 409.0, 467.0, 525.0, 545.0, 584.0, 643.0, 729.0,
    817.0, 857.0, 906.0, 994.0, 1080.0,
)  # fmt: skip
"""Frequencies (GHz) of the WebSky 0.4 CIB and radio maps PySM3 interpolates."""

_KEY = "model.sim.foregrounds.preset_strings"


def _bracketing(freq: float) -> list[float]:
    """WebSky frequencies PySM3 reads for a delta bandpass at ``freq`` (GHz)."""
    grid = np.asarray(WEBSKY_GHZ)
    close = np.isclose(grid, freq)
    if close.any():
        return [float(grid[close][0])]
    if freq < grid[0] or freq > grid[-1]:
        return []  # PySM3 warns and returns zeros
    hi = int(np.searchsorted(grid, freq))
    return [float(grid[hi - 1]), float(grid[hi])]


def _websky(config, folder: str, freqs) -> list[str]:
    version = config.get("websky_version", "0.4")
    wanted = WEBSKY_GHZ if freqs is None else sorted({f for nu in freqs for f in _bracketing(nu)})
    return [f"websky/{version}/{folder}/{folder}_{f:06.1f}.fits" for f in wanted]


def _co_lines(config, nside: int) -> list[str]:
    tnside = 512 if nside <= 512 else 2048
    files = [f"co/HFI_CompMap_CO-Type1_{tnside}_R2.00_ring.fits"]
    if config.get("has_polarization", True):
        files += [f"co/psimap_dust90_{tnside}.fits", f"co/gmap_dust90_{tnside}.fits"]
    if config.get("include_high_galactic_latitude_clouds") and not config.get("run_mcmole3d"):
        files.append(f"co/mcmoleCO_HGL_{tnside}.fits")
    return files


def _template_files(config, nside: int) -> list[str]:
    available = config.get("available_nside")
    tnside = min(available, key=lambda x: abs(x - nside)) if available else nside
    return [
        value.format(nside=tnside)
        for value in config.values()
        if isinstance(value, str) and value.endswith((".fits", ".txt", ".fits.gz", ".h5"))
    ]


def _files_in(config, nside: int, freqs) -> list[str]:
    """Data files one PySM3 preset config section reads."""
    if "class" not in config:  # a preset made of several components
        return [f for sub in config.values() for f in _files_in(sub, nside, freqs)]
    cls = config["class"]
    if cls == "WebSkyCIB":
        return _websky(config, "cib", freqs)
    if cls == "WebSkyRadioGalaxies":
        return _websky(config, "radio", freqs)
    if cls == "SimpleSZ":
        return [config["template_name"]]
    if cls == "COLines":
        return _co_lines(config, nside)
    return _template_files(config, nside)


def preset_data_files(
    preset_strings: Sequence[str], nside: int, freqs_ghz: Sequence[float] | None = None
) -> list[str]:
    """Relative paths of the PySM3 data files the presets read at ``nside``.

    Parameters
    ----------
    preset_strings : Sequence[str]
        PySM3 preset names.
    nside : int
        Resolution of the emission.
    freqs_ghz : Sequence[float], optional
        Delta-bandpass frequencies that will be asked for (GHz); interpolated presets then need
        only the maps around them. Default: every map.

    Raises
    ------
    ValueError
        If a preset string is not one of PySM3's presets.
    """
    from pysm3.sky import PRESET_MODELS

    files: list[str] = []
    for name in preset_strings:
        if name not in PRESET_MODELS:
            raise ValueError(f"unknown PySM3 preset {name!r} in {_KEY}")
        files += [f for f in _files_in(PRESET_MODELS[name], nside, freqs_ghz) if f not in files]
    return files


class PresetForegroundModel:
    """PySM3 presets (``d9``, ``s4``, ``f1``, ``a1``, ``cib1``, ``tsz1`` ...) from local data.

    Parameters
    ----------
    preset_strings : Sequence[str]
        PySM3 preset names.
    nside : int
        Resolution of the emission maps (``nside_sky``).
    data_dir : str or Path, optional
        Folder holding PySM3's data tree (default: environment variable ``PYSM_LOCAL_DATA``).
        Every file the presets need must be there: nothing is downloaded.
    freqs_ghz : Sequence[float], optional
        Frequencies that will be asked for (narrows the interpolated maps that must exist).

    Attributes
    ----------
    files : list[Path]
        The data files the presets read (for provenance).

    Raises
    ------
    FileNotFoundError
        If the data folder is not set or lacks a file (the message lists what is missing).
    """

    uniform_components = None

    def __init__(self, preset_strings: Sequence[str], nside: int, data_dir=None, freqs_ghz=None):
        import pysm3

        data_dir = data_dir or os.environ.get("PYSM_LOCAL_DATA")
        if not data_dir:
            raise FileNotFoundError(
                f"{_KEY}={list(preset_strings)} needs PySM3 template data: set PYSM_LOCAL_DATA "
                "to the folder holding it (nothing is downloaded)"
            )
        needed = preset_data_files(preset_strings, nside, freqs_ghz)
        missing = [f for f in needed if not (Path(data_dir) / f).exists()]
        if missing:
            raise FileNotFoundError(
                f"{_KEY}={list(preset_strings)}: PYSM_LOCAL_DATA={data_dir} lacks {missing}"
            )
        self.files = [Path(data_dir) / f for f in needed]
        previous = os.environ.get("PYSM_LOCAL_DATA")
        os.environ["PYSM_LOCAL_DATA"] = str(data_dir)
        try:
            self.sky = pysm3.Sky(nside=nside, preset_strings=list(preset_strings))
        finally:
            if previous is None:
                del os.environ["PYSM_LOCAL_DATA"]
            else:
                os.environ["PYSM_LOCAL_DATA"] = previous
        self.nside = nside
        self.polarised = True

    def emission(self, freq_ghz: float, pol: bool = True, out: np.ndarray | None = None):
        """Total emission at ``freq_ghz``: ``(3, npix)`` or ``(1, npix)`` float64, uK_CMB.

        ``out``, if given, is filled and returned. Components that read their maps lazily
        (WebSky CIB and radio) look in the data folder they were created with.
        """
        import pysm3.units as u

        raw = self.sky.get_emission(freq_ghz * u.GHz).value
        maps = np.atleast_2d(raw).astype(np.float64)
        maps *= (1.0 * u.uK_RJ).to_value(
            u.uK_CMB, equivalencies=u.cmb_equivalencies(freq_ghz * u.GHz)
        )
        maps = maps if pol else maps[:1]
        if out is None:
            return maps
        out[:] = maps
        return out
