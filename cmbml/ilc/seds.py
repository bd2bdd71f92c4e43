"""Component SEDs in uK_CMB at delta-bandpass frequencies, for (constrained) ILC.

Each function returns the response of a map in uK_CMB to one unit of the component, at the given
frequencies in GHz. Only ratios between channels matter to the ILC.
"""

from __future__ import annotations

import numpy as np

__all__ = ["T_CMB_K", "cmb_sed", "dust_sed", "rj_to_cmb", "synchrotron_sed", "tsz_sed"]

T_CMB_K = 2.7255
"""CMB monopole temperature, K (Fixsen 2009)."""

_H_OVER_K = 0.0479924307  # h / k_B in K / GHz


def _freqs(freqs_ghz) -> np.ndarray:
    freqs = np.atleast_1d(np.asarray(freqs_ghz, dtype=float))
    if freqs.ndim != 1 or np.any(~np.isfinite(freqs)) or np.any(freqs <= 0):
        raise ValueError(f"frequencies must be positive GHz values, got {freqs_ghz!r}")
    return freqs


def rj_to_cmb(freqs_ghz) -> np.ndarray:
    """Factor converting Rayleigh-Jeans brightness temperature to thermodynamic CMB units.

    ``dT_CMB = rj_to_cmb(nu) * dT_RJ`` with ``rj_to_cmb = (e^x - 1)^2 / (x^2 e^x)``,
    ``x = h nu / (k T_CMB)``.

    Parameters
    ----------
    freqs_ghz : array_like
        ``(n_freq,)`` frequencies, GHz.

    Returns
    -------
    np.ndarray
        ``(n_freq,)`` dimensionless factors (> 1).
    """
    x = _H_OVER_K * _freqs(freqs_ghz) / T_CMB_K
    return np.expm1(x) ** 2 / (x**2 * np.exp(x))


def cmb_sed(freqs_ghz) -> np.ndarray:
    """CMB anisotropies: 1 in uK_CMB at every frequency, ``(n_freq,)``."""
    return np.ones_like(_freqs(freqs_ghz))


def dust_sed(
    freqs_ghz, beta: float = 1.54, temp_k: float = 20.0, ref_ghz: float = 353.0
) -> np.ndarray:
    """Modified black-body thermal dust, ``I_nu ~ nu^beta B_nu(T_d)``, in uK_CMB.

    Parameters
    ----------
    freqs_ghz : array_like
        ``(n_freq,)`` frequencies, GHz.
    beta : float
        Spectral index.
    temp_k : float
        Dust temperature, K.
    ref_ghz : float
        Frequency where the returned SED is 1.

    Returns
    -------
    np.ndarray
        ``(n_freq,)`` SED in uK_CMB, normalised to 1 at ``ref_ghz``.
    """
    if temp_k <= 0:
        raise ValueError(f"dust temperature must be > 0 K, got {temp_k}")

    def unnormalised(nu):
        # RJ temperature ~ I_nu / nu^2 = nu^(beta + 1) / (exp(h nu / k T_d) - 1)
        t_rj = nu ** (beta + 1.0) / np.expm1(_H_OVER_K * nu / temp_k)
        return t_rj * rj_to_cmb(nu)

    return unnormalised(_freqs(freqs_ghz)) / unnormalised(_freqs(ref_ghz))


def synchrotron_sed(freqs_ghz, beta: float = -3.0, ref_ghz: float = 30.0) -> np.ndarray:
    """Power-law synchrotron, ``T_RJ ~ nu^beta``, in uK_CMB, normalised to 1 at ``ref_ghz``.

    Parameters
    ----------
    freqs_ghz : array_like
        ``(n_freq,)`` frequencies, GHz.
    beta : float
        Spectral index of the Rayleigh-Jeans brightness temperature.
    ref_ghz : float
        Frequency where the returned SED is 1.

    Returns
    -------
    np.ndarray
        ``(n_freq,)`` SED in uK_CMB.
    """

    def unnormalised(nu):
        return nu**beta * rj_to_cmb(nu)

    return unnormalised(_freqs(freqs_ghz)) / unnormalised(_freqs(ref_ghz))


def tsz_sed(freqs_ghz) -> np.ndarray:
    """Thermal Sunyaev-Zel'dovich effect per unit Compton-y, in uK_CMB (non-relativistic).

    ``dT = y T_CMB (x coth(x/2) - 4)``, ``x = h nu / (k T_CMB)``.

    Parameters
    ----------
    freqs_ghz : array_like
        ``(n_freq,)`` frequencies, GHz.

    Returns
    -------
    np.ndarray
        ``(n_freq,)`` uK_CMB per unit y (negative below ~217 GHz).
    """
    x = _H_OVER_K * _freqs(freqs_ghz) / T_CMB_K
    return 1e6 * T_CMB_K * (x / np.tanh(0.5 * x) - 4.0)
