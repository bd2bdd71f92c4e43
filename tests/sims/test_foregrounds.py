"""Foreground emission: SEDs against the analytic laws in uK_CMB, dominance, PySM3 paths, no
temporary files left by any engine."""

import tempfile
from pathlib import Path

import healpy as hp
import numpy as np
import pytest

from cmbml.sims.foregrounds import ForegroundModel, krj_to_kcmb, pysm3_model
from cmbml.sims.pysm_presets import PresetForegroundModel, preset_data_files
from cmbml.sims.templates import ComponentTemplate, make_templates
from tests.sims.skyconfig import galactic_components, galaxy

CONFIG = Path(__file__).resolve().parents[2] / "cfg/model/sim/foregrounds/synthetic.yaml"
FREQS = [28.4, 44.1, 70.4, 100.89, 142.876, 221.156, 357.5, 555.2, 866.8]

# SI constants, written out independently of the code under test
H = 6.62607015e-34
K_B = 1.380649e-23
C = 299792458.0
T_CMB = 2.7255


def planck(nu_hz, temp):
    """Black-body specific intensity B_nu(T), W m^-2 Hz^-1 sr^-1."""
    return 2 * H * nu_hz**3 / C**2 / np.expm1(H * nu_hz / (K_B * temp))


def intensity_to_uk_cmb(intensity, nu_hz):
    """Specific intensity -> uK_CMB: divide by dB_nu/dT at T_CMB."""
    x = H * nu_hz / (K_B * T_CMB)
    dbdt = 2 * H * nu_hz**3 / C**2 * x / T_CMB * np.exp(x) / np.expm1(x) ** 2
    return intensity / dbdt * 1e6


def uk_rj_to_intensity(t_rj_uk, nu_hz):
    """uK_RJ -> specific intensity (Rayleigh-Jeans law)."""
    return 2 * K_B * nu_hz**2 / C**2 * t_rj_uk * 1e-6


def expected_emission(t: ComponentTemplate, freq_ghz, pix):
    """Independent evaluation of a component's law at pixels ``pix`` in uK_CMB, (n_field, n)."""
    nu, nu0 = freq_ghz * 1e9, t.freq_ref_ghz * 1e9
    p = {k: (v[pix] if np.ndim(v) else v) for k, v in t.params.items()}
    i_ref = uk_rj_to_intensity(t.maps[:, pix], nu0)  # W m^-2 Hz^-1 sr^-1 at nu0
    if t.law == "mbb":  # I_nu ∝ nu^beta B_nu(T)
        ratio = (
            (nu / nu0) ** p["beta"] * planck(nu, p["temperature"]) / planck(nu0, p["temperature"])
        )
    elif t.law == "power_law":  # T_RJ ∝ nu^beta  =>  I_nu ∝ nu^(beta + 2)
        ratio = (nu / nu0) ** (p["beta"] + 2)
    else:  # log-normal flux density
        w = p["width"]
        ratio = np.exp(-(np.log(nu / (p["freq_peak"] * 1e9)) ** 2) / (2 * w**2)) / np.exp(
            -(np.log(nu0 / (p["freq_peak"] * 1e9)) ** 2) / (2 * w**2)
        )
    return intensity_to_uk_cmb(i_ref * ratio, nu)


@pytest.fixture(scope="module")
def templates():
    return make_templates(galactic_components(), 16, seed=21, galaxy=galaxy())


def test_krj_to_kcmb_matches_published_table():
    # K_RJ per K_CMB for a delta bandpass at the mapsims centres (reference instrument table)
    table = [0.97942, 0.95123, 0.88121, 0.77382, 0.60523, 0.32171, 0.073398, 0.0054274, 5.4773e-05]
    assert np.allclose(krj_to_kcmb(np.array(FREQS)) * np.array(table), 1.0, rtol=2e-4)


def test_each_component_follows_its_law(templates):
    pix = np.array([0, 1000, 1500, 3071])
    for t in templates.values():
        model = ForegroundModel([t])
        for f in FREQS:
            got = model.emission(f)[: t.maps.shape[0], pix]
            assert np.allclose(got, expected_emission(t, f, pix), rtol=1e-9, atol=0), (t.name, f)
        assert np.allclose(
            model.emission(t.freq_ref_ghz, pol=False)[0], t.maps[0] * krj_to_kcmb(t.freq_ref_ghz)
        )


