"""cmbml.download against a real HTTP server on 127.0.0.1 (see conftest.py)."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import zipfile

import pytest

from cmbml.download import (
    ChecksumError,
    DownloadError,
    NotFoundError,
    RemoteFile,
    download,
    extract_archive,
    fetch,
    load_manifest,
    manifest_files,
    parse_checksum,
)


def payload(n: int, seed: int = 0) -> bytes:
    """``n`` pseudo-random bytes (so that a shifted or repeated chunk would change the hash)."""
    return hashlib.shake_256(f"cmbml-{seed}".encode()).digest(n)


def make_tar_gz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def serve_record(file_server, key: str, data: bytes, box_id: str = "0", token: str = "t") -> dict:
    """Serve ``data`` as ``<key>.tar.gz`` and return its entry of a CMB-ML upload-records file."""
    file_server.put(f"{key}.tar.gz", data)
    return {
        "tar_size": len(data),
        "archive_sha1": hashlib.sha1(data).hexdigest(),
        "file_name": f"{key}.tar.gz",
        "box_id": box_id,
        "token": token,
    }


@pytest.mark.parametrize("algorithm", ["sha256", "sha1", "md5"])
def test_full_download_checksum_ok(file_server, tmp_path, algorithm):
    data = payload(300_000)
    file_server.put("maps/a.fits", data)
    expected = f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"
    dest = tmp_path / "out" / "a.fits"

    out = download(file_server.url + "maps/a.fits", dest, checksum=expected, progress=False)

    assert out == dest
    assert dest.read_bytes() == data
    assert not dest.with_name("a.fits.part").exists()
    assert file_server.sent("maps/a.fits") == len(data)
    # A second call finds the verified file and sends no request.
    download(file_server.url + "maps/a.fits", dest, checksum=expected, progress=False)
    assert len(file_server.requests("maps/a.fits")) == 1


def test_resume_after_interrupted_transfer(file_server, tmp_path):
    data = payload(250_000, seed=1)
    file_server.put("big.fits", data)
    file_server.cut["/big.fits"] = 70_000
    dest = tmp_path / "big.fits"
    part = tmp_path / "big.fits.part"
    url = file_server.url + "big.fits"
    checksum = "sha256:" + hashlib.sha256(data).hexdigest()

    with pytest.raises(DownloadError, match="70000 of 250000 bytes.*resume"):
        download(url, dest, checksum=checksum, progress=False)
    assert not dest.exists()
    assert part.read_bytes() == data[:70_000]

    download(url, dest, checksum=checksum, progress=False)

    assert dest.read_bytes() == data
    assert not part.exists()
    first, second = file_server.requests("big.fits")
    assert first.range is None and first.sent == 70_000
    assert second.range == "bytes=70000-" and second.status == 206
    assert second.sent == len(data) - 70_000
    assert file_server.sent("big.fits") == len(data)


def test_retries_resume_within_one_call(file_server, tmp_path):
    data = payload(120_000, seed=2)
    file_server.put("f.bin", data)
    file_server.cut["/f.bin"] = 1_000
    dest = tmp_path / "f.bin"

    download(file_server.url + "f.bin", dest, retries=1, progress=False)

    assert dest.read_bytes() == data
    assert [r.range for r in file_server.requests("f.bin")] == [None, "bytes=1000-"]
    assert file_server.sent("f.bin") == len(data)


def test_server_without_range_support_restarts(file_server, tmp_path):
    data = payload(90_000, seed=3)
    file_server.put("f.bin", data)
    file_server.ranges = False
    file_server.cut["/f.bin"] = 40_000
    dest = tmp_path / "f.bin"
    with pytest.raises(DownloadError):
        download(file_server.url + "f.bin", dest, progress=False)

    download(file_server.url + "f.bin", dest, progress=False)

    assert dest.read_bytes() == data
    assert file_server.requests("f.bin")[-1].sent == len(data)  # whole file sent again


def test_complete_part_file_is_not_downloaded_again(file_server, tmp_path):
    data = payload(5_000, seed=4)
    file_server.put("f.bin", data)
    (tmp_path / "f.bin.part").write_bytes(data)

    download(file_server.url + "f.bin", tmp_path / "f.bin", progress=False)

    assert (tmp_path / "f.bin").read_bytes() == data
    assert file_server.sent("f.bin") == 0  # the server answered 416 (range past the end)


def test_part_longer_than_remote_file_restarts(file_server, tmp_path):
    data = payload(5_000, seed=5)
    file_server.put("f.bin", data)
    (tmp_path / "f.bin.part").write_bytes(payload(8_000, seed=6))

    download(file_server.url + "f.bin", tmp_path / "f.bin", progress=False)

    assert (tmp_path / "f.bin").read_bytes() == data


def test_wrong_checksum_names_file_and_both_checksums(file_server, tmp_path):
    data = payload(50_000, seed=7)
    file_server.put("HFI_SkyMap_100.fits", data)
    wrong = hashlib.sha256(b"something else").hexdigest()
    actual = hashlib.sha256(data).hexdigest()
    dest = tmp_path / "HFI_SkyMap_100.fits"

    with pytest.raises(ChecksumError) as excinfo:
        download(
            file_server.url + "HFI_SkyMap_100.fits",
            dest,
            checksum=f"sha256:{wrong}",
            progress=False,
        )

    message = str(excinfo.value)
    assert "HFI_SkyMap_100.fits" in message
    assert wrong in message and actual in message
    assert not dest.exists()
    assert not (tmp_path / "HFI_SkyMap_100.fits.part").exists()


def test_wrong_size_is_an_error(file_server, tmp_path):
    file_server.put("f.bin", payload(1_000))
    with pytest.raises(ChecksumError, match=r"f\.bin: size 1000 bytes, expected 999"):
        download(file_server.url + "f.bin", tmp_path / "f.bin", size=999, progress=False)
    assert not (tmp_path / "f.bin").exists()


def test_bad_existing_file_is_moved_aside_and_replaced(file_server, tmp_path):
    data = payload(10_000, seed=8)
    file_server.put("f.bin", data)
    dest = tmp_path / "f.bin"
    dest.write_bytes(b"corrupt")

    download(
        file_server.url + "f.bin",
        dest,
        checksum="md5:" + hashlib.md5(data).hexdigest(),
        progress=False,
    )

    assert dest.read_bytes() == data
    assert (tmp_path / "f.bin.bad").read_bytes() == b"corrupt"


def test_unreachable_host_message(closed_port, tmp_path):
    url = f"http://127.0.0.1:{closed_port}/LFI_SkyMap_030.fits"
    dest = tmp_path / "planck" / "LFI_SkyMap_030.fits"
    with pytest.raises(DownloadError) as excinfo:
        download(url, dest, timeout=5, progress=False)
    message = str(excinfo.value)
    assert url in message
    assert "could not reach" in message
    assert f"place the file by hand at {dest}" in message
    assert not dest.exists()


def test_http_error_names_url_and_status(file_server, tmp_path):
    with pytest.raises(DownloadError, match=r"missing\.fits answered HTTP 404"):
        download(file_server.url + "missing.fits", tmp_path / "missing.fits", progress=False)


def test_not_found_is_not_blamed_on_the_network(file_server, tmp_path):
    """A 404 means the server was reached: no "no network access" hint, a "not found" one."""
    with pytest.raises(DownloadError) as excinfo:
        download(file_server.url + "renamed.json", tmp_path / "renamed.json", progress=False)
    message = str(excinfo.value)
    assert "not found" in message and "renamed or removed" in message
    assert "network" not in message
    assert isinstance(excinfo.value, NotFoundError)


def test_extract_tar_gz_via_fetch(file_server, tmp_path):
    members = {"chains/H0.txt": b"1 67.0\n2 68.1\n", "chains/tau.txt": b"1 0.05\n"}
    archive = make_tar_gz(members)
    file_server.put("chains.tar.gz", archive)
    remote = RemoteFile(
        name="chains.tar.gz",
        url=file_server.url + "chains.tar.gz",
        checksum="sha256:" + hashlib.sha256(archive).hexdigest(),
        extract=True,
    )
    dest = tmp_path / "wmap"

    assert fetch(remote, dest, progress=False, keep_archive=False) == dest

    for name, data in members.items():
        assert (dest / name).read_bytes() == data
    assert not (dest / "chains.tar.gz").exists()
    assert (dest / ".extracted" / "chains.tar.gz.txt").read_text().split() == sorted(members)
    fetch(remote, dest, progress=False)  # already extracted: no second request
    assert len(file_server.requests("chains.tar.gz")) == 1


def test_extract_zip(tmp_path):
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("d/x.txt", "x")
        zf.writestr("y.txt", "yy")
    files = extract_archive(archive, tmp_path / "out")
    assert [f.relative_to((tmp_path / "out").resolve()).as_posix() for f in files] == [
        "d/x.txt",
        "y.txt",
    ]
    assert (tmp_path / "out" / "y.txt").read_text() == "yy"


@pytest.mark.parametrize("member", ["../evil.txt", "/tmp/evil.txt", "a/../../evil.txt"])
def test_tar_path_traversal_is_refused(tmp_path, member):
    archive = tmp_path / "bad.tar.gz"
    archive.write_bytes(make_tar_gz({"ok.txt": b"fine", member: b"evil"}))
    out = tmp_path / "sub" / "out"
    with pytest.raises(DownloadError, match="refusing member"):
        extract_archive(archive, out)
    assert not (tmp_path / "sub" / "evil.txt").exists()
    assert not (tmp_path / "evil.txt").exists()
    assert not (out / "ok.txt").exists()  # nothing is written before every member is checked


def test_tar_symlink_out_of_destination_is_refused(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        link = tarfile.TarInfo("link")
        link.type = tarfile.SYMTYPE
        link.linkname = "../../outside"
        tar.addfile(link)
    archive = tmp_path / "bad.tar.gz"
    archive.write_bytes(buf.getvalue())
    with pytest.raises(DownloadError, match="refusing symlink"):
        extract_archive(archive, tmp_path / "out")
    assert not os.path.lexists(tmp_path / "out" / "link")


def test_zip_path_traversal_is_refused(tmp_path):
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../evil.txt", "evil")
    with pytest.raises(DownloadError, match="refusing member"):
        extract_archive(archive, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()


def test_parse_checksum_rejects_bad_specs():
    assert parse_checksum("MD5:" + "A" * 32) == ("md5", "a" * 32)
    with pytest.raises(ValueError, match="algorithm one of"):
        parse_checksum("crc32:1234abcd")
    with pytest.raises(ValueError, match="64 hex characters"):
        parse_checksum("sha256:abc")


def test_manifest_lists_the_expected_public_files():
    from pathlib import Path

    manifest_path = Path(__file__).resolve().parents[2] / "get_data" / "manifest.yaml"
    manifest = load_manifest(manifest_path)
    planck = manifest_files(manifest, "planck_assets")
    names = [f.name for f in planck]
    assert names[:3] == [
        f"LFI_SkyMap_{f:03d}-BPassCorrected_1024_R3.00_full.fits" for f in (30, 44, 70)
    ]
    assert "HFI_SkyMap_143_2048_R3.01_full.fits" in names
    assert all(f.url.startswith("https://") and f.url.endswith(f.name) for f in planck)
    (nilc,) = manifest_files(manifest, "planck_assets", keys=["nilc"])
    assert nilc.url.endswith("/component-maps/cmb/COM_CMB_IQU-nilc_2048_R3.00_full.fits")
    (chains,) = manifest_files(manifest, "wmap9_chains")  # the default: CMB-ML's chains
    assert chains.name == "wmap_lcdm_mnu_wmap9_chains_v5.tar.gz" and chains.extract
    assert chains.folder == "lcdm_mnu"
    for f in planck + [chains]:
        if f.checksum is not None:
            parse_checksum(f.checksum)
    with pytest.raises(ValueError, match="no key"):
        manifest_files(manifest, "planck_assets", keys=["999"])
