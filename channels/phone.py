"""The phone channel in Gather mode: Twilio webhooks that answer the call-center line with TwiML.

Owns: ``POST /twilio/voice`` (incoming call: a person during office hours when an agent line is set,
else the voicebot), ``POST /twilio/dial-status`` (the agent line did not answer: the voicebot takes
the call), ``POST /twilio/gather`` (one caller turn: speech recognised by Twilio, or a key of the
menu 1 문의 / 2 민원 접수 / 0 상담원), ``POST /twilio/fallback`` (Twilio's fallback URL). With
``twilio.voice_mode == "stream"`` an after-hours call is handed to ``<Connect><Stream>`` (our own STT/TTS,
``channels/media_stream.py``) instead of ``<Gather>``.

Decisions: every webhook but the fallback needs a valid ``X-Twilio-Signature`` (checked against
``twilio.public_base_url`` + path, so it works behind a proxy) and gets a plain 403 otherwise; the
fallback is unauthenticated because it only apologises and hangs up (it is also what a caller hears
when the signature set-up is wrong). The CallSid is the dialogue session id. Silences are counted in
the ``silence`` query parameter of the ``<Redirect>`` after each ``<Gather>`` (stateless across
workers). When agent-console accounts are configured (``agent.users``), every ``<Dial>`` to the agent
line is preceded by ``<Start><Stream track="both_tracks">`` to ``WS /twilio/media`` with the parameters
``token`` (the stream token), ``mode=agent`` and ``caller`` (the caller id): the call is forked to the
live transcription of the agent console (``channels/media_stream.py``). Every ``<Say>`` goes through ``voice.speech_text.to_speech``. Any error or an engine slower
than ``twilio.reply_timeout_s`` becomes a Korean apology and a new ``<Gather>``: never a 500, never
dead air.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Connect, Gather, Start, VoiceResponse

from assistant.dialogue.engine import DialogueEngine, Reply
from assistant.factory import office_hours_from
from assistant.settings import Settings
from voice.speech_text import to_speech

from .net import stream_token

log = logging.getLogger("channels.phone")

GATHER_PATH = "/twilio/gather"
DIAL_STATUS_PATH = "/twilio/dial-status"
MAX_REPROMPTS = 2  # silences answered with a re-prompt; the next one ends the call
MAX_SPEECH_CHARS = 400  # ~1 minute of speech per turn, cut at a sentence end
LANGUAGE = "ko-KR"

# Citizen-facing phone prompts (Korean). {hours} = the call center's hours, e.g. "평일 오전 9시부터 오후 6시까지".
PROMPTS: dict[str, str] = {
    "greeting_closed": ("남양주시 민원콜센터 AI 상담입니다. 지금은 상담 시간이 아니어서 AI가 안내해 드립니다. "
                        "궁금한 점이나 불편 사항을 말씀해 주세요. 상담원 연결은 0번을 눌러 주세요."),
    "greeting_open": ("남양주시 민원콜센터 AI 상담입니다. 궁금한 점이나 불편 사항을 말씀해 주세요. "
                      "상담원 연결은 0번을 눌러 주세요."),
    "greeting_dial": "남양주시 민원콜센터입니다. 상담원에게 연결해 드리겠습니다. 잠시만 기다려 주세요.",
    "connecting": "상담원에게 연결해 드리겠습니다. 잠시만 기다려 주세요.",
    "agents_busy": ("지금은 상담원이 모두 통화 중이어서 AI가 안내해 드립니다. 궁금한 점이나 불편 사항을 말씀해 주세요. "
                    "상담원과 통화를 원하시면 0번을 눌러 주세요."),
    "menu_question": "궁금하신 내용을 말씀해 주세요.",
    "menu_unknown": ("잘못 누르셨습니다. 문의는 1번, 민원 접수는 2번, 상담원 연결은 0번을 눌러 주세요. "
                     "원하시는 내용을 바로 말씀하셔도 됩니다."),
    "reprompt": ("말씀이 들리지 않았습니다. 궁금한 점이나 불편 사항을 말씀해 주세요. "
                 "문의는 1번, 민원 접수는 2번, 상담원 연결은 0번을 눌러 주세요."),
    "goodbye_silence": ("응답이 없어 전화를 끊겠습니다. 남양주시 민원콜센터 상담 시간은 {hours}입니다. "
                        "전화해 주셔서 감사합니다."),
    "no_answer": "죄송합니다. 답변을 준비하지 못했습니다. 다른 말씀으로 다시 한 번 말씀해 주세요.",
    "apology": "죄송합니다. 잠시 문제가 생겨 답변을 드리지 못했습니다. 다시 한 번 말씀해 주세요.",
    "fallback": "죄송합니다. 잠시 후 다시 전화해 주세요.",
}
MENU_MESSAGES = {"2": "민원 접수하고 싶어요", "0": "상담원 연결"}  # keys sent to the dialogue engine


def phone_router(state: dict[str, Any], settings: Settings,
                 clock: Callable[[], dt.datetime] | None = None) -> APIRouter:
    """Twilio voice webhooks. ``state`` holds "engine" (a DialogueEngine) and "ready"; ``clock`` is for tests."""
    tw = settings.twilio
    hours = office_hours_from(settings)
    now = clock or (lambda: dt.datetime.now(dt.UTC))
    office_hours_text = _hours_text(hours.open_at, hours.close_at)
    router = APIRouter(prefix="/twilio", tags=["phone"], default_response_class=Response, responses={
        200: {"description": "TwiML", "content": {"text/xml": {"schema": {"type": "string"}},
                                                  "application/xml": {"schema": {"type": "string"}}}},
        403: {"description": "X-Twilio-Signature 없음/틀림", "content": {"text/plain": {"schema": {"type": "string"}}}}})

    # --- TwiML building blocks ------------------------------------------------------------------
    def say(parent: VoiceResponse | Gather, text: str) -> None:
        spoken = to_speech(text, max_chars=MAX_SPEECH_CHARS) or to_speech(PROMPTS["no_answer"])
        parent.say(spoken, language=LANGUAGE, voice=tw.say_voice)

    def listen(vr: VoiceResponse, *texts: str, silence: int = 0) -> VoiceResponse:
        """Say ``texts`` inside a <Gather>; if the caller stays silent, come back with silence+1."""
        gather = Gather(input="speech dtmf", language=LANGUAGE, speech_timeout="auto", timeout=6,
                        action=GATHER_PATH, method="POST", num_digits=1)
        for text in texts:
            say(gather, text)
        vr.append(gather)
        vr.redirect(f"{GATHER_PATH}?silence={silence + 1}", method="POST")
        return vr

    def dial_agent(vr: VoiceResponse, text: str, params: dict[str, str], base_url: str) -> VoiceResponse:
        say(vr, text)
        if settings.agent.users:  # fork both legs to the agent console's live transcription
            start = Start()
            stream = start.stream(url=_stream_url(tw.public_base_url, base_url), track="both_tracks")
            stream.parameter(name="token", value=stream_token(tw.auth_token.get_secret_value(),
                                                              str(params.get("CallSid", ""))))
            stream.parameter(name="mode", value="agent")
            stream.parameter(name="caller", value=str(params.get("From", ""))[:32])
            vr.append(start)
        vr.dial(tw.agent_number, action=DIAL_STATUS_PATH, method="POST", timeout=tw.dial_timeout_s)
        return vr

    def apology() -> Response:
        return _twiml(listen(VoiceResponse(), PROMPTS["apology"]))

    # --- security -------------------------------------------------------------------------------
    async def verified(request: Request) -> dict[str, str] | None:
        """The form parameters when the request is Twilio's (or checks are off), else None."""
        try:
            form = await request.form()
        except Exception:
            return None
        params = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        if not tw.validate_signature:
            return params
        token = tw.auth_token.get_secret_value()
        signature = request.headers.get("x-twilio-signature", "")
        if not token:
            log.warning("twilio webhook rejected: ASSISTANT_TWILIO__AUTH_TOKEN is not set")
            return None
        if not signature:
            return None
        url = _signed_url(request, tw.public_base_url)
        if not RequestValidator(token).validate(url, params, signature):
            log.warning("twilio webhook rejected: bad signature for %s", url)
            return None
        return params

    # --- dialogue -------------------------------------------------------------------------------
    async def ask(session_id: str | None, text: str, params: dict[str, str], base_url: str) -> Response:
        engine: DialogueEngine | None = state.get("engine") if state.get("ready") else None
        if engine is None:
            log.warning("phone turn while the service is not ready")
            return apology()
        try:
            reply: Reply = await asyncio.wait_for(run_in_threadpool(engine.handle, session_id, text, None, "phone"),
                                                  timeout=tw.reply_timeout_s)
        except TimeoutError:
            log.warning("dialogue engine took longer than %.1fs on the phone", tw.reply_timeout_s)
            return apology()
        log.info("phone turn", extra={"fields": {"intent": reply.intent, "abstained": reply.abstained}})
        vr = VoiceResponse()
        if reply.handoff and reply.handoff.get("office_open") and tw.agent_number:
            return _twiml(dial_agent(vr, PROMPTS["connecting"], params, base_url))
        if reply.intent == "bye":
            say(vr, reply.text)
            vr.hangup()
            return _twiml(vr)
        return _twiml(listen(vr, reply.text))

    # --- routes ---------------------------------------------------------------------------------
    @router.post("/voice")
    async def incoming_call(request: Request) -> Response:
        params = await verified(request)
        if params is None:
            return _forbidden()
        try:
            open_now = hours.is_open(now())
            if open_now and tw.agent_number:
                return _twiml(dial_agent(VoiceResponse(), PROMPTS["greeting_dial"], params,
                                         str(request.base_url)))
            if tw.voice_mode == "stream" and not open_now:  # our own STT/TTS: channels/media_stream.py
                connect = Connect()
                stream = connect.stream(url=_stream_url(tw.public_base_url, str(request.base_url)))
                stream.parameter(name="token", value=stream_token(tw.auth_token.get_secret_value(),
                                                                  str(params.get("CallSid", ""))))
                return _twiml(VoiceResponse().append(connect))
            greeting = PROMPTS["greeting_open" if open_now else "greeting_closed"]
            return _twiml(listen(VoiceResponse(), greeting))
        except Exception:
            log.exception("incoming call failed")
            return apology()

    @router.post("/dial-status")
    async def dial_status(request: Request) -> Response:
        """After <Dial>: hang up when the agent talked to the caller, else the voicebot answers."""
        params = await verified(request)
        if params is None:
            return _forbidden()
        if params.get("DialCallStatus") in ("completed", "answered"):
            vr = VoiceResponse()
            vr.hangup()
            return _twiml(vr)
        return _twiml(listen(VoiceResponse(), PROMPTS["agents_busy"]))

    @router.post("/gather")
    async def gather(request: Request) -> Response:
        params = await verified(request)
        if params is None:
            return _forbidden()
        try:
            session_id = _session_id(params.get("CallSid", ""))
            digits = params.get("Digits", "").strip()
            speech = params.get("SpeechResult", "").strip()
            if digits:
                key = digits[:1]
                if key == "1":
                    return _twiml(listen(VoiceResponse(), PROMPTS["menu_question"]))
                if key in MENU_MESSAGES:
                    return await ask(session_id, MENU_MESSAGES[key], params, str(request.base_url))
                return _twiml(listen(VoiceResponse(), PROMPTS["menu_unknown"]))
            if speech:
                log.info("speech", extra={"fields": {"confidence": _confidence(params.get("Confidence"))}})
                return await ask(session_id, speech, params, str(request.base_url))
            silences = max(1, _int(request.query_params.get("silence")))
            vr = VoiceResponse()
            if silences > MAX_REPROMPTS:
                say(vr, PROMPTS["goodbye_silence"].format(hours=office_hours_text))
                vr.hangup()
                return _twiml(vr)
            return _twiml(listen(vr, PROMPTS["reprompt"], silence=silences))
        except Exception:
            log.exception("phone turn failed")
            return apology()

    @router.post("/fallback")
    async def fallback() -> Response:
        vr = VoiceResponse()
        say(vr, PROMPTS["fallback"])
        vr.hangup()
        return _twiml(vr)

    return router


