"""CMBNNCS pipeline stages: scale, preprocess, train, predict, postprocess."""
