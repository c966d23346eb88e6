"""Custom voices (spec more §7.6): the reference engine keeps an excerpt of the voice's clip as
its trial audio, and renders the preset voices' trials (speech when espeak-ng is installed,
else a seeded tone line: real, decodable mp3 either way)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from kling_gateway.errors import TaskFailure

from .encode import SAMPLE_RATE, read_audio, write_mp3
from .jobs import RenderedFile, RenderJob
from .seeding import rng_for
from .synth import tones

TRIAL_MAX_S = 10.0  # a trial is the first seconds of the clip


def render_voice(job: RenderJob) -> list[RenderedFile]:
    audio = read_audio(job.inputs["clip"])
    field = job.inputs["field"]
    if audio is None or audio.shape[1] == 0:
        raise TaskFailure(f"{field}: has no audio track")
    excerpt = audio[:, : int(TRIAL_MAX_S * SAMPLE_RATE)]
    path = Path(job.out_dir) / "trial.mp3"
    write_mp3(path, excerpt)
    return [RenderedFile("trial", path.name, str(path), "audio/mpeg", seconds=excerpt.shape[1] / SAMPLE_RATE)]


def preset_trial_mp3(voice_id: str, language: str, timbre: str, line: str) -> bytes:
    """The mp3 of a preset voice's trial: ``line`` spoken, or 3 s of tones without espeak-ng."""
    from kling_gateway.media.speech import espeak_path, synthesize

    if espeak_path() is not None:
        audio = read_audio(synthesize(line, language, 1.0, timbre, field="voice_id"))
    else:
        audio = tones(rng_for(int(voice_id) % (2**31), "preset-voice"), int(3 * SAMPLE_RATE))
    assert audio is not None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trial.mp3"
        write_mp3(path, audio)
        return path.read_bytes()
