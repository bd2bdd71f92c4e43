"""Detector table and unit conversions, against astropy's equivalencies and the reference CSV."""

import csv
from pathlib import Path

import astropy.units as u
import numpy as np
import pytest

from cmbml.sims.instrument import (
    T_CMB_K,
    default_detector_table,
    kcmb_to_krj,
    kcmb_to_mjysr,
    load_detectors,
    parse_unit,
    unit_factor,
)

REFERENCE = Path("/work/shared/reference/planck_instrument.csv")

# The CMB-ML table of DESIGN.md section 5: band -> (centre GHz, FWHM arcmin)
CMBML = {
    30: (28.4, 75.0),
    44: (44.1, 65.0),
    70: (70.4, 55.0),
    100: (100.89, 43.0),
    143: (142.876, 32.4),
    217: (221.156, 22.3),
    353: (357.5, 22.0),
    545: (555.2, 21.5),
    857: (866.8, 20.6),
}


def test_table_matches_cmbml_design():
    dets = load_detectors()
    assert list(dets) == list(CMBML)
    for band, (centre, fwhm) in CMBML.items():
        assert dets[band].center_ghz == centre
        assert dets[band].fwhm_arcmin == fwhm
        assert dets[band].has_pol == (band <= 353)
    assert dets[545].fields("IQU") == "I" and dets[100].fields("IQU") == "IQU"
    assert dets[100].fields("I") == "I"
    assert dets[857].noise_p_uk_arcmin is None


@pytest.mark.skipif(not REFERENCE.exists(), reason="shared reference table not present")
def test_table_matches_reference_noise_and_conversions():
    dets = load_detectors()
    with open(REFERENCE, newline="") as fh:
        ref = {int(r["freq_nominal_GHz"]): r for r in csv.DictReader(fh)}
    with open(default_detector_table(), newline="") as fh:
        shipped = {int(r["band"]): r for r in csv.DictReader(fh)}
    for band, det in dets.items():
        r = ref[band]
        assert det.center_ghz == float(r["center_freq_mapsims_GHz"])
        assert det.fwhm_arcmin == float(r["fwhm_arcmin_cmbml_modified"])
        assert det.noise_t_uk_arcmin == float(r["noise_T_uKCMB_arcmin"])
        if det.has_pol:
            assert det.noise_p_uk_arcmin == float(r["noise_P_uKCMB_arcmin"])
        # shipped delta-bandpass conversion = reference = the formula in the code
        shipped_conv = float(shipped[band]["mjysr_per_kcmb_delta"])
        ref_conv = float(r["MJysr_per_KCMB_delta_at_mapsims_center"])
        assert shipped_conv == pytest.approx(kcmb_to_mjysr(det.center_ghz), rel=1e-6)
        assert shipped_conv == pytest.approx(ref_conv, rel=1e-4)  # reference: 5 digits
        assert kcmb_to_krj(det.center_ghz) == pytest.approx(
            float(r["KRJ_per_KCMB_delta_at_mapsims_center"]), rel=1e-4
        )


@pytest.mark.parametrize("freq", [28.4, 100.89, 357.5, 555.2, 866.8])
def test_conversions_match_astropy(freq):
    equiv = u.thermodynamic_temperature(freq * u.GHz, T_cmb=T_CMB_K * u.K)
    mjysr = (1 * u.K).to(u.MJy / u.sr, equivalencies=equiv).value
    assert unit_factor("K_CMB", "MJy/sr", freq) == pytest.approx(mjysr, rel=1e-10)
    assert unit_factor("MJy/sr", "uK_CMB", freq) == pytest.approx(1e6 / mjysr, rel=1e-10)
    krj = (1 * u.MJy / u.sr).to(u.K, equivalencies=u.brightness_temperature(freq * u.GHz)).value
    assert unit_factor("MJy/sr", "K_RJ", freq) == pytest.approx(krj, rel=1e-10)
    assert unit_factor("uK_RJ", "uK_CMB", freq) == pytest.approx(1 / (krj * mjysr), rel=1e-10)
    # round trip through every unit
    f = unit_factor("uK_CMB", "kJy/sr", freq) * unit_factor("kJy/sr", "mK_RJ", freq)
    assert f * unit_factor("mK_RJ", "uK_CMB", freq) == pytest.approx(1.0, rel=1e-12)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("K_CMB", ("K_CMB", 1)),
        ("Kcmb", ("K_CMB", 1)),
        ("Kcmb^2", ("K_CMB", 2)),
        ("(K_CMB)^2", ("K_CMB", 2)),
        ("K_CMB**2", ("K_CMB", 2)),
        ("MJy/sr", ("MJy/sr", 1)),
        ("(MJy/sr)^2", ("MJy/sr", 2)),
        ("MJy^2/sr^2", ("MJy/sr", 2)),
        ("uK_CMB", ("uK_CMB", 1)),
    ],
)
def test_parse_unit(text, expected):
    assert parse_unit(text) == expected


def test_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match="furlongs"):
        parse_unit("furlongs")
    with pytest.raises(ValueError, match="squared|square"):
        unit_factor("K_CMB^2", "uK_CMB", 100.0)
    with pytest.raises(ValueError, match="999"):
        load_detectors(bands=[100, 999])
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        load_detectors(tmp_path / "nope.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("band,center_ghz\n100,100.0\n")
    with pytest.raises(ValueError, match="fwhm_arcmin"):
        load_detectors(bad)


def test_subset_order_and_noise_levels():
    dets = load_detectors(bands=[353, 30])
    assert list(dets) == [353, 30]
    assert dets[30].noise_levels("IQU") == [150.0, 210.0, 210.0]
    assert np.isclose(load_detectors(bands=[857])[857].noise_levels("IQU")[0], 19048.3)
