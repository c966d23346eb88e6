"""Load the catalogue: the packaged ``models.toml``, then the operator's ``[[models]]`` tables."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from typing import Any

from .catalog import Catalog
from .models import CatalogFile, ModelSpec

DATA_FILE = "models.toml"


@lru_cache(maxsize=1)
def packaged_file() -> CatalogFile:
    """The file shipped with the package, parsed and validated once per process."""
    text = resources.files(__package__).joinpath(DATA_FILE).read_text(encoding="utf-8")
    return CatalogFile.model_validate(tomllib.loads(text))


def packaged_models() -> tuple[ModelSpec, ...]:
    """The model entries shipped with the package."""
    return packaged_file().models


def unit_list_price() -> tuple[Decimal, str]:
    """Money per unit at list price and its currency (``models.toml``'s top-level keys)."""
    found = packaged_file()
    assert found.unit_list_price is not None and found.currency is not None, DATA_FILE
    return found.unit_list_price, found.currency


def build_catalog(extra: Iterable[Mapping[str, Any]] = ()) -> Catalog:
    """The packaged catalogue extended by ``extra`` entries (the config file's ``[[models]]``);
    an extra entry whose ``name`` exists replaces that model, a new name adds one."""
    overrides = CatalogFile.model_validate({"models": list(extra)}).models
    return Catalog([*packaged_models(), *overrides])
