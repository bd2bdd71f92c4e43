"""What a dataset's maps carry, recorded once per dataset (``dataset_info``, ``dataset.yaml``).

A dataset records its conventions when its maps are made, so that every consumer reads them
instead of assuming them:

- ``pixel_window``: whether the observed maps (``obs_map``) carry the HEALPix pixel window of
  their nside. cmbml's simulations do (:mod:`cmbml.sims.sky`: beam times pixel window, the
  average of the sky over each pixel); CMB-ML's published datasets do not (PySM3's
  ``apply_smoothing_and_coord_transform`` synthesises with ``pixwin=False``).
- ``units`` of the maps, ``truth`` (the CMB truth map: unbeamed, no pixel window),
  ``beams_fwhm_arcmin`` per band and ``made_by`` (what wrote the record).

``main_sims.py`` (stage ``make_instrument``) writes it for cmbml's datasets,
``get_data/get_dataset.py`` for CMB-ML's. ``dataset.pixel_window`` (``true``/``false``)
overrides the record, for data that has none; ``null`` (the default) reads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omegaconf import OmegaConf

from cmbml.core.errors import BadInputError, ConfigError, MissingInputError

__all__ = ["RECORD", "dataset_record", "observed_pixel_window", "pixel_window_override"]

RECORD = "dataset_info"
"""Catalog entry of the record."""
OVERRIDE = "dataset.pixel_window"


def dataset_record(
    *, pixel_window: bool, units: str, beams_fwhm_arcmin: Mapping[int, float], made_by: str
) -> dict[str, Any]:
    """The content of ``dataset.yaml``.

    Parameters
    ----------
    pixel_window : bool
        Whether the observed maps carry the HEALPix pixel window of their nside.
    units : str
        Unit of every map (``uK_CMB``).
    beams_fwhm_arcmin : mapping
        Band (GHz) -> Gaussian beam FWHM (arcmin) of the observed maps.
    made_by : str
        What made the maps (for people reading the file).

    Returns
    -------
    dict
        A mapping for the YAML handler.
    """
    return {
        "made_by": made_by,
        "units": units,
        "pixel_window": bool(pixel_window),
        "beams_fwhm_arcmin": {str(b): float(f) for b, f in beams_fwhm_arcmin.items()},
        "truth": {"fwhm_arcmin": 0.0, "pixel_window": False},
    }


def pixel_window_override(cfg) -> bool | None:
    """``dataset.pixel_window``: ``True``/``False``, or ``None`` to read the dataset's record."""
    value = OmegaConf.select(cfg, OVERRIDE, default=None)
    if value is not None and not isinstance(value, bool):
        raise ConfigError(f"{OVERRIDE} must be true, false or null, got {value!r}")
    return value


def observed_pixel_window(stage) -> bool:
    """Whether the dataset's observed maps carry the HEALPix pixel window.

    ``dataset.pixel_window`` when set, else the ``pixel_window`` of the dataset's record (read
    through ``stage``, so that it becomes an input of the stage's unit).

    Parameters
    ----------
    stage : cmbml.core.Stage
        The stage asking (its config, catalog and provenance).

    Raises
    ------
    MissingInputError
        No override and no record: the message names the file and the ways to provide it.
    BadInputError
        The record has no boolean ``pixel_window``.
    """
    override = pixel_window_override(stage.cfg)
    if override is not None:
        return override
    path = stage.path(RECORD)
    if not path.is_file():
        raise MissingInputError(
            f"stage '{stage.name}' needs to know whether the observed maps carry the HEALPix "
            f"pixel window, recorded in {path}, which does not exist: make the dataset with "
            "python main_sims.py (cmbml's maps carry it) or python get_data/get_dataset.py "
            f"(CMB-ML's do not), or set {OVERRIDE}=true or false for other data"
        )
    record = stage.read(RECORD)
    value = record.get("pixel_window") if isinstance(record, Mapping) else None
    if not isinstance(value, bool):
        raise BadInputError(f"{path}: 'pixel_window' must be true or false, got {value!r}")
    return value
