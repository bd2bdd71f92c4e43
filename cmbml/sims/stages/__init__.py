"""Pipeline stages of the simulation (one class per file)."""
