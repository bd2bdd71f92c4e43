"""Needlet ILC: CMB response, recovery, deprojection and robustness with Planck-like channels."""

from fractions import Fraction

import numpy as np
import pytest

from cmbml.ilc import (
    apply_needlet_weights,
    dust_sed,
    ilc_weights,
    mixing_matrix,
    needlet_ilc,
    synchrotron_sed,
)

from .sky import make_sky, rms

NSIDE = 32
LMAX = 64  # 2 nside: band-limited maps are analysed exactly (to ~1e-10) with a few iterations
ELLPEAKS = [16, 32, 48, LMAX + 1]
FREQS = [70.4, 100.89, 142.876, 221.156, 357.5]
BEAMS = [60.0, 50.0, 40.0, 35.0, 30.0]
OUT_FWHM = 40.0


@pytest.mark.parametrize(
    "windows",
    [
        dict(ellpeaks=ELLPEAKS),
        dict(needlets="gaussian", needlet_fwhm_arcmin=[600.0, 300.0, 200.0], lmax=LMAX),
    ],
    ids=["cosine", "gaussian"],
)
def test_cmb_response_is_exact(windows):
    sky = make_sky(NSIDE, LMAX, FREQS, BEAMS, seed=11, dust_amp=3e6, output_fwhm_arcmin=OUT_FWHM)
    kwargs = dict(output_fwhm_arcmin=OUT_FWHM, ilc_bias_tol=0.01, niter=10, **windows)
    _, scales = needlet_ilc(sky["total"], BEAMS, return_weights=True, **kwargs)
    for s in scales:
        np.testing.assert_allclose(s.weights.sum(axis=0), 1.0, rtol=0, atol=1e-10)
    # any map whose CMB part is the same in every channel: its CMB part goes through unchanged
    cmb_out = apply_needlet_weights(
        sky["cmb"], BEAMS, scales, output_fwhm_arcmin=OUT_FWHM, niter=10
    )
    assert np.abs(cmb_out - sky["truth"]).max() < 1e-8 * np.abs(sky["truth"]).max()


def test_recovers_cmb_from_two_foregrounds_and_noise():
    sky = make_sky(
        NSIDE,
        LMAX,
        FREQS,
        BEAMS,
        seed=1,
        dust_amp=1e8,
        sync_amp=1e8,
        noise_uk=0.5,
        output_fwhm_arcmin=OUT_FWHM,
    )
    kwargs = dict(ellpeaks=ELLPEAKS, output_fwhm_arcmin=OUT_FWHM, ilc_bias_tol=0.01)
    resid = rms(needlet_ilc(sky["total"], BEAMS, **kwargs) - sky["truth"])
    foreground_rms = np.sqrt(np.mean((sky["dust"] + sky["sync"]) ** 2, axis=1))
    # the same ILC on CMB + noise alone: the noise-limited residual (noise + ILC bias)
    noise_limited = rms(needlet_ilc(sky["cmb"] + sky["noise"], BEAMS, **kwargs) - sky["truth"])
    assert foreground_rms.min() > 50.0
    assert resid < 0.1 * foreground_rms.min()
    assert resid < 1.25 * noise_limited


def test_deprojection_removes_a_component_exactly_without_noise():
    freqs, beams = FREQS[2:], BEAMS[2:]
    sky = make_sky(
        NSIDE,
        LMAX,
        freqs,
        beams,
        seed=5,
        dust_amp=3e6,
        sync_amp=3e6,
        noise_uk=0.0,
        output_fwhm_arcmin=OUT_FWHM,
    )
    kwargs = dict(ellpeaks=ELLPEAKS, output_fwhm_arcmin=OUT_FWHM, ilc_bias_tol=0.01, niter=10)
    dust_rms = rms(sky["dust"][0])
    leaks = {}
    for label, deproject in [("plain", None), ("deprojected", dust_sed(freqs))]:
        _, scales = needlet_ilc(
            sky["total"], beams, deproject=deproject, return_weights=True, **kwargs
        )
        leaks[label] = rms(
            apply_needlet_weights(sky["dust"], beams, scales, output_fwhm_arcmin=OUT_FWHM, niter=10)
        )
        cmb_out = apply_needlet_weights(
            sky["cmb"], beams, scales, output_fwhm_arcmin=OUT_FWHM, niter=10
        )
        assert np.abs(cmb_out - sky["truth"]).max() < 1e-8 * np.abs(sky["truth"]).max()
    assert leaks["deprojected"] < 1e-9 * dust_rms
    assert leaks["plain"] > 1e-4 * dust_rms


PLANCK_FREQS = [28.4, 44.1, 70.4, 100.89, 142.876, 221.156, 357.5, 555.2, 866.8]
PLANCK_BEAMS = [75.0, 65.0, 55.0, 43.0, 32.4, 22.3, 22.0, 21.5, 20.6]
# white noise per pixel at nside 32 (110 arcmin pixels) from the Planck uK_CMB.arcmin levels
PLANCK_NOISE = np.array([150.0, 162.0, 210.0, 77.4, 33.0, 46.8, 153.6, 806.4, 19048.3]) / 110.0


