"""The phone channel in Stream mode: a Twilio Media Streams WebSocket (``WS /twilio/media``) with our
own turn-taking, speech recognition and speech synthesis.

Per call: inbound 8 kHz mu-law is fed to an ``EnergyVAD`` (end of turn after
``voice.vad_end_silence_ms`` of silence: raise it for elderly callers); each finished utterance is
resampled to 16 kHz and transcribed (``state["stt"]``, in a thread), the text goes to the dialogue
engine (session id = CallSid, channel "phone", ``twilio.reply_timeout_s`` timeout), the reply is
spoken with ``state["tts"]`` (in a thread), resampled to 8 kHz, mu-law encoded and sent as 160-byte
``media`` frames followed by a ``mark`` named ``<kind>-<n>`` (greeting-1, reply-2, ...).

Decisions: frames are sent paced at real time plus ``playback_lead_s`` so that a barge-in (caller
speech, or a key, while a reply has not been played back, i.e. before its mark returns) can send
``clear`` and stop sending the rest. Keys follow Gather mode (1 문의, 2 민원 접수, 0 상담원 연결).
After a reply has been played, ``silence_timeout_s`` without speech re-prompts; after
``MAX_REPROMPTS`` re-prompts the caller hears goodbye and the socket is closed (Twilio then ends the
call, since nothing follows ``<Connect>``). Any STT/TTS/engine error becomes a spoken Korean apology
(a clip pre-rendered at the start of the call if the TTS itself fails, else only a mark); malformed
frames are logged and ignored. All per-call state lives in a ``_Call`` object made by the handler.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import json
import logging
import time
from collections import deque
from typing import Any

import numpy as np
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from assistant.calls.registry import choose_agent
from assistant.calls.service import CallService
from assistant.dialogue.engine import DialogueEngine, Reply
from assistant.factory import office_hours_from
from assistant.settings import Settings
from voice.audio import (
    MULAW_FRAME_BYTES,
    STT_RATE,
    TELEPHONY_RATE,
    EnergyVAD,
    float_to_mulaw,
    frames,
    mulaw_to_float,
    resample,
)
from voice.speech_text import to_speech
from voice.stt import STT
from voice.tts import TTS

from .net import stream_token
from .phone import MAX_REPROMPTS, MAX_SPEECH_CHARS, MENU_MESSAGES, PROMPTS, _hours_text, _session_id

log = logging.getLogger("channels.media_stream")

MEDIA_PATH = "/twilio/media"
FRAME_S = 0.02
PRE_ROLL_FRAMES = 15  # 300 ms kept before the VAD's start event (its onset detection lags)
MAX_UTTERANCE_S = 30.0  # a turn longer than this is cut and transcribed
MULAW_SILENCE = b"\xff"


def media_stream_router(state: dict[str, Any], settings: Settings, *, silence_timeout_s: float = 8.0,
                        playback_lead_s: float = 1.0) -> APIRouter:
    """``WS /twilio/media``. ``state`` holds "engine", "ready" and, for this mode, "stt" (an STT) and
    "tts" (a TTS); without them the socket is closed after an apology (or at once without a TTS)."""
    router = APIRouter(prefix="/twilio", tags=["phone"])
    office = office_hours_from(settings)
    hours_text = _hours_text(office.open_at, office.close_at)

    @router.websocket("/media")
    async def media(ws: WebSocket) -> None:
        await ws.accept()
        call = _Call(ws, state, settings, hours_text, silence_timeout_s, playback_lead_s)
        try:
            await call.run()
        except Exception:
            log.exception("media stream handler failed")
        finally:
            await call.shutdown()

    return router


class _Call:
    """One phone call on one WebSocket."""

    def __init__(self, ws: WebSocket, state: dict[str, Any], settings: Settings, hours_text: str,
                 silence_timeout_s: float, playback_lead_s: float) -> None:
        self.ws = ws
        self.state = state
        self.tw = settings.twilio
        self.hours_text = hours_text
        self.silence_timeout_s = silence_timeout_s
        self.lead_s = playback_lead_s
        v = settings.voice
        self.vad = EnergyVAD(TELEPHONY_RATE, threshold_db=v.vad_threshold_db, end_silence_ms=v.vad_end_silence_ms)
        self.stream_sid = ""
        self.rejected = False
        self.fork: dict[str, Any] | None = None  # customParameters of an agent-console fork
        self.session_id: str | None = None
        self.queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.send_lock = asyncio.Lock()
        self.recent: deque[bytes] = deque(maxlen=PRE_ROLL_FRAMES)
        self.utterance: bytearray | None = None
        self.pending_marks: set[str] = set()
        self.marks_done = asyncio.Event()
        self.marks_done.set()
        self.sending = False
        self.stop_sending = False
        self.idle_since: float | None = None
        self.silences = 0
        self.counter = 0
        self.closed = False
        self.apology_clip: bytes | None = None
        self.tasks: list[asyncio.Task[None]] = []

    # --- services -----------------------------------------------------------------------------
    @property
    def stt(self) -> STT | None:
        return self.state.get("stt")

    @property
    def tts(self) -> TTS | None:
        return self.state.get("tts")

    @property
    def engine(self) -> DialogueEngine | None:
        return self.state.get("engine") if self.state.get("ready") else None

    # --- main loop ----------------------------------------------------------------------------
    async def run(self) -> None:
        usable = self.stt is not None and self.tts is not None and self.engine is not None
        finishing = False
        while not self.closed:
            try:
                raw = await self.ws.receive_text()
            except (WebSocketDisconnect, RuntimeError):
                return
            except KeyError:  # a binary frame: Twilio only sends text
                log.warning("media stream: ignored a non-text frame")
                continue
            msg = _parse(raw)
            if msg is None:
                continue
            event = msg.get("event")
            if event == "start":
                if not self._on_start(msg):
                    if self.rejected:
                        await self.ws.close(code=1008)
                        return
                    continue
                if self.fork is not None:
                    await self._run_fork(self.fork, str(msg["start"].get("callSid", "")))
                    return
                if not usable:  # apologise, then hang up when Twilio has played it
                    log.warning("media stream refused: STT, TTS or dialogue engine not available")
                    try:
                        await self.say(PROMPTS["fallback"], "fallback")
                    except Exception:
                        return
                    finishing = True
                    continue
                self.tasks.append(asyncio.create_task(self._worker()))
                self.tasks.append(asyncio.create_task(self._watchdog()))
                self.tasks.append(asyncio.create_task(self._render_apology()))
                self.queue.put_nowait(("say", ("greeting", PROMPTS["greeting_closed"])))
            elif event == "media" and usable and self.stream_sid:
                self._on_media(msg)
            elif event == "mark":
                self._on_mark(msg)
                if finishing and not self.pending_marks:
                    return
            elif event == "dtmf" and usable and self.stream_sid:
                await self._on_dtmf(msg)
            elif event == "stop":
                log.info("media stream stopped by Twilio")
                return
            elif event != "connected":
                log.warning("media stream: ignored event %r", str(event)[:40])

    async def shutdown(self) -> None:
        self.closed = True
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(BaseException):
                await task
        with contextlib.suppress(Exception):
            await self.ws.close()

    # --- inbound events -----------------------------------------------------------------------
    def _on_start(self, msg: dict[str, Any]) -> bool:
        start = msg.get("start")
        if not isinstance(start, dict):
            log.warning("media stream: malformed start event")
            return False
        sid = start.get("streamSid") or msg.get("streamSid")
        if not isinstance(sid, str) or not sid:
            log.warning("media stream: start event without streamSid")
            return False
        fmt = start.get("mediaFormat") or {}
        if isinstance(fmt, dict) and fmt.get("encoding", "audio/x-mulaw") != "audio/x-mulaw":
            log.warning("media stream: unexpected encoding %r", fmt.get("encoding"))
        tw = self.tw
        secret = tw.auth_token.get_secret_value()
        if tw.validate_signature:
            params = start.get("customParameters") or {}
            given = str(params.get("token", "")) if isinstance(params, dict) else ""
            if not secret or not hmac.compare_digest(given, stream_token(secret, str(start.get("callSid", "")))):
                log.warning("media stream: rejected a stream without a valid token")
                self.rejected = True
                return False
        self.stream_sid = sid
        self.session_id = _session_id(str(start.get("callSid", "")))
        params = start.get("customParameters")
        if isinstance(params, dict) and params.get("mode") == "agent":
            self.fork = params
        log.info("media stream started", extra={"fields": {"fork": self.fork is not None}})
        return True

    # --- agent-console fork -------------------------------------------------------------------
    async def _run_fork(self, params: dict[str, Any], call_sid: str) -> None:
        """Transcribe both legs of a human call for the agent console until "stop" or hang-up."""
        calls = self.state.get("calls")
        sid = _session_id(call_sid)
        call_id = sid[:64] if sid else None
        if not isinstance(calls, CallService) or call_id is None:
            log.warning("agent fork refused: console back end not available or no CallSid")
            return
        agent = await choose_agent(calls.registry, str(params.get("agent", ""))[:64],
                                   calls.config.default_agent, calls.agents)
        live = await calls.start(call_id, "twilio", agent=agent, caller_id=str(params.get("caller", ""))[:32])
        try:
            while not self.closed:
                try:
                    raw = await self.ws.receive_text()
                except (WebSocketDisconnect, RuntimeError):
                    return
                except KeyError:
                    continue
                msg = _parse(raw)
                if msg is None:
                    continue
                event = msg.get("event")
                if event == "media":
                    media = msg.get("media")
                    if not isinstance(media, dict):
                        continue
                    speaker = {"inbound": "caller", "outbound": "agent"}.get(str(media.get("track", "inbound")))
                    try:
                        chunk = base64.b64decode(str(media.get("payload", "")), validate=True)
                    except (binascii.Error, ValueError):
                        log.warning("media stream: bad base64 payload")
                        continue
                    if speaker is not None and chunk:
                        live.feed(speaker, mulaw_to_float(chunk), TELEPHONY_RATE)
                elif event == "stop":
                    log.info("agent fork stopped by Twilio")
                    return
        finally:
            await live.finish()

    def _on_media(self, msg: dict[str, Any]) -> None:
        media = msg.get("media")
        if not isinstance(media, dict) or media.get("track", "inbound") != "inbound":
            return
        try:
            chunk = base64.b64decode(str(media.get("payload", "")), validate=True)
        except (binascii.Error, ValueError):
            log.warning("media stream: bad base64 payload")
            return
        for frame in frames(chunk, MULAW_FRAME_BYTES, pad=MULAW_SILENCE):
            self._on_frame(frame)

    def _on_frame(self, frame: bytes) -> None:
        self.recent.append(frame)
        if self.utterance is not None:
            self.utterance += frame
        for ev in self.vad.feed(mulaw_to_float(frame)):
            if ev.kind == "start":
                self.utterance = bytearray(b"".join(self.recent))
                self.idle_since = None
                self.silences = 0
                if self._playing():
                    self._barge_in()
            elif self.utterance is not None:
                self._finish_utterance()
        if self.utterance is not None and len(self.utterance) > MAX_UTTERANCE_S * TELEPHONY_RATE:
            self.vad.reset()
            self._finish_utterance()

    def _finish_utterance(self) -> None:
        if self.utterance is not None:
            self.queue.put_nowait(("speech", bytes(self.utterance)))
        self.utterance = None

    def _on_mark(self, msg: dict[str, Any]) -> None:
        mark = msg.get("mark")
        name = mark.get("name") if isinstance(mark, dict) else None
        if not isinstance(name, str):
            log.warning("media stream: malformed mark event")
            return
        self.pending_marks.discard(name)
        if not self.pending_marks:
            self.marks_done.set()
            if not self.sending and self.queue.empty() and self.utterance is None:
                self.idle_since = time.monotonic()

    async def _on_dtmf(self, msg: dict[str, Any]) -> None:
        dtmf = msg.get("dtmf")
        digit = dtmf.get("digit") if isinstance(dtmf, dict) else None
        if not isinstance(digit, str) or not digit:
            log.warning("media stream: malformed dtmf event")
            return
        self.idle_since = None
        self.silences = 0
        if self._playing():
            self._barge_in()
        self.queue.put_nowait(("dtmf", digit[:1]))

    # --- playback -----------------------------------------------------------------------------
    def _playing(self) -> bool:
        return self.sending or bool(self.pending_marks)

    def _barge_in(self) -> None:
        log.info("barge-in: clearing playback")
        self.stop_sending = True
        self.pending_marks.clear()
        self.marks_done.set()
        self.tasks.append(asyncio.create_task(self._send({"event": "clear", "streamSid": self.stream_sid})))

    async def _send(self, message: dict[str, Any]) -> None:
        async with self.send_lock:
            try:
                await self.ws.send_text(json.dumps(message))
            except Exception:  # the caller hung up: the receive loop ends the call
                self.closed = True

    async def _play(self, audio: bytes, kind: str) -> None:
        """Send mu-law audio as paced 20 ms frames, then a mark; stops early on barge-in."""
        self.counter += 1
        name = f"{kind}-{self.counter}"
        self.sending, self.stop_sending = True, False
        self.idle_since = None
        try:
            t0 = time.monotonic()
            for i, frame in enumerate(frames(audio, MULAW_FRAME_BYTES, pad=MULAW_SILENCE)):
                if self.stop_sending or self.closed:
                    return
                ahead = t0 + i * FRAME_S - self.lead_s - time.monotonic()
                if ahead > 0:
                    await asyncio.sleep(ahead)
                    if self.stop_sending or self.closed:
                        return
                payload = base64.b64encode(frame).decode("ascii")
                await self._send({"event": "media", "streamSid": self.stream_sid, "media": {"payload": payload}})
            self.pending_marks.add(name)
            self.marks_done.clear()
            await self._send({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}})
        finally:
            self.sending = False

    async def _render(self, text: str) -> bytes:
        tts = self.tts
        if tts is None:
            raise RuntimeError("no TTS")
        spoken = to_speech(text, max_chars=MAX_SPEECH_CHARS) or to_speech(PROMPTS["no_answer"])
        audio = await run_in_threadpool(tts.synthesize, spoken)
        x = audio.samples.astype(np.float32) / 32768.0
        return float_to_mulaw(resample(x, audio.sample_rate, TELEPHONY_RATE))

    async def say(self, text: str, kind: str) -> None:
        await self._play(await self._render(text), kind)

    async def _render_apology(self) -> None:
        try:
            self.apology_clip = await self._render(PROMPTS["apology"])
        except Exception:
            log.exception("cannot pre-render the apology")

    async def apologise(self) -> None:
        try:
            await self.say(PROMPTS["apology"], "apology")
            return
        except Exception:
            log.exception("TTS failed for the apology")
        if self.apology_clip:
            await self._play(self.apology_clip, "apology")
        else:
            await self._play(b"", "apology")  # only a mark: the line stays open

    async def _wait_marks(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.marks_done.wait(), timeout)

    # --- turns --------------------------------------------------------------------------------
    async def _worker(self) -> None:
        while not self.closed:
            kind, item = await self.queue.get()
            try:
                await self._turn(kind, item)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("media stream turn failed")
                with contextlib.suppress(Exception):
                    await self.apologise()

    async def _turn(self, kind: str, item: Any) -> None:
        if kind == "say":
            await self.say(item[1], item[0])
        elif kind == "speech":
            text = await self._transcribe(item)
            if not text:
                log.info("utterance without words ignored")
                if not self._playing():
                    self.idle_since = time.monotonic()
                return
            await self._ask(text)
        elif kind == "dtmf":
            if item == "1":
                await self.say(PROMPTS["menu_question"], "menu")
            elif item in MENU_MESSAGES:
                await self._ask(MENU_MESSAGES[item])
            else:
                await self.say(PROMPTS["menu_unknown"], "menu")
        elif kind == "silence":
            self.silences += 1
            if self.silences > MAX_REPROMPTS:
                await self._goodbye(PROMPTS["goodbye_silence"].format(hours=self.hours_text))
            else:
                await self.say(PROMPTS["reprompt"], "reprompt")

    async def _transcribe(self, mulaw: bytes) -> str:
        stt = self.stt
        if stt is None:
            raise RuntimeError("no STT")
        audio = resample(mulaw_to_float(mulaw), TELEPHONY_RATE, STT_RATE)
        transcript = await run_in_threadpool(stt.transcribe, audio, STT_RATE)
        return transcript.text.strip()

    async def _ask(self, text: str) -> None:
        engine = self.engine
        if engine is None:
            raise RuntimeError("dialogue engine not ready")
        try:
            reply: Reply = await asyncio.wait_for(
                run_in_threadpool(engine.handle, self.session_id, text, None, "phone"),
                timeout=self.tw.reply_timeout_s)
        except TimeoutError:
            log.warning("dialogue engine took longer than %.1fs on the phone", self.tw.reply_timeout_s)
            await self.apologise()
            return
        self.session_id = reply.session_id
        log.info("phone stream turn", extra={"fields": {"intent": reply.intent, "abstained": reply.abstained}})
        if reply.intent == "bye":
            await self._goodbye(reply.text)
        else:
            await self.say(reply.text, "reply")

    async def _goodbye(self, text: str) -> None:
        audio = await self._render(text)
        await self._play(audio, "goodbye")
        await self._wait_marks(len(audio) / TELEPHONY_RATE + 3.0)
        self.closed = True
        with contextlib.suppress(Exception):
            await self.ws.close()

    async def _watchdog(self) -> None:
        """Queues a "silence" turn when the caller says nothing for ``silence_timeout_s`` after a reply."""
        while not self.closed:
            await asyncio.sleep(0.1)
            idle = self.idle_since
            if idle is not None and time.monotonic() - idle >= self.silence_timeout_s:
                self.idle_since = None
                self.queue.put_nowait(("silence", None))


def _parse(raw: str) -> dict[str, Any] | None:
    try:
        msg = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        log.warning("media stream: ignored a malformed frame")
        return None
    if not isinstance(msg, dict):
        log.warning("media stream: ignored a non-object frame")
        return None
    return msg
