"""Audio synthesised from a seed: tone beds, soundtracks, and envelopes that drive visuals."""

from __future__ import annotations

import numpy as np

from .encode import SAMPLE_RATE

_SCALE = np.array([0, 2, 4, 7, 9, 12, 14, 16], np.float32)  # pentatonic-ish semitones


def _fade(audio: np.ndarray, seconds: float = 0.05) -> np.ndarray:
    n = min(audio.shape[1] // 2, int(seconds * SAMPLE_RATE))
    if n > 0:
        ramp = np.linspace(0, 1, n, dtype=np.float32)
        audio[:, :n] *= ramp
        audio[:, -n:] *= ramp[::-1]
    return audio


def tones(rng: np.random.Generator, samples: int, *, note_s: float | None = None) -> np.ndarray:
    """A soft melodic bed (2, samples) float32: seeded root, notes changing every ``note_s``."""
    t = np.arange(samples, dtype=np.float32) / SAMPLE_RATE
    root = 110.0 * 2 ** (float(rng.integers(0, 12)) / 12)
    note_s = note_s or float(rng.uniform(0.35, 0.8))
    steps = max(1, int(np.ceil(samples / SAMPLE_RATE / note_s)))
    notes = _SCALE[rng.integers(0, len(_SCALE), steps)]
    idx = np.minimum((t / note_s).astype(np.int64), steps - 1)
    freq = root * 2 ** (notes[idx] / 12 + 1)
    phase = 2 * np.pi * np.cumsum(freq) / SAMPLE_RATE
    local = (t % note_s) / note_s
    env = np.exp(-3.0 * local) * np.minimum(1.0, local * 40)
    lead = np.sin(phase) * env
    pad = 0.5 * np.sin(2 * np.pi * root * t) + 0.3 * np.sin(2 * np.pi * root * 1.5 * t)
    pan = 0.5 + 0.4 * np.sin(2 * np.pi * t / max(1.0, samples / SAMPLE_RATE))
    mono = 0.35 * lead + 0.15 * pad * (0.8 + 0.2 * np.sin(2 * np.pi * 0.25 * t))
    return _fade(np.stack([mono * (1 - pan) * 1.4, mono * pan * 1.4]).astype(np.float32))


def texture(rng: np.random.Generator, samples: int) -> np.ndarray:
    """ASMR-like close-up detail: crackles and breathy filtered noise."""
    noise = rng.standard_normal((2, samples)).astype(np.float32)
    kernel = np.ones(24, np.float32) / 24
    breath = np.stack([np.convolve(ch, kernel, mode="same") for ch in noise])
    t = np.arange(samples, dtype=np.float32) / SAMPLE_RATE
    breath *= 0.4 * (0.6 + 0.4 * np.sin(2 * np.pi * float(rng.uniform(0.2, 0.6)) * t))
    clicks = np.zeros((2, samples), np.float32)
    count = int(samples / SAMPLE_RATE * float(rng.uniform(20, 60)))
    pos = rng.integers(0, max(1, samples - 400), count)
    decay = np.exp(-np.arange(400, dtype=np.float32) / 40) * np.sin(np.arange(400, dtype=np.float32) * 1.3)
    for p, ch, amp in zip(pos, rng.integers(0, 2, count), rng.uniform(0.1, 0.5, count), strict=True):
        clicks[ch, p : p + 400] += amp * decay
    return _fade(np.clip(breath + clicks, -1, 1))


def soundtrack(rng: np.random.Generator, samples: int, *, asmr: bool = False) -> np.ndarray:
    """Music plus effects for video-to-audio / text-to-audio; ``asmr`` favours fine texture."""
    music = tones(rng, samples)
    if asmr:
        return _fade(np.clip(0.35 * music + texture(rng, samples), -1, 1))
    beat_s = float(rng.uniform(0.4, 0.7))
    t = np.arange(samples, dtype=np.float32) / SAMPLE_RATE
    local = t % beat_s
    kick = np.sin(2 * np.pi * 60 * local * (1 + 2 * np.exp(-local * 30))) * np.exp(-local * 12)
    return _fade(np.clip(music + 0.3 * kick[None, :], -1, 1).astype(np.float32))


def envelope(audio: np.ndarray, frames: int, fps: float) -> np.ndarray:
    """Loudness per video frame, scaled to 0..1 (drives the lip-sync mouth)."""
    mono = np.abs(audio).mean(axis=0) if audio.size else np.zeros(0, np.float32)
    per = SAMPLE_RATE / fps
    out = np.zeros(frames, np.float32)
    for i in range(frames):
        seg = mono[int(i * per) : int((i + 1) * per)]
        out[i] = float(np.sqrt(np.mean(seg**2))) if seg.size else 0.0
    peak = float(out.max()) if frames else 0.0
    return out / peak if peak > 1e-6 else out
