"""Which Stokes fields an analysis scores, and the power spectra that follow from them.

Maps are intensity only (one field, I) or I, Q, U (three fields, the COSMO convention of the
Planck products), as the FITS handler writes them. ``model.analysis.fields`` asks for ``auto``
(every field of the truth), ``[I]`` or ``[I, Q, U]``: Q and U are one spin-2 field and are
analysed together, always beside I. A prediction is scored on the fields it shares with the
truth, so an intensity-only method on an I, Q, U dataset is scored on I.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cmbml.core.errors import BadInputError, ConfigError

__all__ = [
    "FIELDS_KEY",
    "POLARISED",
    "SPECTRA",
    "file_fields",
    "is_iqu",
    "parse_fields",
    "scored_fields",
    "select_fields",
    "spectra_of",
    "truth_fields",
]

FIELDS_KEY = "model.analysis.fields"
POLARISED: tuple[str, ...] = ("I", "Q", "U")
"""The polarised choice of fields (the only one besides intensity alone)."""
SPECTRA: tuple[str, ...] = ("TT", "EE", "BB", "TE")
"""The spectra of I, Q, U maps, in table order."""
_ALLOWED = (("I",), POLARISED)


def parse_fields(value) -> tuple[str, ...] | None:
    """``model.analysis.fields``: ``None`` for ``auto``, else ``("I",)`` or ``("I", "Q", "U")``.

    Raises
    ------
    ConfigError
        Any other value (the message names the key and the choices).
    """
    if value == "auto":
        return None
    if isinstance(value, Sequence) and not isinstance(value, str):
        found = tuple(str(v) for v in value)
        if found in _ALLOWED:
            return found
    raise ConfigError(
        f"{FIELDS_KEY} must be auto, [I] or [I, Q, U] (Q and U are analysed together, beside "
        f"I), got {value!r}"
    )


def file_fields(n_fields: int, source: str) -> tuple[str, ...]:
    """The fields of a map file with ``n_fields`` fields: ``("I",)`` or ``("I", "Q", "U")``.

    Raises
    ------
    BadInputError
        Another number of fields (the message names ``source``, the file).
    """
    if n_fields == 1:
        return ("I",)
    if n_fields == 3:
        return POLARISED
    raise BadInputError(f"{source}: {n_fields} fields, expected 1 (I) or 3 (I, Q, U)")


def truth_fields(
    requested: tuple[str, ...] | None, available: tuple[str, ...], source: str
) -> tuple[str, ...]:
    """The fields of the truth to analyse: all of them (``auto``) or the requested ones.

    Raises
    ------
    ConfigError
        The request names a field the truth (``source``) does not have.
    """
    if requested is None:
        return available
    missing = [f for f in requested if f not in available]
    if missing:
        raise ConfigError(
            f"{FIELDS_KEY}={list(requested)} but the truth {source} has "
            f"{', '.join(available)} only (set {FIELDS_KEY}=auto or [I])"
        )
    return requested


def scored_fields(truth: tuple[str, ...], prediction: tuple[str, ...]) -> tuple[str, ...]:
    """The fields of the truth that the prediction also has, in the truth's order."""
    return tuple(f for f in truth if f in prediction)


def spectra_of(fields: tuple[str, ...]) -> tuple[str, ...]:
    """The spectra of the scored fields: ``("TT",)`` or ``("TT", "EE", "BB", "TE")``."""
    return SPECTRA if "Q" in fields else ("TT",)


def select_fields(maps: np.ndarray, fields: tuple[str, ...]) -> np.ndarray:
    """The first ``len(fields)`` fields of ``(n_fields, npix)`` maps: ``(npix,)`` for I alone,
    ``(3, npix)`` for I, Q, U."""
    return maps[0] if len(fields) == 1 else maps[: len(fields)]


def is_iqu(maps: np.ndarray, what: str) -> bool:
    """Whether ``maps`` are I, Q, U ``(3, npix)``; False for an intensity map ``(npix,)``.

    Raises
    ------
    ValueError
        Any other shape (the message names ``what``).
    """
    if maps.ndim == 1:
        return False
    if maps.ndim == 2 and maps.shape[0] == 3:
        return True
    raise ValueError(f"{what} must be (npix,) or (3, npix) I, Q, U maps, got shape {maps.shape}")
