"""Phone channel in Stream mode (channels/media_stream.py) over a REAL WebSocket: uvicorn on 127.0.0.1
(tests/servers.py) and the ``websockets`` client playing Twilio Media Streams. A real DialogueEngine
(scripted answerer, in-memory sessions, SQLite); ScriptedSTT/ToneTTS fakes for the unit tests and
WhisperSTT on the Korean fixture in the slow test. Also the <Connect><Stream> TwiML of /twilio/voice."""

from __future__ import annotations

import asyncio
import base64
import json
import math
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from assistant.dialogue.engine import DialogueEngine, Reply
from assistant.dialogue.intents import RuleEmbeddingClassifier
from assistant.sessions import InMemorySessionStore
from assistant.settings import Settings, TwilioSettings, VoiceSettings
from assistant.storage import Database
from channels.media_stream import media_stream_router
from channels.net import stream_token
from channels.phone import PROMPTS
from eval.stt import cer
from tests.assistant.test_dialogue import ScriptedAnswerer
from tests.channels.test_phone import BASE, NIGHT, TOKEN, make_client, post, twiml
from tests.servers import LocalServer
from voice.audio import TELEPHONY_RATE, EnergyVAD, float_to_mulaw, frames, mulaw_to_float, read_wav, resample
from voice.errors import STTError
from voice.speech_text import to_speech
from voice.stt import ScriptedSTT, Transcript
from voice.tts import Audio, ToneTTS

STREAM_SECRET = "stream-test-token"
FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "audio" / "ko_sample_leopard.wav"
REFERENCE = "그는 이리저리 피하면서 길 한 옆으로 걸어갔다"
CALL_SID = "CA00000000000000000000000000000001"
QUESTION = "스마트 교차로 예산이 얼마예요?"
END_SILENCE_MS = 300  # short turn end for fast unit tests