def _twiml(vr: VoiceResponse) -> Response:
    return Response(str(vr), media_type="application/xml")


def _forbidden() -> Response:
    return PlainTextResponse("Forbidden", status_code=403)


def _signed_url(request: Request, public_base_url: str) -> str:
    """The URL Twilio signed: the public base (behind a proxy) + path + query, else the request URL."""
    base = public_base_url.rstrip("/")
    if not base:
        return str(request.url)
    query = request.url.query
    return f"{base}{request.url.path}" + (f"?{query}" if query else "")


def _stream_url(public_base_url: str, request_base_url: str) -> str:
    """``wss://host[/prefix]/twilio/media`` from the public base URL, else from the request."""
    base = (public_base_url or request_base_url).rstrip("/").split("://", 1)[-1]
    return f"wss://{base}/twilio/media"


def _session_id(call_sid: str) -> str | None:
    sid = re.sub(r"[^A-Za-z0-9_-]", "", call_sid)[:128]
    return sid or None


def _int(value: str | None) -> int:
    try:
        return min(max(int(value or 0), 0), 100)
    except ValueError:
        return 0


def _confidence(value: str | None) -> float | None:
    try:
        return round(float(value), 3) if value else None
    except ValueError:
        return None


def _hours_text(open_at: dt.time, close_at: dt.time) -> str:
    """"평일 오전 9시부터 오후 6시까지" for 09:00-18:00."""
    def clock(t: dt.time) -> str:
        ampm = "오전" if t.hour < 12 else "오후"
        hour = t.hour if t.hour <= 12 else t.hour - 12
        return f"{ampm} {hour}시" + (f" {t.minute}분" if t.minute else "")
    return f"평일 {clock(open_at)}부터 {clock(close_at)}까지"
