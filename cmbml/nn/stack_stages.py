"""Train, predict and postprocess stages of a network whose layout is a stack of items per
simulation (:class:`~cmbml.nn.stack.StackDataset`): PatchNN's patches, DeepSphere's NEST maps.

A method ``<method>`` names its products by convention (``_pol`` twins hold Q, U):
``<method>_obs`` / ``<method>_cmb`` (the preprocessed inputs and targets),
``<method>_checkpoint``, ``<method>_train_log``, ``<method>_pred`` and ``<method>_sigma``
(predicted items and their Monte-Carlo standard deviation), ``<method>_sigma_calibration``; it
implements :meth:`StackStage.build_network` and :meth:`StackStage.to_sphere`.
"""

from __future__ import annotations

import numpy as np
from hydra.utils import instantiate
from torch import nn

from cmbml.core import ConfigError
from cmbml.core.prediction import prediction_header
from cmbml.nn.fields import (
    NetworkStage,
    existing_paths,
    product,
    seed_for,
    split_sims,
    use_epochs,
)
from cmbml.nn.nest import nest_to_ring
from cmbml.nn.stack import StackDataset
from cmbml.nn.train_stage import TRAIN_KEYS, NetworkTrain
from cmbml.nn.training import predict_batches
from cmbml.nn.uncertainty import mc_predict, sigma_factor

__all__ = [
    "COVERAGE",
    "TRAIN_KEYS",
    "NestStage",
    "StackPostprocess",
    "StackPredict",
    "StackStage",
    "StackTrain",
    "entries",
    "predict_declarations",
]

#: Fraction of a Gaussian within +-1 sigma: the coverage a calibrated sigma gives.
COVERAGE = 0.6827


def entries(method: str, *names: str) -> tuple[str, ...]:
    """Catalog entries ``<method>_<name>`` and their ``_pol`` twins, for each name."""
    return tuple(e for n in names for e in (f"{method}_{n}", f"{method}_{n}_pol"))


def predict_declarations(method: str, *extra_keys: str) -> tuple[tuple[str, ...], ...]:
    """``(inputs, outputs, config_keys)`` of the predict stage of ``method``; ``extra_keys``
    are further ``model.<method>`` settings that define its network."""
    keys = ("use_epochs", "network", *extra_keys, "detectors", "mc_samples", "sigma_calibration")
    return (
        entries(method, "checkpoint", "obs", "cmb"),
        (*entries(method, "pred", "sigma"), f"{method}_sigma_calibration"),
        tuple(f"model.{method}.{key}" for key in keys),
    )


class StackStage(NetworkStage):
    """A stage of a stacked-layout network method."""

    def build_network(self, in_channels: int) -> nn.Module:
        """The method's network with ``in_channels`` inputs (checked against the scenario);
        by default ``model.<method>.network`` built for the maps' nside."""
        nside = int(self.cfg.scenario.nside)
        try:
            return instantiate(self.model.network, in_channels=int(in_channels), nside=nside)
        except ValueError as exc:
            raise ConfigError(
                f"model.{self.method}.network does not fit scenario.nside={nside}: {exc}"
            ) from exc

    def to_sphere(self, items: np.ndarray) -> np.ndarray:
        """RING maps ``(n, npix)`` of one simulation's stacked items ``(n_items, n, ...)``."""
        raise NotImplementedError

    def output_resolution(self) -> tuple[float, bool]:
        """The beam FWHM (arcmin) and pixel window of the predicted maps: the unbeamed CMB
        (``(0.0, False)``) for a network trained on the truth as stored."""
        return 0.0, False

    def baseline(self, split: str, sim: int, field: str) -> np.ndarray | float:
        """What the network's output corrects, added to its prediction after unscaling
        (uK_CMB, RING ``(npix,)``); 0 for a network that predicts the CMB itself."""
        return 0.0

    def datasets(self, units: list[tuple[str, int]], field: str, targets: bool):
        """The :class:`StackDataset` of ``units`` (with targets or not) for ``field``."""
        obs, values = product(f"{self.method}_obs", field)
        cmb, _ = product(f"{self.method}_cmb", field)
        features = existing_paths(self, obs, units, **values)
        return StackDataset(
            features, existing_paths(self, cmb, units, **values) if targets else None
        )


