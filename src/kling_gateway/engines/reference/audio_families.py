"""Renderer for audio/text-to-audio, and the MP3+WAV pair every audio result carries."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kling_gateway.errors import TaskFailure

from .encode import SAMPLE_RATE, read_audio, write_mp3, write_wav
from .jobs import RenderedFile, RenderJob
from .seeding import rng_for
from .synth import soundtrack


def write_audio_pair(job: RenderJob, audio: np.ndarray) -> list[RenderedFile]:
    seconds = audio.shape[1] / SAMPLE_RATE
    mp3, wav = Path(job.out_dir) / "audio.mp3", Path(job.out_dir) / "audio.wav"
    write_mp3(mp3, audio)
    write_wav(wav, audio)
    return [
        RenderedFile("mp3", mp3.name, str(mp3), "audio/mpeg", seconds=seconds),
        RenderedFile("wav", wav.name, str(wav), "audio/wav", seconds=seconds),
    ]


def render_text_to_audio(job: RenderJob) -> list[RenderedFile]:
    seconds = float(job.request.get("duration") or 5.0)
    samples = int(round(seconds * SAMPLE_RATE))
    prompt = (job.request.get("prompt") or "").lower()
    asmr = any(word in prompt for word in ("asmr", "whisper", "rain", "crackl", "rustl"))
    return write_audio_pair(job, soundtrack(rng_for(job.seed, "audio"), samples, asmr=asmr))


def render_tts(job: RenderJob) -> list[RenderedFile]:
    """Speech from espeak-ng in the voice's language and timbre, at the asked speed, as mp3."""
    from kling_gateway.media.speech import synthesize
    from kling_gateway.schemas.tts_voices import TTS_VOICES

    req = job.request
    voice = str(req.get("voice_id") or "")
    language, timbre = TTS_VOICES.get(voice, ("zh", "male"))
    speed = float(req.get("voice_speed") or 1.0)
    wav = synthesize(str(req.get("text") or ""), language, speed, timbre, field="text")
    audio = read_audio(wav)
    if audio is None or audio.shape[1] == 0 or not np.abs(audio).max() > 0:
        raise TaskFailure("text: nothing to speak (the speech synthesised from it is silent)")
    path = Path(job.out_dir) / "speech.mp3"
    write_mp3(path, audio)
    return [RenderedFile("speech", path.name, str(path), "audio/mpeg", seconds=audio.shape[1] / SAMPLE_RATE)]