def exact_constrained_weights(cov, mixing):
    """w = C^-1 A (A^T C^-1 A)^-1 e_0 in exact rational arithmetic (Gauss-Jordan on Fractions)."""

    def solve(mat, rhs):
        rows = [list(m) + list(r) for m, r in zip(mat, rhs, strict=True)]
        n = len(rows)
        for c in range(n):
            pivot = next(r for r in range(c, n) if rows[r][c] != 0)
            rows[c], rows[pivot] = rows[pivot], rows[c]
            rows[c] = [v / rows[c][c] for v in rows[c]]
            for r in range(n):
                if r != c and rows[r][c] != 0:
                    f = rows[r][c]
                    rows[r] = [a - f * b for a, b in zip(rows[r], rows[c], strict=True)]
        return [row[n:] for row in rows]

    c_f = [[Fraction(float(v)) for v in row] for row in cov]
    a_f = [[Fraction(float(v)) for v in row] for row in mixing]
    y = solve(c_f, a_f)
    n_comp = len(a_f[0])
    q = [
        [sum(a_f[i][a] * y[i][b] for i in range(len(y))) for b in range(n_comp)]
        for a in range(n_comp)
    ]
    z = solve(q, [[Fraction(int(a == 0))] for a in range(n_comp)])
    return np.array([float(sum(y[i][k] * z[k][0] for k in range(n_comp))) for i in range(len(y))])


@pytest.mark.parametrize("deproject", [False, True])
def test_weights_exact_with_nine_planck_channels_in_uk_cmb(deproject):
    # CMB + two dust populations + synchrotron + Planck-like noise: cond(C) ~ 1e15
    dust, dust2 = dust_sed(PLANCK_FREQS), dust_sed(PLANCK_FREQS, beta=1.4, temp_k=18.0)
    sync = synchrotron_sed(PLANCK_FREQS)
    cov = (
        100.0**2 * np.ones((9, 9))
        + 5e4**2 * np.outer(dust, dust)
        + 5e3**2 * np.outer(dust2, dust2)
        + 50.0**2 * np.outer(sync, sync)
        + np.diag(PLANCK_NOISE**2)
    )
    assert np.sqrt(cov[7, 7]) > 1e4 * 100.0 and np.sqrt(cov[8, 8]) > 1e6 * 100.0
    assert np.linalg.cond(cov) > 1e15
    mixing = mixing_matrix(9, deproject=[dust] if deproject else None)
    weights = ilc_weights(cov, mixing)
    exact = exact_constrained_weights(cov, mixing)
    # the correlation matrix itself has condition number ~5e10: float64 allows ~1e-6
    assert np.abs(weights - exact).max() < 1e-5 * np.abs(exact).max()
    np.testing.assert_allclose(weights @ mixing, np.eye(mixing.shape[1])[0], atol=1e-10)


def test_needlet_ilc_with_nine_planck_channels_in_uk_cmb():
    sky = make_sky(
        NSIDE,
        LMAX,
        PLANCK_FREQS,
        PLANCK_BEAMS,
        seed=7,
        dust_amp=1.5e10,
        sync_amp=3e6,
        noise_uk=PLANCK_NOISE,
        output_fwhm_arcmin=OUT_FWHM,
    )
    cmb_rms = rms(sky["truth"])
    total_rms = np.sqrt(np.mean(sky["total"] ** 2, axis=1))
    assert total_rms[-2] / cmb_rms > 1e4 and total_rms[-1] / cmb_rms > 1e6
    assert np.linalg.cond(np.cov(sky["total"])) > 1e14

    kwargs = dict(ellpeaks=ELLPEAKS, output_fwhm_arcmin=OUT_FWHM, ilc_bias_tol=0.01, niter=10)
    out, scales = needlet_ilc(sky["total"], PLANCK_BEAMS, return_weights=True, **kwargs)
    assert np.all(np.isfinite(out))
    for s in scales:
        assert s.channels.size == 9
        np.testing.assert_allclose(s.weights.sum(axis=0), 1.0, rtol=0, atol=1e-10)
    cmb_out = apply_needlet_weights(
        sky["cmb"], PLANCK_BEAMS, scales, output_fwhm_arcmin=OUT_FWHM, niter=10
    )
    assert np.abs(cmb_out - sky["truth"]).max() < 1e-8 * np.abs(sky["truth"]).max()
    assert rms(out - sky["truth"]) < 0.2 * cmb_rms


def test_exactly_degenerate_channels_share_their_weight():
    # channels 1 and 2 identical: the ILC of the two distinct channels, [0, 1], split equally
    cov = np.array([[2.0, 1.0, 1.0], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0]])
    np.testing.assert_allclose(ilc_weights(cov, np.ones((3, 1))), [0.0, 0.5, 0.5], atol=1e-12)


def test_rejects_maps_and_beams_of_different_lengths():
    maps = np.zeros((3, 12 * 8**2))
    with pytest.raises(ValueError, match="beam_fwhm_arcmin"):
        needlet_ilc(maps, [30.0, 20.0], ellpeaks=[8, 17], output_fwhm_arcmin=30.0)
