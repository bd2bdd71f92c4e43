"""Pipeline stages of the ILC method (registry: cfg/stages/pyilc.yaml)."""
