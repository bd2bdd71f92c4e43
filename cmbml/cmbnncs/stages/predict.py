"""Stage cmbnncs_predict: CMB planes predicted by the trained CMBNNCS network."""

from __future__ import annotations

from cmbml.cmbnncs.data import PlaneDataset
from cmbml.cmbnncs.stages._common import build_network, existing_paths, use_epochs
from cmbml.cmbnncs.training import predict_batches
from cmbml.core import Stage


class CmbnncsPredict(Stage):
    """Predict the (scaled) CMB plane of every Test simulation with each epoch's checkpoint.

    Config: ``model.cmbnncs.use_epochs``, ``network``, ``detectors``, ``batch_size``, ``amp``,
    ``device``. Reads ``cmbnncs_checkpoint`` (epoch) and ``cmbnncs_obs_plane`` of the Test
    splits (up to ``n_infer_cap``). Writes ``cmbnncs_pred_plane`` (split, sim, epoch; float32
    ``(1, 4*nside, 3*nside)``, in units of the scaled target).
    """

    name = "cmbnncs_predict"
    inputs = ("cmbnncs_checkpoint", "cmbnncs_obs_plane")
    outputs = ("cmbnncs_pred_plane",)
    config_keys = (
        "model.cmbnncs.use_epochs",
        "model.cmbnncs.network",
        "model.cmbnncs.detectors",
        "model.cmbnncs.amp",
    )
    per_sim = False
    splits = ("Test",)
    infer = True
    covers_units = True

    def run(self) -> None:
        mc = self.cfg.model.cmbnncs
        units = list(self.units())
        dataset = PlaneDataset(existing_paths(self, "cmbnncs_obs_plane", units))
        for epoch in use_epochs(self.cfg):
            checkpoint = self.read("cmbnncs_checkpoint", epoch=epoch)
            network = build_network(self.cfg)
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
                    self.write("cmbnncs_pred_plane", plane, split=split, sim=sim, epoch=epoch)
                    done += 1
            self.log.info("epoch %d: predicted %d simulations", epoch, done)
