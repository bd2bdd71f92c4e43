"""Fiducial values and config overrides shared by the simulation tests."""

from pathlib import Path

import pandas as pd

from cmbml.sims.cosmology import camb_inputs

# Planck 2018 VI Table 2 (TT,TE,EE+lowE+lensing), written out independently of the asset CSV:
# mean and 1 sigma of 100 theta_MC, omega_b, omega_c, n_s, tau, 10^9 A_s e^(-2 tau) (the basis the
# CMB constrains), ln(10^10 A_s) and the derived H_0.
PLANCK2018 = {
    "cosmomc_theta_x100": (1.04092, 0.00031),
    "ombh2": (0.02237, 0.00015),
    "omch2": (0.1200, 0.0012),
    "ns": (0.9649, 0.0042),
    "tau": (0.0544, 0.0073),
    "As_e2tau_x1e9": (1.881, 0.010),
    "ln10_10As": (3.044, 0.014),
    "H0": (67.36, 0.54),
}

#: CAMB inputs at the Planck 2018 means (H_0 and ln(10^10 A_s) as published, N_eff = 3.046).
PLANCK_CAMB = camb_inputs(
    {k: PLANCK2018[k][0] for k in ("H0", "ombh2", "omch2", "tau", "ln10_10As", "ns")},
    {"mnu": 0.06, "nnu": 3.046},
)

BANDS = [30, 44, 70, 100, 143, 217, 353, 545, 857]


def tiny_sims_overrides(root, nside: int) -> list[str]:
    """Overrides for a tiny simulated dataset under ``root``: Train 2, Test 1, nside_sky 2 nside."""
    return [
        f"local_system.datasets_root={root}",
        f"scenario.nside={nside}",
        f"scenario.nside_sky={2 * nside}",
        "splits.Train.n_sims=2",
        "splits.Valid.n_sims=0",
        "splits.Test.n_sims=1",
    ]


#: The simulation stages, in order (the ``sims`` task without the mask).
SIMS_STAGES = [
    "make_instrument",
    "make_noise_model",
    "make_cosmology",
    "make_cmb_spectra",
    "make_foregrounds",
    "make_sky",
    "make_observations",
]
SHIPPED_DETECTORS = Path(__file__).parents[2] / "assets" / "instrument" / "planck_detectors.csv"


def quiet_detector_table(folder: Path, factor: float = 10.0) -> Path:
    """The shipped instrument table with its noise levels divided by ``factor``, as a file in
    ``folder`` (the same format), for tests that need a signal well above the noise."""
    table = pd.read_csv(SHIPPED_DETECTORS)
    table[["noise_t_uk_arcmin", "noise_p_uk_arcmin"]] /= factor
    path = Path(folder) / "quiet_detectors.csv"
    table.to_csv(path, index=False)
    return path
