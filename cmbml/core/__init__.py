"""cmbml's framework: config schemas, catalog and handlers, Stage, pipeline runner, parallel
backends, seeds and logging. Imports no method package."""

from cmbml.core.catalog import Catalog, CatalogEntry
from cmbml.core.config import compose, prepare_cli, register_resolvers
from cmbml.core.errors import (
    BadInputError,
    CatalogError,
    CmbmlError,
    ConfigError,
    MissingInputError,
)
from cmbml.core.handlers import atomic_path, get_handler
from cmbml.core.parallel import open_backend
from cmbml.core.pipeline import (
    StageReport,
    build_stages,
    check_pipeline,
    run_pipeline,
    stage_hashes,
)
from cmbml.core.schema import SplitSchema, get_splits, validate_config
from cmbml.core.seeds import make_rng, stable_seed
from cmbml.core.stage import Stage

__all__ = [
    "BadInputError",
    "Catalog",
    "CatalogEntry",
    "CatalogError",
    "CmbmlError",
    "ConfigError",
    "MissingInputError",
    "SplitSchema",
    "Stage",
    "StageReport",
    "atomic_path",
    "build_stages",
    "check_pipeline",
    "compose",
    "get_handler",
    "get_splits",
    "make_rng",
    "open_backend",
    "prepare_cli",
    "register_resolvers",
    "run_pipeline",
    "stage_hashes",
    "stable_seed",
    "validate_config",
]
