"""The agent console (``/agent``): call agents see the caller's words as text while the caller speaks,
suggested answers with citations, the detected intent and a pre-filled complaint form they submit with
one click. The protocol is in docs/agent-console.md; the back end is ``assistant.calls`` (the
``CallService`` in ``state["calls"]``, read at request time because the lifespan fills it).

Routes: ``GET/POST /agent/login``, ``POST /agent/logout``, ``GET /agent`` (page: static/agent.html +
agent.js + agent.css), ``GET /agent/api/me``, ``GET/POST /agent/api/calls``,
``POST /agent/api/calls/{id}/complaint``, ``WS /agent/calls/{id}`` (events) and
``WS /agent/calls/{id}/audio`` (browser microphone: PCM16 LE mono 16 kHz binary frames).

Security (the /admin pattern): accounts are ``agent.users`` (agents: only the calls assigned to them)
and ``admin.users`` (supervisors: every call); HMAC-signed session cookie ``nyj_agent`` (HttpOnly,
SameSite=Strict, Path=/agent), CSRF header on every POST, failed logins slowed and limited per
address, strict CSP on pages. WebSockets check the cookie and the Origin and close with 4401 (not
logged in), 4403 (not your call / foreign origin), 4404 (unknown call), 4409 (call already ended).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import secrets
import uuid
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assistant.calls.registry import CallRecord, valid_call_id
from assistant.calls.service import CallService, FormError
from assistant.errors import AssistantError
from assistant.settings import Settings
from voice.audio import pcm16_to_float

from .admin import SECURITY_HEADERS
from .staff_login import MSG_CSRF, MSG_LOGIN_REQUIRED, StaffLogin

log = logging.getLogger("channels.agent_console")
STATIC = Path(__file__).resolve().parent / "static"
COOKIE = "nyj_agent"
FAIL_DELAY_S = 0.6
MAX_FAILURES = 5
LOCKOUT_S = 600.0
MIC_STALE_S = 10.0  # a microphone call this old, not live on this worker, is closed when the agent opens another
MAX_AUDIO_FRAME = 64 * 1024  # bytes of PCM16 in one microphone message (2 s)

MSG_FORBIDDEN = "이 통화를 볼 권한이 없습니다."
MSG_NOT_FOUND = "통화를 찾을 수 없습니다."
MSG_UNAVAILABLE = "상담 지원 기능을 사용할 수 없습니다. 잠시 후 다시 시도해 주세요."
MSG_BAD_FORM = "민원 접수 양식이 올바르지 않습니다."
MSG_BAD_MESSAGE = "알 수 없는 요청입니다."
MSG_ENDED = "이미 종료된 통화입니다."

LOGIN_PAGE = """<!doctype html>
<html lang="ko"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>상담원 로그인 · 남양주시 민원콜센터</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/agent/agent.css"></head>
<body class="login-body"><main class="login-card" aria-labelledby="login-title">
<h1 id="login-title">상담원 콘솔 로그인</h1>
<p class="login-note">남양주시 민원콜센터 상담원 전용 화면입니다.</p>
{error}<form method="post" action="/agent/login" class="login-form">
<label for="username">아이디</label>
<input id="username" name="username" autocomplete="username" required maxlength="64" value="{username}" autofocus>
<label for="password">비밀번호</label>
<input id="password" name="password" type="password" autocomplete="current-password" required maxlength="256">
<button type="submit">로그인</button></form></main></body></html>
"""


class ComplaintForm(BaseModel):
    """The console's complaint form (FORM in the protocol)."""

    model_config = ConfigDict(extra="ignore")
    category: str = Field("", max_length=64)
    team: str = Field("", max_length=64)
    department: str = Field("", max_length=64)
    urgent: bool = False
    location: str = Field("", max_length=200)
    description: str = Field("", max_length=2000)
    contact_name: str = Field("", max_length=64)
    contact_phone: str = Field("", max_length=32)
    consent: bool = False


def _json(status: int, error: str, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": error, "message": message},
                        headers={"Cache-Control": "no-store"})


