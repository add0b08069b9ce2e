"""Phone channel in Gather mode (channels/phone.py): Twilio signature checks (Twilio's own known-answer
vector), office hours -> <Dial>, after hours and holidays -> the voicebot, speech and DTMF turns through
a real DialogueEngine (scripted answerer, in-memory sessions, SQLite), silences, errors, fallback.
TwiML is parsed with xml.etree so Korean text, action URLs and language are checked, not substrings."""

from __future__ import annotations

import datetime as dt
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from twilio.request_validator import RequestValidator

from assistant.complaints.routing import TableRouter
from assistant.complaints.store import ComplaintStore
from assistant.dialogue.engine import DialogueEngine, Reply
from assistant.dialogue.intents import RuleEmbeddingClassifier
from assistant.hours import SEOUL
from assistant.sessions import InMemorySessionStore
from assistant.settings import AgentSettings, Settings, TwilioSettings
from assistant.storage import Database
from channels.net import stream_token
from channels.phone import PROMPTS, phone_router
from tests.assistant.test_dialogue import ScriptedAnswerer
from voice.speech_text import to_speech

OPEN = dt.datetime(2026, 11, 23, 10, 0, tzinfo=SEOUL)  # Monday 10:00
NIGHT = dt.datetime(2026, 11, 23, 21, 0, tzinfo=SEOUL)  # Monday 21:00
CHUSEOK = dt.datetime(2026, 9, 25, 11, 0, tzinfo=SEOUL)  # Friday 11:00, 추석
TOKEN = "12345"
BASE = "https://voice.namyangju.example"
AGENT = "+82315900000"
CALL = {"CallSid": "CA1234567890ABCDE", "From": "+821012345678", "To": "+82315901234"}


# --- fixtures ---------------------------------------------------------------------------------
@pytest.fixture()
def db(tmp_path: Path) -> Iterator[Database]:
    d = Database(f"sqlite:///{tmp_path / 'phone.db'}")
    d.create_schema()
    yield d
    d.engine.dispose()


def make_client(db: Database, now: dt.datetime, *, agent: str = AGENT, validate: bool = True,
                token: str = TOKEN, engine: Any = None, **twilio: Any) -> TestClient:
    if engine is None:
        engine = DialogueEngine(ScriptedAnswerer(), RuleEmbeddingClassifier(None), InMemorySessionStore(), db,
                                clock=lambda: now, router=TableRouter(), complaints=ComplaintStore(db))
    twilio = {"public_base_url": BASE, **twilio}
    settings = Settings(twilio=TwilioSettings(auth_token=SecretStr(token), agent_number=agent,
                                              validate_signature=validate, **twilio))
    app = FastAPI()
    app.include_router(phone_router({"engine": engine, "ready": True}, settings, clock=lambda: now))
    return TestClient(app, raise_server_exceptions=False)


def post(client: TestClient, path: str, params: dict[str, str], *, sign: bool = True,
         signature: str | None = None) -> Any:
    headers = {}
    if sign:
        headers["X-Twilio-Signature"] = signature or RequestValidator(TOKEN).compute_signature(BASE + path, params)
    return client.post(path, data=params, headers=headers)


def twiml(response: Any) -> ET.Element:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(response.content)
    assert root.tag == "Response"
    return root


def spoken(root: ET.Element) -> list[str]:
    says = list(root.iter("Say"))
    assert says, "the caller must always hear something"
    for s in says:
        assert s.get("language") == "ko-KR" and s.get("voice") == "Polly.Seoyeon"
        assert s.text and s.text.strip()
    return [s.text or "" for s in says]


def assert_listens(root: ET.Element, silence: int = 1) -> ET.Element:
    """A <Gather> for speech or one key, posting to /twilio/gather, then a redirect counting silence."""
    children = list(root)
    gather = children[-2]
    assert gather.tag == "Gather"
    assert gather.attrib == {"input": "speech dtmf", "language": "ko-KR", "speechTimeout": "auto", "timeout": "6",
                             "action": "/twilio/gather", "method": "POST", "numDigits": "1"}
    assert [c.tag for c in gather] == ["Say"]
    assert children[-1].tag == "Redirect" and children[-1].text == f"/twilio/gather?silence={silence}"
    return gather


