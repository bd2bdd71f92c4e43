"""Pipeline stages of PatchNN (scale, preprocess, train, predict, postprocess)."""