def test_total_is_sum_and_fields(templates):
    model = ForegroundModel(templates)
    total = model.emission(100.89)
    parts = sum(
        np.pad(
            ForegroundModel([t]).emission(100.89)[: t.maps.shape[0]],
            ((0, 3 - t.maps.shape[0]), (0, 0)),
        )
        for t in templates.values()
    )
    assert np.allclose(total, parts)
    assert np.array_equal(model.emission(100.89, pol=False), total[:1])
    assert model.uniform_components is None
    uniform = ForegroundModel([templates["free_free"], templates["ame"]])
    assert uniform.uniform_components is not None


def test_dust_dominates_at_353_and_synchrotron_at_30_near_the_plane():
    nside = 64
    templates = make_templates(galactic_components(), nside, seed=3, galaxy=galaxy())
    _, _, z = hp.pix2vec(nside, np.arange(hp.nside2npix(nside)))
    low = np.abs(z) < np.sin(np.radians(15))
    for freq, winner in ((357.5, "dust"), (28.4, "synchrotron")):
        level = {
            n: np.median(ForegroundModel([t]).emission(freq, pol=False)[0][low])
            for n, t in templates.items()
        }
        others = max(v for n, v in level.items() if n != winner)
        assert level[winner] > 1.2 * others, (freq, level)
        pol = {
            n: np.median(np.hypot(*ForegroundModel([t]).emission(freq)[1:])[low])
            for n, t in templates.items()
            if t.polarised
        }
        assert pol[winner] > 10 * max(v for n, v in pol.items() if n != winner)
    # the foreground minimum at high latitude is near 70 GHz, a few uK_CMB
    high = np.abs(z) > np.sin(np.radians(40))
    total = ForegroundModel(templates)
    levels = [np.median(np.abs(total.emission(f, pol=False)[0][high])) for f in FREQS[:5]]
    assert int(np.argmin(levels)) == 2 and levels[2] < 10.0


@pytest.mark.slow  # PySM3 compiles its numba kernels (~40 s on a loaded 2-core machine)
def test_pysm3_engine_matches_numpy(templates):
    numpy_model = ForegroundModel(templates)
    pysm_model = ForegroundModel(templates, engine="pysm3")
    for f in (28.4, 142.876, 866.8):
        a = numpy_model.emission(f)
        b = pysm_model.emission(f)
        scale = np.abs(a).max(axis=1, keepdims=True)
        assert np.allclose(a, b, rtol=0, atol=1e-6 * scale.max()), f
        assert np.allclose(a / scale, b / scale, atol=1e-6)


def test_bad_engine_and_mixed_nside(templates):
    with pytest.raises(ValueError, match="engine"):
        ForegroundModel(templates, engine="fortran")
    small = make_templates(
        {
            "x": {
                "law": "power_law",
                "freq_ref_ghz": 30.0,
                "template": {"amplitude": 1.0, "disk_epsilon": 0.1, "log_sigma": 0.0},
                "params": {"beta": {"mean": -3.0}},
            }
        },
        8,
        0,
    )
    with pytest.raises(ValueError, match="nside"):
        ForegroundModel([templates["dust"], small["x"]])


def _write_pysm_file(path: Path, maps):
    path.parent.mkdir(parents=True, exist_ok=True)
    hp.write_map(str(path), maps, column_units="uK_RJ", dtype=np.float64)


