"""``GET /v1/models`` (gateway extension): the model catalogue as served, for discovery."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..catalog import STANDARDS, Catalog, ModelSpec
from ..errors import Code, KlingError
from ..schemas.tasks import Envelope
from . import envelope
from .deps import authenticate, services_of
from .middleware import request_id_of
from .routes import Endpoint

FILTER_PARAMETERS = (
    {
        "name": "family",
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": "only models serving this family (`videos/text2video`, `v2/text-to-video`, …)",
    },
    {
        "name": "standard",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "enum": list(STANDARDS)},
        "description": "only offers on this API standard",
    },
)


class ModelListEnvelope(Envelope):
    data: list[ModelSpec]


def listing(catalog: Catalog, family: str | None, standard: str | None) -> list[dict[str, Any]]:
    """The catalogue entries as JSON, keeping only the offers that match the filters."""
    if standard is not None and standard not in STANDARDS:
        raise KlingError(Code.INVALID_PARAMETER, f"standard must be one of {', '.join(STANDARDS)}")
    out = []
    for spec in catalog:
        offers = [
            o
            for o in spec.offers
            if (family is None or o.family == family) and (standard is None or o.standard == standard)
        ]
        if offers:
            out.append(spec.model_copy(update={"offers": tuple(offers)}).model_dump(mode="json"))
    return out


async def list_models(request: Request) -> Response:
    await authenticate(request)
    query = request.query_params
    data = listing(services_of(request).catalog, query.get("family"), query.get("standard"))
    return envelope.success(data, request_id_of(request))


def endpoints() -> list[Endpoint]:
    return [
        Endpoint(
            "GET",
            "/models",
            list_models,
            name="list_models",
            summary="List the models served (gateway extension)",
            tag="models",
            description="Every model of the catalogue with the families and standards it serves, its "
            "rules (resolutions, durations, audio, inputs) and prices in units.",
            ok=ModelListEnvelope,
            parameters=FILTER_PARAMETERS,
        )
    ]