# --- signatures -------------------------------------------------------------------------------
def test_twilio_known_answer_vector() -> None:
    """The worked example of twilio.com/docs/usage/security, checked with Twilio's own validator."""
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {"CallSid": "CA1234567890ABCDE", "Caller": "+14158675310", "Digits": "1234",
              "From": "+14158675310", "To": "+18005551212"}
    validator = RequestValidator("12345")
    assert validator.compute_signature(url, params) == "GvWf1cFY/Q7PnoempGyD5oXAezc="
    assert validator.validate(url, params, "GvWf1cFY/Q7PnoempGyD5oXAezc=")
    assert not validator.validate(url, {**params, "Digits": "1235"}, "GvWf1cFY/Q7PnoempGyD5oXAezc=")


def test_valid_signature_gets_twiml_and_bad_or_missing_gets_plain_403(db: Database) -> None:
    client = make_client(db, NIGHT)
    assert_listens(twiml(post(client, "/twilio/voice", CALL)))
    for kwargs in ({"sign": False}, {"signature": "GvWf1cFY/Q7PnoempGyD5oXAezc="}):
        r = post(client, "/twilio/voice", CALL, **kwargs)
        assert r.status_code == 403 and "<Response" not in r.text
    # a signature over other parameters (a forged digit) is refused, on every signed route
    good = RequestValidator(TOKEN).compute_signature(BASE + "/twilio/gather", {**CALL, "Digits": "1"})
    for path in ("/twilio/gather", "/twilio/dial-status"):
        assert post(client, path, {**CALL, "Digits": "0"}, signature=good).status_code == 403
    # the query string is part of what Twilio signs
    sig = RequestValidator(TOKEN).compute_signature(BASE + "/twilio/gather?silence=2", CALL)
    assert client.post("/twilio/gather?silence=2", data=CALL,
                       headers={"X-Twilio-Signature": sig}).status_code == 200
    assert client.post("/twilio/gather?silence=3", data=CALL,
                       headers={"X-Twilio-Signature": sig}).status_code == 403


def test_without_public_base_url_the_request_url_is_signed(db: Database) -> None:
    client = make_client(db, NIGHT, public_base_url="")
    sig = RequestValidator(TOKEN).compute_signature("http://testserver/twilio/voice", CALL)
    assert client.post("/twilio/voice", data=CALL, headers={"X-Twilio-Signature": sig}).status_code == 200


def test_no_auth_token_rejects_unless_validation_is_off(db: Database) -> None:
    assert post(make_client(db, NIGHT, token=""), "/twilio/voice", CALL).status_code == 403
    client = make_client(db, NIGHT, token="", validate=False)
    assert_listens(twiml(post(client, "/twilio/voice", CALL, sign=False)))


# --- incoming call ----------------------------------------------------------------------------
def test_office_hours_dial_the_agent_line_with_the_bot_as_fallback(db: Database) -> None:
    client = make_client(db, OPEN)
    root = twiml(post(client, "/twilio/voice", CALL))
    assert [c.tag for c in root] == ["Say", "Dial"]
    assert spoken(root) == [to_speech(PROMPTS["greeting_dial"])]
    dial = root.find("Dial")
    assert dial is not None and dial.text == AGENT
    assert dial.get("action") == "/twilio/dial-status" and dial.get("timeout") == "20"
    # no answer / busy -> the voicebot takes the call; a finished conversation -> hang up
    for status in ("no-answer", "busy", "failed"):
        busy = twiml(post(client, "/twilio/dial-status", {**CALL, "DialCallStatus": status}))
        assert_listens(busy)
        assert "상담원이 모두 통화 중" in spoken(busy)[0]
    done = twiml(post(client, "/twilio/dial-status", {**CALL, "DialCallStatus": "completed"}))
    assert [c.tag for c in done] == ["Hangup"]


