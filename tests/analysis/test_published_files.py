"""Readers of a published CMB-ML dataset's extra files and the Planck TMASK analysis mask."""

import healpy as hp
import numpy as np
import pytest

from cmbml.analysis.mask import apodize, planck_tmask
from cmbml.analysis.published import read_camb_spectrum, wmap_cosmology
from cmbml.core.errors import BadInputError
from tests.sims.planck_files import write_planck_bintable


def test_camb_file_written_by_camb_is_read_as_cl(tmp_path):
    """A file written by CAMB's own save_cmb_power_spectra (CMB-ML's cmb_ps_fid.txt writer)."""
    camb = pytest.importorskip("camb")
    pars = camb.set_params(H0=68.0, ombh2=0.0224, omch2=0.119, As=2.1e-9, ns=0.965, lmax=300)
    results = camb.get_results(pars)
    path = tmp_path / "cmb_ps_fid.txt"
    results.save_cmb_power_spectra(str(path))
    table = read_camb_spectrum(path.read_text(), str(path))
    expected = results.get_total_cls(CMB_unit="muK", raw_cl=True)
    lmax = table["ell"].iloc[-1]
    assert list(table.columns) == ["ell", "TT", "EE", "BB", "TE"]
    np.testing.assert_array_equal(table["ell"], np.arange(lmax + 1))
    for i, col in enumerate(["TT", "EE", "BB", "TE"]):
        np.testing.assert_allclose(table[col][2:], expected[2 : lmax + 1, i], rtol=1e-6)
    assert table["TT"][0] == table["TT"][1] == 0.0


def test_camb_file_from_l2_and_bad_files():
    rows = "\n".join(f"{ell:4d} {1000.0:.7e} 1.0 0.1 2.0" for ell in range(2, 6))
    table = read_camb_spectrum("#    L    TT    EE    BB    TE\n" + rows)
    assert table["ell"].tolist() == [0, 1, 2, 3, 4, 5]
    assert table["TT"][3] == pytest.approx(1000.0 * 2 * np.pi / 12)
    with pytest.raises(BadInputError, match=r"cmb_ps_fid.txt: expected CAMB's header"):
        read_camb_spectrum("0 1 2 3 4\n", "cmb_ps_fid.txt")
    with pytest.raises(BadInputError, match="without gaps"):
        read_camb_spectrum("# L TT EE BB TE\n0 0 0 0 0\n2 1 1 1 1\n")


def test_wmap_params_become_camb_parameters():
    params = {"H0": 70.1, "chain_idx": 7, "mnu": 0.2, "ns002": 0.97, "omegabh2": 0.0226,
              "omegach2": 0.113, "tau": 0.08}  # fmt: skip
    assert wmap_cosmology(params) == {
        "H0": 70.1, "ombh2": 0.0226, "omch2": 0.113, "ns": 0.97, "tau": 0.08, "mnu": 0.2,
    }  # fmt: skip
    del params["mnu"]  # the 6-parameter LCDM chains
    assert "mnu" not in wmap_cosmology(params)
    with pytest.raises(BadInputError, match=r"w.yaml: missing WMAP parameter\(s\) \['tau'\]"):
        wmap_cosmology({k: v for k, v in params.items() if k != "tau"}, "w.yaml")


def test_planck_tmask_averages_and_thresholds_like_cmb_ml(tmp_path):
    """A NESTED nside-32 file in the NILC layout; the mask at nside 8 keeps the parents whose
    16 children average >= 0.9, computed here by brute force."""
    nside_in, nside = 32, 8
    rng = np.random.default_rng(0)
    tmask = (rng.uniform(size=12 * nside_in**2) > 0.03).astype(float)
    lat = np.degrees(np.arcsin(hp.pix2vec(nside_in, np.arange(tmask.size))[2]))
    tmask[np.abs(lat) < 15] = 0.0
    path = tmp_path / "COM_CMB_IQU-nilc_2048_R3.00_full.fits"
    columns = {"I_STOKES": rng.normal(size=tmask.size), "TMASK": tmask, "PMASK": tmask}
    write_planck_bintable(path, columns, {"I_STOKES": "K_CMB"})
    got = planck_tmask(path, nside)
    nest = hp.reorder(tmask, r2n=True).reshape(-1, 16).mean(axis=1)
    expected = hp.reorder(np.where(nest >= 0.9, 1.0, 0.0), n2r=True)
    np.testing.assert_array_equal(got, expected)
    assert 0.3 < got.mean() < 0.9
    with pytest.raises(BadInputError, match=r"no column 'XMASK' \(columns: \['I_STOKES'"):
        planck_tmask(path, nside, column="XMASK")


def test_apodize_rises_from_zero_at_the_edge_to_one():
    nside = 64
    lat = np.degrees(np.arcsin(hp.pix2vec(nside, np.arange(12 * nside**2))[2]))
    binary = (np.abs(lat) > 20).astype(float)
    weight = apodize(binary, 5.0)
    assert np.all(weight[binary == 0] == 0.0) and np.all(weight[np.abs(lat) > 27] == 1.0)
    inside = (np.abs(lat) > 20) & (np.abs(lat) < 24)  # (pspy: to within a pixel)
    assert 0.0 < weight[inside].min() and weight[inside].max() < 1.0
    rings = np.unique(np.round(np.abs(lat[inside]), 6))
    ring_mean = [weight[np.abs(np.abs(lat) - r) < 1e-5].mean() for r in rings]
    assert np.all(np.diff(ring_mean) > 0)  # rises away from the cut
    np.testing.assert_array_equal(apodize(binary, 0.0), binary)
    with pytest.raises(ValueError, match="binary"):
        apodize(binary * 0.5, 1.0)
