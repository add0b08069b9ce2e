"""The real Korean fixture replayed at real-time pace through a REAL WebSocket as a Twilio both_tracks
fork (WS /twilio/media, mode=agent): the caller says the fixture, then the agent says it; the agent
console (WS /agent/calls/{id}) must get a first partial before the final, finals ordered and
non-overlapping per leg and labelled, final text within the CER bound of the offline transcription of
the same telephone audio, and no word duplicated between partials and finals.

``test_replay_with_scripted_stt`` runs the same checks fast (ScriptedSTT, 4x real time: audio sent all
at once would reach the transcriber in one piece, leaving no moment for a partial);
``test_replay_with_real_whisper`` (slow) uses the packaged Whisper base model."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from websockets.asyncio.client import connect

from assistant.auth import hash_password
from assistant.calls.assist import AgentAssist
from assistant.calls.hub import InProcessCallHub
from assistant.calls.registry import InMemoryCallRegistry
from assistant.calls.service import CallConfig, CallService
from assistant.complaints.routing import TableRouter
from assistant.dialogue.intents import RuleEmbeddingClassifier
from assistant.settings import AgentSettings, Settings, TwilioSettings
from channels.agent_console import agent_console_router
from channels.media_stream import media_stream_router
from channels.net import stream_token
from eval.stt import cer
from tests.assistant.test_dialogue import ScriptedAnswerer
from tests.servers import LocalServer
from voice.audio import STT_RATE, TELEPHONY_RATE, float_to_mulaw, mulaw_to_float, read_wav, resample
from voice.stt import STT, ScriptedSTT

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "audio" / "ko_sample_leopard.wav"
REFERENCE = "그는 이리저리 피하면서 길 한 옆으로 걸어갔다"
SECRET = "replay-secret"
CALL_SID = "CA0000000000000000000000000000feed"
FRAME = 160  # 20 ms of 8 kHz mu-law


def telephone_fixture() -> bytes:
    return float_to_mulaw(resample(read_wav(FIXTURE), STT_RATE, TELEPHONY_RATE))


def legs() -> tuple[bytes, bytes, float, float]:
    """(inbound, outbound, caller speech start s, agent speech start s): caller speaks at 0.5 s, the agent
    answers with the same sentence 1.5 s after the caller's audio ends; 1.5 s of silence at the end."""
    speech = telephone_fixture()
    silence = b"\xff"
    caller_at, gap = 0.5, 1.5
    agent_at = caller_at + len(speech) / TELEPHONY_RATE + gap
    total = agent_at + len(speech) / TELEPHONY_RATE + 1.5
    n = round(total * TELEPHONY_RATE)
    inbound = bytearray(silence * n)
    outbound = bytearray(silence * n)
    a = round(caller_at * TELEPHONY_RATE)
    inbound[a:a + len(speech)] = speech
    b = round(agent_at * TELEPHONY_RATE)
    outbound[b:b + len(speech)] = speech
    return bytes(inbound), bytes(outbound), caller_at, agent_at


def serve(stt: STT) -> tuple[LocalServer, CallService, str]:
    h = hash_password("pw", iterations=1000)
    settings = Settings(agent=AgentSettings(users={"kim": h}, secret_key=SecretStr("s" * 32)),
                        twilio=TwilioSettings(auth_token=SecretStr(SECRET)))
    svc = CallService(InProcessCallHub(), InMemoryCallRegistry(),
                      AgentAssist(ScriptedAnswerer(), RuleEmbeddingClassifier(None), TableRouter()),
                      lambda: stt, agents=["kim"], config=CallConfig())
    state: dict[str, Any] = {"calls": svc}
    app = FastAPI()
    app.include_router(agent_console_router(state, settings))
    app.include_router(media_stream_router(state, settings))
    server = LocalServer(app)
    return server, svc, ""


