"""The query side of the catalogue: find a model by name, the models of a family, the units of
a request."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from .models import ModelSpec, Offer, Standard, Usage

# Legacy ``mode`` → new-standard ``resolution`` (spec §1, "same-model mapping").
MODE_RESOLUTION = {"std": "720p", "pro": "1080p", "4k": "4k"}


def resolution_of_mode(mode: str | None) -> str:
    """The resolution a legacy ``mode`` stands for (``std`` when absent, as Kling defaults)."""
    return MODE_RESOLUTION.get(mode or "std", "720p")


def standard_of(family: str) -> Standard:
    """New-standard products are named ``v2/<product>``; everything else is legacy."""
    return "new" if family.startswith("v2/") else "legacy"


@dataclass(frozen=True)
class Served:
    """One (model, offer) pair: what ``for_family`` yields."""

    model: ModelSpec
    offer: Offer

    @property
    def wire_id(self) -> str:
        return self.model.wire_id(self.offer)


class Catalog:
    """An immutable view over the model entries, indexed once."""

    def __init__(self, models: Iterable[ModelSpec]) -> None:
        self._models: dict[str, ModelSpec] = {}
        for spec in models:
            self._models[spec.name] = spec  # a later entry with the same name replaces
        self._aliases: dict[str, str] = {}
        for spec in self._models.values():
            for alias in spec.aliases:
                self._aliases.setdefault(alias, spec.name)
        self._by_family: dict[tuple[str, str], Served] = {}
        for spec in self._models.values():
            for offer in spec.offers:
                key = (offer.family, spec.wire_id(offer))
                self._by_family.setdefault(key, Served(spec, offer))
                for alias in spec.aliases if offer.standard == "new" else ():
                    self._by_family.setdefault((offer.family, alias), Served(spec, offer))
        # for_family's answers, built on first ask: every create validates against them
        self._family_lists: dict[tuple[str, Standard | None], tuple[Served, ...]] = {}

    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(self._models.values())

    def __len__(self) -> int:
        return len(self._models)

    def model(self, name: str) -> ModelSpec | None:
        """A model by catalogue name (the new-standard path id) or alias."""
        spec = self._models.get(name)
        if spec is None and name in self._aliases:
            spec = self._models[self._aliases[name]]
        return spec

    def for_family(self, family: str, standard: Standard | None = None) -> list[Served]:
        """Every model serving ``family`` (on ``standard``, when given), catalogue order."""
        found = self._family_lists.get((family, standard))
        if found is None:
            found = self._family_lists[(family, standard)] = tuple(
                Served(spec, offer)
                for spec in self._models.values()
                for offer in spec.offers
                if offer.family == family and (standard is None or offer.standard == standard)
            )
        return list(found)

    def offer(self, family: str, model_id: str | None) -> Served | None:
        """The model a request names on ``family`` (path id or ``model_name``; aliases too),
        or the family's default model when ``model_id`` is None."""
        if model_id is None:
            return next((s for s in self.for_family(family) if s.offer.default), None)
        return self._by_family.get((family, model_id))

    def units(self, family: str, model_id: str | None, usage: Usage) -> Decimal | None:
        """Units a request costs; None when the model or its price is not in the catalogue."""
        served = self.offer(family, model_id)
        return None if served is None else served.offer.units(usage)

    @property
    def families(self) -> list[str]:
        return list(dict.fromkeys(o.family for spec in self._models.values() for o in spec.offers))


def format_units(units: Decimal) -> str:
    """Units as Kling writes them: a plain decimal string without trailing zeros (``"2.4"``, ``"3"``)."""
    return format(units.normalize(), "f")
