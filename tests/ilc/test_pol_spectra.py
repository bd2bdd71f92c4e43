"""E/B needlet ILC on a full-sky noisy sky: EE and BB against theory plus the analytic noise bias.

The noise bias is computed from the ILC weights independently of the ILC code. The white noise
of channel ``i`` (E or B part: ``N_i = sigma_i^2 Omega_pix``), filtered at scale ``j`` and
multiplied by the weight map ``w_ij``, has with scale ``j'`` the expected cross-spectrum
``sum_L M_lL[w_ij, w_ij'] h_j(L) h_j'(L) t_i(L)^2 N_i``, with the standard mode-coupling kernel
``M_lL = (2L + 1) / (4 pi) sum_k (2k + 1) W_k (l L k; 0 0 0)^2`` (``W_k``: cross-spectrum of
the two weight maps); the synthesis adds ``h_j(l) h_j'(l)`` and sums over ``j, j'`` and ``i``.
"""

import healpy as hp
import numpy as np
from scipy.special import gammaln

from cmbml.ilc import cosine_needlet_windows, dust_sed, needlet_ilc, synchrotron_sed
from cmbml.sphere import map2alm

from .sky import bb_cl, ee_cl, make_pol_sky

NSIDE = 64
ELLPEAKS = [32, 64, 96, 129]
LMAX = ELLPEAKS[-1] - 1
FREQS = [44.1, 70.4, 100.89, 142.876, 221.156, 357.5]
BEAMS = [40.0, 35.0, 30.0, 25.0, 20.0, 20.0]
NOISE_P = np.array([3.0, 3.0, 1.5, 1.0, 1.5, 3.0])  # uK per pixel, Q and U
OUT_FWHM = 30.0
BIN = 14


def wigner3j_000_squared(lmax, kmax):
    """``(l L k; 0 0 0)^2`` for l, L <= lmax, k <= kmax (closed form, zero unless l+L+k even)."""
    l1, l2, l3 = np.meshgrid(
        np.arange(lmax + 1), np.arange(lmax + 1), np.arange(kmax + 1), indexing="ij"
    )
    big_j = l1 + l2 + l3
    ok = (big_j % 2 == 0) & (l3 >= np.abs(l1 - l2)) & (l3 <= l1 + l2)
    g = big_j // 2
    a, b, c, gg = (np.where(ok, x, 0) for x in (g - l1, g - l2, g - l3, g))
    jj = np.where(ok, big_j, 0)
    log_val = (
        gammaln(jj - 2 * np.where(ok, l1, 0) + 1)
        + gammaln(jj - 2 * np.where(ok, l2, 0) + 1)
        + gammaln(jj - 2 * np.where(ok, l3, 0) + 1)
        - gammaln(jj + 2)
        + 2 * (gammaln(gg + 1) - gammaln(a + 1) - gammaln(b + 1) - gammaln(c + 1))
    )
    return np.where(ok, np.exp(log_val), 0.0)


def spin2_beam(fwhm_arcmin, lmax):
    return hp.gauss_beam(np.radians(fwhm_arcmin / 60.0), lmax=lmax, pol=True)[:, 1]


def analytic_noise_bias(scales, noise_cl):
    """Expected output noise spectrum ``(LMAX + 1,)`` from the per-scale weights of one field."""
    kmax = min(3 * s.nside - 1 for s in scales)
    three_j = wigner3j_000_squared(LMAX, kmax)
    ell = np.arange(LMAX + 1)
    k = np.arange(kmax + 1)
    transfer = {
        i: spin2_beam(OUT_FWHM, LMAX) / spin2_beam(BEAMS[i], LMAX) for i in range(len(FREQS))
    }
    weight_alm = [
        dict(zip(s.channels.tolist(), map2alm(s.weights, kmax, niter=3), strict=True))
        for s in scales
    ]
    bias = np.zeros(LMAX + 1)
    for j, sj in enumerate(scales):
        for jp, sjp in enumerate(scales):
            for i in set(weight_alm[j]) & set(weight_alm[jp]):
                w_k = hp.alm2cl(weight_alm[j][i], weight_alm[jp][i])
                coupling = (2 * ell[None, :] + 1) / (4 * np.pi) * (three_j @ ((2 * k + 1) * w_k))
                source = sj.window * sjp.window * transfer[i] ** 2 * noise_cl[i]
                bias += sj.window * sjp.window * (coupling @ source)
    return bias


def test_wigner_symbols_satisfy_their_sum_rule_and_known_values():
    three_j = wigner3j_000_squared(20, 40)
    np.testing.assert_allclose(three_j[1, 1, 0], 1 / 3)
    np.testing.assert_allclose(three_j[2, 2, 0], 1 / 5)
    np.testing.assert_allclose(three_j[1, 1, 2], 2 / 15)
    # sum_k (2k + 1) (l L k; 0 0 0)^2 = 1
    np.testing.assert_allclose(np.einsum("lLk,k->lL", three_j, 2 * np.arange(41) + 1), 1.0)


def test_ee_and_bb_within_cosmic_variance_plus_noise_bias():
    sky = make_pol_sky(
        NSIDE,
        LMAX,
        FREQS,
        BEAMS,
        seed=21,
        dust_amp=1e7,
        sync_amp=1e7,
        noise_t_uk=1.0,
        noise_p_uk=NOISE_P,
        output_fwhm_arcmin=OUT_FWHM,
    )
    seds = np.array([dust_sed(FREQS), synchrotron_sed(FREQS)])
    out, scales = needlet_ilc(
        sky["total"][:, 1:],
        BEAMS,
        ellpeaks=ELLPEAKS,
        output_fwhm_arcmin=OUT_FWHM,
        deproject_pol=seds,
        return_weights=True,
    )
    assert np.allclose(np.sum(cosine_needlet_windows(ELLPEAKS) ** 2, axis=0), 1.0)
    # output spectra, measured with healpy (independent spin-2 transform)
    iqu = np.concatenate([np.zeros((1, out.shape[1])), out])
    cl_out = hp.anafast(iqu, lmax=LMAX, iter=10)
    pixel_area = 4 * np.pi / (12 * NSIDE**2)
    noise_cl = NOISE_P**2 * pixel_area
    beam2 = spin2_beam(OUT_FWHM, LMAX) ** 2
    edges = np.arange(2, LMAX + 2, BIN)
    for name, index, theory in (("EE", 1, ee_cl(LMAX)), ("BB", 2, bb_cl(LMAX))):
        signal = beam2 * theory
        bias = analytic_noise_bias(scales[name[0]], noise_cl)
        expected = signal + bias
        ell = np.arange(LMAX + 1)
        var = 2 * expected**2 / (2 * ell + 1)
        z = []
        for lo, hi in zip(edges[:-1], edges[1:], strict=True):
            sel = slice(lo, hi)
            n = hi - lo
            z.append(
                (cl_out[index, sel].mean() - expected[sel].mean()) / np.sqrt(var[sel].sum() / n**2)
            )
        z = np.array(z)
        assert np.all(np.abs(z) < 4), (name, z)
        assert np.mean(z**2) < 2.5, (name, z)
