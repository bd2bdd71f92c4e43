"""Scale factors of the CMBNNCS inputs and target.

cmbNNCS divides every input map by one constant (1) and the CMB target by 5 (CMB-ML's
``scale_features`` / ``scale_target``). Across Planck channels the maps differ by orders of
magnitude (uK_CMB: ~200 at 100 GHz, ~10^4 at 353 GHz near the Galactic plane), which slows a
short training down; a per-detector factor (a mapping, or the standard deviation of each
detector's maps over the Train split) brings every input to order one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

__all__ = ["COMPUTED", "RunningMoments", "check_factor", "feature_factors"]

#: The scale computed from the data: the standard deviation over the Train split's pixels.
COMPUTED = "train_std"


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
