"""Native needlet and harmonic internal linear combination (the ``pyilc`` method).

PyILC's CNILC / HILC algorithms, vectorised and in memory::

    from cmbml.ilc import needlet_ilc, harmonic_ilc

    cmb = needlet_ilc(maps, beams_arcmin, ellpeaks=[100, 200, 300, 383], output_fwhm_arcmin=20.6)

``maps`` of shape ``(n_freq, npix)`` give the intensity ILC; ``(n_freq, 3, npix)`` I, Q, U (with
``polarised`` flags for the channels that have Q, U) give I, Q, U, with E and B cleaned
separately (``deproject_pol`` for the polarised constraints).
"""

from cmbml.ilc.covariance import ilc_bias_fwhm, local_covariance, smooth_maps, smoothing_lmax
from cmbml.ilc.harmonic import harmonic_bin_edges, harmonic_covariance, harmonic_ilc
from cmbml.ilc.needlet import ScaleWeights, apply_needlet_weights, needlet_ilc, needlet_windows
from cmbml.ilc.seds import cmb_sed, dust_sed, rj_to_cmb, synchrotron_sed, tsz_sed
from cmbml.ilc.weights import ilc_weights, ilc_weights_from_pairs, mixing_matrix, pair_indices
from cmbml.ilc.windows import (
    channels_in_use,
    cosine_needlet_windows,
    gaussian_needlet_windows,
    scale_nsides,
    tophat_windows,
    window_ell_f,
    window_support,
)

__all__ = [
    "ScaleWeights",
    "apply_needlet_weights",
    "channels_in_use",
    "cmb_sed",
    "cosine_needlet_windows",
    "dust_sed",
    "gaussian_needlet_windows",
    "harmonic_bin_edges",
    "harmonic_covariance",
    "harmonic_ilc",
    "ilc_bias_fwhm",
    "ilc_weights",
    "ilc_weights_from_pairs",
    "local_covariance",
    "mixing_matrix",
    "needlet_ilc",
    "needlet_windows",
    "pair_indices",
    "rj_to_cmb",
    "scale_nsides",
    "smooth_maps",
    "smoothing_lmax",
    "synchrotron_sed",
    "tophat_windows",
    "tsz_sed",
    "window_ell_f",
    "window_support",
]
