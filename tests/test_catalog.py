"""The model catalogue: the packaged data matches the spec's tables (§4.1, §4.2, §9), prices give
the spec's live billing examples, operators extend it from the config file, and ``GET /v1/models``
serves it under both layouts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from kling_gateway.api import create_app
from kling_gateway.api.app import PREFIXES
from kling_gateway.catalog import Usage, build_catalog, format_units, resolution_of_mode, standard_of
from kling_gateway.catalog.tables import markdown_table, with_table
from kling_gateway.client import ClientValidationError
from kling_gateway.client.requests import prepare_create
from kling_gateway.config import Settings, load_settings
from kling_gateway.gateway import Gateway
from kling_gateway.keys import create_account
from kling_gateway.schemas import FAMILIES

# spec §4.1: product -> models served on the new standard (path ids)
NEW_STANDARD = {
    "v2/text-to-video": {"kling-3.0-turbo", "kling-3.0", "kling-2.6", "kling-2.5-turbo"},
    "v2/image-to-video": {"kling-3.0-turbo", "kling-3.0", "kling-2.6", "kling-2.5-turbo"},
    "v2/omni-video": {"kling-3.0-omni", "kling-o1"},
    "v2/motion-control": {"kling-3.0", "kling-2.6"},
}


def units(family: str, model: str | None, **usage: object) -> str:
    value = build_catalog().units(family, model, Usage.model_validate(usage))
    assert value is not None, (family, model, usage)
    return format_units(value)


def test_new_standard_products_serve_the_spec_models() -> None:
    catalog = build_catalog()
    for family, models in NEW_STANDARD.items():
        assert {s.wire_id for s in catalog.for_family(family, "new")} == models, family
        assert catalog.for_family(family, "legacy") == []
        assert standard_of(family) == "new"


@pytest.mark.parametrize(
    ("family", "model", "resolutions", "durations", "audio"),
    [
        ("v2/text-to-video", "kling-3.0-turbo", ("720p", "1080p"), tuple(range(3, 16)), ()),
        ("v2/text-to-video", "kling-3.0", ("720p", "1080p", "4k"), tuple(range(3, 16)), ("native", "off")),
        ("v2/image-to-video", "kling-2.6", ("720p", "1080p"), (5, 10), ("native", "off")),
        ("v2/image-to-video", "kling-2.5-turbo", ("720p", "1080p"), (5, 10), ()),
        (
            "v2/omni-video",
            "kling-3.0-omni",
            ("720p", "1080p", "4k"),
            tuple(range(3, 16)),
            ("native", "original", "off"),
        ),
        ("v2/omni-video", "kling-o1", ("720p", "1080p"), tuple(range(3, 11)), ("original", "off")),
        ("v2/motion-control", "kling-2.6", ("720p", "1080p"), (), ("original", "off")),
    ],
)
def test_per_model_rules_follow_the_spec_table(
    family: str, model: str, resolutions: tuple[str, ...], durations: tuple[int, ...], audio: tuple[str, ...]
) -> None:
    served = build_catalog().offer(family, model)
    assert served is not None
    offer = served.offer
    assert offer.resolutions == resolutions
    assert offer.durations is not None and offer.durations.allowed() == durations
    assert offer.audio == audio


def test_rule_details_the_validators_read() -> None:
    catalog = build_catalog()
    i2v = catalog.offer("v2/image-to-video", "kling-3.0")
    assert (
        i2v is not None
        and i2v.offer.contents["element"] == 3
        and i2v.offer.required_contents == ("first_frame",)
    )
    turbo = catalog.offer("v2/image-to-video", "kling-3.0-turbo")
    assert turbo is not None and "last_frame" not in turbo.offer.contents and turbo.offer.sound_always
    motion = catalog.offer("v2/motion-control", "kling-3.0")
    assert motion is not None and motion.offer.audio_default == "original"
    assert motion.offer.durations is not None and motion.offer.durations.follows == "video"
    t2v26 = catalog.offer("v2/text-to-video", "kling-2.6")
    assert t2v26 is not None and t2v26.offer.native_audio_resolutions == ("1080p",)
    assert t2v26.offer.resolution_default == "720p" and t2v26.offer.audio_default == "off"


def test_spec_billing_examples() -> None:
    # §5.4 live examples
    assert units("v2/omni-video", "kling-3.0-omni", resolution="720p", seconds=5) == "3"
    assert units("v2/text-to-video", "kling-3.0-turbo", resolution="720p", seconds=3) == "2.4"
    assert units("images/generations", "kling-v3", items=1) == "8"


@pytest.mark.parametrize(
    ("family", "model", "usage", "expected"),
    [
        ("v2/text-to-video", "kling-3.0", {"resolution": "1080p", "audio": True, "seconds": 10}, "12"),
        ("v2/text-to-video", "kling-3.0", {"resolution": "1080p", "seconds": 10}, "8"),
        ("v2/text-to-video", "kling-3.0", {"resolution": "4k", "audio": True, "seconds": 5}, "15"),
        ("v2/omni-video", "kling-3.0-omni", {"resolution": "1080p", "with_video": True, "seconds": 5}, "6"),
        ("v2/omni-video", "kling-3.0-omni", {"resolution": "720p", "audio": True, "seconds": 5}, "4"),
        (
            "v2/image-to-video",
            "kling-2.6",
            {"resolution": "1080p", "audio": True, "voice": True, "seconds": 5},
            "6",
        ),
        ("v2/motion-control", "kling-2.6", {"resolution": "720p", "seconds": Decimal("7.5")}, "3.75"),
        (
            "videos/text2video",
            "kling-v2-5-turbo",
            {"resolution": resolution_of_mode("pro"), "seconds": 10},
            "5",
        ),
        ("images/generations", "kling-v2-1", {"with_image": True, "items": 2}, "16"),
        ("images/omni-image", "kling-v3-omni", {"resolution": "4k", "items": 1}, "16"),
    ],
)
def test_prices_by_resolution_audio_and_inputs(
    family: str, model: str, usage: dict[str, object], expected: str
) -> None:
    assert units(family, model, **usage) == expected


def test_a_legacy_name_resolves_within_its_family() -> None:
    catalog = build_catalog()
    video = catalog.offer("videos/text2video", "kling-v3")
    image = catalog.offer("images/generations", "kling-v3")
    assert video is not None and video.model.name == "kling-3.0"
    assert image is not None and image.model.name == "kling-image-3.0"
    assert catalog.offer("v2/text-to-video", "kling-v3") is None  # path ids are dotted (§4.1)
    alias = catalog.offer("v2/omni-video", "kling-v3-omni")  # §4.1 undocumented alias (S1)
    assert alias is not None and alias.model.name == "kling-3.0-omni"
    default = catalog.offer("videos/motion-control", None)
    assert default is not None and default.model.name == "kling-2.6"
    model = catalog.model("kling-3.0")
    assert model is not None and "v2/motion-control" in model.families
    assert catalog.model("kling-9") is None
    assert catalog.units("v2/text-to-video", "kling-9", Usage(resolution="720p")) is None
    assert (
        catalog.units("videos/text2video", "kling-v1", Usage(resolution="720p", seconds=Decimal(5))) is None
    )


def test_config_file_models_override_and_extend(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(
        """
