"""Scale factors of the network inputs and target (CMBNNCS's rules, shared by every network).

cmbNNCS divides every input map by one constant (1) and the CMB target by 5 (CMB-ML's
``scale_features`` / ``scale_target``). Across Planck channels the maps differ by orders of
magnitude (uK_CMB: ~200 at 100 GHz, ~10^4 at 353 GHz near the Galactic plane), which slows a
short training down; a per-detector factor (a mapping, or the standard deviation of each
detector's maps over the Train split) brings every input to order one.

The CMB's Q, U are ~100 times weaker than its I (rms ~0.4 uK against ~70 uK at nside 32-64).
Each Stokes field has its own factors; the Q, U targets are best scaled to the rms that the I
target has (:data:`MATCH_INTENSITY`): a network's output then has the size that the one
learning-rate schedule of every field suits (targets of rms ~1 or ~100 train markedly worse
within the demo's budget).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

__all__ = [
    "COMPUTED",
    "MATCH_INTENSITY",
    "RunningMoments",
    "check_factor",
    "feature_factors",
    "matched_target",
    "target_factor",
]

#: The scale computed from the data: the standard deviation over the Train split's pixels.
COMPUTED = "train_std"
#: The Q, U target scale that gives their Train CMB the rms of the scaled I target.
MATCH_INTENSITY = "match_intensity"


class RunningMoments:
    """Count, mean and variance of all values added, merged chunk by chunk in float64.

    Chunks are combined with the pairwise update of Chan, Golub & LeVeque (1979), which stays
    accurate for large counts and offsets.
    """

    def __init__(self) -> None:
        self.count = 0
        self.mean = 0.0
        self._m2 = 0.0

    def add(self, values: np.ndarray) -> None:
        """Add every element of ``values``."""
        values = np.asarray(values, dtype=np.float64).ravel()
        if values.size == 0:
            return
        n, mean = values.size, float(values.mean())
        m2 = float(np.square(values - mean).sum())
        total = self.count + n
        delta = mean - self.mean
        self.mean += delta * n / total
        self._m2 += m2 + delta**2 * self.count * n / total
        self.count = total

    @property
    def std(self) -> float:
        """Population standard deviation (ddof 0) of the values added."""
        if self.count == 0:
            raise ValueError("RunningMoments.std of no values")
        return float(np.sqrt(self._m2 / self.count))


def check_factor(value: float, what: str) -> float:
    """``value`` as a float, if finite and > 0; else ValueError naming ``what``."""
    factor = float(value)
    if not np.isfinite(factor) or factor <= 0:
        raise ValueError(f"{what} must be a finite number > 0, got {value!r}")
    return factor


def feature_factors(spec, detectors: Iterable[int], key: str) -> dict[str, float] | None:
    """Per-detector factors given by config ``spec``, or None when they must be computed.

    Parameters
    ----------
    spec : float, mapping or str
        One factor for every detector, a mapping ``{GHz: factor}`` covering every detector, or
        ``"train_std"`` (computed from the Train split).
    detectors : iterable of int
        Detector bands (GHz).
    key : str
        Config key of ``spec``, for error messages.

    Returns
    -------
    dict or None
        ``{"<GHz>": factor}``, or None for ``"train_std"``.
    """
    detectors = [str(det) for det in detectors]
    if isinstance(spec, str):
        if spec != COMPUTED:
            raise ValueError(f"{key}={spec!r}: expected a number, a mapping or '{COMPUTED}'")
        return None
    if isinstance(spec, Mapping):
        given = {str(det): value for det, value in spec.items()}
        missing = [det for det in detectors if det not in given]
        if missing:
            raise ValueError(f"{key} has no factor for detector(s) {missing}")
        return {det: check_factor(given[det], f"{key}.{det}") for det in detectors}
    factor = check_factor(spec, key)
    return dict.fromkeys(detectors, factor)


def target_factor(spec, key: str, *, polarised: bool = False) -> float | str:
    """The target factor of config ``spec``, or the name of the rule that computes it.

    Parameters
    ----------
    spec : float or str
        A number, ``"train_std"`` or, for Q and U (``polarised``), ``"match_intensity"``.
    key : str
        Config key of ``spec``, for error messages.
    polarised : bool, optional
        Whether ``spec`` is the Q, U target's.

    Returns
    -------
    float or str
        The factor, or :data:`COMPUTED` / :data:`MATCH_INTENSITY`.
    """
    rules = (COMPUTED, MATCH_INTENSITY) if polarised else (COMPUTED,)
    if isinstance(spec, str) and spec in rules:
        return spec
    if isinstance(spec, str):
        shown = " or ".join(f"'{rule}'" for rule in rules)
        raise ValueError(f"{key}={spec!r}: expected a number or {shown}")
    return check_factor(spec, key)


def matched_target(std: float, std_intensity: float, factor_intensity: float) -> float:
    """Target factor of a Q or U CMB of rms ``std`` that gives it the rms of the I target.

    ``std / factor`` equals ``std_intensity / factor_intensity`` (all Train rms in uK_CMB).
    """
    return check_factor(std * factor_intensity / std_intensity, "the matched target factor")
