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
import hashlib
import hmac
import html
import json
import logging
import secrets
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Request, Response, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from assistant.auth import read_session, sign_session, verify_password
from assistant.calls.registry import CallRecord, valid_call_id
from assistant.calls.service import CallService, FormError
from assistant.errors import AssistantError
from assistant.settings import Settings
from voice.audio import pcm16_to_float

from .admin import SECURITY_HEADERS
from .net import client_address

log = logging.getLogger("channels.agent_console")
STATIC = Path(__file__).resolve().parent / "static"
COOKIE = "nyj_agent"
CSRF_HEADER = "x-csrf-token"
FAIL_DELAY_S = 0.6
MAX_FAILURES = 5
LOCKOUT_S = 600.0
MAX_AUDIO_FRAME = 64 * 1024  # bytes of PCM16 in one microphone message (2 s)

MSG_BAD_LOGIN = "아이디 또는 비밀번호가 올바르지 않습니다."
MSG_LOCKED = "로그인 시도가 너무 많습니다. 10분 후 다시 시도해 주세요."
MSG_LOGIN_REQUIRED = "로그인이 필요합니다."
MSG_CSRF = "보안 확인에 실패했습니다. 페이지를 새로고침한 뒤 다시 시도해 주세요."
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
    costs = [e.split("$")[1] for e in accounts.values() if e.count("$") == 3]
    dummy_hash = f"pbkdf2_sha256${costs[0] if costs else 260000}$00$00"
    failures: dict[str, list[float]] = {}
    revoked: dict[str, float] = {}
    router = APIRouter(include_in_schema=False)

    # --- sessions ------------------------------------------------------------------------------
    def user_of_token(token: str) -> str | None:
        if not token or token in revoked:
            return None
        user = read_session(token, key)
        return user if user is not None and user in accounts else None

    def user_of(request: Request) -> str | None:
        return user_of_token(request.cookies.get(COOKIE, ""))

    def csrf_for(token: str) -> str:
        return hmac.new(key, b"agent-csrf:" + token.encode("utf-8"), hashlib.sha256).hexdigest()

    def csrf_ok(request: Request) -> bool:
        given = request.headers.get(CSRF_HEADER, "")
        token = request.cookies.get(COOKIE, "")
        return bool(given and token) and hmac.compare_digest(given.encode(), csrf_for(token).encode())

    def is_https(request: Request) -> bool:
        if settings.server.trust_forwarded and request.headers.get("x-forwarded-proto", "").lower() == "https":
            return True
        return request.url.scheme == "https"

    def same_origin(headers: Any, allow_null: bool = False) -> bool:
        origin = headers.get("origin")
        if not origin or origin == "null":
            return origin is None or allow_null
        hosts = {headers.get("host", "")}
        if settings.server.trust_forwarded:
            hosts.add(headers.get("x-forwarded-host", "").split(",")[0].strip())
        return urlsplit(origin).netloc in hosts

    def service() -> CallService | None:
        s = state.get("calls")
        return s if isinstance(s, CallService) else None

    def can_see(user: str, record: CallRecord) -> bool:
        return user in supervisors or record.agent == user

    def login_page(error: str = "", username: str = "", status: int = 200) -> Response:
        err = f'<p class="login-error" role="alert">{html.escape(error)}</p>\n' if error else ""
        return _secure(HTMLResponse(LOGIN_PAGE.format(error=err, username=html.escape(username, quote=True)),
                                    status_code=status))

    # --- login / logout --------------------------------------------------------------------------
    @router.get("/agent/login")
    async def login_form(request: Request) -> Response:
        if user_of(request):
            return RedirectResponse("/agent", status_code=303)
        return login_page()

    @router.post("/agent/login")
    async def login(request: Request) -> Response:
        if not same_origin(request.headers, allow_null=True):
            return login_page("다른 사이트에서 보낸 로그인 요청은 받을 수 없습니다.", status=403)
        ip, now = client_address(request, settings.server.trust_forwarded), time.monotonic()
        if len(failures) > 10_000:
            failures.clear()
        recent = [t for t in failures.get(ip, []) if now - t < LOCKOUT_S]
        failures[ip] = recent
        if len(recent) >= MAX_FAILURES:
            return login_page(MSG_LOCKED, status=429)
        form = parse_qs((await request.body())[:4096].decode("utf-8", "replace"), max_num_fields=10)
        username = (form.get("username") or [""])[0].strip()[:64]
        password = (form.get("password") or [""])[0][:256]
        encoded = accounts.get(username)
        ok = await run_in_threadpool(verify_password, password, encoded or dummy_hash) and encoded is not None
        if not ok:
            failures.setdefault(ip, []).append(now)
            log.warning("agent login failed", extra={"fields": {"client": ip}})
            await asyncio.sleep(FAIL_DELAY_S)
            return login_page(MSG_BAD_LOGIN, username=username, status=401)
        failures.pop(ip, None)
        response = RedirectResponse("/agent", status_code=303)
        response.set_cookie(COOKIE, sign_session(username, key, a.session_hours), max_age=a.session_hours * 3600,
                            path="/agent", httponly=True, samesite="strict", secure=is_https(request))
        log.info("agent login", extra={"fields": {"user": username}})
        return response

    @router.post("/agent/logout")
    async def logout(request: Request) -> Response:
        token = request.cookies.get(COOKIE, "")
        if user_of(request):
            if not csrf_ok(request):
                return _json(403, "csrf", MSG_CSRF)
            wall = time.time()
            for t, exp in list(revoked.items()):
                if exp < wall:
                    del revoked[t]
            revoked[token] = wall + a.session_hours * 3600
        response = JSONResponse({"ok": True, "redirect": "/agent/login"}, headers={"Cache-Control": "no-store"})
        response.delete_cookie(COOKIE, path="/agent", httponly=True, samesite="strict", secure=is_https(request))
        return response

    # --- page and assets -------------------------------------------------------------------------
    @router.get("/agent")
    async def page(request: Request) -> Response:
        user = user_of(request)
        if user is None:
            return RedirectResponse("/agent/login", status_code=303)
        text = (STATIC / "agent.html").read_text(encoding="utf-8")
        text = text.replace("__CSRF_TOKEN__", csrf_for(request.cookies[COOKIE]))
        text = text.replace("__USERNAME__", html.escape(user, quote=True))
        return _secure(HTMLResponse(text))

    @router.get("/agent/agent.js")
    async def script(request: Request) -> Response:
        if user_of(request) is None:
            return _json(401, "unauthorized", MSG_LOGIN_REQUIRED)
        path = STATIC / "agent.js"
        if not path.exists():
            return _json(404, "not_found", MSG_NOT_FOUND)
        return _secure(Response(path.read_bytes(), media_type="text/javascript; charset=utf-8"))

    @router.get("/agent/agent.css")
    async def stylesheet() -> Response:
        path = STATIC / "agent.css"
        body = path.read_bytes() if path.exists() else b""
        return Response(body, media_type="text/css; charset=utf-8", headers={"Cache-Control": "no-cache"})

    # --- JSON API --------------------------------------------------------------------------------
    def guard(request: Request) -> tuple[str | None, Response | None]:
        user = user_of(request)
        if user is None:
            return None, _json(401, "unauthorized", MSG_LOGIN_REQUIRED)
        if request.method == "POST" and not csrf_ok(request):
            return None, _json(403, "csrf", MSG_CSRF)
        return user, None

    @router.get("/agent/api/me")
    async def me(request: Request) -> Response:
        user, denied = guard(request)
        if denied is not None or user is None:
            return denied or _json(401, "unauthorized", MSG_LOGIN_REQUIRED)
        return JSONResponse({"username": user, "supervisor": user in supervisors},
                            headers={"Cache-Control": "no-store"})

    @router.get("/agent/api/calls")
    async def list_calls(request: Request) -> Response:
        user, denied = guard(request)
        if denied is not None or user is None:
            return denied or _json(401, "unauthorized", MSG_LOGIN_REQUIRED)
        svc = service()
        if svc is None:
            return _json(503, "unavailable", MSG_UNAVAILABLE)
        calls = await svc.registry.list(None if user in supervisors else user)
        return JSONResponse({"calls": [c.public() for c in calls]}, headers={"Cache-Control": "no-store"})

    @router.post("/agent/api/calls")
    async def new_mic_call(request: Request) -> Response:
        user, denied = guard(request)
        if denied is not None or user is None:
            return denied or _json(401, "unauthorized", MSG_LOGIN_REQUIRED)
        svc = service()
        if svc is None:
            return _json(503, "unavailable", MSG_UNAVAILABLE)
        import datetime as dt

        call_id = f"mic-{uuid.uuid4().hex[:16]}"
        await svc.registry.create(CallRecord(call_id, user, "mic", "active", dt.datetime.now(dt.UTC)))
        return JSONResponse({"call_id": call_id}, status_code=201, headers={"Cache-Control": "no-store"})

    @router.post("/agent/api/calls/{call_id}/complaint")
    async def submit_complaint(call_id: str, request: Request) -> Response:
        user, denied = guard(request)
        if denied is not None or user is None:
            return denied or _json(401, "unauthorized", MSG_LOGIN_REQUIRED)
        svc = service()
        if svc is None:
            return _json(503, "unavailable", MSG_UNAVAILABLE)
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
