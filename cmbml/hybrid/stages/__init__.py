"""Pipeline stages of the Hybrid (scale, preprocess, train, predict, postprocess)."""
