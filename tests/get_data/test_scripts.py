"""Each get_data/*.py script's main() against the local HTTP server (--base-url)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from cmbml.download import load_manifest

from .test_download import make_tar_gz, payload, serve_record

GET_DATA = Path(__file__).resolve().parents[2] / "get_data"


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(f"get_data_{name}", GET_DATA / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_get_planck_assets(file_server, tmp_path):
    manifest = load_manifest(GET_DATA / "manifest.yaml")["planck_assets"]
    contents = {}
    for i, entry in enumerate(manifest["files"]):
        rel = entry.get("path", "") + entry["name"]
        contents[entry["name"]] = payload(2_000 + i, seed=i)
        file_server.put(rel, contents[entry["name"]])
    file_server.cut["/HFI_SkyMap_217_2048_R3.01_full.fits"] = 500  # resumed by --retries
    dest = tmp_path / "assets" / "planck"
    script = load_script("get_planck_assets")

    status = script.main(["--dest", str(dest), "--base-url", file_server.url, "--no-progress"])

    assert status == 0
    assert sorted(p.name for p in dest.iterdir()) == sorted(contents)
    for name, data in contents.items():
        assert (dest / name).read_bytes() == data
    assert file_server.requests("HFI_SkyMap_217_2048_R3.01_full.fits")[1].range == "bytes=500-"

    other = tmp_path / "subset"
    opts = "--only 70 nilc --no-progress".split()
    assert script.main(["--dest", str(other), "--base-url", file_server.url, *opts]) == 0
    assert sorted(p.name for p in other.iterdir()) == [
        "COM_CMB_IQU-nilc_2048_R3.00_full.fits",
        "LFI_SkyMap_070-BPassCorrected_1024_R3.00_full.fits",
    ]


def test_get_planck_assets_offline(closed_port, tmp_path, caplog):
    script = load_script("get_planck_assets")
    base = f"http://127.0.0.1:{closed_port}/"
    dest = tmp_path / "planck"
    with caplog.at_level(logging.ERROR):
        opts = "--only 100 --retries 0 --timeout 5 --no-progress".split()
        status = script.main(["--dest", str(dest), "--base-url", base, *opts])
    assert status == 1
    message = caplog.records[-1].getMessage()
    assert f"could not reach {base}HFI_SkyMap_100_2048_R3.01_full.fits" in message
    assert str(dest / "HFI_SkyMap_100_2048_R3.01_full.fits") in message


def test_get_wmap_chains(file_server, tmp_path):
    """The default is CMB-ML's LCDM + neutrino-mass chains; each chain set gets its own folder,
    so fetching both never mixes chains of different lengths."""
    mnu = {"H0": b"1 70.0\n2 69.5\n3 69.9\n", "mnu": b"1 0.3\n2 0.1\n3 0.2\n"}
    lcdm = {"H0": b"1 71.0\n2 70.5\n", "omegach2": b"1 0.1138\n2 0.1142\n"}
    file_server.put("wmap_lcdm_mnu_wmap9_chains_v5.tar.gz", make_tar_gz(mnu))
    file_server.put("wmap_lcdm_wmap9_chains_v5.tar.gz", make_tar_gz(lcdm))
    dest = tmp_path / "wmap9_chains"
    script = load_script("get_wmap_chains")

    status = script.main(["--dest", str(dest), "--base-url", file_server.url, "--no-progress"])

    assert status == 0
    for name, data in mnu.items():
        assert (dest / "lcdm_mnu" / name).read_bytes() == data
    assert not (dest / "lcdm").exists()
    assert file_server.requests("wmap_lcdm_wmap9_chains_v5.tar.gz") == []

    opts = ["--only", "lcdm", "lcdm_mnu", "--no-progress"]
    assert script.main(["--dest", str(dest), "--base-url", file_server.url, *opts]) == 0
    for name, data in lcdm.items():
        assert (dest / "lcdm" / name).read_bytes() == data
    assert (dest / "lcdm_mnu" / "H0").read_bytes() == mnu["H0"]  # not overwritten by lcdm's
    assert not (dest / "lcdm_mnu" / "omegach2").exists()


def _sim_archive(split: str, sim: int) -> bytes:
    return make_tar_gz({f"Simulation/{split}/sim{sim:04d}/obs_100_map.fits": payload(700, sim)})


def test_get_dataset(file_server, tmp_path):
    records = {}
    for split, n in (("Train", 3), ("Test", 2)):
        for sim in range(n):
            key = f"{split}_sim{sim:04d}"
            records[key] = serve_record(file_server, key, _sim_archive(split, sim), token="unused")
    logs = make_tar_gz({"Logs/run.log": b"log\n"})
    records["Logs"] = serve_record(file_server, "Logs", logs, box_id="1", token="x")
    records["Test_sim0001"]["archive_sha1"] = "0" * 40  # corrupt record: must not be fetched
    file_server.put("upload_records_CMB-ML_128_1450.json", json.dumps(records).encode())
    dest = tmp_path / "CMB_ML_128_1450"

    opts = "--dataset CMB_ML_128_1450 --splits Train Test --n-sims 1 --extras Logs --no-progress"
    status = load_script("get_dataset").main(
        ["--dest", str(dest), "--base-url", file_server.url, *opts.split()]
    )

    assert status == 0
    for split in ("Train", "Test"):
        extracted = dest / "Simulation" / split / "sim0000" / "obs_100_map.fits"
        assert extracted.read_bytes() == payload(700, 0)
    assert (dest / "Logs" / "run.log").read_text() == "log\n"
    assert not (dest / "Simulation" / "Train" / "sim0001").exists()
    assert not list(dest.glob("*.tar.gz"))  # archives removed after extraction
    assert file_server.requests("Test_sim0001.tar.gz") == []


@pytest.mark.parametrize(
    "served", ["upload_records_CMB-ML_128_1450.json", "upload_records_I_128_1450.json"]
)
def test_get_dataset_accepts_both_record_names(file_server, tmp_path, served):
    """CMB-ML renamed its records (I_128 -> CMB-ML_128); either name on the server works."""
    data = _sim_archive("Test", 0)
    file_server.put("Test_sim0000.tar.gz", data)
    record = {"tar_size": len(data), "archive_sha1": hashlib.sha1(data).hexdigest()}
    records = {"Test_sim0000": {**record, "file_name": "Test_sim0000.tar.gz"}}
    file_server.put(served, json.dumps(records).encode())
    dest = tmp_path / "ds"

    status = load_script("get_dataset").main(
        ["--dest", str(dest), "--base-url", file_server.url, "--splits", "Test", "--no-progress"]
    )

    assert status == 0
    assert (dest / "Simulation/Test/sim0000/obs_100_map.fits").read_bytes() == payload(700, 0)


def test_get_dataset_records_not_found_names_every_candidate(file_server, tmp_path, caplog):
    with caplog.at_level(logging.ERROR):
        status = load_script("get_dataset").main(
            ["--dest", str(tmp_path / "ds"), "--base-url", file_server.url, "--no-progress"]
        )
    assert status == 1
    message = caplog.records[-1].getMessage()
    assert "upload_records_CMB-ML_128_1450.json" in message
    assert "upload_records_I_128_1450.json" in message
    assert "network" not in message


def test_get_dataset_wrong_checksum_fails_cleanly(file_server, tmp_path, caplog):
    data = _sim_archive("Test", 0)
    file_server.put("Test_sim0000.tar.gz", data)
    records = {
        "Test_sim0000": {
            "tar_size": len(data),
            "archive_sha1": "1" * 40,
            "file_name": "Test_sim0000.tar.gz",
        }
    }
    (tmp_path / "records.json").write_text(json.dumps(records))
    dest = tmp_path / "ds"

    with caplog.at_level(logging.ERROR):
        status = load_script("get_dataset").main(
            ["--records", str(tmp_path / "records.json"), "--dest", str(dest)]
            + ["--base-url", file_server.url, "--splits", "Test", "--no-progress"]
        )

    assert status == 1
    message = caplog.records[-1].getMessage()
    assert "Test_sim0000.tar.gz" in message and "1" * 40 in message
    assert hashlib.sha1(data).hexdigest() in message
    assert not (dest / "Test_sim0000.tar.gz").exists()
    assert not (dest / "Simulation").exists()


def test_get_dataset_unknown_split_in_records(tmp_path):
    (tmp_path / "records.json").write_text(json.dumps({"Train_sim0000": {"file_name": "a"}}))
    with pytest.raises(ValueError, match="no records for split 'Valid'"):
        load_script("get_dataset").main(
            ["--records", str(tmp_path / "records.json"), "--dest", str(tmp_path / "d")]
            + ["--splits", "Valid"]
        )


def test_dataset_record_without_mirror_uses_the_box_url():
    script = load_script("get_dataset")
    template = load_manifest(GET_DATA / "manifest.yaml")["datasets"]["download_url"]
    record = {"file_name": "Test_sim0007.tar.gz", "tar_size": 12, "archive_sha1": "ab" * 20}
    remote = script.record_file(
        "Test_sim0007",
        {**record, "box_id": "42", "token": "tok"},
        url_template=template,
        base_url=None,
        source="records.json",
    )
    assert remote.url == (
        "https://utdallas.app.box.com/index.php?rm=box_download_shared_file"
        "&shared_name=tok&file_id=f_42"
    )
    assert (remote.size, remote.checksum, remote.extract) == (12, "sha1:" + "ab" * 20, True)
    with pytest.raises(ValueError, match="needs 'url', or 'box_id' and 'token'"):
        script.record_file("k", record, url_template=template, base_url=None, source="r.json")


def test_script_runs_from_the_command_line():
    result = subprocess.run(
        [sys.executable, str(GET_DATA / "get_planck_assets.py"), "--list", "--only", "143"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.split() == [
        "143",
        "https://irsa.ipac.caltech.edu/data/Planck/release_3/all-sky-maps/maps/"
        "HFI_SkyMap_143_2048_R3.01_full.fits",
    ]
