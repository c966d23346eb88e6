"""Text to speech with a local espeak-ng, for lip-sync's text2video mode."""

from __future__ import annotations

import shutil
import subprocess

from kling_gateway.errors import ServerFailure, TaskFailure

_VOICES = {"zh": "cmn", "en": "en-us"}
_MISSING = (
    "text2video lip-sync needs a local speech synthesiser (espeak-ng) on the gateway host; use audio2video"
)


def espeak_path() -> str | None:
    return shutil.which("espeak-ng")


def require_speech() -> None:
    """Raise ServerFailure when no synthesiser is installed (the host's lack, not the client's)."""
    if espeak_path() is None:
        raise ServerFailure(_MISSING)


_VARIANTS = {"male": "m3", "female": "f3", "child": "f5"}


def synthesize(
    text: str, language: str = "en", speed: float = 1.0, timbre: str | None = None, field: str = "input.text"
) -> bytes:
    """WAV bytes of ``text`` spoken in ``language`` ("zh"/"en") at ``speed`` (1.0 = 175 words/min),
    in a male, female or child ``timbre`` (espeak-ng variants)."""
    exe = espeak_path()
    if exe is None:
        raise ServerFailure(_MISSING)
    voice = _VOICES.get(language, "en-us")
    if timbre in _VARIANTS:
        voice += "+" + _VARIANTS[timbre]
    wpm = max(80, min(450, round(175 * speed)))
    proc = subprocess.run(
        [exe, "-v", voice, "-s", str(wpm), "--stdout", text],
        capture_output=True,
        timeout=60,
        check=False,
    )
    if proc.returncode != 0 or len(proc.stdout) < 100:
        raise TaskFailure(f"{field}: speech synthesis failed ({proc.stderr.decode(errors='replace')[:200]})")
    return proc.stdout
