"""A small cleaning method for notebook E: harmonic inverse-noise-weighted co-addition.

Each frequency channel's map is brought to a common resolution in harmonic space and the
channels are averaged with, at every multipole, weights inversely proportional to their
beam-deconvolved white-noise power. The weights sum to one, so the CMB (a blackbody, the same
in every channel in uK_CMB) passes through unchanged; foregrounds are *not* removed, only
diluted. It is the simplest "method" that is better than a single channel, and a baseline an
ILC should beat.

This module is what a user writes outside the ``cmbml`` package: a pure function (numpy in,
numpy out) and a :class:`cmbml.core.Stage` that reads and writes through the catalog.
``E_adding_a_method.ipynb`` puts it in a method package (``cmbml_coadd``, entry point
``cmbml.methods``), installs it with pip and runs it through the scripts
(``docs/adding-a-method.md``).
"""

from __future__ import annotations

import numpy as np
from omegaconf import OmegaConf

from cmbml import sphere
from cmbml.core import Stage
from cmbml.core.errors import BadInputError

__all__ = ["InverseNoiseCoadd", "coadd_weights", "inverse_noise_coadd"]


def coadd_weights(beams: np.ndarray, noise_cl: np.ndarray) -> np.ndarray:
    """Per-multipole inverse-noise weights of beam-deconvolved channels.

    Channel ``i`` deconvolved by its beam ``b_i(l)`` has white-noise power ``N_i / b_i(l)^2``;
    the minimum-variance unbiased average weights it by
    ``w_i(l) = (b_i(l)^2 / N_i) / sum_j (b_j(l)^2 / N_j)``.

    Parameters
    ----------
    beams : np.ndarray
        ``(n_freq, lmax + 1)`` beam transfer functions ``b_i(l)``.
    noise_cl : np.ndarray
        ``(n_freq,)`` white-noise angular power of each channel, uK_CMB^2 sr.

    Returns
    -------
    np.ndarray
        ``(n_freq, lmax + 1)`` weights; they sum to 1 over channels at every multipole.
    """
    beams = np.asarray(beams, dtype=np.float64)
    noise_cl = np.asarray(noise_cl, dtype=np.float64)
    if beams.ndim != 2 or noise_cl.shape != (beams.shape[0],):
        raise ValueError(
            f"beams must be (n_freq, lmax + 1) and noise_cl (n_freq,), got {beams.shape} "
            f"and {noise_cl.shape}"
        )
    if np.any(noise_cl <= 0):
        raise ValueError(f"noise_cl must be positive, got {noise_cl}")
    inverse = beams**2 / noise_cl[:, None]
    return inverse / inverse.sum(axis=0)


def inverse_noise_coadd(
    maps: np.ndarray,
    fwhm_arcmin: np.ndarray,
    noise_cl: np.ndarray,
    output_fwhm_arcmin: float,
    lmax: int,
) -> np.ndarray:
    """Co-add frequency maps with per-multipole inverse-noise weights, at a common beam.

    Parameters
    ----------
    maps : np.ndarray
        ``(n_freq, npix)`` RING maps in uK_CMB, channel ``i`` at Gaussian beam
        ``fwhm_arcmin[i]`` (they may share a pixel window, which the output keeps).
    fwhm_arcmin : np.ndarray
        ``(n_freq,)`` beam FWHM of each channel, arcmin.
    noise_cl : np.ndarray
        ``(n_freq,)`` white-noise angular power of each channel, uK_CMB^2 sr (for pixel noise
        of standard deviation ``sigma``: ``mean(sigma^2) * 4 pi / npix``).
    output_fwhm_arcmin : float
        Gaussian beam of the result, arcmin.
    lmax : int
        Band limit of the transforms.

    Returns
    -------
    np.ndarray
        ``(npix,)`` co-added map, uK_CMB, at ``output_fwhm_arcmin``.
    """
    maps = np.asarray(maps, dtype=np.float64)
    fwhm_arcmin = np.asarray(fwhm_arcmin, dtype=np.float64)
    if maps.ndim != 2 or fwhm_arcmin.shape != (maps.shape[0],):
        raise ValueError(
            f"maps must be (n_freq, npix) with one FWHM per map, got {maps.shape} "
            f"and {fwhm_arcmin.shape}"
        )
    nside = int(np.sqrt(maps.shape[1] / 12))
    beams = np.array([sphere.gaussian_beam(f, lmax) for f in fwhm_arcmin])
    weights = coadd_weights(beams, noise_cl)
    # channel i contributes b_out w_i / b_i: deconvolve, weight, reconvolve, in one filter
    filters = sphere.gaussian_beam(output_fwhm_arcmin, lmax) * weights / beams
    alm = sphere.map2alm(maps, lmax, niter=3)
    return sphere.alm2map(sphere.almxfl(alm, filters).sum(axis=0), nside, lmax)


class InverseNoiseCoadd(Stage):
    """Clean each Test simulation by inverse-noise co-addition (:func:`inverse_noise_coadd`).

    Config ``model.coadd``: ``detectors`` (bands used), ``output_fwhm_arcmin`` (beam of the
    result). Reads, per band, the intensity of ``obs_map`` and ``noise_sigma``, and the beams
    of ``detector_table``; writes ``coadd_cmb_map_pred`` (uK_CMB, the inputs' pixel window,
    Gaussian beam ``output_fwhm_arcmin``) in the registry setting ``working`` folder.
    """

    name = "coadd_predict"
    inputs = ("obs_map", "noise_sigma", "detector_table")
    outputs = ("coadd_cmb_map_pred",)
    config_keys = ("scenario", "model.coadd")
    per_sim = True
    splits = ("Test",)

    def process_sim(self, split: str, sim: int) -> None:
        """Write ``coadd_cmb_map_pred`` for (split, sim)."""
        model = OmegaConf.to_container(self.cfg.model.coadd, resolve=True)
        nside = int(self.cfg.scenario.nside)
        bands = [int(b) for b in model["detectors"]]
        table = self.read("detector_table").set_index("band")
        missing = [b for b in bands if b not in table.index]
        if missing:
            raise BadInputError(
                f"model.coadd.detectors {missing} are not in {self.path('detector_table')}"
            )
        opts = {"field": 0, "nside": nside}
        maps = np.stack(
            [self.read("obs_map", split=split, sim=sim, freq=b, options=opts) for b in bands]
        )
        sigma2 = np.array(
            [np.mean(self.read("noise_sigma", freq=b, options=opts) ** 2) for b in bands]
        )
        noise_cl = sigma2 * 4 * np.pi / maps.shape[1]
        prediction = inverse_noise_coadd(
            maps,
            table.loc[bands, "fwhm_arcmin"].to_numpy(float),
            noise_cl,
            float(model["output_fwhm_arcmin"]),
            lmax=3 * nside - 1,
        )
        self.write("coadd_cmb_map_pred", prediction, split=split, sim=sim)
