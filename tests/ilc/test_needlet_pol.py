"""Needlet ILC of I, Q, U maps: E and B ILCs of the polarised channels, back to Q, U."""

import numpy as np
import pytest

from cmbml.ilc import apply_needlet_weights, dust_sed, needlet_ilc, synchrotron_sed

from .sky import make_pol_sky, rms

NSIDE = 32
LMAX = 64
ELLPEAKS = [16, 32, 48, LMAX + 1]
# six polarised channels and one intensity-only channel (like 545 GHz)
FREQS = [44.1, 70.4, 100.89, 142.876, 221.156, 357.5, 555.2]
BEAMS = [65.0, 55.0, 50.0, 40.0, 35.0, 30.0, 28.0]
POLARISED = np.array([True] * 6 + [False])
OUT_FWHM = 40.0


@pytest.mark.parametrize(
    "windows",
    [
        dict(ellpeaks=ELLPEAKS),
        dict(needlets="gaussian", needlet_fwhm_arcmin=[600.0, 300.0, 200.0], lmax=LMAX),
    ],
    ids=["cosine", "gaussian"],
)
def test_cmb_response_is_exact_in_e_and_b(windows):
    sky = make_pol_sky(
        NSIDE,
        LMAX,
        FREQS,
        BEAMS,
        seed=11,
        polarised=POLARISED,
        dust_amp=3e6,
        output_fwhm_arcmin=OUT_FWHM,
    )
    kwargs = dict(output_fwhm_arcmin=OUT_FWHM, ilc_bias_tol=0.01, niter=10, **windows)
    out, scales = needlet_ilc(
        sky["total"], BEAMS, polarised=POLARISED, return_weights=True, **kwargs
    )
    assert out.shape == (3, 12 * NSIDE**2) and sorted(scales) == ["B", "E", "T"]
    for field in "EB":
        for s in scales[field]:
            assert set(s.channels) <= set(np.flatnonzero(POLARISED))
            np.testing.assert_allclose(s.weights.sum(axis=0), 1.0, rtol=0, atol=1e-10)
    # E and B have their own weights
    assert np.abs(scales["E"][0].weights - scales["B"][0].weights).max() > 1e-3
    # the temperature part is the intensity-only NILC of all seven channels
    t_only = needlet_ilc(sky["total"][:, 0], BEAMS, **kwargs)
    assert np.abs(out[0] - t_only).max() < 1e-9 * np.abs(t_only).max()
    # any sky whose CMB is the same in every channel: the CMB goes through unchanged
    cmb_out = apply_needlet_weights(
        sky["cmb"], BEAMS, scales, output_fwhm_arcmin=OUT_FWHM, niter=10
    )
    for f in range(3):
        assert np.abs(cmb_out[f] - sky["truth"][f]).max() < 1e-8 * np.abs(sky["truth"][f]).max()


def test_qu_maps_give_the_polarised_part_of_the_iqu_ilc():
    sky = make_pol_sky(NSIDE, LMAX, FREQS[:6], BEAMS[:6], seed=2, output_fwhm_arcmin=OUT_FWHM)
    kwargs = dict(ellpeaks=ELLPEAKS, output_fwhm_arcmin=OUT_FWHM, ilc_bias_tol=0.01)
    iqu = needlet_ilc(sky["total"], BEAMS[:6], **kwargs)
    qu, scales = needlet_ilc(sky["total"][:, 1:], BEAMS[:6], return_weights=True, **kwargs)
    assert qu.shape == (2, 12 * NSIDE**2) and sorted(scales) == ["B", "E"]
    assert np.abs(qu - iqu[1:]).max() < 1e-9 * np.abs(iqu[1:]).max()


