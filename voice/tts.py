"""Text-to-speech: the ``TTS`` seam, the ``Audio`` it returns, and its providers.

- ``EspeakTTS`` — the espeak-ng binary (Debian package ``espeak-ng``), the offline Korean voice. The text
  goes to the process on stdin (never through a shell, never as an argument that could look like an
  option); the WAV comes back on stdout.
- ``CoquiTTS`` — Coqui TTS (``pip install coqui-tts``) for deployments that provide a model; the package
  is imported only when this class is built.
- ``ToneTTS`` — a deterministic fake for tests (one short tone per character, no dependencies).

Both real providers first rewrite the text with ``speech_text.to_speech`` (numbers, dates, money, times,
phone numbers in Korean words; long texts cut at a sentence boundary) unless built with
``normalize=False``. Contract: empty or whitespace-only text (or text with nothing speakable left) is a
``TTSError`` with ``transient=False`` — a caller bug, never silently "spoken" as silence.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from .errors import TTSError
from .speech_text import DEFAULT_MAX_CHARS, to_speech, truncate_at_sentence

Int16Array = npt.NDArray[np.int16]


@dataclass(frozen=True, slots=True)
class Audio:
    """Synthesised speech: mono int16 samples at ``sample_rate`` Hz."""

    samples: Int16Array
    sample_rate: int

    def __post_init__(self) -> None:
        if self.samples.dtype != np.int16 or self.samples.ndim != 1:
            raise TTSError(f"Audio needs 1-D int16 samples, got {self.samples.dtype} {self.samples.shape}")
        if self.sample_rate <= 0:
            raise TTSError(f"bad sample rate {self.sample_rate}")

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate

    def to_wav_bytes(self) -> bytes:
        """A complete 16-bit mono PCM WAV file."""
        buf = io.BytesIO()
        with wave.open(buf, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(self.sample_rate)
            w.writeframes(self.samples.astype("<i2").tobytes())
        return buf.getvalue()

    @classmethod
    def from_wav_bytes(cls, data: bytes) -> Audio:
        """Parse a 16-bit PCM WAV (channels are averaged). Tolerates the placeholder sizes espeak-ng
        writes when streaming to stdout: the data chunk runs to the end of the bytes."""
        if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
            raise TTSError("synthesiser output is not a WAV file")
        pos, channels, rate, width = 12, 0, 0, 0
        while pos + 8 <= len(data):
            chunk, size = data[pos:pos + 4], int.from_bytes(data[pos + 4:pos + 8], "little")
            body = pos + 8
            if chunk == b"fmt ":
                fmt = int.from_bytes(data[body:body + 2], "little")
                channels = int.from_bytes(data[body + 2:body + 4], "little")
                rate = int.from_bytes(data[body + 4:body + 8], "little")
                width = int.from_bytes(data[body + 14:body + 16], "little")
                if fmt not in (1, 0xFFFE) or width != 16 or channels < 1:
                    raise TTSError(f"unsupported WAV format (format {fmt}, {width}-bit, {channels} channels)")
            elif chunk == b"data":
                if not rate:
                    raise TTSError("WAV data chunk before its format chunk")
                pcm = data[body:min(body + size, len(data))]
                pcm = pcm[:len(pcm) - len(pcm) % (2 * channels)]
                samples = np.frombuffer(pcm, dtype="<i2").astype(np.int16)
                if channels > 1:
                    samples = samples.reshape(-1, channels).mean(axis=1).astype(np.int16)
                return cls(samples, rate)
            pos = body + size + (size & 1)
        raise TTSError("WAV file has no data chunk")


class TTS(Protocol):
    """Text -> speech. Implementations raise ``TTSError`` (see ``transient``), never a third-party error."""

    def synthesize(self, text: str) -> Audio:
        """Speak ``text`` (Korean); empty text is a ``TTSError``."""
        ...


def _prepare(text: str, normalize: bool, max_chars: int) -> str:
    spoken = to_speech(text, max_chars=max_chars) if normalize else truncate_at_sentence(text.strip(), max_chars)
    if not spoken.strip():
        raise TTSError("nothing to say: the text is empty")
    return spoken


def float_to_int16(audio: npt.ArrayLike) -> Int16Array:
    x = np.nan_to_num(np.asarray(audio, dtype=np.float64).reshape(-1))
    return (np.clip(x, -1.0, 1.0) * 32767.0).round().astype(np.int16)


class EspeakTTS:
    """espeak-ng through a subprocess (``apt-get install espeak-ng``); 22,050 Hz mono output.

    ``rate`` is espeak's speed in words per minute (80-450); ``voice`` any espeak-ng voice (``ko``).
    Raises ``TTSError`` at construction when the binary is missing.
    """

    def __init__(self, voice: str = "ko", rate: int = 160, binary: str = "espeak-ng", *,
                 normalize: bool = True, timeout_s: float = 30.0, max_chars: int = DEFAULT_MAX_CHARS) -> None:
        path = shutil.which(binary)
        if path is None:
            raise TTSError(f"{binary} not found: install it (apt-get install espeak-ng) or choose another "
                           "TTS provider (ASSISTANT_VOICE__TTS_PROVIDER)")
        if not 80 <= rate <= 450:
            raise TTSError(f"espeak-ng rate must be 80-450 words per minute, got {rate}")
        self.binary, self.voice, self.rate = path, voice, rate
        self.normalize, self.timeout_s, self.max_chars = normalize, timeout_s, max_chars

    def command(self) -> list[str]:
        """The argument vector; the text is written to stdin (``-b 1``: UTF-8)."""
        return [self.binary, "-v", self.voice, "-s", str(self.rate), "-b", "1", "--stdout"]

    def synthesize(self, text: str) -> Audio:
        spoken = _prepare(text, self.normalize, self.max_chars)
        try:
            proc = subprocess.run(self.command(), input=spoken.encode("utf-8"), capture_output=True,
                                  timeout=self.timeout_s, check=False)
        except subprocess.TimeoutExpired as exc:
            raise TTSError(f"espeak-ng took longer than {self.timeout_s:g} s", transient=True) from exc
        except FileNotFoundError as exc:
            raise TTSError(f"{self.binary} disappeared: {exc}") from exc
        except OSError as exc:  # fork/pipe failures under load
            raise TTSError(f"cannot run espeak-ng: {exc}", transient=True) from exc
        if proc.returncode != 0:
            message = proc.stderr.decode("utf-8", "replace").strip() or f"exit status {proc.returncode}"
            raise TTSError(f"espeak-ng failed (voice {self.voice!r}): {message}",
                           transient=proc.returncode < 0)  # killed by a signal: may pass
        audio = Audio.from_wav_bytes(proc.stdout)
        if not len(audio.samples):
            raise TTSError("espeak-ng produced no audio")
        return audio


class CoquiTTS:
    """Coqui TTS with a local model: ``model_path`` is a checkpoint file (config beside it as
    ``config.json``) or a folder holding ``config.json`` and one ``*.pth``. Loads at construction."""

    def __init__(self, model_path: str | Path, config_path: str | Path | None = None, *,
                 speaker: str | None = None, language: str | None = None, device: str = "cpu",
                 normalize: bool = True, max_chars: int = DEFAULT_MAX_CHARS) -> None:
        model, config = self._locate(Path(model_path) if str(model_path) else None, config_path)
        try:
            from TTS.api import TTS as CoquiApi
        except ImportError as exc:
            raise TTSError("coqui-tts is not installed (pip install coqui-tts), or choose "
                           "ASSISTANT_VOICE__TTS_PROVIDER=espeak") from exc
        try:
            self._tts: Any = CoquiApi(model_path=str(model), config_path=str(config)).to(device)
        except Exception as exc:  # the model files are broken or do not match the package
            raise TTSError(f"cannot load Coqui model {model}: {exc}") from exc
        self.speaker, self.language = speaker, language
        self.normalize, self.max_chars = normalize, max_chars

    @staticmethod
    def _locate(model: Path | None, config: str | Path | None) -> tuple[Path, Path]:
        if model is None:
            raise TTSError("Coqui TTS needs a model: set ASSISTANT_VOICE__COQUI_MODEL_PATH")
        if model.is_dir():
            checkpoints = sorted(model.glob("*.pth"))
            if not checkpoints:
                raise TTSError(f"no *.pth checkpoint in {model}")
            cfg = Path(config) if config else model / "config.json"
            model = checkpoints[0]
        else:
            cfg = Path(config) if config else model.with_name("config.json")
        for p in (model, cfg):
            if not p.is_file():
                raise TTSError(f"Coqui model file not found: {p}")
        return model, cfg

    def synthesize(self, text: str) -> Audio:
        spoken = _prepare(text, self.normalize, self.max_chars)
        try:
            wav = self._tts.tts(text=spoken, speaker=self.speaker, language=self.language)
            rate = int(self._tts.synthesizer.output_sample_rate)
        except Exception as exc:
            raise TTSError(f"Coqui synthesis failed: {exc}") from exc
        return Audio(float_to_int16(wav), rate)


class ToneTTS:
    """Deterministic fake: each character becomes a short tone (pitch from the character), spaces and
    punctuation become silence. Same empty-text contract as the real providers."""

    def __init__(self, sample_rate: int = 16000, char_s: float = 0.06, max_s: float = 30.0) -> None:
        self.sample_rate, self.char_s, self.max_s = sample_rate, char_s, max_s

    def synthesize(self, text: str) -> Audio:
        if not text.strip():
            raise TTSError("nothing to say: the text is empty")
        n = round(self.sample_rate * self.char_s)
        chars = text[:max(1, int(self.max_s / self.char_s))]
        t = np.arange(n) / self.sample_rate
        envelope = np.minimum(1.0, np.minimum(t, t[::-1]) * 200)
        parts = [np.zeros(n) if not c.isalnum() else
                 0.3 * envelope * np.sin(2 * np.pi * (200 + ord(c) % 400) * t) for c in chars]
        return Audio(float_to_int16(np.concatenate(parts)), self.sample_rate)