def test_presets_need_local_data(tmp_path, monkeypatch):
    monkeypatch.delenv("PYSM_LOCAL_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match="preset_strings"):
        PresetForegroundModel(["d9", "f1"], 8)
    with pytest.raises(FileNotFoundError, match="ff_t_new.fits"):
        PresetForegroundModel(["f1"], 8, data_dir=tmp_path)
    with pytest.raises(ValueError, match="zz9"):
        PresetForegroundModel(["zz9"], 8, data_dir=tmp_path)


def test_presets_run_from_local_files(tmp_path, monkeypatch):
    nside = 8
    npix = hp.nside2npix(nside)
    rng = np.random.default_rng(0)
    dust = np.abs(rng.normal(100, 10, (3, npix)))
    sync = np.abs(rng.normal(30, 3, (3, npix)))
    ff = np.abs(rng.normal(5, 1, npix))
    _write_pysm_file(tmp_path / "dust_gnilc/gnilc_dust_template_nside2048_2023.02.10.fits", dust)
    _write_pysm_file(tmp_path / "synch/synch_template_nside2048_2023.02.25.fits", sync)
    _write_pysm_file(tmp_path / "pysm_2/ff_t_new.fits", ff)
    monkeypatch.setenv("PYSM_LOCAL_DATA", str(tmp_path))
    model = PresetForegroundModel(["d9", "s4", "f1"], nside)
    # d9: MBB beta 1.48, T 19.6 K at 353 GHz; s4: beta -3.1 at 23 GHz; f1: beta -2.14 at 30 GHz
    parts = [
        ComponentTemplate("d9", "mbb", 353.0, dust, {"beta": 1.48, "temperature": 19.6}),
        ComponentTemplate("s4", "power_law", 23.0, sync, {"beta": -3.1}),
        ComponentTemplate("f1", "power_law", 30.0, ff[None], {"beta": -2.14}),
    ]
    pix = np.arange(npix)
    for f in (28.4, 100.89, 357.5):
        expected = sum(
            np.pad(expected_emission(t, f, pix), ((0, 3 - t.maps.shape[0]), (0, 0))) for t in parts
        )
        assert np.allclose(model.emission(f), expected, rtol=1e-5), f


# PySM3's data layout for the extragalactic presets (pysm3/data/presets.cfg and the classes
# WebSkyCIB, WebSkyRadioGalaxies, SimpleSZ, COLines): interpolated maps per frequency, one
# template each for the SZ effects, the Planck CO Type 1 maps for CO.
WEBSKY_GHZ = [90.2, 100.0, 111.0, 545.0, 857.0, 906.0]


def test_extragalactic_preset_files_follow_pysm3_layouts():
    files = preset_data_files(["cib1", "rg1", "tsz1", "ksz1", "co1"], 64, [100.89, 545.0, 866.8])
    assert sorted(files) == sorted(
        [
            "websky/0.4/cib/cib_0100.0.fits",
            "websky/0.4/cib/cib_0111.0.fits",
            "websky/0.4/cib/cib_0545.0.fits",
            "websky/0.4/cib/cib_0857.0.fits",
            "websky/0.4/cib/cib_0906.0.fits",
            "websky/0.4/radio/radio_0100.0.fits",
            "websky/0.4/radio/radio_0111.0.fits",
            "websky/0.4/radio/radio_0545.0.fits",
            "websky/0.4/radio/radio_0857.0.fits",
            "websky/0.4/radio/radio_0906.0.fits",
            "websky/0.4/tsz_8192_hp.fits",
            "websky/0.4/ksz.fits",
            "co/HFI_CompMap_CO-Type1_512_R2.00_ring.fits",
        ]
    )
    # above nside 512 PySM3 reads the 2048 CO maps; without frequencies every map is needed
    assert "co/HFI_CompMap_CO-Type1_2048_R2.00_ring.fits" in preset_data_files(["co1"], 1024)
    assert len(preset_data_files(["cib1"], 64)) == 46


def test_extragalactic_presets_name_the_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="cib_0857.0.fits"):
        PresetForegroundModel(["cib1"], 8, data_dir=tmp_path, freqs_ghz=[866.8])


def _krj_per_jy_sr(freq_ghz):
    """uK_RJ per Jy/sr: T_RJ = c^2 I / (2 k nu^2)."""
    return C**2 / (2 * K_B * (freq_ghz * 1e9) ** 2) * 1e-26 * 1e6


