"""Per-model limits of the families added for issue #15, read from the model catalogue.

The request models validate against the gateway's catalogue (packaged ``models.toml`` plus the
operator's ``[[models]]``), handed to pydantic as validation context by the service; without a
context they use the packaged catalogue. The SDK validates client-side with
``CLIENT_SIDE`` context: there a model the packaged catalogue does not know can only be an
operator's ``[[models]]`` entry on the gateway, so its per-model rules are left to the gateway
(:func:`left_to_server`); the structural rules still apply.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydantic import ValidationInfo

from ..catalog import MODE_RESOLUTION, Catalog, Offer, build_catalog

# A rule the catalogue has no field for (spec more §7.1): O1 text-to-video and first-frame-only
# generation take only these durations.
PLAIN_DURATIONS: dict[str, tuple[str, ...]] = {"kling-video-o1": ("5", "10")}


@dataclass(frozen=True)
class ModelLimits:
    durations: tuple[str, ...] = ()  # whole seconds as strings; () = follows an input
    modes: tuple[str, ...] = ("std", "pro")
    sound: bool = False  # may ``sound: "on"`` be asked for
    multi_shot: bool = False
    short_durations: tuple[str, ...] = ()  # O1 text-to-video and first-frame-only


# What a model the client cannot know may do, for the rules that read limits and others at once.
OPEN_LIMITS = ModelLimits(modes=tuple(MODE_RESOLUTION), sound=True, multi_shot=True)


@lru_cache(maxsize=1)
def packaged_catalog() -> Catalog:
    return build_catalog()


def catalog_of(info: ValidationInfo | None) -> Catalog:
    """The catalogue a validation runs against (the service's, else the packaged one)."""
    context: Any = info.context if info is not None else None
    found = context.get("catalog") if isinstance(context, dict) else None
    return found if isinstance(found, Catalog) else packaged_catalog()


CLIENT_SIDE: dict[str, Any] = {"client_side": True}  # the SDK's validation context


def left_to_server(info: ValidationInfo | None, family: str, model: str | None) -> bool:
    """Whether ``model``'s per-model rules on ``family`` are the gateway's to apply: in the SDK
    (``CLIENT_SIDE`` context), for a model named that the packaged catalogue does not serve."""
    context: Any = info.context if info is not None else None
    if not (isinstance(context, dict) and context.get("client_side")) or model is None:
        return False
    return catalog_of(info).offer(family, model) is None


# The catalogue is immutable and there are a handful of them per process (the packaged one, the
# gateway's): what these functions derive from it is kept, since every create validates with them.
@lru_cache(maxsize=1024)
def models_of(family: str, catalog: Catalog) -> tuple[str, ...]:
    """The ``model_name`` values the family accepts on the legacy layout, catalogue order."""
    return tuple(s.wire_id for s in catalog.for_family(family, "legacy"))


def default_model(family: str, catalog: Catalog) -> str:
    served = catalog.offer(family, None)
    if served is not None:
        return served.wire_id
    return models_of(family, catalog)[0]


def _limits(offer: Offer, model: str) -> ModelLimits:
    durations = tuple(str(n) for n in offer.durations.allowed()) if offer.durations else ()
    return ModelLimits(
        durations=durations,
        modes=tuple(mode for mode, res in MODE_RESOLUTION.items() if res in offer.resolutions),
        sound="native" in offer.audio,
        multi_shot=offer.multi_shot,
        short_durations=PLAIN_DURATIONS.get(model, ()),
    )


@lru_cache(maxsize=4096)
def limits_of(family: str, model: str | None, catalog: Catalog) -> ModelLimits:
    """The limits of ``model`` (None: the family's default); KeyError for an unknown one."""
    name = model or default_model(family, catalog)
    served = catalog.offer(family, name)
    if served is None or served.offer.standard != "legacy":
        raise KeyError(name)
    return _limits(served.offer, name)
