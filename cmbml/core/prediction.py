"""What a predicted CMB map records about how it was made, and the checks before it is scored.

A method's prediction stage writes, in the FITS header of each prediction (HDU 1), the Gaussian
beam FWHM of the map (``BEAMFWHM``, arcmin), whether it carries the HEALPix pixel window
(``PIXWIN``) and which unit of work made it: the stage's manifest key (``CMBMLSTG``), the unit
(``CMBMLUNT``) and the stage's config hash (``CMBMLHSH``); the unit is ``TUNIT1``. Before
scoring, the analysis checks that the unit of work that wrote the map is still up to date (its
manifest exists, has that config hash, and every file it read and wrote, the prediction
included, is unchanged) and that the beam and window are the ones it expects. A map without
these cards (made elsewhere) is scored with the analysis's configured beam and window.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cmbml.core.errors import BadInputError
from cmbml.core.manifests import Ledger, unit_name

__all__ = ["PREDICTION_UNIT", "MadeBy", "made_by", "prediction_header", "stale_reason"]

#: The unit every prediction is scored in.
PREDICTION_UNIT = "uK_CMB"
_CARDS = ("BEAMFWHM", "PIXWIN", "CMBMLSTG", "CMBMLUNT", "CMBMLHSH")


@dataclass(frozen=True)
class MadeBy:
    """How a prediction was made (from its header).

    Attributes
    ----------
    fwhm_arcmin : float
        Gaussian beam FWHM of the map, arcmin (0: unbeamed).
    pixwin : bool
        Whether the map carries the HEALPix pixel window of its nside.
    stage : str
        Manifest key of the stage that wrote it (``pyilc_predict/PyILC_CNILC``).
    unit : str
        Its unit of work (``Test_sim0000``).
    config_hash : str
        The stage's config hash when it wrote the map.
    """

    fwhm_arcmin: float
    pixwin: bool
    stage: str
    unit: str
    config_hash: str

    @property
    def stage_name(self) -> str:
        """The stage's registry name (the manifest key without its scope)."""
        return self.stage.partition("/")[0]


def prediction_header(
    stage, unit: tuple[str, int] | None, fwhm_arcmin: float, pixwin: bool
) -> dict[str, tuple]:
    """Header cards of a prediction written by ``stage`` (a :class:`cmbml.core.Stage`) for
    ``unit``: the map's beam FWHM (arcmin), its pixel window, and the unit that made it."""
    return {
        "BEAMFWHM": (float(fwhm_arcmin), "Gaussian beam FWHM of the map (arcmin)"),
        "PIXWIN": (bool(pixwin), "map carries the HEALPix pixel window"),
        "CMBMLSTG": (stage.manifest_key(), "cmbml stage that wrote the map"),
        "CMBMLUNT": (unit_name(unit), "its unit of work"),
        "CMBMLHSH": (stage.config_hash(), "config hash of that stage"),
    }


def made_by(path: Path) -> MadeBy | None:
    """The record of :func:`prediction_header` in the file at ``path``; None when it has none.

    Raises
    ------
    BadInputError
        The file is not a readable FITS table, or holds only part of the record.
    """
    from astropy.io import fits

    try:
        header = fits.getheader(path, 1)
    except Exception as exc:
        raise BadInputError(f"cannot read the header of {path}: {exc}") from exc
    present = [card for card in _CARDS if card in header]
    if not present:
        return None
    if len(present) != len(_CARDS):
        missing = [card for card in _CARDS if card not in header]
        raise BadInputError(f"{path}: header has {present} but lacks {missing}")
    return MadeBy(
        float(header["BEAMFWHM"]),
        bool(header["PIXWIN"]),
        str(header["CMBMLSTG"]),
        str(header["CMBMLUNT"]),
        str(header["CMBMLHSH"]),
    )


def stale_reason(ledger: Ledger, made: MadeBy, path: Path) -> str | None:
    """None when the unit that wrote the prediction at ``path`` is still up to date (the run
    that wrote it finished, and nothing it read or wrote changed since), else why not."""
    why = ledger.why_stale(made.stage, made.unit, made.config_hash)
    if why is None and ledger.codec.encode(path) not in ledger.outputs(made.stage, made.unit):
        why = "its record does not list this file"
    return why
