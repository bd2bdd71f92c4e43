"""Which Stokes fields an analysis scores, and the power spectra that follow from them.

Maps are intensity only (one field, I) or I, Q, U (three fields, the COSMO convention of the
Planck products), as the FITS handler writes them. ``model.analysis.fields`` asks for ``auto``
(every field of the truth), ``[I]`` or ``[I, Q, U]``: Q and U are one spin-2 field and are
analysed together, always beside I. A prediction is scored on the fields it shares with the
truth, so an intensity-only method on an I, Q, U dataset is scored on I.
"""

from __future__ import annotations

from collections.abc import Sequence

from cmbml.core.errors import BadInputError, ConfigError

__all__ = [
    "FIELDS_KEY",
    "POLARISED",
    "SPECTRA",
    "STOKES",
    "file_fields",
    "parse_fields",
    "scored_fields",
    "spectra_of",
    "truth_fields",
]

FIELDS_KEY = "model.analysis.fields"
STOKES: tuple[str, ...] = ("I", "Q", "U")
"""The fields of an I, Q, U map, in file order."""
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