[[models]]
name = "kling-2.5-turbo"
title = "Kling 2.5 Turbo (our price)"
legacy_name = "kling-v2-5-turbo"
[[models.offers]]
family = "v2/text-to-video"
standard = "new"
resolutions = ["720p"]
durations = { choices = [5] }
prices = [{ units_per_second = 0.25 }]

[[models]]
name = "house-model"
[[models.offers]]
family = "v2/text-to-video"
standard = "new"
resolutions = ["720p"]
durations = { min = 2, max = 4 }
"""
    )
    settings = load_settings(config, data_dir=str(tmp_path))
    catalog = Gateway(settings).catalog
    turbo = catalog.model("kling-2.5-turbo")
    assert turbo is not None and turbo.title.endswith("(our price)")
    assert turbo.families == ("v2/text-to-video",)  # replaced, not merged
    assert catalog.units("v2/text-to-video", "kling-2.5-turbo", Usage(seconds=Decimal(5))) == Decimal("1.25")
    house = catalog.offer("v2/text-to-video", "house-model")
    assert (
        house is not None
        and house.offer.durations is not None
        and house.offer.durations.allowed() == (2, 3, 4)
    )
    assert catalog.model("kling-3.0") is not None  # the packaged entries stay


@pytest.mark.parametrize(
    ("offer", "says"),
    [
        ({"family": "x", "standard": "new", "audio": ["off"], "default_audio": "native"}, "default_audio"),
        (
            {"family": "x", "standard": "new", "prices": [{"units_per_second": 1, "units_per_item": 1}]},
            "exactly one",
        ),
        ({"family": "x", "standard": "new", "durations": {"min": 5}}, "min and max"),
        ({"family": "x", "standard": "new", "required_contents": ["video"]}, "required contents"),
        ({"family": "x", "standard": "newest"}, "standard"),
    ],
)
def test_bad_operator_entries_are_refused_with_the_reason(offer: dict[str, object], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        build_catalog([{"name": "broken", "offers": [offer]}])


@pytest.fixture()
def gateway(tmp_path: Path) -> Gateway:
    return Gateway(Settings(data_dir=tmp_path, workers=0))


@pytest.fixture()
async def client(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(gateway=gateway)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as http:
            yield http


async def test_models_route_lists_the_catalogue_under_both_layouts(
    client: httpx.AsyncClient, gateway: Gateway
) -> None:
    issued = await create_account(gateway.accounts, gateway.box, "models")
    auth = {"Authorization": f"Bearer {issued.api_key}"}
    for prefix in PREFIXES:
        anonymous = await client.get(f"{prefix}/models")
        assert anonymous.status_code == 401 and anonymous.json()["code"] == 1001
        listed = await client.get(f"{prefix}/models", headers=auth)
        assert listed.status_code == 200, listed.text
        names = [m["name"] for m in listed.json()["data"]]
        assert names == [m.name for m in gateway.catalog]
        omni = await client.get(f"{prefix}/models", params={"family": "v2/omni-video"}, headers=auth)
        data = omni.json()["data"]
        assert [m["name"] for m in data] == ["kling-3.0-omni", "kling-o1"]
        assert {o["family"] for m in data for o in m["offers"]} == {"v2/omni-video"}
        price = data[0]["offers"][0]["prices"][-1]
        assert price == {**price, "resolution": "1080p", "units_per_second": "0.8"}
        legacy = await client.get(f"{prefix}/models", params={"standard": "legacy"}, headers=auth)
        assert all(o["standard"] == "legacy" for m in legacy.json()["data"] for o in m["offers"])
        assert "kling-3.0-turbo" not in [m["name"] for m in legacy.json()["data"]]
        bad = await client.get(f"{prefix}/models", params={"standard": "v3"}, headers=auth)
        assert bad.status_code == 400 and bad.json()["code"] == 1201 and "standard" in bad.json()["message"]


def test_docs_models_table_is_the_catalogue() -> None:
    """docs/models.md's table is generated from models.toml; a stale one fails here (rerun
    ``python -m kling_gateway.catalog.tables``)."""
    page = (Path(__file__).parent.parent / "docs" / "models.md").read_text(encoding="utf-8")
    catalog = build_catalog()
    assert with_table(page, catalog) == page
    table = markdown_table(catalog)
    assert (
        "| `videos/text2video` | legacy | `kling-v3` | 720p, 1080p, 4k | 3–15 | native, off | 4k: 3/s;"
        in table
    )
    assert "| `images/generations` | legacy | `kling-v3` (default) | 1k, 2k | – | – | 8/item |" in table


IMG, VID = "https://example.com/x.png", "https://example.com/x.mp4"
# Bodies naming a model the packaged catalogue lacks, each also breaking a per-model rule a
# packaged model would have (duration, mode, resolution, element count).
OPERATOR_MODEL_BODIES: dict[str, dict[str, object]] = {
    "videos/text2video": {"prompt": "a", "duration": "7", "mode": "4k", "sound": "on"},
    "videos/image2video": {"image": IMG, "duration": "7", "element_list": [{"element_id": 1}]},
    "videos/omni-video": {"prompt": "a", "aspect_ratio": "16:9", "duration": "17", "mode": "4k"},
    "videos/motion-control": {
        "image_url": IMG,
        "video_url": VID,
        "character_orientation": "image",
        "mode": "std",
        "element_list": [{"element_id": 1}],
    },
    "images/generations": {"prompt": "a", "resolution": "2k", "image_fidelity": 0.5, "image": IMG},
    "images/omni-image": {"prompt": "a", "resolution": "8k"},
    "images/multi-image2image": {"subject_image_list": [{"subject_image": IMG}]},
}


@pytest.mark.parametrize("family", sorted(OPERATOR_MODEL_BODIES))
def test_the_sdk_leaves_an_unknown_models_rules_to_the_gateway(family: str) -> None:
    """The gateway validates against its catalogue (with the operator's entries); the SDK only
    has the packaged one, so for a model outside it the per-model rules are the gateway's."""
    body = {**OPERATOR_MODEL_BODIES[family], "model_name": "house-model-9"}
    with pytest.raises(ValidationError, match="model_name"):  # the packaged catalogue refuses it
        FAMILIES[family].request_model.model_validate(body)
    assert prepare_create(FAMILIES[family], body, {})["model_name"] == "house-model-9"
    # structural rules stay client-side
    with pytest.raises(ClientValidationError):
        prepare_create(FAMILIES[family], {**body, "callback_url": 7}, {})