class NestStage(StackStage):
    """A stacked-layout stage whose items are one NEST map stack ``(1, n, npix)`` per
    simulation (the graph networks)."""

    def to_sphere(self, items: np.ndarray) -> np.ndarray:
        """RING maps ``(n, npix)`` of a NEST stack ``(1, n, npix)``."""
        return nest_to_ring(items)


class StackTrain(StackStage, NetworkTrain):
    """Train one ``model.<method>.network`` per Stokes field on every item of the Train
    simulations (L1 loss, Adam, exponential learning-rate decay; ``lr_min = lr``: constant),
    validating on Valid; checkpoints and exact resume of
    :class:`~cmbml.nn.train_stage.NetworkTrain`, also under ``torchrun``."""

    def run(self) -> None:
        for field in self.fields():
            train_set = self.datasets(split_sims(self.cfg, "Train"), field, True)
            valid_set = self.datasets(split_sims(self.cfg, "Valid"), field, True)
            self.train_field(field, train_set, valid_set, self.build_network)


class StackPredict(StackStage):
    """Predict every Test simulation with each epoch's checkpoint, field by field.

    With ``model.<method>.mc_samples >= 2`` (a network with dropout) the prediction is the
    mean of that many Monte-Carlo dropout samples and their standard deviation is written to
    ``<method>_sigma``. With ``model.<method>.sigma_calibration=valid`` that standard deviation
    is multiplied by one factor per field and epoch fitted on the Valid split (never on Test):
    the quantile 0.6827 of ``|prediction - truth| / sigma`` over every Valid pixel, so that
    +-sigma covers 68.27 % of the Valid pixels (``<method>_sigma_calibration``: the factor and
    the Valid coverage before it). Outputs are in units of the field's scaled target.
    """

    per_sim = False
    splits = ("Test",)
    infer = True
    covers_units = True

    def run(self) -> None:
        units = list(self.units())
        for field in self.fields():
            for epoch in use_epochs(self.cfg, self.method):
                self._predict(field, epoch, units)

    def _predict(self, field: str, epoch: int, units: list[tuple[str, int]]) -> None:
        name, values = product(f"{self.method}_checkpoint", field)
        checkpoint = self.read(name, epoch=epoch, **values)
        dataset = self.datasets(units, field, False)
        network = self.build_network(dataset.n_channels)
        network.load_state_dict(checkpoint["model"])
        factor = self._calibrate(network, field, epoch)
        for (split, sim), path in zip(units, dataset.feature_paths, strict=True):
            mean, sigma = self._sample(network, path, field, split, sim)
            where = {"split": split, "sim": sim, "epoch": epoch, **values}
            if sigma is not None:
                self.write(product(f"{self.method}_sigma", field)[0], sigma * factor, **where)
            self.write(product(f"{self.method}_pred", field)[0], mean, **where)
        self.log.info("%s, epoch %d: predicted %d simulations", field, epoch, len(units))

    def _sample(self, network, path, field: str, split: str, sim: int):
        """Prediction of one simulation's items and its Monte-Carlo standard deviation (None
        without samples)."""
        settings = self.model
        dataset = StackDataset([path])
        options = {"batch_size": int(settings.batch_size), "device": settings.device}
        n_samples = int(settings.mc_samples or 0)
        if n_samples < 2:
            return np.concatenate(list(predict_batches(network, dataset, **options))), None
        seed = seed_for(self.cfg, self.method, f"mc_{split}_{sim}", field)
        means, sigmas = zip(
            *mc_predict(network, dataset, n_samples, seed=seed, **options), strict=True
        )
        return np.concatenate(means), np.concatenate(sigmas)

    def _calibrate(self, network, field: str, epoch: int) -> float:
        """The factor of the Monte-Carlo sigma of ``field`` (1 without calibration), fitted on
        the Valid split and written to ``<method>_sigma_calibration``."""
        key = f"model.{self.method}.sigma_calibration"
        rule = str(self.model.get("sigma_calibration") or "none")
        if rule not in ("none", "valid"):
            raise ConfigError(f"{key} must be 'none' or 'valid', got {rule!r}")
        if rule == "none" or int(self.model.mc_samples or 0) < 2:
            return 1.0
        sims = split_sims(self.cfg, "Valid")
        if not sims:
            raise ConfigError(f"{key}=valid needs Valid simulations")
        valid = self.datasets(sims, field, True)
        residuals, sigmas = [], []
        for (split, sim), obs, truth in zip(
            sims, valid.feature_paths, valid.target_paths, strict=True
        ):
            mean, sigma = self._sample(network, obs, field, split, sim)
            residuals.append((mean - np.load(truth)).ravel())
            sigmas.append(sigma.ravel())
        residuals, sigmas = np.concatenate(residuals), np.concatenate(sigmas)
        try:
            factor = sigma_factor(residuals, sigmas, COVERAGE)
        except ValueError as error:
            raise ConfigError(
                f"{key}=valid cannot calibrate the Monte-Carlo sigma of {field} (epoch {epoch}) "
                f"on the Valid split: {error}. Where every dropout sample agrees, the features "
                "before the dropout are 0 (a collapsed or under-trained network) or too few "
                f"samples were drawn: train longer (model.{self.method}.num_epochs), raise "
                f"model.{self.method}.mc_samples or the dropout, or set {key}=none to keep the "
                "raw sigma"
            ) from error
        before = float(np.mean(np.abs(residuals) <= sigmas))
        self.log.info(
            "%s, epoch %d: sigma x %.3f (Valid coverage of +-sigma before: %.3f)",
            field,
            epoch,
            factor,
            before,
        )
        calibration = {"factor": factor, "valid_coverage_before": before, "n_pixels": sigmas.size}
        self.write(f"{self.method}_sigma_calibration", calibration, field=field, epoch=epoch)
        return factor


