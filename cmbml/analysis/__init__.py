"""Analysis of cleaned CMB maps: post-processing, pixel metrics, power spectra, tables, figures.

Pure functions live in :mod:`~cmbml.analysis.metrics`, :mod:`~cmbml.analysis.postprocess`,
:mod:`~cmbml.analysis.spectra`, :mod:`~cmbml.analysis.tables` and :mod:`~cmbml.analysis.figures`;
pipeline stages in :mod:`cmbml.analysis.stages`.
"""
