"""Large-scale morphology of the synthetic Galaxy: the intensity envelope and the ordered field.

Intensity envelope of a component (Galactic coordinates, ``A`` its brightness at the poles):

``P(l, b) = A [ S(b') (1 + c K(l, b)) + sum_s a_s F_s(l, b) ]``

* ``S(b') = ((1 + eps**2) / (sin(b')**2 + eps**2))**(g / 2)``: a cosec slab (``g = 1``, the
  ``slab_index``; a larger ``g`` brightens low and intermediate latitudes faster than a
  plane-parallel disc, as the local clouds and the Gould belt do) of thickness ``eps``
  (radians) around a warped mid-plane, ``b' = b - w cos(l - l_w)`` (the outer disc's warp rises
  towards l_w ~ 90 deg and dips towards l ~ 270 deg).
* ``K = exp(-dl**2 / 2 sigma_l**2 - db**2 / 2 sigma_b**2)``: the inner Galaxy, elongated along
  the plane around ``(l_c, b_c)``; placed off the Galactic centre, it makes the inner Galaxy
  brighter on one side (the first quadrant holds the tangents of the Scutum and Sagittarius
  arms). At the poles ``K ~ 0``, so that ``P ~ A`` there.
* ``F_s``: named structures, shared by every component, each component giving its own
  brightness ``a_s`` (in units of ``A``): clouds ``exp(-d**2 / 2 r**2)`` (the Gould-belt clouds
  Orion, Taurus, Ophiuchus, Chamaeleon, Cepheus / Polaris, and the Magellanic Clouds) and shells
  ``exp(-(d - R)**2 / 2 w**2)`` (Loop I, whose North Polar Spur rises from the plane at
  l ~ 30 deg), optionally faded below a latitude ``min_b_deg``.

The ordered (mean) magnetic field is uniform, ``B_0`` pointing to ``(l_0, b_0)`` (Planck
intermediate results XLIV: the local field lies along the plane, towards l ~ 70 deg). Emission
is polarised perpendicular to the field's projection ``B_perp`` on the sky with a geometric
fraction ``|B_perp|**2 / |B_0|**2``, so that in the local basis ``(e_theta, e_phi)``

``Q = (B_phi**2 - B_theta**2) / |B_0|**2``,  ``U = -2 B_theta B_phi / |B_0|**2``

(HEALPix / COSMO convention, ``U_IAU = -U``). Along the plane ``B_perp`` lies in the plane, so
Q > 0 there (polarisation perpendicular to the plane), and lines of sight along the field
(l ~ 70 and 250 deg) are depolarised.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import healpy as hp
import numpy as np

__all__ = [
    "galactic_profile",
    "ordered_polarisation",
    "pixel_lonlat",
    "pixel_vectors",
    "require_key",
    "structure_shape",
    "unit_vector",
]


def require_key(cfg: Mapping, key: str, where: str):
    """``cfg[key]``, or a KeyError naming ``key`` and the config section ``where``.

    Parameters
    ----------
    cfg : Mapping
        A section of the foreground config.
    key : str
        The required key.
    where : str
        Dotted name of the section, for the error message.

    Returns
    -------
    object
        ``cfg[key]``.

    Raises
    ------
    KeyError
        ``key`` is not in ``cfg``.
    """
    if key not in cfg:
        raise KeyError(f"foreground config {where!r} lacks key {key!r}")
    return cfg[key]


@functools.lru_cache(maxsize=1)
def _geometry(nside: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    vec = np.array(hp.pix2vec(nside, np.arange(hp.nside2npix(nside))), dtype=np.float32)
    return vec, np.arctan2(vec[1], vec[0]), np.arcsin(vec[2])


def pixel_vectors(nside: int) -> np.ndarray:
    """Unit vectors ``(3, npix)`` of RING pixels (float32; cached for the last nside)."""
    return _geometry(nside)[0]


def pixel_lonlat(nside: int) -> tuple[np.ndarray, np.ndarray]:
    """Galactic longitude and latitude (radians, float32; cached for the last nside)."""
    return _geometry(nside)[1:]


def unit_vector(l_deg: float, b_deg: float) -> np.ndarray:
    """Unit vector ``(3,)`` towards Galactic ``(l_deg, b_deg)``."""
    lon, lat = np.radians(l_deg), np.radians(b_deg)
    return np.array([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])


def structure_shape(nside: int, geometry: Mapping, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Shape ``F_s`` of one structure (peak 1) where it exceeds ~4e-6 (5 widths).

    Parameters
    ----------
    nside : int
        HEALPix resolution.
    geometry : Mapping
        ``l_deg``, ``b_deg``, ``radius_deg`` (Gaussian width of a cloud, or the radius of a
        shell) and, for a shell, ``width_deg``; optional ``min_b_deg`` fades the structure below
        that latitude over 3 deg.
    where : str
        Config key (named in errors).

    Returns
    -------
    tuple of np.ndarray
        RING pixel indices and ``F_s`` there (0 elsewhere).
    """
    vec = pixel_vectors(nside)
    centre = unit_vector(
        float(require_key(geometry, "l_deg", where)), float(require_key(geometry, "b_deg", where))
    )
    radius = np.radians(float(require_key(geometry, "radius_deg", where)))
    if radius <= 0:
        raise ValueError(f"{where}.radius_deg must be > 0, got {np.degrees(radius)}")
    width = np.radians(float(geometry.get("width_deg", 0.0)))
    if "width_deg" in geometry and width <= 0:
        raise ValueError(f"{where}.width_deg must be > 0")
    reach = radius + 5.0 * width if width else 5.0 * radius
    pix = hp.query_disc(nside, centre, min(reach, np.pi), inclusive=True)
    dist = np.arccos(np.clip(centre @ vec[:, pix], -1.0, 1.0))
    if width:
        shape = np.exp(-0.5 * ((dist - radius) / width) ** 2)
    else:
        shape = np.exp(-0.5 * (dist / radius) ** 2)
    if "min_b_deg" in geometry:
        lat = np.degrees(np.arcsin(vec[2, pix], dtype=np.float64))
        shape *= 0.5 * (1.0 + np.tanh((lat - float(geometry["min_b_deg"])) / 3.0))
    return pix, shape


