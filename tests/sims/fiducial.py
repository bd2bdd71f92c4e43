"""Fiducial values and config overrides shared by the simulation tests."""

from cmbml.sims.cosmology import camb_inputs

# Planck 2018 VI Table 2 (TT,TE,EE+lowE+lensing), written out independently of the asset CSV
PLANCK2018 = {
    "H0": (67.36, 0.54),
    "ombh2": (0.02237, 0.00015),
    "omch2": (0.1200, 0.0012),
    "tau": (0.0544, 0.0073),
    "ln10_10As": (3.044, 0.014),
    "ns": (0.9649, 0.0042),
}

#: CAMB inputs at the Planck 2018 means.
PLANCK_CAMB = camb_inputs({name: mean for name, (mean, _) in PLANCK2018.items()})

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
