"""Download a published CMB-ML dataset (one .tar.gz per simulation) and extract it.

The dataset's "upload records" JSON (get_data/manifest.yaml, group ``datasets``) lists every
archive with its size and SHA-1: ``{"Train_sim0000": {"file_name": ..., "tar_size": ...,
"archive_sha1": ..., "box_id": ..., "token": ...}, ..., "Logs": {...}, "NoiseCache": {...}}``.
A record may also give ``url`` directly, and ``sha256``/``md5`` instead of SHA-1. Each archive is
verified, extracted into the destination folder and deleted (``--keep-archives`` keeps it).

Examples::

    python get_data/get_dataset.py --dataset CMB_ML_128_1450 --splits Test --n-sims 5
    python get_data/get_dataset.py --dataset CMB_ML_128_1450 --extras Logs
    python get_data/get_dataset.py --records my_records.json --dest /scratch/CMB_ML_128_1450

The records of each known dataset are looked up under CMB-ML's current file name first, then
under the name it had before (``upload_records_I_128_1450.json`` is now
``upload_records_CMB-ML_128_1450.json``). With ``--base-url URL`` the records file and the
archives are read from that one folder (a mirror) by their file names. Default destination:
``<local_system.datasets_root>/<dataset>``; ``--dataset`` accepts CMB-ML's spelling
(``CMB-ML_128_1450``) too.

Next to the simulations it writes ``dataset.yaml`` (:mod:`cmbml.core.dataset`): CMB-ML's maps
carry their Gaussian beams and no HEALPix pixel window (PySM3's
``apply_smoothing_and_coord_transform`` synthesises them with ``pixwin=False``), in uK_CMB.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import quote, urljoin, urlparse

from cmbml.core import get_handler
from cmbml.core.dataset import dataset_record
from cmbml.download import (
    CHECKSUM_ALGORITHMS,
    DownloadError,
    NotFoundError,
    RemoteFile,
    cli_parser,
    download,
    load_manifest,
    local_system_path,
    run_cli,
)
from cmbml.sims.instrument import default_detector_table, load_detectors

GROUP = "datasets"
MANIFEST = Path(__file__).resolve().with_name("manifest.yaml")
SPLITS = ("Train", "Valid", "Test")

logger = logging.getLogger(__name__)


def record_file(
    key: str,
    record: Mapping,
    *,
    url_template: str,
    base_url: str | None,
    source: str,
) -> RemoteFile:
    """One upload record as a :class:`~cmbml.download.RemoteFile` (an archive to extract).

    ``base_url`` (ending in ``/``), when given, replaces the record's own URL by
    ``base_url + file_name``.

    Raises
    ------
    ValueError
        The record lacks ``file_name`` or a way to build its URL (``url``, or ``box_id`` and
        ``token``).
    """
    if "file_name" not in record:
        raise ValueError(f"{source}: record {key!r} has no 'file_name'")
    name = record["file_name"]
    if base_url:
        url = urljoin(base_url, quote(name))
    elif "url" in record:
        url = record["url"]
    elif "box_id" in record and "token" in record:
        url = url_template.format(box_id=record["box_id"], token=record["token"])
    else:
        raise ValueError(f"{source}: record {key!r} needs 'url', or 'box_id' and 'token'")
    checksum = None
    for algorithm in CHECKSUM_ALGORITHMS:
        digest = record.get(f"archive_{algorithm}", record.get(algorithm))
        if digest:
            checksum = f"{algorithm}:{digest}"
            break
    size = record.get("tar_size", record.get("size"))
    return RemoteFile(
        name=name,
        url=url,
        size=int(size) if size is not None else None,
        checksum=checksum,
        extract=True,
        key=key,
    )


def select_keys(
    records: Mapping,
    splits: Sequence[str],
    n_sims: int | None,
    extras: Sequence[str],
    source: str,
) -> list[str]:
    """Record keys to fetch: the first ``n_sims`` ``<split>_simNNNN`` of each split, then extras.

    Raises
    ------
    ValueError
        A split with no records, or an unknown extra.
    """
    keys = []
    for split in splits:
        sims = sorted(k for k in records if k.startswith(f"{split}_sim"))
        if not sims:
            raise ValueError(f"{source}: no records for split {split!r}")
        keys += sims if n_sims is None else sims[:n_sims]
    unknown = [e for e in extras if e not in records]
    if unknown:
        others = sorted(k for k in records if "_sim" not in k)
        raise ValueError(
            f"{source}: no record(s) {', '.join(unknown)} (extras available: {', '.join(others)})"
        )
    return keys + list(extras)


def read_records(
    locations: Sequence[str], dest: Path, args: argparse.Namespace
) -> tuple[dict, str]:
    """Load the records JSON from the first of ``locations`` that exists.

    Each location is a local path or a URL (downloaded into ``dest``); a location the server
    does not have (HTTP 404) is skipped for the next one.

    Raises
    ------
    NotFoundError
        No location has the file (the message lists them all).
    FileNotFoundError
        A local records file does not exist.
    """
    missing = []
    for location in locations:
        if urlparse(location).scheme not in ("http", "https"):
            path = Path(location)
            if not path.is_file():
                raise FileNotFoundError(f"records file not found: {path}")
            break
        path = dest / Path(urlparse(location).path).name
        try:
            download(
                location,
                path,
                retries=args.retries,
                timeout=args.timeout,
                progress=False,
                force=args.force,
            )
        except NotFoundError:
            missing.append(location)
            continue
        break
    else:
        raise NotFoundError(
            "no records file found; tried (HTTP 404): " + ", ".join(missing) + ". Pass "
            "--records with the dataset's upload_records JSON (CMB-ML's assets/CMB-ML folder)"
        )
    try:
        records = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not a JSON records file ({err})") from err
    if not isinstance(records, dict):
        raise ValueError(f"{path}: expected a mapping of record key -> record")
    return records, str(path)


def record_locations(spec: Mapping, dataset: str, base_url: str | None) -> list[str]:
    """Candidate URLs of the records of ``dataset`` (``CMB-ML_...`` or ``CMB_ML_...``).

    Raises
    ------
    KeyError
        Unknown dataset (the message lists the known ones).
    """
    key = dataset.replace("CMB-ML", "CMB_ML")
    if key not in spec["records"]:
        raise KeyError(f"unknown --dataset {dataset!r} (known: {', '.join(spec['records'])})")
    urls = spec["records"][key]
    urls = [urls] if isinstance(urls, str) else list(urls)
    if base_url:
        urls = [urljoin(base_url, Path(urlparse(u).path).name) for u in urls]
    return urls


def write_record(dest: Path) -> Path:
    """Write ``dest/dataset.yaml``: what CMB-ML's maps carry (no pixel window, Gaussian beams
    of CMB-ML's detector table, uK_CMB); returns its path."""
    beams = {band: d.fwhm_arcmin for band, d in load_detectors(default_detector_table()).items()}
    record = dataset_record(
        pixel_window=False,
        units="uK_CMB",
        beams_fwhm_arcmin=beams,
        made_by="CMB-ML (PySM3 apply_smoothing_and_coord_transform, pixwin=False)",
    )
    path = Path(dest) / "dataset.yaml"
    get_handler("yaml").write(path, record)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """Run the downloader; returns the exit status (0 on success)."""
    parser = cli_parser(__doc__, MANIFEST)
    parser.add_argument("--dataset", default="CMB_ML_128_1450", help="(default: %(default)s)")
    parser.add_argument("--records", help="records JSON: a local path or a URL")
    parser.add_argument("--splits", nargs="+", default=list(SPLITS), choices=SPLITS)
    parser.add_argument("--n-sims", type=int, help="first N simulations of each split")
    parser.add_argument(
        "--extras", nargs="*", default=[], help="other records, e.g. Logs NoiseCache"
    )
    parser.add_argument("--keep-archives", action="store_true", help="keep the .tar.gz files")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")

    if args.base_url and not args.base_url.endswith("/"):
        args.base_url += "/"
    spec = load_manifest(args.manifest)[GROUP]
    locations = [args.records]
    if args.records is None:
        try:
            locations = record_locations(spec, args.dataset, args.base_url)
        except KeyError as err:
            parser.error(err.args[0])
    dataset = args.dataset.replace("CMB-ML", "CMB_ML")
    dest = args.dest or local_system_path("datasets_root", dataset)
    try:
        records, source = read_records(locations, dest, args)
    except DownloadError as err:
        logger.error("%s", err)
        return 1
    keys = select_keys(records, args.splits, args.n_sims, args.extras, source)
    files = [
        record_file(
            k, records[k], url_template=spec["download_url"], base_url=args.base_url, source=source
        )
        for k in keys
    ]
    status = run_cli(files, dest, args, keep_archive=args.keep_archives)
    if status == 0:
        logger.info("conventions of the maps: %s", write_record(dest))
    return status


if __name__ == "__main__":
    raise SystemExit(main())
