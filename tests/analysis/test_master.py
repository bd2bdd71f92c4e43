"""MASTER spectra: coupling matrices against explicit 3j sums and pspy, unbiased recovery of TT
and of EE with no B leakage under a galactic cut (where the f_sky-only correction is biased)."""

import healpy as hp
import numpy as np
import pytest
from ducc0.misc import wigner3j_int

from cmbml import sphere
from cmbml.analysis import master
from cmbml.analysis.master import Coupling

N_REAL = 50


def _brute_force(w_ell: np.ndarray, lmax: int) -> dict[str, np.ndarray]:
    """The four coupling matrices as explicit Wigner-3j sums (Hivon 2002; Brown et al. 2005)."""
    out = {k: np.zeros((lmax + 1, lmax + 1)) for k in ("00", "02", "pp", "mm")}
    for l1 in range(lmax + 1):
        for l2 in range(lmax + 1):
            start0, w00 = wigner3j_int(l1, l2, 0, 0)
            l3 = np.arange(start0, start0 + w00.size)
            pref = (2 * l2 + 1) / (4 * np.pi)
            out["00"][l1, l2] = pref * np.sum((2 * l3 + 1) * w_ell[l3] * w00**2)
            if min(l1, l2) < 2:
                continue
            start2, w22 = wigner3j_int(l1, l2, -2, 2)
            l3 = np.arange(start2, start2 + w22.size)
            w00_on_l3 = np.array(
                [w00[k - start0] if start0 <= k < start0 + w00.size else 0.0 for k in l3]
            )
            even = (l1 + l2 + l3) % 2 == 0
            weights = (2 * l3 + 1) * w_ell[l3]
            out["02"][l1, l2] = pref * np.sum(weights * w00_on_l3 * w22)
            out["pp"][l1, l2] = pref * np.sum(weights * w22**2 * even)
            out["mm"][l1, l2] = pref * np.sum(weights * w22**2 * ~even)
    return out


def test_coupling_matrices_match_explicit_3j_sums():
    lmax = 14
    rng = np.random.default_rng(0)
    nside = 8
    weight = rng.uniform(0.0, 1.0, 12 * nside * nside)
    coupling = Coupling.from_weight(weight, lmax, spin2=True)
    w_ell = np.zeros(2 * lmax + 1)
    w_ell[: 3 * nside] = master.mask_spectrum(weight, 3 * nside - 1)
    expected = _brute_force(w_ell, lmax)
    for kind in ("00", "02", "pp", "mm"):
        got = coupling.matrix(kind)
        scale = np.abs(expected[kind]).max()
        np.testing.assert_allclose(got[2:, 2:], expected[kind][2:, 2:], atol=1e-12 * scale)
    np.testing.assert_allclose(coupling.matrix("00"), expected["00"], atol=1e-12)


def test_coupling_matrices_match_pspy(galactic_cut):
    so_mcm = pytest.importorskip("pspy.so_mcm")
    nside = 16
    lmax = 3 * nside - 1
    _, weight = galactic_cut(nside)
    coupling = Coupling.from_weight(weight, lmax, spin2=True)
    wlm = sphere.map2alm(weight, lmax, niter=3)
    raw = so_mcm.mcm_and_bbl_spin0and2(
        (wlm, wlm), None, lmax, 0, input_alm=True, return_coupling_only=True
    )
    ell = np.arange(2, 2 + raw.shape[1])
    for index, kind in ((0, "00"), (1, "02"), (3, "pp"), (4, "mm")):
        # pspy starts at l = 2 and applies (2 l2 + 1) / (4 pi) after this point
        theirs = raw[index] * (2 * ell + 1)[None, :] / (4 * np.pi)
        ours = coupling.matrix(kind)[2 : 2 + ell.size, 2 : 2 + ell.size]
        np.testing.assert_allclose(ours, theirs, atol=1e-12 * np.abs(ours).max())


