"""Per-model limits of the legacy families added for issue #15 (spec more §7.1–§7.3, §9).

One small table, read by validation and the reference engine's sizing, until the model
catalogue (``kling_gateway.catalog``) takes it over.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelLimits:
    durations: tuple[str, ...] = ()  # whole seconds as strings; () = follows an input
    modes: tuple[str, ...] = ("std", "pro")
    sound: bool = False  # may ``sound: "on"`` be asked for
    multi_shot: bool = False
    short_durations: tuple[str, ...] = ()  # O1 text-to-video and first-frame-only


def _seconds(low: int, high: int) -> tuple[str, ...]:
    return tuple(str(n) for n in range(low, high + 1))


# family -> model -> limits; the first model of a family is its default
MODEL_LIMITS: dict[str, dict[str, ModelLimits]] = {
    "videos/omni-video": {
        "kling-video-o1": ModelLimits(durations=_seconds(3, 10), short_durations=("5", "10")),
        "kling-v3-omni": ModelLimits(
            durations=_seconds(3, 15), modes=("std", "pro", "4k"), sound=True, multi_shot=True
        ),
    },
    "videos/motion-control": {
        "kling-v2-6": ModelLimits(),
        "kling-v3": ModelLimits(),
    },
}


def models_of(family: str) -> tuple[str, ...]:
    return tuple(MODEL_LIMITS[family])


def default_model(family: str) -> str:
    return next(iter(MODEL_LIMITS[family]))


def limits_of(family: str, model: str | None) -> ModelLimits:
    """The limits of ``model`` (None: the family's default); KeyError for an unknown one."""
    table = MODEL_LIMITS[family]
    return table[model or default_model(family)]
