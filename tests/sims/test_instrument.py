"""Detector table and unit conversions, against astropy's equivalencies and the reference CSV."""

import csv

import astropy.units as u
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


# Planck 2018 I, Table 4: white-noise sensitivities, uK_CMB deg (T, P) for 30-353 GHz and
# kJy/sr deg for 545/857 GHz (intensity only); delta-bandpass MJy/sr per K_CMB and K_RJ per K_CMB
# at the centre frequencies (mapsims planck_deltabandpass.tbl), 5-6 digits.
PLANCK2018_NOISE = {
    30: (2.5, 3.5),
    44: (2.7, 4.0),
    70: (3.5, 5.0),
    100: (1.29, 1.96),
    143: (0.55, 1.17),
    217: (0.78, 1.75),
    353: (2.56, 7.31),
}
PLANCK2018_NOISE_KJYSR_DEG = {545: 0.78, 857: 0.72}
DELTA_CONVERSIONS = {  # band: (MJy/sr per K_CMB, K_RJ per K_CMB)
    30: (24.2704, 0.97942),
    44: (56.8373, 0.95123),
    70: (134.1826, 0.88121),
    100: (241.9956, 0.77382),
    143: (379.589, 0.60523),
    217: (483.4243, 0.32171),
    353: (288.2083, 0.073398),
    545: (51.4001, 0.0054274),
    857: (1.2644, 5.4773e-05),
}


def test_noise_levels_match_planck_2018():
    dets = load_detectors()
    for band, (t_deg, p_deg) in PLANCK2018_NOISE.items():
        assert dets[band].noise_t_uk_arcmin == pytest.approx(60 * t_deg, rel=1e-9)
        assert dets[band].noise_p_uk_arcmin == pytest.approx(60 * p_deg, rel=1e-9)


@pytest.mark.parametrize("band", [545, 857])
def test_submm_sensitivities_use_the_delta_bandpass_like_every_other_conversion(band):
    """545/857 GHz levels: Planck's kJy/sr deg converted with dB/dT at the centre frequency
    (astropy), as every map and variance conversion of the code: ~910 and ~34 000 uK_CMB arcmin,
    not the band-integrated 806 and 19 048 (11 % and 44 % too little noise)."""
    det = load_detectors(bands=[band])[band]
    equiv = u.thermodynamic_temperature(det.center_ghz * u.GHz, T_cmb=T_CMB_K * u.K)
    level = PLANCK2018_NOISE_KJYSR_DEG[band] * u.kJy / u.sr
    expect = level.to(u.uK, equivalencies=equiv).value * 60.0  # uK_CMB deg -> uK_CMB arcmin
    assert det.noise_t_uk_arcmin == pytest.approx(expect, rel=1e-4)
    assert det.noise_t_uk_arcmin == pytest.approx({545: 910.5, 857: 34167.0}[band], rel=1e-3)


def test_shipped_conversions_match_the_delta_bandpass_table():
    with open(default_detector_table(), newline="") as fh:
        shipped = {int(r["band"]): r for r in csv.DictReader(fh)}
    for band, det in load_detectors().items():
        mjysr, krj = DELTA_CONVERSIONS[band]
        shipped_conv = float(shipped[band]["mjysr_per_kcmb_delta"])
        assert shipped_conv == pytest.approx(kcmb_to_mjysr(det.center_ghz), rel=1e-6)
        assert shipped_conv == pytest.approx(mjysr, rel=1e-4)
        assert kcmb_to_krj(det.center_ghz) == pytest.approx(krj, rel=1e-4)


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
    assert load_detectors(bands=[857])[857].noise_levels("IQU") == [
        pytest.approx(34167.0, rel=1e-3)
    ]
