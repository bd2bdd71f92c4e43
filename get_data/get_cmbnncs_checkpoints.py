"""Fetch or install CMB-ML's published CMBNNCS checkpoints (UNet8 trained on CMB_ML_512_1450).

CMB-ML publishes ``model_<epoch>.pth`` in a Box shared folder (get_data/manifest.yaml, group
``cmbnncs_checkpoints``, key ``page``) that has no per-file URL: download the file from that
page in a browser and install it with ``--install``, or fetch it from a mirror that serves the
files by name with ``--base-url``. Either way the file is checked to be CMB-ML's checkpoint
format (``{'epoch', 'model_state_dict', ...}`` of cmbNNCS's UNet) before it is kept.

Examples::

    python get_data/get_cmbnncs_checkpoints.py --install ~/Downloads/model_120.pth
    python get_data/get_cmbnncs_checkpoints.py --base-url https://mirror.example/unet8/
    python get_data/get_cmbnncs_checkpoints.py --list

Default destination: ``<local_system.assets_dir>/cmbml_checkpoints/unet8_512_1450``
(cfg/local_system/default.yaml), where ``python main_cmbnncs_cmbml.py`` reads epoch 120
(another file: ``model.cmbnncs.cmbml_checkpoint=<file>``; docs/cmbml-compat.md).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from cmbml.cmbnncs.cmbml_checkpoints import load_cmbml_network
from cmbml.core import BadInputError
from cmbml.download import (
    cli_parser,
    load_manifest,
    local_system_path,
    manifest_files,
    run_cli,
)

GROUP = "cmbnncs_checkpoints"
MANIFEST = Path(__file__).resolve().with_name("manifest.yaml")
FOLDER = ("cmbml_checkpoints", "unet8_512_1450")

log = logging.getLogger("get_cmbnncs_checkpoints")


def check(path: Path) -> bool:
    """Whether ``path`` is a CMB-ML checkpoint that loads into cmbml's UNet (logged)."""
    try:
        network, epoch = load_cmbml_network(path)
    except BadInputError as err:
        log.error("%s", err)
        return False
    log.info("%s: CMB-ML checkpoint, epoch %d, %d-level UNet", path, epoch, network.depth)
    return True


def install(source: Path, dest: Path) -> int:
    """Check ``source`` and copy it into ``dest`` (atomically, keeping its name)."""
    if not source.is_file():
        log.error("%s: no such file", source)
        return 1
    if not check(source):
        return 1
    dest.mkdir(parents=True, exist_ok=True)
    part = dest / f"{source.name}.part"
    shutil.copyfile(source, part)
    os.replace(part, dest / source.name)
    log.info("installed %s", dest / source.name)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the downloader or installer; returns the exit status (0 on success)."""
    parser = cli_parser(__doc__, MANIFEST)
    parser.add_argument("--only", nargs="+", metavar="EPOCH", help="epochs (default: 120)")
    parser.add_argument("--install", type=Path, metavar="FILE", help="check and place FILE")
    parser.add_argument("--list", action="store_true", help="list epochs and the page, then exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    dest = args.dest or local_system_path("assets_dir", *FOLDER)
    if args.install:
        return install(args.install, dest)
    manifest = load_manifest(args.manifest)
    group = manifest[GROUP]
    if args.list or not (args.base_url or group.get("base_url")):
        names = ", ".join(entry["name"] for entry in group["files"])
        print(f"{names}: download from {group['page']}, then --install FILE")
        return 0 if args.list else 2
    files = manifest_files(
        manifest, GROUP, keys=args.only, base_url=args.base_url, source=str(args.manifest)
    )
    status = run_cli(files, dest, args)
    for remote in files if status == 0 else ():
        if not check(dest / remote.name):
            (dest / remote.name).unlink()
            status = 1
    return status


if __name__ == "__main__":
    raise SystemExit(main())
