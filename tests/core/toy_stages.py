"""Toy stages used by the framework tests: per-sim arrays, FITS maps, a table and a figure."""

import time

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


class ToyMap(Stage):
    """Per simulation: a HEALPix FITS map (nside 4) from ``toy_a``; sleeps ``toy.sleep_s``."""

    name = "toy_map"
    inputs = ("toy_a",)
    outputs = ("toy_map",)

    def process_sim(self, split, sim):
        time.sleep(float(self.cfg.toy.get("sleep_s", 0.0)))
        data = self.read("toy_a", split=split, sim=sim)
        self.write("toy_map", np.resize(data, 192), split=split, sim=sim)


class ToyReport(Stage):
    """Whole dataset: a CSV table of every map's mean and a figure of them (PNG and PDF)."""

    name = "toy_report"
    inputs = ("toy_map",)
    outputs = ("toy_table", "toy_figure")
    per_sim = False
    covers_units = True

    def run(self):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import pandas as pd

        rows = [
            {"split": s, "sim": i, "mean": float(self.read("toy_map", split=s, sim=i).mean())}
            for s, i in self.units()
        ]
        table = pd.DataFrame(rows)
        self.write("toy_table", table)
        fig, ax = plt.subplots(figsize=(3, 2))
        ax.plot(table["mean"].to_numpy(), "o-")
        self.write("toy_figure", fig)


class ToyNumerics(Stage):
    """Whole dataset: records what a unit sees of the process's numeric state (thread count,
    draws of the global random generators, default dtype, backend flags) into a JSON file."""

    name = "toy_numerics"
    outputs = ("toy_numerics",)
    per_sim = False

    def run(self):
        import random

        import torch

        self.write(
            "toy_numerics",
            {
                "torch_threads": torch.get_num_threads(),
                "numpy": np.random.random(3).tolist(),
                "python": random.random(),
                "torch": torch.rand(3, dtype=torch.float64).tolist(),
                "default_dtype": str(torch.get_default_dtype()),
                "cudnn_benchmark": torch.backends.cudnn.benchmark,
                "cudnn_deterministic": torch.backends.cudnn.deterministic,
                "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
                "matmul_precision": torch.get_float32_matmul_precision(),
                "matmul_tf32": torch.backends.cuda.matmul.allow_tf32,
            },
        )
