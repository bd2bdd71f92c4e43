"""Handlers: real FITS/npy/YAML/CSV/torch/figure files, atomic writes, clear read errors."""

import time

import healpy as hp
import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from cmbml.core import BadInputError, atomic_path, get_handler


def test_healpix_map_roundtrip_float32_ring_with_unit(tmp_path):
    maps = np.random.default_rng(0).standard_normal((3, 12 * 8**2)) * 100
    path = tmp_path / "m.fits"
    get_handler("healpix_map").write(path, maps, unit="uK_CMB")
    with fits.open(path) as hdul:
        header = hdul[1].header
        assert header["ORDERING"] == "RING" and header["NSIDE"] == 8
        assert header["TUNIT1"] == "uK_CMB" and header["TTYPE2"] == "Q_STOKES"
        assert hdul[1].data["I_STOKES"].dtype.itemsize == 4
    back = get_handler("healpix_map").read(path, nside=8, unit="uK_CMB")
    assert back.dtype == np.float64
    np.testing.assert_array_equal(back, maps.astype(np.float32))


def test_healpix_map_wrong_nside_unit_and_nan_are_named(tmp_path):
    path = tmp_path / "m.fits"
    hp.write_map(str(path), np.ones(12 * 4**2), column_units="K_CMB", dtype=np.float32)
    handler = get_handler("healpix_map")
    with pytest.raises(BadInputError, match=r"m\.fits.*nside 4, expected nside 8"):
        handler.read(path, nside=8)
    with pytest.raises(BadInputError, match=r"m\.fits.*unit is 'K_CMB', expected 'uK_CMB'"):
        handler.read(path, unit="uK_CMB")
    bad = np.ones(12 * 4**2)
    bad[3] = np.nan
    with pytest.raises(BadInputError, match="NaN"):
        handler.write(tmp_path / "nan.fits", bad)
    assert not (tmp_path / "nan.fits").exists()


def test_corrupt_file_error_names_it(tmp_path):
    path = tmp_path / "broken.fits"
    path.write_bytes(b"SIMPLE  = T" + b"\0" * 100)
    with pytest.raises(BadInputError, match=r"broken\.fits"):
        get_handler("healpix_map").read(path)


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.npy"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"partial")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_other_handlers_roundtrip(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    arr = np.arange(6.0).reshape(2, 3)
    get_handler("numpy").write(tmp_path / "a.npy", arr)
    np.testing.assert_array_equal(get_handler("numpy").read(tmp_path / "a.npy", mmap_mode="r"), arr)
    get_handler("yaml").write(tmp_path / "a.yaml", {"x": np.float64(1.5), "y": np.arange(2)})
    assert get_handler("yaml").read(tmp_path / "a.yaml") == {"x": 1.5, "y": [0, 1]}
    frame = pd.DataFrame({"sim": [0, 1], "mae": [1.0, 2.0]})
    get_handler("csv").write(tmp_path / "a.csv", frame)
    pd.testing.assert_frame_equal(get_handler("csv").read(tmp_path / "a.csv"), frame)
    get_handler("torch").write(tmp_path / "c.pt", {"w": torch.ones(2)})
    assert torch.equal(get_handler("torch").read(tmp_path / "c.pt")["w"], torch.ones(2))
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    get_handler("figure").write(tmp_path / "f.png", fig, also=["pdf"])
    assert (tmp_path / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "f.pdf").read_bytes()[:5] == b"%PDF-"


def test_healpix_map_headers_follow_the_planck_products(tmp_path):
    """Galactic coordinates, the COSMO polarisation convention, Stokes column names (I only or
    I, Q, U), as in the Planck and CMB-ML maps."""
    handler = get_handler("healpix_map")
    for fields, names in ((1, ["I_STOKES"]), (3, ["I_STOKES", "Q_STOKES", "U_STOKES"])):
        path = tmp_path / f"m{fields}.fits"
        handler.write(path, np.zeros((fields, 12 * 4**2)).squeeze())
        header = fits.getheader(path, 1)
        assert header["COORDSYS"] == "G" and header["POLCCONV"] == "COSMO"
        assert [header[f"TTYPE{i + 1}"] for i in range(fields)] == names
        assert header["TUNIT1"] == "uK_CMB"


def test_figures_carry_no_creation_date(tmp_path):
    """The same figure gives the same PNG and PDF bytes whenever it is written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def draw(name):
        fig, ax = plt.subplots()
        ax.plot([0, 1], [1, 0])
        return get_handler("figure").write(tmp_path / name / "f.png", fig, also=["pdf"])

    first = draw("a")
    time.sleep(1.1)  # a creation date, if any, would differ
    second = draw("b")
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_healpix_unseen_pixels_are_refused_like_nan(tmp_path):
    """healpy marks missing pixels with UNSEEN (-1.6375e30): a map holding them is refused on
    read (a file from elsewhere) and on write, naming the file."""
    maps = np.ones((3, 12 * 4**2))
    maps[1, 7] = hp.UNSEEN
    path = tmp_path / "obs.fits"
    hp.write_map(str(path), maps, column_units="uK_CMB", dtype=np.float32)
    with pytest.raises(BadInputError, match="UNSEEN") as err:
        get_handler("healpix_map").read(path, nside=4, unit="uK_CMB")
    assert str(path) in str(err.value)
    with pytest.raises(BadInputError, match="UNSEEN"):
        get_handler("healpix_map").write(tmp_path / "out.fits", maps)
    assert not (tmp_path / "out.fits").exists()


def test_healpix_header_cards_are_written_and_read_back(tmp_path):
    path = tmp_path / "m.fits"
    cards = {"BEAMFWHM": (20.6, "arcmin"), "PIXWIN": (True, "pixel window"), "X": ("ab", "")}
    get_handler("healpix_map").write(path, np.ones(12 * 4**2), header=cards)
    header = fits.getheader(path, 1)
    assert header["BEAMFWHM"] == 20.6 and header["PIXWIN"] is True and header["X"] == "ab"