def test_full_sky_decoupling_is_the_identity(theory_cl, gaussian_alm):
    nside = 16
    lmax = 3 * nside - 1
    low = 2 * nside  # a sky band-limited well inside the map's band: its analysis is exact
    cl = np.where(np.arange(lmax + 1) <= low, theory_cl[: lmax + 1], 0.0)
    alm = gaussian_alm(cl, np.random.default_rng(1))
    m = sphere.alm2map(alm, nside, lmax)
    # (the quadrature of a constant weight converges with the iterations of the analysis)
    coupling = Coupling.from_weight(np.ones(m.size), niter=30)
    np.testing.assert_allclose(coupling.matrix("00"), np.eye(lmax + 1), atol=1e-8)
    out = master.decoupled_spectra(m, np.ones(m.size), coupling=coupling, niter=30)
    pseudo = master.pseudo_spectra(m, np.ones(m.size), lmax, niter=30)["TT"]
    np.testing.assert_allclose(out["TT"][2:], pseudo[2 : low + 1], rtol=1e-7)
    # and the spectrum of the sky itself, to the accuracy of a HEALPix analysis at nside 16
    np.testing.assert_allclose(out["TT"][2:], hp.alm2cl(alm)[2 : low + 1], rtol=1e-3)
    np.testing.assert_array_equal(out["ell"], np.arange(low + 1))
    assert out["TT"][0] == out["TT"][1] == 0.0


def test_tt_unbiased_on_agalactic_cut(theory_cl, galactic_cut, exact_realisation, binned):
    """50 realisations with the input spectrum on the full sky, seen through a 20 deg galactic
    cut (f_sky 0.66): the mean MASTER C_l is within 1 % of the input from l = 30 and within its
    own standard error (x 3) at l = 10-30, where the f_sky-only normalisation is 4-9 % high."""
    nside = 128
    lmax = 2 * nside
    band = 3 * nside - 1
    binary, weight = galactic_cut(nside)
    assert np.mean(binary) == pytest.approx(0.66, abs=0.01)
    coupling = Coupling.from_weight(weight)
    rng = np.random.default_rng(11)
    cls = theory_cl[: band + 1]
    edges = np.array([10, 20, 30, 46, 62, 94, 126, 158, 190, 222, lmax + 1])
    master_b, naive_b = [], []
    for _ in range(N_REAL):
        m = sphere.alm2map(exact_realisation(cls, rng), nside, band)
        pseudo = master.pseudo_spectra(m, weight, band)
        master_b.append(binned(coupling.decouple(pseudo)["TT"], edges) / binned(cls, edges))
        naive_b.append(binned(pseudo["TT"] / np.mean(weight**2), edges) / binned(cls, edges))
    ratio, naive = np.mean(master_b, axis=0), np.mean(naive_b, axis=0)
    stderr = np.std(master_b, axis=0, ddof=1) / np.sqrt(N_REAL)
    assert np.all(np.abs(ratio[2:] - 1) < 0.01), ratio
    assert np.all(np.abs(ratio[:2] - 1) < 3 * stderr[:2]), (ratio, stderr)
    assert np.all(naive[:2] - 1 > 0.03) and np.all(naive[:2] - 1 > 3 * stderr[:2]), naive


