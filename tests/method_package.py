"""A tiny cleaning method as an installable package, and a throw-away environment to install it.

The method (``onechannel``) predicts the CMB as one observed channel: crude, but a real method
for the pipeline (a stage, a catalog entry, a config group, the shared analysis stages and a
leaderboard row), declared through the ``cmbml.methods`` entry point.
"""

from __future__ import annotations

import site
import subprocess
import sys
import textwrap
from pathlib import Path

#: Shared analysis stages the package registers for its method (figures left out: time).
ANALYSIS = {
    "postprocess": "postprocess.AnalysisPostProcess",
    "pixel_metrics": "pixel_metrics.AnalysisPixelMetrics",
    "power_spectra": "power_spectra.AnalysisPowerSpectra",
    "summaries": "summaries.AnalysisSummaries",
}

STAGE = '''
"""Stage onechannel_predict: the observed map of one channel as the CMB prediction."""

from cmbml.core import Stage


class OneChannel(Stage):
    """Copy the intensity of ``obs_map`` at ``model.{name}.band`` to the prediction."""

    name = "{name}_predict"
    inputs = ("obs_map",)
    outputs = ("{name}_cmb_map_pred",)
    config_keys = ("model.{name}",)
    splits = ("Test",)

    def process_sim(self, split, sim):
        band = int(self.cfg.model.{name}.band)
        opts = {{"field": 0}}
        obs = self.read("obs_map", split=split, sim=sim, freq=band, options=opts)
        self.write("{name}_cmb_map_pred", obs, split=split, sim=sim)
'''


def _files(name: str, package: str) -> dict[str, str]:
    """Path (relative to the project folder) -> text of every file of the package."""
    analysis = "\n".join(
        f"{name}_analysis_{step}: {{_target_: cmbml.analysis.stages.{target}, method: {name}}}"
        for step, target in ANALYSIS.items()
    )
    task = [f"{name}_predict", "analysis_mask", *(f"{name}_analysis_{s}" for s in ANALYSIS)]
    cfg = f"{package}/cfg"
    return {
        "pyproject.toml": f"""
            [build-system]
            requires = ["setuptools>=61"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "{package.replace("_", "-")}"
            version = "0.1.0"

            [project.entry-points."cmbml.methods"]
            {name} = "{package}"

            [tool.setuptools.packages.find]
            include = ["{package}*"]

            [tool.setuptools.package-data]
            {package} = ["cfg/**/*.yaml"]
            """,
        f"{package}/__init__.py": "",
        f"{package}/stages.py": STAGE.format(name=name),
        f"{cfg}/catalog/{name}.yaml": f"""
            {name}_cmb_map_pred:
              path: "{{root}}/{{dataset}}/{{working}}/{{split}}/sim{{sim:04d}}/cmb_map_pred.fits"
              handler: healpix_map
            """,
        f"{cfg}/stages/{name}.yaml": (
            f"{name}_predict: {{_target_: {package}.stages.OneChannel, working: OneChannel}}\n"
            f"{analysis}\n"
        ),
        f"{cfg}/model/{name}/default.yaml": """
            band: 143
            fwhm_arcmin: 32.4  # its beam in assets/instrument/planck_detectors.csv
            """,
        f"{cfg}/methods/{name}.yaml": f"""
            # @package _global_
            defaults:
              - /catalog: {name}
              - /stages: {name}
              - /model/{name}: default
              - _self_

            model:
              analysis:
                methods:
                  {name}:
                    name: OneChannel
                    working: OneChannel
                    prediction: {name}_cmb_map_pred
                    beam: {{fwhm_arcmin: "${{model.{name}.fwhm_arcmin}}", pixwin: true}}
                    epochs: [null]
                compare:
                  extra_models:
                    {name}: {{model: OneChannel, working: OneChannel, epoch: null}}
            pipeline:
              method_tasks:
                {name}: [{", ".join(task)}]
            """,
    }


def write_method_package(folder: Path, name: str = "onechannel", package: str = "") -> Path:
    """Write the project of method ``name`` (Python package ``package``, default
    ``cmbml_<name>``) under ``folder``; return ``folder``."""
    for rel, text in _files(name, package or f"cmbml_{name}").items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return folder


def layered_venv(folder: Path) -> Path:
    """A virtual environment at ``folder`` that also sees this interpreter's packages (what
    ``--system-site-packages`` gives a venv made from a system Python); returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    own = subprocess.run(
        [str(python), "-c", "import site; print(site.getsitepackages()[0])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    parents = [p for p in site.getsitepackages() if Path(p).is_dir()]
    lines = [f"import site; site.addsitedir({p!r})" for p in parents]
    (Path(own) / "parent_environment.pth").write_text("\n".join(lines) + "\n")
    return python


def pip_install(python: Path, project: Path, *options: str) -> None:
    """``pip install --no-deps --no-build-isolation [options] project`` with ``python`` (into
    its environment, or where ``options`` say: ``--target folder``)."""
    proc = subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "-q"]
        + ["--disable-pip-version-check", "--no-index", *options, str(project)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