def test_deprojection_nulls_polarised_dust_and_synchrotron_exactly():
    # three polarised channels, a noiseless sky of CMB + dust + synchrotron: with both SEDs
    # deprojected in E and B the Q, U output is the CMB; temperature deprojects nothing
    freqs, beams = FREQS[2:5] + FREQS[6:], BEAMS[2:5] + BEAMS[6:]
    polarised = np.array([True, True, True, False])
    sky = make_pol_sky(
        NSIDE,
        LMAX,
        freqs,
        beams,
        seed=5,
        polarised=polarised,
        dust_amp=1e10,
        sync_amp=1e10,
        pol_fraction=0.3,
        noise_t_uk=1.0,  # four intensity channels, three components: noise keeps C invertible
        noise_p_uk=0.0,
        output_fwhm_arcmin=OUT_FWHM,
    )
    seds = np.array([dust_sed(freqs), synchrotron_sed(freqs)])
    kwargs = dict(ellpeaks=ELLPEAKS, output_fwhm_arcmin=OUT_FWHM, ilc_bias_tol=0.01, niter=10)
    truth_qu = sky["truth"][1:]
    fg_rms = rms((sky["dust"] + sky["sync"])[0, 1:])
    assert fg_rms > 100 * rms(truth_qu)
    out = needlet_ilc(sky["total"], beams, polarised=polarised, deproject_pol=seds, **kwargs)
    assert np.abs(out[1:] - truth_qu).max() < 1e-8 * fg_rms
    plain = needlet_ilc(sky["total"], beams, polarised=polarised, **kwargs)
    assert rms(plain[1:] - truth_qu) > 1e-4 * fg_rms
    # no deprojection in temperature either way (equal up to rounding)
    assert np.abs(plain[0] - out[0]).max() < 1e-9 * np.abs(out[0]).max()


def test_deprojection_with_a_free_channel_nulls_each_component():
    # four polarised channels with noise: the deprojected SEDs leave exactly nothing
    freqs, beams = FREQS[2:6], BEAMS[2:6]
    sky = make_pol_sky(
        NSIDE,
        LMAX,
        freqs,
        beams,
        seed=6,
        dust_amp=3e6,
        sync_amp=3e6,
        noise_p_uk=0.3,
        output_fwhm_arcmin=OUT_FWHM,
    )
    seds = np.array([dust_sed(freqs), synchrotron_sed(freqs)])
    kwargs = dict(ellpeaks=ELLPEAKS, output_fwhm_arcmin=OUT_FWHM, ilc_bias_tol=0.01, niter=10)
    _, scales = needlet_ilc(
        sky["total"], beams, deproject=[], deproject_pol=seds, return_weights=True, **kwargs
    )
    for s in scales["E"] + scales["B"]:
        np.testing.assert_allclose(s.weights.T @ seds.T, 0.0, atol=1e-10 * np.abs(s.weights).max())
    for part in ("dust", "sync"):
        leak = apply_needlet_weights(
            sky[part], beams, scales, output_fwhm_arcmin=OUT_FWHM, niter=10
        )
        assert rms(leak[1:]) < 1e-9 * rms(sky[part][:, 1:])
        assert rms(leak[0]) > 1e-4 * rms(sky["truth"][0])  # temperature: not deprojected


def test_rejects_bad_polarisation_inputs():
    maps = np.random.default_rng(0).standard_normal((3, 3, 12 * 8**2))
    kwargs = dict(ellpeaks=[8, 17], output_fwhm_arcmin=30.0)
    with pytest.raises(ValueError, match="polarised"):
        needlet_ilc(maps, [30.0] * 3, polarised=[True, False], **kwargs)
    with pytest.raises(ValueError, match="no channel"):
        needlet_ilc(maps, [30.0] * 3, polarised=np.zeros(3, bool), **kwargs)
    with pytest.raises(ValueError, match="I, Q, U"):
        needlet_ilc(np.zeros((3, 4, 12 * 8**2)), [30.0] * 3, **kwargs)
    # one polarised channel cannot deproject a component
    with pytest.raises(ValueError, match=r"\(EB\)"):
        needlet_ilc(
            maps,
            [30.0] * 3,
            polarised=np.array([True, False, False]),
            deproject_pol=dust_sed([100.0, 143.0, 217.0]),
            **kwargs,
        )
