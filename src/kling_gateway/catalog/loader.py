"""Load the catalogue: the packaged ``models.toml``, then the operator's ``[[models]]`` tables."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from functools import lru_cache
from importlib import resources
from typing import Any

from .catalog import Catalog
from .models import CatalogFile, ModelSpec

DATA_FILE = "models.toml"


@lru_cache(maxsize=1)
def packaged_models() -> tuple[ModelSpec, ...]:
    """The entries shipped with the package, parsed and validated once per process."""
    text = resources.files(__package__).joinpath(DATA_FILE).read_text(encoding="utf-8")
    return CatalogFile.model_validate(tomllib.loads(text)).models


def build_catalog(extra: Iterable[Mapping[str, Any]] = ()) -> Catalog:
    """The packaged catalogue extended by ``extra`` entries (the config file's ``[[models]]``);
    an extra entry whose ``name`` exists replaces that model, a new name adds one."""
    overrides = CatalogFile.model_validate({"models": list(extra)}).models
    return Catalog([*packaged_models(), *overrides])
