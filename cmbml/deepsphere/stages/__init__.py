"""Pipeline stages of DeepSphere (scale, preprocess, train, predict, postprocess)."""