class StackPostprocess(StackStage):
    """Undo the target scaling and the layout of each field's prediction (and sigma).

    Reads ``<method>_scale`` and ``<method>_pred`` (and ``<method>_sigma``) / ``_pol``. Writes
    ``cmb_map_pred`` (split, sim, epoch): unbeamed CMB at the scenario's nside, RING, uK_CMB,
    ``(npix,)`` (I) or ``(3, npix)`` (I, Q, U); with Monte-Carlo samples also
    ``cmb_map_sigma``, its per-pixel standard deviation, same shape and unit.
    """

    outputs = ("cmb_map_pred", "cmb_map_sigma")
    per_sim = True
    splits = ("Test",)
    infer = True

    def process_sim(self, split: str, sim: int) -> None:
        fields = self.fields()
        targets = {}
        for field in fields:
            name, values = product(f"{self.method}_scale", field)
            targets[field] = float(self.read(name, **values)["target"])
        outputs = {f"{self.method}_pred": "cmb_map_pred"}
        if int(self.model.mc_samples or 0) >= 2:
            outputs[f"{self.method}_sigma"] = "cmb_map_sigma"
        for epoch in use_epochs(self.cfg, self.method):
            for source, target in outputs.items():
                maps = []
                for field in fields:
                    name, values = product(source, field)
                    items = self.read(name, split=split, sim=sim, epoch=epoch, **values)
                    sphere = self.to_sphere(np.asarray(items, dtype=np.float64))[0]
                    sphere = sphere * targets[field]
                    if target == "cmb_map_pred":
                        sphere = sphere + self.baseline(split, sim, field)
                    maps.append(sphere)
                cmb = maps[0] if fields == ["I"] else np.stack(maps)
                options = {"unit": "uK_CMB"}
                if target == "cmb_map_pred":  # what the analysis checks before scoring it
                    fwhm, pixwin = self.output_resolution()
                    options["header"] = prediction_header(self, (split, sim), fwhm, pixwin)
                self.write(target, cmb, options=options, split=split, sim=sim, epoch=epoch)
