"""Spoken prompts: espeak-ng (Debian) reads a catalogue text to WAV, kept in memory per text.

Only the catalogue's fixed texts are ever spoken, so the cache holds a few
dozen short clips and nothing about the customer. The audio goes only to the
page on this device.
"""

from __future__ import annotations

import shutil
import subprocess
import threading

from edge_agent.errors import SpeechUnavailable

__all__ = ["VOICES", "Speech", "SpeechUnavailable"]

VOICES = {"zh-CN": "cmn", "en": "en"}


class Speech:
    """Spoken prompts through espeak-ng, cached in memory; the pages stay silent when it is missing."""

    def __init__(self, binary: str = "espeak-ng", speed_wpm: int = 150) -> None:
        self._binary = binary
        self._speed = speed_wpm
        self._cache: dict[tuple[str, str], bytes] = {}
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        """Whether espeak-ng is installed, so the pages offer speech only when it can work."""
        return shutil.which(self._binary) is not None

    def prewarm(self, texts: list[tuple[str, str]]) -> None:
        """Speaks ``(lang, text)`` pairs into the cache ahead of time, so the first prompt is not late."""
        for lang, text in texts:
            try:
                self.wav(lang, text)
            except SpeechUnavailable:
                return

    def wav(self, lang: str, text: str) -> bytes:
        """The WAV of ``text`` in ``lang``'s voice (from the cache after the first time)."""
        key = (lang, text)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        voice = VOICES.get(lang)
        if voice is None:
            raise SpeechUnavailable(f"no voice for language {lang!r}")
        try:
            proc = subprocess.run([self._binary, "-v", voice, "-s", str(self._speed), "--stdout", text],
                                  capture_output=True, timeout=20, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SpeechUnavailable(f"{self._binary} cannot speak: {exc}") from None
        if proc.returncode != 0 or not proc.stdout.startswith(b"RIFF"):
            raise SpeechUnavailable(f"{self._binary} -v {voice} failed: {proc.stderr.decode(errors='replace')[:200]}")
        with self._lock:
            self._cache[key] = proc.stdout
        return proc.stdout
