"""Two toy stages used by the framework tests: one writes per-sim arrays, one reads them."""

import numpy as np

from cmbml.core import Stage


class ToyWrite(Stage):
    """Writes a seeded random vector per simulation, scaled by ``toy.scale``."""

    name = "toy_write"
    outputs = ("toy_a",)
    config_keys = ("toy",)

    def process_sim(self, split, sim):
        if self.cfg.get("toy_fail_at") == f"{split}/{sim}":
            raise RuntimeError(f"toy failure at {split}/{sim}")
        rng = self.rng(split, sim, component="toy")
        self.write("toy_a", rng.standard_normal(64) * self.cfg.toy.scale, split=split, sim=sim)


class ToyRead(Stage):
    """Reads ``toy_a`` and writes its doubled cumulative sum."""

    name = "toy_read"
    inputs = ("toy_a",)
    outputs = ("toy_b",)

    def process_sim(self, split, sim):
        data = self.read("toy_a", split=split, sim=sim)
        self.write("toy_b", 2.0 * np.cumsum(data), split=split, sim=sim)


class ToySummary(Stage):
    """A whole-dataset stage: the mean of every ``toy_b`` file into one YAML."""

    name = "toy_summary"
    inputs = ("toy_b",)
    outputs = ("toy_summary",)
    per_sim = False

    def run(self):
        means = {
            f"{s}/{i}": float(self.read("toy_b", split=s, sim=i).mean()) for s, i in self.units()
        }
        self.write("toy_summary", means)