def test_spin2_e_only_input_has_no_b_after_decoupling(galactic_cut, exact_realisation, binned):
    """E-only skies through a galactic cut: the cut sky mixes E into B (pseudo-BB reaches
    several per cent of EE); after decoupling BB is below 1 % of EE and EE matches the input."""
    nside = 64
    band = 3 * nside - 1
    lmax = 2 * nside
    table = np.loadtxt(hp.__path__[0] + "/data/totcls.dat")[: band + 1]
    ell = np.arange(band + 1)
    ee = np.zeros(band + 1)
    ee[2:] = table[2:, 2] * 2 * np.pi / (ell[2:] * (ell[2:] + 1))
    _, weight = galactic_cut(nside)
    coupling = Coupling.from_weight(weight, spin2=True)
    rng = np.random.default_rng(5)
    got_ee, got_bb, pseudo_bb = [], [], []
    for _ in range(N_REAL):
        e_alm = exact_realisation(ee, rng)
        alm = np.stack([np.zeros_like(e_alm), e_alm, np.zeros_like(e_alm)])
        iqu = sphere.alm2map(alm, nside, band, pol=True)
        out = master.decoupled_spectra(iqu, weight, coupling=coupling, lmax=lmax)
        got_ee.append(out["EE"])
        got_bb.append(out["BB"])
        pseudo_bb.append(master.pseudo_spectra(iqu, weight, lmax)["BB"] / np.mean(weight**2))
        assert np.allclose(out["TT"], 0.0, atol=1e-12 * ee.max())
    edges = np.array([2, 18, 34, 50, 66, 82, 98, 114, lmax + 1])
    ee_b = binned(ee, edges)
    bb_ratio = binned(np.mean(got_bb, axis=0), edges) / ee_b
    ee_ratio = binned(np.mean(got_ee, axis=0), edges) / ee_b
    assert np.all(np.abs(bb_ratio) < 0.01), bb_ratio
    assert np.all(np.abs(ee_ratio[2:] - 1) < 0.01), ee_ratio
    assert np.all(np.abs(ee_ratio - 1) < 0.03), ee_ratio
    assert np.max(binned(np.mean(pseudo_bb, axis=0), edges) / ee_b) > 0.05


def test_beam_is_divided_out_and_te_uses_both_windows(theory_cl, gaussian_alm):
    nside = 16
    band = 3 * nside - 1
    low = 2 * nside
    cl = np.where(np.arange(band + 1) <= low, theory_cl[: band + 1], 0.0)
    rng = np.random.default_rng(3)
    alm = np.stack([gaussian_alm(cl, rng) for _ in range(3)])
    beam_t = sphere.gaussian_beam(60.0, band)
    beam_p = sphere.gaussian_beam(90.0, band)
    beamed = alm * np.stack([beam_t, beam_p, beam_p])[:, hp.Alm.getlm(band)[0]]
    iqu = sphere.alm2map(beamed, nside, band, pol=True)
    ones = np.ones(iqu.shape[-1])
    coupling = Coupling.from_weight(ones, spin2=True, niter=30)
    raw = master.decoupled_spectra(iqu, ones, coupling=coupling, niter=30)
    out = master.decoupled_spectra(
        iqu, ones, coupling=coupling, window_t=beam_t, window_p=beam_p, niter=30
    )
    sl = slice(2, low + 1)
    np.testing.assert_allclose(out["TT"][sl], raw["TT"][sl] / beam_t[sl] ** 2, rtol=1e-12)
    np.testing.assert_allclose(out["TE"][sl], raw["TE"][sl] / (beam_t * beam_p)[sl], rtol=1e-12)
    for key, (a, b) in {"TE": (0, 1), "EE": (1, 1), "BB": (2, 2)}.items():
        expected = hp.alm2cl(alm[a], alm[b])[sl]
        np.testing.assert_allclose(out[key][sl], expected, atol=2e-3 * np.abs(expected).max())


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="weight must be finite, >= 0"):
        Coupling.from_weight(-np.ones(12 * 4 * 4))
    coupling = Coupling.from_weight(np.ones(12 * 4 * 4))
    with pytest.raises(ValueError, match="spin-2 coupling"):
        coupling.decouple({"EE": np.ones(12), "BB": np.ones(12)})
    with pytest.raises(ValueError, match="TT has 13 multipoles, the coupling 12"):
        coupling.decouple({"TT": np.ones(13)})
    with pytest.raises(ValueError, match=r"\(npix,\) or \(3, npix\)"):
        master.pseudo_spectra(np.ones((2, 192)), np.ones(192), 10)
