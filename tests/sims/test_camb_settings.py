"""The polarisation CAMB preset with ``IntTolBoost`` 0.7 against the same settings without it.

The preset's accuracy claim (all four lensed spectra within 0.1 % of a converged run) was
established for the settings without ``IntTolBoost``; the cheaper integration tolerance must
keep TT, EE, BB within 0.1 % of them (relative) and TE within 0.1 % of sqrt(TT EE), to the
paper_512 band limit l = 1536. Slow: two CAMB runs of ~8 s each.
"""

import numpy as np
import pytest

from cmbml.sims.cmb import camb_accuracy, lensed_cls
from tests.sims.fiducial import PLANCK_CAMB


@pytest.mark.slow
def test_polarization_preset_within_0p1_percent_of_default_tolerance():
    lmax = 1536
    preset = camb_accuracy("polarization")
    assert preset.pop("IntTolBoost") == 0.7
    _, reference = lensed_cls(PLANCK_CAMB, lmax, accuracy=preset, threads=1)
    _, fast = lensed_cls(PLANCK_CAMB, lmax, accuracy="polarization", threads=1)
    ell = slice(2, lmax + 1)
    for k in range(3):
        assert np.max(np.abs(fast[k, ell] / reference[k, ell] - 1)) < 1e-3
    scale = np.sqrt(reference[0, ell] * reference[1, ell])
    assert np.max(np.abs(fast[3, ell] - reference[3, ell]) / scale) < 1e-3
