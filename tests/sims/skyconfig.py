"""The default foreground config and sky windows shared by the foreground tests."""

from pathlib import Path

import healpy as hp
import numpy as np
from omegaconf import OmegaConf

CONFIG = Path(__file__).resolve().parents[2] / "cfg/model/sim/foregrounds/synthetic.yaml"


def config() -> dict:
    """``model.sim.foregrounds`` of the default (synthetic) config, as a plain dict."""
    return OmegaConf.to_container(OmegaConf.load(CONFIG))


def galactic_components() -> dict:
    """The galactic components of the default config (entries without ``kind``)."""
    return {k: v for k, v in config()["components"].items() if "kind" not in v}


def galaxy() -> dict:
    """The shared Galactic geometry of the default config."""
    return config()["galaxy"]


def taper(x):
    """0 below 0, 1 above 1, sin^2 in between."""
    return np.sin(np.clip(x, 0, 1) * np.pi / 2) ** 2


def high_latitude_window(nside, min_b_deg=30.0, taper_deg=15.0):
    """|b| > min_b_deg (tapered) without the configured clouds, as the Planck LR masks cut them.

    Each cloud of ``galaxy.structures`` (shells such as Loop I stay in) is cut within twice its
    width, with a 5 deg taper.
    """
    vec = np.array(hp.pix2vec(nside, np.arange(12 * nside**2)))
    w = taper((np.abs(np.degrees(np.arcsin(vec[2]))) - min_b_deg) / taper_deg)
    for s in galaxy()["structures"].values():
        if "width_deg" in s:
            continue
        centre = hp.ang2vec(s["l_deg"], s["b_deg"], lonlat=True)
        dist = np.degrees(np.arccos(np.clip(centre @ vec, -1, 1)))
        w *= taper((dist - 2 * s["radius_deg"]) / 5.0)
    return w