def console_client(db: Database, now: dt.datetime) -> TestClient:
    """Like make_client, with agent-console accounts configured (the call is forked to the console)."""
    engine = DialogueEngine(ScriptedAnswerer(), RuleEmbeddingClassifier(None), InMemorySessionStore(), db,
                            clock=lambda: now, router=TableRouter(), complaints=ComplaintStore(db))
    settings = Settings(twilio=TwilioSettings(auth_token=SecretStr(TOKEN), agent_number=AGENT, public_base_url=BASE),
                        agent=AgentSettings(users={"kim": "pbkdf2_sha256$1000$00$00"}))
    app = FastAPI()
    app.include_router(phone_router({"engine": engine, "ready": True}, settings, clock=lambda: now))
    return TestClient(app, raise_server_exceptions=False)


def assert_forked(root: ET.Element) -> None:
    """<Start><Stream track="both_tracks"> to the media socket, with token, mode=agent and caller, before <Dial>."""
    tags = [c.tag for c in root]
    assert tags.index("Start") < tags.index("Dial")
    stream = root.find("Start/Stream")
    assert stream is not None
    assert stream.get("url") == "wss://voice.namyangju.example/twilio/media"
    assert stream.get("track") == "both_tracks"
    params = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
    assert params == {"token": stream_token(TOKEN, CALL["CallSid"]), "mode": "agent", "caller": CALL["From"]}


def test_office_hours_fork_the_call_to_the_agent_console(db: Database) -> None:
    client = console_client(db, OPEN)
    root = twiml(post(client, "/twilio/voice", CALL))
    assert [c.tag for c in root] == ["Say", "Start", "Dial"]
    assert_forked(root)
    dial = root.find("Dial")
    assert dial is not None and dial.text == AGENT
    # a hand-off asked for with 0 is forked too
    assert_forked(twiml(post(client, "/twilio/gather", {**CALL, "Digits": "0"})))


def test_office_hours_without_an_agent_line_the_bot_answers(db: Database) -> None:
    root = twiml(post(make_client(db, OPEN, agent=""), "/twilio/voice", CALL))
    assert_listens(root)
    assert spoken(root) == [to_speech(PROMPTS["greeting_open"])]


@pytest.mark.parametrize("when", [NIGHT, CHUSEOK, dt.datetime(2026, 11, 22, 11, 0, tzinfo=SEOUL)],
                         ids=["weeknight", "chuseok", "sunday"])
def test_after_hours_and_holidays_the_voicebot_greets_in_korean(db: Database, when: dt.datetime) -> None:
    root = twiml(post(make_client(db, when), "/twilio/voice", CALL))
    assert root.find("Dial") is None
    gather = assert_listens(root)
    (text,) = spoken(gather)
    assert text == to_speech(PROMPTS["greeting_closed"])
    assert text.startswith("남양주시 민원콜센터") and "지금은 상담 시간이 아니어서" in text
    assert "상담원 연결은" in text


# --- turns ------------------------------------------------------------------------------------
def test_speech_is_answered_by_the_engine_and_spoken(db: Database) -> None:
    client = make_client(db, NIGHT)
    root = twiml(post(client, "/twilio/gather", {**CALL, "SpeechResult": "스마트 교차로 예산이 얼마예요?",
                                                 "Confidence": "0.91"}))
    gather = assert_listens(root)
    (text,) = spoken(gather)
    assert text == to_speech("- 소요예산 : 500,000천원", max_chars=400)
    assert "오억 원" in text and "-" not in text
    # the CallSid is the session: a follow-up is answered against the earlier topic
    again = twiml(post(client, "/twilio/gather", {**CALL, "SpeechResult": "그럼 몇 군데 설치해요?"}))
    (follow_up,) = spoken(assert_listens(again))
    assert "스마트교차로 오개소" in follow_up and "스마트 교차로 구축 사업" in follow_up


