"""cmbml: a machine-learning benchmark for separating the CMB from foregrounds and noise."""

__version__ = "0.1.0"