def galactic_profile(nside: int, template: Mapping, galaxy: Mapping | None = None) -> np.ndarray:
    """Intensity envelope ``P(l, b)`` of one component (see the module docstring).

    Parameters
    ----------
    nside : int
        HEALPix resolution (Galactic coordinates, RING).
    template : Mapping
        The component's ``template`` config: ``amplitude`` (at the poles, e.g. uK_RJ),
        ``disk_epsilon`` (> 0, radians), optional ``slab_index`` (g > 0, default 1),
        ``center_boost`` (c >= 0), ``center_width_deg`` (``[sigma_l, sigma_b]`` > 0, default
        ``[30, 5]``) and ``structures`` (``{name: a_s}``, names of ``galaxy.structures``).
    galaxy : Mapping, optional
        Shared geometry: ``warp`` (``amplitude_deg``, ``longitude_deg``), ``inner_galaxy``
        (``l_deg``, ``b_deg``) and ``structures`` (``{name: geometry}``, see
        :func:`structure_shape`). Missing parts are absent (a flat plane centred on l = 0).

    Returns
    -------
    np.ndarray
        ``(npix,)`` positive profile in the unit of ``amplitude``.
    """
    galaxy = galaxy or {}
    amplitude = float(require_key(template, "amplitude", "template"))
    eps = float(require_key(template, "disk_epsilon", "template"))
    index = float(template.get("slab_index", 1.0))
    boost = float(template.get("center_boost", 0.0))
    sigma_l, sigma_b = (float(w) for w in template.get("center_width_deg", (30.0, 5.0)))
    if eps <= 0 or index <= 0 or boost < 0 or sigma_l <= 0 or sigma_b <= 0:
        raise ValueError(
            "galactic profile needs disk_epsilon > 0, slab_index > 0, center_boost >= 0 and "
            f"center_width_deg > 0, got {eps}, {index}, {boost}, {[sigma_l, sigma_b]}"
        )
    lon, lat = pixel_lonlat(nside)
    warp = galaxy.get("warp") or {}
    tilt = np.radians(float(warp.get("amplitude_deg", 0.0)))
    phase = np.radians(float(warp.get("longitude_deg", 90.0)))
    lat_disc = lat - np.float32(tilt) * np.cos(lon - np.float32(phase)) if tilt else lat
    out = np.square(np.sin(lat_disc), dtype=np.float64)
    out += eps**2
    np.divide(1.0 + eps**2, out, out=out)
    if index == 1.0:
        np.sqrt(out, out=out)
    else:
        out **= 0.5 * index
    out *= amplitude  # amplitude * slab
    if boost:
        inner = galaxy.get("inner_galaxy") or {}
        d_lon = lon - np.float32(np.radians(float(inner.get("l_deg", 0.0))) - np.pi)
        d_lon %= np.float32(2 * np.pi)
        d_lon -= np.float32(np.pi)  # in [-pi, pi)
        d_lon *= np.float32(180.0 / np.pi / sigma_l)
        d_lat = np.degrees(lat_disc) - float(inner.get("b_deg", 0.0))
        d_lat /= sigma_b
        k = np.square(d_lon, dtype=np.float64)
        k += np.square(d_lat)
        k *= -0.5
        np.exp(k, out=k)
        k *= boost
        k += 1.0
        out *= k
    shapes = galaxy.get("structures") or {}
    for name, brightness in (template.get("structures") or {}).items():
        if name not in shapes:
            raise KeyError(
                f"template.structures.{name}: no such structure in galaxy.structures "
                f"(known: {sorted(shapes)})"
            )
        if brightness:
            pix, shape = structure_shape(nside, shapes[name], f"galaxy.structures.{name}")
            out[pix] += amplitude * float(brightness) * shape
    return out


def ordered_polarisation(nside: int, l_deg: float, b_deg: float) -> np.ndarray:
    """Q, U pattern of a uniform field towards ``(l_deg, b_deg)``, ``(2, npix)``, ``|Q + iU| <= 1``.

    ``|Q + iU| = |B_perp|**2 / |B_0|**2``; the polarisation is perpendicular to ``B_perp``
    (HEALPix convention, see the module docstring).
    """
    # local basis: e_theta = (sin b cos l, sin b sin l, -cos b) (south), e_phi = (-sin l, cos l, 0)
    x, y, z = pixel_vectors(nside).astype(np.float64)
    bx, by, bz = unit_vector(l_deg, b_deg)
    rho = np.hypot(x, y)  # cos(b) > 0 at every pixel centre
    b_phi = (x * by - y * bx) / rho
    b_theta = z * (x * bx + y * by) / rho - rho * bz
    return np.stack([b_phi**2 - b_theta**2, -2.0 * b_theta * b_phi])