@pytest.mark.slow  # PySM3 compiles its numba kernels for these classes (~30 s)
def test_extragalactic_presets_run_from_local_files(tmp_path, monkeypatch):
    nside = 8
    npix = hp.nside2npix(nside)
    rng = np.random.default_rng(1)
    y = rng.uniform(1e-7, 1e-5, npix)
    ksz = rng.normal(0, 3.0, npix)
    cib = {f: rng.uniform(0.1, 1.0, npix) * (f / 545.0) ** 3 for f in WEBSKY_GHZ}  # MJy/sr
    radio = {f: rng.uniform(10, 100, npix) for f in WEBSKY_GHZ}  # Jy/sr
    co = rng.uniform(0, 1e-4, (3, npix))  # K_CMB, lines 1-0, 2-1, 3-2
    _write_pysm_file(tmp_path / "websky/0.4/tsz_8192_hp.fits", y)
    _write_pysm_file(tmp_path / "websky/0.4/ksz.fits", ksz)
    for f in WEBSKY_GHZ:
        _write_pysm_file(tmp_path / f"websky/0.4/cib/cib_{f:06.1f}.fits", cib[f])
        _write_pysm_file(tmp_path / f"websky/0.4/radio/radio_{f:06.1f}.fits", radio[f])
    _write_pysm_file(tmp_path / "co/HFI_CompMap_CO-Type1_512_R2.00_ring.fits", co)
    monkeypatch.setenv("PYSM_LOCAL_DATA", str(tmp_path))
    freqs = [100.89, 866.8]
    model = PresetForegroundModel(["tsz1", "ksz1", "cib1", "rg1", "co1"], nside, freqs_ghz=freqs)

    def spt(f):  # PySM3's SPT correction of the WebSky CIB maps, at the map's frequency
        return np.sqrt(1 + 0.84 / (1 + np.exp((f - 227) / 75)))

    def interpolated(maps, f, lo, hi, scale=lambda f: 1.0):
        """PySM3: each map in uK_RJ at its frequency, linear in frequency; then uK_CMB at f."""
        t_lo = maps[lo] * 1e6 * _krj_per_jy_sr(lo) * scale(lo)  # MJy/sr -> Jy/sr -> uK_RJ
        t_hi = maps[hi] * 1e6 * _krj_per_jy_sr(hi) * scale(hi)
        w = (f - lo) / (hi - lo)
        return intensity_to_uk_cmb(uk_rj_to_intensity((1 - w) * t_lo + w * t_hi, f * 1e9), f * 1e9)

    x_pysm = 6.62607004e-27 * 1e9 / 1.380622e-16 / 2.725  # PySM3's own constants
    for f, (lo, hi) in zip(freqs, [(100.0, 111.0), (857.0, 906.0)], strict=True):
        x = x_pysm * f
        tsz = 1e6 * 2.725 * (x * (np.exp(x) + 1) / np.expm1(x) - 4) * y
        radio_mjy = {k: v * 1e-6 for k, v in radio.items()}
        expected = (
            tsz + ksz + interpolated(cib, f, lo, hi, spt) + interpolated(radio_mjy, f, lo, hi)
        )
        got = model.emission(f)
        # PySM3 caches the interpolated maps in float32
        assert np.allclose(got[0], expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max()), f
        assert np.all(got[1:] == 0)


def test_foreground_engines_leave_no_temporary_files(templates, tmp_path, monkeypatch):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    ForegroundModel(templates).emission(100.0)  # engine numpy
    # engine pysm3: the PySM3 objects it builds (the AME one from a tabulated emissivity)
    models = {t.name: pysm3_model(t) for t in templates.values() if t.kind == "galactic"}
    nu, flux = models["ame"].emissivity
    peak = nu[np.argmax(flux)]
    assert peak == pytest.approx(30.0, rel=1e-3)  # the log-normal table, read before removal
    ff = np.abs(np.random.default_rng(1).normal(5, 1, hp.nside2npix(8)))
    _write_pysm_file(tmp_path / "pysm" / "pysm_2" / "ff_t_new.fits", ff)
    monkeypatch.setenv("PYSM_LOCAL_DATA", str(tmp_path / "pysm"))
    PresetForegroundModel(["f1"], 8).emission(30.0)  # PySM3 presets
    assert sorted(p.name for p in scratch.iterdir()) == []
