"""The model catalogue as data: which models the gateway serves, on which families and
standards, with their rules (resolutions, durations, audio, inputs) and prices.

Read by the new-standard routes (rules), the legacy families (model lists) and the ledger
(units). ``models.toml`` ships in the package; operators extend it with ``[[models]]`` tables in
the config file. Build one :class:`Catalog` at start (``build_catalog(settings.models)``).
"""

from .catalog import MODE_RESOLUTION, Catalog, Served, format_units, resolution_of_mode, standard_of
from .loader import build_catalog, packaged_models, unit_list_price
from .models import (
    STANDARDS,
    AudioOption,
    Durations,
    ModelSpec,
    Offer,
    Price,
    ReferenceVideo,
    Standard,
    Usage,
)

__all__ = [
    "MODE_RESOLUTION",
    "STANDARDS",
    "AudioOption",
    "Catalog",
    "Durations",
    "ModelSpec",
    "Offer",
    "Price",
    "ReferenceVideo",
    "Served",
    "Standard",
    "Usage",
    "build_catalog",
    "format_units",
    "packaged_models",
    "resolution_of_mode",
    "standard_of",
    "unit_list_price",
]
