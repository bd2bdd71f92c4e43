"""Hybrid: a network that corrects the needlet ILC (CNILC) map (McCarthy et al. 2024).

Its inputs are the CNILC prediction and the frequency maps; its target is the ILC's error,
truth - CNILC; its prediction is CNILC plus the predicted correction. The network is any of
the stacked-layout networks on NEST maps (default: DeepSphere's graph UNet, chosen by
``model.hybrid.network._target_``). CNILC must have run on the Train and Valid splits too
(``config_all_methods.yaml`` asks for it). Stages live in :mod:`cmbml.hybrid.stages`.
"""
