"""Agent console (channels/agent_console.py) over a REAL server (uvicorn on 127.0.0.1) with httpx and the
``websockets`` client: login/CSRF/401/403, WebSocket 4401/4403/4404, an agent sees only their calls and a
supervisor all, a Twilio both_tracks fork (WS /twilio/media, mode=agent) reaches the console as labelled
transcript + intent + suggestion + form, the form is filed into the ComplaintStore, summary at hang-up,
catch-up history on reconnect, and the browser-microphone call. ScriptedSTT per leg (fast)."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

import channels.agent_console as console_module
from assistant.auth import hash_password
from assistant.calls.assist import AgentAssist
from assistant.calls.hub import InProcessCallHub
from assistant.calls.registry import InMemoryCallRegistry
from assistant.calls.service import CallConfig, CallService
from assistant.calls.transcript import TranscriptStore
from assistant.complaints.routing import TableRouter
from assistant.complaints.store import ComplaintStore
from assistant.dialogue.intents import RuleEmbeddingClassifier
from assistant.settings import AdminSettings, AgentSettings, Settings, TwilioSettings
from assistant.storage import Database
from channels.agent_console import agent_console_router
from channels.media_stream import media_stream_router
from channels.net import stream_token
from tests.assistant.test_dialogue import ScriptedAnswerer
from tests.servers import LocalServer
from voice.audio import float_to_mulaw, float_to_pcm16
from voice.stt import ScriptedSTT

STREAM_SECRET = "stream-test-token"
PASSWORD = "correct horse"
CALLER_TEXT = "스마트 교차로 예산이 얼마예요 다산동 다산중앙로 77 앞 신호등이 고장 났어요 010-2345-6789"
AGENT_TEXT = "네 확인해 드리겠습니다"


@pytest.fixture(autouse=True)
def _fast_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console_module, "FAIL_DELAY_S", 0.0)


@pytest.fixture()
def db(tmp_path: Path) -> Iterator[Database]:
    d = Database(f"sqlite:///{tmp_path / 'console.db'}")
    d.create_schema()
    yield d
    d.engine.dispose()


def scripted_streams(texts: dict[str, str]) -> Any:
    def factory(stt: Any, speaker: str, cfg: CallConfig) -> Any:
        from voice.streaming import LocalAgreementSTT

        return LocalAgreementSTT(ScriptedSTT([texts[speaker]]), speaker=speaker, end_silence_ms=cfg.end_silence_ms)
    return factory


def make_service(db: Database, tmp_path: Path) -> CallService:
    return CallService(InProcessCallHub(), InMemoryCallRegistry(),
                       AgentAssist(ScriptedAnswerer(), RuleEmbeddingClassifier(None), TableRouter()),
                       lambda: ScriptedSTT(["unused"]), agents=["kim", "lee"], transcripts=TranscriptStore(db),
                       complaints=ComplaintStore(db), data_dir=tmp_path, config=CallConfig(end_silence_ms=400),
                       stream_factory=scripted_streams({"caller": CALLER_TEXT, "agent": AGENT_TEXT}))


@pytest.fixture()
def server(db: Database, tmp_path: Path) -> Iterator[tuple[LocalServer, CallService]]:
    h = hash_password(PASSWORD, iterations=1000)
    settings = Settings(agent=AgentSettings(users={"kim": h, "lee": h}, secret_key=SecretStr("k" * 32)),
                        admin=AdminSettings(users={"boss": h}),
                        twilio=TwilioSettings(auth_token=SecretStr(STREAM_SECRET)))
    svc = make_service(db, tmp_path)
    state: dict[str, Any] = {"calls": svc}
    app = FastAPI()
    app.include_router(agent_console_router(state, settings))
    app.include_router(media_stream_router(state, settings))
    with LocalServer(app) as s:
        yield s, svc


def login(base: str, user: str, password: str = PASSWORD) -> httpx.Client:
    c = httpx.Client(base_url=base, follow_redirects=False, timeout=10)
    r = c.post("/agent/login", data={"username": user, "password": password})
    assert r.status_code == 303 and r.headers["location"] == "/agent", r.text
    assert "nyj_agent" in c.cookies
    return c


def csrf(c: httpx.Client) -> str:
    page = c.get("/agent")
    assert page.status_code == 200
    m = re.search(r'<meta name="csrf-token" content="([0-9a-f]+)"', page.text)
    assert m, page.text[:300]
    return m.group(1)


def ws_url(base: str, path: str) -> str:
    return base.replace("http://", "ws://") + path


def cookie_header(c: httpx.Client) -> dict[str, str]:
    return {"Cookie": f"nyj_agent={c.cookies['nyj_agent']}"}


async def close_code(url: str, headers: dict[str, str] | None = None) -> int:
    async with connect(url, additional_headers=headers or {}) as ws:
        try:
            while True:
                await asyncio.wait_for(ws.recv(), 5)
        except ConnectionClosed as exc:
            assert exc.rcvd is not None
            return exc.rcvd.code
    raise AssertionError("not closed")


async def until(ws: ClientConnection, pred: Any, timeout: float = 10.0) -> list[dict[str, Any]]:
    """Messages up to and including the first that satisfies ``pred``; a hello's catch-up history counts
    (events published before the console subscribed), listed right after the hello."""
    out: list[dict[str, Any]] = []
    while True:
        msg = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        items = [msg, *msg.get("history", [])] if msg.get("type") == "hello" else [msg]
        out.extend(items)
        if any(pred(x) for x in items):
            return out


# --- a Twilio both_tracks fork -------------------------------------------------------------------------
def leg_audio(speech_at: float, speech_s: float, total_s: float) -> bytes:
    rate = 8000
    t = np.arange(round(speech_s * rate)) / rate
    voice = (0.25 * np.sin(2 * np.pi * 220 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    x = np.zeros(round(total_s * rate), np.float32)
    a = round(speech_at * rate)
    x[a:a + voice.size] = voice
    return float_to_mulaw(x)


async def fork_call(base: str, call_sid: str, *, agent: str = "kim", caller: str = "+821099998888",
                    stop: bool = True, token: str | None = None) -> None:
    inbound = leg_audio(0.3, 2.0, 4.2)
    outbound = leg_audio(2.6, 0.8, 4.2)
    async with connect(ws_url(base, "/twilio/media")) as ws:
        sid = "MZ" + call_sid[2:]
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        await ws.send(json.dumps({"event": "start", "streamSid": sid, "start": {
            "streamSid": sid, "callSid": call_sid, "tracks": ["inbound", "outbound"],
            "customParameters": {"token": token or stream_token(STREAM_SECRET, call_sid), "mode": "agent",
                                 "caller": caller, "agent": agent},
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}}))
        for i in range(0, len(inbound), 160):
            for track, data in (("inbound", inbound), ("outbound", outbound)):
                await ws.send(json.dumps({"event": "media", "streamSid": sid, "media": {
                    "track": track, "chunk": str(i // 160), "timestamp": str(i // 8),
                    "payload": base64.b64encode(data[i:i + 160]).decode()}}))
        if stop:
            await ws.send(json.dumps({"event": "stop", "streamSid": sid, "stop": {"callSid": call_sid}}))
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 15)


async def wait_for_call(svc: CallService, call_id: str) -> None:
    for _ in range(200):
        if await svc.registry.get(call_id) is not None:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("call never registered")


# --- auth -------------------------------------------------------------------------------------------
def test_login_pages_and_api_need_a_session(server: tuple[LocalServer, CallService]) -> None:
    s, _ = server
    anon = httpx.Client(base_url=s.url, follow_redirects=False, timeout=10)
    r = anon.get("/agent")
    assert r.status_code == 303 and r.headers["location"] == "/agent/login"
    assert "상담원 콘솔 로그인" in anon.get("/agent/login").text
    for path in ("/agent/api/me", "/agent/api/calls"):
        r = anon.get(path)
        assert r.status_code == 401 and r.json()["message"] == "로그인이 필요합니다."
    assert anon.get("/agent/agent.js").status_code == 401
    bad = anon.post("/agent/login", data={"username": "kim", "password": "wrong"})
    assert bad.status_code == 401 and "올바르지 않습니다" in bad.text
    assert anon.post("/agent/login", data={"username": "nobody", "password": PASSWORD}).status_code == 401
    foreign = anon.post("/agent/login", data={"username": "kim", "password": PASSWORD},
                        headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403
    kim = login(s.url, "kim")
    set_cookie = kim.post("/agent/login", data={"username": "kim", "password": PASSWORD}).headers["set-cookie"]
    assert "HttpOnly" in set_cookie and "samesite=strict" in set_cookie.lower() and "Path=/agent" in set_cookie
    page = kim.get("/agent")
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert kim.get("/agent/api/me").json() == {"username": "kim", "supervisor": False}
    assert login(s.url, "boss").get("/agent/api/me").json() == {"username": "boss", "supervisor": True}


def test_failed_logins_are_limited(server: tuple[LocalServer, CallService]) -> None:
    s, _ = server
    anon = httpx.Client(base_url=s.url, follow_redirects=False, timeout=10)
    codes = [anon.post("/agent/login", data={"username": "kim", "password": "x"}).status_code for _ in range(6)]
    assert codes == [401] * 5 + [429]
    assert anon.post("/agent/login", data={"username": "kim", "password": PASSWORD}).status_code == 429


def test_posts_need_the_csrf_token_and_logout_ends_the_session(server: tuple[LocalServer, CallService]) -> None:
    s, _ = server
    kim = login(s.url, "kim")
    r = kim.post("/agent/api/calls")
    assert r.status_code == 403 and r.json()["error"] == "csrf"
    token = csrf(kim)
    assert kim.post("/agent/api/calls", headers={"X-CSRF-Token": "0" * 64}).status_code == 403
    r = kim.post("/agent/api/calls", headers={"X-CSRF-Token": token})
    assert r.status_code == 201 and r.json()["call_id"].startswith("mic-")
    old = kim.cookies["nyj_agent"]
    assert kim.post("/agent/logout", headers={"X-CSRF-Token": token}).json()["ok"] is True
    replay = httpx.Client(base_url=s.url, cookies={"nyj_agent": old}, timeout=10)
    assert replay.get("/agent/api/me").status_code == 401


def test_websocket_refusals(server: tuple[LocalServer, CallService]) -> None:
    s, svc = server
    kim, lee, boss = login(s.url, "kim"), login(s.url, "lee"), login(s.url, "boss")
    mic = kim.post("/agent/api/calls", headers={"X-CSRF-Token": csrf(kim)}).json()["call_id"]

    async def main() -> None:
        url = ws_url(s.url, f"/agent/calls/{mic}")
        assert await close_code(url) == 4401
        assert await close_code(url, {"Cookie": "nyj_agent=forged.123.abc"}) == 4401
        assert await close_code(url, cookie_header(lee)) == 4403
        assert await close_code(url, {**cookie_header(kim), "Origin": "https://evil.example"}) == 4403
        assert await close_code(ws_url(s.url, "/agent/calls/CAunknown"), cookie_header(kim)) == 4404
        assert await close_code(ws_url(s.url, f"/agent/calls/{mic}/audio"), cookie_header(boss)) == 4403
        async with connect(url, additional_headers=cookie_header(boss)) as ws:  # supervisors see every call
            hello = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert hello["type"] == "hello" and hello["call"]["call_id"] == mic and hello["call"]["agent"] == "kim"
            await ws.send(json.dumps({"type": "ping"}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {"type": "pong"}
            await ws.send("not json")
            err = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert err["type"] == "error" and err["message"] == "알 수 없는 요청입니다."

    asyncio.run(main())
    assert svc.live == {}


def test_agent_sees_only_own_calls_and_supervisor_all(server: tuple[LocalServer, CallService]) -> None:
    s, _svc = server
    kim, lee, boss = login(s.url, "kim"), login(s.url, "lee"), login(s.url, "boss")
    a = kim.post("/agent/api/calls", headers={"X-CSRF-Token": csrf(kim)}).json()["call_id"]
    b = lee.post("/agent/api/calls", headers={"X-CSRF-Token": csrf(lee)}).json()["call_id"]
    assert [c["call_id"] for c in kim.get("/agent/api/calls").json()["calls"]] == [a]
    assert [c["call_id"] for c in lee.get("/agent/api/calls").json()["calls"]] == [b]
    calls = boss.get("/agent/api/calls").json()["calls"]
    assert {c["call_id"] for c in calls} == {a, b}
    assert set(calls[0]) == {"call_id", "agent", "status", "source", "started_at", "ended_at", "caller"}
    r = lee.post(f"/agent/api/calls/{a}/complaint", json={"description": "x"}, headers={"X-CSRF-Token": csrf(lee)})
    assert r.status_code == 403


def test_a_microphone_call_that_never_connected_is_closed_by_the_next(server: tuple[LocalServer, CallService],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from channels import agent_console

    s, _svc = server
    kim, lee = login(s.url, "kim"), login(s.url, "lee")
    first = kim.post("/agent/api/calls", headers={"X-CSRF-Token": csrf(kim)}).json()["call_id"]
    other = lee.post("/agent/api/calls", headers={"X-CSRF-Token": csrf(lee)}).json()["call_id"]
    fresh = kim.post("/agent/api/calls", headers={"X-CSRF-Token": csrf(kim)}).json()["call_id"]
    status = {c["call_id"]: c["status"] for c in kim.get("/agent/api/calls").json()["calls"]}
    assert status == {first: "active", fresh: "active"}  # a second ago: maybe still connecting
    monkeypatch.setattr(agent_console, "MIC_STALE_S", 0.0)
    newest = kim.post("/agent/api/calls", headers={"X-CSRF-Token": csrf(kim)}).json()["call_id"]
    calls = {c["call_id"]: c for c in kim.get("/agent/api/calls").json()["calls"]}
    assert calls[newest]["status"] == "active"
    assert calls[first]["status"] == calls[fresh]["status"] == "ended" and calls[first]["ended_at"]
    assert [c["status"] for c in lee.get("/agent/api/calls").json()["calls"] if c["call_id"] == other] == ["active"]


# --- the live call ---------------------------------------------------------------------------------
def test_forked_call_reaches_the_console_and_the_form_is_filed(server: tuple[LocalServer, CallService],
                                                              db: Database) -> None:
    s, svc = server
    kim = login(s.url, "kim")
    call_sid = "CA00000000000000000000000000000042"

    async def main() -> list[dict[str, Any]]:
        caller = asyncio.create_task(fork_call(s.url, call_sid, stop=False))
        await wait_for_call(svc, call_sid)
        async with connect(ws_url(s.url, f"/agent/calls/{call_sid}"), additional_headers=cookie_header(kim)) as ws:
            seen: set[str] = set()

            def done(m: dict[str, Any]) -> bool:
                if m["type"] == "form" or (m["type"] == "transcript" and m["speaker"] == "agent"
                                           and m["kind"] == "final"):
                    seen.add(m["type"])
                return seen == {"form", "transcript"}

            msgs = await until(ws, done)
            await caller
        return msgs

    msgs = asyncio.run(main())
    hello = msgs[0]
    assert hello["type"] == "hello" and hello["call"]["agent"] == "kim" and hello["call"]["source"] == "twilio"
    assert hello["call"]["caller"] == "010-****-8888" and hello["call"]["status"] == "active"
    transcript = [m for m in msgs if m["type"] == "transcript"]
    final = next(m for m in transcript if m["kind"] == "final" and m["speaker"] == "caller")
    assert "스마트 교차로 예산이" in final["text"] and "010-2345-6789" not in final["text"]
    intent = next(m for m in msgs if m["type"] == "intent")
    assert intent["intent"] == "complaint"
    suggestion = next(m for m in msgs if m["type"] == "suggestion")
    assert suggestion["based_on_seq"] == final["seq"]
    [answer] = suggestion["answers"]
    assert "500,000천원" in answer["text"] and answer["citations"][0]["document"] == "plan.md"
    form = next(m for m in msgs if m["type"] == "form")["form"]
    assert form["team"] and "다산중앙로 77" in form["location"] and form["contact_phone"] == "010-****-6789"

    # the agent corrects the form and submits it with one click (HTTP), consoles get form_submitted
    async def submit() -> tuple[httpx.Response, list[dict[str, Any]]]:
        async with connect(ws_url(s.url, f"/agent/calls/{call_sid}"), additional_headers=cookie_header(kim)) as ws:
            hello = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert {"intent", "suggestion", "form"} <= {m["type"] for m in hello["history"]}  # catch-up
            assert all(m.get("kind") != "partial" for m in hello["history"])
            r = await asyncio.to_thread(
                kim.post, f"/agent/api/calls/{call_sid}/complaint",
                json={**form, "consent": True, "contact_name": "홍길동"}, headers={"X-CSRF-Token": csrf(kim)})
            got = await until(ws, lambda m: m["type"] == "form_submitted")
            await ws.send(json.dumps({"type": "submit_form", "form": {"description": ""}}))
            got += await until(ws, lambda m: m["type"] == "error")
            return r, got

    r, got = asyncio.run(submit())
    assert r.status_code == 201, r.text
    complaint = r.json()["complaint"]
    assert got[-2]["complaint"] == complaint and got[-1]["message"] == "민원 내용을 입력해 주세요."
    stored = ComplaintStore(db).get(complaint["id"])
    assert stored["phone"] == "010-2345-6789" and stored["name"] == "홍길동" and stored["team"] == form["team"]
    assert stored["session_id"] == call_sid and stored["channel"] == "phone"
    bad = kim.post(f"/agent/api/calls/{call_sid}/complaint", content=b"{", headers={"X-CSRF-Token": csrf(kim)})
    assert bad.status_code == 422 and bad.json()["message"]


def test_stop_ends_the_call_with_a_summary(server: tuple[LocalServer, CallService]) -> None:
    s, svc = server
    kim = login(s.url, "kim")
    call_sid = "CA00000000000000000000000000000043"

    async def main() -> list[dict[str, Any]]:
        caller = asyncio.create_task(fork_call(s.url, call_sid, stop=True))
        await wait_for_call(svc, call_sid)
        async with connect(ws_url(s.url, f"/agent/calls/{call_sid}"), additional_headers=cookie_header(kim)) as ws:
            msgs = await until(ws, lambda m: m["type"] == "status" and m["status"] == "ended", timeout=20)
            await caller
            return msgs

    msgs = asyncio.run(main())
    summary = next(m for m in msgs if m["type"] == "summary")["summary"]
    assert summary["caller_turns"] == 1 and summary["agent_turns"] == 1 and summary["intent"] == "complaint"
    assert summary["text"].startswith("민원인 발화:") and "6789" not in summary["text"]
    listed = kim.get("/agent/api/calls").json()["calls"]
    assert listed[0]["call_id"] == call_sid and listed[0]["status"] == "ended" and listed[0]["ended_at"]
    assert svc.transcripts is not None and len(svc.transcripts.segments(call_sid)) == 2


def test_fork_without_a_valid_token_is_refused(server: tuple[LocalServer, CallService]) -> None:
    s, svc = server

    async def main() -> None:
        async with connect(ws_url(s.url, "/twilio/media")) as ws:
            await ws.send(json.dumps({"event": "start", "streamSid": "MZ1", "start": {
                "streamSid": "MZ1", "callSid": "CA9", "customParameters": {"token": "forged", "mode": "agent"}}}))
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008

    asyncio.run(main())
    assert asyncio.run(svc.registry.list()) == []


def test_microphone_call(server: tuple[LocalServer, CallService]) -> None:
    s, _svc = server
    kim = login(s.url, "kim")
    call_id = kim.post("/agent/api/calls", headers={"X-CSRF-Token": csrf(kim)}).json()["call_id"]
    rate = 16000
    t = np.arange(round(2.0 * rate)) / rate
    speech = 0.25 * np.sin(2 * np.pi * 220 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    pcm = float_to_pcm16(np.concatenate([np.zeros(4800), speech, np.zeros(16000)]))

    async def main() -> list[dict[str, Any]]:
        headers = cookie_header(kim)
        async with connect(ws_url(s.url, f"/agent/calls/{call_id}"), additional_headers=headers) as console, \
                connect(ws_url(s.url, f"/agent/calls/{call_id}/audio"), additional_headers=headers) as mic:
            await asyncio.wait_for(console.recv(), 5)
            for i in range(0, len(pcm), 3200):  # 100 ms frames
                await mic.send(pcm[i:i + 3200])
            await mic.send(pcm[:3])  # odd length: trimmed, not an error
            msgs = await until(console, lambda m: m["type"] == "transcript" and m["kind"] == "final")
            await mic.send(json.dumps({"type": "stop"}))
            msgs += await until(console, lambda m: m["type"] == "status" and m["status"] == "ended")
            return msgs

    msgs = asyncio.run(main())
    final = next(m for m in msgs if m["type"] == "transcript" and m["kind"] == "final")
    assert final["speaker"] == "caller" and "스마트 교차로" in final["text"]
    assert any(m["type"] == "summary" for m in msgs)

    async def again() -> int:
        return await close_code(ws_url(s.url, f"/agent/calls/{call_id}/audio"), cookie_header(kim))

    assert asyncio.run(again()) == 4409