def test_long_replies_are_cut_at_a_sentence_end(db: Database) -> None:
    class Wordy:
        def handle(self, session_id: str | None, message: str, media_id: str | None = None) -> Any:
            return Reply(session_id or "x", "m", "- 남양주시는 시민과 함께 합니다. " * 40, "question")

    root = twiml(post(make_client(db, NIGHT, engine=Wordy()), "/twilio/gather", {**CALL, "SpeechResult": "소개"}))
    (text,) = spoken(assert_listens(root))
    assert len(text) <= 400 and text.endswith(".")


def test_dtmf_menu(db: Database) -> None:
    client = make_client(db, NIGHT)
    one = twiml(post(client, "/twilio/gather", {**CALL, "Digits": "1"}))
    assert spoken(assert_listens(one)) == [to_speech(PROMPTS["menu_question"])]
    two = twiml(post(client, "/twilio/gather", {**CALL, "Digits": "2"}))
    assert "민원으로 접수" in spoken(assert_listens(two))[0]
    other = twiml(post(client, "/twilio/gather", {**CALL, "Digits": "7"}))
    assert spoken(assert_listens(other)) == [to_speech(PROMPTS["menu_unknown"])]


def test_dtmf_zero_after_hours_starts_the_callback_offer(db: Database) -> None:
    root = twiml(post(make_client(db, NIGHT), "/twilio/gather", {**CALL, "Digits": "0"}))
    (text,) = spoken(assert_listens(root))
    assert "상담 시간이 아닙니다" in text and "콜백" in text


def test_dtmf_zero_in_office_hours_dials_the_agent(db: Database) -> None:
    root = twiml(post(make_client(db, OPEN), "/twilio/gather", {**CALL, "Digits": "0"}))
    dial = root.find("Dial")
    assert dial is not None and dial.text == AGENT
    assert spoken(root) == [to_speech(PROMPTS["connecting"])]


def test_saying_goodbye_ends_the_call(db: Database) -> None:
    root = twiml(post(make_client(db, NIGHT), "/twilio/gather", {**CALL, "SpeechResult": "안녕히 계세요"}))
    assert [c.tag for c in root] == ["Say", "Hangup"]


def test_silence_is_reprompted_twice_then_goodbye_with_hours(db: Database) -> None:
    client = make_client(db, NIGHT)
    first = twiml(post(client, "/twilio/gather?silence=1", CALL))
    assert spoken(assert_listens(first, silence=2)) == [to_speech(PROMPTS["reprompt"])]
    second = twiml(post(client, "/twilio/gather?silence=2", CALL))
    assert_listens(second, silence=3)
    last = twiml(post(client, "/twilio/gather?silence=3", CALL))
    assert [c.tag for c in last] == ["Say", "Hangup"]
    (text,) = spoken(last)
    assert "응답이 없어" in text
    assert text == to_speech(PROMPTS["goodbye_silence"].format(hours="평일 오전 9시부터 오후 6시까지"))
    assert "평일 오전 아홉 시부터 오후 여섯 시까지" in text
    # an answer resets the count: the next redirect starts at 1 again
    assert_listens(twiml(post(client, "/twilio/gather?silence=2", {**CALL, "SpeechResult": "안녕하세요"})))


def test_engine_errors_and_timeouts_become_a_spoken_apology(db: Database) -> None:
    class Broken:
        def handle(self, *args: Any) -> Any:
            raise RuntimeError("boom")

    class Slow:
        def handle(self, *args: Any) -> Any:
            time.sleep(1.0)

    for engine, extra in ((Broken(), {}), (Slow(), {"reply_timeout_s": 0.1})):
        client = make_client(db, NIGHT, engine=engine, **extra)
        for params in ({**CALL, "SpeechResult": "질문"}, {**CALL, "Digits": "2"}):
            root = twiml(post(client, "/twilio/gather", params))
            assert spoken(assert_listens(root)) == [to_speech(PROMPTS["apology"])]


def test_fallback_apologises_and_hangs_up(db: Database) -> None:
    root = twiml(post(make_client(db, NIGHT), "/twilio/fallback", CALL, sign=False))
    assert [c.tag for c in root] == ["Say", "Hangup"]
    assert spoken(root) == [to_speech("죄송합니다. 잠시 후 다시 전화해 주세요.")]