def _secure(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    return response


def agent_console_router(state: dict[str, Any], settings: Settings) -> APIRouter:
    a = settings.agent
    secret = a.secret_key.get_secret_value() or settings.admin.secret_key.get_secret_value()
    key = secret.encode("utf-8") if secret else secrets.token_bytes(32)
    accounts = {**a.users, **settings.admin.users}
    supervisors = frozenset(settings.admin.users)
    if not secret and accounts:
        log.warning("ASSISTANT_AGENT__SECRET_KEY is empty: console sessions use a per-process key "
                    "(they do not carry across workers)")
    auth = StaffLogin(prefix="/agent", cookie=COOKIE, accounts=accounts, key=key, session_hours=a.session_hours,
                      login_html=LOGIN_PAGE, csrf_label=b"agent-csrf:",
                      trust_forwarded=settings.server.trust_forwarded, secure=_secure,
                      fail_delay=lambda: FAIL_DELAY_S, log=log, max_failures=MAX_FAILURES, lockout_s=LOCKOUT_S)
    user_of_token, user_of, csrf_ok = auth.user_of_token, auth.user_of, auth.csrf_ok
    same_origin = auth.same_origin
    router = APIRouter(include_in_schema=False)

    def service() -> CallService | None:
        s = state.get("calls")
        return s if isinstance(s, CallService) else None

    def can_see(user: str, record: CallRecord) -> bool:
        return user in supervisors or record.agent == user

    auth.add_routes(router)  # GET/POST /agent/login, POST /agent/logout

    # --- page and assets -------------------------------------------------------------------------
    auth.add_page_routes(router, STATIC, "agent")  # GET /agent, /agent/agent.js, /agent/agent.css

    # --- JSON API --------------------------------------------------------------------------------
    def guard(request: Request) -> tuple[str | None, Response | None]:
        user = user_of(request)
        if user is None:
            return None, _json(401, "unauthorized", MSG_LOGIN_REQUIRED)
        if request.method == "POST" and not csrf_ok(request):
            return None, _json(403, "csrf", MSG_CSRF)
        return user, None

    def guard_service(request: Request) -> tuple[str, CallService] | Response:
        """The logged-in user (CSRF checked on POST) and the call service, or the error response."""
        user, denied = guard(request)
        if denied is not None or user is None:
            return denied or _json(401, "unauthorized", MSG_LOGIN_REQUIRED)
        svc = service()
        if svc is None:
            return _json(503, "unavailable", MSG_UNAVAILABLE)
        return user, svc

    @router.get("/agent/api/me")
    async def me(request: Request) -> Response:
        user, denied = guard(request)
        if denied is not None or user is None:
            return denied or _json(401, "unauthorized", MSG_LOGIN_REQUIRED)
        return JSONResponse({"username": user, "supervisor": user in supervisors},
                            headers={"Cache-Control": "no-store"})

    @router.get("/agent/api/calls")
    async def list_calls(request: Request) -> Response:
        gate = guard_service(request)
        if isinstance(gate, Response):
            return gate
        user, svc = gate
        calls = await svc.registry.list(None if user in supervisors else user)
        return JSONResponse({"calls": [c.public() for c in calls]}, headers={"Cache-Control": "no-store"})

    @router.post("/agent/api/calls")
    async def new_mic_call(request: Request) -> Response:
        gate = guard_service(request)
        if isinstance(gate, Response):
            return gate
        user, svc = gate
        now = dt.datetime.now(dt.UTC)
        # one microphone per agent: an earlier microphone call of theirs whose audio never connected
        # (page closed before it started) or that is not live here any more is closed, so it does not
        # stay "통화 중" in the list for ever
        for old in await svc.registry.list(user):
            if (old.source == "mic" and old.status == "active" and old.call_id not in svc.live
                    and (now - old.started_at).total_seconds() > MIC_STALE_S):
                await svc.registry.update(old.call_id, status="ended", ended_at=now)
        call_id = f"mic-{uuid.uuid4().hex[:16]}"
        await svc.registry.create(CallRecord(call_id, user, "mic", "active", now))
        return JSONResponse({"call_id": call_id}, status_code=201, headers={"Cache-Control": "no-store"})

    @router.post("/agent/api/calls/{call_id}/complaint")
    async def submit_complaint(call_id: str, request: Request) -> Response:
        gate = guard_service(request)
        if isinstance(gate, Response):
            return gate
        user, svc = gate
        record = await svc.registry.get(call_id) if valid_call_id(call_id) else None
        if record is None:
            return _json(404, "not_found", MSG_NOT_FOUND)
        if not can_see(user, record):
            return _json(403, "forbidden", MSG_FORBIDDEN)
        try:
            form = ComplaintForm.model_validate_json(await request.body())
        except ValidationError:
            return _json(422, "invalid_form", MSG_BAD_FORM)
        try:
            info = await svc.submit(call_id, user, form.model_dump())
        except (FormError, ValueError) as exc:
            return _json(422, "invalid_form", str(exc) if isinstance(exc, FormError) else MSG_BAD_FORM)
        except AssistantError as exc:
            log.warning("agent form not filed: %s", type(exc).__name__)
            return _json(503, "unavailable", MSG_UNAVAILABLE)
        return JSONResponse({"complaint": info}, status_code=201, headers={"Cache-Control": "no-store"})

    # --- WebSockets ------------------------------------------------------------------------------
    async def ws_gate(ws: WebSocket, call_id: str) -> tuple[str, CallService, CallRecord] | None:
        """Accept, then check session, origin and call; closes with a 44xx code when refused."""
        await ws.accept()
        user = user_of_token(ws.cookies.get(COOKIE, ""))
        if user is None:
            await ws.close(code=4401, reason="login required")
            return None
        if not same_origin(ws.headers):
            await ws.close(code=4403, reason="origin")
            return None
        svc = service()
        if svc is None:
            with contextlib.suppress(Exception):
                await ws.send_json({"type": "error", "message": MSG_UNAVAILABLE})
            await ws.close(code=1013)
            return None
        record = await svc.registry.get(call_id) if valid_call_id(call_id) else None
        if record is None:
            await ws.close(code=4404, reason="unknown call")
            return None
        if not can_see(user, record):
            await ws.close(code=4403, reason="not your call")
            return None
        return user, svc, record

    @router.websocket("/agent/calls/{call_id}")
    async def console(ws: WebSocket, call_id: str) -> None:
        gate = await ws_gate(ws, call_id)
        if gate is None:
            return
        user, svc, _ = gate
        lock = asyncio.Lock()

        async def send(message: dict[str, Any]) -> None:
            async with lock:
                await ws.send_text(json.dumps(message, ensure_ascii=False))

        try:
            async with svc.hub.subscribe(call_id) as events:
                history = await svc.hub.history(call_id)
                seen = max((int(e.get("n", 0)) for e in history), default=0)
                record = await svc.registry.get(call_id)
                await send({"type": "hello", "call": record.public() if record else None, "history": history})

                async def forward() -> None:
                    async for event in events:
                        if int(event.get("n", 0)) > seen:
                            await send(event)

                task = asyncio.create_task(forward())
                try:
                    await _console_inbox(ws, send, svc, call_id, user)
                finally:
                    task.cancel()
                    with contextlib.suppress(BaseException):
                        await task
        except (WebSocketDisconnect, RuntimeError):
            pass
        except Exception:
            log.exception("agent console socket failed")
        finally:
            with contextlib.suppress(Exception):
                await ws.close()

    @router.websocket("/agent/calls/{call_id}/audio")
    async def microphone(ws: WebSocket, call_id: str) -> None:
        gate = await ws_gate(ws, call_id)
        if gate is None:
            return
        user, svc, record = gate
        if record.source != "mic" or record.agent != user:
            await ws.close(code=4403, reason="not your microphone call")
            return
        if record.status != "active":
            await ws.close(code=4409, reason="call ended")
            return
        try:
            live = await svc.start(call_id, "mic", agent=user)
        except Exception:
            log.exception("microphone call could not start")
            with contextlib.suppress(Exception):
                await ws.send_json({"type": "error", "message": MSG_UNAVAILABLE})
                await ws.close(code=1011)
            return
        try:
            while True:
                msg = await ws.receive()
                if msg.get("type") == "websocket.disconnect":
                    break
                data = msg.get("bytes")
                if data is not None:
                    if len(data) > MAX_AUDIO_FRAME:
                        await ws.send_json({"type": "error", "message": "음성 조각이 너무 큽니다."})
                        continue
                    live.feed("caller", pcm16_to_float(data[:len(data) - len(data) % 2]), 16000)
                    continue
                parsed = _parse(msg.get("text") or "")
                if parsed is not None and parsed.get("type") == "stop":
                    break
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            await live.finish()
            with contextlib.suppress(Exception):
                await ws.close()

    return router


async def _console_inbox(ws: WebSocket, send: Any, svc: CallService, call_id: str, user: str) -> None:
    """Client -> server messages of the console socket until it closes."""
    while True:
        msg = await ws.receive()
        if msg.get("type") == "websocket.disconnect":
            return
        parsed = _parse(msg.get("text") or "")
        kind = parsed.get("type") if parsed else None
        if kind == "ping":
            await send({"type": "pong"})
        elif kind == "submit_form" and parsed is not None:
            try:
                form = ComplaintForm.model_validate(parsed.get("form") or {})
                await svc.submit(call_id, user, form.model_dump())  # form_submitted comes via the hub
            except ValidationError:
                await send({"type": "error", "message": MSG_BAD_FORM})
            except FormError as exc:
                await send({"type": "error", "message": str(exc)})
            except (AssistantError, ValueError):
                await send({"type": "error", "message": MSG_UNAVAILABLE})
        else:
            await send({"type": "error", "message": MSG_BAD_MESSAGE})


def _parse(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text) if text else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