class RecordingEngine(DialogueEngine):
    """The real engine, remembering what it was asked and what it replied."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.turns: list[tuple[str | None, str, str, Reply]] = []

    def handle(self, session_id: str | None, message: str, media_id: str | None = None,
               channel: str = "chat") -> Reply:
        reply = super().handle(session_id, message, media_id, channel)
        self.turns.append((session_id, message, channel, reply))
        return reply


@pytest.fixture()
def db(tmp_path: Path) -> Iterator[Database]:
    d = Database(f"sqlite:///{tmp_path / 'stream.db'}")
    d.create_schema()
    yield d
    d.engine.dispose()


def make_engine(db: Database) -> RecordingEngine:
    return RecordingEngine(ScriptedAnswerer(), RuleEmbeddingClassifier(None), InMemorySessionStore(), db,
                           clock=lambda: NIGHT)


def serve(state: dict[str, Any], *, end_silence_ms: int = END_SILENCE_MS, **router: Any) -> LocalServer:
    settings = Settings(voice=VoiceSettings(vad_end_silence_ms=end_silence_ms),
                        twilio=TwilioSettings(voice_mode="stream", reply_timeout_s=30,
                                              auth_token=SecretStr(STREAM_SECRET)))
    app = FastAPI()
    app.include_router(media_stream_router(state, settings, **{"playback_lead_s": 60.0, **router}))
    return LocalServer(app)


def ws_url(server: LocalServer) -> str:
    return server.url.replace("http://", "ws://") + "/twilio/media"


# --- a fake Twilio --------------------------------------------------------------------------------
class Twilio:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.sid = "MZ0000000000000000000000000000abcd"
        self.chunk = 0

    async def start(self, token: str | None = None) -> None:
        await self.ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        await self.ws.send(json.dumps({
            "event": "start", "sequenceNumber": "1", "streamSid": self.sid,
            "start": {"streamSid": self.sid, "callSid": CALL_SID, "accountSid": "AC0", "tracks": ["inbound"],
                      "customParameters": {"token": stream_token(STREAM_SECRET, CALL_SID) if token is None
                                           else token},
                      "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}}))

    async def media(self, frame: bytes) -> None:
        self.chunk += 1
        await self.ws.send(json.dumps({"event": "media", "streamSid": self.sid, "media": {
            "track": "inbound", "chunk": str(self.chunk), "timestamp": str(self.chunk * 20),
            "payload": base64.b64encode(frame).decode()}}))

    async def speak(self, mulaw: bytes, pace_s: float = 0.0) -> None:
        for frame in frames(mulaw, 160, pad=b"\xff"):
            await self.media(frame)
            if pace_s:
                await asyncio.sleep(pace_s)

    async def event(self, timeout: float = 10.0) -> dict[str, Any]:
        msg = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        assert msg.get("streamSid") == self.sid
        return dict(msg)

    async def playback(self, timeout: float = 10.0, echo: bool = True) -> tuple[int, str]:
        """Media frames until the next mark: (frame count, mark name); echoes the mark like Twilio."""
        n = 0
        while True:
            msg = await self.event(timeout)
            if msg["event"] == "media":
                assert len(base64.b64decode(msg["media"]["payload"])) == 160
                n += 1
            elif msg["event"] == "mark":
                name = str(msg["mark"]["name"])
                if echo:
                    await self.mark(name)
                return n, name
            else:
                raise AssertionError(f"unexpected {msg}")

    async def mark(self, name: str) -> None:
        await self.ws.send(json.dumps({"event": "mark", "streamSid": self.sid, "mark": {"name": name}}))

    async def dtmf(self, digit: str) -> None:
        await self.ws.send(json.dumps({"event": "dtmf", "streamSid": self.sid, "dtmf": {"track": "inbound_track",
                                                                                     "digit": digit}}))

    async def closed(self, timeout: float = 5.0) -> bool:
        try:
            while True:
                await asyncio.wait_for(self.ws.recv(), timeout)
        except ConnectionClosed:
            return True


def utterance(seconds: float = 0.8, trailing_ms: int = END_SILENCE_MS + 200) -> bytes:
    """A voiced segment (tones at speech level) and enough trailing silence to end the turn."""
    t = np.arange(int(seconds * TELEPHONY_RATE)) / TELEPHONY_RATE
    voice = 0.3 * np.sin(2 * np.pi * 220 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    silence = np.zeros(int(trailing_ms / 1000 * TELEPHONY_RATE))
    return float_to_mulaw(np.concatenate([np.zeros(1600), voice, silence]))


def expected_frames(text: str, tts: ToneTTS) -> int:
    audio = tts.synthesize(to_speech(text, max_chars=400))
    return math.ceil(math.ceil(len(audio.samples) * TELEPHONY_RATE / audio.sample_rate) / 160)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# --- unit tests (fakes) -----------------------------------------------------------------------------
def test_greeting_then_a_spoken_turn_reaches_the_engine_and_is_answered(db: Database) -> None:
    engine, tts = make_engine(db), ToneTTS(char_s=0.02)
    state = {"engine": engine, "ready": True, "stt": ScriptedSTT([QUESTION]), "tts": tts}

    async def call(url: str) -> None:
        async with connect(url) as ws:
            tw = Twilio(ws)
            await tw.start()
            n, name = await tw.playback()
            assert name == "greeting-1" and n == expected_frames(PROMPTS["greeting_closed"], tts)
            await tw.speak(utterance())
            n, name = await tw.playback()
            assert name.startswith("reply-")
            session, message, channel, reply = engine.turns[-1]
            assert (session, message, channel) == (CALL_SID, QUESTION, "phone")
            assert "500,000천원" in reply.text and n == expected_frames(reply.text, tts)

    with serve(state) as server:
        run(call(ws_url(server)))


def test_barge_in_clears_playback_and_stops_sending(db: Database) -> None:
    engine, tts = make_engine(db), ToneTTS()  # greeting of several seconds, paced at real time
    state = {"engine": engine, "ready": True, "stt": ScriptedSTT([QUESTION]), "tts": tts}
    full = expected_frames(PROMPTS["greeting_closed"], tts)

    async def call(url: str) -> None:
        async with connect(url) as ws:
            tw = Twilio(ws)
            await tw.start()
            assert (await tw.event())["event"] == "media"  # the greeting is playing
            await tw.speak(utterance())  # the caller talks over it
            received, events = 1, []
            while True:
                msg = await tw.event()
                events.append(msg["event"])
                if msg["event"] == "media":
                    received += 1
                elif msg["event"] == "clear":
                    break
            assert "mark" not in events  # the greeting never finished
            _, name = await tw.playback()  # the interruption is answered
            assert name.startswith("reply-") and engine.turns[-1][1] == QUESTION
            assert received < full

    with serve(state, playback_lead_s=0.2) as server:
        run(call(ws_url(server)))


def test_keys_follow_the_gather_menu(db: Database) -> None:
    engine, tts = make_engine(db), ToneTTS(char_s=0.01)
    state = {"engine": engine, "ready": True, "stt": ScriptedSTT([QUESTION]), "tts": tts}

    async def call(url: str) -> None:
        async with connect(url) as ws:
            tw = Twilio(ws)
            await tw.start()
            await tw.playback()
            await tw.dtmf("1")
            n, name = await tw.playback()
            assert name == "menu-2" and n == expected_frames(PROMPTS["menu_question"], tts)
            await tw.dtmf("9")
            n, name = await tw.playback()
            assert name == "menu-3" and n == expected_frames(PROMPTS["menu_unknown"], tts)
            assert engine.turns == []
            await tw.dtmf("2")
            assert (await tw.playback())[1] == "reply-4"
            assert engine.turns[-1][1] == "민원 접수하고 싶어요"
            await tw.dtmf("0")
            assert (await tw.playback())[1] == "reply-5"
            assert engine.turns[-1][1] == "상담원 연결" and engine.turns[-1][3].intent == "human"

    with serve(state) as server:
        run(call(ws_url(server)))


def test_silence_reprompts_twice_then_says_goodbye_and_hangs_up(db: Database) -> None:
    tts = ToneTTS(char_s=0.01)
    state = {"engine": make_engine(db), "ready": True, "stt": ScriptedSTT([QUESTION]), "tts": tts}
    goodbye = PROMPTS["goodbye_silence"].format(hours="평일 오전 9시부터 오후 6시까지")

    async def call(url: str) -> None:
        async with connect(url) as ws:
            tw = Twilio(ws)
            await tw.start()
            names = [(await tw.playback())[1] for _ in range(3)]
            assert names == ["greeting-1", "reprompt-2", "reprompt-3"]
            n, name = await tw.playback()
            assert name == "goodbye-4" and n == expected_frames(goodbye, tts)
            assert await tw.closed()

    with serve(state, silence_timeout_s=0.3) as server:
        run(call(ws_url(server)))


def test_speech_resets_the_silence_count(db: Database) -> None:
    state = {"engine": make_engine(db), "ready": True, "stt": ScriptedSTT([QUESTION]), "tts": ToneTTS(char_s=0.01)}

    async def call(url: str) -> None:
        async with connect(url) as ws:
            tw = Twilio(ws)
            await tw.start()
            assert [(await tw.playback())[1] for _ in range(3)] == ["greeting-1", "reprompt-2", "reprompt-3"]
            await tw.speak(utterance())
            assert (await tw.playback())[1] == "reply-4"
            assert (await tw.playback())[1] == "reprompt-5"  # counting starts again

    with serve(state, silence_timeout_s=0.5) as server:
        run(call(ws_url(server)))


def test_malformed_frames_are_ignored_and_stop_closes(db: Database) -> None:
    state = {"engine": make_engine(db), "ready": True, "stt": ScriptedSTT([QUESTION]), "tts": ToneTTS(char_s=0.01)}

    async def call(url: str) -> None:
        async with connect(url) as ws:
            tw = Twilio(ws)
            for junk in ("not json", "[1, 2]", '{"event": "start"}', '{"event": "start", "start": {}}',
                         '{"event": "weird"}', '{"event": "mark"}'):
                await ws.send(junk)
            await ws.send(b"\x00\x01")
            await tw.media(b"\xff" * 160)  # before start: ignored
            await tw.start()
            assert (await tw.playback())[1] == "greeting-1"
            for junk in ('{"event": "media", "media": {"payload": "@@not base64@@"}}',
                         '{"event": "media", "media": 7}', '{"event": "dtmf", "dtmf": {}}',
                         '{"event": "mark", "mark": {"name": 5}}'):
                await ws.send(junk)
            await tw.speak(utterance())
            assert (await tw.playback())[1] == "reply-2"  # still working
            await ws.send(json.dumps({"event": "stop", "streamSid": tw.sid, "stop": {"callSid": CALL_SID}}))
            assert await tw.closed()

    with serve(state) as server:
        run(call(ws_url(server)))


class BrokenSTT:
    def transcribe(self, audio: Any, sample_rate: int = 16000) -> Transcript:
        raise STTError("model crashed")


class FlakyTTS(ToneTTS):
    """Fails once ``broken`` is set (and always for the apology when ``apology_fails``)."""

    def __init__(self, apology_fails: bool = False) -> None:
        super().__init__(char_s=0.01)
        self.broken = False
        self.apology_fails = apology_fails

    def synthesize(self, text: str) -> Audio:
        if self.broken or (self.apology_fails and text == to_speech(PROMPTS["apology"])):
            raise RuntimeError("espeak-ng vanished")
        return super().synthesize(text)


def test_stt_error_is_an_apology_and_the_call_goes_on(db: Database) -> None:
    tts = ToneTTS(char_s=0.01)
    state = {"engine": make_engine(db), "ready": True, "stt": BrokenSTT(), "tts": tts}

    async def call(url: str) -> None:
        async with connect(url) as ws:
            tw = Twilio(ws)
            await tw.start()
            await tw.playback()
            await tw.speak(utterance())
            n, name = await tw.playback()
            assert name == "apology-2" and n == expected_frames(PROMPTS["apology"], tts)
            await tw.dtmf("1")
            assert (await tw.playback())[1] == "menu-3"

    with serve(state) as server:
        run(call(ws_url(server)))


def test_tts_failure_falls_back_to_the_prerendered_apology(db: Database) -> None:
    engine, tts = make_engine(db), FlakyTTS()
    state = {"engine": engine, "ready": True, "stt": ScriptedSTT([QUESTION]), "tts": tts}

    async def call(url: str) -> None:
        async with connect(url) as ws:
            tw = Twilio(ws)
            await tw.start()
            assert (await tw.playback())[1] == "greeting-1"
            await asyncio.sleep(0.2)  # the apology clip is rendered beside the greeting
            tts.broken = True
            await tw.speak(utterance())
            n, name = await tw.playback()
            assert name.startswith("apology-") and n == expected_frames(PROMPTS["apology"], ToneTTS(char_s=0.01))
            assert engine.turns[-1][1] == QUESTION  # the engine answered; only speaking failed

    with serve(state) as server:
        run(call(ws_url(server)))


def test_without_tts_the_line_stays_open_with_a_mark(db: Database) -> None:
    tts = FlakyTTS(apology_fails=True)
    state = {"engine": make_engine(db), "ready": True, "stt": ScriptedSTT([QUESTION]), "tts": tts}

    async def call(url: str) -> None:
        async with connect(url) as ws:
            tw = Twilio(ws)
            await tw.start()
            await tw.playback()
            await asyncio.sleep(0.2)
            tts.broken = True
            await tw.speak(utterance())
            assert await tw.playback() == (0, "apology-2")

    with serve(state) as server:
        run(call(ws_url(server)))


def test_without_speech_services_the_socket_closes_politely(db: Database) -> None:
    tts = ToneTTS(char_s=0.01)

    async def call(url: str, with_tts: bool) -> None:
        async with connect(url) as ws:
            tw = Twilio(ws)
            await tw.start()
            if with_tts:
                n, name = await tw.playback()
                assert name == "fallback-1" and n == expected_frames(PROMPTS["fallback"], tts)
            assert await tw.closed()

    with serve({"engine": make_engine(db), "ready": True, "tts": tts}) as server:
        run(call(ws_url(server), True))
    with serve({"engine": make_engine(db), "ready": True}) as server:
        run(call(ws_url(server), False))


def test_voice_webhook_connects_the_stream_after_hours(db: Database) -> None:
    client = make_client(db, NIGHT, voice_mode="stream")
    root = twiml(post(client, "/twilio/voice", {"CallSid": CALL_SID}))
    stream = root.find("./Connect/Stream")
    assert stream is not None and stream.get("url") == "wss://voice.namyangju.example/twilio/media"
    assert BASE.startswith("https://")
    gather = make_client(db, NIGHT)  # gather mode is unchanged
    assert twiml(post(gather, "/twilio/voice", {"CallSid": CALL_SID})).find("./Connect") is None


# --- slow: real Whisper on real Korean speech at real-time pace ---------------------------------------
@pytest.mark.slow
def test_real_korean_speech_through_whisper(db: Database) -> None:
    from voice.stt import WhisperSTT
    from voice.tts import EspeakTTS

    stt = WhisperSTT("base", cpu_threads=2)
    tts: Any = EspeakTTS() if shutil.which("espeak-ng") else ToneTTS()
    engine = make_engine(db)
    state = {"engine": engine, "ready": True, "stt": stt, "tts": tts}
    mulaw = float_to_mulaw(resample(read_wav(FIXTURE), 16000, TELEPHONY_RATE))
    end_silence_ms = 1200  # elderly-friendly end of turn
    # where the caller stopped talking, as the server's VAD sees the line (same level, same rate)
    vad = EnergyVAD(TELEPHONY_RATE, end_silence_ms=end_silence_ms)
    ends = [e.time_s for e in vad.feed(mulaw_to_float(mulaw + b"\xff" * 16000)) if e.kind == "end"]
    assert ends
    speech_end_s = ends[-1]

    async def call(url: str) -> float:
        async with connect(url, max_size=None) as ws:
            tw = Twilio(ws)
            await tw.start()
            assert (await tw.playback(timeout=30))[1] == "greeting-1"
            sent: list[float] = []
            reply_at: list[float] = []

            async def talk() -> None:
                t0 = time.monotonic()
                chunks = list(frames(mulaw, 160, pad=b"\xff"))
                for i, frame in enumerate(chunks + [b"\xff" * 160] * 1000):  # then silence, like a line
                    if reply_at:
                        return
                    await tw.media(frame)
                    sent.append(time.monotonic())
                    await asyncio.sleep(max(0.0, t0 + (i + 1) * 0.02 - time.monotonic()))

            talker = asyncio.create_task(talk())
            msg = await tw.event(timeout=30)
            reply_at.append(time.monotonic())
            assert msg["event"] == "media"
            n, name = await tw.playback(timeout=30)
            await talker
            assert name.startswith("reply-") and n > 10
            return reply_at[0] - sent[int(speech_end_s / 0.02)]

    with serve(state, end_silence_ms=end_silence_ms) as server:
        latency = run(call(ws_url(server)))
    assert engine.turns, "the engine never got the transcript"
    text = engine.turns[-1][1]
    error = cer(REFERENCE, text)
    print(f"\nstream transcript {text!r} CER {error:.3f}; end of speech -> first reply frame "
          f"{latency * 1000:.0f} ms = {end_silence_ms} ms end-of-turn silence + "
          f"{latency * 1000 - end_silence_ms:.0f} ms STT, engine, TTS")
    assert error <= 0.35



def test_stream_without_a_valid_token_is_refused(db: Database) -> None:
    """Twilio does not sign WebSocket connections: only streams that our signed webhook started
    (carrying its HMAC token) are served."""
    state = {"engine": make_engine(db), "ready": True, "stt": ScriptedSTT([QUESTION]), "tts": ToneTTS()}

    async def call(url: str) -> None:
        async with connect(url) as ws:
            tw = Twilio(ws)
            await tw.start(token="forged")
            assert await tw.closed()

    with serve(state) as server:
        run(call(ws_url(server)))

    # the webhook hands the stream the right token for this call
    client = make_client(db, NIGHT, voice_mode="stream")
    root = twiml(post(client, "/twilio/voice", {"CallSid": "CAabc", "From": "+821012345678"}))
    params = {p.get("name"): p.get("value") for p in root.iter("Parameter")}
    assert params["token"] == stream_token(TOKEN, "CAabc")