async def replay(base: str, svc: CallService, cookie: str, speed: float) -> tuple[list[tuple[float, dict[str, Any]]],
                                                                                 float]:
    """Play both legs like Twilio at ``speed`` x real time; returns the console's (arrival s since the first
    frame, message) list."""
    inbound, outbound, _, _ = legs()
    ws_base = base.replace("http://", "ws://")
    received: list[tuple[float, dict[str, Any]]] = []
    t0 = 0.0

    async def twilio() -> None:
        nonlocal t0
        async with connect(ws_base + "/twilio/media") as ws:
            await ws.send(json.dumps({"event": "start", "streamSid": "MZ1", "start": {
                "streamSid": "MZ1", "callSid": CALL_SID, "tracks": ["inbound", "outbound"],
                "customParameters": {"token": stream_token(SECRET, CALL_SID), "mode": "agent",
                                     "caller": "+821012345678"},
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}}))
            for _ in range(500):
                if await svc.registry.get(CALL_SID) is not None:
                    break
                await asyncio.sleep(0.01)
            await console_ready.wait()
            t0 = time.perf_counter()
            for k, i in enumerate(range(0, len(inbound), FRAME)):
                ahead = t0 + k * 0.02 / speed - time.perf_counter()
                if ahead > 0:
                    await asyncio.sleep(ahead)
                for track, data in (("inbound", inbound), ("outbound", outbound)):
                    await ws.send(json.dumps({"event": "media", "streamSid": "MZ1", "media": {
                        "track": track, "chunk": str(k), "timestamp": str(k * 20),
                        "payload": base64.b64encode(data[i:i + FRAME]).decode()}}))
            await ws.send(json.dumps({"event": "stop", "streamSid": "MZ1"}))
            await asyncio.sleep(0.5)

    async def console() -> None:
        for _ in range(500):
            if await svc.registry.get(CALL_SID) is not None:
                break
            await asyncio.sleep(0.01)
        async with connect(f"{ws_base}/agent/calls/{CALL_SID}", additional_headers={"Cookie": cookie}) as ws:
            await ws.recv()  # hello
            console_ready.set()
            while True:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 60))
                received.append((time.perf_counter() - t0, msg))
                if msg["type"] == "status" and msg["status"] == "ended":
                    return

    console_ready = asyncio.Event()
    await asyncio.gather(twilio(), console())
    return received, t0


def check(received: list[tuple[float, dict[str, Any]]], offline_cer: float | None) -> dict[str, Any]:
    _, _, caller_at, agent_at = legs()
    transcript = [(t, m) for t, m in received if m["type"] == "transcript"]
    report: dict[str, Any] = {}
    for speaker, spoke_at in (("caller", caller_at), ("agent", agent_at)):
        events = [(t, m) for t, m in transcript if m["speaker"] == speaker]
        partials = [(t, m) for t, m in events if m["kind"] == "partial"]
        finals = [(t, m) for t, m in events if m["kind"] == "final"]
        assert partials, f"no partial for the {speaker}"
        assert finals, f"no final for the {speaker}"
        assert partials[0][0] < finals[0][0]  # the first partial arrives before the final
        for (_, a), (_, b) in itertools.pairwise(finals):  # ordered, non-overlapping
            assert a["end"] <= b["start"] + 1e-6 and a["seq"] < b["seq"]
        for _, f in finals:
            assert f["start"] <= f["end"]
        text = " ".join(f["text"] for _, f in finals)
        words = text.split()
        assert len(words) <= len(REFERENCE.split()) + 2  # no word of a partial repeated in the final
        assert all(x != y for x, y in itertools.pairwise(words))
        for (_, f), nxt in itertools.pairwise(events):  # after a final the next line starts anew
            if f["kind"] == "final" and nxt[1]["kind"] == "partial":
                assert not nxt[1]["text"].startswith(f["text"])
        error = cer(REFERENCE, text)
        if offline_cer is not None:
            assert error <= offline_cer + 0.1, (text, error, offline_cer)
        report[speaker] = {"first_partial_s": round(partials[0][0] - spoke_at, 2),
                           "final_after_speech_s": round(finals[-1][0] - spoke_at, 2), "text": text,
                           "cer": round(error, 3)}
    assert next(m["speaker"] for _, m in transcript if m["kind"] == "final") == "caller"
    types = [m["type"] for _, m in received]
    assert "summary" in types and types[-1] == "status"
    return report


def login_cookie(base: str) -> str:
    c = httpx.Client(base_url=base, follow_redirects=False, timeout=10)
    assert c.post("/agent/login", data={"username": "kim", "password": "pw"}).status_code == 303
    return f"nyj_agent={c.cookies['nyj_agent']}"


def test_replay_with_scripted_stt() -> None:
    server, svc, _ = serve(ScriptedSTT([REFERENCE]))
    with server:
        received, _ = asyncio.run(replay(server.url, svc, login_cookie(server.url), speed=4.0))
    report = check(received, offline_cer=0.0)
    assert report["caller"]["text"] == REFERENCE == report["agent"]["text"]


@pytest.fixture(scope="module")
def whisper() -> Iterator[STT]:
    from voice.stt import WhisperSTT

    yield WhisperSTT("base", cpu_threads=2, beam_size=1, temperature=0.0)  # the console's decoding settings


@pytest.mark.slow
def test_replay_with_real_whisper(whisper: STT) -> None:
    telephone = resample(mulaw_to_float(telephone_fixture()), TELEPHONY_RATE, STT_RATE)
    offline = cer(REFERENCE, whisper.transcribe(np.asarray(telephone), STT_RATE).text)
    server, svc, _ = serve(whisper)
    with server:
        received, _ = asyncio.run(replay(server.url, svc, login_cookie(server.url), speed=1.0))
    report = check(received, offline_cer=offline)
    print(f"\nreal-time replay, whisper-base, offline CER {offline:.3f}: {report}")
