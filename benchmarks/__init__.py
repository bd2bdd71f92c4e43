"""Benchmarks of cmbml: ``python benchmarks/run.py --out results.json``."""
