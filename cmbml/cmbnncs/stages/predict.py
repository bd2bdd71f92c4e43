"""Stage cmbnncs_predict: CMB planes predicted by the trained CMBNNCS network of each field."""

from __future__ import annotations

from cmbml.cmbnncs.data import PlaneDataset
from cmbml.cmbnncs.stages._common import (
    CmbnncsStage,
    build_network,
    existing_paths,
    product,
    use_epochs,
)
from cmbml.nn.training import predict_batches


class CmbnncsPredict(CmbnncsStage):
    """Predict the (scaled) CMB plane of every Test simulation with each epoch's checkpoint,
    field by field.

    Config: ``model.cmbnncs.use_epochs``, ``network``, ``detectors``, ``fields``,
    ``batch_size``, ``amp``, ``device``. Reads, per field, ``cmbnncs_checkpoint`` /
    ``cmbnncs_checkpoint_pol`` (epoch) and ``cmbnncs_obs_plane`` / ``cmbnncs_obs_plane_pol`` of
    the Test splits (up to ``n_infer_cap``). Writes ``cmbnncs_pred_plane`` /
    ``cmbnncs_pred_plane_pol`` (split, sim, epoch; float32 ``(1, 4*nside, 3*nside)``, in units
    of the field's scaled target).
    """

    name = "cmbnncs_predict"
    inputs = (
        "cmbnncs_checkpoint",
        "cmbnncs_checkpoint_pol",
        "cmbnncs_obs_plane",
        "cmbnncs_obs_plane_pol",
    )
    outputs = ("cmbnncs_pred_plane", "cmbnncs_pred_plane_pol")
    config_keys = (
        "model.cmbnncs.use_epochs",
        "model.cmbnncs.network",
        "model.cmbnncs.detectors",
        "model.cmbnncs.amp",
    )
    per_sim = False
    splits = ("Test",)
    observations = True  # also the observation-only splits (real maps)
    infer = True
    covers_units = True

    def run(self) -> None:
        units = list(self.units())
        for field in self.fields():
            self._predict(field, units)

    def _predict(self, field: str, units: list[tuple[str, int]]) -> None:
        mc = self.cfg.model.cmbnncs
        obs, values = product("cmbnncs_obs_plane", field)
        checkpoint_name, _ = product("cmbnncs_checkpoint", field)
        pred_name, _ = product("cmbnncs_pred_plane", field)
        dataset = PlaneDataset(existing_paths(self, obs, units, **values))
        for epoch in use_epochs(self.cfg):
            checkpoint = self.read(checkpoint_name, epoch=epoch, **values)
            network = build_network(self.cfg, dataset.n_channels)
            network.load_state_dict(checkpoint["model"])
            predictions = predict_batches(
                network,
                dataset,
                batch_size=int(mc.batch_size),
                device=mc.device,
                amp=bool(mc.amp),
                num_workers=int(mc.num_workers),
            )
            done = 0
            for batch in predictions:
                for plane in batch:
                    split, sim = units[done]
                    self.write(pred_name, plane, split=split, sim=sim, epoch=epoch, **values)
                    done += 1
            self.log.info("%s, epoch %d: predicted %d simulations", field, epoch, done)
