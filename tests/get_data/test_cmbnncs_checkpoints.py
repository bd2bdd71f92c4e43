"""get_data/get_cmbnncs_checkpoints.py against the local HTTP server, and --install."""

from __future__ import annotations

import logging

import torch

from tests.cmbnncs.cmbml_format import CmbmlUNet, randomised, save_cmbml_checkpoint

from .test_scripts import load_script

UNET5_KERNELS = (4, 4, 4, 4, 4, 4, 4, 4, 4, 2)


def checkpoint_bytes(tmp_path, epoch=120) -> bytes:
    net = randomised(CmbmlUNet((2, 4, 8, 16, 32), UNET5_KERNELS, 4), seed=3)
    save_cmbml_checkpoint(net, tmp_path / "made.pth", epoch)
    return (tmp_path / "made.pth").read_bytes()


def test_download_from_a_mirror_keeps_a_valid_checkpoint(file_server, tmp_path):
    data = checkpoint_bytes(tmp_path)
    file_server.put("model_120.pth", data)
    file_server.cut["/model_120.pth"] = 1000  # resumed by --retries
    dest = tmp_path / "ckpt"
    script = load_script("get_cmbnncs_checkpoints")

    status = script.main(["--dest", str(dest), "--base-url", file_server.url, "--no-progress"])

    assert status == 0
    assert (dest / "model_120.pth").read_bytes() == data
    loaded = torch.load(dest / "model_120.pth", weights_only=True)
    assert loaded["epoch"] == 120 and "conv1.0.weight" in loaded["model_state_dict"]


def test_a_page_instead_of_a_checkpoint_is_not_kept(file_server, tmp_path, caplog):
    file_server.put("model_120.pth", b"<html>Box sign-in page</html>")
    dest = tmp_path / "ckpt"
    script = load_script("get_cmbnncs_checkpoints")
    with caplog.at_level(logging.ERROR):
        status = script.main(["--dest", str(dest), "--base-url", file_server.url, "--no-progress"])
    assert status == 1
    assert not (dest / "model_120.pth").exists()
    assert "model_120.pth: not a PyTorch checkpoint" in caplog.text


def test_without_a_mirror_the_page_is_named(tmp_path, capsys):
    script = load_script("get_cmbnncs_checkpoints")
    assert script.main(["--dest", str(tmp_path)]) == 2
    assert "https://utdallas.box.com/v/ml-cmb-UNet8-IQU-512-1450-bl" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []


def test_install_checks_and_places_a_downloaded_file(tmp_path):
    download = tmp_path / "Downloads" / "model_120.pth"
    download.parent.mkdir()
    download.write_bytes(checkpoint_bytes(tmp_path))
    dest = tmp_path / "assets"
    script = load_script("get_cmbnncs_checkpoints")

    assert script.main(["--dest", str(dest), "--install", str(download)]) == 0
    assert (dest / "model_120.pth").read_bytes() == download.read_bytes()

    bad = tmp_path / "Downloads" / "model_5.pth"
    torch.save({"weights": torch.zeros(3)}, bad)
    assert script.main(["--dest", str(dest), "--install", str(bad)]) == 1
    assert not (dest / "model_5.pth").exists()
